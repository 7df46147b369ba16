// Tests of the local executors behind tegu::Compute: random DAGs give the same results on the
// synchronous and threaded schedulers (1, 2 and 4 workers, optimised or not), failures stop the
// computation and carry the task's exception, nested computations on the same pool complete,
// cycles and missing keys are clean errors, intermediate results are freed as soon as possible,
// and the progress counters add up.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "tegu/graph.hpp"
#include "tegu/local.hpp"
#include "tegu/native.hpp"
#include "tegu/optimize.hpp"
#include "tegu/task_error.hpp"

namespace tegu {
namespace {

constexpr int64_t kModulus = 1000003;

// The sum of an int64 or of a (nested) list of them, modulo kModulus.
int64_t SumValue(const Value& value) {
  if (const int64_t* x = value.TryGet<int64_t>()) return *x % kModulus;
  const ValueList* items = value.TryGet<ValueList>();
  if (items == nullptr) throw std::runtime_error("unexpected value of type " + value.TypeName());
  int64_t total = 0;
  for (const Value& item : *items) total = (total + SumValue(item)) % kModulus;
  return total;
}

// sum_deps(literal, [refs, [nested refs], ...]) = literal + the sum of every referenced value.
std::shared_ptr<const TaskFunction> SumDepsFunction() {
  static const auto fn = MakeNativeFunction("sum_deps", [](int64_t literal, ValueList deps) {
    int64_t total = literal % kModulus;
    for (const Value& v : deps) total = (total + SumValue(v)) % kModulus;
    return total;
  });
  return fn;
}

struct RandomDag {
  Graph graph;
  std::vector<KeyId> ids;
  std::vector<KeyId> outputs;
  std::vector<int64_t> expected;  // the value of each output, computed here directly
};

// A random DAG of `n` tasks; task i depends on up to 4 earlier tasks, referenced directly, in a
// nested list, or twice. Some tasks are literals or aliases, so that optimisation has work.
RandomDag MakeRandomDag(uint32_t seed, int n) {
  std::mt19937 rng(seed);
  RandomDag dag;
  std::vector<int64_t> value(n);
  for (int i = 0; i < n; ++i) {
    Key key = Key::Tuple({std::string("node"), int64_t{seed}, int64_t{i}});
    int kind = static_cast<int>(rng() % 10);
    if (i == 0 || kind == 0) {
      int64_t v = static_cast<int64_t>(rng() % 1000);
      dag.ids.push_back(dag.graph.AddTask(key, TaskSpec::Literal(Value::From(v))));
      value[i] = v;
      continue;
    }
    std::uniform_int_distribution<int> pick(std::max(0, i - 50), i - 1);
    if (kind == 1) {
      int target = pick(rng);
      dag.ids.push_back(dag.graph.AddTask(key, TaskSpec::Alias(dag.ids[target])));
      value[i] = value[target];
      continue;
    }
    int64_t literal = static_cast<int64_t>(rng() % 1000);
    int64_t total = literal;
    std::vector<Arg> direct;
    std::vector<Arg> nested;
    int deps = static_cast<int>(rng() % 5);
    for (int d = 0; d < deps; ++d) {
      int target = pick(rng);
      total = (total + value[target]) % kModulus;
      Arg ref = Arg::Ref(dag.ids[target]);
      if (rng() % 3 == 0) {
        nested.push_back(ref);
      } else {
        direct.push_back(ref);
      }
    }
    if (!nested.empty()) direct.push_back(Arg::List({Arg::List(std::move(nested))}));
    dag.ids.push_back(dag.graph.AddTask(
        key, TaskSpec(SumDepsFunction(),
                      {Arg::Literal(Value::From(literal)), Arg::List(std::move(direct))})));
    value[i] = total;
  }
  // The last task, plus a few others.
  dag.outputs.push_back(dag.ids.back());
  for (int k = 0; k < 5; ++k) dag.outputs.push_back(dag.ids[rng() % n]);
  for (KeyId out : dag.outputs) {
    auto it = std::find(dag.ids.begin(), dag.ids.end(), out);
    dag.expected.push_back(value[it - dag.ids.begin()]);
  }
  return dag;
}

ComputeOptions Options(SchedulerKind scheduler, int workers, bool optimize) {
  ComputeOptions options;
  options.scheduler = scheduler;
  options.num_workers = workers;
  options.optimize = optimize;
  return options;
}

std::vector<int64_t> Ints(const std::vector<Value>& values) {
  std::vector<int64_t> out;
  for (const Value& v : values) {
    const int64_t* p = v.TryGet<int64_t>();
    out.push_back(p ? *p : -1);
  }
  return out;
}

// Computes `outputs` and returns their int64 values (empty on failure, which fails the test).
std::vector<int64_t> ComputeInts(const Graph& graph, const std::vector<KeyId>& outputs,
                                 const ComputeOptions& options) {
  Result<std::vector<Value>> result = Compute(graph, outputs, options);
  EXPECT_TRUE(result.ok()) << result.status().ToString();
  if (!result.ok()) return {};
  return Ints(result.ValueUnsafe());
}

std::shared_ptr<const TaskFunction> IncFunction() {
  static const auto fn = MakeNativeFunction("inc", [](int64_t x) { return x + 1; });
  return fn;
}

// --- Random DAGs ------------------------------------------------------------------------------

TEST(ExecutorTest, RandomDagsThreadedEqualsSynchronous) {
  for (uint32_t seed : {1u, 7u, 42u, 1234u}) {
    std::mt19937 size_rng(seed);
    int n = 200 + static_cast<int>(size_rng() % 1801);
    RandomDag dag = MakeRandomDag(seed, n);
    for (bool optimize : {false, true}) {
      std::vector<int64_t> sync =
          ComputeInts(dag.graph, dag.outputs, Options(SchedulerKind::kSync, 0, optimize));
      EXPECT_EQ(sync, dag.expected) << "seed " << seed << " n " << n;
      for (int workers : {1, 2, 4}) {
        std::vector<int64_t> threaded = ComputeInts(
            dag.graph, dag.outputs, Options(SchedulerKind::kThreads, workers, optimize));
        EXPECT_EQ(threaded, sync) << "seed " << seed << " n " << n << " workers " << workers
                                  << " optimize " << optimize;
      }
    }
  }
}

TEST(ExecutorTest, AllTasksWhenNoOutputsAndRepeatedOutputs) {
  RandomDag dag = MakeRandomDag(99, 300);
  Result<std::vector<Value>> none =
      Compute(dag.graph, {}, Options(SchedulerKind::kThreads, 2, true));
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_TRUE(none.ValueUnsafe().empty());

  std::vector<KeyId> twice = {dag.outputs[0], dag.outputs[0]};
  EXPECT_EQ(ComputeInts(dag.graph, twice, Options(SchedulerKind::kThreads, 2, true)),
            (std::vector<int64_t>{dag.expected[0], dag.expected[0]}));
}

TEST(ExecutorTest, ExecuteRunsAGivenOrder) {
  RandomDag dag = MakeRandomDag(5, 400);
  Graph graph = dag.graph;
  ASSERT_TRUE(Cull(&graph, dag.outputs).ok());
  Result<std::vector<KeyId>> order = Order(graph, dag.outputs);
  ASSERT_TRUE(order.ok());
  for (SchedulerKind kind : {SchedulerKind::kSync, SchedulerKind::kThreads}) {
    Result<std::vector<Value>> result =
        Execute(graph, dag.outputs, order.ValueUnsafe(), Options(kind, 2, false));
    ASSERT_TRUE(result.ok()) << result.status().ToString();
    EXPECT_EQ(Ints(result.ValueUnsafe()), dag.expected);
  }
  // An order that does not cover the computation is rejected.
  std::vector<KeyId> partial(order.ValueUnsafe().begin(), order.ValueUnsafe().end() - 1);
  Result<std::vector<Value>> bad =
      Execute(graph, dag.outputs, partial, Options(SchedulerKind::kSync, 0, false));
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalid);
}

TEST(ExecutorTest, ParseSchedulerName) {
  EXPECT_EQ(ParseSchedulerName("sync").ValueUnsafe(), SchedulerKind::kSync);
  EXPECT_EQ(ParseSchedulerName("synchronous").ValueUnsafe(), SchedulerKind::kSync);
  EXPECT_EQ(ParseSchedulerName("single-threaded").ValueUnsafe(), SchedulerKind::kSync);
  EXPECT_EQ(ParseSchedulerName("threads").ValueUnsafe(), SchedulerKind::kThreads);
  EXPECT_EQ(ParseSchedulerName("threading").ValueUnsafe(), SchedulerKind::kThreads);
  Result<SchedulerKind> bad = ParseSchedulerName("processes");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalid);
  EXPECT_NE(bad.status().message().find("processes"), std::string::npos);
  EXPECT_GE(DefaultThreadCount(), 1);
}

