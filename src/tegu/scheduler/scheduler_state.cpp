// SchedulerState: event handlers and task transitions. The transitions follow Dask's
// SchedulerState (distributed/scheduler.py, `_transition_*`): a handler changes the state of the
// tasks an event touches directly and queues recommendations (Rec) for the tasks that change as
// a consequence; Drain applies them until none is left. Placement and stealing are in policy/.

#include "tegu/scheduler/scheduler_state.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <tuple>
#include <utility>
#include <variant>

#include "tegu/common/check.hpp"
#include "tegu/scheduler/scheduler_state_internal.hpp"

namespace tegu::scheduler {

using internal::ClientRecord;
using internal::ErrorRecord;
using internal::GroupRecord;
using internal::kNone;
using internal::QueueEntry;
using internal::TaskRecord;
using internal::WorkerRecord;

// ---------------------------------------------------------------------------------------------
// Names.

const char* TaskStateName(TaskState state) {
  switch (state) {
    case TaskState::kReleased: return "released";
    case TaskState::kWaiting: return "waiting";
    case TaskState::kQueued: return "queued";
    case TaskState::kNoWorker: return "no-worker";
    case TaskState::kProcessing: return "processing";
    case TaskState::kMemory: return "memory";
    case TaskState::kErred: return "erred";
    case TaskState::kForgotten: return "forgotten";
  }
  return "?";
}

const char* WorkerStatusName(WorkerStatus status) {
  switch (status) {
    case WorkerStatus::kRunning: return "running";
    case WorkerStatus::kPaused: return "paused";
    case WorkerStatus::kClosed: return "closed";
  }
  return "?";
}

const char* ErrorKindName(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kNone: return "none";
    case ErrorKind::kTaskRaised: return "task-raised";
    case ErrorKind::kKilledWorker: return "killed-worker";
    case ErrorKind::kMissingDependency: return "missing-dependency";
    case ErrorKind::kLostData: return "lost-data";
    case ErrorKind::kCycle: return "cycle";
  }
  return "?";
}

const char* RemoveReasonName(RemoveReason reason) {
  switch (reason) {
    case RemoveReason::kConnectionLost: return "connection-lost";
    case RemoveReason::kHeartbeatTimeout: return "heartbeat-timeout";
    case RemoveReason::kClosed: return "closed";
  }
  return "?";
}

const char* ClientKeyStateName(ClientKeyState state) {
  switch (state) {
    case ClientKeyState::kMemory: return "memory";
    case ClientKeyState::kErred: return "erred";
    case ClientKeyState::kLost: return "lost";
  }
  return "?";
}

namespace {

template <class... Fs>
struct Overloaded : Fs... {
  using Fs::operator()...;
};
template <class... Fs>
Overloaded(Fs...) -> Overloaded<Fs...>;

std::string JoinKeys(const std::vector<Key>& keys) {
  std::string out = "[";
  for (size_t i = 0; i < keys.size(); ++i) {
    if (i > 0) out += ",";
    out += keys[i].ToString();
  }
  return out + "]";
}

std::string JoinIds(const std::vector<WorkerId>& ids) {
  std::string out = "[";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) out += ",";
    out += std::to_string(ids[i]);
  }
  return out + "]";
}

}  // namespace

std::string ToString(const Action& action) {
  return std::visit(
      Overloaded{
          [](const ComputeTask& a) {
            std::string s = "compute " + std::to_string(a.worker) + " " + a.key.ToString();
            if (!a.dependencies.empty()) {
              s += " deps=[";
              for (size_t i = 0; i < a.dependencies.size(); ++i) {
                if (i > 0) s += ",";
                s += a.dependencies[i].key.ToString() + "@";
                const auto& holders = a.dependencies[i].who_has;
                for (size_t j = 0; j < holders.size(); ++j) {
                  if (j > 0) s += "|";
                  s += std::to_string(holders[j]);
                }
              }
              s += "]";
            }
            return s;
          },
          [](const FreeKeysOnWorker& a) {
            return "free " + std::to_string(a.worker) + " " + JoinKeys(a.keys);
          },
          [](const CancelCompute& a) {
            return "cancel " + std::to_string(a.worker) + " " + a.key.ToString();
          },
          [](const StealRequest& a) {
            return "steal " + a.key.ToString() + " " + std::to_string(a.victim) + "->" +
                   std::to_string(a.thief);
          },
          [](const RefreshWhoHas& a) {
            return "refresh " + std::to_string(a.worker) + " " + a.key.ToString() + " " +
                   JoinIds(a.who_has);
          },
          [](const NotifyClient& a) {
            std::string s = "notify " + std::to_string(a.client) + " " + a.key.ToString() + " " +
                            ClientKeyStateName(a.state);
            if (a.state == ClientKeyState::kErred) {
              s += std::string(" ") + ErrorKindName(a.error.kind) +
                   " blame=" + a.error.blame.ToString();
            }
            return s;
          },
          [](const TaskKilled& a) {
            return "killed " + a.key.ToString() + " last=" + std::to_string(a.last_worker) +
                   " deaths=" + std::to_string(a.deaths);
          },
          [](const CloseWorker& a) {
            return "close " + std::to_string(a.worker) + " " + RemoveReasonName(a.reason);
          },
          [](const TaskForgotten& a) { return "forgotten " + a.key.ToString(); },
          [](const ReleaseHandles& a) {
            return "release-handles run_spec=" + std::to_string(a.run_spec) +
                   " error=" + std::to_string(a.error);
          },
      },
      action);
}

// ---------------------------------------------------------------------------------------------
// SchedulerState: the public face forwards to Impl.

SchedulerState::SchedulerState(SchedulerOptions options)
    : impl_(std::make_unique<Impl>(options)) {}
SchedulerState::~SchedulerState() = default;
SchedulerState::SchedulerState(SchedulerState&&) noexcept = default;
SchedulerState& SchedulerState::operator=(SchedulerState&&) noexcept = default;

Actions SchedulerState::Handle(const Event& event, Clock::time_point now) {
  return impl_->Handle(event, now);
}

const SchedulerOptions& SchedulerState::options() const { return impl_->options_; }

TaskState SchedulerState::TaskStateOf(const Key& key) const {
  auto t = impl_->Find(key);
  return t == kNone ? TaskState::kForgotten : impl_->tasks_[t].state;
}

std::vector<WorkerId> SchedulerState::WhoHas(const Key& key) const {
  std::vector<WorkerId> out;
  auto t = impl_->Find(key);
  if (t == kNone) return out;
  for (auto w : impl_->tasks_[t].who_has) out.push_back(impl_->workers_[w].id);
  return out;
}

std::vector<Key> SchedulerState::HasWhat(WorkerId worker) const {
  std::vector<Key> out;
  for (size_t t = 0; t < impl_->tasks_.size(); ++t) {
    const TaskRecord& task = impl_->tasks_[t];
    if (task.state != TaskState::kMemory) continue;
    for (auto w : task.who_has) {
      if (impl_->workers_[w].id == worker) {
        out.push_back(impl_->keys_[t]);
        break;
      }
    }
  }
  return out;
}

std::optional<WorkerId> SchedulerState::ProcessingOn(const Key& key) const {
  auto t = impl_->Find(key);
  if (t == kNone || impl_->tasks_[t].processing_on == kNone) return std::nullopt;
  return impl_->workers_[impl_->tasks_[t].processing_on].id;
}

std::optional<TaskError> SchedulerState::ErrorOf(const Key& key) const {
  auto t = impl_->Find(key);
  if (t == kNone || impl_->tasks_[t].state != TaskState::kErred) return std::nullopt;
  return impl_->MakeError(t);
}

