// Tests of tegu::internal::ThreadPool: every pushed item runs exactly once (pushed from outside
// threads or from the workers themselves), HelpUntil runs the items of its own job on the calling
// worker, and destroying a pool whose threads are idle returns.

#include "tegu/local/thread_pool.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace tegu::internal {
namespace {

// A job counting how often each of its items ran; WaitForRuns blocks until `n` runs happened.
// The count is updated and notified under the mutex, so once WaitForRuns returns no RunItem
// touches the job any more. runs() reads the count without the mutex, so it may serve as the
// `done` predicate of HelpUntil (which evaluates it with the mutex held).
class CountingJob : public PoolJob {
 public:
  explicit CountingJob(size_t items, std::function<void(uint32_t)> body = nullptr)
      : counts_(items), body_(std::move(body)) {}

  void RunItem(uint32_t task) override {
    counts_[task].fetch_add(1);
    if (body_) body_(task);
    std::lock_guard<std::mutex> lock(mu_);
    ran_on_.insert(std::this_thread::get_id());
    runs_.fetch_add(1);
    cv_.notify_all();
  }

  void WaitForRuns(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return runs_.load() >= n; });
  }

  size_t runs() const { return runs_.load(); }
  std::set<std::thread::id> threads() {
    std::lock_guard<std::mutex> lock(mu_);
    return ran_on_;
  }
  int count(uint32_t task) const { return counts_[task].load(); }
  size_t size() const { return counts_.size(); }

  std::mutex& mu() { return mu_; }
  std::condition_variable& cv() { return cv_; }

 private:
  std::vector<std::atomic<int>> counts_;
  std::function<void(uint32_t)> body_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<size_t> runs_{0};
  std::set<std::thread::id> ran_on_;
};

std::vector<WorkItem> Items(PoolJob* job, uint32_t begin, uint32_t end) {
  std::vector<WorkItem> items;
  for (uint32_t i = begin; i < end; ++i) items.push_back(WorkItem{job, i});
  return items;
}

void ExpectEachRanOnce(const CountingJob& job) {
  for (uint32_t i = 0; i < job.size(); ++i) ASSERT_EQ(job.count(i), 1) << "item " << i;
}

TEST(ThreadPoolTest, ItemsPushedFromOutsideThreadsRunExactlyOnce) {
  constexpr uint32_t kPerThread = 5000;
  constexpr uint32_t kThreads = 3;
  std::atomic<int> outside_worker_runs{0};
  ThreadPool* pool = nullptr;
  CountingJob job(kPerThread * kThreads, [&](uint32_t) {
    if (!pool->IsWorkerThread()) outside_worker_runs.fetch_add(1);
  });
  ThreadPool four_workers(4);
  pool = &four_workers;
  EXPECT_EQ(pool->num_threads(), 4);
  EXPECT_FALSE(pool->IsWorkerThread());
  std::vector<std::thread> pushers;
  for (uint32_t t = 0; t < kThreads; ++t) {
    pushers.emplace_back([&, t] {
      // Batches of varying size, single items included.
      uint32_t begin = t * kPerThread;
      uint32_t end = begin + kPerThread;
      for (uint32_t i = begin, step = 1; i < end; i += step, step = step % 7 + 1) {
        std::vector<WorkItem> batch = Items(&job, i, std::min(end, i + step));
        pool->Push(batch);
      }
    });
  }
  for (auto& t : pushers) t.join();
  job.WaitForRuns(job.size());
  EXPECT_EQ(job.runs(), job.size());
  ExpectEachRanOnce(job);
  EXPECT_EQ(outside_worker_runs.load(), 0);
}

TEST(ThreadPoolTest, ItemsPushedFromWorkersRunExactlyOnce) {
  // Each item i pushes items 2i+1 and 2i+2 from the worker running it: a binary fan-out.
  constexpr uint32_t kItems = 20000;
  std::atomic<int> outside_worker_runs{0};
  ThreadPool* pool_ptr = nullptr;
  CountingJob* job_ptr = nullptr;
  CountingJob job(kItems, [&](uint32_t i) {
    if (!pool_ptr->IsWorkerThread()) outside_worker_runs.fetch_add(1);
    std::vector<WorkItem> children;
    for (uint32_t c : {2 * i + 1, 2 * i + 2}) {
      if (c < kItems) children.push_back(WorkItem{job_ptr, c});
    }
    pool_ptr->Push(children);
  });
  job_ptr = &job;
  ThreadPool pool(3);
  pool_ptr = &pool;
  std::vector<WorkItem> root = Items(&job, 0, 1);
  pool.Push(root);
  job.WaitForRuns(kItems);
  ExpectEachRanOnce(job);
  EXPECT_EQ(outside_worker_runs.load(), 0);
}