// --- Failures ---------------------------------------------------------------------------------

// a -> fail -> after: `fail` throws std::runtime_error("boom <x>").
struct FailingGraph {
  Graph graph;
  KeyId a, fail, after;
  std::shared_ptr<std::atomic<int>> after_runs = std::make_shared<std::atomic<int>>(0);
};

FailingGraph MakeFailingGraph() {
  FailingGraph g;
  g.a = g.graph.AddTask("a", TaskSpec(IncFunction(), {Arg::Literal(Value::From(int64_t{1}))}));
  auto thrower = MakeNativeFunction("thrower", [](int64_t x) -> int64_t {
    throw std::runtime_error("boom " + std::to_string(x));
  });
  g.fail = g.graph.AddTask(Key::Tuple({std::string("fail"), int64_t{3}}),
                           TaskSpec(thrower, {Arg::Ref(g.a)}));
  auto counter = g.after_runs;
  auto after = MakeNativeFunction("after", [counter](int64_t x) {
    counter->fetch_add(1);
    return x;
  });
  g.after = g.graph.AddTask("after", TaskSpec(after, {Arg::Ref(g.fail)}));
  return g;
}

TEST(ExecutorTest, TaskExceptionIsTaskErrorNamingKeyWithOriginalException) {
  for (SchedulerKind kind : {SchedulerKind::kSync, SchedulerKind::kThreads}) {
    for (bool optimize : {false, true}) {
      FailingGraph g = MakeFailingGraph();
      std::vector<KeyId> outputs = {g.after};
      Result<std::vector<Value>> result = Compute(g.graph, outputs, Options(kind, 2, optimize));
      ASSERT_FALSE(result.ok());
      const Status& st = result.status();
      EXPECT_EQ(st.code(), StatusCode::kTaskError);
      EXPECT_NE(st.message().find("('fail', 3)"), std::string::npos) << st.message();
      EXPECT_NE(st.message().find("boom 2"), std::string::npos) << st.message();
      EXPECT_EQ(g.after_runs->load(), 0);
      auto* detail = dynamic_cast<const ExceptionDetail*>(st.detail().get());
      ASSERT_NE(detail, nullptr);
      EXPECT_EQ(detail->ToString(), "boom 2");
      try {
        std::rethrow_exception(detail->exception());
      } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(), "boom 2");
      } catch (...) {
        ADD_FAILURE() << "not a std::runtime_error";
      }
      // ThrowStatus rethrows the task's own exception.
      EXPECT_THROW(ThrowStatus(st), std::runtime_error);
    }
  }
}

