// WorkerState: see worker_state.hpp. The structure follows distributed/worker_state_machine.py:
// event handlers turn an event into recommendations ({task: next state}) and instructions;
// Transition() moves one task along one edge of the state graph, possibly producing more
// recommendations; ProcessRecs() runs them until none are left (last in, first out, as Dask's
// dict.popitem); EnsureComputing()/EnsureCommunicating() start executions and transfers.

#include "tegu/worker/worker_state.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <ostream>
#include <set>
#include <sstream>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>

namespace tegu::worker {

const char* StateName(State state) {
  switch (state) {
    case State::kReleased: return "released";
    case State::kWaiting: return "waiting";
    case State::kFetch: return "fetch";
    case State::kFlight: return "flight";
    case State::kMissing: return "missing";
    case State::kReady: return "ready";
    case State::kConstrained: return "constrained";
    case State::kExecuting: return "executing";
    case State::kLongRunning: return "long-running";
    case State::kMemory: return "memory";
    case State::kError: return "error";
    case State::kCancelled: return "cancelled";
    case State::kResumed: return "resumed";
    case State::kRescheduled: return "rescheduled";
    case State::kForgotten: return "forgotten";
  }
  return "?";
}

namespace {

struct Task;
struct Peer;

// Orders tasks by creation: deterministic iteration without depending on addresses.
struct SeqLess {
  template <class T>
  bool operator()(const T* a, const T* b) const {
    return a->seq < b->seq;
  }
};
// Orders tasks by priority (lower first), then creation. A task's priority must not change
// while it sits in a set ordered by it (see Impl::SetPriority).
struct PriorityLess {
  template <class T>
  bool operator()(const T* a, const T* b) const {
    if (a->priority != b->priority) return a->priority < b->priority;
    return a->seq < b->seq;
  }
};
struct AddressLess {
  template <class T>
  bool operator()(const T* a, const T* b) const {
    return a->address < b->address;
  }
};

using TaskSet = std::set<Task*, SeqLess>;
using TaskQueue = std::set<Task*, PriorityLess>;
using PeerSet = std::set<Peer*, AddressLess>;

struct Task {
  Task(Key k, uint64_t s) : key(std::move(k)), seq(s) {}
  Key key;
  uint64_t seq;
  State state = State::kReleased;
  // Set iff state is cancelled (previous) or resumed (previous and next).
  std::optional<State> previous;
  std::optional<State> next;
  std::optional<uint64_t> run_spec;
  // Of the latest ComputeTask for this key; echoed in every report about its computation.
  uint32_t run_id = 0;
  Priority priority;  // empty until known
  TaskSet dependencies;
  TaskSet dependents;
  TaskSet waiting_for_data;  // dependencies not yet in memory
  TaskSet waiters;           // dependents that wait for this one
  PeerSet who_has;
  Peer* coming_from = nullptr;  // while in flight
  std::optional<uint64_t> nbytes;
  uint64_t error = 0;
  // The execution or transfer servicing this task has ended (its event is being handled).
  bool done = false;
  bool rejoin_pending = false;
  Resources resource_restrictions;
  Clock::time_point start_time{};
};

struct Peer {
  std::string address;
  bool same_host = false;
  TaskSet has_what;          // tasks whose who_has names this peer
  TaskQueue data_needed;     // the subset in fetch state
  uint64_t needed_bytes = 0;  // sum of TransferBytes over data_needed
  bool gathering = false;     // a GatherDep to this peer is open
  std::vector<Task*> in_flight;
  uint64_t gather_bytes = 0;
  bool busy = false;
};

// A recommendation: move a task to `finish`, with the argument that transition needs.
struct Rec {
  State finish;
  uint64_t value = 0;      // memory: nbytes; error: error handle
  Peer* peer = nullptr;    // flight: the peer
  Clock::duration duration{};  // long-running: compute time so far
};

// An insertion-ordered map Task* -> Rec with Python dict semantics: setting an existing entry
// replaces its value in place; Pop takes the last entry.
class Recs {
 public:
  void Set(Task* ts, Rec rec) {
    auto [it, inserted] = index_.try_emplace(ts, items_.size());
    if (inserted) {
      items_.push_back({ts, rec, true});
    } else {
      items_[it->second].rec = rec;
    }
  }
  bool Pop(Task** ts, Rec* rec) {
    while (!items_.empty()) {
      Item item = items_.back();
      items_.pop_back();
      if (!item.live) continue;
      index_.erase(item.ts);
      *ts = item.ts;
      *rec = item.rec;
      return true;
    }
    return false;
  }
  std::optional<Rec> Take(Task* ts) {
    auto it = index_.find(ts);
    if (it == index_.end()) return std::nullopt;
    Item& item = items_[it->second];
    item.live = false;
    index_.erase(it);
    return item.rec;
  }
  void MergeInto(Recs* other) const {
    for (const Item& item : items_) {
      if (item.live) other->Set(item.ts, item.rec);
    }
  }

 private:
  struct Item {
    Task* ts;
    Rec rec;
    bool live;
  };
  std::vector<Item> items_;
  std::unordered_map<Task*, size_t> index_;
};

// "tcp://10.0.0.1:8786" -> "10.0.0.1"; "tcp://[::1]:8786" -> "::1".
std::string HostOf(const std::string& address) {
  std::string rest = address;
  if (size_t p = rest.find("://"); p != std::string::npos) rest = rest.substr(p + 3);
  if (!rest.empty() && rest[0] == '[') {
    size_t close = rest.find(']');
    return close == std::string::npos ? rest.substr(1) : rest.substr(1, close - 1);
  }
  if (size_t colon = rest.rfind(':'); colon != std::string::npos) return rest.substr(0, colon);
  return rest;
}

bool IsProcessing(State s) {
  return s == State::kWaiting || s == State::kReady || s == State::kConstrained ||
         s == State::kExecuting || s == State::kLongRunning;
}

bool IsRunningState(State s) { return s == State::kExecuting || s == State::kLongRunning; }

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

}  // namespace

class WorkerState::Impl {
 public:
  explicit Impl(WorkerStateOptions options) : options_(std::move(options)) {
    if (options_.nthreads < 1) options_.nthreads = 1;
    if (options_.transfer_incoming_count_limit < 1) options_.transfer_incoming_count_limit = 1;
    own_host_ = HostOf(options_.address);
    for (const auto& [name, amount] : options_.resources) {
      total_resources_[name] += amount;
      available_resources_[name] += amount;
    }
  }

  Instructions Handle(const StateMachineEvent& event, Clock::time_point now) {
    now_ = now;
    Instructions out;
    Recs recs;
    std::visit([&](const auto& ev) { On(ev, &recs, &out); }, event);
    ProcessRecs(&recs, &out);
    // Once all recommendations have settled, so that keys that just became fetchable are
    // batched into as few GatherDeps as possible (dask/distributed#6497).
    Recs flights;
    EnsureCommunicating(&flights, &out);
    ProcessRecs(&flights, &out);
    FlushMissing(&out);
    DropIdlePeers();
    graveyard_.clear();
    return out;
  }

  std::optional<State> GetState(const Key& key) const {
    auto it = tasks_.find(key);
    if (it == tasks_.end()) return std::nullopt;
    return it->second->state;
  }

  int nthreads() const { return options_.nthreads; }
  bool running() const { return running_; }
  size_t executing_count() const { return executing_.size(); }
  size_t long_running_count() const { return long_running_.size(); }
  size_t task_count() const { return tasks_.size(); }
  uint64_t memory_bytes() const { return memory_bytes_; }
  size_t transfer_incoming_count() const { return transfer_incoming_count_; }
  uint64_t transfer_incoming_bytes() const { return transfer_incoming_bytes_; }

