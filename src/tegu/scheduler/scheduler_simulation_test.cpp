// A randomized simulation of a cluster around SchedulerState. Random task graphs (tasks that
// always raise, tasks that raise once and retry, loose restrictions, user priorities) are
// submitted in pieces by two clients (the second releases its keys midway) and run by 1-4
// simulated workers that join, pause, die (with or without a RemoveWorker; otherwise the
// heartbeat timeout notices) or leave gracefully at random.
//
// A simulated worker keeps the worker contract of actions.hpp, as Dask's worker does: it starts
// ready tasks up to its thread count, fetching inputs from the holders it was told about (a
// fetch fails now and then, reported as MissingData; when no holder is left it waits for a
// RefreshWhoHas, or asks with RequestWhoHas); a computation runs for a while, during which a
// cancel, a steal request or a new ComputeTask for the same key (resumed under the new run id)
// can arrive; a cancelled computation is dropped or reported (stale); a key it holds or fetches
// answers a ComputeTask for that key at once; every copy it drops is reported
// (ReleaseWorkerData); it sometimes drops an unused copy on its own, secedes (LongRunning) or
// asks to run a task elsewhere (Reschedule). Messages between a worker and the scheduler keep
// their order in each direction; everything else interleaves at random, so late results,
// stale answers, steals answered after completion, results lost mid-graph and keys released
// while their dependents run all happen. A run is deterministic for its seed.
//
// After every event the scheduler's invariants are checked, and every value a worker computes
// is checked against the expected one. When the run is quiet, every key client 1 wants must be
// in memory with the right value on every worker said to hold it (and the client told so), or
// erred: with KilledWorker, or because it depends on a task that always raises (and then it must
// be erred). Releasing everything must then leave no task in the scheduler, no data or work on
// any worker, and no run spec or error handle that was not given back.
//
// Environment, for debugging: SIM_SEEDS=n runs n seeds (default 1000) from SIM_FIRST (default
// 1); SIM_TRACE=seed prints that run's events, actions and worker steps; SIM_STATS=1 prints
// how often each event and action occurred.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "tegu/scheduler/scheduler_state.hpp"

namespace tegu::scheduler {
namespace {

struct SimTask {
  Key key;
  std::vector<int> deps;
  bool bad = false;    // always raises
  bool flaky = false;  // raises on its first attempt (and has a retry)
  uint32_t retries = 0;
  int32_t priority = 0;
  std::vector<WorkerId> loose_workers;
  uint64_t expected = 0;
  bool bad_ancestry = false;  // itself or an ancestor is bad
};

struct Pending {
  Key key;
  RunSpecHandle run_spec = kNoHandle;
  std::vector<DependencyLocation> deps;
  uint32_t run_id = 0;
  bool asked = false;  // sent RequestWhoHas while blocked
};

// A computation started on a worker (inputs in hand) and not finished yet.
struct Running {
  Key key;
  int task = 0;
  uint32_t run_id = 0;
  bool cancelled = false;
};

struct SimWorker {
  WorkerId id = 0;
  uint32_t nthreads = 1;
  bool alive = true;
  bool paused = false;
  std::deque<Action> inbox;   // scheduler -> worker, in order
  std::deque<Event> outbox;   // worker -> scheduler, in order
  std::map<std::string, uint64_t> store;
  std::vector<Pending> ready;
  std::vector<Running> running;
};

constexpr ClientId kMain = 1;
constexpr ClientId kOther = 2;

class Simulation {
 public:
  explicit Simulation(uint64_t seed, bool stats)
      : rng_(seed),
        trace_(std::getenv("SIM_TRACE") && std::stoull(std::getenv("SIM_TRACE")) == seed),
        stats_enabled_(stats),
        state_(MakeOptions(seed)) {}

