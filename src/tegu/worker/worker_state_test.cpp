// Tests of tegu::worker::WorkerState, the worker's sans-IO state machine: exact instructions for
// the common flows (compute, fetch dependencies, slots and priorities, transfer limits), for each
// race the worker must survive (a task freed while it runs or while its data is in flight,
// wanted again while cancelled, a failed fetch, a steal of a running task), and a randomized
// simulation of a scheduler, peers and executor threads that checks the invariants after every
// event and that everything settles once the simulation drains. No sockets, threads or sleeps:
// time is a counter passed into Handle.

#include "tegu/worker/worker_state.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace tegu::worker {
namespace {

using namespace std::chrono_literals;

const std::string kSelf = "tcp://10.0.0.1:9000";
const std::string kLocalPeer = "tcp://10.0.0.1:9001";  // same host as kSelf
const std::string kA = "tcp://10.0.0.2:9000";
const std::string kB = "tcp://10.0.0.3:9000";
const std::string kC = "tcp://10.0.0.4:9000";

Dependency Dep(const char* key, std::vector<std::string> who_has, uint64_t nbytes) {
  return Dependency{key, std::move(who_has), nbytes};
}

ComputeTask Compute(const char* key, std::vector<Dependency> deps = {}, Priority priority = {0},
                    uint64_t run_spec = 7) {
  ComputeTask ev;
  ev.key = key;
  ev.run_spec = run_spec;
  ev.priority = std::move(priority);
  ev.dependencies = std::move(deps);
  return ev;
}

// `ev` with the scheduler's run id set.
ComputeTask WithRun(ComputeTask ev, uint32_t run_id) {
  ev.run_id = run_id;
  return ev;
}

// Counts what the memory accounting hook hears.
class FakeAccounting : public MemoryAccounting {
 public:
  void OnStore(const Key& key, uint64_t nbytes) override {
    EXPECT_EQ(held_.count(key.ToString()), 0u) << key.ToString();
    held_[key.ToString()] = nbytes;
    total_ += nbytes;
  }
  void OnRelease(const Key& key, uint64_t nbytes) override {
    auto it = held_.find(key.ToString());
    ASSERT_NE(it, held_.end()) << key.ToString();
    EXPECT_EQ(it->second, nbytes);
    held_.erase(it);
    total_ -= nbytes;
  }
  uint64_t total() const { return total_; }
  size_t keys() const { return held_.size(); }

 private:
  std::map<std::string, uint64_t> held_;
  uint64_t total_ = 0;
};

class WorkerStateTest : public ::testing::Test {
 protected:
  void SetUp() override { Reset(); }

  // Starts over with options; `nthreads` and the address are the common knobs.
  void Reset(int nthreads = 1, WorkerStateOptions options = {}) {
    options.address = kSelf;
    options.nthreads = nthreads;
    options.memory_accounting = &accounting_;
    accounting_ = FakeAccounting();
    ws_.emplace(options);
  }

  // Handles one event 1 ms after the previous one; every test checks the invariants after
  // every event.
  Instructions H(const StateMachineEvent& ev) {
    now_ += 1ms;
    Instructions out = ws_->Handle(ev, now_);
    Status st = ws_->TEST_CheckInvariants();
    EXPECT_TRUE(st.ok()) << st.ToString();
    EXPECT_EQ(accounting_.total(), ws_->memory_bytes());
    return out;
  }

  std::optional<State> S(const char* key) const { return ws_->GetState(key); }

