#include "tegu/distributed/scheduler_service.hpp"

#include <condition_variable>
#include <limits>
#include <future>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "tegu/common/logging.hpp"
#include "tegu/config.hpp"
#include "tegu/distributed/codec.hpp"
#include "tegu/distributed/payload.hpp"
#include "tegu/net/transport.hpp"

namespace tegu::distributed {

using protocol::Buffer;
using protocol::Message;
using scheduler::ClientId;
using scheduler::Clock;
using scheduler::WorkerId;
namespace sched = tegu::scheduler;

namespace {

void Info(const std::string& message) {
  internal::Log(internal::LogLevel::kInfo, "scheduler", message);
}
void Warn(const std::string& message) {
  internal::Log(internal::LogLevel::kWarn, "scheduler", message);
}

struct Peer {
  enum class Role : uint8_t { kUnregistered, kWorker, kClient };
  std::shared_ptr<net::Connection> conn;
  Role role = Role::kUnregistered;
  WorkerId worker = 0;
  ClientId client = 0;
  OpWriter out;
  bool flush_queued = false;
};

// A client's gather, scatter or run waiting for workers' answers.
struct PendingRequest {
  enum class Kind : uint8_t { kGather, kScatter, kRun };
  Kind kind = Kind::kGather;
  Peer* client = nullptr;
  uint64_t client_request = 0;
  std::unordered_set<WorkerId> waiting_on;
  // gather: values by key; missing keys
  std::vector<std::pair<Key, Payload>> values;
  std::vector<Key> missing;
  // scatter: replicas placed
  std::vector<sched::ScatteredKey> placed;
  std::vector<Key> scattered_keys;
  // run: per-worker results (address, ok, payload)
  struct RunResult {
    std::string address;
    bool ok = false;
    Payload payload;
  };
  std::vector<RunResult> run_results;
};

}  // namespace

struct SchedulerService::Impl {
  SchedulerServiceOptions options;
  std::unique_ptr<net::IoLoop> loop = std::make_unique<net::IoLoop>();
  std::unique_ptr<net::Listener> listener;
  std::string address;
  sched::SchedulerState state;
  std::shared_ptr<void> ticker;

  std::unordered_map<net::Connection*, std::unique_ptr<Peer>> peers;
  std::unordered_map<WorkerId, Peer*> workers;
  std::unordered_map<WorkerId, WorkerInfo> worker_info;
  std::unordered_map<std::string, WorkerId> worker_by_address;
  std::unordered_map<ClientId, Peer*> clients;
  WorkerId next_worker = 1;
  ClientId next_client = 1;
  /// The client that wants fire_and_forget keys until they finish (as Dask's "fire-and-forget").
  static constexpr ClientId kFireAndForget = UINT32_MAX - 1;

  std::unordered_map<uint64_t, Payload> run_specs;
  std::unordered_map<uint64_t, Payload> errors;
  uint64_t next_handle = 1;

  std::unordered_map<uint64_t, PendingRequest> pending;
  uint64_t next_request = 1;

  std::mutex closed_mu;
  std::condition_variable closed_cv;
  bool closed = false;

  explicit Impl(SchedulerServiceOptions opts) : options(std::move(opts)), state(options.state) {}
  ~Impl() {
    // Connections must not outlive their loop, and the loop must stop before the tables its
    // handlers use are destroyed: drop the connections on the loop, then stop it.
    ticker.reset();
    listener.reset();
    std::promise<void> dropped;
    loop->Post([this, &dropped] {
      clients.clear();
      workers.clear();
      peers.clear();
      dropped.set_value();
    });
    dropped.get_future().wait();
    loop.reset();
  }

  // ---- sending ---------------------------------------------------------------------------
  OpWriter& Out(Peer* peer) {
    if (!peer->flush_queued) {
      peer->flush_queued = true;
      // Everything this round of handlers queues for the peer leaves as one batch.
      loop->Post([this, conn = peer->conn.get()] { Flush(conn); });
    }
    return peer->out;
  }
  void Flush(net::Connection* conn) {
    auto it = peers.find(conn);
    if (it == peers.end()) return;
    Peer* peer = it->second.get();
    peer->flush_queued = false;
    if (!peer->out.empty()) peer->conn->Send(peer->out.Finish());
  }

  // ---- events and actions ---------------------------------------------------------------
  void Apply(const sched::Event& event) {
    sched::Actions actions = state.Handle(event, Clock::now());
    for (sched::Action& action : actions) std::visit([this](auto& a) { Do(a); }, action);
  }

