// Tests of SchedulerState: events in, exact actions out, no sockets and no real clock. Each test
// checks every invariant after every event (TEST_CheckInvariants).

#include "tegu/scheduler/scheduler_state.hpp"

#include <gtest/gtest.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

namespace tegu::scheduler {
namespace {

using std::chrono::seconds;
using Strings = std::vector<std::string>;

constexpr ClientId kClient = 7;

std::vector<std::string> Describe(const Actions& actions) {
  std::vector<std::string> out;
  for (const Action& a : actions) out.push_back(ToString(a));
  return out;
}

// Descriptions without the bookkeeping actions (TaskForgotten, ReleaseHandles).
std::vector<std::string> Interesting(const Actions& actions) {
  std::vector<std::string> out;
  for (const Action& a : actions) {
    if (std::holds_alternative<TaskForgotten>(a) || std::holds_alternative<ReleaseHandles>(a)) {
      continue;
    }
    out.push_back(ToString(a));
  }
  return out;
}

template <class T>
std::vector<T> Only(const Actions& actions) {
  std::vector<T> out;
  for (const Action& a : actions) {
    if (auto* x = std::get_if<T>(&a)) out.push_back(*x);
  }
  return out;
}

Key Tup(const std::string& name, int64_t i) { return Key::Tuple({name, i}); }

// A scheduler with a hand-driven clock.
class Harness {
 public:
  explicit Harness(SchedulerOptions options = {}) : state(options) {}

  Actions Handle(const Event& event) {
    Actions actions = state.Handle(event, now);
    Status st = state.TEST_CheckInvariants();
    EXPECT_TRUE(st.ok()) << st.ToString();
    for (const Action& a : actions) {
      if (auto* c = std::get_if<ComputeTask>(&a)) runs[c->key.ToString()] = c->run_id;
    }
    return actions;
  }
  Strings Do(const Event& event) { return Describe(Handle(event)); }
  Strings DoInteresting(const Event& event) { return Interesting(Handle(event)); }

  TaskSubmission Task(Key key, std::vector<Key> deps = {}) {
    TaskSubmission s;
    s.key = std::move(key);
    s.dependencies = std::move(deps);
    s.run_spec = next_run_spec++;
    return s;
  }
  Actions Submit(std::vector<TaskSubmission> tasks, std::vector<Key> wanted,
                 ClientId client = kClient) {
    return Handle(UpdateGraph{client, std::move(tasks), std::move(wanted)});
  }
  // Answers to the latest ComputeTask for `key`.
  Strings Finish(WorkerId w, const Key& key, uint64_t nbytes = 8, double duration_s = -1) {
    return Do(TaskFinished{w, key, nbytes, duration_s, runs[key.ToString()]});
  }
  Strings Fail(WorkerId w, const Key& key, ErrorHandle error) {
    return Do(TaskErred{w, key, error, runs[key.ToString()]});
  }

