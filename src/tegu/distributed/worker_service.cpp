#include "tegu/distributed/worker_service.hpp"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <future>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include <unistd.h>

#include "tegu/common/logging.hpp"
#include "tegu/distributed/codec.hpp"
#include "tegu/distributed/payload.hpp"
#include "tegu/net/transport.hpp"
#include "tegu/worker/worker_state.hpp"

namespace tegu::distributed {

using protocol::Buffer;
using protocol::Message;
namespace ws = tegu::worker;

namespace {

void Info(const std::string& message) {
  internal::Log(internal::LogLevel::kInfo, "worker", message);
}
void Warn(const std::string& message) {
  internal::Log(internal::LogLevel::kWarn, "worker", message);
}

struct Job {
  Key key;
  std::shared_ptr<const Payload> spec;
  std::vector<TaskInput> inputs;
};

struct ThreadTask {
  WorkerService* worker = nullptr;
  WorkerService::Impl* impl = nullptr;
  Key key;
  bool seceded = false;
};
thread_local ThreadTask* tls_task = nullptr;

// Resident set size of this process, in bytes.
uint64_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t pages_total = 0, pages_resident = 0;
  statm >> pages_total >> pages_resident;
  return pages_resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace

struct WorkerService::Impl : std::enable_shared_from_this<WorkerService::Impl> {
  WorkerServiceOptions options;
  std::atomic<WorkerService*> owner{nullptr};  // set once the WorkerService exists
  std::unique_ptr<net::IoLoop> loop = std::make_unique<net::IoLoop>();
  std::unique_ptr<net::Listener> listener;
  std::string address;
  std::shared_ptr<net::Connection> scheduler;
  std::unique_ptr<ws::WorkerState> state;
  std::vector<std::shared_ptr<void>> timers;

  // ---- guarded by state_mu: the state machine, the store and the tables around them ----
  // Handlers on the I/O thread and executor threads finishing a task both take it; an
  // executor thread applies its own outcome and starts the next ready task at once, without
  // a round trip through the I/O thread. Lock order: state_mu, then exec_mu.
  std::mutex state_mu;
  struct Stored {
    Value value;
    std::optional<Payload> payload;  // serialized form, made on first transfer
  };
  std::unordered_map<Key, Stored> store;
  struct SpecEntry {
    std::shared_ptr<const Payload> spec;
    std::vector<Key> dependencies;
  };
  std::unordered_map<Key, SpecEntry> specs;
  std::unordered_map<Key, double> durations;
  std::unordered_map<uint64_t, Payload> errors;
  uint64_t next_error = 1;
  std::unordered_set<Key> scattering;  // keys of an update-data being applied
  OpWriter out;
  bool flush_queued = false;
  struct PeerConn {
    std::shared_ptr<net::Connection> conn;
    std::vector<std::function<void(net::Connection*)>> waiting;  // nullptr: failed
  };
  std::unordered_map<std::string, PeerConn> peer_conns;
  struct PendingGather {
    std::string worker;
    std::vector<Key> keys;
  };
  std::unordered_map<uint64_t, PendingGather> gathers;
  uint64_t next_gather = 1;
  std::vector<std::shared_ptr<net::Connection>> served;  // peers reading from us
  bool paused_for_memory = false;

  // ---- executor ----
  std::mutex exec_mu;
  std::condition_variable exec_cv;
  std::deque<Job> jobs;
  int live_threads = 0;
  int idle_threads = 0;
  int target_threads = 0;
  bool stopping = false;
  std::vector<std::thread> threads;
  std::unordered_map<Key, std::shared_ptr<std::promise<void>>> rejoin_waiters;

  // ---- closing ----
  std::mutex closed_mu;
  std::condition_variable closed_cv;
  bool closed = false;
  Status closed_why;

  std::promise<Status> registered;
  bool registered_set = false;

  // ---- scheduler messages ------------------------------------------------------------------
  OpWriter& Out() {
    if (!flush_queued) {
      flush_queued = true;
      loop->Post([self = weak_from_this()] {
        if (auto s = self.lock()) {
          std::lock_guard<std::mutex> lock(s->state_mu);
          s->Flush();
        }
      });
    }
    return out;
  }
  void Flush() {
    flush_queued = false;
    if (scheduler && !out.empty()) scheduler->Send(out.Finish());
  }