  void Run() {
    MakeGraph();
    for (int i = 0; i < 2; ++i) AddWorkerNow();
    SubmitNextChunk();
    for (int step = 0; step < 200000; ++step) {
      if (::testing::Test::HasFatalFailure()) return;
      if (Quiescent()) {
        if (next_chunk_ < chunks_.size()) {
          SubmitNextChunk();
          continue;
        }
        if (UnpauseAll()) continue;
        if (AliveCount() == 0) {
          AddWorkerNow();
          continue;
        }
        break;
      }
      RandomStep();
    }
    ASSERT_TRUE(Quiescent()) << "no quiescence";
    CheckResults();
    if (::testing::Test::HasFatalFailure()) return;

    // Release everything: the scheduler forgets all and workers end up empty.
    std::vector<Key> keys;
    for (int i : wanted_main_) keys.push_back(tasks_[i].key);
    Deliver(ReleaseKeys{kMain, keys});
    Deliver(RemoveClient{kOther});
    Deliver(RemoveClient{kMain});
    for (int step = 0; step < 100000 && !Quiescent(); ++step) RandomStep(/*chaos=*/false);
    ASSERT_TRUE(Quiescent());
    EXPECT_EQ(state_.task_count(), 0u);
    for (const SimWorker& w : workers_) {
      if (!w.alive) continue;
      EXPECT_TRUE(w.store.empty()) << "worker " << w.id << " holds " << w.store.begin()->first;
      EXPECT_TRUE(w.running.empty()) << "worker " << w.id << " still runs tasks";
      EXPECT_TRUE(w.ready.empty()) << "worker " << w.id << " still has tasks, first "
                                   << w.ready.front().key.ToString();
    }
    EXPECT_TRUE(run_specs_.empty()) << run_specs_.size() << " run specs not given back";
    EXPECT_TRUE(errors_.empty()) << errors_.size() << " error handles not given back";
  }

 private:
  static SchedulerOptions MakeOptions(uint64_t seed) {
    SchedulerOptions options;
    options.worker_ttl = std::chrono::seconds(1);
    if (seed % 3 == 0) options.worker_saturation = std::numeric_limits<double>::infinity();
    return options;
  }

  int Uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool Chance(double p) { return std::bernoulli_distribution(p)(rng_); }

  void MakeGraph() {
    const int n = Chance(0.2) ? Uniform(40, 120) : Uniform(4, 40);
    const char* groups[] = {"load", "map", "part"};
    for (int i = 0; i < n; ++i) {
      SimTask t;
      if (Chance(0.6)) {
        t.key = Key::Tuple({std::string(groups[Uniform(0, 2)]), int64_t{i}});
      } else {
        t.key = "s" + std::to_string(i);
      }
      const int ndeps = i == 0 ? 0 : Uniform(0, std::min(i, 3));
      std::set<int> deps;
      for (int k = 0; k < ndeps; ++k) deps.insert(Chance(0.5) ? i - 1 : Uniform(0, i - 1));
      t.deps.assign(deps.begin(), deps.end());
      t.bad = Chance(0.03);
      t.flaky = !t.bad && Chance(0.1);
      t.retries = t.flaky ? 1 : (t.bad ? static_cast<uint32_t>(Uniform(0, 1)) : 0);
      t.priority = Chance(0.2) ? Uniform(-1, 1) : 0;
      if (Chance(0.05)) t.loose_workers = {static_cast<WorkerId>(Uniform(1, 8))};
      uint64_t v = 1000003ULL * static_cast<uint64_t>(i + 1);
      t.bad_ancestry = t.bad;
      for (size_t j = 0; j < t.deps.size(); ++j) {
        v = v * 31 + (j + 1) * tasks_[t.deps[j]].expected;
        t.bad_ancestry = t.bad_ancestry || tasks_[t.deps[j]].bad_ancestry;
      }
      t.expected = v;
      tasks_.push_back(std::move(t));
    }
    std::vector<bool> has_dependent(n, false);
    for (const SimTask& t : tasks_) {
      for (int d : t.deps) has_dependent[d] = true;
    }
    for (int i = 0; i < n; ++i) {
      if (!has_dependent[i] || Chance(0.3)) wanted_main_.push_back(i);
      if (Chance(0.2)) wanted_other_.push_back(i);
    }
    // Up to three pieces, in graph order.
    const int pieces = Uniform(1, 3);
    int lo = 0;
    for (int p = 0; p < pieces; ++p) {
      int hi = p == pieces - 1 ? n : std::min(n, lo + Uniform(1, n));
      if (hi > lo) chunks_.push_back({lo, hi});
      lo = hi;
    }
  }