  SchedulerState state;
  Clock::time_point now = Clock::time_point{} + std::chrono::hours(1);
  RunSpecHandle next_run_spec = 1;
  std::map<std::string, uint32_t> runs;  // run_id of the latest ComputeTask per key
};

// ---------------------------------------------------------------------------------------------

TEST(SchedulerStateTest, LifecycleOfASmallGraphOnTwoWorkers) {
  Harness h;
  EXPECT_EQ(h.Do(AddWorker{1, 1, 0}), Strings{});
  EXPECT_EQ(h.Do(AddWorker{2, 1, 0}), Strings{});
  EXPECT_EQ(h.Do(AddClient{kClient}), Strings{});

  // c = f(a, b): a and b start on different workers.
  Actions a = h.Submit({h.Task("a"), h.Task("b"), h.Task("c", {"a", "b"})}, {"c"});
  EXPECT_EQ(Describe(a), (Strings{"compute 1 a", "compute 2 b"}));
  auto computes = Only<ComputeTask>(a);
  EXPECT_EQ(computes[0].run_spec, 1u);
  EXPECT_EQ(computes[1].run_spec, 2u);
  EXPECT_EQ(h.state.TaskStateOf("a"), TaskState::kProcessing);
  EXPECT_EQ(h.state.TaskStateOf("c"), TaskState::kWaiting);

  EXPECT_EQ(h.Finish(1, "a", 100), Strings{});
  EXPECT_EQ(h.state.TaskStateOf("a"), TaskState::kMemory);
  EXPECT_EQ(h.state.TaskStateOf("c"), TaskState::kWaiting);
  // c goes where its larger input is (a: 100 bytes on 1; b: 10 bytes on 2).
  EXPECT_EQ(h.Finish(2, "b", 10), (Strings{"compute 1 c deps=[a@1,b@2]"}));
  EXPECT_EQ(h.state.ProcessingOn("c"), std::optional<WorkerId>(1));

  // The result reaches the client; the inputs are freed at once.
  EXPECT_EQ(h.Finish(1, "c"), (Strings{"notify 7 c memory", "free 1 [a]", "free 2 [b]"}));
  EXPECT_EQ(h.state.TaskStateOf("a"), TaskState::kReleased);
  EXPECT_EQ(h.state.TaskStateOf("c"), TaskState::kMemory);
  EXPECT_EQ(h.state.WhoHas("c"), std::vector<WorkerId>{1});

  // Releasing the result forgets the whole graph.
  EXPECT_EQ(h.Do(ReleaseKeys{kClient, {"c"}}),
            (Strings{"free 1 [c]", "forgotten c", "forgotten a", "forgotten b"}));
  EXPECT_EQ(h.state.task_count(), 0u);
  EXPECT_EQ(h.state.TaskStateOf("a"), TaskState::kForgotten);
}

TEST(SchedulerStateTest, ForgottenTasksGiveBackTheirRunSpecs) {
  Harness h;
  h.Handle(AddWorker{1, 1, 0});
  h.Submit({h.Task("a"), h.Task("b", {"a"})}, {"b"});
  h.Finish(1, "a");
  h.Finish(1, "b");
  auto forgotten = Only<TaskForgotten>(h.Handle(ReleaseKeys{kClient, {"b"}}));
  ASSERT_EQ(forgotten.size(), 2u);
  EXPECT_EQ(forgotten[0].key, Key("b"));
  EXPECT_EQ(forgotten[0].run_spec, 2u);
  EXPECT_EQ(forgotten[1].key, Key("a"));
  EXPECT_EQ(forgotten[1].run_spec, 1u);
}

TEST(SchedulerStateTest, UnwantedTasksOfAnUpdateAreForgottenAtOnce) {
  Harness h;
  h.Handle(AddWorker{1, 1, 0});
  // "orphan" is neither wanted nor needed by a wanted task.
  EXPECT_EQ(h.Do(UpdateGraph{kClient, {h.Task("a"), h.Task("orphan")}, {"a"}}),
            (Strings{"forgotten orphan", "compute 1 a"}));
  EXPECT_EQ(h.state.task_count(), 1u);
}

TEST(SchedulerStateTest, KnownKeysAreNotReplacedAndAnsweredAtOnce) {
  Harness h;
  h.Handle(AddWorker{1, 1, 0});
  h.Submit({h.Task("a")}, {"a"});
  h.Finish(1, "a");
  // A second client submits the same key: its run spec goes back, and it hears "memory" now.
  TaskSubmission again = h.Task("a");
  EXPECT_EQ(h.Do(UpdateGraph{8, {again}, {"a"}}),
            (Strings{"release-handles run_spec=" + std::to_string(again.run_spec) + " error=0",
                     "notify 8 a memory"}));
  // Released by the first client, still wanted by the second.
  EXPECT_EQ(h.Do(ReleaseKeys{kClient, {"a"}}), Strings{});
  EXPECT_EQ(h.state.TaskStateOf("a"), TaskState::kMemory);
  EXPECT_EQ(h.Do(RemoveClient{8}), (Strings{"free 1 [a]", "forgotten a"}));
}

TEST(SchedulerStateTest, ResubmittingAReleasedKeyRecomputesIt) {
  Harness h;
  h.Handle(AddWorker{1, 1, 0});
  h.Submit({h.Task("a"), h.Task("b", {"a"})}, {"b"});
  h.Finish(1, "a");
  h.Finish(1, "b");
  EXPECT_EQ(h.state.TaskStateOf("a"), TaskState::kReleased);
  // Now a is wanted itself: it is computed again.
  EXPECT_EQ(h.Do(UpdateGraph{kClient, {}, {"a"}}), (Strings{"compute 1 a"}));
  EXPECT_EQ(h.Finish(1, "a"), (Strings{"notify 7 a memory"}));
}

// ---------------------------------------------------------------------------------------------
// Placement.

TEST(SchedulerStateTest, PlacementFollowsDependencyBytes) {
  Harness h;
  for (WorkerId w : {1, 2, 3}) h.Handle(AddWorker{w, 1, 0});
  h.Handle(UpdateData{kClient, {{"x", 1, 1'000'000}, {"y", 2, 10}}});
  // Worker 1 lacks 10 bytes, worker 2 lacks 1 MB, worker 3 lacks both.
  EXPECT_EQ(Describe(h.Submit({h.Task("z", {"x", "y"})}, {"z"})),
            (Strings{"compute 1 z deps=[x@1,y@2]"}));
  // Even with y on two workers, x decides (once worker 1 is free again).
  h.Finish(1, "z");
  h.Handle(AddReplicas{3, {"y"}});
  EXPECT_EQ(Describe(h.Submit({h.Task("z2", {"x", "y"})}, {"z2"})),
            (Strings{"compute 1 z2 deps=[x@1,y@2|3]"}));
}

TEST(SchedulerStateTest, PlacementWeighsOccupancyAgainstTransfer) {
  Harness h;  // bandwidth 100 MB/s, unknown task duration 0.5 s
  for (WorkerId w : {1, 2}) h.Handle(AddWorker{w, 1, 0});
  h.Handle(UpdateData{kClient, {{"small", 1, 1000}, {"huge", 1, 10'000'000'000ULL}}});
  // Keep worker 1 busy: ten tasks restricted to it (5 s of work at 0.5 s each).
  std::vector<TaskSubmission> busy;
  for (int i = 0; i < 10; ++i) {
    busy.push_back(h.Task("busy-" + std::string(1, char('a' + i))));
    busy.back().workers = {1};
  }
  std::vector<Key> busy_keys;
  for (auto& t : busy) busy_keys.push_back(t.key);
  h.Submit(busy, busy_keys);
  EXPECT_EQ(h.state.ProcessingCount(1), 10u);
  // Moving 1 kB (10 us) beats waiting 5 s: worker 2.
  EXPECT_EQ(Describe(h.Submit({h.Task("f", {"small"})}, {"f"})),
            (Strings{"compute 2 f deps=[small@1]"}));
  // Moving 10 GB (100 s) does not: worker 1.
  EXPECT_EQ(Describe(h.Submit({h.Task("g", {"huge"})}, {"g"})),
            (Strings{"compute 1 g deps=[huge@1]"}));
}

TEST(SchedulerStateTest, TasksWithoutDependenciesSpreadRoundRobin) {
  Harness h;
  for (WorkerId w : {1, 2, 3}) h.Handle(AddWorker{w, 4, 0});
  // Three singleton groups: not root-ish, each goes to the least occupied worker.
  EXPECT_EQ(Describe(h.Submit({h.Task("p"), h.Task("q"), h.Task("r")}, {"p", "q", "r"})),
            (Strings{"compute 1 p", "compute 2 q", "compute 3 r"}));
}

// ---------------------------------------------------------------------------------------------
// Root-task queuing.

TEST(SchedulerStateTest, RootTasksAreQueuedToSaturationSlots) {
  Harness h;  // worker_saturation 1.1: ceil(2 * 1.1) = 3 slots per 2-thread worker
  h.Handle(AddWorker{1, 2, 0});
  h.Handle(AddWorker{2, 2, 0});
  std::vector<TaskSubmission> tasks;
  std::vector<Key> keys;
  for (int i = 0; i < 100; ++i) {
    tasks.push_back(h.Task(Tup("r", i)));
    keys.push_back(Tup("r", i));
  }
  EXPECT_EQ(Describe(h.Submit(tasks, keys)),
            (Strings{"compute 1 ('r', 0)", "compute 2 ('r', 1)", "compute 1 ('r', 2)",
                     "compute 2 ('r', 3)", "compute 1 ('r', 4)", "compute 2 ('r', 5)"}));
  EXPECT_EQ(h.state.queued_count(), 94u);
  EXPECT_EQ(h.state.TaskStateOf(Tup("r", 6)), TaskState::kQueued);

  // Each finished task frees one slot, filled with the next task in priority order.
  EXPECT_EQ(h.Finish(1, Tup("r", 0)),
            (Strings{"notify 7 ('r', 0) memory", "compute 1 ('r', 6)"}));
  EXPECT_EQ(h.Finish(2, Tup("r", 3)),
            (Strings{"notify 7 ('r', 3) memory", "compute 2 ('r', 7)"}));

  // Run everything; no worker ever holds more than 3 tasks.
  size_t done = 2;
  while (done < 100) {
    for (WorkerId w : {1, 2}) {
      ASSERT_LE(h.state.ProcessingCount(w), 3u);
    }
    bool progressed = false;
    for (int i = 0; i < 100 && !progressed; ++i) {
      auto on = h.state.ProcessingOn(Tup("r", i));
      if (!on) continue;
      h.Finish(*on, Tup("r", i));
      ++done;
      progressed = true;
    }
    ASSERT_TRUE(progressed);
  }
  EXPECT_EQ(h.state.queued_count(), 0u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(h.state.TaskStateOf(Tup("r", i)), TaskState::kMemory);
}

TEST(SchedulerStateTest, TinyRootTasksFillMoreSlotsToHideTheRoundTrip) {
  Harness h;  // queuing_latency 2 ms, at most 32 per thread
  h.Handle(AddWorker{1, 1, 0});
  std::vector<TaskSubmission> tasks;
  std::vector<Key> keys;
  for (int i = 0; i < 200; ++i) {
    tasks.push_back(h.Task(Tup("r", i)));
    keys.push_back(Tup("r", i));
  }
  h.Submit(tasks, keys);
  EXPECT_EQ(h.state.ProcessingCount(1), 2u);  // durations unknown: ceil(1 * 1.1)
  // A 10 us task: 2 ms of work is 200 tasks, capped at 32 for the one thread.
  h.Finish(1, Tup("r", 0), 8, 10e-6);
  EXPECT_EQ(h.state.ProcessingCount(1), 32u);
  // Long tasks bring the limit back to worker_saturation as the average grows.
  for (int i = 0; i < 10; ++i) {
    for (int k = 0; k < 200; ++k) {
      if (h.state.ProcessingOn(Tup("r", k))) {
        h.Finish(1, Tup("r", k), 8, 1.0);
        break;
      }
    }
  }
  EXPECT_LE(h.state.ProcessingCount(1), 32u);
  for (int k = 0; k < 200 && h.state.ProcessingCount(1) > 2; ++k) {
    if (h.state.ProcessingOn(Tup("r", k))) h.Finish(1, Tup("r", k), 8, 1.0);
  }
  EXPECT_EQ(h.state.ProcessingCount(1), 2u);
  EXPECT_TRUE(h.state.TEST_CheckInvariants().ok());
}

TEST(SchedulerStateTest, RootTasksWaitInTheQueueWithoutWorkers) {
  Harness h;
  std::vector<TaskSubmission> tasks;
  std::vector<Key> keys;
  for (int i = 0; i < 5; ++i) {
    tasks.push_back(h.Task(Tup("r", i)));
    keys.push_back(Tup("r", i));
  }
  tasks.push_back(h.Task("total", keys));
  EXPECT_EQ(h.Do(UpdateGraph{kClient, tasks, {"total"}}), Strings{});
  EXPECT_EQ(h.state.queued_count(), 5u);
  // A 1-thread worker gets max(ceil(1.1), 1) = 2 at a time.
  EXPECT_EQ(h.Do(AddWorker{1, 1, 0}), (Strings{"compute 1 ('r', 0)", "compute 1 ('r', 1)"}));
}

TEST(SchedulerStateTest, QueuingCanBeTurnedOff) {
  SchedulerOptions options;
  options.worker_saturation = std::numeric_limits<double>::infinity();
  Harness h(options);
  h.Handle(AddWorker{1, 1, 0});
  std::vector<TaskSubmission> tasks;
  std::vector<Key> keys;
  for (int i = 0; i < 20; ++i) {
    tasks.push_back(h.Task(Tup("r", i)));
    keys.push_back(Tup("r", i));
  }
  EXPECT_EQ(Only<ComputeTask>(h.Submit(tasks, keys)).size(), 20u);
  EXPECT_EQ(h.state.queued_count(), 0u);
}

// ---------------------------------------------------------------------------------------------
// Priorities.

TEST(SchedulerStateTest, PrioritiesOrderUserPriorityThenSubmissionThenGraphOrder) {
  Harness h;
  h.Handle(AddWorker{1, 1, 0});  // 2 slots
  auto batch = [&](const std::string& name, int32_t priority, bool reversed) {
    std::vector<TaskSubmission> tasks;
    std::vector<Key> keys;
    for (int i = 0; i < 5; ++i) {
      tasks.push_back(h.Task(Tup(name, i)));
      tasks.back().priority = priority;
      if (reversed) tasks.back().order = static_cast<uint32_t>(4 - i);
      keys.push_back(Tup(name, i));
    }
    return h.Submit(tasks, keys);
  };
  EXPECT_EQ(Describe(batch("a", 0, false)), (Strings{"compute 1 ('a', 0)", "compute 1 ('a', 1)"}));
  EXPECT_EQ(Describe(batch("b", 0, true)), Strings{});   // later generation, graph order reversed
  EXPECT_EQ(Describe(batch("c", 5, false)), Strings{});  // higher user priority
  EXPECT_EQ(h.state.PriorityOf(Tup("c", 2)), (Priority{5, 3, 2}));
  EXPECT_EQ(h.state.PriorityOf(Tup("b", 0)), (Priority{0, 2, 4}));

  std::vector<std::string> order;
  for (int step = 0; step < 13; ++step) {
    // Finish the task worker 1 got most recently.
    std::vector<Key> running;
    for (const char* name : {"a", "b", "c"}) {
      for (int i = 0; i < 5; ++i) {
        if (h.state.ProcessingOn(Tup(name, i))) running.push_back(Tup(name, i));
      }
    }
    ASSERT_FALSE(running.empty());
    const uint32_t run = h.runs[running[0].ToString()];
    for (const ComputeTask& c :
         Only<ComputeTask>(h.Handle(TaskFinished{1, running[0], 8, -1, run}))) {
      order.push_back(c.key.ToString());
    }
  }
  EXPECT_EQ(order, (Strings{"('c', 0)", "('c', 1)", "('c', 2)", "('c', 3)", "('c', 4)",
                            "('a', 2)", "('a', 3)", "('a', 4)", "('b', 4)", "('b', 3)",
                            "('b', 2)", "('b', 1)", "('b', 0)"}));
}

TEST(SchedulerStateTest, ComputeTaskCarriesThePriority) {
  Harness h;
  h.Handle(AddWorker{1, 1, 0});
  TaskSubmission t = h.Task("t");
  t.priority = -3;
  t.order = 42;
  auto computes = Only<ComputeTask>(h.Submit({t}, {"t"}));
  ASSERT_EQ(computes.size(), 1u);
  EXPECT_EQ(computes[0].priority, (Priority{-3, 1, 42}));
}

// ---------------------------------------------------------------------------------------------
// Restrictions.

TEST(SchedulerStateTest, RestrictionsPinTasksToWorkers) {
  Harness h;
  h.Handle(AddWorker{1, 1, 0});
  h.Handle(AddWorker{2, 1, 0});
  h.Handle(UpdateData{kClient, {{"x", 1, 1'000'000'000}}});

  TaskSubmission pinned = h.Task("pinned", {"x"});
  pinned.workers = {2};
  EXPECT_EQ(Describe(h.Submit({pinned}, {"pinned"})), (Strings{"compute 2 pinned deps=[x@1]"}));

  TaskSubmission later = h.Task("later");
  later.workers = {9};
  EXPECT_EQ(Describe(h.Submit({later}, {"later"})), Strings{});
  EXPECT_EQ(h.state.TaskStateOf("later"), TaskState::kNoWorker);
  EXPECT_EQ(h.Do(AddWorker{9, 1, 0}), (Strings{"compute 9 later"}));

  TaskSubmission loose = h.Task("loose", {"x"});
  loose.workers = {10};
  loose.allow_other_workers = true;
  EXPECT_EQ(Describe(h.Submit({loose}, {"loose"})), (Strings{"compute 1 loose deps=[x@1]"}));

  // Restricted tasks are never root-ish: 30 of them do not queue.
  std::vector<TaskSubmission> many;
  std::vector<Key> keys;
  for (int i = 0; i < 30; ++i) {
    many.push_back(h.Task(Tup("m", i)));
    many.back().workers = {1, 2};
    keys.push_back(Tup("m", i));
  }
  h.Submit(many, keys);
  EXPECT_EQ(h.state.queued_count(), 0u);
  EXPECT_EQ(h.state.ProcessingCount(9), 1u);  // still only "later"
}

TEST(SchedulerStateTest, PausedWorkersGetNothingNew) {
  Harness h;
  h.Handle(AddWorker{1, 1, 0});
  h.Handle(PauseWorker{1, true});
  EXPECT_EQ(h.state.WorkerStatusOf(1), WorkerStatus::kPaused);
  EXPECT_EQ(Describe(h.Submit({h.Task("t")}, {"t"})), Strings{});
  EXPECT_EQ(h.state.TaskStateOf("t"), TaskState::kNoWorker);
  EXPECT_EQ(h.Do(PauseWorker{1, false}), (Strings{"compute 1 t"}));
}

// ---------------------------------------------------------------------------------------------
// Work stealing.

// Six single-task groups (and `extra`) land on worker 1 while it is alone; then an idle
// worker 2 joins.
void SaturateWorkerOne(Harness& h, std::vector<TaskSubmission> extra = {}) {
  h.Handle(AddWorker{1, 1, 0});
  std::vector<TaskSubmission> tasks;
  std::vector<Key> keys;
  for (int i = 0; i < 6; ++i) {
    std::string name = "t" + std::to_string(i);
    tasks.push_back(h.Task(name));
    keys.push_back(name);
  }
  for (auto& t : extra) {
    keys.push_back(t.key);
    tasks.push_back(std::move(t));
  }
  ASSERT_EQ(Only<ComputeTask>(h.Submit(tasks, keys)).size(), keys.size());
  h.Handle(AddWorker{2, 2, 0});
  ASSERT_EQ(h.state.ProcessingCount(2), 0u);
}

TEST(SchedulerStateTest, WorkStealingRequestAcceptReject) {
  Harness h;
  SaturateWorkerOne(h);
  // Worker 2 has two idle threads; worker 1 has five tasks beyond its one thread. The tasks it
  // would run last (worst priority) go first.
  EXPECT_EQ(h.Do(Tick{}), (Strings{"steal t5 1->2", "steal t4 1->2"}));
  EXPECT_EQ(h.Do(Tick{}), Strings{});  // nothing more while those are in flight

  // Request ids count from 1: t5 got 1, t4 got 2.
  EXPECT_EQ(h.Do(StealResponse{1, "t5", true, 1}), (Strings{"compute 2 t5"}));
  EXPECT_EQ(h.state.ProcessingOn("t5"), std::optional<WorkerId>(2));
  EXPECT_EQ(h.Do(StealResponse{1, "t4", false, 2}), Strings{});
  EXPECT_EQ(h.state.ProcessingOn("t4"), std::optional<WorkerId>(1));

  // Worker 2 still has an idle thread.
  EXPECT_EQ(h.Do(Tick{}), (Strings{"steal t4 1->2"}));
  // A duplicate or unknown answer changes nothing.
  EXPECT_EQ(h.Do(StealResponse{1, "t5", true, 1}), Strings{});
  EXPECT_EQ(h.Do(StealResponse{2, "t4", true, 3}), Strings{});  // not the victim
  EXPECT_EQ(h.Do(StealResponse{1, "t4", true, 2}), Strings{});  // an older request
  EXPECT_EQ(h.Do(StealResponse{1, "t4", true, 3}), (Strings{"compute 2 t4"}));
}

TEST(SchedulerStateTest, StealAnsweredAfterTheTaskCompleted) {
  Harness h;
  SaturateWorkerOne(h);
  EXPECT_EQ(h.Do(Tick{}), (Strings{"steal t5 1->2", "steal t4 1->2"}));
  // The victim finished t5 before it saw the request.
  EXPECT_EQ(h.Finish(1, "t5"), (Strings{"notify 7 t5 memory"}));
  EXPECT_EQ(h.Do(StealResponse{1, "t5", false, 1}), Strings{});
  EXPECT_EQ(h.Do(StealResponse{1, "t5", true, 1}), Strings{});
  EXPECT_EQ(h.state.TaskStateOf("t5"), TaskState::kMemory);
  EXPECT_EQ(h.state.WhoHas("t5"), std::vector<WorkerId>{1});
}

TEST(SchedulerStateTest, AnswerToAnOvertakenStealRequestIsIgnored) {
  Harness h;
  TaskSubmission retried = h.Task("t9");
  retried.retries = 1;
  retried.priority = -1;  // runs last: the first to be stolen
  retried.workers = {1};  // placed on worker 1 again when retried, still stealable
  retried.allow_other_workers = true;
  SaturateWorkerOne(h, {retried});
  auto steals = Only<StealRequest>(h.Handle(Tick{}));
  ASSERT_EQ(steals.size(), 2u);
  EXPECT_EQ(steals[0].key, Key("t9"));
  // t9 raises and is retried on worker 1; a new steal request follows.
  EXPECT_EQ(h.Fail(1, "t9", 3),
            (Strings{"release-handles run_spec=0 error=3", "compute 1 t9"}));
  auto again = Only<StealRequest>(h.Handle(Tick{}));
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].key, Key("t9"));
  EXPECT_NE(again[0].request_id, steals[0].request_id);
  // Worker 1 rejects the first request (it had started that attempt), then accepts the second.
  EXPECT_EQ(h.Do(StealResponse{1, "t9", false, steals[0].request_id}), Strings{});
  EXPECT_EQ(h.Do(StealResponse{1, "t9", true, again[0].request_id}), (Strings{"compute 2 t9"}));
}

TEST(SchedulerStateTest, StealAcceptedAfterTheThiefLeft) {
  Harness h;
  SaturateWorkerOne(h);
  EXPECT_EQ(h.Do(Tick{}), (Strings{"steal t5 1->2", "steal t4 1->2"}));
  h.Handle(RemoveWorker{2});
  // t5 has no thief anymore: it is placed again (worker 1 is the only one left).
  EXPECT_EQ(h.Do(StealResponse{1, "t5", true, 1}), (Strings{"compute 1 t5"}));
}

TEST(SchedulerStateTest, StealingSkipsTasksWithExpensiveInputs) {
  Harness h;
  h.Handle(AddWorker{1, 1, 0});
  h.Handle(UpdateData{kClient, {{"big", 1, 1'000'000'000}}});  // 10 s to move
  std::vector<TaskSubmission> tasks;
  std::vector<Key> keys;
  for (int i = 0; i < 4; ++i) {
    std::string name = "h" + std::to_string(i);
    tasks.push_back(h.Task(name, {"big"}));
    keys.push_back(name);
  }
  h.Submit(tasks, keys);
  h.Handle(AddWorker{2, 1, 0});
  EXPECT_EQ(h.Do(Tick{}), Strings{});
}

TEST(SchedulerStateTest, NoStealingOfTinyTasks) {
  Harness h;
  SaturateWorkerOne(h);
  // Reported durations of 1 ms: below steal_min_duration.
  h.Finish(1, "t0", 8, 0.001);
  EXPECT_EQ(h.Do(Tick{}), Strings{});
}

// ---------------------------------------------------------------------------------------------
// Races and failures.

TEST(SchedulerStateTest, LateResultFromARemovedWorkerIsIgnored) {
  Harness h;
  h.Handle(AddWorker{1, 1, 0});
  h.Handle(AddWorker{2, 1, 0});
  EXPECT_EQ(Describe(h.Submit({h.Task("t")}, {"t"})), (Strings{"compute 1 t"}));
  // Worker 1 dies; t is rescheduled on worker 2.
  EXPECT_EQ(h.Do(RemoveWorker{1}), (Strings{"compute 2 t"}));
  EXPECT_EQ(h.state.SuspiciousCount("t"), 1u);
  // Worker 1's result arrives after its removal: ignored.
  EXPECT_EQ(h.Finish(1, "t"), Strings{});
  EXPECT_EQ(h.state.ProcessingOn("t"), std::optional<WorkerId>(2));
  EXPECT_EQ(h.Finish(2, "t"), (Strings{"notify 7 t memory"}));
  EXPECT_EQ(h.state.WhoHas("t"), std::vector<WorkerId>{2});
}

TEST(SchedulerStateTest, StaleResultsAreNotTaken) {
  Harness h;
  h.Handle(AddWorker{1, 1, 0});
  h.Handle(AddWorker{2, 1, 0});
  TaskSubmission x = h.Task("x");
  x.workers = {2};
  TaskSubmission t = h.Task("t", {"x"});
  t.workers = {1};
  h.Submit({x, t}, {"t"});
  h.Finish(2, "x");
  const uint32_t first_run = h.runs["t"];
  // Worker 1 cannot fetch x: x is computed again, and t restarted.
  EXPECT_EQ(h.Do(MissingData{1, "x", 2}), (Strings{"free 2 [x]", "cancel 1 t", "compute 2 x"}));
  EXPECT_EQ(h.Finish(2, "x"), (Strings{"compute 1 t deps=[x@2]"}));
  ASSERT_NE(h.runs["t"], first_run);
  // Answers about the first run arrive late: ignored, the second run will answer.
  EXPECT_EQ(h.Do(TaskFinished{1, "t", 8, -1, first_run}), Strings{});
  EXPECT_EQ(h.Do(TaskErred{1, "t", 77, first_run}),
            (Strings{"release-handles run_spec=0 error=77"}));
  EXPECT_EQ(h.state.ProcessingOn("t"), std::optional<WorkerId>(1));
  EXPECT_EQ(h.Finish(1, "t"), (Strings{"notify 7 t memory", "free 2 [x]"}));
  // A worker that reports a result it was not asked for is told to drop it.
  EXPECT_EQ(h.Do(TaskFinished{2, "t", 8, -1, first_run}), (Strings{"free 2 [t]"}));
  EXPECT_EQ(h.state.WhoHas("t"), std::vector<WorkerId>{1});
}

TEST(SchedulerStateTest, KeyReleasedWhileItsDependentsRun) {
  Harness h;
  h.Handle(AddWorker{1, 1, 0});
  EXPECT_EQ(Describe(h.Submit({h.Task("a"), h.Task("b", {"a"})}, {"a", "b"})),
            (Strings{"compute 1 a"}));
  EXPECT_EQ(h.Finish(1, "a"), (Strings{"notify 7 a memory", "compute 1 b deps=[a@1]"}));
  // The client lets go of a while b still needs it: a stays in memory.
  EXPECT_EQ(h.Do(ReleaseKeys{kClient, {"a"}}), Strings{});
  EXPECT_EQ(h.state.TaskStateOf("a"), TaskState::kMemory);
  // Once b is done, a is freed (and kept as a released task, since b depends on it).
  EXPECT_EQ(h.Finish(1, "b"), (Strings{"notify 7 b memory", "free 1 [a]"}));
  EXPECT_EQ(h.state.TaskStateOf("a"), TaskState::kReleased);
  EXPECT_EQ(h.Do(ReleaseKeys{kClient, {"b"}}),
            (Strings{"free 1 [b]", "forgotten b", "forgotten a"}));
}

TEST(SchedulerStateTest, ReleasingARunningComputationCancelsIt) {
  Harness h;
  h.Handle(AddWorker{1, 1, 0});
  h.Submit({h.Task("a"), h.Task("b", {"a"})}, {"b"});
  EXPECT_EQ(h.Do(ReleaseKeys{kClient, {"b"}}),
            (Strings{"cancel 1 a", "forgotten b", "forgotten a"}));
  EXPECT_EQ(h.state.task_count(), 0u);
  EXPECT_EQ(h.state.ProcessingCount(1), 0u);
  // Its result arrives anyway: the worker is told to drop it.
  EXPECT_EQ(h.Finish(1, "a"), (Strings{"free 1 [a]"}));
}

TEST(SchedulerStateTest, ReleaseKeysForgetsEverything) {
  Harness h;
  h.Handle(AddWorker{1, 1, 0});
  h.Handle(AddWorker{2, 1, 0});
  h.Submit({h.Task("a"), h.Task("b", {"a"}), h.Task("c", {"a"}), h.Task("d", {"b", "c"})},
           {"b", "d"});
  h.Finish(1, "a");
  h.Finish(*h.state.ProcessingOn("b"), "b");
  h.Finish(*h.state.ProcessingOn("c"), "c");
  h.Finish(*h.state.ProcessingOn("d"), "d");
  EXPECT_EQ(h.state.TaskStateOf("b"), TaskState::kMemory);
  EXPECT_EQ(h.state.TaskStateOf("c"), TaskState::kReleased);
  auto frees = Only<FreeKeysOnWorker>(h.Handle(ReleaseKeys{kClient, {"b", "d"}}));
  size_t freed = 0;
  for (const auto& f : frees) freed += f.keys.size();
  EXPECT_EQ(freed, 2u);  // b and d
  EXPECT_EQ(h.state.task_count(), 0u);
}

TEST(SchedulerStateTest, WorkerRemovedMidGraphRecomputesLostResults) {
  Harness h;
  h.Handle(AddWorker{1, 1, 0});
  h.Handle(AddWorker{2, 1, 0});
  h.Submit({h.Task("a"), h.Task("b"), h.Task("c", {"a", "b"}), h.Task("d", {"c"})}, {"d"});
  h.Finish(1, "a", 100);
  EXPECT_EQ(h.Finish(2, "b", 10), (Strings{"compute 1 c deps=[a@1,b@2]"}));
  // Worker 2 dies while c runs on worker 1: b (held only by 2) is lost, c must start over.
  EXPECT_EQ(h.Do(RemoveWorker{2}), (Strings{"cancel 1 c", "compute 1 b"}));
  EXPECT_EQ(h.state.SuspiciousCount("b"), 0u);  // b was not processing on worker 2
  EXPECT_EQ(h.Finish(1, "b", 10), (Strings{"compute 1 c deps=[a@1,b@1]"}));
  EXPECT_EQ(h.Finish(1, "c"), (Strings{"free 1 [a,b]", "compute 1 d deps=[c@1]"}));
  EXPECT_EQ(h.Finish(1, "d"), (Strings{"notify 7 d memory", "free 1 [c]"}));

  // Now the worker holding the final result dies: the client hears "lost", and the graph is
  // computed again from the start on the new worker.
  h.Handle(AddWorker{3, 1, 0});
  EXPECT_EQ(h.Do(RemoveWorker{1}), (Strings{"notify 7 d lost", "compute 3 a", "compute 3 b"}));
  h.Finish(3, "a");
  h.Finish(3, "b");
  h.Finish(3, "c");
  EXPECT_EQ(h.Finish(3, "d"), (Strings{"notify 7 d memory", "free 3 [c]"}));
  EXPECT_EQ(h.state.WhoHas("d"), std::vector<WorkerId>{3});
}

TEST(SchedulerStateTest, KilledWorkerAfterThreeDeaths) {
  Harness h;
  h.Submit({h.Task("t"), h.Task("u", {"t"})}, {"u"});
  EXPECT_EQ(h.state.TaskStateOf("t"), TaskState::kQueued);  // root-ish, no workers yet
  for (WorkerId w : {1, 2}) {
    EXPECT_EQ(h.Do(AddWorker{w, 1, 0}), (Strings{"compute " + std::to_string(w) + " t"}));
    EXPECT_EQ(h.Do(RemoveWorker{w}), Strings{});
    EXPECT_EQ(h.state.SuspiciousCount("t"), w);
  }
  // A graceful close does not count.
  EXPECT_EQ(h.Do(AddWorker{3, 1, 0}), (Strings{"compute 3 t"}));
  EXPECT_EQ(h.Do(RemoveWorker{3, RemoveReason::kClosed}), Strings{});
  EXPECT_EQ(h.state.SuspiciousCount("t"), 2u);
  EXPECT_EQ(h.Do(AddWorker{4, 1, 0}), (Strings{"compute 4 t"}));
  EXPECT_EQ(h.Do(RemoveWorker{4}),
            (Strings{"killed t last=4 deaths=3", "notify 7 u erred killed-worker blame=t"}));
  EXPECT_EQ(h.state.TaskStateOf("t"), TaskState::kErred);
  EXPECT_EQ(h.state.TaskStateOf("u"), TaskState::kErred);
  EXPECT_EQ(h.state.ErrorOf("u"), (TaskError{ErrorKind::kKilledWorker, kNoHandle, "t"}));
  EXPECT_EQ(h.Do(ReleaseKeys{kClient, {"u"}}), (Strings{"forgotten u", "forgotten t"}));
}

TEST(SchedulerStateTest, KilledWorkerLimitIsAnOption) {
  SchedulerOptions options;
  options.killed_worker_limit = 1;
  Harness h(options);
  h.Handle(AddWorker{1, 1, 0});
  h.Submit({h.Task("t")}, {"t"});
  EXPECT_EQ(h.Do(RemoveWorker{1}),
            (Strings{"killed t last=1 deaths=1", "notify 7 t erred killed-worker blame=t"}));
}

TEST(SchedulerStateTest, RetriesRerunATaskThatRaised) {
  Harness h;
  h.Handle(AddWorker{1, 1, 0});
  TaskSubmission t = h.Task("t");
  t.retries = 1;
  h.Submit({t, h.Task("u", {"t"})}, {"t", "u"});
  EXPECT_EQ(h.Fail(1, "t", 55), (Strings{"release-handles run_spec=0 error=55", "compute 1 t"}));
  EXPECT_EQ(h.Fail(1, "t", 56),
            (Strings{"notify 7 t erred task-raised blame=t",
                     "notify 7 u erred task-raised blame=t"}));
  EXPECT_EQ(h.state.ErrorOf("u"), (TaskError{ErrorKind::kTaskRaised, 56, "t"}));
  // An error for a task that is not processing there is handed back.
  EXPECT_EQ(h.Fail(1, "t", 57), (Strings{"release-handles run_spec=0 error=57"}));
  // The error handle goes back with the task that owns it.
  auto forgotten = Only<TaskForgotten>(h.Handle(ReleaseKeys{kClient, {"t", "u"}}));
  ASSERT_EQ(forgotten.size(), 2u);
  EXPECT_EQ(forgotten[0].key, Key("u"));
  EXPECT_EQ(forgotten[0].error, kNoHandle);
  EXPECT_EQ(forgotten[1].key, Key("t"));
  EXPECT_EQ(forgotten[1].error, 56u);
}

TEST(SchedulerStateTest, NewDependentsOfAnErredTaskErr) {
  Harness h;
  h.Handle(AddWorker{1, 1, 0});
  h.Submit({h.Task("t")}, {"t"});
  h.Fail(1, "t", 9);
  EXPECT_EQ(h.Do(UpdateGraph{kClient, {h.Task("v", {"t"})}, {"v"}}),
            (Strings{"notify 7 v erred task-raised blame=t"}));
}

TEST(SchedulerStateTest, HeartbeatTimeoutRemovesSilentWorkers) {
  SchedulerOptions options;
  options.worker_ttl = seconds(10);
  Harness h(options);
  const auto t0 = h.now;
  h.Handle(AddWorker{1, 1, 0});
  h.Handle(AddWorker{2, 1, 0});
  h.Submit({h.Task("t")}, {"t"});
  EXPECT_EQ(h.state.ProcessingOn("t"), std::optional<WorkerId>(1));
  h.now = t0 + seconds(8);
  h.Handle(Heartbeat{2});
  h.now = t0 + seconds(9);
  EXPECT_EQ(h.Do(Tick{}), Strings{});
  h.now = t0 + seconds(12);
  EXPECT_EQ(h.Do(Tick{}), (Strings{"close 1 heartbeat-timeout", "compute 2 t"}));
  EXPECT_EQ(h.state.WorkerStatusOf(1), WorkerStatus::kClosed);
  EXPECT_EQ(h.state.WorkerStatusOf(2), WorkerStatus::kRunning);
  EXPECT_EQ(h.state.SuspiciousCount("t"), 1u);
  // Any message counts as a heartbeat.
  h.now = t0 + seconds(17);
  h.Finish(2, "t");
  h.now = t0 + seconds(26);
  EXPECT_EQ(h.Do(Tick{}), Strings{});
  EXPECT_EQ(h.state.Workers(), std::vector<WorkerId>{2});
}

TEST(SchedulerStateTest, MissingDataRefreshesOrRecomputes) {
  Harness h;
  for (WorkerId w : {1, 2, 3}) h.Handle(AddWorker{w, 1, 0});
  TaskSubmission x = h.Task("x");
  x.workers = {1};
  h.Submit({x}, {"x"});
  h.Finish(1, "x");
  h.Handle(AddReplicas{2, {"x"}});
  TaskSubmission t = h.Task("t", {"x"});
  t.workers = {3};
  EXPECT_EQ(Describe(h.Submit({t}, {"t"})), (Strings{"compute 3 t deps=[x@1|2]"}));
  // Worker 3 cannot reach worker 1: try worker 2 instead.
  EXPECT_EQ(h.Do(MissingData{3, "x", 1}), (Strings{"free 1 [x]", "refresh 3 x [2]"}));
  // Nor worker 2: x is lost; t starts over once x is computed again (only on 1).
  EXPECT_EQ(h.Do(MissingData{3, "x", 2}),
            (Strings{"free 2 [x]", "notify 7 x lost", "cancel 3 t", "compute 1 x"}));
  EXPECT_EQ(h.Finish(1, "x"), (Strings{"notify 7 x memory", "compute 3 t deps=[x@1]"}));
  // A report about a holder that is no longer one just refreshes.
  EXPECT_EQ(h.Do(MissingData{3, "x", 2}), (Strings{"refresh 3 x [1]"}));
}

TEST(SchedulerStateTest, LostScatteredDataErrsItsDependents) {
  Harness h;
  h.Handle(AddWorker{1, 1, 0});
  h.Handle(AddWorker{2, 1, 0});
  h.Handle(UpdateData{kClient, {{"x", 1, 8}}});
  EXPECT_EQ(h.state.TaskStateOf("x"), TaskState::kMemory);
  TaskSubmission t = h.Task("t", {"x"});
  t.workers = {2};
  h.Submit({t}, {"t"});
  EXPECT_EQ(h.Do(RemoveWorker{1}),
            (Strings{"notify 7 x lost", "notify 7 x erred lost-data blame=x", "cancel 2 t",
                     "notify 7 t erred lost-data blame=x"}));
}

TEST(SchedulerStateTest, WorkerDroppingItsOnlyCopyTriggersARecompute) {
  Harness h;
  h.Handle(AddWorker{1, 1, 0});
  h.Submit({h.Task("a"), h.Task("b", {"a"})}, {"a", "b"});
  h.Finish(1, "a");
  // Worker 1 drops a while b still needs it: a is computed again and b waits for it.
  EXPECT_EQ(h.Do(ReleaseWorkerData{1, "a"}),
            (Strings{"notify 7 a lost", "cancel 1 b", "compute 1 a"}));
  EXPECT_EQ(h.Finish(1, "a"), (Strings{"notify 7 a memory", "compute 1 b deps=[a@1]"}));
  // A drop report for a copy the scheduler does not count is ignored.
  EXPECT_EQ(h.Do(ReleaseWorkerData{1, "b"}), Strings{});
}

TEST(SchedulerStateTest, RescheduleRunsTheTaskAgainWithoutBlame) {
  Harness h;
  h.Handle(AddWorker{1, 1, 0});
  h.Submit({h.Task("t")}, {"t"});
  const uint32_t run = h.runs["t"];
  EXPECT_EQ(h.Do(Reschedule{1, "t", run}), (Strings{"compute 1 t"}));
  EXPECT_EQ(h.state.SuspiciousCount("t"), 0u);
  EXPECT_EQ(h.Do(Reschedule{1, "t", run}), Strings{});  // stale
}

TEST(SchedulerStateTest, LongRunningTasksFreeTheirSlot) {
  Harness h;
  h.Handle(AddWorker{1, 1, 0});  // 2 slots
  std::vector<TaskSubmission> tasks;
  std::vector<Key> keys;
  for (int i = 0; i < 5; ++i) {
    tasks.push_back(h.Task(Tup("r", i)));
    keys.push_back(Tup("r", i));
  }
  EXPECT_EQ(Describe(h.Submit(tasks, keys)), (Strings{"compute 1 ('r', 0)", "compute 1 ('r', 1)"}));
  // ('r', 0) secedes (it waits on something): its slot goes to the next queued task.
  EXPECT_EQ(h.Do(LongRunning{1, Tup("r", 0), h.runs["('r', 0)"]}), (Strings{"compute 1 ('r', 2)"}));
  EXPECT_EQ(h.state.ProcessingCount(1), 3u);
  EXPECT_EQ(h.Finish(1, Tup("r", 0)), (Strings{"notify 7 ('r', 0) memory"}));
}

TEST(SchedulerStateTest, RequestWhoHasIsAnswered) {
  Harness h;
  h.Handle(AddWorker{1, 1, 0});
  h.Handle(AddWorker{2, 1, 0});
  h.Handle(UpdateData{kClient, {{"x", 1, 8}, {"x", 2, 8}}});
  EXPECT_EQ(h.Do(RequestWhoHas{2, {"x", "nope"}}),
            (Strings{"refresh 2 x [1,2]", "refresh 2 nope []"}));
}

TEST(SchedulerStateTest, BadGraphsErrInsteadOfHanging) {
  Harness h;
  h.Handle(AddWorker{1, 1, 0});
  // A cycle (p <-> q, r downstream) and a missing dependency.
  EXPECT_EQ(h.DoInteresting(UpdateGraph{kClient,
                                        {h.Task("p", {"q"}), h.Task("q", {"p"}),
                                         h.Task("r", {"q"}), h.Task("s", {"nope"}),
                                         h.Task("ok")},
                                        {"r", "s", "ok", "unknown"}}),
            (Strings{"notify 7 unknown erred missing-dependency blame=unknown",
                     "notify 7 r erred cycle blame=r",
                     "notify 7 s erred missing-dependency blame=s",
                     "compute 1 ok"}));
  h.Handle(ReleaseKeys{kClient, {"r", "s", "ok"}});
  EXPECT_EQ(h.state.task_count(), 0u);
}

TEST(SchedulerStateTest, StaleEventsAreIgnored) {
  Harness h;
  EXPECT_EQ(h.Do(TaskFinished{5, "x", 1}), Strings{});
  EXPECT_EQ(h.Do(RemoveWorker{5}), Strings{});
  EXPECT_EQ(h.Do(Heartbeat{5}), Strings{});
  EXPECT_EQ(h.Do(StealResponse{5, "x", true}), Strings{});
  EXPECT_EQ(h.Do(MissingData{5, "x", 6}), Strings{});
  EXPECT_EQ(h.Do(ReleaseKeys{5, {"x"}}), Strings{});
  EXPECT_EQ(h.Do(RemoveClient{5}), Strings{});
  h.Handle(AddWorker{1, 1, 0});
  EXPECT_EQ(h.Do(AddWorker{1, 4, 0}), Strings{});  // duplicate id
  EXPECT_EQ(h.Do(TaskFinished{1, "x", 1}), (Strings{"free 1 [x]"}));
  EXPECT_EQ(h.Do(AddReplicas{1, {"y"}}), (Strings{"free 1 [y]"}));
}

// ---------------------------------------------------------------------------------------------
// Memory per task.

size_t HeapInUse() {
#if defined(__GLIBC__)
  struct mallinfo2 info = mallinfo2();
  return info.uordblks + info.hblkhd;
#else
  return 0;
#endif
}

TEST(SchedulerStateTest, MemoryPerTaskOnAMillionTaskChain) {
  constexpr int kTasks = 1'000'000;
  size_t before = HeapInUse();
  SchedulerState state;
  const auto now = Clock::time_point{} + std::chrono::hours(1);
  state.Handle(AddWorker{1, 1, 0}, now);
  uint32_t run = 0;
  {
    UpdateGraph update{kClient, {}, {}};
    update.tasks.reserve(kTasks);
    for (int i = 0; i < kTasks; ++i) {
      TaskSubmission s;
      s.key = "chain-" + std::to_string(i);
      if (i > 0) s.dependencies.push_back("chain-" + std::to_string(i - 1));
      s.run_spec = static_cast<RunSpecHandle>(i + 1);
      update.tasks.push_back(std::move(s));
    }
    update.wanted.push_back("chain-" + std::to_string(kTasks - 1));
    Actions actions = state.Handle(update, now);
    ASSERT_EQ(actions.size(), 1u);
    EXPECT_EQ(ToString(actions[0]), "compute 1 chain-0");
    run = std::get<ComputeTask>(actions[0]).run_id;
  }
  ASSERT_EQ(state.task_count(), static_cast<size_t>(kTasks));
  const size_t after = HeapInUse();
  const size_t estimate = state.TEST_BytesPerTaskEstimate();
  const bool measured = before != 0 && after > before;  // not under ASan's allocator
  if (measured) {
    std::printf("[ scheduler ] 1M-task chain: %.1f bytes/task (mallinfo2), %zu estimated\n",
                double(after - before) / kTasks, estimate);
    EXPECT_LE((after - before) / kTasks, 1024u);
  } else {
    std::printf("[ scheduler ] 1M-task chain: %zu bytes/task estimated\n", estimate);
  }
  EXPECT_LE(estimate, 1024u);

  // Run the first steps of the chain: each result frees its input.
  for (int i = 0; i < 1000; ++i) {
    Actions actions = state.Handle(TaskFinished{1, "chain-" + std::to_string(i), 8, -1, run}, now);
    auto computes = Only<ComputeTask>(actions);
    ASSERT_EQ(computes.size(), 1u);
    run = computes[0].run_id;
  }
  EXPECT_EQ(state.TaskStateOf("chain-998"), TaskState::kReleased);
  EXPECT_EQ(state.TaskStateOf("chain-999"), TaskState::kMemory);
  // Releasing the wanted key forgets the whole chain, iteratively.
  state.Handle(ReleaseKeys{kClient, {"chain-" + std::to_string(kTasks - 1)}}, now);
  EXPECT_EQ(state.task_count(), 0u);
  EXPECT_TRUE(state.TEST_CheckInvariants().ok());
}

TEST(SchedulerStateTest, MemoryPerTaskOnAMillionQueuedRootTasks) {
  constexpr int kTasks = 1'000'000;
  size_t before = HeapInUse();
  SchedulerState state;
  const auto now = Clock::time_point{} + std::chrono::hours(1);
  state.Handle(AddWorker{1, 4, 0}, now);
  state.Handle(AddWorker{2, 4, 0}, now);
  {
    // client.map(inc, range(1M)): every key wanted, all root-ish, nearly all queued.
    UpdateGraph update{kClient, {}, {}};
    update.tasks.reserve(kTasks);
    update.wanted.reserve(kTasks);
    for (int i = 0; i < kTasks; ++i) {
      Key key = "inc-" + std::to_string(i);
      update.tasks.push_back(TaskSubmission{key, {}, static_cast<RunSpecHandle>(i + 1)});
      update.wanted.push_back(std::move(key));
    }
    EXPECT_EQ(Only<ComputeTask>(state.Handle(update, now)).size(), 10u);  // 2 x ceil(4 x 1.1)
  }
  EXPECT_EQ(state.queued_count(), static_cast<size_t>(kTasks - 10));
  const size_t after = HeapInUse();
  const size_t estimate = state.TEST_BytesPerTaskEstimate();
  if (before != 0 && after > before) {
    std::printf("[ scheduler ] 1M queued root tasks: %.1f bytes/task (mallinfo2), %zu estimated\n",
                double(after - before) / kTasks, estimate);
    EXPECT_LE((after - before) / kTasks, 1024u);
  }
  EXPECT_LE(estimate, 1024u);
}

}  // namespace
}  // namespace tegu::scheduler