TEST(ExecutorTest, TypeMismatchIsAnErrorNamingTheKey) {
  Graph graph;
  KeyId s = graph.AddTask("text", TaskSpec::Literal(Value::From(std::string("not a number"))));
  KeyId bad = graph.AddTask("bad-inc", TaskSpec(IncFunction(), {Arg::Ref(s)}));
  std::vector<KeyId> outputs = {bad};
  for (SchedulerKind kind : {SchedulerKind::kSync, SchedulerKind::kThreads}) {
    Result<std::vector<Value>> result = Compute(graph, outputs, Options(kind, 2, false));
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.status().code(), StatusCode::kTypeError);
    EXPECT_NE(result.status().message().find("bad-inc"), std::string::npos)
        << result.status().message();
  }
}

// `count` independent tasks, each counting its executions; the one at `failing` throws.
struct ManyTasks {
  Graph graph;
  std::vector<KeyId> outputs;
  std::shared_ptr<std::atomic<int>> runs = std::make_shared<std::atomic<int>>(0);
};

ManyTasks MakeManyTasks(int count, int failing) {
  ManyTasks m;
  auto runs = m.runs;
  auto work = MakeNativeFunction("work", [runs](int64_t i, int64_t fail) -> int64_t {
    runs->fetch_add(1);
    if (fail != 0) throw std::runtime_error("task " + std::to_string(i) + " failed");
    return i;
  });
  for (int i = 0; i < count; ++i) {
    m.outputs.push_back(m.graph.AddTask(
        Key::Tuple({std::string("many"), int64_t{i}}),
        TaskSpec(work, {Arg::Literal(Value::From(int64_t{i})),
                        Arg::Literal(Value::From(int64_t{i == failing ? 1 : 0}))})));
  }
  return m;
}

