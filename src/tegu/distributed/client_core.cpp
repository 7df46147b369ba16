#include "tegu/distributed/client_core.hpp"

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <unordered_map>

#include "tegu/distributed/codec.hpp"
#include "tegu/net/transport.hpp"

namespace tegu::distributed {

using protocol::Buffer;
using protocol::Message;

struct ClientCore::Impl : std::enable_shared_from_this<ClientCore::Impl> {
  std::unique_ptr<net::IoLoop> loop = std::make_unique<net::IoLoop>();
  std::shared_ptr<net::Connection> conn;
  std::string address;
  uint32_t id = 0;

  std::mutex mu;
  std::condition_variable cv;
  struct KeyEntry {
    KeyStatus status = KeyStatus::kPending;
    std::optional<KeyEvent> error;
  };
  std::unordered_map<Key, KeyEntry> keys;
  bool events_enabled = false;
  std::deque<KeyEvent> events;
  // Answers awaited by request id; called with nullptr when the connection closed.
  std::unordered_map<uint64_t, std::function<void(FieldReader*)>> pending;
  uint64_t next_request = 1;
  bool closed = false;
  Status closed_why;
  std::promise<void> welcomed;

  void OnMessage(Message message) {
    auto parsed = BatchReader::Parse(std::move(message));
    if (!parsed.ok()) {
      conn->Close(parsed.status().WithContext("malformed message from the scheduler"));
      return;
    }
    BatchReader& batch = *parsed.ValueUnsafe();
    for (size_t i = 0; i < batch.op_count(); ++i) {
      std::string_view op = batch.OpName(i);
      FieldReader f = batch.Fields(i);
      if (op == "key-in-memory" || op == "lost-data") {
        Key key = f.ReadKey();
        if (!f.ok()) break;
        const bool memory = op == "key-in-memory";
        std::lock_guard<std::mutex> lock(mu);
        auto it = keys.find(key);
        if (it == keys.end()) continue;  // released meanwhile
        it->second.status = memory ? KeyStatus::kMemory : KeyStatus::kPending;
        if (events_enabled) {
          events.push_back({memory ? KeyEvent::Kind::kMemory : KeyEvent::Kind::kLost, key, {}, {}});
        }
        cv.notify_all();
      } else if (op == "task-erred") {
        KeyEvent ev;
        ev.kind = KeyEvent::Kind::kErred;
        ev.key = f.ReadKey();
        ev.error_kind = f.Str();
        f.ReadKey();  // blame: the text of the error names it
        uint64_t nframes = f.UInt();
        ev.error = Payload{"error", f.Frames(nframes)};
        if (!f.ok()) break;
        std::lock_guard<std::mutex> lock(mu);
        auto it = keys.find(ev.key);
        if (it == keys.end()) continue;
        it->second.status = KeyStatus::kErred;
        it->second.error = ev;
        if (events_enabled) events.push_back(std::move(ev));
        cv.notify_all();
      } else if (op == "welcome") {
        id = static_cast<uint32_t>(f.UInt());
        welcomed.set_value();
      } else {
        uint64_t request = f.UInt();
        std::function<void(FieldReader*)> handler;
        {
          std::lock_guard<std::mutex> lock(mu);
          auto it = pending.find(request);
          if (it == pending.end()) continue;
          handler = std::move(it->second);
          pending.erase(it);
        }
        handler(&f);
      }
    }
    if (!batch.status().ok()) {
      conn->Close(batch.status().WithContext("malformed message from the scheduler"));
    }
  }

  void OnClose(const Status& why) {
    std::unordered_map<uint64_t, std::function<void(FieldReader*)>> failed;
    {
      std::lock_guard<std::mutex> lock(mu);
      closed = true;
      closed_why = why.ok() ? Status::Cancelled("the client closed") : why;
      failed.swap(pending);
      cv.notify_all();
    }
    for (auto& [id, handler] : failed) handler(nullptr);
  }

  Status ClosedStatus() {
    std::lock_guard<std::mutex> lock(mu);
    return closed ? closed_why.WithContext("not connected to the scheduler") : Status::OK();
  }

  // Sends a request written by `write` and waits for the reply, parsed by `parse`.
  template <class T>
  Result<T> Request(const std::function<void(OpWriter&, uint64_t)>& write,
                    std::function<Result<T>(FieldReader&)> parse) {
    auto promise = std::make_shared<std::promise<Result<T>>>();
    auto future = promise->get_future();
    uint64_t request;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (closed) return closed_why.WithContext("not connected to the scheduler");
      request = next_request++;
      pending[request] = [promise, parse = std::move(parse)](FieldReader* f) {
        if (!f) {
          promise->set_value(Status::IOError("the connection to the scheduler closed"));
          return;
        }
        Result<T> r = parse(*f);
        if (r.ok() && !f->ok()) {
          promise->set_value(Result<T>(f->status()));
          return;
        }
        promise->set_value(std::move(r));
      };
    }
    OpWriter w;
    write(w, request);
    conn->Send(w.Finish());
    return future.get();
  }
};