  std::string AddressOf(WorkerId id) const {
    auto it = worker_info.find(id);
    return it == worker_info.end() ? std::string() : it->second.address;
  }
  Peer* WorkerPeer(WorkerId id) {
    auto it = workers.find(id);
    return it == workers.end() ? nullptr : it->second;
  }

  void Do(sched::ComputeTask& a) {
    Peer* peer = WorkerPeer(a.worker);
    if (!peer) return;
    const Payload* spec = nullptr;
    if (auto it = run_specs.find(a.run_spec); it != run_specs.end()) spec = &it->second;
    OpWriter& w = Out(peer);
    w.Op("compute", 6).WriteKey(a.key).UInt(a.run_id);
    w.Array(3).Int(a.priority.user).UInt(a.priority.generation).UInt(a.priority.order);
    w.Array(static_cast<uint32_t>(a.dependencies.size()));
    for (const sched::DependencyLocation& d : a.dependencies) {
      w.Array(3).WriteKey(d.key).Array(static_cast<uint32_t>(d.who_has.size()));
      for (WorkerId h : d.who_has) w.Str(AddressOf(h));
      w.UInt(d.nbytes);
    }
    WritePayload(w, spec ? *spec : Payload{});  // no run spec: kind ""
  }
  void Do(sched::FreeKeysOnWorker& a) {
    if (Peer* peer = WorkerPeer(a.worker)) Out(peer).Op("free-keys", 1).Keys(a.keys);
  }
  void Do(sched::CancelCompute& a) {
    if (Peer* peer = WorkerPeer(a.worker)) Out(peer).Op("free-keys", 1).Keys({a.key});
  }
  void Do(sched::StealRequest& a) {
    if (Peer* peer = WorkerPeer(a.victim)) {
      Out(peer).Op("steal-request", 2).WriteKey(a.key).UInt(a.request_id);
    }
  }
  void Do(sched::RefreshWhoHas& a) {
    Peer* peer = WorkerPeer(a.worker);
    if (!peer) return;
    OpWriter& w = Out(peer);
    w.Op("refresh-who-has", 2).WriteKey(a.key).Array(static_cast<uint32_t>(a.who_has.size()));
    for (WorkerId h : a.who_has) w.Str(AddressOf(h));
  }
  void Do(sched::NotifyClient& a) {
    if (a.client == kFireAndForget) {
      if (a.state != sched::ClientKeyState::kLost) {
        loop->Post([this, key = a.key] { Apply(sched::ReleaseKeys{kFireAndForget, {key}}); });
      }
      return;
    }
    auto it = clients.find(a.client);
    if (it == clients.end()) return;
    OpWriter& w = Out(it->second);
    switch (a.state) {
      case sched::ClientKeyState::kMemory:
        w.Op("key-in-memory", 1).WriteKey(a.key);
        break;
      case sched::ClientKeyState::kLost:
        w.Op("lost-data", 1).WriteKey(a.key);
        break;
      case sched::ClientKeyState::kErred: {
        Payload error;
        if (auto e = errors.find(a.error.handle); e != errors.end()) {
          error = e->second;
        } else {
          std::string text = std::string(sched::ErrorKindName(a.error.kind));
          if (a.error.kind == sched::ErrorKind::kKilledWorker) {
            text = "KilledWorker: attempted to run task " + a.error.blame.ToString() + " on " +
                   std::to_string(options.state.killed_worker_limit) +
                   " different workers, but all those workers died while running it";
          } else if (a.error.kind == sched::ErrorKind::kMissingDependency) {
            text = "missing dependency: a task of " + a.error.blame.ToString() +
                   " names a key the scheduler does not know";
          } else if (a.error.kind == sched::ErrorKind::kLostData) {
            text = "lost data: " + a.error.blame.ToString() +
                   " was scattered data that no worker holds anymore";
          } else if (a.error.kind == sched::ErrorKind::kCycle) {
            text = "cycle: " + a.error.blame.ToString() + " depends on itself";
          }
          error = ErrorPayload(text);
        }
        w.Op("task-erred", 4).WriteKey(a.key).Str(sched::ErrorKindName(a.error.kind));
        w.WriteKey(a.error.blame).UInt(error.frames.size());
        for (const Buffer& f : error.frames) w.Frame(f);
        break;
      }
    }
  }
  void Do(sched::TaskKilled& a) {
    Warn("task " + a.key.ToString() + " failed with KilledWorker: " + std::to_string(a.deaths) +
         " workers died running it (last " + AddressOf(a.last_worker) + ")");
  }
  void Do(sched::CloseWorker& a) {
    if (Peer* peer = WorkerPeer(a.worker)) {
      peer->conn->Close(Status::IOError(std::string("removed by the scheduler: ") +
                                        sched::RemoveReasonName(a.reason)));
    }
  }
  void Do(sched::TaskForgotten& a) {
    run_specs.erase(a.run_spec);
    errors.erase(a.error);
  }
  void Do(sched::ReleaseHandles& a) {
    run_specs.erase(a.run_spec);
    errors.erase(a.error);
  }