TEST(ExecutorTest, FailureAmongManyIndependentTasksStops) {
  constexpr int kTasks = 2000;
  constexpr int kFailing = 10;
  // Sync and one worker run the tasks in output order, so they stop right after the failure.
  for (int workers : {0, 1}) {
    ManyTasks m = MakeManyTasks(kTasks, kFailing);
    SchedulerKind kind = workers == 0 ? SchedulerKind::kSync : SchedulerKind::kThreads;
    Result<std::vector<Value>> result = Compute(m.graph, m.outputs, Options(kind, workers, true));
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.status().code(), StatusCode::kTaskError);
    EXPECT_NE(result.status().message().find("('many', 10)"), std::string::npos)
        << result.status().message();
    EXPECT_LT(m.runs->load(), kTasks);
  }
  // More workers: the call returns the error (no hang), whatever ran concurrently.
  for (int workers : {2, 4}) {
    ManyTasks m = MakeManyTasks(kTasks, kFailing);
    Result<std::vector<Value>> result =
        Compute(m.graph, m.outputs, Options(SchedulerKind::kThreads, workers, true));
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.status().code(), StatusCode::kTaskError);
    EXPECT_NE(result.status().message().find("('many', 10)"), std::string::npos);
    EXPECT_LE(m.runs->load(), kTasks);
  }
}

TEST(ExecutorTest, SeveralFailuresReportOne) {
  Graph graph;
  auto thrower = MakeNativeFunction("thrower", [](int64_t x) -> int64_t {
    throw std::runtime_error("failure " + std::to_string(x));
  });
  std::vector<KeyId> outputs;
  for (int i = 0; i < 200; ++i) {
    outputs.push_back(graph.AddTask(Key::Tuple({std::string("f"), int64_t{i}}),
                                    TaskSpec(thrower, {Arg::Literal(Value::From(int64_t{i}))})));
  }
  Result<std::vector<Value>> result =
      Compute(graph, outputs, Options(SchedulerKind::kThreads, 4, true));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kTaskError);
  // The message names one failing task, once, with its own error.
  const std::string& msg = result.status().message();
  EXPECT_EQ(msg.rfind("task '('f', ", 0), 0u) << msg;
  EXPECT_EQ(msg.find("task '", 1), std::string::npos) << msg;
  EXPECT_NE(msg.find("' failed: failure "), std::string::npos) << msg;
}

// --- Nested compute ---------------------------------------------------------------------------