  std::vector<std::string> Story(const Key& key) const {
    std::vector<std::string> out;
    for (const LogEntry& e : log_) {
      if (!(e.key == key)) continue;
      std::ostringstream s;
      s << key.ToString() << ": " << StateName(e.start) << " -> " << StateName(e.finish) << " ("
        << StateName(e.end) << ") @"
        << std::chrono::duration_cast<std::chrono::nanoseconds>(e.at.time_since_epoch()).count()
        << "ns";
      out.push_back(s.str());
    }
    return out;
  }

  Status CheckInvariants() const;

  std::vector<std::pair<Key, State>> Tasks() const {
    std::vector<std::pair<Key, State>> out;
    for (const auto& [key, ts] : tasks_) out.emplace_back(key, ts->state);
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
      return a.first.ToString() < b.first.ToString();
    });
    return out;
  }

 private:
  struct LogEntry {
    Key key;
    State start;
    State finish;
    State end;
    Clock::time_point at;
  };

  // --- helpers ----------------------------------------------------------------------------

  Task* Find(const Key& key) const {
    auto it = tasks_.find(key);
    return it == tasks_.end() ? nullptr : it->second.get();
  }

  Task* EnsureTask(const Key& key) {
    auto& slot = tasks_[key];
    if (!slot) slot = std::make_unique<Task>(key, next_seq_++);
    return slot.get();
  }

  Peer* FindPeer(const std::string& address) const {
    auto it = peers_.find(address);
    return it == peers_.end() ? nullptr : it->second.get();
  }

  Peer* EnsurePeer(const std::string& address) {
    auto& slot = peers_[address];
    if (!slot) {
      slot = std::make_unique<Peer>();
      slot->address = address;
      slot->same_host = HostOf(address) == own_host_;
    }
    return slot.get();
  }

  // Peers that may have become idle; dropped at the end of Handle (never in the middle, so
  // that no Peer* held by the code running dangles).
  void MaybeDropPeer(Peer* p) { peers_to_check_.push_back(p->address); }

  void DropIdlePeers() {
    for (const std::string& address : peers_to_check_) {
      auto it = peers_.find(address);
      if (it == peers_.end()) continue;
      const Peer& p = *it->second;
      if (p.has_what.empty() && p.data_needed.empty() && !p.gathering && !p.busy) {
        peers_.erase(it);
      }
    }
    peers_to_check_.clear();
  }

  uint64_t TransferBytes(const Task* ts) const {
    return ts->nbytes.has_value() && *ts->nbytes > 0 ? *ts->nbytes : options_.default_nbytes;
  }

  void AddNeeded(Peer* p, Task* ts) {
    if (p->data_needed.insert(ts).second) p->needed_bytes += TransferBytes(ts);
  }
  void RemoveNeeded(Peer* p, Task* ts) {
    if (p->data_needed.erase(ts) > 0) p->needed_bytes -= TransferBytes(ts);
  }

  // Changes what orders a task in data_needed (priority, nbytes) without corrupting the sets.
  template <class F>
  void WithQueuesDetached(Task* ts, F&& change) {
    const bool fetch = ts->state == State::kFetch;
    const bool ready = ready_.erase(ts) > 0;
    const bool constrained = constrained_.erase(ts) > 0;
    if (fetch) {
      for (Peer* p : ts->who_has) RemoveNeeded(p, ts);
    }
    change();
    if (fetch) {
      for (Peer* p : ts->who_has) AddNeeded(p, ts);
    }
    if (ready) ready_.insert(ts);
    if (constrained) constrained_.insert(ts);
  }

  void SetPriority(Task* ts, Priority priority) {
    if (ts->priority == priority) return;
    WithQueuesDetached(ts, [&] { ts->priority = std::move(priority); });
  }

  void SetNbytes(Task* ts, uint64_t nbytes) {
    WithQueuesDetached(ts, [&] { ts->nbytes = nbytes; });
  }

  void AddWhoHas(Task* ts, Peer* p) {
    if (!ts->who_has.insert(p).second) return;
    p->has_what.insert(ts);
    if (ts->state == State::kFetch) AddNeeded(p, ts);
  }

  void RemoveWhoHas(Task* ts, Peer* p) {
    if (ts->who_has.erase(p) == 0) return;
    p->has_what.erase(ts);
    RemoveNeeded(p, ts);
    MaybeDropPeer(p);
  }

  // Replaces the holders of `key` with `workers` (minus this worker), and moves a task between
  // fetch and missing when that changes whether anyone holds it.
  void UpdateWhoHas(const Key& key, const std::vector<std::string>& workers, Recs* recs) {
    Task* ts = Find(key);
    if (!ts) return;  // forgotten while the answer travelled
    std::set<std::string> wanted(workers.begin(), workers.end());
    wanted.erase(options_.address);
    for (Peer* p : std::vector<Peer*>(ts->who_has.begin(), ts->who_has.end())) {
      if (wanted.count(p->address) == 0) RemoveWhoHas(ts, p);
    }
    for (const std::string& address : wanted) AddWhoHas(ts, EnsurePeer(address));
    if (ts->state == State::kFetch && ts->who_has.empty()) {
      recs->Set(ts, {State::kMissing});
    } else if (ts->state == State::kMissing && !ts->who_has.empty()) {
      recs->Set(ts, {State::kFetch});
    }
  }

  // Forgets everything `p` was believed to hold (it died or cannot be reached).
  void ForgetPeerData(Peer* p, Recs* recs) {
    for (Task* ts : std::vector<Task*>(p->has_what.begin(), p->has_what.end())) {
      RemoveWhoHas(ts, p);
      if (ts->state == State::kFetch && ts->who_has.empty()) recs->Set(ts, {State::kMissing});
    }
  }

  bool ResourcesSatisfied(const Task* ts) const {
    for (const auto& [name, needed] : ts->resource_restrictions) {
      auto it = available_resources_.find(name);
      const double have = it == available_resources_.end() ? 0.0 : it->second;
      if (have < needed) return false;
    }
    return true;
  }
  void AcquireResources(const Task* ts) {
    for (const auto& [name, needed] : ts->resource_restrictions) {
      available_resources_[name] -= needed;
    }
  }
  void ReleaseResources(const Task* ts) {
    for (const auto& [name, needed] : ts->resource_restrictions) {
      available_resources_[name] += needed;
    }
  }

  void Log(const Task* ts, State start, State finish) {
    if (options_.log_capacity == 0) return;
    if (log_.size() == options_.log_capacity) log_.pop_front();
    log_.push_back({ts->key, start, finish, ts->state, now_});
  }

  [[noreturn]] void InvalidTransition(const Task* ts, State start, State finish) const {
    std::fprintf(stderr, "tegu worker: invalid transition of %s: %s -> %s\n",
                 ts->key.ToString().c_str(), StateName(start), StateName(finish));
    for (const std::string& line : Story(ts->key)) std::fprintf(stderr, "  %s\n", line.c_str());
    std::abort();
  }

  // --- scheduling of executions and transfers ---------------------------------------------

  Task* NextReady() {
    if (!ready_.empty() && !constrained_.empty()) {
      Task* r = *ready_.begin();
      Task* c = *constrained_.begin();
      if (PriorityLess{}(c, r) && ResourcesSatisfied(c)) {
        constrained_.erase(constrained_.begin());
        return c;
      }
      ready_.erase(ready_.begin());
      return r;
    }
    if (!ready_.empty()) {
      Task* r = *ready_.begin();
      ready_.erase(ready_.begin());
      return r;
    }
    if (!constrained_.empty() && ResourcesSatisfied(*constrained_.begin())) {
      Task* c = *constrained_.begin();
      constrained_.erase(constrained_.begin());
      return c;
    }
    return nullptr;
  }

  // Fills free execution slots: first seceded tasks waiting to rejoin (they already run), then
  // ready tasks in priority order (not while paused).
  void EnsureComputing(Recs* recs, Instructions* out) {
    const size_t slots = static_cast<size_t>(options_.nthreads);
    while (executing_.size() < slots && !rejoin_queue_.empty()) {
      Task* ts = rejoin_queue_.front();
      rejoin_queue_.pop_front();
      ts->rejoin_pending = false;
      long_running_.erase(ts);
      executing_.insert(ts);
      const State start = ts->state;
      if (ts->state == State::kLongRunning) {
        ts->state = State::kExecuting;
      } else {
        ts->previous = State::kExecuting;  // cancelled or resumed
      }
      Log(ts, start, State::kExecuting);
      out->push_back(RejoinGranted{ts->key});
    }
    if (!running_) return;
    while (executing_.size() < slots) {
      Task* ts = NextReady();
      if (!ts) break;
      recs->Set(ts, {State::kExecuting});
      AcquireResources(ts);
      executing_.insert(ts);
    }
  }

  bool ShouldThrottleTransfers() const {
    return transfer_incoming_count_ >= options_.transfer_incoming_count_limit ||
           transfer_incoming_bytes_ >= options_.transfer_incoming_bytes_limit;
  }

  bool ExceedsTransferLimits(const Task* ts, uint64_t message_bytes) const {
    // With nothing else in flight the most urgent key goes, whatever its size: progress.
    if (transfer_incoming_bytes_ == 0 && message_bytes == 0) return false;
    const uint64_t limit = options_.transfer_incoming_bytes_limit;
    uint64_t allowance = limit > transfer_incoming_bytes_ ? limit - transfer_incoming_bytes_ : 0;
    if (message_bytes != 0) {
      allowance = std::min(allowance, options_.transfer_message_bytes_limit);
      allowance = allowance > message_bytes ? allowance - message_bytes : 0;
    }
    return TransferBytes(ts) > allowance;
  }

  // Whether peer `a` should be asked before peer `b`: the more urgent top key, then a peer on
  // this host, then more wanted bytes, then the address (for determinism).
  static bool PeerBefore(const Peer* a, const Peer* b) {
    const Task* ta = *a->data_needed.begin();
    const Task* tb = *b->data_needed.begin();
    if (ta->priority != tb->priority) return ta->priority < tb->priority;
    if (a->same_host != b->same_host) return a->same_host;
    if (a->needed_bytes != b->needed_bytes) return a->needed_bytes > b->needed_bytes;
    return a->address < b->address;
  }

  // Turns fetch tasks into GatherDeps: at most one open request per peer, batched up to the
  // message byte target, within the incoming count and byte limits.
  void EnsureCommunicating(Recs* recs, Instructions* out) {
    if (!running_ || fetch_count_ == 0) return;
    while (!ShouldThrottleTransfers()) {
      Peer* best = nullptr;
      for (const auto& [address, peer] : peers_) {
        Peer* p = peer.get();
        if (p->data_needed.empty() || p->gathering || p->busy) continue;
        if (!best || PeerBefore(p, best)) best = p;
      }
      if (!best) break;
      std::vector<Task*> batch;
      uint64_t message_bytes = 0;
      while (!best->data_needed.empty()) {
        Task* ts = *best->data_needed.begin();
        if (ExceedsTransferLimits(ts, message_bytes)) break;
        const uint64_t bytes = TransferBytes(ts);
        // Leaves every peer's queue, so it is never asked from two peers at once.
        for (Peer* p : ts->who_has) RemoveNeeded(p, ts);
        batch.push_back(ts);
        message_bytes += bytes;
      }
      if (batch.empty()) break;
      GatherDep gather{best->address, {}, message_bytes};
      for (Task* ts : batch) {
        gather.keys.push_back(ts->key);
        recs->Set(ts, {State::kFlight, 0, best});
      }
      out->push_back(std::move(gather));
      best->gathering = true;
      best->in_flight = std::move(batch);
      best->gather_bytes = message_bytes;
      transfer_incoming_bytes_ += message_bytes;
      ++transfer_incoming_count_;
    }
  }

  // Asks the scheduler where the keys that went missing during this Handle are now.
  void FlushMissing(Instructions* out) {
    if (newly_missing_.empty()) return;
    RequestRefreshWhoHasMsg msg;
    std::unordered_set<Task*> seen;
    for (Task* ts : newly_missing_) {
      if (ts->state == State::kMissing && seen.insert(ts).second) msg.keys.push_back(ts->key);
    }
    newly_missing_.clear();
    if (!msg.keys.empty()) out->push_back(std::move(msg));
  }

  // --- recommendations and transitions ----------------------------------------------------

  void ProcessRecs(Recs* recs, Instructions* out) {
    Task* ts;
    Rec rec;
    while (recs->Pop(&ts, &rec)) Transition(ts, rec, recs, out);
  }

  void Transition(Task* ts, const Rec& rec, Recs* recs, Instructions* out) {
    if (ts->state == State::kForgotten || ts->state == rec.finish) return;
    const State start = ts->state;
    if (!Dispatch(ts, rec, recs, out)) {
      if (start == State::kReleased || rec.finish == State::kReleased) {
        InvalidTransition(ts, start, rec.finish);
      }
      // No direct edge: go through released (start -> released -> finish), as Dask.
      Recs local;
      Transition(ts, {State::kReleased}, &local, out);
      while (std::optional<Rec> v = local.Take(ts)) {
        if (v->finish == State::kForgotten) continue;  // the point is to reach `finish`
        Transition(ts, *v, &local, out);
      }
      Transition(ts, rec, &local, out);
      local.MergeInto(recs);
      return;
    }
    Log(ts, start, rec.finish);
  }

  // Runs the transition for (ts->state, rec.finish); false if there is no direct edge.
  bool Dispatch(Task* ts, const Rec& rec, Recs* recs, Instructions* out) {
    const State finish = rec.finish;
    switch (ts->state) {
      case State::kReleased:
        switch (finish) {
          case State::kWaiting: ReleasedToWaiting(ts, recs); return true;
          case State::kFetch: GenericFetch(ts, recs); return true;
          case State::kMissing: GenericMissing(ts, recs); return true;
          case State::kForgotten: ReleasedToForgotten(ts, recs); return true;
          default: return false;
        }
      case State::kWaiting:
        switch (finish) {
          case State::kReady: WaitingToReady(ts, recs, out); return true;
          case State::kConstrained: WaitingToConstrained(ts, recs, out); return true;
          case State::kReleased: GenericReleased(ts, recs); return true;
          default: return false;
        }
      case State::kReady:
      case State::kConstrained:
        switch (finish) {
          case State::kExecuting: ToExecuting(ts, out); return true;
          case State::kReleased: GenericReleased(ts, recs); return true;
          default: return false;
        }
      case State::kFetch:
        switch (finish) {
          case State::kFlight: FetchToFlight(ts, rec.peer); return true;
          case State::kMissing:
            if (ts->who_has.empty()) {  // else the recommendation is stale: stay in fetch
              --fetch_count_;
              GenericMissing(ts, recs);
            }
            return true;
          case State::kReleased:
            --fetch_count_;
            GenericReleased(ts, recs);
            return true;
          default: return false;
        }
      case State::kFlight:
        switch (finish) {
          case State::kFetch:
            if (ts->done) GenericFetch(ts, recs);  // else the transfer goes on
            return true;
          case State::kMissing: GenericMissing(ts, recs); return true;
          case State::kMemory: ToMemory(ts, rec.value, /*finished=*/false, recs, out); return true;
          case State::kReleased:
            ts->previous = State::kFlight;
            ts->state = State::kCancelled;
            return true;
          default: return false;
        }
      case State::kMissing:
        switch (finish) {
          case State::kFetch:
            if (!ts->who_has.empty()) {
              missing_.erase(ts);
              GenericFetch(ts, recs);
            }
            return true;
          case State::kReleased:
            missing_.erase(ts);
            GenericReleased(ts, recs);
            return true;
          case State::kWaiting:
            missing_.erase(ts);
            Purge(ts);
            ReleasedToWaiting(ts, recs);
            return true;
          default: return false;
        }
      case State::kExecuting:
      case State::kLongRunning:
        switch (finish) {
          case State::kMemory: ToMemory(ts, rec.value, /*finished=*/true, recs, out); return true;
          case State::kError: ToError(ts, rec.value, recs, out); return true;
          case State::kReleased:
            // A running task cannot be stopped: it is cancelled and its outcome dropped.
            ts->previous = ts->state;
            ts->state = State::kCancelled;
            return true;
          case State::kRescheduled:
            out->push_back(RescheduleMsg{ts->key, ts->run_id});
            GenericReleased(ts, recs);
            return true;
          case State::kLongRunning:
            ExecutingToLongRunning(ts, rec.duration, recs, out);
            return true;
          default: return false;
        }
      case State::kMemory:
        switch (finish) {
          case State::kReleased: MemoryToReleased(ts, recs, out); return true;
          default: return false;
        }
      case State::kError:
        switch (finish) {
          case State::kReleased: GenericReleased(ts, recs); return true;
          default: return false;
        }
      case State::kCancelled: return FromCancelled(ts, rec, recs, out);
      case State::kResumed: return FromResumed(ts, rec, recs, out);
      case State::kRescheduled:
      case State::kForgotten: return false;
    }
    return false;
  }

  bool FromCancelled(Task* ts, const Rec& rec, Recs* recs, Instructions* out) {
    switch (rec.finish) {
      case State::kMemory:
        // The outcome of a task nobody wants any more: drop the value the service stored.
        if (ts->done) out->push_back(DiscardData{ts->key});
        CancelledToReleased(ts, recs);
        return true;
      case State::kError:
      case State::kMissing:
      case State::kReleased:
      case State::kRescheduled:
        CancelledToReleased(ts, recs);
        return true;
      case State::kFetch:
        if (ts->previous == State::kFlight) {
          if (ts->done) {
            recs->Set(ts, {State::kReleased});  // the transfer ended; drop it
          } else {
            ts->state = State::kFlight;  // wanted again as it was: forget the cancellation
            ts->previous.reset();
          }
        } else {
          // Runs here, but the scheduler now wants it fetched: finish running, then report
          // the result as a replica.
          ts->state = State::kResumed;
          ts->next = State::kFetch;
        }
        return true;
      case State::kWaiting:
        if (ts->previous == State::kExecuting) {
          ts->state = State::kExecuting;  // wanted again as it was: forget the cancellation
          ts->previous.reset();
        } else if (ts->previous == State::kLongRunning) {
          ts->state = State::kLongRunning;
          ts->previous.reset();
          // The scheduler forgot that it seceded; tell it again.
          out->push_back(LongRunningMsg{ts->key, now_ - ts->start_time, ts->run_id});
        } else {
          // In flight, but now to be computed here: take the data if it arrives, else compute.
          ts->state = State::kResumed;
          ts->next = State::kWaiting;
        }
        return true;
      case State::kLongRunning:
        SecedeQuietly(ts, recs, out);
        return true;
      default: return false;
    }
  }

  bool FromResumed(Task* ts, const Rec& rec, Recs* recs, Instructions* out) {
    const bool ran = ts->previous == State::kExecuting || ts->previous == State::kLongRunning;
    switch (rec.finish) {
      case State::kMemory: {
        // The scheduler expects the opposite of what happened: computed here when it asked for
        // a fetch (a replica: AddKeyMsg), fetched when it asked for a compute (finished).
        ts->previous.reset();
        ts->next.reset();
        ToMemory(ts, rec.value, /*finished=*/!ran, recs, out);
        return true;
      }
      case State::kError:
      case State::kRescheduled:
        // The old way failed; go the new way without telling the scheduler.
        ts->state = State::kReleased;
        ts->done = false;
        ts->previous.reset();
        ts->next.reset();
        recs->Set(ts, {ran ? State::kFetch : State::kWaiting});
        return true;
      case State::kFetch:
        if (!ran) {
          if (ts->done) {
            // The transfer ended without the data: compute it, as the scheduler asked.
            ts->state = State::kReleased;
            ts->done = false;
            ts->previous.reset();
            ts->next.reset();
            recs->Set(ts, {State::kWaiting});
          } else {
            ts->state = State::kFlight;  // back where it started
            ts->previous.reset();
            ts->next.reset();
          }
        }
        return true;
      case State::kMissing:
        recs->Set(ts, {State::kFetch});
        return true;
      case State::kReleased:
        ts->state = State::kCancelled;
        ts->next.reset();
        return true;
      case State::kLongRunning:
        SecedeQuietly(ts, recs, out);
        return true;
      default: return false;
    }
  }

  // A cancelled or resumed task seceded: it frees its slot, but the scheduler, which does not
  // expect it to run here, is not told.
  void SecedeQuietly(Task* ts, Recs* recs, Instructions* out) {
    ts->previous = State::kLongRunning;
    executing_.erase(ts);
    long_running_.insert(ts);
    EnsureComputing(recs, out);
  }

  void CancelledToReleased(Task* ts, Recs* recs) {
    if (!ts->done) return;  // still running or in flight: wait for its end
    ts->previous.reset();
    ts->done = false;
    GenericReleased(ts, recs);
  }

  void ReleasedToWaiting(Task* ts, Recs* recs) {
    ts->waiting_for_data.clear();
    for (Task* dep : ts->dependencies) {
      if (dep->state != State::kMemory) {
        ts->waiting_for_data.insert(dep);
        dep->waiters.insert(ts);
        recs->Set(dep, {State::kFetch});
      }
    }
    if (ts->waiting_for_data.empty()) recs->Set(ts, {State::kReady});
    ts->state = State::kWaiting;
    waiting_.insert(ts);
  }

  void WaitingToReady(Task* ts, Recs* recs, Instructions* out) {
    if (!ts->resource_restrictions.empty()) {
      recs->Set(ts, {State::kConstrained});
      return;
    }
    ts->state = State::kReady;
    waiting_.erase(ts);
    ready_.insert(ts);
    EnsureComputing(recs, out);
  }

  void WaitingToConstrained(Task* ts, Recs* recs, Instructions* out) {
    ts->state = State::kConstrained;
    waiting_.erase(ts);
    constrained_.insert(ts);
    EnsureComputing(recs, out);
  }

  void ToExecuting(Task* ts, Instructions* out) {
    ts->state = State::kExecuting;
    ts->start_time = now_;
    out->push_back(Execute{ts->key, ts->run_spec.value_or(0)});
  }

  void ExecutingToLongRunning(Task* ts, Clock::duration duration, Recs* recs,
                              Instructions* out) {
    ts->state = State::kLongRunning;
    executing_.erase(ts);
    long_running_.insert(ts);
    out->push_back(LongRunningMsg{ts->key, duration, ts->run_id});
    EnsureComputing(recs, out);
  }

  void GenericFetch(Task* ts, Recs* recs) {
    if (ts->who_has.empty()) {
      recs->Set(ts, {State::kMissing});
      return;
    }
    ts->state = State::kFetch;
    ts->done = false;
    ++fetch_count_;
    for (Peer* p : ts->who_has) AddNeeded(p, ts);
  }

  void GenericMissing(Task* ts, Recs* recs) {
    if (!ts->who_has.empty()) {  // a holder appeared meanwhile
      if (ts->state == State::kReleased) {
        recs->Set(ts, {State::kFetch});
      } else {
        GenericFetch(ts, recs);  // a finished transfer (flight, done)
      }
      return;
    }
    ts->state = State::kMissing;
    ts->done = false;
    missing_.insert(ts);
    newly_missing_.push_back(ts);
  }

  void FetchToFlight(Task* ts, Peer* peer) {
    ts->state = State::kFlight;
    ts->done = false;
    ts->coming_from = peer;
    in_flight_tasks_.insert(ts);
    --fetch_count_;
  }

  void ToMemory(Task* ts, uint64_t nbytes, bool finished, Recs* recs, Instructions* out,
                bool report = true) {
    ts->state = State::kMemory;
    ts->done = false;
    ts->nbytes = nbytes;
    memory_bytes_ += nbytes;
    if (options_.memory_accounting) options_.memory_accounting->OnStore(ts->key, nbytes);
    for (Task* dep : ts->dependents) {
      dep->waiting_for_data.erase(ts);
      if (dep->waiting_for_data.empty() && dep->state == State::kWaiting) {
        recs->Set(dep, {State::kReady});
      }
    }
    UnlinkDependencies(ts, recs);
    if (!report) return;
    if (finished) {
      out->push_back(TaskFinishedMsg{ts->key, nbytes, ts->run_id});
    } else {
      out->push_back(AddKeyMsg{ts->key, nbytes});
    }
  }

  void ToError(Task* ts, uint64_t error, Recs* recs, Instructions* out) {
    ts->state = State::kError;
    ts->done = false;
    ts->error = error;
    UnlinkDependencies(ts, recs);
    out->push_back(TaskErredMsg{ts->key, error, ts->run_id});
  }

  // A task in memory or erred needs its dependencies no more; dropping the links lets them be
  // forgotten once released (Dask keeps them until the dependent is forgotten).
  void UnlinkDependencies(Task* ts, Recs* recs) {
    for (Task* dep : ts->dependencies) {
      dep->dependents.erase(ts);
      dep->waiters.erase(ts);
      if (dep->state == State::kReleased && dep->dependents.empty()) {
        recs->Set(dep, {State::kForgotten});
      }
    }
    ts->dependencies.clear();
    ts->waiting_for_data.clear();
  }

  void MemoryToReleased(Task* ts, Recs* recs, Instructions* out) {
    const uint64_t nbytes = ts->nbytes.value_or(0);
    memory_bytes_ -= nbytes;
    if (options_.memory_accounting) options_.memory_accounting->OnRelease(ts->key, nbytes);
    out->push_back(DiscardData{ts->key});
    out->push_back(ReleaseWorkerDataMsg{ts->key});
    GenericReleased(ts, recs);
  }

  // Resets a task to a neutral state and removes it from every queue. Idempotent.
  void Purge(Task* ts) {
    for (Peer* p : ts->who_has) {
      p->has_what.erase(ts);
      RemoveNeeded(p, ts);
      MaybeDropPeer(p);
    }
    ts->who_has.clear();
    for (Task* dep : ts->dependencies) dep->waiters.erase(ts);
    ts->waiting_for_data.clear();
    ts->nbytes.reset();
    ts->previous.reset();
    ts->next.reset();
    ts->done = false;
    ts->coming_from = nullptr;
    ts->error = 0;
    if (ts->rejoin_pending) {
      ts->rejoin_pending = false;
      rejoin_queue_.erase(std::find(rejoin_queue_.begin(), rejoin_queue_.end(), ts));
    }
    missing_.erase(ts);
    ready_.erase(ts);
    constrained_.erase(ts);
    executing_.erase(ts);
    long_running_.erase(ts);
    in_flight_tasks_.erase(ts);
    waiting_.erase(ts);
  }

  void GenericReleased(Task* ts, Recs* recs) {
    Purge(ts);
    for (Task* dep : ts->dependencies) {
      // A dependency nobody else waits for goes too, unless it is in memory or is itself to be
      // computed here (including resumed from flight towards waiting, which Dask misses).
      const bool computed_here =
          IsProcessing(dep->state) ||
          (dep->state == State::kResumed && dep->next == State::kWaiting);
      if (dep->waiters.empty() && !computed_here && dep->state != State::kMemory) {
        recs->Set(dep, {State::kReleased});
      }
    }
    ts->state = State::kReleased;
    if (ts->dependents.empty()) recs->Set(ts, {State::kForgotten});
  }

  void ReleasedToForgotten(Task* ts, Recs* recs) {
    if (!ts->dependents.empty()) return;  // a dependent still refers to it: stay released
    for (Task* dep : ts->dependencies) {
      dep->dependents.erase(ts);
      if (dep->state == State::kReleased && dep->dependents.empty()) {
        recs->Set(dep, {State::kForgotten});
      }
    }
    Purge(ts);
    ts->dependencies.clear();
    ts->state = State::kForgotten;
    auto it = tasks_.find(ts->key);
    // Kept alive until the end of Handle: pending recommendations may still point at it.
    graveyard_.push_back(std::move(it->second));
    tasks_.erase(it);
  }

  // --- event handlers ---------------------------------------------------------------------

  void On(const ComputeTask& ev, Recs* recs, Instructions* out) {
    Task* ts = EnsureTask(ev.key);
    // As Dask: the latest request names the run, also for a task already waiting or running
    // (its eventual report answers this request) or resumed.
    ts->run_id = ev.run_id;
    switch (ts->state) {
      case State::kWaiting:
      case State::kReady:
      case State::kConstrained:
      case State::kExecuting:
      case State::kLongRunning:
        return;  // already on its way
      case State::kMemory:
        out->push_back(TaskFinishedMsg{ts->key, ts->nbytes.value_or(0), ts->run_id});
        return;
      default: break;
    }
    recs->Set(ts, {State::kWaiting});
    ts->run_spec = ev.run_spec;
    Priority priority = ev.priority;
    priority.push_back(generation_--);  // equal priorities: the latest request first
    SetPriority(ts, priority);
    ts->error = 0;
    const bool still_running =
        (ts->state == State::kCancelled || ts->state == State::kResumed) &&
        (ts->previous == State::kExecuting || ts->previous == State::kLongRunning);
    // A running task keeps the resources it acquired, to release exactly those.
    if (!still_running) ts->resource_restrictions = ev.resource_restrictions;
    for (const Dependency& d : ev.dependencies) {
      if (d.key == ev.key) continue;
      Task* dep = EnsureTask(d.key);
      if (dep->priority.empty()) SetPriority(dep, priority);
      if (dep->state != State::kMemory) SetNbytes(dep, d.nbytes);
      ts->dependencies.insert(dep);
      dep->dependents.insert(ts);
    }
    for (const Dependency& d : ev.dependencies) {
      if (!(d.key == ev.key)) UpdateWhoHas(d.key, d.who_has, recs);
    }
  }

  void On(const FreeKeys& ev, Recs* recs, Instructions*) {
    // Recommendations run last-in first-out; insert backwards so keys go in the order given.
    for (auto it = ev.keys.rbegin(); it != ev.keys.rend(); ++it) {
      if (Task* ts = Find(*it)) recs->Set(ts, {State::kReleased});
    }
  }

  void On(const StealRequest& ev, Recs* recs, Instructions* out) {
    Task* ts = Find(ev.key);
    std::optional<State> state;
    if (ts) state = ts->state;
    out->push_back(StealResponseMsg{ev.key, state, ev.request_id});
    if (state == State::kWaiting || state == State::kReady || state == State::kConstrained) {
      recs->Set(ts, {State::kReleased});
    }
  }

  bool HoldsThread(const Task* ts) const {
    return executing_.count(const_cast<Task*>(ts)) > 0 ||
           long_running_.count(const_cast<Task*>(ts)) > 0;
  }

  // The common start of every end of an execution; false if the event is stale.
  bool ExecuteDone(Task* ts, Recs* recs, Instructions* out) {
    if (!ts || !HoldsThread(ts)) return false;
    ts->done = true;
    ReleaseResources(ts);
    executing_.erase(ts);
    long_running_.erase(ts);
    if (ts->rejoin_pending) {
      ts->rejoin_pending = false;
      rejoin_queue_.erase(std::find(rejoin_queue_.begin(), rejoin_queue_.end(), ts));
    }
    EnsureComputing(recs, out);
    return true;
  }

  void On(const ExecuteSuccess& ev, Recs* recs, Instructions* out) {
    Task* ts = Find(ev.key);
    if (!ExecuteDone(ts, recs, out)) {
      // A result nobody runs: drop the value the service stored, unless it is the live one.
      if (!ts || ts->state != State::kMemory) out->push_back(DiscardData{ev.key});
      return;
    }
    recs->Set(ts, {State::kMemory, ev.nbytes});
  }

  void On(const ExecuteFailure& ev, Recs* recs, Instructions* out) {
    Task* ts = Find(ev.key);
    if (!ExecuteDone(ts, recs, out)) return;
    recs->Set(ts, {State::kError, ev.error});
  }

  void On(const ExecuteReschedule& ev, Recs* recs, Instructions* out) {
    Task* ts = Find(ev.key);
    if (!ExecuteDone(ts, recs, out)) return;
    recs->Set(ts, {State::kRescheduled});
  }

  // Closes the open GatherDep to `p`; returns the tasks it was for.
  std::vector<Task*> GatherDone(Peer* p) {
    std::vector<Task*> tasks = std::move(p->in_flight);
    p->in_flight.clear();
    p->gathering = false;
    transfer_incoming_bytes_ -= p->gather_bytes;
    p->gather_bytes = 0;
    --transfer_incoming_count_;
    for (Task* ts : tasks) {
      ts->done = true;
      ts->coming_from = nullptr;
      in_flight_tasks_.erase(ts);
    }
    MaybeDropPeer(p);
    return tasks;
  }

  void On(const GatherDepSuccess& ev, Recs* recs, Instructions* out) {
    Peer* p = FindPeer(ev.worker);
    std::vector<Task*> tasks;
    if (p && p->gathering) tasks = GatherDone(p);
    std::unordered_map<Task*, uint64_t> received;
    for (const KeyNbytes& item : ev.data) {
      Task* ts = Find(item.key);
      if (ts && std::find(tasks.begin(), tasks.end(), ts) != tasks.end()) {
        received[ts] = item.nbytes;
      } else if (!ts || ts->state != State::kMemory) {
        out->push_back(DiscardData{item.key});  // not asked for: drop it
      }
    }
    std::vector<std::pair<Task*, Rec>> next;
    for (Task* ts : tasks) {
      auto it = received.find(ts);
      if (it != received.end()) {
        next.push_back({ts, {State::kMemory, it->second}});
      } else {
        // The peer did not have it: tell the scheduler, try the other holders.
        out->push_back(MissingDataMsg{ts->key, ev.worker});
        RemoveWhoHas(ts, p);
        next.push_back({ts, {State::kFetch}});
      }
    }
    SetInOrder(next, recs);
  }

  // Recommendations run last-in first-out; set them backwards so they run in the order given.
  static void SetInOrder(const std::vector<std::pair<Task*, Rec>>& next, Recs* recs) {
    for (auto it = next.rbegin(); it != next.rend(); ++it) recs->Set(it->first, it->second);
  }

  void On(const GatherDepFailure& ev, Recs* recs, Instructions* out) {
    Peer* p = FindPeer(ev.worker);
    if (!p || !p->gathering) return;
    std::vector<std::pair<Task*, Rec>> next;
    for (Task* ts : GatherDone(p)) {
      out->push_back(MissingDataMsg{ts->key, ev.worker});
      RemoveWhoHas(ts, p);
      next.push_back({ts, {State::kFetch}});
    }
    SetInOrder(next, recs);
  }

  void On(const GatherDepBusy& ev, Recs* recs, Instructions* out) {
    Peer* p = FindPeer(ev.worker);
    if (!p || !p->gathering) return;
    p->busy = true;
    RequestRefreshWhoHasMsg refresh;
    std::vector<std::pair<Task*, Rec>> next;
    for (Task* ts : GatherDone(p)) {
      next.push_back({ts, {State::kFetch}});
      const bool all_busy = std::all_of(ts->who_has.begin(), ts->who_has.end(),
                                        [](const Peer* holder) { return holder->busy; });
      if (all_busy) refresh.keys.push_back(ts->key);
    }
    SetInOrder(next, recs);
    out->push_back(RetryBusyWorkerLater{ev.worker});
    // Every known holder is busy: maybe the scheduler knows others.
    if (!refresh.keys.empty()) out->push_back(std::move(refresh));
  }

  void On(const GatherDepNetworkFailure& ev, Recs* recs, Instructions* out) {
    Peer* p = FindPeer(ev.worker);
    if (!p) return;
    if (p->gathering) {
      std::vector<std::pair<Task*, Rec>> next;
      for (Task* ts : GatherDone(p)) {
        out->push_back(MissingDataMsg{ts->key, ev.worker});
        next.push_back({ts, {State::kFetch}});
      }
      SetInOrder(next, recs);
    }
    // Assume the peer is gone: forget all it was believed to hold, so that its keys are asked
    // from other holders at once.
    ForgetPeerData(p, recs);
  }

  void On(const RetryBusyWorker& ev, Recs*, Instructions*) {
    if (Peer* p = FindPeer(ev.worker)) {
      p->busy = false;
      MaybeDropPeer(p);
    }
  }

  void On(const AcquireReplicas& ev, Recs* recs, Instructions*) {
    for (const Dependency& d : ev.replicas) {
      Task* ts = EnsureTask(d.key);
      // After the dependencies of computations at default or higher user priority (as Dask).
      if (ts->priority.empty()) SetPriority(ts, Priority{1});
      if (ts->state != State::kMemory) {
        SetNbytes(ts, d.nbytes);
        recs->Set(ts, {State::kFetch});
      }
    }
    for (const Dependency& d : ev.replicas) UpdateWhoHas(d.key, d.who_has, recs);
  }

  void On(const UpdateData& ev, Recs* recs, Instructions* out) {
    for (const KeyNbytes& item : ev.data) {
      Task* ts = Find(item.key);
      if (ts && ts->state == State::kMemory) continue;  // a second copy: keep the first
      if (ts && ts->state != State::kReleased) {
        out->push_back(DiscardData{item.key});
        continue;
      }
      ts = EnsureTask(item.key);
      if (ts->priority.empty()) SetPriority(ts, Priority{1});
      ToMemory(ts, item.nbytes, /*finished=*/false, recs, out, /*report=*/false);
    }
  }

  void On(const RemoveReplicas& ev, Recs* recs, Instructions*) {
    for (auto it = ev.keys.rbegin(); it != ev.keys.rend(); ++it) {
      Task* ts = Find(*it);
      if (!ts || ts->state != State::kMemory) continue;
      const bool needed = std::any_of(ts->dependents.begin(), ts->dependents.end(),
                                      [](const Task* d) { return IsProcessing(d->state); });
      if (!needed) recs->Set(ts, {State::kReleased});
    }
  }

  void On(const Secede& ev, Recs* recs, Instructions*) {
    Task* ts = Find(ev.key);
    if (!ts || executing_.count(ts) == 0) return;  // not running, or already seceded
    recs->Set(ts, {State::kLongRunning, 0, nullptr, now_ - ts->start_time});
  }

  void On(const Rejoin& ev, Recs* recs, Instructions* out) {
    Task* ts = Find(ev.key);
    if (ts && long_running_.count(ts) > 0) {
      if (!ts->rejoin_pending) {
        ts->rejoin_pending = true;
        rejoin_queue_.push_back(ts);
        EnsureComputing(recs, out);
      }
      return;
    }
    // Not seceded (or unknown): nothing to wait for; never leave a thread blocked.
    out->push_back(RejoinGranted{ev.key});
  }

  void On(const PauseEvent&, Recs*, Instructions*) { running_ = false; }

  void On(const UnpauseEvent&, Recs* recs, Instructions* out) {
    running_ = true;
    EnsureComputing(recs, out);
  }

  void On(const RefreshWhoHas& ev, Recs* recs, Instructions*) {
    for (const WhoHas& w : ev.who_has) UpdateWhoHas(w.key, w.workers, recs);
  }

  void On(const FindMissing&, Recs*, Instructions* out) {
    if (missing_.empty()) return;
    RequestRefreshWhoHasMsg msg;
    for (Task* ts : missing_) msg.keys.push_back(ts->key);
    out->push_back(std::move(msg));
  }

  void On(const RemoveWorker& ev, Recs* recs, Instructions*) {
    // An open GatherDep to it will end with its own event.
    if (Peer* p = FindPeer(ev.worker)) ForgetPeerData(p, recs);
  }

  // --- state ------------------------------------------------------------------------------

  WorkerStateOptions options_;
  std::string own_host_;
  Clock::time_point now_{};
  bool running_ = true;
  uint64_t next_seq_ = 0;
  int64_t generation_ = 0;

  std::unordered_map<Key, std::unique_ptr<Task>> tasks_;
  std::map<std::string, std::unique_ptr<Peer>> peers_;

  TaskQueue ready_;
  TaskQueue constrained_;
  TaskSet waiting_;
  TaskSet executing_;     // hold a slot: executing, or cancelled/resumed from executing
  TaskSet long_running_;  // seceded: long-running, or cancelled/resumed from long-running
  std::deque<Task*> rejoin_queue_;
  TaskSet in_flight_tasks_;  // flight, or cancelled/resumed from flight
  TaskSet missing_;
  size_t fetch_count_ = 0;

  size_t transfer_incoming_count_ = 0;
  uint64_t transfer_incoming_bytes_ = 0;
  uint64_t memory_bytes_ = 0;
  std::map<std::string, double> total_resources_;
  std::map<std::string, double> available_resources_;

  std::vector<Task*> newly_missing_;
  std::vector<std::string> peers_to_check_;
  std::vector<std::unique_ptr<Task>> graveyard_;
  std::deque<LogEntry> log_;
};