  // ---- connections -----------------------------------------------------------------------
  void OnAccept(std::shared_ptr<net::Connection> conn) {
    auto peer = std::make_unique<Peer>();
    peer->conn = conn;
    net::Connection* raw = conn.get();
    if (conn->peer_role() == "client") {
      peer->role = Peer::Role::kClient;
      peer->client = next_client++;
      clients[peer->client] = peer.get();
      Apply(sched::AddClient{peer->client});
      Out(peer.get()).Op("welcome", 1).UInt(peer->client);
    }
    peers[raw] = std::move(peer);
    conn->SetHandlers([this, raw](Message m) { OnMessage(raw, std::move(m)); },
                      [this, raw](const Status& why) { OnClose(raw, why); });
  }

  void OnClose(net::Connection* raw, const Status& why) {
    auto it = peers.find(raw);
    if (it == peers.end()) return;
    std::unique_ptr<Peer> peer = std::move(it->second);
    peers.erase(it);
    if (peer->role == Peer::Role::kWorker) {
      Info("worker " + AddressOf(peer->worker) + " left: " + why.ToString());
      workers.erase(peer->worker);
      worker_by_address.erase(AddressOf(peer->worker));
      FailPendingOn(peer->worker);
      Apply(sched::RemoveWorker{peer->worker, sched::RemoveReason::kConnectionLost});
      worker_info.erase(peer->worker);  // after the actions, which may name its address
    } else if (peer->role == Peer::Role::kClient) {
      clients.erase(peer->client);
      for (auto p = pending.begin(); p != pending.end();) {
        p = p->second.client == peer.get() ? pending.erase(p) : std::next(p);
      }
      Apply(sched::RemoveClient{peer->client});
    }
  }

  void OnMessage(net::Connection* raw, Message message) {
    auto it = peers.find(raw);
    if (it == peers.end()) return;
    Peer* peer = it->second.get();
    auto parsed = BatchReader::Parse(std::move(message));
    if (!parsed.ok()) {
      Refuse(peer, parsed.status());
      return;
    }
    BatchReader& batch = *parsed.ValueUnsafe();
    if (peer->role == Peer::Role::kWorker) Apply(sched::Heartbeat{peer->worker});
    for (size_t i = 0; i < batch.op_count(); ++i) {
      std::string_view op = batch.OpName(i);
      FieldReader f = batch.Fields(i);
      Status st;
      switch (peer->role) {
        case Peer::Role::kUnregistered:
          st = OnUnregisteredOp(peer, op, f);
          break;
        case Peer::Role::kWorker:
          st = OnWorkerOp(peer, op, f);
          break;
        case Peer::Role::kClient:
          st = OnClientOp(peer, op, f);
          break;
      }
      if (st.ok()) st = batch.status();
      if (!st.ok()) {
        Refuse(peer, st);
        return;
      }
      // The peer may have been closed by the op (a worker's duplicate address).
      if (!peers.contains(raw)) return;
    }
  }

  void Refuse(Peer* peer, const Status& why) {
    Warn("closing connection from " + peer->conn->peer_address() + ": " + why.ToString());
    peer->conn->Close(why);
  }

  Status OnUnregisteredOp(Peer* peer, std::string_view op, FieldReader& f) {
    if (op != "register") {
      return Status::Invalid("a worker must register first, got op '" + std::string(op) + "'");
    }
    WorkerInfo info;
    info.address = f.Str();
    info.nthreads = static_cast<uint32_t>(f.UInt());
    info.memory_limit = f.UInt();
    info.name = f.Str();
    TEGU_RETURN_NOT_OK(f.status());
    if (info.nthreads == 0) return Status::Invalid("a worker registered with 0 threads");
    if (worker_by_address.contains(info.address)) {
      return Status::Invalid("a worker is already registered at " + info.address);
    }
    info.id = next_worker++;
    if (info.name.empty()) info.name = info.address;
    peer->role = Peer::Role::kWorker;
    peer->worker = info.id;
    workers[info.id] = peer;
    worker_by_address[info.address] = info.id;
    Info("worker " + info.address + " joined (" + std::to_string(info.nthreads) + " threads)");
    Out(peer).Op("registered", 1).UInt(info.id);
    Apply(sched::AddWorker{info.id, info.nthreads, info.memory_limit});
    worker_info[info.id] = std::move(info);
    return Status::OK();
  }