  std::optional<WorkerState> ws_;
  FakeAccounting accounting_;
  Clock::time_point now_{};
};

// --- common flows ---------------------------------------------------------------------------

TEST_F(WorkerStateTest, ComputeExecuteFinishRelease) {
  EXPECT_EQ(H(WithRun(Compute("x", {}, {0}, 11), 5)), (Instructions{Execute{"x", 11}}));
  EXPECT_EQ(S("x"), State::kExecuting);
  EXPECT_EQ(ws_->executing_count(), 1u);

  EXPECT_EQ(H(ExecuteSuccess{"x", 8}), (Instructions{TaskFinishedMsg{"x", 8, 5}}));
  EXPECT_EQ(S("x"), State::kMemory);
  EXPECT_TRUE(ws_->InMemory("x"));
  EXPECT_EQ(ws_->memory_bytes(), 8u);
  EXPECT_EQ(ws_->executing_count(), 0u);

  EXPECT_EQ(H(FreeKeys{{"x"}}), (Instructions{DiscardData{"x"}, ReleaseWorkerDataMsg{"x"}}));
  EXPECT_EQ(S("x"), std::nullopt);
  EXPECT_EQ(ws_->task_count(), 0u);
  EXPECT_EQ(ws_->memory_bytes(), 0u);
}

TEST_F(WorkerStateTest, ComputeTaskForAKeyInMemoryReportsItAgain) {
  H(WithRun(Compute("x"), 1));
  H(ExecuteSuccess{"x", 8});
  // Answered with the new request's run id.
  EXPECT_EQ(H(WithRun(Compute("x"), 2)), (Instructions{TaskFinishedMsg{"x", 8, 2}}));
  // A duplicate while it runs or waits changes nothing.
  H(Compute("y"));
  EXPECT_EQ(H(Compute("y")), Instructions{});
}

TEST_F(WorkerStateTest, FailureIsReportedAndTheKeyCanBeComputedAgain) {
  H(WithRun(Compute("x"), 1));
  EXPECT_EQ(H(ExecuteFailure{"x", 42}), (Instructions{TaskErredMsg{"x", 42, 1}}));
  EXPECT_EQ(S("x"), State::kError);
  EXPECT_EQ(H(WithRun(Compute("x", {}, {0}, 12), 2)), (Instructions{Execute{"x", 12}}));
  EXPECT_EQ(H(ExecuteSuccess{"x", 3}), (Instructions{TaskFinishedMsg{"x", 3, 2}}));
}

TEST_F(WorkerStateTest, RescheduleReleasesTheTask) {
  H(WithRun(Compute("x"), 4));
  EXPECT_EQ(H(ExecuteReschedule{"x"}), (Instructions{RescheduleMsg{"x", 4}}));
  EXPECT_EQ(S("x"), std::nullopt);
}

TEST_F(WorkerStateTest, ReportsEchoTheRunIdOfTheComputeTask) {
  Reset(4);
  EXPECT_EQ(H(WithRun(Compute("ok"), 10)), (Instructions{Execute{"ok", 7}}));
  EXPECT_EQ(H(WithRun(Compute("bad"), 11)), (Instructions{Execute{"bad", 7}}));
  EXPECT_EQ(H(WithRun(Compute("moved"), 12)), (Instructions{Execute{"moved", 7}}));
  EXPECT_EQ(H(WithRun(Compute("long"), 13)), (Instructions{Execute{"long", 7}}));
  now_ += 2ms;
  EXPECT_EQ(H(Secede{"long"}), (Instructions{LongRunningMsg{"long", 3ms, 13}}));
  EXPECT_EQ(H(ExecuteSuccess{"ok", 1}), (Instructions{TaskFinishedMsg{"ok", 1, 10}}));
  EXPECT_EQ(H(ExecuteFailure{"bad", 5}), (Instructions{TaskErredMsg{"bad", 5, 11}}));
  EXPECT_EQ(H(ExecuteReschedule{"moved"}), (Instructions{RescheduleMsg{"moved", 12}}));
  EXPECT_EQ(H(ExecuteSuccess{"long", 2}), (Instructions{TaskFinishedMsg{"long", 2, 13}}));
}

TEST_F(WorkerStateTest, ComputeTaskAgainWhileExecutingReportsTheNewRunId) {
  H(WithRun(Compute("x"), 1));
  H(WithRun(Compute("q"), 2));  // waits for the slot
  // Re-requested while it runs or waits: nothing new to do, but the report answers the latest
  // request (as Dask's worker, which takes ts.run_id from every compute-task).
  EXPECT_EQ(H(WithRun(Compute("x"), 3)), Instructions{});
  EXPECT_EQ(H(WithRun(Compute("q"), 4)), Instructions{});
  EXPECT_EQ(H(ExecuteSuccess{"x", 8}),
            (Instructions{TaskFinishedMsg{"x", 8, 3}, Execute{"q", 7}}));
  EXPECT_EQ(H(WithRun(Compute("q"), 5)), Instructions{});
  now_ += 1ms;  // q started at 5 ms; it secedes at 8 ms
  EXPECT_EQ(H(Secede{"q"}), (Instructions{LongRunningMsg{"q", 3ms, 5}}));
  EXPECT_EQ(H(WithRun(Compute("q"), 6)), Instructions{});
  EXPECT_EQ(H(ExecuteFailure{"q", 9}), (Instructions{TaskErredMsg{"q", 9, 6}}));
}

TEST_F(WorkerStateTest, AtMostNthreadsExecuteAndReadyTasksRunInPriorityOrder) {
  Reset(2);
  EXPECT_EQ(H(Compute("a", {}, {5})), (Instructions{Execute{"a", 7}}));
  EXPECT_EQ(H(Compute("b", {}, {1})), (Instructions{Execute{"b", 7}}));
  EXPECT_EQ(H(Compute("c", {}, {3})), Instructions{});
  EXPECT_EQ(H(Compute("d", {}, {0, 9})), Instructions{});
  EXPECT_EQ(H(Compute("e", {}, {0, 2})), Instructions{});
  EXPECT_EQ(ws_->executing_count(), 2u);
  EXPECT_EQ(S("c"), State::kReady);

  // (0, 2) < (0, 9) < (3,): tuples compare element by element.
  EXPECT_EQ(H(ExecuteSuccess{"a", 1}), (Instructions{TaskFinishedMsg{"a", 1}, Execute{"e", 7}}));
  EXPECT_EQ(H(ExecuteSuccess{"b", 1}), (Instructions{TaskFinishedMsg{"b", 1}, Execute{"d", 7}}));
  EXPECT_EQ(H(ExecuteFailure{"e", 1}), (Instructions{TaskErredMsg{"e", 1}, Execute{"c", 7}}));
}

TEST_F(WorkerStateTest, EqualPrioritiesRunLatestRequestFirst) {
  H(Compute("running"));
  H(Compute("p", {}, {1}));
  H(Compute("q", {}, {1}));
  // As Dask: a generation counter breaks ties, last in first out (depth first).
  EXPECT_EQ(H(ExecuteSuccess{"running", 1}),
            (Instructions{TaskFinishedMsg{"running", 1}, Execute{"q", 7}}));
}

TEST_F(WorkerStateTest, DependencyAlreadyHereIsNotFetched) {
  H(Compute("a"));
  H(ExecuteSuccess{"a", 5});
  // The scheduler lists this worker among the holders.
  EXPECT_EQ(H(Compute("b", {Dep("a", {kSelf}, 5)})), (Instructions{Execute{"b", 7}}));
}

TEST_F(WorkerStateTest, DependenciesAreFetchedInBatchesPerPeer) {
  EXPECT_EQ(H(Compute("t", {Dep("d1", {kA}, 10), Dep("d2", {kA}, 20), Dep("d3", {kB}, 5)})),
            (Instructions{GatherDep{kA, {"d1", "d2"}, 30}, GatherDep{kB, {"d3"}, 5}}));
  EXPECT_EQ(S("t"), State::kWaiting);
  EXPECT_EQ(S("d1"), State::kFlight);
  EXPECT_EQ(ws_->transfer_incoming_count(), 2u);
  EXPECT_EQ(ws_->transfer_incoming_bytes(), 35u);

  EXPECT_EQ(H(GatherDepSuccess{kA, {{"d1", 11}, {"d2", 19}}}),
            (Instructions{AddKeyMsg{"d1", 11}, AddKeyMsg{"d2", 19}}));
  EXPECT_EQ(ws_->transfer_incoming_bytes(), 5u);
  EXPECT_EQ(S("t"), State::kWaiting);

  EXPECT_EQ(H(GatherDepSuccess{kB, {{"d3", 5}}}),
            (Instructions{AddKeyMsg{"d3", 5}, Execute{"t", 7}}));
  EXPECT_EQ(ws_->memory_bytes(), 35u);
  EXPECT_EQ(ws_->transfer_incoming_count(), 0u);

  H(ExecuteSuccess{"t", 1});
  // The dependencies stay until the scheduler frees them; then they are forgotten.
  EXPECT_EQ(H(FreeKeys{{"t", "d1"}}),
            (Instructions{DiscardData{"t"}, ReleaseWorkerDataMsg{"t"}, DiscardData{"d1"},
                          ReleaseWorkerDataMsg{"d1"}}));
  EXPECT_EQ(S("d1"), std::nullopt);
  EXPECT_EQ(S("d2"), State::kMemory);
}

TEST_F(WorkerStateTest, PeerWithTheMostWantedBytesIsAskedFirst) {
  WorkerStateOptions o;
  o.transfer_incoming_count_limit = 1;
  Reset(1, o);
  EXPECT_EQ(H(Compute("t", {Dep("a", {kA}, 10), Dep("b1", {kB}, 8), Dep("b2", {kB}, 8)})),
            (Instructions{GatherDep{kB, {"b1", "b2"}, 16}}));
  EXPECT_EQ(H(GatherDepSuccess{kB, {{"b1", 8}, {"b2", 8}}}),
            (Instructions{AddKeyMsg{"b1", 8}, AddKeyMsg{"b2", 8}, GatherDep{kA, {"a"}, 10}}));
}

TEST_F(WorkerStateTest, PeerOnTheSameHostIsPreferred) {
  EXPECT_EQ(H(Compute("t", {Dep("far", {kA}, 1000), Dep("near", {kLocalPeer}, 1)})),
            (Instructions{GatherDep{kLocalPeer, {"near"}, 1}, GatherDep{kA, {"far"}, 1000}}));
}

TEST_F(WorkerStateTest, MostUrgentKeyIsFetchedFirst) {
  WorkerStateOptions o;
  o.transfer_incoming_count_limit = 1;
  Reset(1, o);
  H(PauseEvent{});
  H(Compute("late", {Dep("big", {kA}, 100)}, {5}));
  H(Compute("soon", {Dep("small", {kB}, 1)}, {1}));
  EXPECT_EQ(H(UnpauseEvent{}), (Instructions{GatherDep{kB, {"small"}, 1}}));
}

TEST_F(WorkerStateTest, TransferCountLimitQueuesFurtherPeers) {
  WorkerStateOptions o;
  o.transfer_incoming_count_limit = 2;
  Reset(1, o);
  EXPECT_EQ(H(Compute("t", {Dep("a", {kA}, 3), Dep("b", {kB}, 2), Dep("c", {kC}, 1)})),
            (Instructions{GatherDep{kA, {"a"}, 3}, GatherDep{kB, {"b"}, 2}}));
  EXPECT_EQ(ws_->transfer_incoming_count(), 2u);
  EXPECT_EQ(S("c"), State::kFetch);
  EXPECT_EQ(H(GatherDepSuccess{kB, {{"b", 2}}}),
            (Instructions{AddKeyMsg{"b", 2}, GatherDep{kC, {"c"}, 1}}));
}

TEST_F(WorkerStateTest, MessageBytesLimitSplitsBatches) {
  WorkerStateOptions o;
  o.transfer_message_bytes_limit = 25;
  Reset(1, o);
  EXPECT_EQ(H(Compute("t", {Dep("d1", {kA}, 10), Dep("d2", {kA}, 10), Dep("d3", {kA}, 10)})),
            (Instructions{GatherDep{kA, {"d1", "d2"}, 20}}));
  EXPECT_EQ(H(GatherDepSuccess{kA, {{"d1", 10}, {"d2", 10}}}),
            (Instructions{AddKeyMsg{"d1", 10}, AddKeyMsg{"d2", 10}, GatherDep{kA, {"d3"}, 10}}));
}

TEST_F(WorkerStateTest, IncomingBytesLimitWaitsButAlwaysMakesProgress) {
  WorkerStateOptions o;
  o.transfer_incoming_bytes_limit = 15;
  Reset(1, o);
  // Larger than the limit, but nothing else is in flight: it goes.
  EXPECT_EQ(H(Compute("t", {Dep("huge", {kA}, 100)})),
            (Instructions{GatherDep{kA, {"huge"}, 100}}));
  EXPECT_EQ(H(Compute("u", {Dep("small", {kB}, 10)})), Instructions{});
  EXPECT_EQ(S("small"), State::kFetch);
  EXPECT_EQ(H(GatherDepSuccess{kA, {{"huge", 100}}}),
            (Instructions{AddKeyMsg{"huge", 100}, Execute{"t", 7}, GatherDep{kB, {"small"}, 10}}));
}

TEST_F(WorkerStateTest, UnknownSizeCountsAsDefaultNbytes) {
  WorkerStateOptions o;
  o.default_nbytes = 64;
  Reset(1, o);
  EXPECT_EQ(H(Compute("t", {Dep("d", {kA}, 0)})), (Instructions{GatherDep{kA, {"d"}, 64}}));
}

TEST_F(WorkerStateTest, AKeyIsNeverFetchedTwice) {
  EXPECT_EQ(H(Compute("t1", {Dep("d", {kA, kB}, 5)})), (Instructions{GatherDep{kA, {"d"}, 5}}));
  EXPECT_EQ(H(Compute("t2", {Dep("d", {kA, kB}, 5)})), Instructions{});
  EXPECT_EQ(H(AcquireReplicas{{Dep("d", {kB}, 5)}}), Instructions{});
  EXPECT_EQ(H(GatherDepSuccess{kA, {{"d", 5}}}),
            (Instructions{AddKeyMsg{"d", 5}, Execute{"t2", 7}}));
  // t1 waits for the slot; nothing fetches d again.
  EXPECT_EQ(H(RefreshWhoHas{{{"d", {kB, kC}}}}), Instructions{});
}

TEST_F(WorkerStateTest, PauseStopsNewExecutionsAndTransfers) {
  H(PauseEvent{});
  EXPECT_FALSE(ws_->running());
  EXPECT_EQ(H(Compute("x")), Instructions{});
  EXPECT_EQ(H(Compute("t", {Dep("d", {kA}, 1)})), Instructions{});
  EXPECT_EQ(S("x"), State::kReady);
  EXPECT_EQ(S("d"), State::kFetch);
  EXPECT_EQ(H(UnpauseEvent{}), (Instructions{Execute{"x", 7}, GatherDep{kA, {"d"}, 1}}));
}

TEST_F(WorkerStateTest, ResourceRestrictionsWaitForResources) {
  WorkerStateOptions o;
  o.resources = {{"GPU", 1}};
  Reset(3, o);
  ComputeTask g1 = Compute("g1");
  g1.resource_restrictions = {{"GPU", 1}};
  ComputeTask g2 = Compute("g2");
  g2.resource_restrictions = {{"GPU", 1}};
  EXPECT_EQ(H(g1), (Instructions{Execute{"g1", 7}}));
  EXPECT_EQ(H(g2), Instructions{});
  EXPECT_EQ(S("g2"), State::kConstrained);
  EXPECT_EQ(H(Compute("cpu")), (Instructions{Execute{"cpu", 7}}));
  EXPECT_EQ(H(ExecuteSuccess{"g1", 1}),
            (Instructions{TaskFinishedMsg{"g1", 1}, Execute{"g2", 7}}));
}

TEST_F(WorkerStateTest, SecedeFreesTheSlotAndRejoinWaitsForOne) {
  H(WithRun(Compute("x"), 1));
  H(WithRun(Compute("y"), 2));
  now_ += 4ms;  // x started at 1 ms; it secedes at 7 ms
  EXPECT_EQ(H(Secede{"x"}), (Instructions{LongRunningMsg{"x", 6ms, 1}, Execute{"y", 7}}));
  EXPECT_EQ(S("x"), State::kLongRunning);
  EXPECT_EQ(ws_->executing_count(), 1u);
  EXPECT_EQ(ws_->long_running_count(), 1u);

  EXPECT_EQ(H(Rejoin{"x"}), Instructions{});  // y holds the only slot
  EXPECT_EQ(H(ExecuteSuccess{"y", 1}),
            (Instructions{RejoinGranted{"x"}, TaskFinishedMsg{"y", 1, 2}}));
  EXPECT_EQ(S("x"), State::kExecuting);
  EXPECT_EQ(H(ExecuteSuccess{"x", 2}), (Instructions{TaskFinishedMsg{"x", 2, 1}}));
}

TEST_F(WorkerStateTest, SecededTaskEndingWhileWaitingToRejoinLeavesTheQueue) {
  H(Compute("x"));
  H(Compute("y"));
  H(Secede{"x"});
  H(Rejoin{"x"});
  EXPECT_EQ(H(ExecuteSuccess{"x", 1}), (Instructions{TaskFinishedMsg{"x", 1}}));
  EXPECT_EQ(H(ExecuteSuccess{"y", 1}), (Instructions{TaskFinishedMsg{"y", 1}}));
}

TEST_F(WorkerStateTest, RejoinWithoutSecedeIsGrantedAtOnce) {
  H(Compute("x"));
  EXPECT_EQ(H(Rejoin{"x"}), (Instructions{RejoinGranted{"x"}}));
  EXPECT_EQ(H(Rejoin{"unknown"}), (Instructions{RejoinGranted{"unknown"}}));
}

TEST_F(WorkerStateTest, ReplicasAreAcquiredAndRemoved) {
  EXPECT_EQ(H(AcquireReplicas{{Dep("r", {kA}, 4)}}), (Instructions{GatherDep{kA, {"r"}, 4}}));
  EXPECT_EQ(H(GatherDepSuccess{kA, {{"r", 4}}}), (Instructions{AddKeyMsg{"r", 4}}));
  EXPECT_EQ(H(RemoveReplicas{{"r"}}), (Instructions{DiscardData{"r"}, ReleaseWorkerDataMsg{"r"}}));
  EXPECT_EQ(ws_->task_count(), 0u);
}

TEST_F(WorkerStateTest, StaleEventsAreIgnoredAndUnwantedValuesDiscarded) {
  EXPECT_EQ(H(ExecuteSuccess{"ghost", 3}), (Instructions{DiscardData{"ghost"}}));
  EXPECT_EQ(H(ExecuteFailure{"ghost", 3}), Instructions{});
  EXPECT_EQ(H(GatherDepSuccess{kA, {{"ghost", 3}}}), (Instructions{DiscardData{"ghost"}}));
  EXPECT_EQ(H(GatherDepFailure{kA, {"ghost"}}), Instructions{});
  EXPECT_EQ(H(GatherDepBusy{kA, {"ghost"}}), Instructions{});
  EXPECT_EQ(H(GatherDepNetworkFailure{kA, {"ghost"}}), Instructions{});
  EXPECT_EQ(H(RetryBusyWorker{kA}), Instructions{});
  EXPECT_EQ(H(Secede{"ghost"}), Instructions{});
  EXPECT_EQ(H(FreeKeys{{"ghost"}}), Instructions{});
  EXPECT_EQ(H(RefreshWhoHas{{{"ghost", {kA}}}}), Instructions{});
  EXPECT_EQ(ws_->task_count(), 0u);
  // A duplicate success does not discard the live value.
  H(Compute("x"));
  H(ExecuteSuccess{"x", 3});
  EXPECT_EQ(H(ExecuteSuccess{"x", 3}), Instructions{});
  EXPECT_EQ(S("x"), State::kMemory);
}

TEST_F(WorkerStateTest, StoryRecordsTransitions) {
  H(Compute("x"));
  H(ExecuteSuccess{"x", 1});
  std::vector<std::string> story = ws_->Story("x");
  ASSERT_GE(story.size(), 3u);
  EXPECT_NE(story.front().find("released -> waiting"), std::string::npos) << story.front();
  EXPECT_NE(story.back().find("executing -> memory"), std::string::npos) << story.back();
}

// --- races ----------------------------------------------------------------------------------

TEST_F(WorkerStateTest, FreedWhileExecutingIsCancelledAndItsResultDropped) {
  H(Compute("x"));
  H(Compute("y"));  // waits for the only slot
  EXPECT_EQ(H(FreeKeys{{"x"}}), Instructions{});
  EXPECT_EQ(S("x"), State::kCancelled);
  EXPECT_EQ(ws_->executing_count(), 1u);  // its thread is still busy
  // Dropped, not reported; the slot goes to y.
  EXPECT_EQ(H(ExecuteSuccess{"x", 8}), (Instructions{DiscardData{"x"}, Execute{"y", 7}}));
  EXPECT_EQ(S("x"), std::nullopt);
  EXPECT_EQ(ws_->memory_bytes(), 0u);
}

TEST_F(WorkerStateTest, FreedWhileExecutingThenFailingReportsNothing) {
  H(Compute("x"));
  H(FreeKeys{{"x"}});
  EXPECT_EQ(H(ExecuteFailure{"x", 1}), Instructions{});
  EXPECT_EQ(S("x"), std::nullopt);
}

TEST_F(WorkerStateTest, ComputedAgainWhileCancelledResumesExecution) {
  H(WithRun(Compute("x"), 1));
  H(FreeKeys{{"x"}});
  EXPECT_EQ(S("x"), State::kCancelled);
  // The same execution is still running: no second Execute; it is wanted again as it was, so
  // the cancellation is forgotten (Dask's cancelled -> executing). It answers the new request.
  EXPECT_EQ(H(WithRun(Compute("x"), 2)), Instructions{});
  EXPECT_EQ(S("x"), State::kExecuting);
  EXPECT_EQ(H(ExecuteSuccess{"x", 8}), (Instructions{TaskFinishedMsg{"x", 8, 2}}));
}

TEST_F(WorkerStateTest, SecededThenCancelledThenComputedAgainTellsTheSchedulerAgain) {
  H(WithRun(Compute("x"), 1));
  now_ += 9ms;
  H(Secede{"x"});
  H(FreeKeys{{"x"}});
  EXPECT_EQ(S("x"), State::kCancelled);
  EXPECT_EQ(H(WithRun(Compute("x"), 2)), (Instructions{LongRunningMsg{"x", 12ms, 2}}));
  EXPECT_EQ(S("x"), State::kLongRunning);
}

TEST_F(WorkerStateTest, ExecutingTaskWantedAsADependencyIsResumed) {
  H(Compute("x"));
  H(FreeKeys{{"x"}});
  // The scheduler now believes x is computed on peer A, and a new task needs it.
  EXPECT_EQ(H(Compute("t", {Dep("x", {kA}, 8)})), Instructions{});
  EXPECT_EQ(S("x"), State::kResumed);  // no fetch while the local run goes on
  // The local result is used, and reported as a replica.
  EXPECT_EQ(H(ExecuteSuccess{"x", 8}), (Instructions{AddKeyMsg{"x", 8}, Execute{"t", 7}}));
}

TEST_F(WorkerStateTest, ResumedExecutionThatFailsFallsBackToFetching) {
  H(Compute("x"));
  H(FreeKeys{{"x"}});
  H(Compute("t", {Dep("x", {kA}, 8)}));
  // The failure is not the scheduler's concern: it expects a fetch.
  EXPECT_EQ(H(ExecuteFailure{"x", 5}), (Instructions{GatherDep{kA, {"x"}, 8}}));
  EXPECT_EQ(S("x"), State::kFlight);
}

TEST_F(WorkerStateTest, DependencyArrivingForAFreedTaskIsDropped) {
  H(Compute("t", {Dep("d", {kA}, 10)}));
  EXPECT_EQ(H(FreeKeys{{"t"}}), Instructions{});
  EXPECT_EQ(S("t"), std::nullopt);
  EXPECT_EQ(S("d"), State::kCancelled);  // its transfer cannot be stopped
  EXPECT_EQ(H(GatherDepSuccess{kA, {{"d", 10}}}), (Instructions{DiscardData{"d"}}));
  EXPECT_EQ(S("d"), std::nullopt);
  EXPECT_EQ(ws_->memory_bytes(), 0u);
  EXPECT_EQ(ws_->transfer_incoming_count(), 0u);
}

TEST_F(WorkerStateTest, FreedThenWantedAgainWhileInFlightKeepsTheTransfer) {
  H(Compute("t", {Dep("d", {kA}, 10)}));
  H(FreeKeys{{"t"}});
  EXPECT_EQ(H(Compute("t", {Dep("d", {kA}, 10)})), Instructions{});  // no second GatherDep
  EXPECT_EQ(S("d"), State::kFlight);
  EXPECT_EQ(H(GatherDepSuccess{kA, {{"d", 10}}}),
            (Instructions{AddKeyMsg{"d", 10}, Execute{"t", 7}}));
}

TEST_F(WorkerStateTest, KeyInFlightAskedToBeComputedIsResumed) {
  H(Compute("t", {Dep("d", {kA}, 10)}));
  H(FreeKeys{{"t"}});
  // The scheduler now wants d computed here (its holder looked gone).
  EXPECT_EQ(H(WithRun(Compute("d"), 3)), Instructions{});
  EXPECT_EQ(S("d"), State::kResumed);
  // The transfer arrives after all: d is done, as the scheduler asked.
  EXPECT_EQ(H(GatherDepSuccess{kA, {{"d", 10}}}), (Instructions{TaskFinishedMsg{"d", 10, 3}}));
}

TEST_F(WorkerStateTest, KeyInFlightAskedToBeComputedIsComputedIfTheTransferFails) {
  H(Compute("t", {Dep("d", {kA}, 10)}));
  H(FreeKeys{{"t"}});
  H(WithRun(Compute("d"), 3));
  EXPECT_EQ(H(GatherDepSuccess{kA, {}}),
            (Instructions{MissingDataMsg{"d", kA}, Execute{"d", 7}}));
  EXPECT_EQ(H(ExecuteSuccess{"d", 10}), (Instructions{TaskFinishedMsg{"d", 10, 3}}));
}

TEST_F(WorkerStateTest, ResumedTransferOutlivesItsLastDependent) {
  H(Compute("t1", {Dep("d", {kA}, 10)}));
  H(Compute("t2", {Dep("d", {kA}, 10)}));
  H(FreeKeys{{"t1"}});
  H(Compute("d"));  // still awaited by t2, and now also to compute here
  EXPECT_EQ(S("d"), State::kResumed);
  // Its last dependent goes; d is still wanted for itself (found by the simulation, seed 257).
  EXPECT_EQ(H(FreeKeys{{"t2"}}), Instructions{});
  EXPECT_EQ(S("d"), State::kResumed);
  EXPECT_EQ(H(GatherDepSuccess{kA, {{"d", 10}}}), (Instructions{TaskFinishedMsg{"d", 10}}));
}

TEST_F(WorkerStateTest, ResumedTransferFreedAgainIsCancelledAgain) {
  H(Compute("t", {Dep("d", {kA}, 10)}));
  H(FreeKeys{{"t"}});
  H(Compute("d"));
  EXPECT_EQ(S("d"), State::kResumed);
  EXPECT_EQ(H(FreeKeys{{"d"}}), Instructions{});
  EXPECT_EQ(S("d"), State::kCancelled);
  EXPECT_EQ(H(GatherDepSuccess{kA, {{"d", 10}}}), (Instructions{DiscardData{"d"}}));
  EXPECT_EQ(S("d"), std::nullopt);
}

TEST_F(WorkerStateTest, ResumedTransferWantedAsADependencyAgainIsAPlainTransfer) {
  H(Compute("t", {Dep("d", {kA}, 10)}));
  H(FreeKeys{{"t"}});
  H(Compute("d"));
  // Freed as a task to compute, wanted again as a dependency: the transfer goes on.
  H(FreeKeys{{"d"}});
  EXPECT_EQ(H(Compute("u", {Dep("d", {kA}, 10)})), Instructions{});
  EXPECT_EQ(S("d"), State::kFlight);
  EXPECT_EQ(H(GatherDepSuccess{kA, {{"d", 10}}}),
            (Instructions{AddKeyMsg{"d", 10}, Execute{"u", 7}}));
}

TEST_F(WorkerStateTest, FailedFetchIsRetriedFromAnotherHolderThenReportedMissing) {
  EXPECT_EQ(H(Compute("t", {Dep("d", {kA, kB}, 5)})), (Instructions{GatherDep{kA, {"d"}, 5}}));
  // A cannot be reached: asked from B at once.
  EXPECT_EQ(H(GatherDepNetworkFailure{kA, {"d"}}),
            (Instructions{MissingDataMsg{"d", kA}, GatherDep{kB, {"d"}, 5}}));
  // B answers without it: nobody is left; the scheduler is told and asked.
  EXPECT_EQ(H(GatherDepSuccess{kB, {}}),
            (Instructions{MissingDataMsg{"d", kB}, RequestRefreshWhoHasMsg{{"d"}}}));
  EXPECT_EQ(S("d"), State::kMissing);
  EXPECT_EQ(H(FindMissing{}), (Instructions{RequestRefreshWhoHasMsg{{"d"}}}));
  EXPECT_EQ(H(RefreshWhoHas{{{"d", {}}}}), Instructions{});
  EXPECT_EQ(H(RefreshWhoHas{{{"d", {kC}}}}), (Instructions{GatherDep{kC, {"d"}, 5}}));
  EXPECT_EQ(H(GatherDepSuccess{kC, {{"d", 5}}}),
            (Instructions{AddKeyMsg{"d", 5}, Execute{"t", 7}}));
}

TEST_F(WorkerStateTest, GatherFailureTriesTheOtherHolders) {
  H(Compute("t", {Dep("d", {kA, kB}, 5)}));
  EXPECT_EQ(H(GatherDepFailure{kA, {"d"}}),
            (Instructions{MissingDataMsg{"d", kA}, GatherDep{kB, {"d"}, 5}}));
}

TEST_F(WorkerStateTest, NetworkFailureForgetsEverythingThePeerHeld) {
  WorkerStateOptions o;
  o.transfer_incoming_count_limit = 1;
  Reset(1, o);
  EXPECT_EQ(H(Compute("t", {Dep("d1", {kA}, 5), Dep("d2", {kA, kB}, 5)})),
            (Instructions{GatherDep{kA, {"d1", "d2"}, 10}}));
  H(Compute("u", {Dep("d3", {kA, kC}, 5)}, {1}));  // queued behind the count limit
  EXPECT_EQ(H(GatherDepNetworkFailure{kA, {"d1", "d2"}}),
            (Instructions{MissingDataMsg{"d1", kA}, MissingDataMsg{"d2", kA},
                          GatherDep{kB, {"d2"}, 5}, RequestRefreshWhoHasMsg{{"d1"}}}));
  EXPECT_EQ(S("d3"), State::kFetch);  // now only from C
}

TEST_F(WorkerStateTest, RemovedWorkerIsNotAsked) {
  H(PauseEvent{});
  H(Compute("t", {Dep("d", {kA, kB}, 5), Dep("e", {kA}, 5)}));
  EXPECT_EQ(H(RemoveWorker{kA}), (Instructions{RequestRefreshWhoHasMsg{{"e"}}}));
  EXPECT_EQ(H(UnpauseEvent{}), (Instructions{GatherDep{kB, {"d"}, 5}}));
}

TEST_F(WorkerStateTest, BusyPeerIsLeftAloneUntilRetry) {
  H(Compute("t", {Dep("d", {kA}, 5)}));
  EXPECT_EQ(H(GatherDepBusy{kA, {"d"}}),
            (Instructions{RetryBusyWorkerLater{kA}, RequestRefreshWhoHasMsg{{"d"}}}));
  EXPECT_EQ(S("d"), State::kFetch);
  EXPECT_EQ(H(FindMissing{}), Instructions{});
  EXPECT_EQ(H(RetryBusyWorker{kA}), (Instructions{GatherDep{kA, {"d"}, 5}}));
}

TEST_F(WorkerStateTest, BusyPeerWithAnotherHolderGoesToTheOther) {
  H(Compute("t", {Dep("d", {kA, kB}, 5)}));
  EXPECT_EQ(H(GatherDepBusy{kA, {"d"}}),
            (Instructions{RetryBusyWorkerLater{kA}, GatherDep{kB, {"d"}, 5}}));
}

TEST_F(WorkerStateTest, StealOfATaskNotStartedReleasesIt) {
  H(Compute("running"));
  H(Compute("queued"));
  EXPECT_EQ(H(StealRequest{"queued", 11}),
            (Instructions{StealResponseMsg{"queued", State::kReady, 11}}));
  EXPECT_EQ(S("queued"), std::nullopt);
  EXPECT_EQ(H(StealRequest{"nowhere", 12}),
            (Instructions{StealResponseMsg{"nowhere", std::nullopt, 12}}));
}

TEST_F(WorkerStateTest, StealOfAWaitingTaskCancelsItsTransfers) {
  H(Compute("t", {Dep("d", {kA}, 5)}));
  EXPECT_EQ(H(StealRequest{"t", 3}), (Instructions{StealResponseMsg{"t", State::kWaiting, 3}}));
  EXPECT_EQ(S("t"), std::nullopt);
  EXPECT_EQ(S("d"), State::kCancelled);
  EXPECT_EQ(H(GatherDepSuccess{kA, {{"d", 5}}}), (Instructions{DiscardData{"d"}}));
}

TEST_F(WorkerStateTest, StealOfARunningTaskIsRefused) {
  H(WithRun(Compute("x"), 1));
  EXPECT_EQ(H(StealRequest{"x", 1}),
            (Instructions{StealResponseMsg{"x", State::kExecuting, 1}}));
  EXPECT_EQ(S("x"), State::kExecuting);
  EXPECT_EQ(H(ExecuteSuccess{"x", 1}), (Instructions{TaskFinishedMsg{"x", 1, 1}}));
  EXPECT_EQ(H(StealRequest{"x", 2}), (Instructions{StealResponseMsg{"x", State::kMemory, 2}}));
  EXPECT_EQ(S("x"), State::kMemory);
}

TEST_F(WorkerStateTest, StealResponseEchoesTheRequestId) {
  H(Compute("running"));
  H(Compute("queued"));
  // The scheduler may ask about a key again before the first answer arrives: each answer
  // carries its own request's id, so a stale answer is recognised.
  EXPECT_EQ(H(StealRequest{"running", 7}),
            (Instructions{StealResponseMsg{"running", State::kExecuting, 7}}));
  EXPECT_EQ(H(StealRequest{"running", 8}),
            (Instructions{StealResponseMsg{"running", State::kExecuting, 8}}));
  EXPECT_EQ(H(StealRequest{"queued", 9}),
            (Instructions{StealResponseMsg{"queued", State::kReady, 9}}));
  EXPECT_EQ(H(StealRequest{"queued", 10}),
            (Instructions{StealResponseMsg{"queued", std::nullopt, 10}}));
}

TEST_F(WorkerStateTest, ReleasedDependencyOfARunningTaskStaysUntilItEnds) {
  H(Compute("a"));
  H(ExecuteSuccess{"a", 4});
  H(Compute("b", {Dep("a", {kSelf}, 4)}));
  // The scheduler frees a while b still runs (a key released while its dependent runs).
  EXPECT_EQ(H(FreeKeys{{"a"}}), (Instructions{DiscardData{"a"}, ReleaseWorkerDataMsg{"a"}}));
  EXPECT_EQ(S("a"), State::kReleased);  // kept while b refers to it
  EXPECT_EQ(H(ExecuteSuccess{"b", 2}), (Instructions{TaskFinishedMsg{"b", 2}}));
  EXPECT_EQ(S("a"), std::nullopt);
}

// --- randomized simulation --------------------------------------------------------------------

// A scheduler, five peers and the executor threads around one WorkerState, driven by a seeded
// RNG. The fake keeps the data store the service would keep (values put in before an event,
// removed on DiscardData) and the scheduler's side of the protocol (which keys it wants here;
// it only frees or steals a key when no wanted task depends on it, as Dask's scheduler).
class Simulation {
 public:
  explicit Simulation(uint64_t seed) : rng_(seed) {
    WorkerStateOptions o;
    o.address = kSelf;
    o.nthreads = 1 + static_cast<int>(Rand(3));
    o.transfer_incoming_count_limit = 1 + Rand(3);
    o.transfer_message_bytes_limit = 30 + Rand(100);
    if (Rand(2) == 0) o.transfer_incoming_bytes_limit = 60 + Rand(100);
    if (Rand(2) == 0) o.resources = {{"GPU", 1}};
    gpu_ = !o.resources.empty();
    o.memory_accounting = &accounting_;
    o.log_capacity = 2000;
    nthreads_ = static_cast<size_t>(o.nthreads);
    ws_.emplace(o);
    peers_ = {kLocalPeer, kA, kB, kC, "tcp://10.0.0.5:9000"};
    for (int i = 0; i < 30; ++i) {
      std::string key = "r" + std::to_string(i);
      nbytes_[key] = 1 + Rand(60);
      for (const std::string& p : peers_) {
        if (Rand(3) == 0) holders_[key].insert(p);
      }
      if (holders_[key].empty()) holders_[key].insert(Pick(peers_));
      remote_.push_back(key);
    }
  }

