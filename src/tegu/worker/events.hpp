// Events: everything that can happen to a worker, as input to WorkerState::Handle. They come
// from the scheduler (compute-task, free-keys, steal-request, refresh-who-has, ...), from the
// worker's own executor threads (execute success/failure, secede/rejoin), from its transfers of
// dependencies (gather-dep outcomes) and from its memory monitor (pause/unpause). Modelled on
// the StateMachineEvent subclasses of distributed/worker_state_machine.py.
//
// Values never travel in events: the service keeps the bytes and tells the state machine only
// keys and sizes. Opaque handles (run_spec, error) name objects the service holds.
//
// Thread-safety: plain value types; safe to build on one thread and hand to another.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "tegu/key.hpp"
#include "tegu/worker/types.hpp"

namespace tegu::worker {

// A dependency of a task to compute: where it lives and how big it is.
struct Dependency {
  Key key;
  std::vector<std::string> who_has;  // peer addresses believed to hold it
  uint64_t nbytes = 0;
};

// Scheduler: compute `key` here. `run_spec` is a handle to the serialized task the service
// holds. Dependencies not yet in memory here are fetched from their who_has peers. `run_id`
// names this assignment (Dask's run_id): every later report about the key (TaskFinishedMsg,
// TaskErredMsg, RescheduleMsg, LongRunningMsg) carries the run_id of the latest ComputeTask
// for it, including one that arrives while the key already waits or runs here.
struct ComputeTask {
  Key key;
  uint64_t run_spec = 0;
  Priority priority;
  std::vector<Dependency> dependencies;
  Resources resource_restrictions;
  uint32_t run_id = 0;
};

// Scheduler: these keys are no longer needed here (compute results, replicas or pending work).
struct FreeKeys {
  std::vector<Key> keys;
};

// Scheduler: may `key` be taken from this worker? Answered with StealResponseMsg carrying the
// same `request_id`; a task that has not started yet (waiting, ready, constrained) is released.
struct StealRequest {
  Key key;
  uint64_t request_id = 0;
};

// Executor: an Execute finished. The service has already put the value in its store.
struct ExecuteSuccess {
  Key key;
  uint64_t nbytes = 0;
};

// Executor: an Execute raised; `error` is a handle to the captured exception.
struct ExecuteFailure {
  Key key;
  uint64_t error = 0;
};

// Executor: the task raised Reschedule: it should run on another worker.
struct ExecuteReschedule {
  Key key;
};

struct KeyNbytes {
  Key key;
  uint64_t nbytes = 0;
};

// Transfer: a GatherDep from `worker` returned. `data` may hold fewer keys than were asked
// for (the peer did not have the rest). The service has already stored the values it got.
struct GatherDepSuccess {
  std::string worker;
  std::vector<KeyNbytes> data;
};

// Transfer: the GatherDep from `worker` failed (for example the data did not deserialize).
// The peer is not asked for these keys again; they are fetched from other holders.
struct GatherDepFailure {
  std::string worker;
  std::vector<Key> keys;
};

// Transfer: `worker` answered that it is busy. It is left alone until RetryBusyWorker.
struct GatherDepBusy {
  std::string worker;
  std::vector<Key> keys;
};

// Transfer: `worker` could not be reached. It is taken to be gone: it is removed from the
// who_has of every key, not only of the keys that were asked for.
struct GatherDepNetworkFailure {
  std::string worker;
  std::vector<Key> keys;
};

// Service: the delay asked for by RetryBusyWorkerLater has passed.
struct RetryBusyWorker {
  std::string worker;
};

// Scheduler: hold replicas of these keys too (no task here needs them).
struct AcquireReplicas {
  std::vector<Dependency> replicas;
};

// Scheduler: drop these replicas if they are in memory and nothing running here uses them.
struct RemoveReplicas {
  std::vector<Key> keys;
};

// Executor: the running task `key` called secede(): it no longer counts against nthreads.
struct Secede {
  Key key;
};

// Executor: the seceded task `key` called rejoin(): its thread blocks until RejoinGranted.
struct Rejoin {
  Key key;
};

// Memory monitor: stop starting tasks and transfers (running ones go on).
struct PauseEvent {};
// Memory monitor: start them again.
struct UnpauseEvent {};

struct WhoHas {
  Key key;
  std::vector<std::string> workers;
};

// Scheduler: current holders of keys (the answer to RequestRefreshWhoHasMsg, or unprompted).
struct RefreshWhoHas {
  std::vector<WhoHas> who_has;
};

// Scheduler: a client scattered these values here (Dask `update-data`); the service has stored
// them. They enter memory without an AddKeyMsg: the scheduler learns of them from the service's
// acknowledgement. A key this worker is already computing or fetching keeps that course (its
// scattered copy is discarded).
struct UpdateData {
  std::vector<KeyNbytes> data;
};

// Service, periodically: ask the scheduler again where the missing dependencies are.
struct FindMissing {};

// Scheduler: the peer `worker` left the cluster.
struct RemoveWorker {
  std::string worker;
};

using StateMachineEvent =
    std::variant<ComputeTask, FreeKeys, StealRequest, ExecuteSuccess, ExecuteFailure,
                 ExecuteReschedule, GatherDepSuccess, GatherDepFailure, GatherDepBusy,
                 GatherDepNetworkFailure, RetryBusyWorker, AcquireReplicas, RemoveReplicas,
                 Secede, Rejoin, PauseEvent, UnpauseEvent, RefreshWhoHas, FindMissing,
                 RemoveWorker, UpdateData>;

}  // namespace tegu::worker
