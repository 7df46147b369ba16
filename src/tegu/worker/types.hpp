// Vocabulary shared by the worker's state machine, its events and its instructions: the task
// states (as dask/distributed's worker), priorities, resources and the clock type. The state
// machine never reads a clock; the caller passes `Clock::time_point now` into every event.
//
// Thread-safety: plain value types and pure functions; safe from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace tegu::worker {

using Clock = std::chrono::steady_clock;

// A task's priority as the scheduler sent it: compared as a tuple, lower runs first.
using Priority = std::vector<int64_t>;

// Abstract resources ("GPU", 1.0): what a task needs or what a worker has.
using Resources = std::vector<std::pair<std::string, double>>;

// The state of one task on a worker (distributed.worker_state_machine.TaskStateState).
// kRescheduled is only ever a transition target; no task rests in it.
enum class State {
  kReleased,     // known (a dependency, or just freed); nothing to do
  kWaiting,      // to compute here; waits for dependencies to be in memory
  kFetch,        // a dependency to copy from a peer; queued for a GatherDep
  kFlight,       // a dependency being copied from a peer now
  kMissing,      // a dependency that no known peer holds; waiting for new who_has
  kReady,        // to compute here; dependencies in memory; waits for a thread
  kConstrained,  // as ready, but waits for resources
  kExecuting,    // running on a thread, counted against nthreads
  kLongRunning,  // running, but seceded from the thread pool: not counted
  kMemory,       // the value is in this worker's data store
  kError,        // computing it raised
  kCancelled,    // freed while executing or in flight; the outcome will be dropped
  kResumed,      // cancelled, then wanted again the other way (computed vs fetched)
  kRescheduled,  // transition target only: the task asked to run elsewhere
  kForgotten,    // dropped from the state machine
};

// "released", "long-running", ... as Dask spells them.
const char* StateName(State state);

}  // namespace tegu::worker
