#include "tegu/local/thread_pool.hpp"

#include <chrono>
#include <map>

#include <unistd.h>

#include "tegu/local/thread_lease.hpp"

namespace tegu::internal {

namespace {
// Which pool and deque the current thread works for.
thread_local const ThreadPool* t_pool = nullptr;
thread_local int t_worker_index = -1;
}  // namespace

ThreadPool::ThreadPool(int num_threads) {
  if (num_threads < 1) num_threads = 1;
  for (int i = 0; i < num_threads; ++i) workers_.push_back(std::make_unique<Worker>());
  for (int i = 0; i < num_threads; ++i) {
    workers_[i]->thread = std::thread([this, i] { WorkerLoop(i); });
  }
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(sleep_mu_);
    stop_.store(true);
  }
  sleep_cv_.notify_all();
  for (auto& w : workers_) w->thread.join();
}

ThreadPool& ThreadPool::Shared(int num_threads) {
  if (num_threads <= 0) num_threads = static_cast<int>(std::thread::hardware_concurrency());
  if (num_threads <= 0) num_threads = 1;
  static std::mutex mu;
  // Leaked on purpose: pool threads may still be parked when static destructors run, and a
  // task's values may belong to an interpreter that is already gone.
  static auto* pools = new std::map<int, std::unique_ptr<ThreadPool>>();
  static pid_t owner = ::getpid();
  std::lock_guard<std::mutex> lock(mu);
  if (::getpid() != owner) {
    // A forked child inherits the pools but not their threads: start afresh (as Dask's
    // threaded scheduler does), leaking the parent's pool objects, whose threads do not exist.
    pools = new std::map<int, std::unique_ptr<ThreadPool>>();
    owner = ::getpid();
  }
  auto& pool = (*pools)[num_threads];
  if (!pool) pool = std::make_unique<ThreadPool>(num_threads);
  return *pool;
}

bool ThreadPool::IsWorkerThread() const { return t_pool == this; }

void ThreadPool::NotifyWork(size_t count) {
  queued_.fetch_add(static_cast<int64_t>(count));
  if (sleeping_.load() > 0) {
    std::lock_guard<std::mutex> lock(sleep_mu_);
    if (count > 1) {
      sleep_cv_.notify_all();
    } else {
      sleep_cv_.notify_one();
    }
  }
}

void ThreadPool::Push(std::span<const WorkItem> items) {
  if (items.empty()) return;
  if (IsWorkerThread()) {
    Worker& w = *workers_[t_worker_index];
    std::lock_guard<std::mutex> lock(w.mu);
    w.deque.insert(w.deque.end(), items.begin(), items.end());
  } else {
    // Outside threads hand work over first-come first-served, so reverse the LIFO convention.
    std::lock_guard<std::mutex> lock(injection_mu_);
    injection_.insert(injection_.end(), items.rbegin(), items.rend());
  }
  NotifyWork(items.size());
}

bool ThreadPool::PopLocal(int index, WorkItem* out) {
  Worker& w = *workers_[index];
  std::lock_guard<std::mutex> lock(w.mu);
  if (w.deque.empty()) return false;
  *out = w.deque.back();
  w.deque.pop_back();
  queued_.fetch_sub(1);
  return true;
}

bool ThreadPool::PopInjected(int index, WorkItem* out) {
  // Take a batch into the local deque: with a million queued roots, one lock per item would
  // make the injection queue the bottleneck. The batch is a fair share so others still get work.
  std::vector<WorkItem> batch;
  {
    std::lock_guard<std::mutex> lock(injection_mu_);
    if (injection_.empty()) return false;
    *out = injection_.front();
    injection_.pop_front();
    size_t share = std::min<size_t>(injection_.size() / (2 * workers_.size()), 64);
    for (size_t k = 0; k < share; ++k) {
      batch.push_back(injection_.front());
      injection_.pop_front();
    }
  }
  if (!batch.empty()) {
    Worker& w = *workers_[index];
    std::lock_guard<std::mutex> lock(w.mu);
    // The local deque pops from the back: reverse so the oldest injected item comes next.
    w.deque.insert(w.deque.end(), batch.rbegin(), batch.rend());
  }
  queued_.fetch_sub(1);
  return true;
}

bool ThreadPool::Steal(int thief, WorkItem* out) {
  const int n = num_threads();
  for (int k = 1; k < n; ++k) {
    Worker& victim = *workers_[(thief + k) % n];
    std::lock_guard<std::mutex> lock(victim.mu);
    if (victim.deque.empty()) continue;
    *out = victim.deque.front();
    victim.deque.pop_front();
    queued_.fetch_sub(1);
    return true;
  }
  return false;
}

bool ThreadPool::TakeItemOf(PoolJob* job, int index, WorkItem* out) {
  auto take = [&](std::deque<WorkItem>& dq, bool from_back) {
    if (from_back) {
      for (auto it = dq.rbegin(); it != dq.rend(); ++it) {
        if (it->job == job) {
          *out = *it;
          dq.erase(std::next(it).base());
          return true;
        }
      }
    } else {
      for (auto it = dq.begin(); it != dq.end(); ++it) {
        if (it->job == job) {
          *out = *it;
          dq.erase(it);
          return true;
        }
      }
    }
    return false;
  };
  const int n = num_threads();
  for (int k = 0; k < n; ++k) {
    Worker& w = *workers_[(index + k) % n];
    std::lock_guard<std::mutex> lock(w.mu);
    if (take(w.deque, /*from_back=*/k == 0)) {
      queued_.fetch_sub(1);
      return true;
    }
  }
  std::lock_guard<std::mutex> lock(injection_mu_);
  if (take(injection_, false)) {
    queued_.fetch_sub(1);
    return true;
  }
  return false;
}

void ThreadPool::HelpUntil(PoolJob* job, const std::function<bool()>& done, std::mutex& mu,
                           std::condition_variable& wake) {
  LeaseLevel level;
  auto backoff = std::chrono::microseconds(20);
  while (!done()) {
    WorkItem item;
    if (TakeItemOf(job, t_worker_index, &item)) {
      item.job->RunItem(item.task);
      backoff = std::chrono::microseconds(20);
      continue;
    }
    // The job's remaining tasks run on other threads; they will finish or queue more.
    ReleaseThreadLease();
    std::unique_lock<std::mutex> lock(mu);
    wake.wait_for(lock, backoff, done);
    backoff = std::min(backoff * 2, std::chrono::microseconds(1000));
  }
}

void ThreadPool::WorkerLoop(int index) {
  t_pool = this;
  t_worker_index = index;
  LeaseLevel level;
  while (true) {
    WorkItem item;
    if (PopLocal(index, &item) || PopInjected(index, &item) || Steal(index, &item)) {
      item.job->RunItem(item.task);
      continue;
    }
    ReleaseThreadLease();
    // Spin briefly before sleeping: new work often arrives within microseconds.
    bool found = false;
    for (int spin = 0; spin < 64 && !found; ++spin) {
      if (queued_.load(std::memory_order_relaxed) > 0) found = true;
      std::this_thread::yield();
    }
    if (found) continue;
    std::unique_lock<std::mutex> lock(sleep_mu_);
    sleeping_.fetch_add(1);
    sleep_cv_.wait(lock, [this] { return stop_.load() || queued_.load() > 0; });
    sleeping_.fetch_sub(1);
    if (stop_.load() && queued_.load() == 0) return;
  }
}

}  // namespace tegu::internal
