// The inside of SchedulerState: its tables and transitions. Private to the scheduler layer; the
// transitions live in scheduler_state.cpp and the policies in policy/*.cpp, all as members of
// SchedulerState::Impl so that each policy reads the tables directly.
//
// Storage. A task is a TaskRecord in one vector, indexed by its TaskId; its key sits in a
// parallel vector and an open-addressing table maps keys to ids. Per-task lists are IdLists
// (inline up to two ids). What few tasks have (restrictions, errors, a steal in flight, the
// no-worker set) lives in side tables keyed by TaskId. Ids of forgotten tasks are reused, but
// only after the event that forgot them, so a recommendation still queued never reaches a
// different task. Workers and clients are small tables indexed by slot, found from their
// external ids through a hash map.
//
// Thread-safety: not thread-safe; owned by one SchedulerState.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "tegu/scheduler/id_list.hpp"
#include "tegu/scheduler/scheduler_state.hpp"

namespace tegu::scheduler {
namespace internal {

using TaskId = uint32_t;
using WorkerSlot = uint32_t;
using ClientSlot = uint32_t;
inline constexpr uint32_t kNone = std::numeric_limits<uint32_t>::max();

/// A recommendation, as Dask's `recommendations` dict: what should happen to a task next. Each
/// is checked again when applied, so a stale one is harmless.
enum class Rec : uint8_t {
  kWaiting,     ///< (re)compute it if needed; restart it if one of its inputs is gone
  kProcessing,  ///< its inputs are in memory: place it
  kRelease,     ///< nobody needs it: free its result or stop it
  kForget,      ///< nobody wants it and nothing depends on it: drop it
};

enum TaskFlags : uint8_t {
  kRestricted = 1,   ///< has an entry in restrictions_
  kInQueueHeap = 2,  ///< has an entry in queue_ (possibly stale)
  kNewInUpdate = 4,  ///< created by the UpdateGraph being handled
  kLongRunning = 8,  ///< processing, and seceded from its worker's threads
};

struct TaskRecord {
  IdList dependencies;  ///< TaskIds
  IdList dependents;    ///< TaskIds
  IdList who_has;       ///< WorkerSlots holding the result (state memory only)
  IdList who_wants;     ///< ClientSlots
  uint64_t nbytes = 0;
  RunSpecHandle run_spec = kNoHandle;
  Priority priority;
  uint32_t run_id = 0;             ///< of the latest ComputeTask sent for it
  uint32_t waiting_on = 0;         ///< dependencies not in memory (meaningful in kWaiting)
  uint32_t waiters = 0;            ///< dependents in waiting/queued/no-worker/processing
  WorkerSlot processing_on = kNone;
  TaskId prev = kNone;             ///< links of the processing worker's task list
  TaskId next = kNone;
  uint32_t group = kNone;          ///< GroupRecord index
  uint32_t hash = 0;               ///< of the key, for the key index
  TaskState state = TaskState::kForgotten;  ///< kForgotten marks a free slot
  uint8_t suspicious = 0;
  uint8_t retries = 0;
  uint8_t flags = 0;
};

struct WorkerRecord {
  WorkerId id = 0;
  uint32_t nthreads = 1;
  uint64_t memory_limit = 0;
  WorkerStatus status = WorkerStatus::kClosed;  ///< kClosed marks a free slot
  Clock::time_point last_seen;
  TaskId processing_head = kNone;  ///< intrusive list through TaskRecord::prev/next
  uint32_t processing_count = 0;
  uint32_t long_running = 0;       ///< processing tasks that seceded (do not hold a thread)
  uint64_t nbytes = 0;             ///< bytes of results held
  uint64_t key_count = 0;          ///< results held
  uint32_t incoming_steals = 0;    ///< steals in flight towards it
  uint32_t outgoing_steals = 0;    ///< steals in flight away from it
  bool alive() const { return status != WorkerStatus::kClosed; }
};

struct ClientRecord {
  ClientId id = 0;
  bool alive = false;
};

/// Dask's TaskGroup, reduced to what root-task detection needs: tasks whose keys share a name
/// ("inc" for "inc-5f2a", "x" for ('x', 3)).
struct GroupRecord {
  std::string name;
  uint32_t size = 0;    ///< live tasks in the group
  IdList dependencies;  ///< groups its tasks depend on (itself included, as in Dask)
  IdList dependents;    ///< groups depending on it (other than itself)
};

struct ErrorRecord {
  ErrorKind kind = ErrorKind::kNone;
  ErrorHandle handle = kNoHandle;  ///< owned by the blamed task
  TaskId blame = kNone;            ///< outlives this task: it is one of its ancestors
};

struct Restriction {
  std::vector<WorkerId> workers;
  bool loose = false;
};

struct InFlightSteal {
  WorkerSlot victim = kNone;
  WorkerId victim_id = 0;
  WorkerId thief_id = 0;
  uint64_t request_id = 0;
};

static_assert(sizeof(TaskRecord) == 128, "keep a task record at two cache lines");

struct QueueEntry {
  Priority priority;
  TaskId task = kNone;
};

}  // namespace internal

class SchedulerState::Impl {
 public:
  using TaskId = internal::TaskId;
  using WorkerSlot = internal::WorkerSlot;
  using ClientSlot = internal::ClientSlot;
  using Rec = internal::Rec;