  void Run(int steps) {
    for (int i = 0; i < steps && !::testing::Test::HasFailure(); ++i) Step();
    Drain();
    if (::testing::Test::HasFailure()) return;
    // Everything wanted was computed (or failed); nothing is half-way.
    for (const auto& [key, state] : ws_->TEST_Tasks()) {
      EXPECT_TRUE(state == State::kMemory || state == State::kError)
          << key.ToString() << " is " << StateName(state) << "\n"
          << StoryOf(key);
    }
    for (const auto& [key, info] : live_) {
      EXPECT_TRUE(reported_.count(key)) << key << " wanted but never reported\n" << StoryOf(key);
    }
    // Free everything: the worker ends empty.
    FreeKeys all;
    for (const auto& [key, state] : ws_->TEST_Tasks()) all.keys.push_back(key);
    Send(all);
    EXPECT_EQ(ws_->task_count(), 0u);
    EXPECT_EQ(ws_->memory_bytes(), 0u);
    EXPECT_TRUE(store_.empty());
    EXPECT_EQ(accounting_.keys(), 0u);
    EXPECT_GT(executed_, 0);
  }

 private:
  struct TaskInfo {
    std::vector<std::string> deps;
  };

  uint64_t Rand(uint64_t n) { return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng_); }
  template <class C>
  typename C::value_type Pick(const C& c) {
    auto it = c.begin();
    std::advance(it, static_cast<long>(Rand(c.size())));
    return *it;
  }