  void Apply(const ws::StateMachineEvent& event) {
    ws::Instructions instructions = state->Handle(event, ws::Clock::now());
    for (ws::Instruction& ins : instructions) std::visit([this](auto& i) { Do(i); }, ins);
  }

  void Do(ws::Execute& i) {
    auto it = specs.find(i.key);
    if (it == specs.end()) {
      Apply(ws::ExecuteFailure{i.key, StoreError(ErrorPayload("no run spec for " + i.key.ToString()))});
      return;
    }
    Job job;
    job.key = i.key;
    job.spec = it->second.spec;
    for (const Key& dep : it->second.dependencies) {
      auto s = store.find(dep);
      if (s == store.end()) {
        Apply(ws::ExecuteFailure{
            i.key, StoreError(ErrorPayload("dependency " + dep.ToString() + " of " +
                                           i.key.ToString() + " is not in memory"))});
        return;
      }
      job.inputs.push_back({dep, s->second.value});
    }
    Submit(std::move(job));
  }
  void Do(ws::GatherDep& i) {
    uint64_t id = next_gather++;
    gathers[id] = {i.worker, i.keys};
    WithPeer(i.worker, [this, id, keys = i.keys](net::Connection* conn) {
      if (!conn) return;  // the failure handler answered
      OpWriter w;
      w.Op("get-data", 2).UInt(id).Keys(keys);
      conn->Send(w.Finish());
    });
  }
  void Do(ws::RetryBusyWorkerLater& i) {
    std::thread([self = weak_from_this(), worker = i.worker] {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (auto s = self.lock()) {
        s->loop->Post([self, worker] {
          if (auto s2 = self.lock()) {
            std::lock_guard<std::mutex> lock(s2->state_mu);
            s2->Apply(ws::RetryBusyWorker{worker});
          }
        });
      }
    }).detach();
  }
  void Do(ws::RejoinGranted& i) {
    std::lock_guard<std::mutex> lock(exec_mu);
    if (auto it = rejoin_waiters.find(i.key); it != rejoin_waiters.end()) {
      it->second->set_value();
      rejoin_waiters.erase(it);
    }
  }
  void Do(ws::DiscardData& i) { store.erase(i.key); }
  void Do(ws::TaskFinishedMsg& i) {
    double duration = -1;
    if (auto d = durations.find(i.key); d != durations.end()) {
      duration = d->second;
      durations.erase(d);
    }
    Out().Op("task-finished", 4).WriteKey(i.key).UInt(i.nbytes).Double(duration).UInt(i.run_id);
    specs.erase(i.key);
  }
  void Do(ws::TaskErredMsg& i) {
    Payload error;
    if (auto e = errors.find(i.error); e != errors.end()) {
      error = std::move(e->second);
      errors.erase(e);
    } else {
      error = ErrorPayload("task " + i.key.ToString() + " failed");
    }
    OpWriter& w = Out();
    w.Op("task-erred", 3).WriteKey(i.key).UInt(i.run_id).UInt(error.frames.size());
    for (Buffer& b : error.frames) w.Frame(std::move(b));
    specs.erase(i.key);
  }
  void Do(ws::ReleaseWorkerDataMsg& i) { Out().Op("release-worker-data", 1).WriteKey(i.key); }
  void Do(ws::AddKeyMsg& i) {
    if (!scattering.contains(i.key)) Out().Op("add-keys", 1).Keys({i.key});
  }
  void Do(ws::MissingDataMsg& i) {
    Out().Op("missing-data", 2).WriteKey(i.key).Str(i.errant_worker);
  }
  void Do(ws::StealResponseMsg& i) {
    // Dask's rule: the steal succeeded iff the task had not started (waiting/ready/constrained).
    bool accepted = i.state && (*i.state == ws::State::kWaiting || *i.state == ws::State::kReady ||
                                *i.state == ws::State::kConstrained);
    Out().Op("steal-response", 3).WriteKey(i.key).Bool(accepted).UInt(i.request_id);
    if (accepted) specs.erase(i.key);
  }
  void Do(ws::RescheduleMsg& i) {
    Out().Op("reschedule", 2).WriteKey(i.key).UInt(i.run_id);
    specs.erase(i.key);
  }
  void Do(ws::LongRunningMsg& i) { Out().Op("long-running", 2).WriteKey(i.key).UInt(i.run_id); }
  void Do(ws::RequestRefreshWhoHasMsg& i) { Out().Op("request-refresh-who-has", 1).Keys(i.keys); }