ClientCore::ClientCore(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

ClientCore::~ClientCore() {
  Close();
  // Connections must not outlive their loop: drop ours on the loop, then stop it.
  std::promise<void> dropped;
  impl_->loop->Post([this, &dropped] {
    impl_->conn.reset();
    dropped.set_value();
  });
  dropped.get_future().wait();
  impl_->loop.reset();  // joins the I/O thread: no handler runs after this
}

Result<std::shared_ptr<ClientCore>> ClientCore::Connect(const std::string& address,
                                                       const std::string& secret,
                                                       std::chrono::milliseconds timeout,
                                                       const net::TransportOptions& transport) {
  auto impl = std::make_shared<Impl>();
  impl->address = address;
  TEGU_ASSIGN_OR_RAISE(impl->conn, net::Connect(*impl->loop, address, secret, "client", timeout, transport));
  std::future<void> welcomed = impl->welcomed.get_future();
  Impl* raw = impl.get();
  impl->loop->Post([raw] {
    raw->conn->SetHandlers([raw](Message m) { raw->OnMessage(std::move(m)); },
                           [raw](const Status& why) { raw->OnClose(why); });
  });
  if (welcomed.wait_for(timeout) != std::future_status::ready) {
    return Status::IOError("the scheduler at " + address + " did not welcome the client");
  }
  return std::shared_ptr<ClientCore>(new ClientCore(std::move(impl)));
}

uint32_t ClientCore::id() const { return impl_->id; }
const std::string& ClientCore::scheduler_address() const { return impl_->address; }

Status ClientCore::UpdateGraph(std::vector<TaskToSubmit> tasks, std::vector<Key> wanted) {
  TEGU_RETURN_NOT_OK(impl_->ClosedStatus());
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    for (const Key& k : wanted) impl_->keys.try_emplace(k);
  }
  OpWriter w;
  w.Op("update-graph", 2).Array(static_cast<uint32_t>(tasks.size()));
  for (TaskToSubmit& t : tasks) {
    w.Array(8).WriteKey(t.key).Keys(t.dependencies).Int(t.priority).UInt(t.retries);
    w.Strs(t.workers).Bool(t.allow_other_workers);
    WritePayload(w, std::move(t.spec));
  }
  w.Keys(wanted);
  impl_->conn->Send(w.Finish());
  return Status::OK();
}

Status ClientCore::ReleaseKeys(std::vector<Key> keys) {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    for (const Key& k : keys) impl_->keys.erase(k);
    if (impl_->closed) return Status::OK();  // nothing is held for a closed client
  }
  OpWriter w;
  w.Op("release-keys", 1).Keys(keys);
  impl_->conn->Send(w.Finish());
  return Status::OK();
}

Status ClientCore::FireAndForget(std::vector<Key> keys) {
  TEGU_RETURN_NOT_OK(impl_->ClosedStatus());
  OpWriter w;
  w.Op("fire-and-forget", 1).Keys(keys);
  impl_->conn->Send(w.Finish());
  return Status::OK();
}

KeyStatus ClientCore::StatusOf(const Key& key) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto it = impl_->keys.find(key);
  return it == impl_->keys.end() ? KeyStatus::kUnknown : it->second.status;
}

KeyStatus ClientCore::WaitKey(const Key& key, std::optional<std::chrono::milliseconds> timeout) {
  std::unique_lock<std::mutex> lock(impl_->mu);
  auto done = [&] {
    auto it = impl_->keys.find(key);
    return impl_->closed || it == impl_->keys.end() || it->second.status != KeyStatus::kPending;
  };
  if (timeout) {
    impl_->cv.wait_for(lock, *timeout, done);
  } else {
    impl_->cv.wait(lock, done);
  }
  auto it = impl_->keys.find(key);
  return it == impl_->keys.end() ? KeyStatus::kUnknown : it->second.status;
}

std::optional<KeyEvent> ClientCore::ErrorOf(const Key& key) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto it = impl_->keys.find(key);
  if (it == impl_->keys.end()) return std::nullopt;
  return it->second.error;
}

std::vector<KeyEvent> ClientCore::NextEvents(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(impl_->mu);
  impl_->cv.wait_for(lock, timeout, [&] { return impl_->closed || !impl_->events.empty(); });
  std::vector<KeyEvent> out(std::make_move_iterator(impl_->events.begin()),
                            std::make_move_iterator(impl_->events.end()));
  impl_->events.clear();
  return out;
}