  std::string StoryOf(const Key& key) const {
    std::string out;
    for (const std::string& line : ws_->Story(key)) out += "  " + line + "\n";
    return out;
  }

  bool HasLiveDependents(const std::string& key) const {
    for (const auto& [k, info] : live_) {
      if (std::find(info.deps.begin(), info.deps.end(), key) != info.deps.end()) return true;
    }
    return false;
  }

  void Step() {
    switch (Rand(16)) {
      case 0:
      case 1: SubmitNew(); break;
      case 2: Resubmit(); break;
      case 3:
      case 4:
      case 5: CompleteExecution(/*drain=*/false); break;
      case 6:
      case 7:
      case 8: CompleteGather(/*drain=*/false); break;
      case 9: FreeSomething(); break;
      case 10: Steal(); break;
      case 11: SecedeOrRejoin(); break;
      case 12:
        if (paused_ || Rand(4) == 0) {
          paused_ = !paused_;
          if (paused_) {
            Send(PauseEvent{});
          } else {
            Send(UnpauseEvent{});
          }
        }
        break;
      case 13: AnswerRefresh(/*drain=*/false); break;
      case 14:
        if (!busy_.empty()) {
          std::string w = Pick(busy_);
          busy_.erase(w);
          Send(RetryBusyWorker{w});
        } else {
          Send(FindMissing{});
        }
        break;
      case 15: Misc(); break;
    }
  }