  uint64_t StoreError(Payload error) {
    uint64_t h = next_error++;
    errors[h] = std::move(error);
    return h;
  }

  // ---- executor ----------------------------------------------------------------------------
  void Submit(Job job) {
    std::lock_guard<std::mutex> lock(exec_mu);
    jobs.push_back(std::move(job));
    if (idle_threads == 0 && live_threads < target_threads) SpawnLocked();
    exec_cv.notify_one();
  }
  void SpawnLocked() {
    // A closing worker starts no thread: the destructor is joining them.
    if (stopping) return;
    ++live_threads;
    threads.emplace_back([this] { ExecutorLoop(); });
  }
  void ExecutorLoop() {
    std::unique_lock<std::mutex> lock(exec_mu);
    while (true) {
      ++idle_threads;
      exec_cv.wait(lock, [this] {
        return stopping || !jobs.empty() || live_threads > target_threads;
      });
      --idle_threads;
      if (stopping || (jobs.empty() && live_threads > target_threads)) {
        --live_threads;
        return;
      }
      Job job = std::move(jobs.front());
      jobs.pop_front();
      lock.unlock();
      RunJob(std::move(job));
      lock.lock();
    }
  }
  void RunJob(Job job) {
    ThreadTask current{owner.load(), this, job.key, false};
    tls_task = &current;
    auto start = std::chrono::steady_clock::now();
    TaskOutcome outcome;
    std::shared_ptr<TaskRunner> runner = FindTaskRunner(job.spec->kind);
    if (!runner) {
      outcome.kind = TaskOutcome::Kind::kError;
      outcome.error = ErrorPayload("this worker cannot run '" + job.spec->kind +
                                   "' tasks (task " + job.key.ToString() + ")");
    } else {
      outcome = runner->Run(job.key, *job.spec, job.inputs);
    }
    double duration = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    uint64_t nbytes = 0;
    if (outcome.kind == TaskOutcome::Kind::kSuccess) {
      nbytes = outcome.nbytes ? *outcome.nbytes : SizeOf(outcome.value);
    }
    job.inputs.clear();  // drop references to inputs before the store may free them
    tls_task = nullptr;
    if (current.seceded) {
      // This thread ran beyond nthreads since the task seceded; give the extra slot back.
      std::lock_guard<std::mutex> lock(exec_mu);
      --target_threads;
      exec_cv.notify_all();
    }
    std::lock_guard<std::mutex> lock(state_mu);
    const Key& key = job.key;
    switch (outcome.kind) {
      case TaskOutcome::Kind::kSuccess:
        store[key] = Stored{std::move(outcome.value), std::nullopt};
        durations[key] = duration;
        Apply(ws::ExecuteSuccess{key, nbytes});
        durations.erase(key);  // used by TaskFinishedMsg if one was sent
        break;
      case TaskOutcome::Kind::kError:
        Apply(ws::ExecuteFailure{key, StoreError(std::move(outcome.error))});
        break;
      case TaskOutcome::Kind::kReschedule:
        Apply(ws::ExecuteReschedule{key});
        break;
    }
  }