  explicit Impl(SchedulerOptions options);

  Actions Handle(const Event& event, Clock::time_point now);

  // Event handlers (scheduler_state.cpp; StealResponse in policy/work_stealing.cpp).
  void On(const AddWorker& e);
  void On(const RemoveWorker& e);
  void On(const Heartbeat& e);
  void On(const PauseWorker& e);
  void On(const Tick& e);
  void On(const UpdateGraph& e);
  void On(const UpdateData& e);
  void On(const ReleaseKeys& e);
  void On(const TaskFinished& e);
  void On(const TaskErred& e);
  void On(const StealResponse& e);
  void On(const MissingData& e);
  void On(const AddReplicas& e);
  void On(const AddClient& e);
  void On(const RemoveClient& e);
  void On(const ReleaseWorkerData& e);
  void On(const Reschedule& e);
  void On(const LongRunning& e);
  void On(const RequestWhoHas& e);
  bool IsCurrentRun(TaskId t, WorkerSlot w, uint32_t run_id) const;
  /// Processing tasks holding one of the worker's threads.
  uint32_t Occupied(WorkerSlot w) const {
    return workers_[w].processing_count - workers_[w].long_running;
  }

  // Keys, workers, clients.
  static uint32_t HashKey(const Key& key);
  TaskId Find(const Key& key) const;
  TaskId Find(const Key& key, uint32_t hash) const;
  TaskId CreateTask(const Key& key, uint32_t hash);
  void IndexInsert(TaskId t);
  void IndexErase(TaskId t);
  void IndexGrow();
  WorkerSlot FindWorker(WorkerId id) const;
  ClientSlot FindClient(ClientId id) const;
  ClientSlot EnsureClient(ClientId id);
  uint32_t GroupFor(const Key& key);
  void LeaveGroup(TaskId t);

  // Predicates.
  static bool IsWaiterState(TaskState s) {
    return s == TaskState::kWaiting || s == TaskState::kQueued || s == TaskState::kNoWorker ||
           s == TaskState::kProcessing;
  }
  bool Needed(const internal::TaskRecord& t) const {
    return !t.who_wants.empty() || t.waiters > 0;
  }
  bool Forgettable(const internal::TaskRecord& t) const {
    return t.who_wants.empty() && t.dependents.empty();
  }
  bool AllDependenciesInMemory(TaskId t) const;
  bool Running(WorkerSlot w) const { return workers_[w].status == WorkerStatus::kRunning; }