  std::vector<std::string> WhoHas(const std::string& key) {
    std::vector<std::string> who(holders_[key].begin(), holders_[key].end());
    if (Rand(5) == 0) who.push_back(Pick(peers_));  // a stale belief of the scheduler
    std::sort(who.begin(), who.end());
    who.erase(std::unique(who.begin(), who.end()), who.end());
    return who;
  }

  void SubmitNew() {
    std::string key = "t" + std::to_string(next_task_++);
    ComputeTask ev;
    ev.key = key;
    ev.run_spec = next_task_;
    ev.priority = {static_cast<int64_t>(Rand(4)), static_cast<int64_t>(Rand(100))};
    if (gpu_ && Rand(6) == 0) ev.resource_restrictions = {{"GPU", 1}};
    TaskInfo info;
    const uint64_t ndeps = Rand(4);
    for (uint64_t i = 0; i < ndeps; ++i) {
      const std::string dep =
          Rand(3) != 0 || submitted_.empty() ? Pick(remote_) : Pick(submitted_);
      std::vector<std::string> who;
      if (live_.count(dep)) {
        // Computed here: usable once it is in memory (the scheduler sends a task only when
        // all its dependencies are in memory somewhere).
        if (!ws_->InMemory(dep)) continue;
        who = {kSelf};
      } else if (!holders_[dep].empty()) {
        who = WhoHas(dep);
        if (ws_->InMemory(dep)) who.push_back(kSelf);  // a replica here too
      } else {
        continue;
      }
      if (std::find(info.deps.begin(), info.deps.end(), dep) != info.deps.end()) continue;
      info.deps.push_back(dep);
      ev.dependencies.push_back(Dependency{dep, who, nbytes_[dep]});
    }
    submitted_.push_back(key);
    live_[key] = info;
    ev.run_id = run_ids_[key] = next_run_id_++;
    Send(ev);
  }