// --- invariants ---------------------------------------------------------------------------

Status WorkerState::Impl::CheckInvariants() const {
  auto fail = [](const Task* ts, const std::string& what) {
    std::string where = ts ? ts->key.ToString() + " (" + StateName(ts->state) + "): " : "";
    return Status::Invalid("worker state invariant: " + where + what);
  };
  auto in = [](const auto& set, auto* item) {
    using T = std::remove_const_t<std::remove_pointer_t<decltype(item)>>;
    return set.count(const_cast<T*>(item)) > 0;
  };
  auto is_ran = [](std::optional<State> s) {
    return s == State::kExecuting || s == State::kLongRunning;
  };

  if (executing_.size() > static_cast<size_t>(options_.nthreads)) {
    return fail(nullptr, "more tasks executing than threads");
  }
  uint64_t memory_bytes = 0;
  size_t fetch_count = 0;
  std::map<std::string, double> held;
  for (const auto& [key, owned] : tasks_) {
    const Task* ts = owned.get();
    if (!(ts->key == key)) return fail(ts, "indexed under another key");
    if (ts->state == State::kForgotten || ts->state == State::kRescheduled) {
      return fail(ts, "resting in a transient state");
    }
    for (const Task* dep : ts->dependencies) {
      if (Find(dep->key) != dep) return fail(ts, "dependency not in the task table");
      if (!in(dep->dependents, ts)) return fail(ts, "dependency link not mirrored");
    }
    for (const Task* dep : ts->dependents) {
      if (Find(dep->key) != dep) return fail(ts, "dependent not in the task table");
      if (!in(dep->dependencies, ts)) return fail(ts, "dependent link not mirrored");
    }
    for (const Task* dep : ts->waiting_for_data) {
      if (!in(ts->dependencies, dep)) return fail(ts, "waits for a non-dependency");
      if (!in(dep->waiters, ts)) return fail(ts, "waiting_for_data not mirrored by waiters");
      if (dep->state == State::kMemory) return fail(ts, "waits for a key in memory");
    }
    for (const Task* w : ts->waiters) {
      if (!in(ts->dependents, w)) return fail(ts, "waiter is not a dependent");
    }
    for (const Peer* p : ts->who_has) {
      if (p->address == options_.address) return fail(ts, "who_has names this worker");
      if (FindPeer(p->address) != p) return fail(ts, "who_has names an unknown peer");
      if (!in(p->has_what, ts)) return fail(ts, "who_has not mirrored by has_what");
    }
    const bool fetching = ts->state == State::kFetch;
    if (fetching) ++fetch_count;
    for (const auto& [address, peer] : peers_) {
      if (in(peer->data_needed, ts) != (fetching && in(ts->who_has, peer.get()))) {
        return fail(ts, "data_needed of " + address + " out of step");
      }
    }
    const bool flight_like = ts->state == State::kFlight ||
                             ((ts->state == State::kCancelled || ts->state == State::kResumed) &&
                              ts->previous == State::kFlight);
    const bool running_like =
        IsRunningState(ts->state) ||
        ((ts->state == State::kCancelled || ts->state == State::kResumed) && is_ran(ts->previous));
    if (in(in_flight_tasks_, ts) != flight_like) return fail(ts, "in_flight_tasks out of step");
    if (in(ready_, ts) != (ts->state == State::kReady)) return fail(ts, "ready out of step");
    if (in(constrained_, ts) != (ts->state == State::kConstrained)) {
      return fail(ts, "constrained out of step");
    }
    if (in(waiting_, ts) != (ts->state == State::kWaiting)) return fail(ts, "waiting out of step");
    if (in(missing_, ts) != (ts->state == State::kMissing)) return fail(ts, "missing out of step");
    const bool slot = ts->state == State::kExecuting ||
                      (running_like && ts->state != State::kLongRunning &&
                       ts->previous == State::kExecuting);
    if (in(executing_, ts) != slot) return fail(ts, "executing set out of step");
    if (in(long_running_, ts) != (running_like && !slot)) {
      return fail(ts, "long_running set out of step");
    }
    if (running_like) {
      for (const auto& [name, amount] : ts->resource_restrictions) held[name] += amount;
      if (!ts->run_spec.has_value()) return fail(ts, "running without a run_spec");
      if (!ts->waiting_for_data.empty()) return fail(ts, "running while waiting for data");
      if (ts->done) return fail(ts, "running but done");
    }
    if (ts->rejoin_pending && !in(long_running_, ts)) return fail(ts, "rejoins but not seceded");
    if (flight_like) {
      if (!ts->coming_from || !ts->coming_from->gathering) return fail(ts, "flight without gather");
      const auto& batch = ts->coming_from->in_flight;
      if (std::find(batch.begin(), batch.end(), ts) == batch.end()) {
        return fail(ts, "flight but not in its peer's open request");
      }
      if (ts->done) return fail(ts, "in flight but done");
    } else if (ts->coming_from) {
      return fail(ts, "coming_from set outside flight");
    }
    const bool has_phase = ts->state == State::kCancelled || ts->state == State::kResumed;
    if (has_phase != ts->previous.has_value()) {
      return fail(ts, "previous set iff cancelled/resumed");
    }
    if ((ts->state == State::kResumed) != ts->next.has_value()) {
      return fail(ts, "next set iff resumed");
    }
    switch (ts->state) {
      case State::kMemory:
        if (!ts->nbytes.has_value()) return fail(ts, "in memory without nbytes");
        memory_bytes += *ts->nbytes;
        if (!ts->dependencies.empty()) return fail(ts, "in memory with dependency links");
        break;
      case State::kWaiting: {
        if (ts->waiting_for_data.empty()) return fail(ts, "waiting for nothing");
        for (const Task* dep : ts->dependencies) {
          if ((dep->state != State::kMemory) != in(ts->waiting_for_data, dep)) {
            return fail(ts, "waiting_for_data is not the dependencies outside memory");
          }
        }
        break;
      }
      case State::kReady:
      case State::kConstrained:
        if (!ts->waiting_for_data.empty()) return fail(ts, "ready but waiting for data");
        for (const Task* dep : ts->dependencies) {
          if (dep->state != State::kMemory) return fail(ts, "ready with a dependency elsewhere");
        }
        if ((ts->state == State::kConstrained) == ts->resource_restrictions.empty()) {
          return fail(ts, "constrained iff resource restrictions");
        }
        break;
      case State::kFetch:
        if (ts->who_has.empty()) return fail(ts, "fetch without holders");
        if (ts->done) return fail(ts, "fetch but done");
        break;
      case State::kMissing:
        if (!ts->who_has.empty()) return fail(ts, "missing with holders");
        break;
      case State::kReleased:
        if (!ts->waiting_for_data.empty() || ts->done) return fail(ts, "released but not reset");
        break;
      case State::kCancelled:
        if (ts->previous != State::kFlight && !is_ran(ts->previous)) {
          return fail(ts, "cancelled from an unexpected state");
        }
        break;
      case State::kResumed:
        if (ts->previous == State::kFlight ? ts->next != State::kWaiting
                                           : (!is_ran(ts->previous) || ts->next != State::kFetch)) {
          return fail(ts, "resumed with an unexpected previous/next");
        }
        break;
      default: break;
    }
    // `done` only lives while the event that ended an execution or transfer is handled.
    if (ts->done) return fail(ts, "done after the event was handled");
  }
  if (memory_bytes != memory_bytes_) return fail(nullptr, "memory bytes out of step");
  if (fetch_count != fetch_count_) return fail(nullptr, "fetch count out of step");
  for (const Task* set_member : executing_) {
    if (Find(set_member->key) != set_member) return fail(set_member, "executing but unknown");
  }
  for (const Task* set_member : long_running_) {
    if (Find(set_member->key) != set_member) return fail(set_member, "long-running but unknown");
  }
  for (const Task* set_member : in_flight_tasks_) {
    if (Find(set_member->key) != set_member) return fail(set_member, "in flight but unknown");
    if (set_member->state == State::kMemory) return fail(set_member, "in flight and in memory");
  }
  for (const Task* ts : rejoin_queue_) {
    if (!ts->rejoin_pending) return fail(ts, "in the rejoin queue unmarked");
  }
  size_t gathering = 0;
  uint64_t gather_bytes = 0;
  for (const auto& [address, peer] : peers_) {
    const Peer* p = peer.get();
    if (address == options_.address) return fail(nullptr, "this worker is its own peer");
    uint64_t needed = 0;
    for (const Task* ts : p->data_needed) needed += TransferBytes(ts);
    if (needed != p->needed_bytes) return fail(nullptr, "needed bytes of " + address);
    for (const Task* ts : p->has_what) {
      if (Find(ts->key) != ts || !in(ts->who_has, p)) {
        return fail(ts, "has_what of " + address + " not mirrored");
      }
    }
    if (p->gathering) {
      ++gathering;
      gather_bytes += p->gather_bytes;
      for (const Task* ts : p->in_flight) {
        if (ts->coming_from != p) return fail(ts, "in " + address + "'s request, not from it");
      }
    } else if (!p->in_flight.empty() || p->gather_bytes != 0) {
      return fail(nullptr, "closed request to " + address + " not reset");
    }
  }
  if (gathering != transfer_incoming_count_) return fail(nullptr, "incoming count out of step");
  if (gather_bytes != transfer_incoming_bytes_) return fail(nullptr, "incoming bytes out of step");
  if (transfer_incoming_count_ > options_.transfer_incoming_count_limit) {
    return fail(nullptr, "more transfers than transfer_incoming_count_limit");
  }
  for (const auto& [name, total] : total_resources_) {
    auto it = available_resources_.find(name);
    const double available = it == available_resources_.end() ? 0.0 : it->second;
    const double h = held.count(name) ? held.at(name) : 0.0;
    if (available + h < total - 1e-9 || available + h > total + 1e-9) {
      return fail(nullptr, "resource " + name + " out of step");
    }
  }
  return Status::OK();
}

