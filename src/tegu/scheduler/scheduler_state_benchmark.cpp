// Micro benchmarks of SchedulerState: the scheduler's own cost per task, without any network,
// for the target of at most 20 us of scheduler overhead per distributed task. Each
// benchmark submits a graph, answers every ComputeTask with a TaskFinished in FIFO order (as
// instant workers would), and releases the results.

#include <benchmark/benchmark.h>

#include <chrono>
#include <deque>
#include <string>
#include <vector>

#include "tegu/scheduler/scheduler_state.hpp"

namespace tegu::scheduler {
namespace {

const Clock::time_point kNow = Clock::time_point{} + std::chrono::hours(1);

// Runs every task to completion; returns the number of events handled.
size_t RunToCompletion(SchedulerState& state, Actions actions) {
  std::deque<ComputeTask> ready;
  size_t events = 0;
  for (;;) {
    for (Action& a : actions) {
      if (auto* c = std::get_if<ComputeTask>(&a)) ready.push_back(std::move(*c));
    }
    if (ready.empty()) return events;
    ComputeTask c = std::move(ready.front());
    ready.pop_front();
    actions = state.Handle(TaskFinished{c.worker, std::move(c.key), 8, -1, c.run_id}, kNow);
    ++events;
  }
}

// client.map of trivial functions: independent root tasks, queued, on 2 one-thread workers.
void BM_MapIndependentTasks(benchmark::State& st) {
  const int n = static_cast<int>(st.range(0));
  std::vector<Key> keys;
  for (int i = 0; i < n; ++i) keys.push_back("inc-" + std::to_string(i));
  for (auto _ : st) {
    SchedulerState state;
    state.Handle(AddWorker{1, 1, 0}, kNow);
    state.Handle(AddWorker{2, 1, 0}, kNow);
    UpdateGraph update{1, {}, keys};
    for (int i = 0; i < n; ++i) {
      update.tasks.push_back(TaskSubmission{keys[i], {}, static_cast<uint64_t>(i + 1)});
    }
    benchmark::DoNotOptimize(RunToCompletion(state, state.Handle(update, kNow)));
    state.Handle(ReleaseKeys{1, keys}, kNow);
  }
  st.SetItemsProcessed(st.iterations() * n);
}
BENCHMARK(BM_MapIndependentTasks)->Arg(100'000)->Unit(benchmark::kMillisecond);

// A tree reduction: each task sums two of the layer below (placement by dependency bytes).
void BM_TreeReduction(benchmark::State& st) {
  const int leaves = static_cast<int>(st.range(0));
  int total = 0;
  for (auto _ : st) {
    SchedulerState state;
    for (WorkerId w = 1; w <= 4; ++w) state.Handle(AddWorker{w, 2, 0}, kNow);
    UpdateGraph update{1, {}, {}};
    std::vector<Key> layer;
    for (int i = 0; i < leaves; ++i) {
      layer.push_back(Key::Tuple({std::string("leaf"), int64_t{i}}));
      update.tasks.push_back(TaskSubmission{layer.back(), {}, 1});
    }
    for (int level = 0; layer.size() > 1; ++level) {
      std::vector<Key> next;
      for (size_t i = 0; i < layer.size(); i += 2) {
        next.push_back(Key::Tuple({"sum-" + std::to_string(level), int64_t(i / 2)}));
        std::vector<Key> deps{layer[i]};
        if (i + 1 < layer.size()) deps.push_back(layer[i + 1]);
        update.tasks.push_back(TaskSubmission{next.back(), std::move(deps), 1});
      }
      layer = std::move(next);
    }
    update.wanted = layer;
    total = static_cast<int>(update.tasks.size());
    benchmark::DoNotOptimize(RunToCompletion(state, state.Handle(update, kNow)));
    state.Handle(ReleaseKeys{1, layer}, kNow);
  }
  st.SetItemsProcessed(st.iterations() * total);
}
BENCHMARK(BM_TreeReduction)->Arg(65'536)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace tegu::scheduler

BENCHMARK_MAIN();
