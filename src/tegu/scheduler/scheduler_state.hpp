// SchedulerState: the distributed scheduler's logic as a sans-IO state machine, after Dask's
// `SchedulerState` (distributed/scheduler.py). It takes events (a worker joined, a client
// submitted tasks, a worker finished one, a timer fired...) and returns the actions they call for
// (run this task there, free these keys, tell that client). It has no sockets, threads or clock:
// time is an argument of Handle, and tie-breaks are deterministic, so the same events always give
// the same actions. The service layer around it owns the connections, the serialized run specs
// and errors (it passes opaque handles), and the timer that sends Tick.
//
// What it implements, described in docs/scheduling.md: Dask's task states and transitions;
// placement by dependency bytes and occupancy (policy/decide_worker.cpp); root-task queuing;
// priorities; worker restrictions; work stealing (policy/work_stealing.cpp); retries; recompute
// of lost results; KilledWorker; heartbeat timeouts. Messages to and from a worker cross on the
// wire; the worker contract in actions.hpp (run ids, steal request ids, drop reports) is what
// lets the scheduler tell a stale report from a current one.
//
// Memory: tasks live in flat tables indexed by an interned task id: a 128-byte record, the key,
// and a slot of the key index; about 230 bytes a task in all for short keys (the issue allows
// 1 KB). See TEST_BytesPerTaskEstimate and docs/scheduling.md.
//
// Thread-safety: not thread-safe. One owner (the service's event loop) calls every method.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "tegu/key.hpp"
#include "tegu/scheduler/actions.hpp"
#include "tegu/scheduler/events.hpp"
#include "tegu/scheduler/types.hpp"
#include "tegu/status.hpp"

namespace tegu::scheduler {

/// Knobs, named and defaulted as Dask's `distributed.scheduler.*` configuration.
struct SchedulerOptions {
  /// Root-task queuing: a worker is sent a root-ish task only while it processes fewer than
  /// max(ceil(nthreads * worker_saturation), 1) tasks. Infinity turns queuing off.
  double worker_saturation = 1.1;
  /// Latency hiding for tiny root tasks (Tegu's addition to Dask's queuing): once tasks are
  /// known to take on average less than this many seconds, a worker may hold enough root
  /// tasks to stay busy for this long — ceil(nthreads * queuing_latency / average duration),
  /// at most `queuing_latency_max_per_thread` per thread — so that each tiny task does not
  /// wait for a scheduler round trip. Long tasks (where memory matters) keep the
  /// worker_saturation limit. 0 turns it off.
  double queuing_latency = 0.002;
  uint32_t queuing_latency_max_per_thread = 32;
  /// A task that was processing on this many workers that died fails with KilledWorker. (Dask's
  /// `allowed-failures: 3` fails on the 4th death; the limit here counts the deaths themselves.)
  uint32_t killed_worker_limit = 3;
  /// A worker silent for longer than this is removed on the next Tick (Dask `worker-ttl`).
  Clock::duration worker_ttl = std::chrono::minutes(5);
  /// Estimated network bandwidth in bytes/s, to price moving dependencies.
  double bandwidth = 100e6;
  /// Task duration assumed before any TaskFinished reports one, in seconds.
  double unknown_task_duration = 0.5;
  /// Move queued-up work from saturated to idle workers on Tick.
  bool work_stealing = true;
  /// A task is worth stealing when moving its inputs costs at most this fraction of its
  /// estimated compute time.
  double steal_max_cost_ratio = 1.0;
  /// Tasks estimated shorter than this (seconds) are not worth a steal round trip.
  double steal_min_duration = 0.005;
};

class SchedulerState {
 public:
  explicit SchedulerState(SchedulerOptions options = {});
  ~SchedulerState();
  SchedulerState(SchedulerState&&) noexcept;
  SchedulerState& operator=(SchedulerState&&) noexcept;
  SchedulerState(const SchedulerState&) = delete;
  SchedulerState& operator=(const SchedulerState&) = delete;

  /// Applies one event at time `now` and returns what to do. Malformed or stale events (an
  /// unknown worker, a late result from a removed worker, an unknown key) are ignored or answered
  /// (for example a FreeKeysOnWorker for a result nobody needs); they never abort.
  Actions Handle(const Event& event, Clock::time_point now);

  const SchedulerOptions& options() const;

  // Inspection, for the service layer (dashboard, who_has/has_what) and for tests.

  /// The state of `key`'s task; kForgotten when the scheduler does not know it.
  TaskState TaskStateOf(const Key& key) const;
  /// Workers holding `key`'s result, in the order they got it.
  std::vector<WorkerId> WhoHas(const Key& key) const;
  /// The worker `key` is processing on, if it is processing.
  std::optional<WorkerId> ProcessingOn(const Key& key) const;
  /// The error of an erred task.
  std::optional<TaskError> ErrorOf(const Key& key) const;
  /// How many workers died while `key` was processing on them.
  uint32_t SuspiciousCount(const Key& key) const;
  /// Priority of a known task.
  std::optional<Priority> PriorityOf(const Key& key) const;
  /// Number of tasks processing on `worker` (0 for unknown workers).
  size_t ProcessingCount(WorkerId worker) const;
  /// kClosed for unknown or removed workers.
  WorkerStatus WorkerStatusOf(WorkerId worker) const;
  /// Keys whose results `worker` holds (Dask `has_what`). O(tasks): for inspection only.
  std::vector<Key> HasWhat(WorkerId worker) const;
  /// Live workers, ascending by id.
  std::vector<WorkerId> Workers() const;

  size_t task_count() const;
  size_t worker_count() const;
  size_t queued_count() const;

  /// Checks every internal invariant (states vs. worker tables, waiter and dependency counts,
  /// who_has, queue and restriction bookkeeping); the first violation found, or OK. O(tasks).
  Status TEST_CheckInvariants() const;
  /// Bytes of scheduler memory per live task: the tables, the keys, the small vectors' heap
  /// blocks and the side tables, divided by the number of tasks. 0 when there are none.
  size_t TEST_BytesPerTaskEstimate() const;

 private:
  class Impl;  // scheduler_state_internal.hpp
  std::unique_ptr<Impl> impl_;
};

}  // namespace tegu::scheduler