  Status OnWorkerOp(Peer* peer, std::string_view op, FieldReader& f) {
    const WorkerId w = peer->worker;
    if (op == "task-finished") {
      sched::TaskFinished e{w, f.ReadKey(), f.UInt(), f.Double(), static_cast<uint32_t>(f.UInt())};
      TEGU_RETURN_NOT_OK(f.status());
      Apply(e);
    } else if (op == "task-erred") {
      Key key = f.ReadKey();
      uint32_t run_id = static_cast<uint32_t>(f.UInt());
      uint64_t nframes = f.UInt();
      Payload error{"error", f.Frames(nframes)};
      TEGU_RETURN_NOT_OK(f.status());
      uint64_t handle = next_handle++;
      errors[handle] = std::move(error);
      Apply(sched::TaskErred{w, std::move(key), handle, run_id});
    } else if (op == "reschedule") {
      sched::Reschedule e{w, f.ReadKey(), static_cast<uint32_t>(f.UInt())};
      TEGU_RETURN_NOT_OK(f.status());
      Apply(e);
    } else if (op == "long-running") {
      sched::LongRunning e{w, f.ReadKey(), static_cast<uint32_t>(f.UInt())};
      TEGU_RETURN_NOT_OK(f.status());
      Apply(e);
    } else if (op == "release-worker-data") {
      sched::ReleaseWorkerData e{w, f.ReadKey()};
      TEGU_RETURN_NOT_OK(f.status());
      Apply(e);
    } else if (op == "add-keys") {
      sched::AddReplicas e{w, f.Keys()};
      TEGU_RETURN_NOT_OK(f.status());
      Apply(e);
    } else if (op == "missing-data") {
      Key key = f.ReadKey();
      std::string holder = f.Str();
      TEGU_RETURN_NOT_OK(f.status());
      auto h = worker_by_address.find(holder);
      // A holder that already left: its removal has cleaned who_has.
      if (h != worker_by_address.end()) Apply(sched::MissingData{w, std::move(key), h->second});
    } else if (op == "steal-response") {
      sched::StealResponse e{w, f.ReadKey(), f.Bool(), f.UInt()};
      TEGU_RETURN_NOT_OK(f.status());
      Apply(e);
    } else if (op == "request-refresh-who-has") {
      sched::RequestWhoHas e{w, f.Keys()};
      TEGU_RETURN_NOT_OK(f.status());
      Apply(e);
    } else if (op == "heartbeat") {
      // Counted above: every message from a worker is a heartbeat.
    } else if (op == "pause") {
      bool paused = f.Bool();
      TEGU_RETURN_NOT_OK(f.status());
      Apply(sched::PauseWorker{w, paused});
    } else if (op == "data") {
      return OnWorkerData(w, f);
    } else if (op == "update-data-ack") {
      return OnUpdateDataAck(w, f);
    } else if (op == "run-result") {
      return OnRunResult(w, f);
    } else {
      return Status::Invalid("unknown worker op '" + std::string(op) + "'");
    }
    return Status::OK();
  }

