// Instructions: what WorkerState::Handle asks the worker service to do. Two kinds:
//   - work for the service itself: Execute, GatherDep, RetryBusyWorkerLater, RejoinGranted,
//     DiscardData (drop a value from the data store);
//   - messages for the scheduler, suffixed Msg (TaskFinishedMsg, TaskErredMsg, ...).
// Modelled on the Instruction subclasses of distributed/worker_state_machine.py. The order of a
// Handle's instructions is deterministic and meaningful (for example a value is discarded
// before the scheduler is told it is released).
//
// Thread-safety: plain value types; safe to build on one thread and hand to another.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "tegu/key.hpp"
#include "tegu/worker/types.hpp"

namespace tegu::worker {

// Run the task on an executor thread; answer with ExecuteSuccess/Failure/Reschedule.
struct Execute {
  Key key;
  uint64_t run_spec = 0;
  bool operator==(const Execute&) const = default;
};

// Copy `keys` from the peer `worker` (one request); answer with one GatherDep* event.
// `total_nbytes` is the expected size, counted against the incoming-transfer limits.
struct GatherDep {
  std::string worker;
  std::vector<Key> keys;
  uint64_t total_nbytes = 0;
  bool operator==(const GatherDep&) const = default;
};

// Send RetryBusyWorker{worker} after a short delay.
struct RetryBusyWorkerLater {
  std::string worker;
  bool operator==(const RetryBusyWorkerLater&) const = default;
};

// The thread of `key`, blocked in rejoin(), may go on: it holds a slot again.
struct RejoinGranted {
  Key key;
  bool operator==(const RejoinGranted&) const = default;
};

// Remove the value of `key` from the data store (it was released, or it arrived for a task
// that had been cancelled meanwhile).
struct DiscardData {
  Key key;
  bool operator==(const DiscardData&) const = default;
};

// Scheduler: `key` was computed here and is in memory. `run_id` is the one of the latest
// ComputeTask for `key` (so are those of TaskErredMsg, RescheduleMsg and LongRunningMsg).
struct TaskFinishedMsg {
  Key key;
  uint64_t nbytes = 0;
  uint32_t run_id = 0;
  bool operator==(const TaskFinishedMsg&) const = default;
};

// Scheduler: computing `key` raised; `error` is the handle from ExecuteFailure.
struct TaskErredMsg {
  Key key;
  uint64_t error = 0;
  uint32_t run_id = 0;
  bool operator==(const TaskErredMsg&) const = default;
};

// Scheduler: this worker no longer holds `key`.
struct ReleaseWorkerDataMsg {
  Key key;
  bool operator==(const ReleaseWorkerDataMsg&) const = default;
};

// Scheduler: this worker now holds a replica of `key` (copied from a peer).
struct AddKeyMsg {
  Key key;
  uint64_t nbytes = 0;
  bool operator==(const AddKeyMsg&) const = default;
};

// Scheduler: `errant_worker` was said to hold `key` but could not provide it.
struct MissingDataMsg {
  Key key;
  std::string errant_worker;
  bool operator==(const MissingDataMsg&) const = default;
};

// Scheduler: the answer to StealRequest: the task's state when the request arrived (nullopt:
// unknown here). The steal succeeded, and the task was released, iff that state is waiting,
// ready or constrained. `request_id` is the StealRequest's.
struct StealResponseMsg {
  Key key;
  std::optional<State> state;
  uint64_t request_id = 0;
  bool operator==(const StealResponseMsg&) const = default;
};

// Scheduler: the task raised Reschedule; run it elsewhere.
struct RescheduleMsg {
  Key key;
  uint32_t run_id = 0;
  bool operator==(const RescheduleMsg&) const = default;
};

// Scheduler: the task seceded after running for `compute_duration`.
struct LongRunningMsg {
  Key key;
  Clock::duration compute_duration{};
  uint32_t run_id = 0;
  bool operator==(const LongRunningMsg&) const = default;
};

// Scheduler: where are these keys now? (Answered with RefreshWhoHas.)
struct RequestRefreshWhoHasMsg {
  std::vector<Key> keys;
  bool operator==(const RequestRefreshWhoHasMsg&) const = default;
};

using Instruction =
    std::variant<Execute, GatherDep, RetryBusyWorkerLater, RejoinGranted, DiscardData,
                 TaskFinishedMsg, TaskErredMsg, ReleaseWorkerDataMsg, AddKeyMsg, MissingDataMsg,
                 StealResponseMsg, RescheduleMsg, LongRunningMsg, RequestRefreshWhoHasMsg>;
using Instructions = std::vector<Instruction>;

// "GatherDep{worker=tcp://a:1, keys=[x, y], total_nbytes=30}": for logs and test failures.
std::string ToString(const Instruction& instruction);
// Streams ToString() of any one instruction (GoogleTest prints them through this).
std::ostream& operator<<(std::ostream& os, const Instruction& instruction);
template <class T, class = std::enable_if_t<!std::is_same_v<T, Instruction> &&
                                            std::is_constructible_v<Instruction, const T&>>>
std::ostream& operator<<(std::ostream& os, const T& instruction) {
  return os << Instruction(instruction);
}

}  // namespace tegu::worker