uint32_t SchedulerState::SuspiciousCount(const Key& key) const {
  auto t = impl_->Find(key);
  return t == kNone ? 0 : impl_->tasks_[t].suspicious;
}

std::optional<Priority> SchedulerState::PriorityOf(const Key& key) const {
  auto t = impl_->Find(key);
  if (t == kNone) return std::nullopt;
  return impl_->tasks_[t].priority;
}

size_t SchedulerState::ProcessingCount(WorkerId worker) const {
  auto w = impl_->FindWorker(worker);
  return w == kNone ? 0 : impl_->workers_[w].processing_count;
}

WorkerStatus SchedulerState::WorkerStatusOf(WorkerId worker) const {
  auto w = impl_->FindWorker(worker);
  return w == kNone ? WorkerStatus::kClosed : impl_->workers_[w].status;
}

std::vector<WorkerId> SchedulerState::Workers() const {
  std::vector<WorkerId> out;
  for (const auto& [id, slot] : impl_->worker_index_) out.push_back(id);
  std::sort(out.begin(), out.end());
  return out;
}

size_t SchedulerState::task_count() const { return impl_->task_count_; }
size_t SchedulerState::worker_count() const { return impl_->worker_count_; }
size_t SchedulerState::queued_count() const { return impl_->queued_count_; }

Status SchedulerState::TEST_CheckInvariants() const { return impl_->CheckInvariants(); }
size_t SchedulerState::TEST_BytesPerTaskEstimate() const { return impl_->BytesPerTaskEstimate(); }

// ---------------------------------------------------------------------------------------------
// Impl: the event loop.

SchedulerState::Impl::Impl(SchedulerOptions options)
    : options_(options), average_duration_(options.unknown_task_duration) {
  index_.assign(16, kNone);
  index_mask_ = 15;
}

Actions SchedulerState::Impl::Handle(const Event& event, Clock::time_point now) {
  Actions out;
  out_ = &out;
  now_ = now;
  std::visit([this](const auto& e) { On(e); }, event);
  Drain();
  FillQueueSlots();
  Drain();
  for (WorkerSlot w : touched_workers_) last_action_[w] = 0;
  touched_workers_.clear();
  free_tasks_.insert(free_tasks_.end(), pending_free_.begin(), pending_free_.end());
  pending_free_.clear();
  out_ = nullptr;
  return out;
}

void SchedulerState::Impl::Emit(Action action, WorkerSlot to) {
  out_->push_back(std::move(action));
  if (to == kNone) return;
  if (last_action_.size() <= to) last_action_.resize(workers_.size(), 0);
  if (last_action_[to] == 0) touched_workers_.push_back(to);
  last_action_[to] = out_->size();
}

void SchedulerState::Impl::FreeKeysOn(WorkerSlot w, const Key& key) {
  if (!workers_[w].alive()) return;
  size_t last = w < last_action_.size() ? last_action_[w] : 0;
  if (last != 0) {
    if (auto* free = std::get_if<FreeKeysOnWorker>(&(*out_)[last - 1])) {
      free->keys.push_back(key);
      return;
    }
  }
  Emit(FreeKeysOnWorker{workers_[w].id, {key}}, w);
}

void SchedulerState::Impl::Notify(TaskId t, ClientKeyState state) {
  const TaskRecord& task = tasks_[t];
  if (task.who_wants.empty()) return;
  TaskError error;
  if (state == ClientKeyState::kErred) error = MakeError(t);
  for (ClientSlot c : task.who_wants) {
    Emit(NotifyClient{clients_[c].id, keys_[t], state, error});
  }
}

TaskError SchedulerState::Impl::MakeError(TaskId t) const {
  auto it = errors_.find(t);
  TEGU_CHECK(it != errors_.end());
  const ErrorRecord& e = it->second;
  return TaskError{e.kind, e.handle, keys_[e.blame]};
}

// ---------------------------------------------------------------------------------------------
// Keys, workers, clients, groups.

uint32_t SchedulerState::Impl::HashKey(const Key& key) {
  // Key::Hash combines std::hash values, which are the identity for integers; finish with a
  // 64-bit mixer (MurmurHash3's fmix64) so tuple keys spread over the table.
  uint64_t h = key.Hash();
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return static_cast<uint32_t>(h);
}

SchedulerState::Impl::TaskId SchedulerState::Impl::Find(const Key& key) const {
  return Find(key, HashKey(key));
}

SchedulerState::Impl::TaskId SchedulerState::Impl::Find(const Key& key, uint32_t hash) const {
  size_t i = hash & index_mask_;
  while (true) {
    TaskId t = index_[i];
    if (t == kNone) return kNone;
    if (tasks_[t].hash == hash && keys_[t] == key) return t;
    i = (i + 1) & index_mask_;
  }
}

void SchedulerState::Impl::IndexInsert(TaskId t) {
  if ((task_count_ + 1) * 2 > index_.size()) IndexGrow();
  size_t i = tasks_[t].hash & index_mask_;
  while (index_[i] != kNone) i = (i + 1) & index_mask_;
  index_[i] = t;
}

void SchedulerState::Impl::IndexGrow() {
  std::vector<TaskId> old = std::move(index_);
  index_.assign(old.size() * 2, kNone);
  index_mask_ = index_.size() - 1;
  for (TaskId t : old) {
    if (t == kNone) continue;
    size_t i = tasks_[t].hash & index_mask_;
    while (index_[i] != kNone) i = (i + 1) & index_mask_;
    index_[i] = t;
  }
}

void SchedulerState::Impl::IndexErase(TaskId t) {
  size_t i = tasks_[t].hash & index_mask_;
  while (index_[i] != t) {
    TEGU_DCHECK(index_[i] != kNone);
    i = (i + 1) & index_mask_;
  }
  // Backward-shift deletion (linear probing without tombstones): move up every later entry of
  // the run whose home slot is not cyclically inside (i, j].
  size_t j = i;
  while (true) {
    j = (j + 1) & index_mask_;
    TaskId u = index_[j];
    if (u == kNone) break;
    size_t home = tasks_[u].hash & index_mask_;
    bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
    if (!stays) {
      index_[i] = u;
      i = j;
    }
  }
  index_[i] = kNone;
}

SchedulerState::Impl::TaskId SchedulerState::Impl::CreateTask(const Key& key, uint32_t hash) {
  TaskId t;
  if (!free_tasks_.empty()) {
    t = free_tasks_.back();
    free_tasks_.pop_back();
  } else {
    TEGU_CHECK(tasks_.size() < kNone);
    t = static_cast<TaskId>(tasks_.size());
    tasks_.emplace_back();
    keys_.emplace_back();
  }
  TaskRecord& task = tasks_[t];
  task = TaskRecord{};
  task.hash = hash;
  task.state = TaskState::kReleased;
  task.priority.generation = generation_;
  keys_[t] = key;
  uint32_t g = GroupFor(key);
  tasks_[t].group = g;
  ++groups_[g].size;
  IndexInsert(t);
  ++task_count_;
  return t;
}

SchedulerState::Impl::WorkerSlot SchedulerState::Impl::FindWorker(WorkerId id) const {
  auto it = worker_index_.find(id);
  return it == worker_index_.end() ? kNone : it->second;
}

SchedulerState::Impl::ClientSlot SchedulerState::Impl::FindClient(ClientId id) const {
  auto it = client_index_.find(id);
  return it == client_index_.end() ? kNone : it->second;
}

SchedulerState::Impl::ClientSlot SchedulerState::Impl::EnsureClient(ClientId id) {
  ClientSlot c = FindClient(id);
  if (c != kNone) return c;
  if (!free_clients_.empty()) {
    c = free_clients_.back();
    free_clients_.pop_back();
  } else {
    c = static_cast<ClientSlot>(clients_.size());
    clients_.emplace_back();
  }
  clients_[c] = ClientRecord{id, true};
  client_index_.emplace(id, c);
  return c;
}

