// The vocabulary of the scheduler's state machine: ids of workers and clients, Dask's task and
// worker states, task priorities, the opaque handles the service layer owns, and the
// description of a task's error.
//
// Thread-safety: plain value types.
#pragma once

#include <chrono>
#include <compare>
#include <cstdint>

#include "tegu/key.hpp"

namespace tegu::scheduler {

/// Time as the scheduler sees it. The state machine never reads a clock: every event comes with
/// `now`, so tests drive time by hand.
using Clock = std::chrono::steady_clock;

/// A worker's id, chosen by the service layer (a counter is enough). An id names one worker
/// connection for the life of the scheduler: do not reuse the id of a removed worker, or late
/// messages from the old connection are taken as the new worker's.
using WorkerId = uint32_t;
/// A client's id, chosen by the service layer, under the same rule as WorkerId.
using ClientId = uint32_t;
/// The service layer's handle on a task's serialized function and arguments. The scheduler only
/// stores and forwards it; `TaskForgotten` / `ReleaseHandles` say when it is no longer needed.
using RunSpecHandle = uint64_t;
/// The service layer's handle on the exception a task raised (payload and traceback).
using ErrorHandle = uint64_t;
/// "No handle": a pure-data key has no run spec; a scheduler-made error has no payload.
inline constexpr uint64_t kNoHandle = 0;

/// Task states, exactly Dask's (distributed/scheduler.py). `kForgotten` is never stored: a
/// forgotten task is gone from the scheduler, and lookups of unknown keys answer kForgotten.
enum class TaskState : uint8_t {
  kReleased,    ///< known, not computed and not wanted right now (or its result was freed)
  kWaiting,     ///< wanted, waiting for dependencies to reach memory
  kQueued,      ///< a ready root-ish task held back until a worker has a free slot
  kNoWorker,    ///< ready, but no running worker satisfies its restrictions
  kProcessing,  ///< assigned to a worker (ComputeTask sent)
  kMemory,      ///< result held by at least one worker
  kErred,       ///< failed (raised, KilledWorker, or a dependency failed)
  kForgotten,   ///< not known to the scheduler
};
const char* TaskStateName(TaskState state);

/// Worker states. A closed worker is removed at once, so the scheduler stores running and
/// paused workers only; `kClosed` is what lookups of unknown workers answer.
enum class WorkerStatus : uint8_t {
  kRunning,  ///< receives new tasks
  kPaused,   ///< keeps what it has (and may be stolen from) but gets nothing new
  kClosed,   ///< removed (closed, connection lost, or heartbeat timeout)
};
const char* WorkerStatusName(WorkerStatus status);

/// A task's priority, Dask's tuple (-user priority, generation, graph order): a higher user
/// priority runs first, then the earlier submission (each UpdateGraph is one generation), then
/// the graph order within a submission. `a < b` means a runs before b.
struct Priority {
  int32_t user = 0;
  uint32_t generation = 0;
  uint32_t order = 0;

  friend bool operator==(const Priority&, const Priority&) = default;
  friend std::strong_ordering operator<=>(const Priority& a, const Priority& b) {
    if (auto c = b.user <=> a.user; c != 0) return c;
    if (auto c = a.generation <=> b.generation; c != 0) return c;
    return a.order <=> b.order;
  }
};

/// Why a task is erred.
enum class ErrorKind : uint8_t {
  kNone,
  kTaskRaised,         ///< the task's code raised; the handle carries the exception
  kKilledWorker,       ///< it was processing on `killed_worker_limit` workers that died
  kMissingDependency,  ///< it names a dependency the scheduler does not know
  kLostData,           ///< it needs scattered data (no run spec) that no worker holds anymore
  kCycle,              ///< it is part of (or depends on) a dependency cycle
};
const char* ErrorKindName(ErrorKind kind);

/// The error of an erred task. A task erred because a dependency failed carries the error of the
/// task that failed first (`blame`), as Dask's `exception_blame`.
struct TaskError {
  ErrorKind kind = ErrorKind::kNone;
  ErrorHandle handle = kNoHandle;  ///< the exception (kTaskRaised), owned by the service
  Key blame{};                     ///< the key whose failure this is

  friend bool operator==(const TaskError&, const TaskError&) = default;
};

}  // namespace tegu::scheduler