// --- WorkerState ----------------------------------------------------------------------------

WorkerState::WorkerState(WorkerStateOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}
WorkerState::~WorkerState() = default;
WorkerState::WorkerState(WorkerState&&) noexcept = default;
WorkerState& WorkerState::operator=(WorkerState&&) noexcept = default;

Instructions WorkerState::Handle(const StateMachineEvent& event, Clock::time_point now) {
  return impl_->Handle(event, now);
}
std::optional<State> WorkerState::GetState(const Key& key) const { return impl_->GetState(key); }
int WorkerState::nthreads() const { return impl_->nthreads(); }
bool WorkerState::running() const { return impl_->running(); }
size_t WorkerState::executing_count() const { return impl_->executing_count(); }
size_t WorkerState::long_running_count() const { return impl_->long_running_count(); }
size_t WorkerState::task_count() const { return impl_->task_count(); }
uint64_t WorkerState::memory_bytes() const { return impl_->memory_bytes(); }
size_t WorkerState::transfer_incoming_count() const { return impl_->transfer_incoming_count(); }
uint64_t WorkerState::transfer_incoming_bytes() const { return impl_->transfer_incoming_bytes(); }
std::vector<std::string> WorkerState::Story(const Key& key) const { return impl_->Story(key); }
Status WorkerState::TEST_CheckInvariants() const { return impl_->CheckInvariants(); }
std::vector<std::pair<Key, State>> WorkerState::TEST_Tasks() const { return impl_->Tasks(); }