  // ---- client ops ------------------------------------------------------------------------
  Status OnClientOp(Peer* peer, std::string_view op, FieldReader& f) {
    if (op == "update-graph") return OnUpdateGraph(peer, f);
    if (op == "release-keys") {
      sched::ReleaseKeys e{peer->client, f.Keys()};
      TEGU_RETURN_NOT_OK(f.status());
      Apply(e);
      return Status::OK();
    }
    if (op == "fire-and-forget") {
      sched::UpdateGraph e{kFireAndForget, {}, f.Keys()};
      TEGU_RETURN_NOT_OK(f.status());
      Apply(e);
      return Status::OK();
    }
    if (op == "gather") return OnGather(peer, f);
    if (op == "scatter") return OnScatter(peer, f);
    if (op == "run") return OnRun(peer, f);
    if (op == "who-has") {
      uint64_t request = f.UInt();
      std::vector<Key> keys = f.Keys();
      TEGU_RETURN_NOT_OK(f.status());
      OpWriter& w = Out(peer);
      w.Op("who-has-reply", 2).UInt(request).Array(static_cast<uint32_t>(keys.size()));
      for (const Key& k : keys) {
        std::vector<WorkerId> holders = state.WhoHas(k);
        w.Array(2).WriteKey(k).Array(static_cast<uint32_t>(holders.size()));
        for (WorkerId h : holders) w.Str(AddressOf(h));
      }
      return Status::OK();
    }
    if (op == "info") {
      uint64_t request = f.UInt();
      bool with_keys = f.Bool();
      TEGU_RETURN_NOT_OK(f.status());
      OpWriter& w = Out(peer);
      w.Op("info-reply", 3).UInt(request).Str(address);
      std::vector<WorkerId> ids = state.Workers();
      w.Array(static_cast<uint32_t>(ids.size()));
      for (WorkerId id : ids) {
        const WorkerInfo& info = worker_info[id];
        w.Array(6).Str(info.address).Str(info.name).UInt(info.nthreads).UInt(info.memory_limit);
        w.UInt(state.ProcessingCount(id));
        w.Keys(with_keys ? state.HasWhat(id) : std::vector<Key>{});
      }
      return Status::OK();
    }
    if (op == "task-states") {
      uint64_t request = f.UInt();
      std::vector<Key> keys = f.Keys();
      TEGU_RETURN_NOT_OK(f.status());
      OpWriter& w = Out(peer);
      w.Op("task-states-reply", 2).UInt(request).Array(static_cast<uint32_t>(keys.size()));
      for (const Key& k : keys) w.Str(sched::TaskStateName(state.TaskStateOf(k)));
      return Status::OK();
    }
    if (op == "close-scheduler") {
      loop->Post([this] { CloseFromLoop(); });
      return Status::OK();
    }
    return Status::Invalid("unknown client op '" + std::string(op) + "'");
  }

  Status OnUpdateGraph(Peer* peer, FieldReader& f) {
    sched::UpdateGraph e;
    e.client = peer->client;
    FieldReader tasks = f.Array();
    e.tasks.reserve(tasks.size());
    while (f.ok() && tasks.remaining() > 0) {
      FieldReader t = tasks.Array();
      sched::TaskSubmission s;
      s.key = t.ReadKey();
      s.dependencies = t.Keys();
      s.priority = static_cast<int32_t>(t.Int());
      s.retries = static_cast<uint32_t>(std::min<uint64_t>(t.UInt(), 255));
      for (const std::string& a : t.Strs()) {
        auto w = worker_by_address.find(a);
        // An unknown address restricts the task to a worker that does not exist (no-worker),
        // as Dask's workers= with an address not in the cluster.
        s.workers.push_back(w == worker_by_address.end() ? UINT32_MAX : w->second);
      }
      s.allow_other_workers = t.Bool();
      Payload spec = ReadPayload(t);
      if (!f.ok()) break;
      if (!spec.kind.empty()) {
        s.run_spec = next_handle++;
        run_specs.emplace(s.run_spec, std::move(spec));
      }
      e.tasks.push_back(std::move(s));
    }
    e.wanted = f.Keys();
    if (!f.ok()) {
      for (const auto& s : e.tasks) run_specs.erase(s.run_spec);
      return f.status();
    }
    Apply(e);
    return Status::OK();
  }

  Status OnGather(Peer* peer, FieldReader& f) {
    uint64_t request = f.UInt();
    std::vector<Key> keys = f.Keys();
    TEGU_RETURN_NOT_OK(f.status());
    uint64_t id = next_request++;
    PendingRequest& p = pending[id];
    p.kind = PendingRequest::Kind::kGather;
    p.client = peer;
    p.client_request = request;
    std::unordered_map<WorkerId, std::vector<Key>> by_worker;
    for (Key& k : keys) {
      std::vector<WorkerId> holders = state.WhoHas(k);
      if (holders.empty() || !workers.contains(holders.front())) {
        p.missing.push_back(std::move(k));
      } else {
        by_worker[holders.front()].push_back(std::move(k));
      }
    }
    for (auto& [w, ks] : by_worker) {
      p.waiting_on.insert(w);
      Out(workers[w]).Op("get-data", 2).UInt(id).Keys(ks);
    }
    MaybeFinish(id);
    return Status::OK();
  }

