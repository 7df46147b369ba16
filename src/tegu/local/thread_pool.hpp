// ThreadPool: the work-stealing pool behind the threaded executor. Each worker owns a deque:
// it pushes and pops at the back (LIFO, so a branch it started is finished first, keeping memory
// low), and idle workers steal from the front of others' deques (FIFO, the oldest and usually
// largest piece of work), after the work-stealing scheme of R. D. Blumofe and C. E. Leiserson,
// "Scheduling Multithreaded Computations by Work Stealing", JACM 46(5), 1999. Threads outside the
// pool submit through a shared injection queue.
//
// Deques are guarded by a mutex each rather than lock-free (Chase–Lev): tasks here cost at least
// a microsecond, an uncontended lock costs tens of nanoseconds, and the mutex lets a waiting
// thread take an item of its own computation from the middle of any deque (HelpUntil), which is
// what makes nested computations deadlock-free.
//
// Thread-safety: every public method may be called from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

namespace tegu::internal {

/// A computation whose tasks run on the pool.
class PoolJob {
 public:
  virtual ~PoolJob() = default;
  virtual void RunItem(uint32_t task) = 0;
};

struct WorkItem {
  PoolJob* job;
  uint32_t task;
};

class ThreadPool {
 public:
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  /// The pool of `num_threads` threads shared by every computation that asks for that size
  /// (0: one thread per core). Pools live until the process exits.
  static ThreadPool& Shared(int num_threads);

  int num_threads() const { return static_cast<int>(workers_.size()); }
  /// Whether the calling thread is one of this pool's workers.
  bool IsWorkerThread() const;

  /// Queues items; the last item of `items` is run first by the calling worker (LIFO), and
  /// items pushed from outside the pool are taken in order.
  void Push(std::span<const WorkItem> items);

  /// Runs items of `job` on the calling worker thread until `done()` holds; used when a task
  /// waits for a nested computation. `wake` is notified by the job when it finishes.
  void HelpUntil(PoolJob* job, const std::function<bool()>& done, std::mutex& mu,
                 std::condition_variable& wake);

 private:
  struct Worker {
    std::mutex mu;
    std::deque<WorkItem> deque;
    std::thread thread;
  };

  void WorkerLoop(int index);
  bool PopLocal(int index, WorkItem* out);
  bool PopInjected(int index, WorkItem* out);
  bool Steal(int thief, WorkItem* out);
  bool TakeItemOf(PoolJob* job, int index, WorkItem* out);
  void NotifyWork(size_t count);

  std::vector<std::unique_ptr<Worker>> workers_;
  std::mutex injection_mu_;
  std::deque<WorkItem> injection_;
  std::atomic<int64_t> queued_{0};  // may dip below zero briefly between a pop and its push's count
  std::atomic<int> sleeping_{0};
  std::mutex sleep_mu_;
  std::condition_variable sleep_cv_;
  std::atomic<bool> stop_{false};
};

}  // namespace tegu::internal