  // The scheduler asks again for a key it freed or that was stolen, or asks to compute here a
  // key that peers hold (its holders looked gone): the cancelled/resumed paths.
  void Resubmit() {
    std::string key;
    if (!freed_.empty() && Rand(2) == 0) {
      key = Pick(freed_);
    } else {
      key = Pick(remote_);
    }
    if (live_.count(key)) return;
    freed_.erase(key);
    ComputeTask ev;
    ev.key = key;
    ev.run_spec = 1000 + Rand(1000);
    ev.priority = {static_cast<int64_t>(Rand(4))};
    live_[key] = {};
    reported_.erase(key);
    ev.run_id = run_ids_[key] = next_run_id_++;
    Send(ev);
  }

  void CompleteExecution(bool drain) {
    std::vector<std::string> candidates;
    for (const std::string& k : executing_) {
      if (!rejoin_wait_.count(k)) candidates.push_back(k);
    }
    if (candidates.empty()) return;
    std::string key = Pick(candidates);
    executing_.erase(key);
    seceded_.erase(key);
    const uint64_t r = drain ? 0 : Rand(20);
    // A wanted key with wanted dependents must succeed: else the scheduler would have to fail
    // or reschedule those dependents too. Keys nobody wants here (cancelled, resumed) may fail.
    const bool may_fail = !live_.count(key) || !HasLiveDependents(key);
    ++executed_;
    if (r == 0 || r > 3 || !may_fail) {
      uint64_t nbytes = 1 + Rand(50);
      nbytes_[key] = nbytes;
      store_[key] = nbytes;  // the service stores the value before handing the event in
      Send(ExecuteSuccess{key, nbytes});
    } else if (r <= 2) {
      Send(ExecuteFailure{key, 99});
    } else {
      Send(ExecuteReschedule{key});
    }
  }

