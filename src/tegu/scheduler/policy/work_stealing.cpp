// Work stealing: moving tasks that wait on a saturated worker to an idle one (after Dask's
// WorkStealing extension, distributed/stealing.py, much reduced).
//
// On each Tick: thieves are running workers with idle threads (fewer tasks processing, counting
// steals on their way in, than threads); victims are workers with more processing tasks than
// threads (not counting tasks already being stolen). From the most saturated victim first, the
// scheduler picks tasks that are cheap to move: not strictly restricted, not already in flight,
// and whose inputs cost at most `steal_max_cost_ratio` times the average task duration to
// transfer (Dask's cost = transfer time / compute time). Among those it takes the ones the victim
// would run last (worst priority), at most the victim's excess, and sends each to the thief with
// the most idle threads as a StealRequest to the victim.
//
// The victim answers (StealResponse). Accepted: it had not started the task and dropped it; the
// scheduler moves it to the thief (ComputeTask), or back to waiting if the thief left meanwhile.
// Rejected (already running or done): nothing changes. An answer for a steal the scheduler no
// longer tracks (the task finished, was released, or the victim was removed first), or for an
// older request about the same key, is ignored: answers carry their request's id, since a
// rejection of an old request must not cancel a newer one whose acceptance is still to come.
//
// Assumptions: tasks are short enough that the average duration describes them; no stealing
// when that average is below `steal_min_duration` (a round trip would cost more than it saves).
//
// Thread-safety: members of SchedulerState::Impl; see scheduler_state.hpp.

#include <algorithm>
#include <tuple>

#include "tegu/scheduler/scheduler_state_internal.hpp"

namespace tegu::scheduler {

using internal::kNone;

void SchedulerState::Impl::BalanceWork() {
  if (!options_.work_stealing || average_duration_ < options_.steal_min_duration) return;

  struct Thief {
    WorkerSlot w;
    int64_t idle;
  };
  std::vector<Thief> thieves;
  int64_t total_idle = 0;
  for (WorkerSlot w = 0; w < workers_.size(); ++w) {
    if (!Running(w)) continue;
    const auto& worker = workers_[w];
    int64_t idle = int64_t{worker.nthreads} - Occupied(w) - worker.incoming_steals;
    if (idle > 0) {
      thieves.push_back({w, idle});
      total_idle += idle;
    }
  }
  if (thieves.empty()) return;

  struct Victim {
    WorkerSlot w;
    int64_t excess;
  };
  std::vector<Victim> victims;
  for (WorkerSlot w = 0; w < workers_.size(); ++w) {
    const auto& worker = workers_[w];
    if (!worker.alive()) continue;
    int64_t excess = int64_t{Occupied(w)} - worker.outgoing_steals - worker.nthreads;
    if (excess > 0) victims.push_back({w, excess});
  }
  // Most saturated (excess per thread) first.
  std::sort(victims.begin(), victims.end(), [this](const Victim& a, const Victim& b) {
    const uint64_t lhs = uint64_t(a.excess) * workers_[b.w].nthreads;
    const uint64_t rhs = uint64_t(b.excess) * workers_[a.w].nthreads;
    return lhs != rhs ? lhs > rhs : a.w < b.w;
  });

  const double max_transfer_s = average_duration_ * options_.steal_max_cost_ratio;
  std::vector<TaskId> candidates;
  for (const Victim& victim : victims) {
    if (total_idle == 0) break;
    candidates.clear();
    for (TaskId t = workers_[victim.w].processing_head; t != kNone; t = tasks_[t].next) {
      const auto& task = tasks_[t];
      if (steals_.count(t) || (task.flags & internal::kLongRunning)) continue;
      if ((task.flags & internal::kRestricted) && !restrictions_.at(t).loose) continue;
      double bytes = 0;
      for (TaskId d : task.dependencies) bytes += static_cast<double>(tasks_[d].nbytes);
      if (bytes / options_.bandwidth > max_transfer_s) continue;
      candidates.push_back(t);
    }
    const size_t take = static_cast<size_t>(
        std::min<int64_t>({victim.excess, total_idle, static_cast<int64_t>(candidates.size())}));
    if (take == 0) continue;
    auto worst_first = [this](TaskId a, TaskId b) {
      return std::tie(tasks_[b].priority, b) < std::tie(tasks_[a].priority, a);
    };
    std::partial_sort(candidates.begin(), candidates.begin() + static_cast<ptrdiff_t>(take),
                      candidates.end(), worst_first);
    for (size_t i = 0; i < take; ++i) {
      const TaskId t = candidates[i];
      auto fewer_idle = [](const Thief& a, const Thief& b) { return a.idle < b.idle; };
      auto thief = std::max_element(thieves.begin(), thieves.end(), fewer_idle);
      auto& victim_worker = workers_[victim.w];
      auto& thief_worker = workers_[thief->w];
      const uint64_t id = next_steal_id_++;
      Emit(StealRequest{victim_worker.id, thief_worker.id, keys_[t], id}, victim.w);
      steals_[t] = internal::InFlightSteal{victim.w, victim_worker.id, thief_worker.id, id};
      ++victim_worker.outgoing_steals;
      ++thief_worker.incoming_steals;
      --thief->idle;
      --total_idle;
    }
  }
}

void SchedulerState::Impl::ForgetSteal(TaskId t) {
  auto it = steals_.find(t);
  if (it == steals_.end()) return;
  --workers_[it->second.victim].outgoing_steals;
  WorkerSlot thief = FindWorker(it->second.thief_id);
  if (thief != kNone) --workers_[thief].incoming_steals;
  steals_.erase(it);
}

void SchedulerState::Impl::On(const StealResponse& e) {
  WorkerSlot v = FindWorker(e.victim);
  if (v != kNone) workers_[v].last_seen = now_;
  TaskId t = Find(e.key);
  if (t == kNone) return;
  auto it = steals_.find(t);
  if (it == steals_.end() || it->second.victim_id != e.victim ||
      it->second.request_id != e.request_id) {
    return;  // an answer to a request overtaken by events (or by a newer request)
  }
  const WorkerId thief_id = it->second.thief_id;
  ForgetSteal(t);
  if (!e.accepted) return;
  // The victim dropped the task: it is now the thief's, or nobody's if the thief is gone.
  ExitProcessing(t);
  WorkerSlot thief = FindWorker(thief_id);
  if (thief != kNone && AllowedOn(t, thief)) {
    Assign(t, thief);
  } else {
    EnterWaiting(t);
  }
}

}  // namespace tegu::scheduler