// A 50-task graph: a chain of incs from `seed`, plus a fan-in of all of them.
int64_t NestedComputation(int64_t seed, int workers) {
  Graph graph;
  std::vector<KeyId> ids;
  ids.push_back(graph.AddTask(Key::Tuple({std::string("inner"), seed, int64_t{0}}),
                              TaskSpec::Literal(Value::From(seed))));
  std::vector<Arg> all = {Arg::Ref(ids.back())};
  for (int i = 1; i < 49; ++i) {
    KeyId source = ids[i % 2 == 0 ? i - 1 : (i - 1) / 2];
    ids.push_back(graph.AddTask(Key::Tuple({std::string("inner"), seed, int64_t{i}}),
                                TaskSpec(IncFunction(), {Arg::Ref(source)})));
    all.push_back(Arg::Ref(ids.back()));
  }
  KeyId total = graph.AddTask(
      Key::Tuple({std::string("inner-total"), seed}),
      TaskSpec(SumDepsFunction(), {Arg::Literal(Value::From(int64_t{0})), Arg::List(all)}));
  std::vector<KeyId> outputs = {total};
  Result<std::vector<Value>> result =
      Compute(std::move(graph), outputs, Options(SchedulerKind::kThreads, workers, false));
  if (!result.ok()) throw StatusError(result.status());
  return *result.ValueUnsafe()[0].TryGet<int64_t>();
}

TEST(ExecutorTest, NestedComputeOnTheSamePoolCompletes) {
  constexpr int kOuter = 16;
  constexpr int kWorkers = 2;
  // Expected values, computed synchronously outside any pool.
  std::vector<int64_t> expected;
  for (int i = 0; i < kOuter; ++i) expected.push_back(NestedComputation(1000 * i, 1));

  for (int round = 0; round < 3; ++round) {
    Graph graph;
    auto nested = MakeNativeFunction("nested", [](int64_t seed) {
      return NestedComputation(seed, kWorkers);
    });
    std::vector<KeyId> outputs;
    for (int i = 0; i < kOuter; ++i) {
      outputs.push_back(
          graph.AddTask(Key::Tuple({std::string("outer"), int64_t{i}}),
                        TaskSpec(nested, {Arg::Literal(Value::From(int64_t{1000 * i}))})));
    }
    std::vector<int64_t> values =
        ComputeInts(graph, outputs, Options(SchedulerKind::kThreads, kWorkers, true));
    EXPECT_EQ(values, expected);
  }
}

TEST(ExecutorTest, NestedFailureIsReportedByTheOuterTask) {
  auto nested = MakeNativeFunction("nested-fail", [](int64_t x) -> int64_t {
    FailingGraph g = MakeFailingGraph();
    std::vector<KeyId> outputs = {g.after};
    Result<std::vector<Value>> result =
        Compute(g.graph, outputs, Options(SchedulerKind::kThreads, 2, false));
    ThrowStatus(result.status());
  });
  Graph graph;
  std::vector<KeyId> outputs;
  for (int i = 0; i < 4; ++i) {
    outputs.push_back(graph.AddTask(Key::Tuple({std::string("outer"), int64_t{i}}),
                                    TaskSpec(nested, {Arg::Literal(Value::From(int64_t{i}))})));
  }
  Result<std::vector<Value>> result =
      Compute(graph, outputs, Options(SchedulerKind::kThreads, 2, false));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kTaskError);
  EXPECT_NE(result.status().message().find("'outer'"), std::string::npos)
      << result.status().message();
  EXPECT_NE(result.status().message().find("boom 2"), std::string::npos);
  EXPECT_THROW(ThrowStatus(result.status()), std::runtime_error);
}

// --- Invalid graphs ---------------------------------------------------------------------------

TEST(ExecutorTest, CycleIsACleanErrorNamingAKey) {
  for (bool optimize : {false, true}) {
    for (SchedulerKind kind : {SchedulerKind::kSync, SchedulerKind::kThreads}) {
      Graph graph;
      KeyId a = graph.Intern("cyc-a");
      KeyId b = graph.Intern("cyc-b");
      graph.AddTask("cyc-a", TaskSpec(IncFunction(), {Arg::Ref(b)}));
      graph.AddTask("cyc-b", TaskSpec(IncFunction(), {Arg::Ref(a)}));
      KeyId top = graph.AddTask("top", TaskSpec(IncFunction(), {Arg::Ref(a)}));
      std::vector<KeyId> outputs = {top};
      Result<std::vector<Value>> result = Compute(graph, outputs, Options(kind, 2, optimize));
      ASSERT_FALSE(result.ok());
      EXPECT_EQ(result.status().code(), StatusCode::kCycle);
      const std::string& msg = result.status().message();
      EXPECT_TRUE(msg.find("'cyc-a'") != std::string::npos ||
                  msg.find("'cyc-b'") != std::string::npos)
          << msg;

      Graph self;
      KeyId s = self.Intern("self-ref");
      self.AddTask("self-ref", TaskSpec(IncFunction(), {Arg::Ref(s)}));
      std::vector<KeyId> self_out = {s};
      Result<std::vector<Value>> self_result = Compute(self, self_out, Options(kind, 2, optimize));
      ASSERT_FALSE(self_result.ok());
      EXPECT_EQ(self_result.status().code(), StatusCode::kCycle);
      EXPECT_NE(self_result.status().message().find("'self-ref'"), std::string::npos);
    }
  }
}