  // ---- peers -------------------------------------------------------------------------------
  void WithPeer(const std::string& address, std::function<void(net::Connection*)> fn) {
    PeerConn& pc = peer_conns[address];
    if (pc.conn) {
      fn(pc.conn.get());
      return;
    }
    pc.waiting.push_back(std::move(fn));
    if (pc.waiting.size() > 1) return;  // a connect is under way
    // Connect blocks until the handshake is done, which needs the I/O thread: connect from a
    // helper thread.
    std::thread([self = shared_from_this(), address] {
      auto conn = net::Connect(*self->loop, address, self->options.secret, "worker",
                               self->options.connect_timeout, self->options.transport);
      std::weak_ptr<Impl> weak = self;
      self->loop->Post([weak, address, conn = std::move(conn)]() mutable {
        if (auto s = weak.lock()) {
          std::lock_guard<std::mutex> lock(s->state_mu);
          s->OnPeerConnected(address, std::move(conn));
        }
      });
    }).detach();
  }
  void OnPeerConnected(const std::string& address, Result<std::shared_ptr<net::Connection>> conn) {
    PeerConn& pc = peer_conns[address];
    std::vector<std::function<void(net::Connection*)>> waiting;
    waiting.swap(pc.waiting);
    if (!conn.ok()) {
      peer_conns.erase(address);
      Warn("cannot reach peer " + address + ": " + conn.status().ToString());
      FailGathersTo(address);
      for (auto& fn : waiting) fn(nullptr);
      return;
    }
    pc.conn = conn.MoveValueUnsafe();
    net::Connection* raw = pc.conn.get();
    std::weak_ptr<Impl> weak = weak_from_this();
    pc.conn->SetHandlers(
        [weak, address](Message m) {
          if (auto s = weak.lock()) {
            std::lock_guard<std::mutex> lock(s->state_mu);
            s->OnPeerMessage(address, std::move(m));
          }
        },
        [weak, address, raw](const Status&) {
          if (auto s = weak.lock()) {
            std::lock_guard<std::mutex> lock(s->state_mu);
            auto it = s->peer_conns.find(address);
            if (it != s->peer_conns.end() && it->second.conn.get() == raw) s->peer_conns.erase(it);
            s->FailGathersTo(address);
          }
        });
    for (auto& fn : waiting) fn(raw);
  }
  void FailGathersTo(const std::string& address) {
    std::vector<std::pair<uint64_t, PendingGather>> failed;
    for (auto it = gathers.begin(); it != gathers.end();) {
      if (it->second.worker == address) {
        failed.emplace_back(it->first, std::move(it->second));
        it = gathers.erase(it);
      } else {
        ++it;
      }
    }
    for (auto& [id, g] : failed) Apply(ws::GatherDepNetworkFailure{g.worker, g.keys});
  }
  void OnPeerMessage(const std::string& address, Message message) {
    auto parsed = BatchReader::Parse(std::move(message));
    if (!parsed.ok()) {
      Warn("malformed reply from peer " + address + ": " + parsed.status().ToString());
      FailGathersTo(address);
      return;
    }
    BatchReader& batch = *parsed.ValueUnsafe();
    for (size_t i = 0; i < batch.op_count(); ++i) {
      if (batch.OpName(i) != "data") continue;
      FieldReader f = batch.Fields(i);
      uint64_t id = f.UInt();
      std::vector<std::pair<Key, Payload>> got;
      FieldReader items = f.Array();
      while (f.ok() && items.remaining() > 0) {
        FieldReader item = items.Array();
        Key key = item.ReadKey();
        Payload value = ReadPayload(item);
        if (!value.kind.empty()) got.emplace_back(std::move(key), std::move(value));
      }
      auto g = gathers.find(id);
      if (g == gathers.end()) continue;
      PendingGather pending = std::move(g->second);
      gathers.erase(g);
      if (!f.ok()) {
        Apply(ws::GatherDepFailure{pending.worker, pending.keys});
        continue;
      }
      ws::GatherDepSuccess ev{pending.worker, {}};
      for (auto& [key, payload] : got) {
        uint64_t nbytes = payload.byte_size();
        store[key] = Stored{PayloadValue(payload), std::move(payload)};
        ev.data.push_back({key, nbytes});
      }
      Apply(ev);
    }
  }

  // Answers a get-data from the scheduler (for a client) or a peer.
  void ServeData(net::Connection* conn, FieldReader& f, OpWriter* reply) {
    uint64_t id = f.UInt();
    std::vector<Key> keys = f.Keys();
    if (!f.ok()) return;
    reply->Op("data", 2).UInt(id).Array(static_cast<uint32_t>(keys.size()));
    for (const Key& k : keys) {
      auto it = store.find(k);
      const Payload* payload = nullptr;
      if (it != store.end() && state->InMemory(k)) {
        if (!it->second.payload) {
          auto p = Serialize(it->second.value);
          if (p.ok()) {
            it->second.payload = p.MoveValueUnsafe();
          } else {
            Warn("cannot send " + k.ToString() + ": " + p.status().ToString());
          }
        }
        if (it->second.payload) payload = &*it->second.payload;
      }
      reply->Array(3).WriteKey(k);
      WritePayload(*reply, payload ? *payload : Payload{});  // kind "": not here
    }
    (void)conn;
  }