  // The tasks in [lo, hi) that `wanted` names, with all their ancestors, in graph order.
  std::vector<TaskSubmission> Closure(const std::vector<int>& wanted, int lo, int hi,
                                      std::vector<Key>* keys) {
    std::vector<bool> in(tasks_.size(), false);
    std::vector<int> stack;
    for (int i : wanted) {
      if (i >= lo && i < hi) {
        keys->push_back(tasks_[i].key);
        stack.push_back(i);
      }
    }
    while (!stack.empty()) {
      int i = stack.back();
      stack.pop_back();
      if (in[i]) continue;
      in[i] = true;
      for (int d : tasks_[i].deps) stack.push_back(d);
    }
    std::vector<TaskSubmission> out;
    for (size_t i = 0; i < tasks_.size(); ++i) {
      if (!in[i]) continue;
      const SimTask& t = tasks_[i];
      TaskSubmission s;
      s.key = t.key;
      for (int d : t.deps) s.dependencies.push_back(tasks_[d].key);
      s.run_spec = next_handle_++;
      run_specs_.insert(s.run_spec);
      run_spec_task_[s.run_spec] = static_cast<int>(i);
      s.priority = t.priority;
      s.retries = t.retries;
      if (!t.loose_workers.empty()) {
        s.workers = t.loose_workers;
        s.allow_other_workers = true;
      }
      out.push_back(std::move(s));
    }
    return out;
  }

  void SubmitNextChunk() {
    auto [lo, hi] = chunks_[next_chunk_++];
    std::vector<Key> keys;
    auto tasks = Closure(wanted_main_, lo, hi, &keys);
    Deliver(UpdateGraph{kMain, std::move(tasks), std::move(keys)});
    if (!other_released_) {
      std::vector<Key> other_keys;
      auto other = Closure(wanted_other_, lo, hi, &other_keys);
      Deliver(UpdateGraph{kOther, std::move(other), std::move(other_keys)});
    }
  }

  SimWorker* FindWorker(WorkerId id) {
    for (SimWorker& w : workers_) {
      if (w.id == id) return &w;
    }
    return nullptr;
  }

  size_t AliveCount() const {
    return static_cast<size_t>(std::count_if(workers_.begin(), workers_.end(),
                                             [](const SimWorker& w) { return w.alive; }));
  }

  void AddWorkerNow() {
    SimWorker w;
    w.id = next_worker_++;
    w.nthreads = static_cast<uint32_t>(Uniform(1, 3));
    workers_.push_back(w);
    Deliver(AddWorker{w.id, w.nthreads, 0});
  }

  static std::string Describe(const Event& e) {
    auto on = [](const char* what, WorkerId w, const Key& key) {
      return std::string(what) + " " + std::to_string(w) + " " + key.ToString();
    };
    auto keys = [](std::string s, const std::vector<Key>& ks) {
      for (const Key& k : ks) s += " " + k.ToString();
      return s;
    };
    if (auto* x = std::get_if<AddWorker>(&e)) return "AddWorker " + std::to_string(x->id);
    if (auto* x = std::get_if<RemoveWorker>(&e)) return "RemoveWorker " + std::to_string(x->id);
    if (auto* x = std::get_if<PauseWorker>(&e)) {
      return "PauseWorker " + std::to_string(x->id) + (x->paused ? " paused" : " resumed");
    }
    if (std::holds_alternative<scheduler::Tick>(e)) return "Tick";
    if (auto* x = std::get_if<Heartbeat>(&e)) return "Heartbeat " + std::to_string(x->id);
    if (auto* x = std::get_if<RemoveClient>(&e)) return "RemoveClient " + std::to_string(x->id);
    if (auto* x = std::get_if<UpdateGraph>(&e)) {
      return keys("UpdateGraph client " + std::to_string(x->client) + " wants", x->wanted);
    }
    if (auto* x = std::get_if<ReleaseKeys>(&e)) {
      return keys("ReleaseKeys client " + std::to_string(x->client), x->keys);
    }
    if (auto* x = std::get_if<TaskFinished>(&e)) {
      return on("TaskFinished", x->worker, x->key) + " run " + std::to_string(x->run_id);
    }
    if (auto* x = std::get_if<TaskErred>(&e)) {
      return on("TaskErred", x->worker, x->key) + " run " + std::to_string(x->run_id);
    }
    if (auto* x = std::get_if<StealResponse>(&e)) {
      return on("StealResponse", x->victim, x->key) + (x->accepted ? " accepted" : " rejected");
    }
    if (auto* x = std::get_if<MissingData>(&e)) {
      return on("MissingData", x->worker, x->key) + " from " + std::to_string(x->holder);
    }
    if (auto* x = std::get_if<ReleaseWorkerData>(&e)) {
      return on("ReleaseWorkerData", x->worker, x->key);
    }
    if (auto* x = std::get_if<Reschedule>(&e)) return on("Reschedule", x->worker, x->key);
    if (auto* x = std::get_if<LongRunning>(&e)) return on("LongRunning", x->worker, x->key);
    if (auto* x = std::get_if<AddReplicas>(&e)) {
      return keys("AddReplicas " + std::to_string(x->worker), x->keys);
    }
    if (auto* x = std::get_if<RequestWhoHas>(&e)) {
      return keys("RequestWhoHas " + std::to_string(x->worker), x->keys);
    }
    return "event #" + std::to_string(e.index());
  }