  Status OnWorkerData(WorkerId w, FieldReader& f) {
    uint64_t id = f.UInt();
    FieldReader items = f.Array();
    std::vector<std::pair<Key, Payload>> got;
    std::vector<Key> missing;
    while (f.ok() && items.remaining() > 0) {
      FieldReader item = items.Array();
      Key key = item.ReadKey();
      Payload value = ReadPayload(item);
      if (value.kind.empty()) {  // the worker does not have it
        missing.push_back(std::move(key));
      } else {
        got.emplace_back(std::move(key), std::move(value));
      }
    }
    TEGU_RETURN_NOT_OK(f.status());
    auto it = pending.find(id);
    if (it == pending.end()) return Status::OK();  // the client left
    PendingRequest& p = it->second;
    for (auto& g : got) p.values.push_back(std::move(g));
    for (auto& m : missing) p.missing.push_back(std::move(m));
    p.waiting_on.erase(w);
    MaybeFinish(id);
    return Status::OK();
  }

  Status OnScatter(Peer* peer, FieldReader& f) {
    uint64_t request = f.UInt();
    FieldReader items = f.Array();
    std::vector<std::pair<Key, Payload>> values;
    while (f.ok() && items.remaining() > 0) {
      FieldReader item = items.Array();
      Key key = item.ReadKey();
      values.emplace_back(std::move(key), ReadPayload(item));
    }
    bool broadcast = f.Bool();
    std::vector<std::string> targets = f.Strs();
    TEGU_RETURN_NOT_OK(f.status());
    std::vector<WorkerId> chosen;
    for (const std::string& a : targets) {
      if (auto w = worker_by_address.find(a); w != worker_by_address.end()) {
        chosen.push_back(w->second);
      }
    }
    if (targets.empty()) chosen = state.Workers();
    uint64_t id = next_request++;
    PendingRequest& p = pending[id];
    p.kind = PendingRequest::Kind::kScatter;
    p.client = peer;
    p.client_request = request;
    for (auto& v : values) p.scattered_keys.push_back(v.first);
    if (chosen.empty()) {
      MaybeFinish(id);  // answered with no keys placed: the client reports no workers
      return Status::OK();
    }
    // Round-robin over the chosen workers, starting from the least loaded, as Dask's scatter.
    std::sort(chosen.begin(), chosen.end(), [this](WorkerId a, WorkerId b) {
      return state.ProcessingCount(a) < state.ProcessingCount(b);
    });
    std::unordered_map<WorkerId, std::vector<size_t>> per_worker;
    for (size_t i = 0; i < values.size(); ++i) {
      if (broadcast) {
        for (WorkerId w : chosen) per_worker[w].push_back(i);
      } else {
        per_worker[chosen[i % chosen.size()]].push_back(i);
      }
    }
    for (auto& [w, idx] : per_worker) {
      p.waiting_on.insert(w);
      OpWriter& out = Out(workers[w]);
      out.Op("update-data", 2).UInt(id).Array(static_cast<uint32_t>(idx.size()));
      for (size_t i : idx) {
        const Payload& payload = values[i].second;
        out.Array(3).WriteKey(values[i].first);
        WritePayload(out, payload);
      }
    }
    return Status::OK();
  }

  Status OnUpdateDataAck(WorkerId w, FieldReader& f) {
    uint64_t id = f.UInt();
    FieldReader items = f.Array();
    std::vector<sched::ScatteredKey> placed;
    while (f.ok() && items.remaining() > 0) {
      FieldReader item = items.Array();
      Key key = item.ReadKey();
      placed.push_back({std::move(key), w, item.UInt()});
    }
    TEGU_RETURN_NOT_OK(f.status());
    auto it = pending.find(id);
    if (it == pending.end()) return Status::OK();
    for (auto& s : placed) it->second.placed.push_back(std::move(s));
    it->second.waiting_on.erase(w);
    MaybeFinish(id);
    return Status::OK();
  }

  Status OnRun(Peer* peer, FieldReader& f) {
    uint64_t request = f.UInt();
    Payload function = ReadPayload(f);
    std::vector<std::string> targets = f.Strs();
    TEGU_RETURN_NOT_OK(f.status());
    uint64_t id = next_request++;
    PendingRequest& p = pending[id];
    p.kind = PendingRequest::Kind::kRun;
    p.client = peer;
    p.client_request = request;
    std::vector<WorkerId> chosen;
    if (targets.empty()) {
      chosen = state.Workers();
    } else {
      for (const std::string& a : targets) {
        if (auto w = worker_by_address.find(a); w != worker_by_address.end()) {
          chosen.push_back(w->second);
        }
      }
    }
    for (WorkerId w : chosen) {
      p.waiting_on.insert(w);
      OpWriter& out = Out(workers[w]);
      out.Op("run", 3).UInt(id);
      WritePayload(out, function);
    }
    MaybeFinish(id);
    return Status::OK();
  }