TEST(ExecutorTest, MissingKeysAreCleanErrorsNamingTheKey) {
  for (SchedulerKind kind : {SchedulerKind::kSync, SchedulerKind::kThreads}) {
    Graph graph;
    KeyId ghost = graph.Intern("ghost-1");
    KeyId a = graph.AddTask("uses-ghost", TaskSpec(IncFunction(), {Arg::Ref(ghost)}));
    std::vector<KeyId> outputs = {a};
    Result<std::vector<Value>> result = Compute(graph, outputs, Options(kind, 2, true));
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.status().code(), StatusCode::kKeyError);
    EXPECT_NE(result.status().message().find("ghost-1"), std::string::npos);
    EXPECT_NE(result.status().message().find("uses-ghost"), std::string::npos);

    std::vector<KeyId> missing_output = {graph.Intern("never-defined")};
    Result<std::vector<Value>> result2 = Compute(graph, missing_output, Options(kind, 2, true));
    ASSERT_FALSE(result2.ok());
    EXPECT_EQ(result2.status().code(), StatusCode::kKeyError);
    EXPECT_NE(result2.status().message().find("never-defined"), std::string::npos);
  }
}

// --- Freeing intermediate results --------------------------------------------------------------

// A value that counts its live instances.
class Counted {
 public:
  static std::atomic<int> live;
  static std::atomic<int> max_seen;

  explicit Counted(int64_t v = 0) : value_(v) { live.fetch_add(1); }
  Counted(const Counted& other) : value_(other.value_) { live.fetch_add(1); }
  Counted(Counted&& other) noexcept : value_(other.value_) { live.fetch_add(1); }
  Counted& operator=(const Counted&) = default;
  Counted& operator=(Counted&&) noexcept = default;
  ~Counted() { live.fetch_sub(1); }

  int64_t value() const { return value_; }

  // Records the live count as seen from inside a task.
  static void Record() {
    int now = live.load();
    int seen = max_seen.load();
    while (now > seen && !max_seen.compare_exchange_weak(seen, now)) {
    }
  }

 private:
  int64_t value_;
};
std::atomic<int> Counted::live{0};
std::atomic<int> Counted::max_seen{0};

TEST(ExecutorTest, IntermediateResultsAreFreed) {
  constexpr int kLength = 2000;
  for (SchedulerKind kind : {SchedulerKind::kThreads, SchedulerKind::kSync}) {
    ASSERT_EQ(Counted::live.load(), 0);
    Counted::max_seen.store(0);
    Graph graph;
    auto start = MakeNativeFunction("start", [](int64_t v) {
      Counted::Record();
      return Counted(v);
    });
    auto step = MakeNativeFunction("step", [](Counted c) {
      Counted::Record();
      return Counted(c.value() + 1);
    });
    std::vector<KeyId> chain;
    chain.push_back(graph.AddTask(Key::Tuple({std::string("c"), int64_t{0}}),
                                  TaskSpec(start, {Arg::Literal(Value::From(int64_t{5}))})));
    for (int i = 1; i < kLength; ++i) {
      chain.push_back(graph.AddTask(Key::Tuple({std::string("c"), int64_t{i}}),
                                    TaskSpec(step, {Arg::Ref(chain.back())})));
    }
    // Two outputs: the end of the chain and its middle, which must be kept to the end.
    std::vector<KeyId> outputs = {chain.back(), chain[kLength / 2]};
    {
      Result<std::vector<Value>> result = Compute(graph, outputs, Options(kind, 2, false));
      ASSERT_TRUE(result.ok()) << result.status().ToString();
      EXPECT_EQ(result.ValueUnsafe()[0].TryGet<Counted>()->value(), 5 + kLength - 1);
      EXPECT_EQ(result.ValueUnsafe()[1].TryGet<Counted>()->value(), 5 + kLength / 2);
      // Only the outputs are alive once Compute returned.
      EXPECT_EQ(Counted::live.load(), 2);
    }
    EXPECT_EQ(Counted::live.load(), 0);
    EXPECT_GE(Counted::max_seen.load(), 1);
    EXPECT_LE(Counted::max_seen.load(), 8) << "intermediate results are not freed";
  }
}