  void Deliver(const Event& event) {
    if (stats_enabled_) ++event_counts_[Describe(event).substr(0, Describe(event).find(' '))];
    Actions actions = state_.Handle(event, now_);
    if (trace_ && !std::holds_alternative<Heartbeat>(event)) {
      std::printf("> %s\n", Describe(event).c_str());
      for (auto& a : actions) std::printf("    %s\n", ToString(a).c_str());
    }
    Status st = state_.TEST_CheckInvariants();
    ASSERT_TRUE(st.ok()) << st.ToString();
    for (Action& a : actions) Route(std::move(a));
  }

  void ToWorker(WorkerId id, Action a) {
    SimWorker* w = FindWorker(id);
    if (w != nullptr && w->alive) w->inbox.push_back(std::move(a));
  }

  void GiveBack(uint64_t run_spec, uint64_t error) {
    if (run_spec != kNoHandle) {
      EXPECT_EQ(run_specs_.erase(run_spec), 1u) << "run spec " << run_spec << " given back twice";
    }
    if (error != kNoHandle) {
      EXPECT_EQ(errors_.erase(error), 1u) << "error " << error << " given back twice";
    }
  }

  void Route(Action a) {
    if (stats_enabled_) ++action_counts_[ToString(a).substr(0, ToString(a).find(' '))];
    if (auto* c = std::get_if<ComputeTask>(&a)) {
      ToWorker(c->worker, std::move(a));
    } else if (auto* f = std::get_if<FreeKeysOnWorker>(&a)) {
      ToWorker(f->worker, std::move(a));
    } else if (auto* x = std::get_if<CancelCompute>(&a)) {
      ToWorker(x->worker, std::move(a));
    } else if (auto* s = std::get_if<StealRequest>(&a)) {
      ToWorker(s->victim, std::move(a));
    } else if (auto* r = std::get_if<RefreshWhoHas>(&a)) {
      ToWorker(r->worker, std::move(a));
    } else if (auto* n = std::get_if<NotifyClient>(&a)) {
      if (n->client == kMain) last_notice_[n->key.ToString()] = n->state;
    } else if (auto* t = std::get_if<TaskForgotten>(&a)) {
      GiveBack(t->run_spec, t->error);
    } else if (auto* h = std::get_if<ReleaseHandles>(&a)) {
      GiveBack(h->run_spec, h->error);
    } else if (std::holds_alternative<TaskKilled>(a)) {
      ++killed_;
    }
  }

  // Worker side ---------------------------------------------------------------------------------