namespace {

// Dask's key_split_group: the first element of a tuple key; "data" for a 32-hex-digit string
// (a tokenized scatter); otherwise key_split ("inc" for "inc-5f2a…").
std::string GroupName(const Key& key) {
  if (key.is_tuple()) return key.name();
  const std::string& s = key.name();
  auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); };
  if (s.size() == 32 && std::all_of(s.begin(), s.end(), hex)) return "data";
  return key.Prefix();
}

}  // namespace

uint32_t SchedulerState::Impl::GroupFor(const Key& key) {
  std::string name = GroupName(key);
  auto it = group_index_.find(name);
  if (it != group_index_.end()) return it->second;
  uint32_t g;
  if (!free_groups_.empty()) {
    g = free_groups_.back();
    free_groups_.pop_back();
  } else {
    g = static_cast<uint32_t>(groups_.size());
    groups_.emplace_back();
  }
  groups_[g] = GroupRecord{};
  groups_[g].name = name;
  group_index_.emplace(std::move(name), g);
  return g;
}

void SchedulerState::Impl::LeaveGroup(TaskId t) {
  uint32_t g = tasks_[t].group;
  GroupRecord& group = groups_[g];
  if (--group.size > 0) return;
  // The last task is gone: unlink the group and recycle its slot.
  for (uint32_t d : group.dependencies) {
    if (d != g) groups_[d].dependents.erase(g);
  }
  for (uint32_t x : group.dependents) groups_[x].dependencies.erase(g);
  group_index_.erase(group.name);
  groups_[g] = GroupRecord{};
  free_groups_.push_back(g);
}

