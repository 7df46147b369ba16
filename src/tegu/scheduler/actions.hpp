// Actions: what the scheduler asks the service layer to do after an event, as plain structs in
// one std::variant. Actions addressed to one worker (or one client) must be delivered in the
// order they appear; actions to different peers are independent.
//
// Thread-safety: plain value types.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "tegu/key.hpp"
#include "tegu/scheduler/events.hpp"
#include "tegu/scheduler/types.hpp"

namespace tegu::scheduler {

/// Where a dependency's result lives.
struct DependencyLocation {
  Key key{};
  std::vector<WorkerId> who_has{};
  uint64_t nbytes = 0;

  friend bool operator==(const DependencyLocation&, const DependencyLocation&) = default;
};

/// Run a task on a worker (Dask `compute-task`). The worker answers TaskFinished or TaskErred
/// with the same `run_id` (Dask's `run_id`), so that answers about an older assignment of the
/// key are recognised as stale. A worker that holds the key's result when the request comes,
/// or gets it later (fetched as another task's input), answers TaskFinished with this run_id
/// without running it again and without giving it up to a steal, as Dask's worker does (its
/// state machine has one state per key): that is how a copy the scheduler ignored as stale
/// becomes tracked again. A computation of the key still running when the request comes (one
/// the scheduler cancelled) may be resumed under the new run_id (Dask: cancelled -> resumed).
struct ComputeTask {
  WorkerId worker = 0;
  Key key{};
  RunSpecHandle run_spec = kNoHandle;
  Priority priority{};
  std::vector<DependencyLocation> dependencies{};
  uint32_t run_id = 0;
};

/// Drop these results (Dask `free-keys`). Consecutive frees for one worker are merged. Never
/// sent for a key the worker is computing for the scheduler. The worker reports every copy it
/// drops, for this or any other reason, with ReleaseWorkerData, as Dask's worker does: a
/// report that the worker holds the key, sent before the free arrived, is corrected that way.
struct FreeKeysOnWorker {
  WorkerId worker = 0;
  std::vector<Key> keys{};
};

/// Forget a task the worker was asked to compute (not needed anymore, moved elsewhere, or its
/// result arrived another way); Dask sends `free-keys` for this too. The worker may drop a copy
/// of the result it holds as well: the scheduler tracks none there. A computation already
/// running may finish; its answer will be stale.
struct CancelCompute {
  WorkerId worker = 0;
  Key key{};
};

/// Ask `victim` to give up `key` if it has not started it; it answers with a StealResponse
/// carrying the same `request_id` (answers to older requests for the same key are ignored).
struct StealRequest {
  WorkerId victim = 0;
  WorkerId thief = 0;
  Key key{};
  uint64_t request_id = 0;
};

/// The holders `worker` should fetch `key` from, after it reported MissingData.
struct RefreshWhoHas {
  WorkerId worker = 0;
  Key key{};
  std::vector<WorkerId> who_has{};
};

/// What a client hears about a key it wants.
enum class ClientKeyState : uint8_t {
  kMemory,  ///< done: the result is on a worker (Dask `key-in-memory`)
  kErred,   ///< failed (Dask `task-erred`)
  kLost,    ///< the result was lost and is being recomputed (Dask `lost-data`)
};
const char* ClientKeyStateName(ClientKeyState state);

struct NotifyClient {
  ClientId client = 0;
  Key key{};
  ClientKeyState state = ClientKeyState::kMemory;
  TaskError error{};  ///< for kErred
};

/// A task failed with KilledWorker: it was processing on `deaths` workers that died, the last
/// one `last_worker`. The clients that want it also get NotifyClient(kErred, kKilledWorker).
struct TaskKilled {
  Key key{};
  WorkerId last_worker = 0;
  uint32_t deaths = 0;
};

/// Close this worker's connection: the scheduler removed it (heartbeat timeout).
struct CloseWorker {
  WorkerId worker = 0;
  RemoveReason reason = RemoveReason::kHeartbeatTimeout;
};

/// The scheduler forgot a key; its run spec, and the error it owned, may be freed.
struct TaskForgotten {
  Key key{};
  RunSpecHandle run_spec = kNoHandle;
  ErrorHandle error = kNoHandle;
};

/// Handles the scheduler did not keep: the run spec of a key it already had, the error of an
/// attempt that will be retried, an error reported for a task no longer processing there.
struct ReleaseHandles {
  RunSpecHandle run_spec = kNoHandle;
  ErrorHandle error = kNoHandle;
};

using Action = std::variant<ComputeTask, FreeKeysOnWorker, CancelCompute, StealRequest,
                            RefreshWhoHas, NotifyClient, TaskKilled, CloseWorker, TaskForgotten,
                            ReleaseHandles>;
using Actions = std::vector<Action>;

/// A one-line description, for logs and tests: "compute 1 c deps=[a@1,b@2]", "free 2 [a,b]",
/// "cancel 1 a", "steal a 1->2", "refresh 2 a [1]", "notify 7 c memory",
/// "notify 7 c erred task-raised blame=a", "killed c last=1 deaths=3",
/// "close 1 heartbeat-timeout", "forgotten c", "release-handles run_spec=5 error=0".
std::string ToString(const Action& action);

}  // namespace tegu::scheduler