  void WorkerReceive(SimWorker& w) {
    Action a = std::move(w.inbox.front());
    w.inbox.pop_front();
    if (trace_) std::printf("  worker %u receives %s\n", w.id, ToString(a).c_str());
    auto drop = [&w](const Key& key) {
      auto it = std::find_if(w.ready.begin(), w.ready.end(),
                             [&](const Pending& p) { return p.key == key; });
      if (it == w.ready.end()) return false;
      w.ready.erase(it);
      return true;
    };
    if (auto* c = std::get_if<ComputeTask>(&a)) {
      drop(c->key);
      // The worker contract (actions.hpp): a key already held is reported at once; a key still
      // running (even cancelled) is resumed under the new run id (Dask: cancelled -> resumed).
      if (w.store.count(c->key.ToString())) {
        const int i = run_spec_task_.at(c->run_spec);
        w.outbox.push_back(
            TaskFinished{w.id, c->key, 8 + static_cast<uint64_t>(i), -1, c->run_id});
        return;
      }
      for (Running& r : w.running) {
        if (r.key == c->key) {
          r.cancelled = false;
          r.run_id = c->run_id;
          return;
        }
      }
      w.ready.push_back(Pending{c->key, c->run_spec, c->dependencies, c->run_id});
    } else if (auto* f = std::get_if<FreeKeysOnWorker>(&a)) {
      for (const Key& k : f->keys) {
        if (w.store.erase(k.ToString())) w.outbox.push_back(ReleaseWorkerData{w.id, k});
      }
    } else if (auto* x = std::get_if<CancelCompute>(&a)) {
      drop(x->key);
      for (Running& r : w.running) {
        if (r.key == x->key) r.cancelled = true;
      }
      // Allowed: Dask sends free-keys for this.
      if (Chance(0.5) && w.store.erase(x->key.ToString())) {
        w.outbox.push_back(ReleaseWorkerData{w.id, x->key});
      }
    } else if (auto* s = std::get_if<StealRequest>(&a)) {
      bool accepted = drop(s->key);
      w.outbox.push_back(StealResponse{w.id, s->key, accepted, s->request_id});
    } else if (auto* r = std::get_if<RefreshWhoHas>(&a)) {
      for (Pending& p : w.ready) {
        for (DependencyLocation& d : p.deps) {
          if (d.key == r->key) {
            d.who_has = r->who_has;
            p.asked = false;
          }
        }
      }
    }
  }

  bool Blocked(const SimWorker& w, const Pending& p) const {
    for (const DependencyLocation& d : p.deps) {
      if (!w.store.count(d.key.ToString()) && d.who_has.empty()) return true;
    }
    return false;
  }

  void WorkerExecute(SimWorker& w, size_t index) {
    Pending& p = w.ready[index];
    std::vector<Key> fetched;
    bool complete = true;
    for (DependencyLocation& d : p.deps) {
      const std::string k = d.key.ToString();
      if (w.store.count(k)) continue;
      bool got = false;
      while (!d.who_has.empty()) {
        WorkerId holder = d.who_has.front();
        SimWorker* h = FindWorker(holder);
        // Fetches also fail now and then from a live holder (a network blip).
        if (h != nullptr && h->alive && h->store.count(k) && !Chance(0.03)) {
          w.store[k] = h->store[k];
          fetched.push_back(d.key);
          got = true;
          break;
        }
        w.outbox.push_back(MissingData{w.id, d.key, holder});
        d.who_has.erase(d.who_has.begin());
      }
      complete = complete && got;
    }
    if (!fetched.empty()) w.outbox.push_back(AddReplicas{w.id, fetched});
    if (!complete) {
      // Waits for RefreshWhoHas or CancelCompute; asks once where its inputs are now.
      if (!p.asked && Chance(0.5)) {
        p.asked = true;
        std::vector<Key> missing;
        for (const DependencyLocation& d : p.deps) {
          if (!w.store.count(d.key.ToString())) missing.push_back(d.key);
        }
        w.outbox.push_back(RequestWhoHas{w.id, missing});
      }
      AnswerFromCopies(w, fetched);
      return;
    }

    const int i = run_spec_task_.at(p.run_spec);
    ASSERT_EQ(p.key, tasks_[i].key);
    if (trace_) std::printf("  worker %u starts %s\n", w.id, p.key.ToString().c_str());
    w.running.push_back(Running{p.key, i, p.run_id, false});
    Capture(w, w.running.back());
    if (Chance(0.05)) w.outbox.push_back(LongRunning{w.id, p.key, p.run_id});
    w.ready.erase(w.ready.begin() + static_cast<ptrdiff_t>(index));
    AnswerFromCopies(w, fetched);
  }