  Status OnRunResult(WorkerId w, FieldReader& f) {
    uint64_t id = f.UInt();
    bool ok = f.Bool();
    Payload result = ReadPayload(f);
    TEGU_RETURN_NOT_OK(f.status());
    auto it = pending.find(id);
    if (it == pending.end()) return Status::OK();
    it->second.run_results.push_back({AddressOf(w), ok, std::move(result)});
    it->second.waiting_on.erase(w);
    MaybeFinish(id);
    return Status::OK();
  }

  // A worker died: its share of every pending request is answered as missing.
  void FailPendingOn(WorkerId w) {
    std::vector<uint64_t> touched;
    for (auto& [id, p] : pending) {
      if (p.waiting_on.erase(w)) touched.push_back(id);
    }
    for (uint64_t id : touched) MaybeFinish(id);
  }

  void MaybeFinish(uint64_t id) {
    auto it = pending.find(id);
    if (it == pending.end() || !it->second.waiting_on.empty()) return;
    PendingRequest p = std::move(it->second);
    pending.erase(it);
    if (!peers.contains(p.client->conn.get())) return;
    OpWriter& w = Out(p.client);
    switch (p.kind) {
      case PendingRequest::Kind::kGather: {
        w.Op("gather-reply", 3).UInt(p.client_request).Array(static_cast<uint32_t>(p.values.size()));
        for (auto& [key, payload] : p.values) {
          w.Array(3).WriteKey(key);
          WritePayload(w, std::move(payload));
        }
        w.Keys(p.missing);
        break;
      }
      case PendingRequest::Kind::kScatter: {
        if (!p.placed.empty()) Apply(sched::UpdateData{p.client->client, p.placed});
        std::vector<Key> placed_keys;
        std::unordered_set<Key> seen;
        for (auto& s : p.placed) {
          if (seen.insert(s.key).second) placed_keys.push_back(s.key);
        }
        w.Op("scatter-reply", 2).UInt(p.client_request).Keys(placed_keys);
        break;
      }
      case PendingRequest::Kind::kRun: {
        w.Op("run-reply", 2).UInt(p.client_request).Array(static_cast<uint32_t>(p.run_results.size()));
        for (auto& r : p.run_results) {
          w.Array(4).Str(r.address).Bool(r.ok);
          WritePayload(w, std::move(r.payload));
        }
        break;
      }
    }
  }

  void CloseFromLoop() {
    ticker.reset();
    if (listener) listener->Close();
    for (auto& [raw, peer] : peers) peer->conn->Close(Status::Cancelled("the scheduler closed"));
    std::lock_guard<std::mutex> lock(closed_mu);
    closed = true;
    closed_cv.notify_all();
  }
};

namespace {

// The distributed.scheduler defaults (Dask's names and values; allowed-failures 2: a task that
// was running on three workers that died fails).
[[maybe_unused]] const bool kSchedulerDefaults = [] {
  (void)config::UpdateDefaults(R"({"distributed": {"scheduler": {
      "worker-saturation": 1.1, "allowed-failures": 2, "worker-ttl": "5 minutes",
      "work-stealing": true, "bandwidth": 100000000, "queuing-latency": "2ms"}}})");
  return true;
}();

// Seconds in "300", "300s", "250ms", "5 minutes", "1 hour" (Dask's time strings, the common ones).
Result<double> ParseSeconds(const std::string& key, const std::string& text) {
  size_t pos = 0;
  double value = 0;
  try {
    value = std::stod(text, &pos);
  } catch (const std::exception&) {
    return Status::Invalid("config " + key + ": expected a duration, got '" + text + "'");
  }
  std::string unit = text.substr(pos);
  unit.erase(0, unit.find_first_not_of(' '));
  if (unit.empty() || unit == "s" || unit == "second" || unit == "seconds") return value;
  if (unit == "ms" || unit == "milliseconds") return value / 1000;
  if (unit == "m" || unit == "minute" || unit == "minutes") return value * 60;
  if (unit == "h" || unit == "hour" || unit == "hours") return value * 3600;
  return Status::Invalid("config " + key + ": unknown time unit '" + unit + "' in '" + text + "'");
}

}  // namespace