  void OnServedMessage(net::Connection* conn, Message message) {
    auto parsed = BatchReader::Parse(std::move(message));
    if (!parsed.ok()) {
      Warn("closing peer connection from " + conn->peer_address() + ": " + parsed.status().ToString());
      conn->Close(parsed.status());
      return;
    }
    BatchReader& batch = *parsed.ValueUnsafe();
    OpWriter reply;
    for (size_t i = 0; i < batch.op_count(); ++i) {
      FieldReader f = batch.Fields(i);
      if (batch.OpName(i) == "get-data") {
        ServeData(conn, f, &reply);
      } else {
        f.Fail("unknown peer op");
      }
      if (!batch.status().ok()) {
        conn->Close(batch.status());
        return;
      }
    }
    if (!reply.empty()) conn->Send(reply.Finish());
  }

  // ---- scheduler ops -----------------------------------------------------------------------
  void OnSchedulerMessage(Message message) {
    auto parsed = BatchReader::Parse(std::move(message));
    if (!parsed.ok()) {
      CloseFromLoop(parsed.status().WithContext("malformed message from the scheduler"));
      return;
    }
    BatchReader& batch = *parsed.ValueUnsafe();
    for (size_t i = 0; i < batch.op_count(); ++i) {
      std::string_view op = batch.OpName(i);
      FieldReader f = batch.Fields(i);
      OnSchedulerOp(op, f);
      if (!batch.status().ok()) {
        CloseFromLoop(batch.status().WithContext("from the scheduler"));
        return;
      }
      if (closed) return;
    }
  }

  void OnSchedulerOp(std::string_view op, FieldReader& f) {
    if (op == "compute") {
      ws::ComputeTask ev;
      ev.key = f.ReadKey();
      ev.run_id = static_cast<uint32_t>(f.UInt());
      FieldReader prio = f.Array();
      int64_t user = prio.Int();
      // The scheduler's priority: higher user priority first; the worker's: lower tuple first.
      ev.priority = {-user, prio.Int(), prio.Int()};
      FieldReader deps = f.Array();
      SpecEntry entry;
      while (f.ok() && deps.remaining() > 0) {
        FieldReader d = deps.Array();
        ws::Dependency dep;
        dep.key = d.ReadKey();
        dep.who_has = d.Strs();
        dep.nbytes = d.UInt();
        entry.dependencies.push_back(dep.key);
        ev.dependencies.push_back(std::move(dep));
      }
      entry.spec = std::make_shared<const Payload>(ReadPayload(f));
      if (!f.ok()) return;
      specs[ev.key] = std::move(entry);
      Apply(ev);
    } else if (op == "free-keys") {
      ws::FreeKeys ev{f.Keys()};
      if (!f.ok()) return;
      Apply(ev);
      for (const Key& k : ev.keys) {
        if (!state->GetState(k)) specs.erase(k);
      }
    } else if (op == "steal-request") {
      ws::StealRequest ev{f.ReadKey(), f.UInt()};
      if (f.ok()) Apply(ev);
    } else if (op == "refresh-who-has") {
      ws::WhoHas wh{f.ReadKey(), f.Strs()};
      if (f.ok()) Apply(ws::RefreshWhoHas{{std::move(wh)}});
    } else if (op == "get-data") {
      ServeData(scheduler.get(), f, &Out());
    } else if (op == "update-data") {
      uint64_t id = f.UInt();
      FieldReader items = f.Array();
      ws::UpdateData ev;
      while (f.ok() && items.remaining() > 0) {
        FieldReader item = items.Array();
        Key key = item.ReadKey();
        Payload payload = ReadPayload(item);
        if (!f.ok()) return;
        uint64_t nbytes = payload.byte_size();
        if (!state->InMemory(key)) store[key] = Stored{PayloadValue(payload), payload};
        ev.data.push_back({std::move(key), nbytes});
      }
      for (const auto& kn : ev.data) scattering.insert(kn.key);
      Apply(ev);
      scattering.clear();
      OpWriter& w = Out();
      w.Op("update-data-ack", 2).UInt(id).Array(static_cast<uint32_t>(ev.data.size()));
      for (const auto& kn : ev.data) w.Array(2).WriteKey(kn.key).UInt(kn.nbytes);
    } else if (op == "run") {
      uint64_t id = f.UInt();
      Payload spec = ReadPayload(f);
      if (!f.ok()) return;
      RunFunction(id, std::move(spec));
    } else if (op == "registered") {
      f.UInt();
      if (!registered_set) {
        registered_set = true;
        registered.set_value(Status::OK());
      }
    } else if (op == "close") {
      CloseFromLoop(Status::OK());
    } else {
      f.Fail("unknown scheduler op");
    }
  }