  // The worker contract: a key it was asked to compute and now holds (fetched as another task's
  // input) is answered from that copy.
  void AnswerFromCopies(SimWorker& w, const std::vector<Key>& fetched) {
    for (const Key& k : fetched) {
      auto it = std::find_if(w.ready.begin(), w.ready.end(),
                             [&](const Pending& p) { return p.key == k; });
      if (it == w.ready.end()) continue;
      const int i = run_spec_task_.at(it->run_spec);
      w.outbox.push_back(TaskFinished{w.id, k, 8 + static_cast<uint64_t>(i), -1, it->run_id});
      w.ready.erase(it);
    }
  }

  // The worker drops a copy nothing here uses, and says so.
  void WorkerDrop(SimWorker& w) {
    std::vector<std::string> candidates;
    for (const auto& [k, v] : w.store) {
      bool used = false;
      for (const Pending& p : w.ready) {
        used = used || p.key.ToString() == k;
        for (const DependencyLocation& d : p.deps) used = used || d.key.ToString() == k;
      }
      for (const Running& r : w.running) used = used || r.key.ToString() == k;
      if (!used) candidates.push_back(k);
    }
    if (candidates.empty()) return;
    const std::string k = candidates[Uniform(0, static_cast<int>(candidates.size()) - 1)];
    w.store.erase(k);
    for (const SimTask& t : tasks_) {
      if (t.key.ToString() == k) w.outbox.push_back(ReleaseWorkerData{w.id, t.key});
    }
  }

  // Inputs are read when the computation starts (they may be freed while it runs).
  void Capture(const SimWorker& w, const Running& r) {
    const SimTask& t = tasks_[r.task];
    uint64_t v = 1000003ULL * static_cast<uint64_t>(r.task + 1);
    for (size_t j = 0; j < t.deps.size(); ++j) {
      auto it = w.store.find(tasks_[t.deps[j]].key.ToString());
      ASSERT_NE(it, w.store.end()) << "input missing for " << t.key.ToString();
      v = v * 31 + (j + 1) * it->second;
    }
    ASSERT_EQ(v, t.expected) << "wrong value for " << t.key.ToString();
  }

  void WorkerFinish(SimWorker& w, size_t index) {
    Running r = w.running[index];
    w.running.erase(w.running.begin() + static_cast<ptrdiff_t>(index));
    const SimTask& t = tasks_[r.task];
    if (trace_) {
      std::printf("  worker %u finishes %s%s\n", w.id, t.key.ToString().c_str(),
             r.cancelled ? " (cancelled)" : "");
    }
    // A cancelled computation may be dropped silently, or reported (a stale answer).
    if (r.cancelled && Chance(0.5)) return;
    if (Chance(0.02)) {
      w.outbox.push_back(Reschedule{w.id, t.key, r.run_id});
      return;
    }
    const int attempt = ++attempts_[r.task];
    if (t.bad || (t.flaky && attempt == 1)) {
      ErrorHandle e = next_handle_++;
      errors_.insert(e);
      w.outbox.push_back(TaskErred{w.id, t.key, e, r.run_id});
    } else {
      w.store[t.key.ToString()] = t.expected;
      w.outbox.push_back(TaskFinished{w.id, t.key, 8 + static_cast<uint64_t>(r.task),
                                      0.01 * Uniform(1, 10), r.run_id});
    }
  }

  void Kill(SimWorker& w, bool graceful) {
    if (trace_) std::printf("  kill %u graceful=%d\n", w.id, graceful);
    w.alive = false;
    w.store.clear();
    w.inbox.clear();
    w.ready.clear();
    w.running.clear();
    // What it already sent may still arrive (late results).
    if (graceful) {
      Deliver(RemoveWorker{w.id, RemoveReason::kClosed});
    } else if (Chance(0.5)) {
      control_.push_back(RemoveWorker{w.id, RemoveReason::kConnectionLost});
    }  // else: only the heartbeat timeout notices
  }

  bool UnpauseAll() {
    bool any = false;
    for (SimWorker& w : workers_) {
      if (w.alive && w.paused) {
        w.paused = false;
        any = true;
        Deliver(PauseWorker{w.id, false});
      }
    }
    return any;
  }