TEST(ExecutorTest, FusedChainFreesIntermediateResults) {
  // With optimisation the chain becomes one task with a long prelude; its steps must not keep
  // every intermediate alive either.
  constexpr int kLength = 1000;
  ASSERT_EQ(Counted::live.load(), 0);
  Counted::max_seen.store(0);
  Graph graph;
  auto start = MakeNativeFunction("start", [](int64_t v) { return Counted(v); });
  auto step = MakeNativeFunction("step", [](Counted c) {
    Counted::Record();
    return Counted(c.value() + 1);
  });
  std::vector<KeyId> chain;
  chain.push_back(graph.AddTask("f-0", TaskSpec(start, {Arg::Literal(Value::From(int64_t{0}))})));
  for (int i = 1; i < kLength; ++i) {
    chain.push_back(
        graph.AddTask("f-" + std::to_string(i), TaskSpec(step, {Arg::Ref(chain.back())})));
  }
  std::vector<KeyId> outputs = {chain.back()};
  {
    Result<std::vector<Value>> result =
        Compute(graph, outputs, Options(SchedulerKind::kThreads, 2, true));
    ASSERT_TRUE(result.ok()) << result.status().ToString();
    EXPECT_EQ(result.ValueUnsafe()[0].TryGet<Counted>()->value(), kLength - 1);
    EXPECT_EQ(Counted::live.load(), 1);
  }
  EXPECT_EQ(Counted::live.load(), 0);
  EXPECT_LE(Counted::max_seen.load(), 8);
}

// --- Progress ---------------------------------------------------------------------------------

TEST(ExecutorTest, ProgressCountersReachTotal) {
  RandomDag dag = MakeRandomDag(3, 500);
  for (SchedulerKind kind : {SchedulerKind::kSync, SchedulerKind::kThreads}) {
    for (bool optimize : {false, true}) {
      ComputeOptions options = Options(kind, 2, optimize);
      options.progress = std::make_shared<Progress>();
      EXPECT_EQ(ComputeInts(dag.graph, dag.outputs, options), dag.expected);
      EXPECT_TRUE(options.progress->finished.load());
      EXPECT_GT(options.progress->total.load(), 0u);
      EXPECT_EQ(options.progress->done.load(), options.progress->total.load());
    }
  }
  // The total is the number of tasks actually run: all of them without optimisation.
  Graph graph = dag.graph;
  ASSERT_TRUE(Cull(&graph, dag.outputs).ok());
  ComputeOptions options = Options(SchedulerKind::kThreads, 2, false);
  options.progress = std::make_shared<Progress>();
  ComputeInts(dag.graph, dag.outputs, options);
  EXPECT_EQ(options.progress->total.load(), graph.size());
}

TEST(ExecutorTest, ProgressIsFinishedAfterAFailure) {
  FailingGraph g = MakeFailingGraph();
  std::vector<KeyId> outputs = {g.after};
  ComputeOptions options = Options(SchedulerKind::kThreads, 2, false);
  options.progress = std::make_shared<Progress>();
  EXPECT_FALSE(Compute(g.graph, outputs, options).ok());
  EXPECT_TRUE(options.progress->finished.load());
  EXPECT_EQ(options.progress->total.load(), 3u);
  EXPECT_EQ(options.progress->done.load(), 1u);  // only `a` finished
}

}  // namespace
}  // namespace tegu
