// Placement: which worker runs a ready task, and which tasks wait in the queue.
//
// Root-ish tasks (Dask `is_rootish`): a task without restrictions whose group (tasks whose keys
// share a name) has more than twice as many tasks as the cluster has threads, and depends on
// fewer than five tasks in all. These are the input layer of a wide graph. They are queued on the
// scheduler and handed out as workers free up, so a worker never has more than
// max(ceil(nthreads * worker_saturation), 1) tasks processing when it gets one (tasks that
// seceded, LongRunning, do not count), and the
// intermediate results of a wide graph do not pile up in memory (Dask "queuing", 2022.11).
// For tiny tasks (average duration under `queuing_latency`) the limit grows to what keeps a
// worker busy for that long, capped per thread: a scheduler round trip per task would
// otherwise dominate, and tiny tasks have tiny results.
// Which worker: the running one with a free slot and the fewest processing tasks per thread.
//
// Other tasks (Dask `decide_worker`, `worker_objective`): the worker with the earliest estimated
// start time,
//     start = occupied threads * average duration / nthreads + bytes it lacks / bandwidth,
// ties broken by fewer bytes held, then round robin. Candidates are the running workers the
// task's restrictions allow (all running ones when the restriction is loose and no allowed
// worker is up). In clusters of more than kAllWorkersLimit running workers only the holders of
// the task's inputs are scored (as Dask always does), keeping placement O(inputs).
//
// Assumptions: durations are one cluster-wide running average (the TaskFinished reports); until
// the first report every task is assumed to take `unknown_task_duration`. Result sizes are the
// nbytes workers report. Bandwidth is a fixed option.
//
// Thread-safety: members of SchedulerState::Impl; see scheduler_state.hpp.

#include <algorithm>
#include <cmath>
#include <tuple>

#include "tegu/scheduler/scheduler_state_internal.hpp"

namespace tegu::scheduler {

using internal::kNone;

namespace {
constexpr size_t kAllWorkersLimit = 64;
}  // namespace

bool SchedulerState::Impl::QueuingEnabled() const {
  return std::isfinite(options_.worker_saturation);
}

bool SchedulerState::Impl::IsRootish(TaskId t) const {
  if (!QueuingEnabled()) return false;
  const internal::TaskRecord& task = tasks_[t];
  if (task.flags & internal::kRestricted) return false;
  const internal::GroupRecord& group = groups_[task.group];
  if (group.size <= 2 * total_nthreads_) return false;
  if (group.dependencies.size() >= 5) return false;
  uint64_t dependency_tasks = 0;
  for (uint32_t g : group.dependencies) dependency_tasks += groups_[g].size;
  return dependency_tasks < 5;
}

uint32_t SchedulerState::Impl::QueueSlots(WorkerSlot w) const {
  const internal::WorkerRecord& worker = workers_[w];
  double limit = std::max(std::ceil(worker.nthreads * options_.worker_saturation), 1.0);
  if (options_.queuing_latency > 0 && duration_known_ && average_duration_ > 0 &&
      average_duration_ < options_.queuing_latency) {
    const double busy_for = std::ceil(worker.nthreads * options_.queuing_latency / average_duration_);
    const double cap = static_cast<double>(worker.nthreads) * options_.queuing_latency_max_per_thread;
    limit = std::max(limit, std::min(busy_for, cap));
  }
  const double used = Occupied(w);
  return limit > used ? static_cast<uint32_t>(limit - used) : 0;
}

SchedulerState::Impl::WorkerSlot SchedulerState::Impl::PickRootishWorker() const {
  WorkerSlot best = kNone;
  for (WorkerSlot w = 0; w < workers_.size(); ++w) {
    if (!Running(w) || QueueSlots(w) == 0) continue;
    if (best == kNone) {
      best = w;
      continue;
    }
    // occupied threads / nthreads, compared without division.
    const uint64_t lhs = uint64_t{Occupied(w)} * workers_[best].nthreads;
    const uint64_t rhs = uint64_t{Occupied(best)} * workers_[w].nthreads;
    if (lhs < rhs) best = w;
  }
  return best;
}

bool SchedulerState::Impl::AllowedOn(TaskId t, WorkerSlot w) const {
  if (!Running(w)) return false;
  if (!(tasks_[t].flags & internal::kRestricted)) return true;
  const internal::Restriction& r = restrictions_.at(t);
  return r.loose ||
         std::find(r.workers.begin(), r.workers.end(), workers_[w].id) != r.workers.end();
}

double SchedulerState::Impl::StartTime(TaskId t, WorkerSlot w) const {
  const internal::WorkerRecord& worker = workers_[w];
  double missing_bytes = 0;
  for (TaskId d : tasks_[t].dependencies) {
    if (!tasks_[d].who_has.contains(w)) missing_bytes += static_cast<double>(tasks_[d].nbytes);
  }
  const double stack = (Occupied(w) + worker.incoming_steals) * average_duration_ /
                       worker.nthreads;
  return stack + missing_bytes / options_.bandwidth;
}

SchedulerState::Impl::WorkerSlot SchedulerState::Impl::DecideWorker(TaskId t) {
  const internal::TaskRecord& task = tasks_[t];
  const internal::Restriction* restriction =
      (task.flags & internal::kRestricted) ? &restrictions_.at(t) : nullptr;
  auto allowed = [&](WorkerSlot w) {
    if (!Running(w)) return false;
    if (restriction == nullptr) return true;
    const auto& ids = restriction->workers;
    return std::find(ids.begin(), ids.end(), workers_[w].id) != ids.end();
  };

  std::vector<WorkerSlot> candidates;
  if (!task.dependencies.empty() && worker_count_ > kAllWorkersLimit) {
    for (TaskId d : task.dependencies) {
      for (WorkerSlot w : tasks_[d].who_has) {
        if (allowed(w)) candidates.push_back(w);
      }
    }
    std::sort(candidates.begin(), candidates.end());
    candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
  }
  if (candidates.empty()) {
    for (WorkerSlot w = 0; w < workers_.size(); ++w) {
      if (allowed(w)) candidates.push_back(w);
    }
  }
  if (candidates.empty() && restriction != nullptr && restriction->loose) {
    for (WorkerSlot w = 0; w < workers_.size(); ++w) {
      if (Running(w)) candidates.push_back(w);
    }
  }
  if (candidates.empty()) return kNone;
  if (candidates.size() == 1) return candidates[0];

  const size_t n = candidates.size();
  const size_t start = static_cast<size_t>(round_robin_++ % n);
  WorkerSlot best = kNone;
  std::tuple<double, uint64_t> best_score{};
  for (size_t i = 0; i < n; ++i) {
    WorkerSlot w = candidates[(start + i) % n];
    std::tuple<double, uint64_t> score{StartTime(t, w), workers_[w].nbytes};
    if (best == kNone || score < best_score) {
      best = w;
      best_score = score;
    }
  }
  return best;
}

}  // namespace tegu::scheduler