  bool Quiescent() const {
    if (!control_.empty()) return false;
    for (const SimWorker& w : workers_) {
      if (!w.outbox.empty()) return false;
      if (!w.alive) continue;
      if (!w.inbox.empty()) return false;
      if (!w.running.empty()) return false;
      if (w.paused) continue;
      for (const Pending& p : w.ready) {
        if (!Blocked(w, p)) return false;
      }
    }
    // A dead worker the scheduler still counts: the heartbeat timeout will notice it.
    for (WorkerId id : state_.Workers()) {
      for (const SimWorker& w : workers_) {
        if (w.id == id && !w.alive) return false;
      }
    }
    return true;
  }

  void Tick() {
    now_ += std::chrono::milliseconds(200);
    for (const SimWorker& w : workers_) {
      if (w.alive) Deliver(Heartbeat{w.id});
    }
    Deliver(scheduler::Tick{});
  }

  void RandomStep(bool chaos = true) {
    std::vector<SimWorker*> with_inbox, with_ready, with_outbox, with_running, alive;
    for (SimWorker& w : workers_) {
      if (!w.outbox.empty()) with_outbox.push_back(&w);
      if (!w.alive) continue;
      alive.push_back(&w);
      if (!w.inbox.empty()) with_inbox.push_back(&w);
      if (!w.paused && !w.ready.empty() && w.running.size() < w.nthreads) {
        with_ready.push_back(&w);
      }
      if (!w.running.empty()) with_running.push_back(&w);
    }
    enum Kind {
      kReceive, kExecute, kFinish, kSend, kControl, kTick,
      kSubmit, kKill, kAdd, kPause, kRelease, kDrop,
    };
    std::vector<std::pair<Kind, double>> choices;
    if (!with_inbox.empty()) choices.push_back({kReceive, 10});
    if (!with_ready.empty()) choices.push_back({kExecute, 10});
    if (!with_running.empty()) choices.push_back({kFinish, 10});
    if (!with_outbox.empty()) choices.push_back({kSend, 10});
    if (!control_.empty()) choices.push_back({kControl, 1});
    choices.push_back({kTick, 1});
    if (chaos) {
      if (next_chunk_ < chunks_.size()) choices.push_back({kSubmit, 0.5});
      if (kills_left_ > 0 && !alive.empty()) choices.push_back({kKill, 0.15});
      if (alive.size() < 4 && adds_left_ > 0) choices.push_back({kAdd, 0.3});
      if (!alive.empty()) choices.push_back({kPause, 0.1});
      if (!other_released_) choices.push_back({kRelease, 0.1});
      if (!alive.empty()) choices.push_back({kDrop, 0.1});
    }
    std::vector<double> weights;
    for (auto& c : choices) weights.push_back(c.second);
    std::discrete_distribution<size_t> choose(weights.begin(), weights.end());
    const Kind kind = choices[choose(rng_)].first;
    auto pick = [&](std::vector<SimWorker*>& v) {
      return v[Uniform(0, static_cast<int>(v.size()) - 1)];
    };
    auto any = [&](size_t n) { return static_cast<size_t>(Uniform(0, static_cast<int>(n) - 1)); };
    switch (kind) {
      case kReceive:
        WorkerReceive(*pick(with_inbox));
        break;
      case kExecute: {
        SimWorker* w = pick(with_ready);
        WorkerExecute(*w, any(w->ready.size()));
        break;
      }
      case kFinish: {
        SimWorker* w = pick(with_running);
        WorkerFinish(*w, any(w->running.size()));
        break;
      }
      case kSend: {
        SimWorker* w = pick(with_outbox);
        Event e = std::move(w->outbox.front());
        w->outbox.pop_front();
        Deliver(e);
        break;
      }
      case kControl: {
        Event e = std::move(control_.front());
        control_.pop_front();
        Deliver(e);
        break;
      }
      case kTick:
        Tick();
        break;
      case kSubmit:
        SubmitNextChunk();
        break;
      case kKill:
        --kills_left_;
        Kill(*pick(alive), Chance(0.2));
        break;
      case kAdd:
        --adds_left_;
        AddWorkerNow();
        break;
      case kPause: {
        SimWorker* w = pick(alive);
        w->paused = !w->paused;
        Deliver(PauseWorker{w->id, w->paused});
        break;
      }
      case kDrop:
        WorkerDrop(*pick(alive));
        break;
      case kRelease: {
        other_released_ = true;
        std::vector<Key> keys;
        for (int i : wanted_other_) keys.push_back(tasks_[i].key);
        Deliver(ReleaseKeys{kOther, keys});
        break;
      }
    }
  }