Result<SchedulerServiceOptions> SchedulerServiceOptions::FromConfig() {
  SchedulerServiceOptions o;
  const std::string saturation = config::GetString("distributed.scheduler.worker-saturation", "");
  if (saturation == "inf" || saturation == "infinity") {
    o.state.worker_saturation = std::numeric_limits<double>::infinity();
  } else {
    o.state.worker_saturation =
        config::GetDouble("distributed.scheduler.worker-saturation", o.state.worker_saturation);
    if (!(o.state.worker_saturation > 0)) {
      return Status::Invalid("config distributed.scheduler.worker-saturation must be > 0");
    }
  }
  const int64_t allowed = config::GetInt("distributed.scheduler.allowed-failures", 2);
  if (allowed < 0) return Status::Invalid("config distributed.scheduler.allowed-failures must be >= 0");
  o.state.killed_worker_limit = static_cast<uint32_t>(allowed + 1);
  const std::string ttl_key = "distributed.scheduler.worker-ttl";
  double ttl = config::GetDouble(ttl_key, -1);  // a plain number of seconds
  if (ttl < 0) {
    TEGU_ASSIGN_OR_RAISE(ttl, ParseSeconds(ttl_key, config::GetString(ttl_key, "300")));
  }
  o.state.worker_ttl = std::chrono::duration_cast<scheduler::Clock::duration>(
      std::chrono::duration<double>(ttl));
  o.state.work_stealing = config::GetBool("distributed.scheduler.work-stealing", true);
  o.state.bandwidth = config::GetDouble("distributed.scheduler.bandwidth", o.state.bandwidth);
  const std::string latency_key = "distributed.scheduler.queuing-latency";
  double latency = config::GetDouble(latency_key, -1);
  if (latency < 0) {
    TEGU_ASSIGN_OR_RAISE(latency, ParseSeconds(latency_key, config::GetString(latency_key, "2ms")));
  }
  o.state.queuing_latency = latency;
  return o;
}

SchedulerService::SchedulerService(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

SchedulerService::~SchedulerService() {
  Close();
  // The loop (a member of impl_) joins its thread first; then the tables go.
  impl_.reset();
}

Result<std::unique_ptr<SchedulerService>> SchedulerService::Start(SchedulerServiceOptions options) {
  if (options.secret.empty()) return Status::Invalid("a scheduler needs a secret");
  auto impl = std::make_unique<Impl>(std::move(options));
  Impl* raw = impl.get();
  // The listener's accept callback runs on the loop, after Listen returned.
  TEGU_ASSIGN_OR_RAISE(
      raw->listener,
      net::Listener::Listen(*raw->loop, raw->options.address, raw->options.secret,
                            [raw](std::shared_ptr<net::Connection> c) { raw->OnAccept(std::move(c)); },
                            raw->options.transport));
  raw->address = raw->listener->address();
  raw->loop->Post([raw] { raw->Apply(sched::AddClient{Impl::kFireAndForget}); });
  raw->ticker = raw->loop->Every(raw->options.tick_interval, [raw] { raw->Apply(sched::Tick{}); });
  Info("listening at " + raw->address);
  return std::unique_ptr<SchedulerService>(new SchedulerService(std::move(impl)));
}

const std::string& SchedulerService::address() const { return impl_->address; }

void SchedulerService::Close() {
  if (!impl_) return;
  {
    std::lock_guard<std::mutex> lock(impl_->closed_mu);
    if (impl_->closed) return;
  }
  std::promise<void> done;
  impl_->loop->Post([this, &done] {
    impl_->CloseFromLoop();
    done.set_value();
  });
  done.get_future().wait();
}

void SchedulerService::Wait() {
  std::unique_lock<std::mutex> lock(impl_->closed_mu);
  impl_->closed_cv.wait(lock, [this] { return impl_->closed; });
}

SchedulerSnapshot SchedulerService::Snapshot() {
  std::promise<SchedulerSnapshot> result;
  impl_->loop->Post([this, &result] {
    SchedulerSnapshot s;
    for (WorkerId id : impl_->state.Workers()) {
      WorkerInfo info = impl_->worker_info[id];
      info.processing = impl_->state.ProcessingCount(id);
      s.workers.push_back(std::move(info));
    }
    s.clients = impl_->clients.size();
    s.tasks = impl_->state.task_count();
    result.set_value(std::move(s));
  });
  return result.get_future().get();
}

size_t SchedulerService::BytesPerTask() {
  std::promise<size_t> result;
  impl_->loop->Post([this, &result] { result.set_value(impl_->state.TEST_BytesPerTaskEstimate()); });
  return result.get_future().get();
}

}  // namespace tegu::distributed