  // client.run: a function called once on this worker, outside the task slots.
  void RunFunction(uint64_t id, Payload spec) {
    std::thread([self = weak_from_this(), id, spec = std::move(spec)] {
      auto s = self.lock();
      if (!s) return;
      TaskOutcome outcome;
      std::shared_ptr<TaskRunner> runner = FindTaskRunner(spec.kind);
      if (!runner) {
        outcome.kind = TaskOutcome::Kind::kError;
        outcome.error = ErrorPayload("this worker cannot run '" + spec.kind + "' functions");
      } else {
        ThreadTask current{s->owner.load(), s.get(), Key("run"), false};
        tls_task = &current;
        outcome = runner->Run(Key("run"), spec, {});
        tls_task = nullptr;
      }
      Payload result;
      bool ok = outcome.kind == TaskOutcome::Kind::kSuccess;
      if (ok) {
        auto p = Serialize(outcome.value);
        if (p.ok()) {
          result = p.MoveValueUnsafe();
        } else {
          ok = false;
          result = ErrorPayload(p.status().ToString());
        }
      } else {
        result = std::move(outcome.error);
      }
      outcome.value = Value();
      s->loop->Post([self, id, ok, result = std::move(result)]() mutable {
        auto s2 = self.lock();
        if (!s2) return;
        std::lock_guard<std::mutex> lock(s2->state_mu);
        OpWriter& w = s2->Out();
        w.Op("run-result", 4).UInt(id).Bool(ok);
        WritePayload(w, std::move(result));
      });
      s.reset();
    }).detach();
  }

  void CheckMemory() {
    if (options.memory_limit == 0) return;
    uint64_t rss = ResidentBytes();
    if (!paused_for_memory && rss > options.memory_limit * 8 / 10) {
      paused_for_memory = true;
      Warn("memory use " + std::to_string(rss >> 20) + " MiB is above 80% of the limit (" +
           std::to_string(options.memory_limit >> 20) + " MiB): pausing");
      Apply(ws::PauseEvent{});
      Out().Op("pause", 1).Bool(true);
    } else if (paused_for_memory && rss < options.memory_limit * 7 / 10) {
      paused_for_memory = false;
      Info("memory use back below 70% of the limit: resuming");
      Apply(ws::UnpauseEvent{});
      Out().Op("pause", 1).Bool(false);
    }
  }

  void CloseFromLoop(const Status& why) {
    {
      std::lock_guard<std::mutex> lock(closed_mu);
      if (closed) return;
      closed = true;
      closed_why = why;
    }
    if (!registered_set) {
      registered_set = true;
      registered.set_value(why.ok() ? Status::IOError("the scheduler closed the connection") : why);
    }
    timers.clear();
    if (listener) listener->Close();
    if (scheduler) scheduler->Close(Status::Cancelled("worker closing"));
    for (auto& [a, pc] : peer_conns) {
      if (pc.conn) pc.conn->Close(Status::Cancelled("worker closing"));
    }
    for (auto& c : served) c->Close(Status::Cancelled("worker closing"));
    {
      std::lock_guard<std::mutex> lock(exec_mu);
      stopping = true;
      for (auto& [k, p] : rejoin_waiters) p->set_value();
      rejoin_waiters.clear();
      exec_cv.notify_all();
    }
    closed_cv.notify_all();
  }