bool SchedulerState::Impl::AllDependenciesInMemory(TaskId t) const {
  for (TaskId d : tasks_[t].dependencies) {
    if (tasks_[d].state != TaskState::kMemory) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Transitions.

void SchedulerState::Impl::Drain() {
  while (recs_head_ < recs_.size()) {
    auto [t, rec] = recs_[recs_head_++];
    Apply(t, rec);
    // Keep the queue's memory bounded during long cascades (forgetting a 1M-task chain).
    if (recs_head_ >= 4096 && recs_head_ * 2 >= recs_.size()) {
      recs_.erase(recs_.begin(), recs_.begin() + static_cast<ptrdiff_t>(recs_head_));
      recs_head_ = 0;
    }
  }
  recs_.clear();
  recs_head_ = 0;
  if (recs_.capacity() > 65536) recs_.shrink_to_fit();  // after a big graph, give it back
}

void SchedulerState::Impl::Apply(TaskId t, Rec rec) {
  TaskRecord& task = tasks_[t];
  const TaskState state = task.state;
  if (state == TaskState::kForgotten) return;
  switch (rec) {
    case Rec::kWaiting:
      if (state == TaskState::kReleased) {
        if (Needed(task)) {
          EnterWaiting(t);
        } else if (Forgettable(task)) {
          Forget(t);
        }
      } else if (state == TaskState::kProcessing || state == TaskState::kQueued ||
                 state == TaskState::kNoWorker) {
        // An input was lost: start over from waiting.
        if (!AllDependenciesInMemory(t)) {
          Unassign(t);
          EnterWaiting(t);
        }
      }
      return;
    case Rec::kProcessing:
      if ((state == TaskState::kWaiting && task.waiting_on == 0) ||
          state == TaskState::kNoWorker) {
        ToProcessing(t);
      }
      return;
    case Rec::kRelease:
      if (Needed(task)) return;
      if (state == TaskState::kReleased || state == TaskState::kErred) {
        if (Forgettable(task)) Forget(t);
        return;
      }
      Release(t);
      return;
    case Rec::kForget:
      if (!Forgettable(task)) return;
      if (state == TaskState::kReleased || state == TaskState::kErred) {
        Forget(t);
      } else {
        Release(t);  // recommends kForget again once released
      }
      return;
  }
}

void SchedulerState::Impl::SetState(TaskId t, TaskState s) {
  TaskRecord& task = tasks_[t];
  const TaskState old = task.state;
  if (old == s) return;
  TEGU_DCHECK(old != TaskState::kProcessing || task.processing_on == kNone);
  if (old == TaskState::kQueued) {
    --queued_count_;
  } else if (old == TaskState::kNoWorker) {
    unrunnable_.erase(t);
  }
  task.state = s;
  if (s == TaskState::kQueued) {
    ++queued_count_;
    PushQueue(t);
  } else if (s == TaskState::kNoWorker) {
    unrunnable_.insert(t);
  }
  // Waiters: a dependency is needed while a dependent waits for it or runs (Dask `waiters`).
  const bool was_waiter = IsWaiterState(old);
  const bool is_waiter = IsWaiterState(s);
  if (was_waiter != is_waiter) {
    for (TaskId d : task.dependencies) {
      TaskRecord& dep = tasks_[d];
      if (is_waiter) {
        ++dep.waiters;
      } else {
        TEGU_DCHECK(dep.waiters > 0);
        --dep.waiters;
        if (dep.waiters == 0 && dep.who_wants.empty()) Recommend(d, Rec::kRelease);
      }
    }
  }
  // Dependents: count the inputs they wait for (Dask `waiting_on`).
  if (old == TaskState::kMemory) {
    for (TaskId x : task.dependents) {
      TaskRecord& dependent = tasks_[x];
      if (dependent.state == TaskState::kWaiting) {
        ++dependent.waiting_on;
      } else if (dependent.state == TaskState::kProcessing ||
                 dependent.state == TaskState::kQueued ||
                 dependent.state == TaskState::kNoWorker) {
        Recommend(x, Rec::kWaiting);
      }
    }
  } else if (s == TaskState::kMemory) {
    for (TaskId x : task.dependents) {
      TaskRecord& dependent = tasks_[x];
      if (dependent.state == TaskState::kWaiting) {
        TEGU_DCHECK(dependent.waiting_on > 0);
        if (--dependent.waiting_on == 0) Recommend(x, Rec::kProcessing);
      }
    }
  }
}

// released / processing / queued / no-worker -> waiting (Dask `_transition_released_waiting`).
// Restarting a task goes straight from its old state to waiting, so its inputs keep counting it
// as a waiter throughout and are not freed in between.
void SchedulerState::Impl::EnterWaiting(TaskId t) {
  TaskRecord& task = tasks_[t];
  if (task.run_spec == kNoHandle) {
    // Scattered data that no worker holds anymore cannot be recomputed.
    Err(t, ErrorRecord{ErrorKind::kLostData, kNoHandle, t});
    return;
  }
  for (TaskId d : task.dependencies) {
    if (tasks_[d].state == TaskState::kErred) {
      Err(t, errors_.at(d));
      return;
    }
  }
  SetState(t, TaskState::kWaiting);
  uint32_t waiting_on = 0;
  for (TaskId d : task.dependencies) {
    const TaskState ds = tasks_[d].state;
    if (ds == TaskState::kMemory) continue;
    ++waiting_on;
    if (ds == TaskState::kReleased) Recommend(d, Rec::kWaiting);
  }
  task.waiting_on = waiting_on;
  if (waiting_on == 0) Recommend(t, Rec::kProcessing);
}

// waiting / no-worker -> processing, queued or no-worker (Dask `_transition_waiting_processing`
// with `decide_worker_rootish_queuing_enabled` and `decide_worker_non_rootish`).
void SchedulerState::Impl::ToProcessing(TaskId t) {
  if (IsRootish(t)) {
    // Behind tasks already queued (they have priority), or when no worker has a free slot.
    WorkerSlot w = queued_count_ == 0 ? PickRootishWorker() : kNone;
    if (w == kNone) {
      SetState(t, TaskState::kQueued);
    } else {
      Assign(t, w);
    }
    return;
  }
  WorkerSlot w = DecideWorker(t);
  if (w == kNone) {
    SetState(t, TaskState::kNoWorker);
  } else {
    Assign(t, w);
  }
}

void SchedulerState::Impl::Assign(TaskId t, WorkerSlot w) {
  SetState(t, TaskState::kProcessing);
  TaskRecord& task = tasks_[t];
  WorkerRecord& worker = workers_[w];
  TEGU_DCHECK(task.processing_on == kNone);
  task.processing_on = w;
  task.prev = kNone;
  task.next = worker.processing_head;
  if (worker.processing_head != kNone) tasks_[worker.processing_head].prev = t;
  worker.processing_head = t;
  ++worker.processing_count;

  if (next_run_id_ == 0) next_run_id_ = 1;  // 0 never names a run
  task.run_id = next_run_id_++;
  ComputeTask msg{worker.id, keys_[t], task.run_spec, task.priority, {}, task.run_id};
  msg.dependencies.reserve(task.dependencies.size());
  for (TaskId d : task.dependencies) {
    DependencyLocation loc{keys_[d], {}, tasks_[d].nbytes};
    for (WorkerSlot h : tasks_[d].who_has) loc.who_has.push_back(workers_[h].id);
    msg.dependencies.push_back(std::move(loc));
  }
  Emit(std::move(msg), w);
}

void SchedulerState::Impl::ExitProcessing(TaskId t) {
  TaskRecord& task = tasks_[t];
  WorkerSlot w = task.processing_on;
  TEGU_DCHECK(w != kNone);
  WorkerRecord& worker = workers_[w];
  if (task.prev != kNone) {
    tasks_[task.prev].next = task.next;
  } else {
    worker.processing_head = task.next;
  }
  if (task.next != kNone) tasks_[task.next].prev = task.prev;
  task.prev = task.next = kNone;
  task.processing_on = kNone;
  --worker.processing_count;
  if (task.flags & internal::kLongRunning) {
    task.flags &= static_cast<uint8_t>(~internal::kLongRunning);
    --worker.long_running;
  }
  if (!steals_.empty()) ForgetSteal(t);
}

// Takes a processing task off its worker, telling the worker if it is still there.
void SchedulerState::Impl::Unassign(TaskId t) {
  TaskRecord& task = tasks_[t];
  if (task.state != TaskState::kProcessing || task.processing_on == kNone) return;
  WorkerSlot w = task.processing_on;
  ExitProcessing(t);
  if (workers_[w].alive()) Emit(CancelCompute{workers_[w].id, keys_[t]}, w);
}

// processing / waiting / queued / no-worker -> memory (Dask `_transition_processing_memory`,
// `_add_to_memory`). When the result comes another way than from the assigned worker (a replica,
// scattered data), the assigned worker is told to stop.
void SchedulerState::Impl::AddToMemory(TaskId t, WorkerSlot w, uint64_t nbytes) {
  TaskRecord& task = tasks_[t];
  if (task.state == TaskState::kProcessing) {
    if (task.processing_on == w) {
      ExitProcessing(t);
    } else {
      Unassign(t);
    }
  }
  task.nbytes = nbytes;
  AddReplica(t, w);
  SetState(t, TaskState::kMemory);
  Notify(t, ClientKeyState::kMemory);
  if (!Needed(task)) Recommend(t, Rec::kRelease);
}

void SchedulerState::Impl::AddReplica(TaskId t, WorkerSlot w) {
  TaskRecord& task = tasks_[t];
  if (task.who_has.contains(w)) return;
  task.who_has.push_back(w);
  workers_[w].nbytes += task.nbytes;
  ++workers_[w].key_count;
}

void SchedulerState::Impl::RemoveReplica(TaskId t, WorkerSlot w) {
  TaskRecord& task = tasks_[t];
  if (!task.who_has.erase(w)) return;
  workers_[w].nbytes -= task.nbytes;
  --workers_[w].key_count;
}

// memory -> released (Dask `_transition_memory_released`): frees every replica. When the task is
// still needed this is a loss: clients hear `lost` and it is recomputed.
void SchedulerState::Impl::ReleaseMemory(TaskId t) {
  TaskRecord& task = tasks_[t];
  for (WorkerSlot w : task.who_has) {
    workers_[w].nbytes -= task.nbytes;
    --workers_[w].key_count;
    FreeKeysOn(w, keys_[t]);
  }
  task.who_has.clear();
  SetState(t, TaskState::kReleased);
  Notify(t, ClientKeyState::kLost);
  AfterReleased(t);
}

// Anything but erred -> released, for a task nobody needs anymore.
void SchedulerState::Impl::Release(TaskId t) {
  switch (tasks_[t].state) {
    case TaskState::kMemory:
      ReleaseMemory(t);
      return;
    case TaskState::kProcessing:
      Unassign(t);
      [[fallthrough]];
    case TaskState::kWaiting:
    case TaskState::kQueued:
    case TaskState::kNoWorker:
      SetState(t, TaskState::kReleased);
      AfterReleased(t);
      return;
    default:
      return;
  }
}

void SchedulerState::Impl::AfterReleased(TaskId t) {
  const TaskRecord& task = tasks_[t];
  if (Needed(task)) {
    EnterWaiting(t);
  } else if (Forgettable(task)) {
    Recommend(t, Rec::kForget);
  }
}

// -> erred, with every dependent not yet computed (Dask `_transition_processing_erred`,
// `exception_blame`). The dependents share the blamed task's error.
void SchedulerState::Impl::Err(TaskId root, ErrorRecord error) {
  std::vector<TaskId> stack;
  auto err_one = [&](TaskId t) {
    Unassign(t);
    errors_[t] = error;
    SetState(t, TaskState::kErred);
    Notify(t, ClientKeyState::kErred);
    if (Forgettable(tasks_[t])) Recommend(t, Rec::kForget);
    stack.push_back(t);
  };
  err_one(root);
  while (!stack.empty()) {
    TaskId x = stack.back();
    stack.pop_back();
    for (TaskId d : tasks_[x].dependents) {
      const TaskState s = tasks_[d].state;
      if (s != TaskState::kMemory && s != TaskState::kErred) err_one(d);
    }
  }
}

// released / erred -> forgotten (Dask `_propagate_forgotten`).
void SchedulerState::Impl::Forget(TaskId t) {
  TaskRecord& task = tasks_[t];
  TEGU_DCHECK(task.state == TaskState::kReleased || task.state == TaskState::kErred);
  TEGU_DCHECK(Forgettable(task));
  for (TaskId d : task.dependencies) {
    TaskRecord& dep = tasks_[d];
    dep.dependents.erase(t);
    if (Forgettable(dep)) Recommend(d, Rec::kForget);
  }
  ErrorHandle owned = kNoHandle;
  if (task.state == TaskState::kErred) {
    auto it = errors_.find(t);
    if (it != errors_.end()) {
      if (it->second.blame == t) owned = it->second.handle;
      errors_.erase(it);
    }
  }
  Emit(TaskForgotten{keys_[t], task.run_spec, owned});
  if (task.flags & internal::kRestricted) restrictions_.erase(t);
  LeaveGroup(t);
  IndexErase(t);
  keys_[t] = Key();
  tasks_[t] = TaskRecord{};  // state kForgotten: a free slot
  pending_free_.push_back(t);
  --task_count_;
}

// A client no longer wants `t` (Dask `_client_releases_keys`).
void SchedulerState::Impl::ReleaseWant(TaskId t, ClientSlot c) {
  TaskRecord& task = tasks_[t];
  if (!task.who_wants.erase(c) || !task.who_wants.empty()) return;
  if (task.dependents.empty()) {
    Recommend(t, Rec::kForget);
  } else if (task.state != TaskState::kErred && task.waiters == 0) {
    Recommend(t, Rec::kRelease);
  }
}

void SchedulerState::Impl::PushQueue(TaskId t) {
  TaskRecord& task = tasks_[t];
  // An entry left from an earlier stay in the queue has the same priority: it is valid again.
  if (task.flags & internal::kInQueueHeap) return;
  task.flags |= internal::kInQueueHeap;
  queue_.push_back(QueueEntry{task.priority, t});
  std::push_heap(queue_.begin(), queue_.end(), [](const QueueEntry& a, const QueueEntry& b) {
    return std::tie(a.priority, a.task) > std::tie(b.priority, b.task);
  });
}

SchedulerState::Impl::TaskId SchedulerState::Impl::PopQueue() {
  auto greater = [](const QueueEntry& a, const QueueEntry& b) {
    return std::tie(a.priority, a.task) > std::tie(b.priority, b.task);
  };
  while (!queue_.empty()) {
    std::pop_heap(queue_.begin(), queue_.end(), greater);
    QueueEntry e = queue_.back();
    queue_.pop_back();
    TaskRecord& task = tasks_[e.task];
    if (task.state == TaskState::kForgotten || !(task.priority == e.priority)) continue;
    task.flags &= static_cast<uint8_t>(~internal::kInQueueHeap);
    if (task.state == TaskState::kQueued) return e.task;
  }
  return kNone;
}

// Sends queued root-ish tasks, best priority first, while workers have free slots (Dask
// `stimulus_queue_slots_maybe_opened`).
void SchedulerState::Impl::FillQueueSlots() {
  while (queued_count_ > 0) {
    WorkerSlot w = PickRootishWorker();
    if (w == kNone) break;
    TaskId t = PopQueue();
    TEGU_CHECK(t != kNone);
    Assign(t, w);
  }
  // Drop stale entries once they outnumber the live ones.
  if (queue_.size() > 1024 && queue_.size() > 2 * queued_count_) {
    std::vector<QueueEntry> live;
    live.reserve(queued_count_);
    for (const QueueEntry& e : queue_) {
      TaskRecord& task = tasks_[e.task];
      if (task.state == TaskState::kForgotten || !(task.priority == e.priority)) continue;
      if (task.state == TaskState::kQueued) {
        live.push_back(e);
      } else {
        task.flags &= static_cast<uint8_t>(~internal::kInQueueHeap);
      }
    }
    queue_ = std::move(live);
    std::make_heap(queue_.begin(), queue_.end(), [](const QueueEntry& a, const QueueEntry& b) {
      return std::tie(a.priority, a.task) > std::tie(b.priority, b.task);
    });
  }
}

// no-worker -> processing for every unrunnable task, best priority first (Dask
// `bulk_schedule_unrunnable_after_adding_worker`).
void SchedulerState::Impl::RetryUnrunnable() {
  if (unrunnable_.empty()) return;
  std::vector<TaskId> ids(unrunnable_.begin(), unrunnable_.end());
  std::sort(ids.begin(), ids.end(), [this](TaskId a, TaskId b) {
    return std::tie(tasks_[a].priority, a) < std::tie(tasks_[b].priority, b);
  });
  for (TaskId t : ids) Recommend(t, Rec::kProcessing);
}

// Dask `remove_worker`: processing tasks go back to waiting (or fail with KilledWorker), results
// only it held are lost and recomputed where still needed.
void SchedulerState::Impl::RemoveWorkerNow(WorkerSlot w, RemoveReason reason) {
  const WorkerId id = workers_[w].id;
  workers_[w].status = WorkerStatus::kClosed;  // nothing more is sent to it
  worker_index_.erase(id);
  --worker_count_;
  total_nthreads_ -= workers_[w].nthreads;
  const bool safe = reason == RemoveReason::kClosed;

  std::vector<TaskId> processing;
  processing.reserve(workers_[w].processing_count);
  for (TaskId t = workers_[w].processing_head; t != kNone; t = tasks_[t].next) {
    processing.push_back(t);
  }
  for (TaskId t : processing) {
    ExitProcessing(t);
    TaskRecord& task = tasks_[t];
    if (!safe && task.suspicious < 255) ++task.suspicious;
    if (!safe && options_.killed_worker_limit > 0 &&
        task.suspicious >= options_.killed_worker_limit) {
      Emit(TaskKilled{keys_[t], id, task.suspicious});
      Err(t, ErrorRecord{ErrorKind::kKilledWorker, kNoHandle, t});
    } else if (Needed(task)) {
      EnterWaiting(t);
    } else {
      SetState(t, TaskState::kReleased);
      AfterReleased(t);
    }
  }

  // Results it held. There is no per-worker index of results (it would cost memory per
  // replica); a removal scans the table, stopping once the worker's count reaches zero.
  for (TaskId t = 0; t < tasks_.size() && workers_[w].key_count > 0; ++t) {
    TaskRecord& task = tasks_[t];
    if (task.state != TaskState::kMemory || !task.who_has.contains(w)) continue;
    RemoveReplica(t, w);
    if (task.who_has.empty()) ReleaseMemory(t);
  }
  TEGU_DCHECK(workers_[w].processing_count == 0 && workers_[w].key_count == 0);
  workers_[w] = WorkerRecord{};
  free_workers_.push_back(w);
}

// ---------------------------------------------------------------------------------------------
// Event handlers.

void SchedulerState::Impl::On(const AddWorker& e) {
  if (FindWorker(e.id) != kNone) return;
  WorkerSlot w;
  if (!free_workers_.empty()) {
    w = free_workers_.back();
    free_workers_.pop_back();
  } else {
    w = static_cast<WorkerSlot>(workers_.size());
    workers_.emplace_back();
  }
  WorkerRecord& worker = workers_[w];
  worker = WorkerRecord{};
  worker.id = e.id;
  worker.nthreads = std::max<uint32_t>(e.nthreads, 1);
  worker.memory_limit = e.memory_limit;
  worker.status = WorkerStatus::kRunning;
  worker.last_seen = now_;
  worker_index_.emplace(e.id, w);
  ++worker_count_;
  total_nthreads_ += worker.nthreads;
  RetryUnrunnable();
}

void SchedulerState::Impl::On(const RemoveWorker& e) {
  WorkerSlot w = FindWorker(e.id);
  if (w == kNone) return;
  RemoveWorkerNow(w, e.reason);
}

void SchedulerState::Impl::On(const Heartbeat& e) {
  WorkerSlot w = FindWorker(e.id);
  if (w != kNone) workers_[w].last_seen = now_;
}

void SchedulerState::Impl::On(const PauseWorker& e) {
  WorkerSlot w = FindWorker(e.id);
  if (w == kNone) return;
  workers_[w].last_seen = now_;
  workers_[w].status = e.paused ? WorkerStatus::kPaused : WorkerStatus::kRunning;
  if (!e.paused) RetryUnrunnable();
}

void SchedulerState::Impl::On(const Tick&) {
  std::vector<WorkerSlot> expired;
  for (WorkerSlot w = 0; w < workers_.size(); ++w) {
    if (workers_[w].alive() && now_ - workers_[w].last_seen > options_.worker_ttl) {
      expired.push_back(w);
    }
  }
  for (WorkerSlot w : expired) {
    Emit(CloseWorker{workers_[w].id, RemoveReason::kHeartbeatTimeout});
    RemoveWorkerNow(w, RemoveReason::kHeartbeatTimeout);
  }
  Drain();
  FillQueueSlots();
  Drain();
  BalanceWork();
}

void SchedulerState::Impl::On(const UpdateGraph& e) {
  const ClientSlot c = EnsureClient(e.client);
  ++generation_;
  const size_t n = e.tasks.size();

  // New tasks. A key the scheduler holds keeps its task; the new run spec goes back.
  std::vector<TaskId> created(n, kNone);
  for (size_t i = 0; i < n; ++i) {
    const TaskSubmission& s = e.tasks[i];
    const uint32_t hash = HashKey(s.key);
    if (Find(s.key, hash) != kNone) {
      if (s.run_spec != kNoHandle) Emit(ReleaseHandles{s.run_spec, kNoHandle});
      continue;
    }
    TaskId t = CreateTask(s.key, hash);
    TaskRecord& task = tasks_[t];
    task.run_spec = s.run_spec;
    const uint32_t order = s.order ? *s.order : static_cast<uint32_t>(i);
    task.priority = Priority{s.priority, generation_, order};
    task.retries = static_cast<uint8_t>(std::min<uint32_t>(s.retries, 255));
    task.flags |= internal::kNewInUpdate;
    if (!s.workers.empty()) {
      restrictions_[t] = internal::Restriction{s.workers, s.allow_other_workers};
      task.flags |= internal::kRestricted;
    }
    created[i] = t;
  }

  // Dependencies of the new tasks.
  std::vector<TaskId> missing;
  std::vector<TaskId> deps;
  for (size_t i = 0; i < n; ++i) {
    const TaskId t = created[i];
    if (t == kNone) continue;
    deps.clear();
    bool lacks = false;
    for (const Key& k : e.tasks[i].dependencies) {
      TaskId d = Find(k);
      if (d == kNone) {
        lacks = true;
      } else {
        deps.push_back(d);
      }
    }
    std::sort(deps.begin(), deps.end());
    deps.erase(std::unique(deps.begin(), deps.end()), deps.end());
    const uint32_t g = tasks_[t].group;
    for (TaskId d : deps) {
      tasks_[t].dependencies.push_back(d);
      tasks_[d].dependents.push_back(t);
      const uint32_t dg = tasks_[d].group;
      if (!groups_[g].dependencies.contains(dg)) {
        groups_[g].dependencies.push_back(dg);
        if (dg != g) groups_[dg].dependents.push_back(g);
      }
    }
    if (lacks) missing.push_back(t);
  }

  // Cycles can only run through new tasks (old ones never depend on new ones). Kahn's algorithm
  // over the new tasks, counting in `waiting_on` (unused while released); whatever is left
  // unvisited is on a cycle or downstream of one.
  std::vector<TaskId> stack;
  size_t created_count = 0;
  for (TaskId t : created) {
    if (t == kNone) continue;
    ++created_count;
    uint32_t indegree = 0;
    for (TaskId d : tasks_[t].dependencies) {
      if (tasks_[d].flags & internal::kNewInUpdate) ++indegree;
    }
    tasks_[t].waiting_on = indegree;
    if (indegree == 0) stack.push_back(t);
  }
  size_t visited = 0;
  while (!stack.empty()) {
    TaskId t = stack.back();
    stack.pop_back();
    ++visited;
    for (TaskId x : tasks_[t].dependents) {
      if (--tasks_[x].waiting_on == 0) stack.push_back(x);
    }
  }
  std::vector<TaskId> cyclic;
  if (visited < created_count) {
    for (TaskId t : created) {
      if (t != kNone && tasks_[t].waiting_on > 0) cyclic.push_back(t);
    }
    // Cut their edges so that they can be forgotten one by one.
    for (TaskId t : cyclic) {
      for (TaskId d : tasks_[t].dependencies) tasks_[d].dependents.erase(t);
      tasks_[t].dependencies.clear();
    }
    for (TaskId t : cyclic) tasks_[t].dependents.clear();
  }
  for (TaskId t : created) {
    if (t == kNone) continue;
    tasks_[t].waiting_on = 0;
    tasks_[t].flags &= static_cast<uint8_t>(~internal::kNewInUpdate);
  }

  // Wanted keys. A key already in memory or erred is answered at once.
  std::vector<TaskId> wanted;
  wanted.reserve(e.wanted.size());
  for (const Key& k : e.wanted) {
    TaskId t = Find(k);
    if (t == kNone) {
      Emit(NotifyClient{e.client, k, ClientKeyState::kErred,
                        TaskError{ErrorKind::kMissingDependency, kNoHandle, k}});
      continue;
    }
    TaskRecord& task = tasks_[t];
    if (task.who_wants.contains(c)) continue;
    task.who_wants.push_back(c);
    wanted.push_back(t);
    if (task.state == TaskState::kMemory) {
      Emit(NotifyClient{e.client, k, ClientKeyState::kMemory, {}});
    } else if (task.state == TaskState::kErred) {
      Emit(NotifyClient{e.client, k, ClientKeyState::kErred, MakeError(t)});
    }
  }

  for (TaskId t : cyclic) Err(t, ErrorRecord{ErrorKind::kCycle, kNoHandle, t});
  for (TaskId t : missing) {
    if (tasks_[t].state == TaskState::kReleased) {
      Err(t, ErrorRecord{ErrorKind::kMissingDependency, kNoHandle, t});
    }
  }
  for (TaskId t : wanted) {
    if (tasks_[t].state == TaskState::kReleased) Recommend(t, Rec::kWaiting);
  }
  // New tasks that nothing wants or needs are dropped at once.
  for (TaskId t : created) {
    if (t != kNone) Recommend(t, Rec::kForget);
  }
}

void SchedulerState::Impl::On(const UpdateData& e) {
  const ClientSlot c = EnsureClient(e.client);
  for (const ScatteredKey& s : e.keys) {
    WorkerSlot w = FindWorker(s.worker);
    if (w == kNone) continue;
    const uint32_t hash = HashKey(s.key);
    TaskId t = Find(s.key, hash);
    if (t == kNone) t = CreateTask(s.key, hash);
    TaskRecord& task = tasks_[t];
    const bool newly_wanted = !task.who_wants.contains(c);
    if (newly_wanted) task.who_wants.push_back(c);
    switch (task.state) {
      case TaskState::kMemory:
        AddReplica(t, w);
        if (newly_wanted) Emit(NotifyClient{e.client, s.key, ClientKeyState::kMemory, {}});
        break;
      case TaskState::kErred:
        FreeKeysOn(w, s.key);
        if (newly_wanted) Emit(NotifyClient{e.client, s.key, ClientKeyState::kErred, MakeError(t)});
        break;
      default:
        AddToMemory(t, w, s.nbytes);
        break;
    }
  }
}

void SchedulerState::Impl::On(const ReleaseKeys& e) {
  ClientSlot c = FindClient(e.client);
  if (c == kNone) return;
  for (const Key& k : e.keys) {
    TaskId t = Find(k);
    if (t != kNone) ReleaseWant(t, c);
  }
}

void SchedulerState::Impl::On(const TaskFinished& e) {
  WorkerSlot w = FindWorker(e.worker);
  if (w == kNone) return;  // a late result from a removed worker: it is being recomputed
  workers_[w].last_seen = now_;
  if (e.duration_s >= 0) {
    // Dask's duration_average: the first report, then an even exponential average.
    average_duration_ =
        duration_known_ ? 0.5 * average_duration_ + 0.5 * e.duration_s : e.duration_s;
    duration_known_ = true;
  }
  TaskId t = Find(e.key);
  if (t == kNone) {
    FreeKeysOn(w, e.key);
    return;
  }
  const TaskRecord& task = tasks_[t];
  if (IsCurrentRun(t, w, e.run_id)) {
    AddToMemory(t, w, e.nbytes);
    return;
  }
  // A stale result: from an assignment that was cancelled, moved or restarted since, or a
  // duplicate. Its data is not taken, because a free sent to that worker since may still be on
  // its way (it would drop the data after this report). If the worker holds a copy nobody
  // tracks, it is told to drop it; if it is computing the key again, that run will answer.
  if (task.processing_on == w || task.who_has.contains(w)) return;
  FreeKeysOn(w, e.key);
}

void SchedulerState::Impl::On(const TaskErred& e) {
  WorkerSlot w = FindWorker(e.worker);
  TaskId t = Find(e.key);
  if (w == kNone || t == kNone || !IsCurrentRun(t, w, e.run_id)) {
    // Stale: the task was restarted, moved or released since that attempt.
    if (e.error != kNoHandle) Emit(ReleaseHandles{kNoHandle, e.error});
    return;
  }
  workers_[w].last_seen = now_;
  ExitProcessing(t);
  TaskRecord& task = tasks_[t];
  if (task.retries > 0) {
    --task.retries;
    if (e.error != kNoHandle) Emit(ReleaseHandles{kNoHandle, e.error});
    EnterWaiting(t);
  } else {
    Err(t, ErrorRecord{ErrorKind::kTaskRaised, e.error, t});
  }
}

void SchedulerState::Impl::On(const MissingData& e) {
  WorkerSlot w = FindWorker(e.worker);
  if (w != kNone) workers_[w].last_seen = now_;
  TaskId t = Find(e.key);
  if (t == kNone || tasks_[t].state != TaskState::kMemory) return;
  WorkerSlot h = FindWorker(e.holder);
  if (h != kNone && tasks_[t].who_has.contains(h)) {
    RemoveReplica(t, h);
    FreeKeysOn(h, e.key);  // whatever it holds is not trusted anymore
  }
  if (tasks_[t].who_has.empty()) {
    ReleaseMemory(t);  // lost: recomputed, and its waiting dependents restarted
    return;
  }
  if (w != kNone) {
    RefreshWhoHas msg{e.worker, e.key, {}};
    for (WorkerSlot x : tasks_[t].who_has) msg.who_has.push_back(workers_[x].id);
    Emit(std::move(msg), w);
  }
}

void SchedulerState::Impl::On(const AddReplicas& e) {
  WorkerSlot w = FindWorker(e.worker);
  if (w == kNone) return;
  workers_[w].last_seen = now_;
  for (const Key& k : e.keys) {
    TaskId t = Find(k);
    switch (t == kNone ? TaskState::kForgotten : tasks_[t].state) {
      case TaskState::kMemory:
        AddReplica(t, w);
        break;
      case TaskState::kWaiting:
      case TaskState::kQueued:
      case TaskState::kNoWorker:
      case TaskState::kProcessing:
        // The copy was fetched before the result was lost, and is as good as a new result:
        // take it. A computation assigned elsewhere is cancelled; one assigned to this worker
        // is not (a cancel could drop the copy), the worker answers it from the copy.
        // Freeing the copy instead would race a ComputeTask for the same key on this worker:
        // the free would arrive after it and drop the new result.
        AddToMemory(t, w, tasks_[t].nbytes);
        break;
      default:
        FreeKeysOn(w, k);
        break;
    }
  }
}

bool SchedulerState::Impl::IsCurrentRun(TaskId t, WorkerSlot w, uint32_t run_id) const {
  const TaskRecord& task = tasks_[t];
  return task.state == TaskState::kProcessing && task.processing_on == w &&
         task.run_id == run_id;
}

void SchedulerState::Impl::On(const ReleaseWorkerData& e) {
  WorkerSlot w = FindWorker(e.worker);
  if (w == kNone) return;
  workers_[w].last_seen = now_;
  TaskId t = Find(e.key);
  if (t == kNone || tasks_[t].state != TaskState::kMemory || !tasks_[t].who_has.contains(w)) {
    return;
  }
  RemoveReplica(t, w);
  if (tasks_[t].who_has.empty()) ReleaseMemory(t);  // its last copy: recomputed if needed
}

void SchedulerState::Impl::On(const Reschedule& e) {
  WorkerSlot w = FindWorker(e.worker);
  TaskId t = Find(e.key);
  if (w == kNone || t == kNone || !IsCurrentRun(t, w, e.run_id)) return;
  workers_[w].last_seen = now_;
  ExitProcessing(t);
  EnterWaiting(t);
}

void SchedulerState::Impl::On(const LongRunning& e) {
  WorkerSlot w = FindWorker(e.worker);
  TaskId t = Find(e.key);
  if (w == kNone || t == kNone || !IsCurrentRun(t, w, e.run_id)) return;
  workers_[w].last_seen = now_;
  TaskRecord& task = tasks_[t];
  if (task.flags & internal::kLongRunning) return;
  task.flags |= internal::kLongRunning;
  ++workers_[w].long_running;
  ForgetSteal(t);  // it is running: a steal request can only be rejected
}

void SchedulerState::Impl::On(const RequestWhoHas& e) {
  WorkerSlot w = FindWorker(e.worker);
  if (w == kNone) return;
  workers_[w].last_seen = now_;
  for (const Key& k : e.keys) {
    RefreshWhoHas msg{e.worker, k, {}};
    TaskId t = Find(k);
    if (t != kNone) {
      for (WorkerSlot h : tasks_[t].who_has) msg.who_has.push_back(workers_[h].id);
    }
    Emit(std::move(msg), w);
  }
}

void SchedulerState::Impl::On(const AddClient& e) { EnsureClient(e.id); }

void SchedulerState::Impl::On(const RemoveClient& e) {
  ClientSlot c = FindClient(e.id);
  if (c == kNone) return;
  for (TaskId t = 0; t < tasks_.size(); ++t) {
    if (tasks_[t].state != TaskState::kForgotten && tasks_[t].who_wants.contains(c)) {
      ReleaseWant(t, c);
    }
  }
  client_index_.erase(e.id);
  clients_[c] = ClientRecord{};
  free_clients_.push_back(c);
}

// ---------------------------------------------------------------------------------------------
// Inspection.

Status SchedulerState::Impl::CheckInvariants() const {
  auto fail = [this](TaskId t, const std::string& what) {
    return Status::Invalid("task " + keys_[t].ToString() + " (" +
                           TaskStateName(tasks_[t].state) + "): " + what);
  };
  size_t live = 0, queued = 0, no_worker = 0;
  std::vector<uint64_t> nbytes(workers_.size(), 0), key_count(workers_.size(), 0);
  for (TaskId t = 0; t < tasks_.size(); ++t) {
    const TaskRecord& task = tasks_[t];
    if (task.state == TaskState::kForgotten) continue;
    ++live;
    if (Find(keys_[t]) != t) return fail(t, "not found by its key");
    uint32_t waiters = 0, not_in_memory = 0;
    for (TaskId d : task.dependencies) {
      if (tasks_[d].state == TaskState::kForgotten) return fail(t, "forgotten dependency");
      if (!tasks_[d].dependents.contains(t)) return fail(t, "dependency lacks the back edge");
      if (tasks_[d].state != TaskState::kMemory) ++not_in_memory;
    }
    for (TaskId x : task.dependents) {
      if (tasks_[x].state == TaskState::kForgotten) return fail(t, "forgotten dependent");
      if (!tasks_[x].dependencies.contains(t)) return fail(t, "dependent lacks the edge");
      if (IsWaiterState(tasks_[x].state)) ++waiters;
    }
    if (waiters != task.waiters) {
      return fail(t, "waiters " + std::to_string(task.waiters) + " != " + std::to_string(waiters));
    }
    if ((task.state == TaskState::kMemory) != !task.who_has.empty()) {
      return fail(t, "who_has does not match the state");
    }
    for (WorkerSlot w : task.who_has) {
      if (w >= workers_.size() || !workers_[w].alive()) return fail(t, "held by a dead worker");
      nbytes[w] += task.nbytes;
      ++key_count[w];
    }
    for (ClientSlot c : task.who_wants) {
      if (c >= clients_.size() || !clients_[c].alive) return fail(t, "wanted by a gone client");
    }
    if ((task.state == TaskState::kProcessing) != (task.processing_on != kNone)) {
      return fail(t, "processing_on does not match the state");
    }
    if (task.processing_on != kNone && !workers_[task.processing_on].alive()) {
      return fail(t, "processing on a dead worker");
    }
    if (((task.flags & internal::kRestricted) != 0) != (restrictions_.count(t) > 0)) {
      return fail(t, "restriction flag");
    }
    if (task.group >= groups_.size() || groups_[task.group].size == 0) return fail(t, "group");
    switch (task.state) {
      case TaskState::kReleased:
        if (Needed(task)) return fail(t, "needed but released");
        if (Forgettable(task)) return fail(t, "forgettable but kept");
        break;
      case TaskState::kWaiting:
        if (task.waiting_on != not_in_memory || task.waiting_on == 0) {
          return fail(t, "waiting_on " + std::to_string(task.waiting_on) + " but " +
                             std::to_string(not_in_memory) + " inputs not in memory");
        }
        if (!Needed(task)) return fail(t, "not needed");
        break;
      case TaskState::kQueued:
        ++queued;
        if (!(task.flags & internal::kInQueueHeap)) return fail(t, "queued but not in the heap");
        [[fallthrough]];
      case TaskState::kNoWorker:
      case TaskState::kProcessing:
        if (task.state == TaskState::kNoWorker) {
          ++no_worker;
          if (!unrunnable_.count(t)) return fail(t, "not in the no-worker set");
        }
        if (not_in_memory > 0) return fail(t, "an input is not in memory");
        if (!Needed(task)) return fail(t, "not needed");
        break;
      case TaskState::kMemory:
        if (!Needed(task)) return fail(t, "in memory but not needed");
        break;
      case TaskState::kErred: {
        auto it = errors_.find(t);
        if (it == errors_.end()) return fail(t, "no error record");
        TaskId b = it->second.blame;
        if (b >= tasks_.size() || tasks_[b].state != TaskState::kErred ||
            errors_.at(b).blame != b) {
          return fail(t, "blame is not an erred task blaming itself");
        }
        if (Forgettable(task)) return fail(t, "forgettable but kept");
        break;
      }
      case TaskState::kForgotten:
        break;
    }
  }
  if (live != task_count_) return Status::Invalid("task count");
  size_t indexed = 0;
  for (TaskId t : index_) indexed += t != kNone;
  if (indexed != live) return Status::Invalid("key index size");
  if (queued != queued_count_) return Status::Invalid("queued count");
  if (no_worker != unrunnable_.size()) return Status::Invalid("no-worker set size");
  size_t workers = 0;
  uint64_t nthreads = 0;
  for (WorkerSlot w = 0; w < workers_.size(); ++w) {
    const WorkerRecord& worker = workers_[w];
    if (!worker.alive()) continue;
    ++workers;
    nthreads += worker.nthreads;
    if (FindWorker(worker.id) != w) return Status::Invalid("worker index");
    uint32_t n = 0, long_running = 0;
    for (TaskId t = worker.processing_head; t != kNone; t = tasks_[t].next) {
      if (tasks_[t].processing_on != w) return Status::Invalid("processing list");
      ++n;
      if (tasks_[t].flags & internal::kLongRunning) ++long_running;
    }
    if (n != worker.processing_count || long_running != worker.long_running) {
      return Status::Invalid("processing count");
    }
    if (nbytes[w] != worker.nbytes || key_count[w] != worker.key_count) {
      return Status::Invalid("worker memory accounting");
    }
  }
  if (workers != worker_count_ || nthreads != total_nthreads_) {
    return Status::Invalid("worker count");
  }
  if (queued_count_ > 0 && PickRootishWorker() != kNone) {
    return Status::Invalid("tasks are queued while a worker has a free slot");
  }
  std::vector<uint32_t> outgoing(workers_.size(), 0), incoming(workers_.size(), 0);
  for (const auto& [t, steal] : steals_) {
    if (tasks_[t].state != TaskState::kProcessing || tasks_[t].processing_on != steal.victim ||
        workers_[steal.victim].id != steal.victim_id) {
      return Status::Invalid("steal in flight for a task not processing on the victim");
    }
    ++outgoing[steal.victim];
    WorkerSlot thief = FindWorker(steal.thief_id);
    if (thief != kNone) ++incoming[thief];
  }
  for (WorkerSlot w = 0; w < workers_.size(); ++w) {
    if (!workers_[w].alive()) continue;
    if (outgoing[w] != workers_[w].outgoing_steals || incoming[w] != workers_[w].incoming_steals) {
      return Status::Invalid("steal counts");
    }
  }
  return Status::OK();
}

size_t SchedulerState::Impl::BytesPerTaskEstimate() const {
  if (task_count_ == 0) return 0;
  constexpr size_t kMallocOverhead = 16;  // glibc: a size header and alignment per block
  size_t bytes = tasks_.capacity() * sizeof(TaskRecord) + keys_.capacity() * sizeof(Key) +
                 index_.capacity() * sizeof(TaskId) + free_tasks_.capacity() * sizeof(TaskId);
  auto list = [](const internal::IdList& l) {
    return l.heap_bytes() ? l.heap_bytes() + kMallocOverhead : 0;
  };
  for (TaskId t = 0; t < tasks_.size(); ++t) {
    const TaskRecord& task = tasks_[t];
    if (task.state == TaskState::kForgotten) continue;
    bytes += list(task.dependencies) + list(task.dependents) + list(task.who_has) +
             list(task.who_wants);
    const auto& parts = keys_[t].parts();
    if (parts.capacity()) bytes += parts.capacity() * sizeof(KeyPart) + kMallocOverhead;
    for (const KeyPart& p : parts) {
      if (auto* s = std::get_if<std::string>(&p); s && s->capacity() > 15) {
        bytes += s->capacity() + 1 + kMallocOverhead;
      }
    }
  }
  // Hash nodes: a pointer, the value, the cached hash, the malloc header; plus the buckets.
  auto map_bytes = [](size_t n, size_t value, size_t buckets) {
    return n * (value + 2 * sizeof(void*) + kMallocOverhead) + buckets * sizeof(void*);
  };
  bytes += map_bytes(restrictions_.size(), sizeof(internal::Restriction) + 8,
                     restrictions_.bucket_count());
  for (const auto& [t, r] : restrictions_) bytes += r.workers.capacity() * sizeof(WorkerId);
  bytes += map_bytes(errors_.size(), sizeof(ErrorRecord) + 8, errors_.bucket_count());
  bytes += map_bytes(steals_.size(), sizeof(internal::InFlightSteal) + 8, steals_.bucket_count());
  bytes += map_bytes(unrunnable_.size(), sizeof(TaskId), unrunnable_.bucket_count());
  bytes += queue_.capacity() * sizeof(QueueEntry);
  bytes += groups_.capacity() * sizeof(GroupRecord);
  return bytes / task_count_;
}

}  // namespace tegu::scheduler