  void CompleteGather(bool drain) {
    if (gathers_.empty()) return;
    auto it = gathers_.begin();
    std::advance(it, static_cast<long>(Rand(gathers_.size())));
    const std::string worker = it->first;
    std::vector<std::string> keys = it->second;
    gathers_.erase(it);
    std::vector<Key> ks(keys.begin(), keys.end());
    const uint64_t r = drain ? 0 : Rand(10);
    if (r <= 6) {
      GatherDepSuccess ev{worker, {}};
      for (const std::string& k : keys) {
        if (holders_[k].count(worker)) {
          ev.data.push_back({k, nbytes_[k]});
          store_[k] = nbytes_[k];
        }
      }
      Send(ev);
    } else if (r == 7) {
      Send(GatherDepFailure{worker, ks});
    } else if (r == 8) {
      Send(GatherDepBusy{worker, ks});
    } else {
      Send(GatherDepNetworkFailure{worker, ks});
    }
  }

  void FreeSomething() {
    std::vector<std::string> candidates;
    for (const auto& [key, info] : live_) {
      if (!HasLiveDependents(key)) candidates.push_back(key);
    }
    if (candidates.empty() || Rand(3) == 0) {
      // A replica nobody wants (a fetched dependency, an acquired replica).
      for (const auto& [key, state] : ws_->TEST_Tasks()) {
        const std::string k = key.ToString();
        if (!live_.count(k) && !HasLiveDependents(k)) candidates.push_back(k);
      }
    }
    if (candidates.empty()) return;
    std::string key = Pick(candidates);
    Forget(key);
    Send(FreeKeys{{key}});
  }

  // The scheduler no longer wants `key` here; maybe it was computed elsewhere.
  void Forget(const std::string& key) {
    if (!live_.erase(key)) return;
    reported_.erase(key);
    freed_.insert(key);
    if (key[0] == 't' && Rand(2) == 0) {
      holders_[key].insert(Pick(peers_));
      if (!nbytes_.count(key)) nbytes_[key] = 1 + Rand(50);
    }
  }

  void Steal() {
    std::vector<std::string> candidates;
    for (const auto& [key, info] : live_) {
      if (!HasLiveDependents(key)) candidates.push_back(key);
    }
    if (candidates.empty()) return;
    std::string key = Pick(candidates);
    steal_state_.reset();
    steal_request_id_ = next_request_id_++;
    Send(StealRequest{key, steal_request_id_});
    if (steal_state_ == State::kWaiting || steal_state_ == State::kReady ||
        steal_state_ == State::kConstrained) {
      Forget(key);
    }
  }

  void SecedeOrRejoin() {
    std::vector<std::string> running;
    for (const std::string& k : executing_) {
      if (!seceded_.count(k)) running.push_back(k);
    }
    std::vector<std::string> seceded;
    for (const std::string& k : seceded_) {
      if (!rejoin_wait_.count(k)) seceded.push_back(k);
    }
    if (!seceded.empty() && (running.empty() || Rand(2) == 0)) {
      std::string key = Pick(seceded);
      rejoin_wait_.insert(key);
      Send(Rejoin{key});
    } else if (!running.empty()) {
      std::string key = Pick(running);
      seceded_.insert(key);
      Send(Secede{key});
    }
  }

  void AnswerRefresh(bool drain) {
    if (refresh_.empty()) return;
    RefreshWhoHas ev;
    for (const std::string& k : refresh_) {
      std::vector<std::string> who(holders_[k].begin(), holders_[k].end());
      if (!drain && Rand(3) == 0) who.clear();  // the scheduler does not know either, yet
      ev.who_has.push_back({k, who});
    }
    refresh_.clear();
    Send(ev);
  }

  void Misc() {
    switch (Rand(3)) {
      case 0: {
        std::string key = Pick(remote_);
        if (live_.count(key)) break;  // computed here: the scheduler would not replicate it
        Send(AcquireReplicas{{Dependency{key, WhoHas(key), nbytes_[key]}}});
        break;
      }
      case 1: {
        std::vector<Key> keys;
        for (const auto& [key, state] : ws_->TEST_Tasks()) {
          const std::string k = key.ToString();
          if (!live_.count(k) && !HasLiveDependents(k) && Rand(2) == 0) keys.push_back(key);
        }
        Send(RemoveReplicas{keys});
        break;
      }
      case 2: Send(RemoveWorker{Pick(peers_)}); break;
    }
  }

