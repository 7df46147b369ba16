// Thread leases: a per-thread resource that a task runner may keep between consecutive tasks on
// the same thread — the Python GIL, so that a thread running many small Python tasks takes it
// once per batch rather than once per task. The executor releases the lease whenever the
// thread is about to idle, run a native task, or leave a scheduling loop; a loop nested inside
// a task (nested compute) is a new level with a lease of its own.
//
// Thread-safety: all state is thread-local; each function affects the calling thread only.
#pragma once

namespace tegu::internal {

using LeaseRelease = void (*)();

/// Marks a scheduling loop on this thread; releases the level's lease when it ends.
class LeaseLevel {
 public:
  LeaseLevel();
  ~LeaseLevel();
  LeaseLevel(const LeaseLevel&) = delete;
  LeaseLevel& operator=(const LeaseLevel&) = delete;

 private:
  friend bool HoldThreadLease(LeaseRelease release);
  friend void ReleaseThreadLease();
  friend bool HoldsThreadLease();
  LeaseLevel* outer_;
  LeaseRelease release_ = nullptr;
};

/// Records that the current level holds a lease, released later by `release`. Returns false
/// outside any scheduling loop: then the caller must release the resource itself after the task.
bool HoldThreadLease(LeaseRelease release);
/// Releases the current level's lease, if any.
void ReleaseThreadLease();
/// Whether the current level holds a lease.
bool HoldsThreadLease();

}  // namespace tegu::internal