  ~Impl() {
    // Executor threads post to the loop: let them finish first, then stop the loop, so that no
    // handler runs while the members it uses are destroyed.
    {
      std::lock_guard<std::mutex> lock(exec_mu);
      stopping = true;
      for (auto& [k, p] : rejoin_waiters) p->set_value();
      rejoin_waiters.clear();
      exec_cv.notify_all();
    }
    // Joined outside the lock (a finishing task takes it to apply its outcome); `threads` is
    // only read under it, since a task finishing before `stopping` was seen may have started
    // one more thread.
    std::vector<std::thread> to_join;
    while (true) {
      {
        std::lock_guard<std::mutex> lock(exec_mu);
        to_join.swap(threads);
      }
      if (to_join.empty()) break;
      for (auto& t : to_join) t.join();
      to_join.clear();
    }
    timers.clear();
    listener.reset();  // closes through the loop, which must still run
    // Connections must not outlive their loop: drop them on the loop, then stop it.
    std::promise<void> dropped;
    loop->Post([this, &dropped] {
      std::lock_guard<std::mutex> lock(state_mu);
      scheduler.reset();
      peer_conns.clear();
      served.clear();
      dropped.set_value();
    });
    dropped.get_future().wait();
    loop.reset();
  }
};

WorkerService::WorkerService(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {
  impl_->owner.store(this);
}

WorkerService::~WorkerService() {
  Close();
  // Handlers and helper threads hold the Impl only briefly; the last reference must not be
  // dropped on the I/O thread (the Impl's destructor joins it).
  while (impl_.use_count() > 1) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  impl_.reset();
}

Result<std::unique_ptr<WorkerService>> WorkerService::Start(WorkerServiceOptions options) {
  if (options.nthreads < 1) return Status::Invalid("a worker needs at least 1 thread");
  auto impl = std::make_shared<Impl>();
  impl->options = std::move(options);
  Impl* raw = impl.get();
  std::weak_ptr<Impl> weak = impl;
  TEGU_ASSIGN_OR_RAISE(
      impl->listener,
      net::Listener::Listen(*impl->loop, impl->options.listen_address, impl->options.secret,
                            [weak](std::shared_ptr<net::Connection> conn) {
                              auto s = weak.lock();
                              if (!s) return;
                              net::Connection* c = conn.get();
                              std::lock_guard<std::mutex> lock(s->state_mu);
                              s->served.push_back(conn);
                              conn->SetHandlers(
                                  [weak, c](Message m) {
                                    if (auto s2 = weak.lock()) {
                                      std::lock_guard<std::mutex> lock(s2->state_mu);
                                      s2->OnServedMessage(c, std::move(m));
                                    }
                                  },
                                  [weak, c](const Status&) {
                                    if (auto s2 = weak.lock()) {
                                      std::lock_guard<std::mutex> lock(s2->state_mu);
                                      std::erase_if(s2->served,
                                                    [c](const auto& p) { return p.get() == c; });
                                    }
                                  });
                            },
                            impl->options.transport));
  impl->address = impl->listener->address();
  ws::WorkerStateOptions state_options;
  state_options.address = impl->address;
  state_options.nthreads = impl->options.nthreads;
  impl->state = std::make_unique<ws::WorkerState>(state_options);
  impl->target_threads = impl->options.nthreads;
  if (impl->options.name.empty()) impl->options.name = impl->address;

  TEGU_ASSIGN_OR_RAISE(impl->scheduler,
                       net::Connect(*impl->loop, impl->options.scheduler_address,
                                    impl->options.secret, "worker", impl->options.connect_timeout,
                                    impl->options.transport));
  std::future<Status> registered = impl->registered.get_future();
  impl->loop->Post([raw, weak] {
    std::lock_guard<std::mutex> lock(raw->state_mu);
    raw->scheduler->SetHandlers(
        [weak](Message m) {
          if (auto s = weak.lock()) {
            std::lock_guard<std::mutex> lock(s->state_mu);
            s->OnSchedulerMessage(std::move(m));
          }
        },
        [weak](const Status& why) {
          if (auto s = weak.lock()) {
            std::lock_guard<std::mutex> lock(s->state_mu);
            s->CloseFromLoop(why.code() == StatusCode::kCancelled
                                 ? Status::OK()
                                 : why.WithContext("lost the scheduler"));
          }
        });
    raw->Out()
        .Op("register", 4)
        .Str(raw->address)
        .UInt(static_cast<uint64_t>(raw->options.nthreads))
        .UInt(raw->options.memory_limit)
        .Str(raw->options.name);
  });
  if (registered.wait_for(impl->options.connect_timeout) != std::future_status::ready) {
    return Status::IOError("the scheduler at " + impl->options.scheduler_address +
                           " did not answer the registration");
  }
  TEGU_RETURN_NOT_OK(registered.get());
  impl->loop->Post([raw, weak] {
    std::lock_guard<std::mutex> lock(raw->state_mu);
    raw->timers.push_back(raw->loop->Every(raw->options.heartbeat_interval, [weak] {
      if (auto s = weak.lock()) {
        std::lock_guard<std::mutex> lock(s->state_mu);
        s->Out().Op("heartbeat", 0);
      }
    }));
    raw->timers.push_back(raw->loop->Every(std::chrono::milliseconds(1000), [weak] {
      if (auto s = weak.lock()) {
        std::lock_guard<std::mutex> lock(s->state_mu);
        s->Apply(ws::FindMissing{});
      }
    }));
    raw->timers.push_back(raw->loop->Every(std::chrono::milliseconds(200), [weak] {
      if (auto s = weak.lock()) {
        std::lock_guard<std::mutex> lock(s->state_mu);
        s->CheckMemory();
      }
    }));
  });
  Info("worker " + impl->address + " joined " + impl->options.scheduler_address);
  return std::unique_ptr<WorkerService>(new WorkerService(std::move(impl)));
}

const std::string& WorkerService::address() const { return impl_->address; }
const std::string& WorkerService::scheduler_address() const {
  return impl_->options.scheduler_address;
}
const std::string& WorkerService::name() const { return impl_->options.name; }
int WorkerService::nthreads() const { return impl_->options.nthreads; }
const std::string& WorkerService::secret() const { return impl_->options.secret; }

void WorkerService::Close() {
  if (!impl_) return;
  if (impl_->loop->InLoopThread()) {
    std::lock_guard<std::mutex> lock(impl_->state_mu);
    impl_->CloseFromLoop(Status::OK());
    return;
  }
  std::promise<void> done;
  impl_->loop->Post([this, &done] {
    std::lock_guard<std::mutex> lock(impl_->state_mu);
    impl_->CloseFromLoop(Status::OK());
    done.set_value();
  });
  done.get_future().wait();
}

Status WorkerService::Wait() {
  std::unique_lock<std::mutex> lock(impl_->closed_mu);
  impl_->closed_cv.wait(lock, [this] { return impl_->closed; });
  return impl_->closed_why;
}

size_t WorkerService::data_count() {
  std::promise<size_t> n;
  impl_->loop->Post([this, &n] {
    std::lock_guard<std::mutex> lock(impl_->state_mu);
    n.set_value(impl_->store.size());
  });
  return n.get_future().get();
}

std::optional<CurrentTaskInfo> CurrentTask() {
  if (!tls_task) return std::nullopt;
  return CurrentTaskInfo{tls_task->worker, tls_task->key};
}

Status Secede() {
  ThreadTask* t = tls_task;
  if (!t) return Status::Invalid("secede() must be called from inside a task on a worker");
  if (t->seceded) return Status::Invalid("the task has already seceded");
  t->seceded = true;
  WorkerService::Impl* impl = t->impl;
  {
    std::lock_guard<std::mutex> lock(impl->exec_mu);
    ++impl->target_threads;
    if (impl->idle_threads == 0 && !impl->jobs.empty()) impl->SpawnLocked();
    impl->exec_cv.notify_one();
  }
  std::weak_ptr<WorkerService::Impl> weak = impl->weak_from_this();
  impl->loop->Post([weak, key = t->key] {
    if (auto s = weak.lock()) {
      std::lock_guard<std::mutex> lock(s->state_mu);
      s->Apply(worker::Secede{key});
    }
  });
  return Status::OK();
}

Status Rejoin() {
  ThreadTask* t = tls_task;
  if (!t) return Status::Invalid("rejoin() must be called from inside a task on a worker");
  if (!t->seceded) return Status::OK();  // as Dask: rejoining a task that holds a slot is a no-op
  WorkerService::Impl* impl = t->impl;
  auto granted = std::make_shared<std::promise<void>>();
  std::future<void> wait = granted->get_future();
  {
    std::lock_guard<std::mutex> lock(impl->exec_mu);
    if (impl->stopping) return Status::Cancelled("the worker is closing");
    impl->rejoin_waiters[t->key] = granted;
  }
  std::weak_ptr<WorkerService::Impl> weak = impl->weak_from_this();
  impl->loop->Post([weak, key = t->key] {
    if (auto s = weak.lock()) {
      std::lock_guard<std::mutex> lock(s->state_mu);
      s->Apply(worker::Rejoin{key});
    }
  });
  wait.wait();
  t->seceded = false;
  std::lock_guard<std::mutex> lock(impl->exec_mu);
  --impl->target_threads;
  return Status::OK();
}

}  // namespace tegu::distributed