void ClientCore::EnableEvents(bool enabled) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->events_enabled = enabled;
}


Result<GatherResult> ClientCore::Gather(std::vector<Key> keys) {
  return impl_->Request<GatherResult>(
      [&](OpWriter& w, uint64_t id) { w.Op("gather", 2).UInt(id).Keys(keys); },
      [](FieldReader& f) -> Result<GatherResult> {
        GatherResult out;
        FieldReader items = f.Array();
        while (f.ok() && items.remaining() > 0) {
          FieldReader item = items.Array();
          Key key = item.ReadKey();
          out.values.emplace_back(std::move(key), ReadPayload(item));
        }
        out.missing = f.Keys();
        return out;
      });
}

Result<std::vector<Key>> ClientCore::Scatter(std::vector<std::pair<Key, Payload>> values,
                                             bool broadcast, std::vector<std::string> workers) {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    for (const auto& v : values) impl_->keys[v.first].status = KeyStatus::kMemory;
  }
  return impl_->Request<std::vector<Key>>(
      [&](OpWriter& w, uint64_t id) {
        w.Op("scatter", 4).UInt(id).Array(static_cast<uint32_t>(values.size()));
        for (auto& [key, payload] : values) {
          w.Array(3).WriteKey(key);
          WritePayload(w, std::move(payload));
        }
        w.Bool(broadcast).Strs(workers);
      },
      [](FieldReader& f) -> Result<std::vector<Key>> { return f.Keys(); });
}

Result<std::vector<RunResult>> ClientCore::Run(Payload function, std::vector<std::string> workers) {
  return impl_->Request<std::vector<RunResult>>(
      [&](OpWriter& w, uint64_t id) {
        w.Op("run", 4).UInt(id);
        WritePayload(w, std::move(function));
        w.Strs(workers);
      },
      [](FieldReader& f) -> Result<std::vector<RunResult>> {
        std::vector<RunResult> out;
        FieldReader items = f.Array();
        while (f.ok() && items.remaining() > 0) {
          FieldReader item = items.Array();
          RunResult r;
          r.worker = item.Str();
          r.ok = item.Bool();
          r.payload = ReadPayload(item);
          out.push_back(std::move(r));
        }
        return out;
      });
}

Result<std::vector<std::pair<Key, std::vector<std::string>>>> ClientCore::WhoHas(
    std::vector<Key> keys) {
  using Out = std::vector<std::pair<Key, std::vector<std::string>>>;
  return impl_->Request<Out>(
      [&](OpWriter& w, uint64_t id) { w.Op("who-has", 2).UInt(id).Keys(keys); },
      [](FieldReader& f) -> Result<Out> {
        Out out;
        FieldReader items = f.Array();
        while (f.ok() && items.remaining() > 0) {
          FieldReader item = items.Array();
          Key key = item.ReadKey();
          out.emplace_back(std::move(key), item.Strs());
        }
        return out;
      });
}

Result<ClusterInfo> ClientCore::Info(bool with_keys) {
  return impl_->Request<ClusterInfo>(
      [&](OpWriter& w, uint64_t id) { w.Op("info", 2).UInt(id).Bool(with_keys); },
      [](FieldReader& f) -> Result<ClusterInfo> {
        ClusterInfo info;
        info.scheduler_address = f.Str();
        FieldReader items = f.Array();
        while (f.ok() && items.remaining() > 0) {
          FieldReader item = items.Array();
          RemoteWorker w;
          w.address = item.Str();
          w.name = item.Str();
          w.nthreads = static_cast<uint32_t>(item.UInt());
          w.memory_limit = item.UInt();
          w.processing = item.UInt();
          w.keys = item.Keys();
          info.workers.push_back(std::move(w));
        }
        return info;
      });
}

Result<std::vector<std::string>> ClientCore::TaskStates(std::vector<Key> keys) {
  return impl_->Request<std::vector<std::string>>(
      [&](OpWriter& w, uint64_t id) { w.Op("task-states", 2).UInt(id).Keys(keys); },
      [](FieldReader& f) -> Result<std::vector<std::string>> { return f.Strs(); });
}

Status ClientCore::ShutdownScheduler() {
  TEGU_RETURN_NOT_OK(impl_->ClosedStatus());
  OpWriter w;
  w.Op("close-scheduler", 0);
  impl_->conn->Send(w.Finish());
  return Status::OK();
}

void ClientCore::Close() {
  if (impl_->conn) impl_->conn->Close(Status::OK());
  // Wait for the close handler, so that pending requests are answered before we return.
  std::unique_lock<std::mutex> lock(impl_->mu);
  impl_->cv.wait_for(lock, std::chrono::seconds(5), [&] { return impl_->closed; });
}

bool ClientCore::is_closed() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->closed;
}

}  // namespace tegu::distributed
