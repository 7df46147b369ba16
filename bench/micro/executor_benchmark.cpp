// Micro benchmarks of the local executors on native tasks: independent tasks, a long chain and
// a tree reduction, per scheduler. Reports time per task (items_per_second = tasks/s).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "tegu/local.hpp"
#include "tegu/native.hpp"

namespace {

std::shared_ptr<const tegu::TaskFunction> IncFn() {
  static auto fn = tegu::MakeNativeFunction("inc", [](int64_t x) { return x + 1; });
  return fn;
}
std::shared_ptr<const tegu::TaskFunction> AddFn() {
  static auto fn = tegu::MakeNativeFunction("add", [](int64_t a, int64_t b) { return a + b; });
  return fn;
}

tegu::ComputeOptions Options(int64_t scheduler) {
  tegu::ComputeOptions options;
  options.scheduler = scheduler == 0 ? tegu::SchedulerKind::kSync : tegu::SchedulerKind::kThreads;
  return options;
}

void BM_Independent(benchmark::State& state) {
  const int64_t n = state.range(0);
  for (auto _ : state) {
    tegu::Graph graph;
    std::vector<tegu::KeyId> outputs;
    for (int64_t i = 0; i < n; ++i) {
      outputs.push_back(graph.AddTask(tegu::Key::Tuple({std::string("inc"), i}),
                                      tegu::TaskSpec(IncFn(), {tegu::Arg::Literal(tegu::Value::From(i))})));
    }
    auto result = tegu::Compute(std::move(graph), outputs, Options(state.range(1)));
    benchmark::DoNotOptimize(result);
  }
  state.SetItemsProcessed(state.iterations() * n);
}

void BM_Chain(benchmark::State& state) {
  const int64_t n = state.range(0);
  for (auto _ : state) {
    tegu::Graph graph;
    tegu::KeyId prev = graph.AddTask("x-0", tegu::TaskSpec::Literal(tegu::Value::From(int64_t{0})));
    for (int64_t i = 1; i < n; ++i) {
      prev = graph.AddTask(tegu::Key::Tuple({std::string("x"), i}),
                           tegu::TaskSpec(IncFn(), {tegu::Arg::Ref(prev)}));
    }
    std::vector<tegu::KeyId> outputs{prev};
    auto options = Options(state.range(1));
    options.optimize = false;  // measure per-task scheduling, not fusion
    auto result = tegu::Compute(std::move(graph), outputs, options);
    benchmark::DoNotOptimize(result);
  }
  state.SetItemsProcessed(state.iterations() * n);
}

void BM_TreeReduction(benchmark::State& state) {
  const int64_t n = state.range(0);
  int64_t tasks = 0;
  for (auto _ : state) {
    tegu::Graph graph;
    std::vector<tegu::KeyId> layer;
    for (int64_t i = 0; i < n; ++i) {
      layer.push_back(graph.AddTask(tegu::Key::Tuple({std::string("leaf"), i}),
                                    tegu::TaskSpec(IncFn(), {tegu::Arg::Literal(tegu::Value::From(i))})));
    }
    for (int64_t level = 0; layer.size() > 1; ++level) {
      std::vector<tegu::KeyId> next;
      for (size_t i = 0; i + 1 < layer.size(); i += 2) {
        next.push_back(graph.AddTask(
            tegu::Key::Tuple({std::string("add"), level, static_cast<int64_t>(i)}),
            tegu::TaskSpec(AddFn(), {tegu::Arg::Ref(layer[i]), tegu::Arg::Ref(layer[i + 1])})));
      }
      if (layer.size() % 2) next.push_back(layer.back());
      layer = std::move(next);
    }
    tasks = static_cast<int64_t>(graph.size());
    auto result = tegu::Compute(std::move(graph), layer, Options(state.range(1)));
    benchmark::DoNotOptimize(result);
  }
  state.SetItemsProcessed(state.iterations() * tasks);
}

// Args: {tasks, scheduler (0 sync, 1 threads)}.
BENCHMARK(BM_Independent)->Args({100000, 0})->Args({100000, 1})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Chain)->Args({100000, 0})->Args({100000, 1})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_TreeReduction)->Args({100000, 0})->Args({100000, 1})->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