  void Drain() {
    for (int round = 0; round < 100000 && !::testing::Test::HasFailure(); ++round) {
      if (paused_) {
        paused_ = false;
        Send(UnpauseEvent{});
      } else if (std::any_of(executing_.begin(), executing_.end(),
                             [&](const std::string& k) { return !rejoin_wait_.count(k); })) {
        CompleteExecution(/*drain=*/true);
      } else if (!gathers_.empty()) {
        CompleteGather(/*drain=*/true);
      } else if (!busy_.empty()) {
        std::string w = *busy_.begin();
        busy_.erase(busy_.begin());
        Send(RetryBusyWorker{w});
      } else if (!refresh_.empty()) {
        AnswerRefresh(/*drain=*/true);
      } else {
        const auto tasks = ws_->TEST_Tasks();
        const bool missing = std::any_of(tasks.begin(), tasks.end(), [](const auto& t) {
          return t.second == State::kMissing;
        });
        if (!missing) return;
        Send(FindMissing{});
      }
    }
    ADD_FAILURE() << "the simulation did not drain";
  }

  void Send(const StateMachineEvent& ev) {
    if (::testing::Test::HasFailure()) return;
    now_ += std::chrono::microseconds(1 + Rand(1000));
    Instructions out = ws_->Handle(ev, now_);
    ++events_;
    Status st = ws_->TEST_CheckInvariants();
    ASSERT_TRUE(st.ok()) << "event " << events_ << ": " << st.ToString();
    for (const Instruction& i : out) {
      Apply(i);
      if (::testing::Test::HasFailure()) {
        ADD_FAILURE() << "event " << events_ << " instruction " << ToString(i);
        return;
      }
    }
    CheckStore();
  }

  void Apply(const Instruction& instruction) {
    if (auto* i = std::get_if<Execute>(&instruction)) {
      const std::string k = i->key.ToString();
      ASSERT_FALSE(executing_.count(k)) << "executed twice at once: " << k;
      ASSERT_TRUE(live_.count(k)) << "executes a key the scheduler does not want: " << k;
      executing_.insert(k);
    } else if (auto* i = std::get_if<GatherDep>(&instruction)) {
      ASSERT_FALSE(gathers_.count(i->worker)) << "two requests to " << i->worker;
      ASSERT_NE(i->worker, kSelf);
      ASSERT_FALSE(i->keys.empty());
      std::vector<std::string> keys;
      for (const Key& key : i->keys) {
        const std::string k = key.ToString();
        for (const auto& [w, ks] : gathers_) {
          ASSERT_EQ(std::count(ks.begin(), ks.end(), k), 0) << "fetched twice at once: " << k;
        }
        ASSERT_FALSE(store_.count(k)) << "fetches a key already in memory: " << k;
        keys.push_back(k);
      }
      gathers_[i->worker] = keys;
    } else if (auto* i = std::get_if<DiscardData>(&instruction)) {
      ASSERT_EQ(store_.erase(i->key.ToString()), 1u) << "discards what is not stored";
    } else if (auto* i = std::get_if<TaskFinishedMsg>(&instruction)) {
      const std::string k = i->key.ToString();
      ASSERT_TRUE(live_.count(k)) << "reports a key the scheduler freed: " << k;
      ASSERT_EQ(i->run_id, run_ids_[k]) << "not the latest run of " << k;
      reported_.insert(k);
    } else if (auto* i = std::get_if<TaskErredMsg>(&instruction)) {
      const std::string k = i->key.ToString();
      ASSERT_TRUE(live_.count(k)) << "reports a key the scheduler freed: " << k;
      ASSERT_EQ(i->run_id, run_ids_[k]) << "not the latest run of " << k;
      reported_.insert(k);
    } else if (auto* i = std::get_if<RescheduleMsg>(&instruction)) {
      ASSERT_EQ(i->run_id, run_ids_[i->key.ToString()]) << "not the latest run";
      Forget(i->key.ToString());
    } else if (auto* i = std::get_if<LongRunningMsg>(&instruction)) {
      ASSERT_EQ(i->run_id, run_ids_[i->key.ToString()]) << "not the latest run";
    } else if (auto* i = std::get_if<RequestRefreshWhoHasMsg>(&instruction)) {
      for (const Key& key : i->keys) refresh_.insert(key.ToString());
    } else if (auto* i = std::get_if<RetryBusyWorkerLater>(&instruction)) {
      busy_.insert(i->worker);
    } else if (auto* i = std::get_if<RejoinGranted>(&instruction)) {
      seceded_.erase(i->key.ToString());
      rejoin_wait_.erase(i->key.ToString());
    } else if (auto* i = std::get_if<StealResponseMsg>(&instruction)) {
      ASSERT_EQ(i->request_id, steal_request_id_);
      steal_state_ = i->state;
    } else if (auto* i = std::get_if<MissingDataMsg>(&instruction)) {
      ASSERT_NE(i->errant_worker, kSelf);
    }
  }

  // The data store the service keeps is exactly the keys in memory, with their sizes; threads
  // holding a slot never exceed nthreads.
  void CheckStore() {
    std::map<std::string, uint64_t> memory;
    for (const auto& [key, state] : ws_->TEST_Tasks()) {
      if (state == State::kMemory) memory[key.ToString()] = store_.count(key.ToString()) ? 1 : 0;
    }
    uint64_t bytes = 0;
    for (const auto& [k, n] : store_) {
      ASSERT_TRUE(memory.count(k)) << "stored but not in memory: " << k;
      bytes += n;
    }
    ASSERT_EQ(memory.size(), store_.size());
    ASSERT_EQ(bytes, ws_->memory_bytes());
    ASSERT_EQ(accounting_.total(), ws_->memory_bytes());
    size_t holding_slots = 0;
    for (const std::string& k : executing_) holding_slots += seceded_.count(k) ? 0 : 1;
    ASSERT_LE(holding_slots, nthreads_);
    ASSERT_EQ(holding_slots, ws_->executing_count());
  }

  std::mt19937_64 rng_;
  std::optional<WorkerState> ws_;
  FakeAccounting accounting_;
  Clock::time_point now_{};
  size_t nthreads_ = 1;
  bool gpu_ = false;
  bool paused_ = false;
  int next_task_ = 0;
  int events_ = 0;
  int executed_ = 0;

  std::vector<std::string> peers_;
  std::vector<std::string> remote_;
  std::map<std::string, std::set<std::string>> holders_;  // the truth: who really has a key
  std::map<std::string, uint64_t> nbytes_;
  std::vector<std::string> submitted_;
  std::map<std::string, TaskInfo> live_;  // what the scheduler wants computed here
  std::set<std::string> reported_;
  std::set<std::string> freed_;

  std::map<std::string, uint64_t> store_;  // the service's data store
  std::set<std::string> executing_;        // Execute sent, no outcome yet
  std::set<std::string> seceded_;
  std::set<std::string> rejoin_wait_;
  std::map<std::string, std::vector<std::string>> gathers_;
  std::set<std::string> busy_;
  std::set<std::string> refresh_;
  std::optional<State> steal_state_;
  std::map<std::string, uint32_t> run_ids_;  // of the latest ComputeTask sent per key
  uint32_t next_run_id_ = 1;
  uint64_t steal_request_id_ = 0;
  uint64_t next_request_id_ = 1;
};

// 60 seeds by default; TEGU_WORKER_SIM_SEEDS=3000 for a soak run (every seed is deterministic:
// a failure names its seed).
TEST(WorkerStateSimulationTest, RandomEventsKeepInvariantsAndDrain) {
  const char* env = std::getenv("TEGU_WORKER_SIM_SEEDS");
  const uint64_t seeds = env ? std::strtoull(env, nullptr, 10) : 60;
  for (uint64_t seed = 1; seed <= seeds && !::testing::Test::HasFailure(); ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    Simulation sim(seed);
    sim.Run(2000);
  }
}

}  // namespace
}  // namespace tegu::worker