  // Transitions (scheduler_state.cpp).
  void Recommend(TaskId t, Rec rec) { recs_.push_back({t, rec}); }
  void Drain();
  void Apply(TaskId t, Rec rec);
  void SetState(TaskId t, TaskState s);
  void EnterWaiting(TaskId t);
  void ToProcessing(TaskId t);
  void Assign(TaskId t, WorkerSlot w);
  void ExitProcessing(TaskId t);
  void Unassign(TaskId t);
  void AddToMemory(TaskId t, WorkerSlot w, uint64_t nbytes);
  void AddReplica(TaskId t, WorkerSlot w);
  void RemoveReplica(TaskId t, WorkerSlot w);
  void ReleaseMemory(TaskId t);
  void Release(TaskId t);
  void AfterReleased(TaskId t);
  void Err(TaskId t, internal::ErrorRecord error);
  void Forget(TaskId t);
  void ReleaseWant(TaskId t, ClientSlot c);
  void RemoveWorkerNow(WorkerSlot w, RemoveReason reason);
  void RetryUnrunnable();
  void FillQueueSlots();
  void PushQueue(TaskId t);
  TaskId PopQueue();
  TaskError MakeError(TaskId t) const;

  // Policies (policy/decide_worker.cpp, policy/work_stealing.cpp).
  bool QueuingEnabled() const;
  bool IsRootish(TaskId t) const;
  uint32_t QueueSlots(WorkerSlot w) const;
  WorkerSlot PickRootishWorker() const;
  WorkerSlot DecideWorker(TaskId t);
  bool AllowedOn(TaskId t, WorkerSlot w) const;
  double StartTime(TaskId t, WorkerSlot w) const;
  void BalanceWork();
  void ForgetSteal(TaskId t);

  // Output.
  void Emit(Action action, WorkerSlot to = internal::kNone);
  void FreeKeysOn(WorkerSlot w, const Key& key);
  void Notify(TaskId t, ClientKeyState state);

  // Inspection.
  Status CheckInvariants() const;
  size_t BytesPerTaskEstimate() const;

  SchedulerOptions options_;

  // Tasks.
  std::vector<internal::TaskRecord> tasks_;
  std::vector<Key> keys_;
  std::vector<TaskId> free_tasks_;     ///< reusable ids
  std::vector<TaskId> pending_free_;   ///< forgotten during this event; reusable after it
  size_t task_count_ = 0;
  std::vector<TaskId> index_;          ///< open addressing (linear probing) over TaskIds
  size_t index_mask_ = 0;

  // Side tables.
  std::unordered_map<TaskId, internal::Restriction> restrictions_;
  std::unordered_map<TaskId, internal::ErrorRecord> errors_;
  std::unordered_map<TaskId, internal::InFlightSteal> steals_;
  std::unordered_set<TaskId> unrunnable_;        ///< tasks in kNoWorker
  std::vector<internal::QueueEntry> queue_;      ///< min-heap by priority; stale entries skipped
  size_t queued_count_ = 0;                      ///< tasks in kQueued

  // Groups.
  std::vector<internal::GroupRecord> groups_;
  std::vector<uint32_t> free_groups_;
  std::unordered_map<std::string, uint32_t> group_index_;

  // Workers and clients.
  std::vector<internal::WorkerRecord> workers_;
  std::vector<WorkerSlot> free_workers_;
  std::unordered_map<WorkerId, WorkerSlot> worker_index_;
  size_t worker_count_ = 0;
  uint64_t total_nthreads_ = 0;
  std::vector<internal::ClientRecord> clients_;
  std::vector<ClientSlot> free_clients_;
  std::unordered_map<ClientId, ClientSlot> client_index_;

  // Estimates.
  double average_duration_;
  bool duration_known_ = false;
  uint32_t generation_ = 0;
  uint64_t round_robin_ = 0;
  uint64_t next_steal_id_ = 1;
  uint32_t next_run_id_ = 1;

  // The event being handled.
  Clock::time_point now_{};
  Actions* out_ = nullptr;
  std::vector<std::pair<TaskId, Rec>> recs_;
  size_t recs_head_ = 0;
  /// Index in *out_ of the last action sent to each worker slot during this event (+1; 0 none),
  /// so that frees to one worker merge without reordering its messages.
  std::vector<size_t> last_action_;
  std::vector<WorkerSlot> touched_workers_;
};

}  // namespace tegu::scheduler