  void CheckResults() {
    for (int i : wanted_main_) {
      const SimTask& t = tasks_[i];
      const std::string name = t.key.ToString();
      const TaskState s = state_.TaskStateOf(t.key);
      if (s == TaskState::kMemory) {
        EXPECT_FALSE(t.bad_ancestry) << name << " computed despite a failing input";
        auto holders = state_.WhoHas(t.key);
        EXPECT_FALSE(holders.empty());
        for (WorkerId id : holders) {
          SimWorker* w = FindWorker(id);
          ASSERT_TRUE(w != nullptr && w->alive) << name << " held by a dead worker";
          auto it = w->store.find(name);
          ASSERT_NE(it, w->store.end()) << name << " not on worker " << id;
          EXPECT_EQ(it->second, t.expected) << name;
        }
        EXPECT_EQ(last_notice_[name], ClientKeyState::kMemory) << name;
      } else if (s == TaskState::kErred) {
        auto error = state_.ErrorOf(t.key);
        ASSERT_TRUE(error.has_value());
        if (error->kind == ErrorKind::kTaskRaised) {
          EXPECT_TRUE(t.bad_ancestry) << name << " erred without a failing input";
        } else {
          EXPECT_EQ(error->kind, ErrorKind::kKilledWorker) << name;
          EXPECT_GT(killed_, 0);
        }
        EXPECT_EQ(last_notice_[name], ClientKeyState::kErred) << name;
      } else {
        std::string why;
        std::vector<int> stack(t.deps.begin(), t.deps.end());
        std::set<int> seen;
        while (!stack.empty()) {
          int d = stack.back();
          stack.pop_back();
          if (!seen.insert(d).second) continue;
          TaskState ds = state_.TaskStateOf(tasks_[d].key);
          why += " " + tasks_[d].key.ToString() + ":" + TaskStateName(ds);
          if (ds != TaskState::kMemory) {
            stack.insert(stack.end(), tasks_[d].deps.begin(), tasks_[d].deps.end());
          }
        }
        ADD_FAILURE() << name << " ended " << TaskStateName(s) << "; upstream:" << why;
      }
    }
  }

  std::mt19937_64 rng_;
  bool trace_ = false;
  bool stats_enabled_ = false;
  SchedulerState state_;
  Clock::time_point now_ = Clock::time_point{} + std::chrono::hours(1);
  std::vector<SimTask> tasks_;
  std::vector<int> wanted_main_, wanted_other_;
  std::vector<std::pair<int, int>> chunks_;
  size_t next_chunk_ = 0;
  bool other_released_ = false;
  std::vector<SimWorker> workers_;
  WorkerId next_worker_ = 1;
  std::deque<Event> control_;
  int kills_left_ = 3;
  int adds_left_ = 4;
  int killed_ = 0;
  uint64_t next_handle_ = 1;
  std::set<uint64_t> run_specs_, errors_;
  std::map<uint64_t, int> run_spec_task_;
  std::map<int, int> attempts_;
  std::map<std::string, ClientKeyState> last_notice_;

 public:
  std::map<std::string, size_t> event_counts_, action_counts_;
};

TEST(SchedulerSimulationTest, RandomGraphsWorkersAndFailures) {
  auto env = [](const char* name, uint64_t otherwise) {
    const char* v = std::getenv(name);
    return v ? std::stoull(v) : otherwise;
  };
  const uint64_t first = env("SIM_FIRST", 1);
  const uint64_t seeds = env("SIM_SEEDS", 1000);
  const bool stats = env("SIM_STATS", 0) != 0;
  std::map<std::string, size_t> events, actions;
  for (uint64_t seed = first; seed < first + seeds; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    Simulation sim(seed, stats);
    sim.Run();
    for (const auto& [k, v] : sim.event_counts_) events[k] += v;
    for (const auto& [k, v] : sim.action_counts_) actions[k] += v;
    if (::testing::Test::HasFailure()) break;
  }
  for (const auto& [k, v] : events) std::printf("event %s: %zu\n", k.c_str(), v);
  for (const auto& [k, v] : actions) std::printf("action %s: %zu\n", k.c_str(), v);
}

}  // namespace
}  // namespace tegu::scheduler