// --- printing -------------------------------------------------------------------------------

namespace {

void PrintKeys(std::ostream& os, const std::vector<Key>& keys) {
  os << "[";
  for (size_t i = 0; i < keys.size(); ++i) os << (i ? ", " : "") << keys[i].ToString();
  os << "]";
}

}  // namespace

std::string ToString(const Instruction& instruction) {
  std::ostringstream os;
  std::visit(
      Overloaded{
          [&](const Execute& i) {
            os << "Execute{" << i.key.ToString() << ", run_spec=" << i.run_spec << "}";
          },
          [&](const GatherDep& i) {
            os << "GatherDep{" << i.worker << ", ";
            PrintKeys(os, i.keys);
            os << ", total_nbytes=" << i.total_nbytes << "}";
          },
          [&](const RetryBusyWorkerLater& i) { os << "RetryBusyWorkerLater{" << i.worker << "}"; },
          [&](const RejoinGranted& i) { os << "RejoinGranted{" << i.key.ToString() << "}"; },
          [&](const DiscardData& i) { os << "DiscardData{" << i.key.ToString() << "}"; },
          [&](const TaskFinishedMsg& i) {
            os << "TaskFinishedMsg{" << i.key.ToString() << ", nbytes=" << i.nbytes
               << ", run_id=" << i.run_id << "}";
          },
          [&](const TaskErredMsg& i) {
            os << "TaskErredMsg{" << i.key.ToString() << ", error=" << i.error
               << ", run_id=" << i.run_id << "}";
          },
          [&](const ReleaseWorkerDataMsg& i) {
            os << "ReleaseWorkerDataMsg{" << i.key.ToString() << "}";
          },
          [&](const AddKeyMsg& i) {
            os << "AddKeyMsg{" << i.key.ToString() << ", nbytes=" << i.nbytes << "}";
          },
          [&](const MissingDataMsg& i) {
            os << "MissingDataMsg{" << i.key.ToString() << ", errant_worker=" << i.errant_worker
               << "}";
          },
          [&](const StealResponseMsg& i) {
            os << "StealResponseMsg{" << i.key.ToString() << ", "
               << (i.state ? StateName(*i.state) : "unknown") << ", request_id=" << i.request_id
               << "}";
          },
          [&](const RescheduleMsg& i) {
            os << "RescheduleMsg{" << i.key.ToString() << ", run_id=" << i.run_id << "}";
          },
          [&](const LongRunningMsg& i) {
            os << "LongRunningMsg{" << i.key.ToString() << ", "
               << std::chrono::duration_cast<std::chrono::nanoseconds>(i.compute_duration).count()
               << "ns, run_id=" << i.run_id << "}";
          },
          [&](const RequestRefreshWhoHasMsg& i) {
            os << "RequestRefreshWhoHasMsg{";
            PrintKeys(os, i.keys);
            os << "}";
          },
      },
      instruction);
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Instruction& instruction) {
  return os << ToString(instruction);
}

}  // namespace tegu::worker