TEST(ThreadPoolTest, PushedBatchIsRunLastFirstOnOneWorker) {
  // One worker: the order in which pushed batches run is deterministic.
  std::mutex mu;
  std::vector<uint32_t> seen;
  ThreadPool* pool_ptr = nullptr;
  CountingJob* job_ptr = nullptr;
  CountingJob job(12, [&](uint32_t i) {
    {
      std::lock_guard<std::mutex> lock(mu);
      seen.push_back(i);
    }
    if (i == 5) {
      std::vector<WorkItem> batch = Items(job_ptr, 6, 12);
      pool_ptr->Push(batch);
    }
  });
  job_ptr = &job;
  ThreadPool pool(1);
  pool_ptr = &pool;
  std::vector<WorkItem> batch = Items(&job, 0, 6);
  pool.Push(batch);
  job.WaitForRuns(12);
  ExpectEachRanOnce(job);
  std::lock_guard<std::mutex> lock(mu);
  // A batch from outside runs last item first (the executor puts the most urgent task last);
  // item 5's batch goes to the worker's own deque and runs before the remaining injected
  // items, last pushed first.
  EXPECT_EQ(seen, (std::vector<uint32_t>{5, 11, 10, 9, 8, 7, 6, 4, 3, 2, 1, 0}));
}

TEST(ThreadPoolTest, HelpUntilRunsItemsOfItsOwnJob) {
  // One worker: while its item waits in HelpUntil, only it can run anything, so the inner
  // job's items must run on it and the unrelated job's items must wait.
  constexpr uint32_t kInner = 200;
  ThreadPool* pool = nullptr;
  CountingJob inner(kInner);
  CountingJob unrelated(50);
  std::thread::id helper_thread;
  size_t unrelated_runs_when_done = 999;
  size_t inner_runs_when_done = 0;
  CountingJob outer(1, [&](uint32_t) {
    helper_thread = std::this_thread::get_id();
    std::vector<WorkItem> inner_items = Items(&inner, 0, kInner);
    pool->Push(inner_items);
    // Pushed last, so these sit nearest the worker's end of its deque.
    std::vector<WorkItem> unrelated_items = Items(&unrelated, 0, 50);
    pool->Push(unrelated_items);
    pool->HelpUntil(&inner, [&] { return inner.runs() == kInner; }, inner.mu(), inner.cv());
    unrelated_runs_when_done = unrelated.runs();
    inner_runs_when_done = inner.runs();
  });
  // Declared after the jobs, so that its threads are joined before the jobs go away.
  ThreadPool one_worker(1);
  pool = &one_worker;
  std::vector<WorkItem> outer_items = Items(&outer, 0, 1);
  pool->Push(outer_items);
  outer.WaitForRuns(1);
  EXPECT_EQ(inner_runs_when_done, kInner);
  EXPECT_EQ(unrelated_runs_when_done, 0u);
  ExpectEachRanOnce(inner);
  EXPECT_EQ(inner.threads(), (std::set<std::thread::id>{helper_thread}));
  // The unrelated items still run afterwards.
  unrelated.WaitForRuns(50);
  ExpectEachRanOnce(unrelated);
}

TEST(ThreadPoolTest, HelpUntilFinishesWhenOtherWorkersTakeItems) {
  // Many helpers at once on a small pool: each outer item waits for its own inner job, whose
  // items other workers may steal. Every inner item runs exactly once and every wait ends.
  constexpr uint32_t kOuter = 8;
  constexpr uint32_t kInner = 300;
  // HelpUntil returns as soon as `done` holds, possibly while the worker that ran the last item
  // is still notifying the job's condition variable: the jobs must outlive the pool's threads,
  // so they are declared first.
  std::vector<std::unique_ptr<CountingJob>> inner;
  for (uint32_t i = 0; i < kOuter; ++i) inner.push_back(std::make_unique<CountingJob>(kInner));
  ThreadPool* pool_ptr = nullptr;
  CountingJob outer(kOuter, [&](uint32_t o) {
    ThreadPool& pool = *pool_ptr;
    std::vector<WorkItem> items = Items(inner[o].get(), 0, kInner);
    pool.Push(items);
    CountingJob& job = *inner[o];
    pool.HelpUntil(&job, [&] { return job.runs() == kInner; }, job.mu(), job.cv());
  });
  ThreadPool pool(2);
  pool_ptr = &pool;
  std::vector<WorkItem> outer_items = Items(&outer, 0, kOuter);
  pool.Push(outer_items);
  outer.WaitForRuns(kOuter);
  ExpectEachRanOnce(outer);
  for (const auto& job : inner) {
    EXPECT_EQ(job->runs(), kInner);
    ExpectEachRanOnce(*job);
  }
}

TEST(ThreadPoolTest, DestructionWithIdleThreadsReturns) {
  { ThreadPool never_used(4); }
  for (int round = 0; round < 5; ++round) {
    CountingJob job(100);
    ThreadPool pool(3);
    std::vector<WorkItem> items = Items(&job, 0, 100);
    pool.Push(items);
    job.WaitForRuns(100);
    // The workers go idle (spinning or parked); the destructor must wake and join them.
  }
  SUCCEED();
}

TEST(ThreadPoolTest, ZeroThreadsMeansOneAndSharedPoolsAreReused) {
  ThreadPool pool(0);
  EXPECT_EQ(pool.num_threads(), 1);
  ThreadPool& shared2 = ThreadPool::Shared(2);
  EXPECT_EQ(&shared2, &ThreadPool::Shared(2));
  EXPECT_EQ(shared2.num_threads(), 2);
  EXPECT_NE(&shared2, &ThreadPool::Shared(3));
  EXPECT_GE(ThreadPool::Shared(0).num_threads(), 1);
  EXPECT_FALSE(shared2.IsWorkerThread());
}

}  // namespace
}  // namespace tegu::internal
