// Events: everything that can happen to the scheduler, as plain structs in one std::variant.
// The service layer turns messages from workers and clients (and its own timer) into events and
// feeds them to SchedulerState::Handle; nothing else changes the state.
//
// Thread-safety: plain value types.
#pragma once

#include <cstdint>
#include <optional>
#include <variant>
#include <vector>

#include "tegu/key.hpp"
#include "tegu/scheduler/types.hpp"

namespace tegu::scheduler {

/// A worker joined (Dask `add_worker`). A duplicate id of a live worker is ignored.
struct AddWorker {
  WorkerId id = 0;
  uint32_t nthreads = 1;
  uint64_t memory_limit = 0;  ///< bytes; 0 = unknown
};

/// Why a worker left. Only kClosed (a graceful close or retirement) is "safe": tasks that were
/// processing there are not held responsible (no suspicious count, no KilledWorker).
enum class RemoveReason : uint8_t {
  kConnectionLost,
  kHeartbeatTimeout,
  kClosed,
};
const char* RemoveReasonName(RemoveReason reason);

/// A worker left or died (Dask `remove_worker`): its processing tasks are rescheduled and the
/// results only it held are recomputed where still needed.
struct RemoveWorker {
  WorkerId id = 0;
  RemoveReason reason = RemoveReason::kConnectionLost;
};

/// A worker is alive. Any message from a worker counts as one too.
struct Heartbeat {
  WorkerId id = 0;
};

/// A worker paused (memory pressure) or resumed. A paused worker gets no new tasks.
struct PauseWorker {
  WorkerId id = 0;
  bool paused = true;
};

/// The service's periodic timer (Dask runs these as periodic callbacks): removes workers whose
/// last heartbeat is older than `worker_ttl`, then balances work between workers (stealing).
struct Tick {};

/// One task of an UpdateGraph.
struct TaskSubmission {
  Key key{};
  /// Keys this task needs: earlier entries of the same UpdateGraph or keys the scheduler holds.
  std::vector<Key> dependencies{};
  RunSpecHandle run_spec = kNoHandle;
  int32_t priority = 0;  ///< user priority: higher runs first
  uint32_t retries = 0;  ///< times to rerun the task after it raises (capped at 255)
  /// Workers allowed to run it (Dask `workers=`); empty = any.
  std::vector<WorkerId> workers{};
  /// With `workers`, whether others may run it when none of those is available.
  bool allow_other_workers = false;
  /// Graph order (the client's dask.order); the position in `tasks` when unset.
  std::optional<uint32_t> order{};
};

/// A client submits tasks and says which keys it wants (Dask `update_graph`). Keys the scheduler
/// already holds are not replaced (their new run spec is handed back in ReleaseHandles). Tasks
/// not wanted and not needed by a wanted task are forgotten at once.
struct UpdateGraph {
  ClientId client = 0;
  std::vector<TaskSubmission> tasks{};
  std::vector<Key> wanted{};
};

/// Data a client placed on a worker itself (Dask `update_data`, after scatter).
struct ScatteredKey {
  Key key{};
  WorkerId worker = 0;
  uint64_t nbytes = 0;
};
struct UpdateData {
  ClientId client = 0;
  std::vector<ScatteredKey> keys{};  ///< one entry per replica (broadcast: several)
};

/// The client no longer wants these keys (Dask `client_releases_keys`). A key is forgotten once
/// no client wants it and no task depends on it; its result is freed once no client wants it
/// and no pending dependent needs it.
struct ReleaseKeys {
  ClientId client = 0;
  std::vector<Key> keys{};
};

/// A worker computed a task (Dask `task-finished`). `run_id` is the one of the ComputeTask it
/// answers: a result from an older assignment (the task was restarted or moved since) is stale
/// and not taken, since a FreeKeysOnWorker may be on its way to that worker.
struct TaskFinished {
  WorkerId worker = 0;
  Key key{};
  uint64_t nbytes = 0;
  double duration_s = -1;  ///< compute time when known; feeds the duration estimate
  uint32_t run_id = 0;
};

/// A task raised on a worker (Dask `task-erred`); `run_id` as in TaskFinished.
struct TaskErred {
  WorkerId worker = 0;
  Key key{};
  ErrorHandle error = kNoHandle;
  uint32_t run_id = 0;
};

/// A victim's answer to a StealRequest: accepted = it had not started the task and dropped it.
/// `request_id` is the request's: the scheduler may have asked about the same key again since.
struct StealResponse {
  WorkerId victim = 0;
  Key key{};
  bool accepted = false;
  uint64_t request_id = 0;
};

/// `worker` could not fetch `key` from `holder` (Dask `missing-data`).
struct MissingData {
  WorkerId worker = 0;
  Key key{};
  WorkerId holder = 0;
};

/// A worker now holds copies of these keys (fetched as dependencies; Dask `add-keys`).
struct AddReplicas {
  WorkerId worker = 0;
  std::vector<Key> keys{};
};

/// A worker dropped its copy of `key`, told to (FreeKeysOnWorker, CancelCompute) or not (Dask
/// `release-worker-data`).
struct ReleaseWorkerData {
  WorkerId worker = 0;
  Key key{};
};

/// The task asked to run elsewhere (it raised Reschedule; Dask `reschedule`). No failure is
/// counted. `run_id` as in TaskFinished.
struct Reschedule {
  WorkerId worker = 0;
  Key key{};
  uint32_t run_id = 0;
};

/// The running task seceded from the worker's thread pool (Dask `long-running`): it no longer
/// counts against the worker's threads for queuing, placement and stealing.
struct LongRunning {
  WorkerId worker = 0;
  Key key{};
  uint32_t run_id = 0;
};

/// A worker asks where these keys are now (Dask `request-refresh-who-has`); answered with one
/// RefreshWhoHas per key (an empty list: not in memory anywhere now).
struct RequestWhoHas {
  WorkerId worker = 0;
  std::vector<Key> keys{};
};

struct AddClient {
  ClientId id = 0;
};
/// A client left: everything it wanted is released.
struct RemoveClient {
  ClientId id = 0;
};

using Event = std::variant<AddWorker, RemoveWorker, Heartbeat, PauseWorker, Tick, UpdateGraph,
                           UpdateData, ReleaseKeys, TaskFinished, TaskErred, StealResponse,
                           MissingData, AddReplicas, AddClient, RemoveClient, ReleaseWorkerData,
                           Reschedule, LongRunning, RequestWhoHas>;

}  // namespace tegu::scheduler
