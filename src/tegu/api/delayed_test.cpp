// Tests of the typed C++ front end (tegu/delayed.hpp): delayed lambdas and free functions,
// chained calls, computing several values at once, vector arguments, scheduler options, exception
// propagation, very long chains, visualize, and the registry of named native functions.

#include "tegu/delayed.hpp"
#include "tegu/config.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

int64_t AddInts(int64_t a, int64_t b) { return a + b; }
int64_t TeguTestTriple(int64_t x) { return 3 * x; }
std::string Greet(std::string name, int64_t times) {
  std::string out;
  for (int64_t i = 0; i < times; ++i) out += "hello " + name + ";";
  return out;
}

}  // namespace

TEGU_REGISTER(TeguTestTriple);

namespace tegu {
namespace {

namespace fs = std::filesystem;

auto Inc() {
  return delayed([](int64_t x) { return x + 1; }, "inc");
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

ComputeOptions WithScheduler(SchedulerKind kind, int workers = 0) {
  ComputeOptions options;
  options.scheduler = kind;
  options.num_workers = workers;
  return options;
}

TEST(DelayedTest, KeysOfCallsCarryTheFunctionNameAsPrefix) {
  auto inc = Inc();
  Delayed<int64_t> x = inc(0);
  std::vector<Key> keys;
  for (int i = 0; i < 300; ++i) {
    x = inc(x);
    keys.push_back(x.key());
  }
  for (const Key& key : keys) EXPECT_EQ(key.Prefix(), "inc") << key.ToString();
  // Keys are unique.
  for (size_t i = 1; i < keys.size(); ++i) EXPECT_FALSE(keys[i] == keys[i - 1]);
  EXPECT_EQ(compute(x), 301);
}

TEST(DelayedTest, LambdaAndFreeFunction) {
  auto inc = Inc();
  auto add = delayed(AddInts, "add");
  auto add_ptr = delayed(&AddInts, "add");
  Delayed<int64_t> a = inc(1);
  Delayed<int64_t> b = add(a, 10);
  Delayed<int64_t> c = add_ptr(b, a);
  EXPECT_EQ(compute(a), 2);
  EXPECT_EQ(compute(b), 12);
  EXPECT_EQ(compute(c), 14);
  EXPECT_EQ(c.Compute(), 14);
  EXPECT_EQ(a.key().Prefix(), "inc");
  EXPECT_EQ(b.key().Prefix(), "add");
}

TEST(DelayedTest, ChainedCallsAndSharedDependencies) {
  auto inc = Inc();
  auto add = delayed(AddInts, "add");
  Delayed<int64_t> x = inc(inc(inc(0)));
  Delayed<int64_t> y = add(x, x);  // x is computed once and used twice
  Delayed<int64_t> z = add(y, inc(x));
  EXPECT_EQ(compute(x), 3);
  EXPECT_EQ(compute(y), 6);
  EXPECT_EQ(compute(z), 10);
}

TEST(DelayedTest, ComputeSeveralValuesAsATuple) {
  auto inc = Inc();
  auto greet = delayed(Greet, "greet");
  Delayed<int64_t> a = inc(1);
  Delayed<int64_t> b = inc(a);
  Delayed<std::string> s = greet(std::string("tegu"), b);
  auto [x, y] = compute(a, b);
  EXPECT_EQ(x, 2);
  EXPECT_EQ(y, 3);
  auto [p, q, r] = compute(s, b, a);
  EXPECT_EQ(p, "hello tegu;hello tegu;hello tegu;");
  EXPECT_EQ(q, 3);
  EXPECT_EQ(r, 2);
}

TEST(DelayedTest, VectorOfDelayedArguments) {
  auto inc = Inc();
  auto sum = delayed(
      [](std::vector<int64_t> xs) {
        int64_t total = 0;
        for (int64_t x : xs) total += x;
        return total;
      },
      "sum");
  auto count = delayed([](std::vector<int64_t> xs) { return static_cast<int64_t>(xs.size()); },
                       "count");
  std::vector<Delayed<int64_t>> parts;
  for (int64_t i = 0; i < 100; ++i) parts.push_back(inc(i));
  Delayed<int64_t> total = sum(parts);
  Delayed<int64_t> n = count(parts);
  auto [t, c] = compute(total, n);
  EXPECT_EQ(t, 5050);
  EXPECT_EQ(c, 100);
  EXPECT_EQ(compute(sum(std::vector<Delayed<int64_t>>{})), 0);
}

TEST(DelayedTest, ComputeWithSyncAndThreads) {
  auto inc = Inc();
  auto add = delayed(AddInts, "add");
  std::vector<Delayed<int64_t>> level;
  for (int64_t i = 0; i < 64; ++i) level.push_back(inc(i));
  while (level.size() > 1) {
    std::vector<Delayed<int64_t>> next;
    for (size_t i = 0; i + 1 < level.size(); i += 2) next.push_back(add(level[i], level[i + 1]));
    level = std::move(next);
  }
  const int64_t expected = 64 * 65 / 2;
  auto [sync_value] = compute_with(WithScheduler(SchedulerKind::kSync), level[0]);
  EXPECT_EQ(sync_value, expected);
  for (int workers : {1, 2, 4}) {
    auto [threaded] = compute_with(WithScheduler(SchedulerKind::kThreads, workers), level[0]);
    EXPECT_EQ(threaded, expected) << workers << " workers";
  }

  // The sync scheduler runs every task on the calling thread.
  std::thread::id caller = std::this_thread::get_id();
  auto same_thread = delayed([caller](int64_t x) {
    return static_cast<int64_t>(std::this_thread::get_id() == caller) + 0 * x;
  }, "same_thread");
  auto [on_caller] = compute_with(WithScheduler(SchedulerKind::kSync), same_thread(1));
  EXPECT_EQ(on_caller, 1);
  auto [off_caller] = compute_with(WithScheduler(SchedulerKind::kThreads, 2), same_thread(2));
  EXPECT_EQ(off_caller, 0);
}

TEST(DelayedTest, TaskExceptionIsRethrownAsItself) {
  auto inc = Inc();
  auto fail = delayed([](int64_t x) -> int64_t {
    if (x > 1) throw std::runtime_error("too big: " + std::to_string(x));
    return x;
  }, "fail");
  Delayed<int64_t> bad = inc(fail(inc(1)));
  for (SchedulerKind kind : {SchedulerKind::kSync, SchedulerKind::kThreads}) {
    try {
      compute_with(WithScheduler(kind), bad);
      ADD_FAILURE() << "no exception";
    } catch (const StatusError& e) {
      ADD_FAILURE() << "a StatusError instead of the task's exception: " << e.what();
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "too big: 2");
    }
  }
  EXPECT_THROW(compute(bad), std::runtime_error);
  // A healthy value next to it still computes.
  EXPECT_EQ(compute(fail(inc(0))), 1);
}

TEST(DelayedTest, WrongResultTypeIsStatusError) {
  auto make_text = delayed([](int64_t) { return std::string("text"); }, "text");
  Delayed<std::string> s = make_text(1);
  Delayed<int64_t> wrong(s.node());  // claims the wrong type
  try {
    compute(wrong);
    ADD_FAILURE() << "no exception";
  } catch (const StatusError& e) {
    EXPECT_EQ(e.status().code(), StatusCode::kTypeError);
  }
}

TEST(DelayedTest, VeryLongChainBuildsComputesAndIsDestroyed) {
  constexpr int64_t kLength = 100000;
  auto inc = Inc();
  for (bool optimize : {true, false}) {
    Delayed<int64_t> x = inc(0);
    for (int64_t i = 1; i < kLength; ++i) x = inc(x);
    ComputeOptions options = WithScheduler(SchedulerKind::kThreads, 2);
    options.optimize = optimize;
    EXPECT_EQ(x.Compute(options), kLength);
    // `x` holds the only reference to the chain: destroying it must not recurse 100k deep.
  }
  // A chain also referenced from a list, destroyed in turn.
  auto sum = delayed([](std::vector<int64_t> xs) { return static_cast<int64_t>(xs.size()); },
                     "count");
  std::vector<Delayed<int64_t>> heads;
  Delayed<int64_t> y = inc(0);
  for (int64_t i = 1; i < kLength; ++i) y = inc(y);
  heads.push_back(y);
  Delayed<int64_t> counted = sum(heads);
  heads.clear();
  y = inc(0);
  EXPECT_EQ(compute(counted), 1);
}

TEST(DelayedTest, VisualizeWritesDotFile) {
  std::string pattern = (fs::path(::testing::TempDir()) / "tegu-delayed-test-XXXXXX").string();
  ASSERT_NE(mkdtemp(pattern.data()), nullptr);
  fs::path dir = pattern;
  auto inc = Inc();
  auto add = delayed(AddInts, "add");
  Delayed<int64_t> a = inc(1);
  Delayed<int64_t> b = inc(2);
  Delayed<int64_t> c = add(a, b);
  fs::path file = dir / "graph.dot";
  Status st = visualize(file.string(), c);
  ASSERT_TRUE(st.ok()) << st.ToString();
  std::string dot = ReadFile(file);
  EXPECT_EQ(dot.rfind("digraph {", 0), 0u) << dot;
  size_t inc_labels = 0;
  for (size_t pos = dot.find("[label=\"inc\""); pos != std::string::npos;
       pos = dot.find("[label=\"inc\"", pos + 1)) {
    ++inc_labels;
  }
  EXPECT_EQ(inc_labels, 4u) << dot;  // two tasks and two results
  EXPECT_NE(dot.find("[label=\"add\""), std::string::npos) << dot;
  size_t edges = 0;
  for (size_t pos = dot.find(" -> t"); pos != std::string::npos; pos = dot.find(" -> t", pos + 1)) {
    ++edges;
  }
  EXPECT_EQ(edges, 2u) << dot;

  Status bad = visualize((dir / "graph.unknown").string(), c);
  EXPECT_EQ(bad.code(), StatusCode::kInvalid);
  std::error_code ec;
  fs::remove_all(dir, ec);
}

TEST(DelayedTest, RegisteredFunctionIsFound) {
  Result<std::shared_ptr<const TaskFunction>> fn = FindFunction("TeguTestTriple");
  ASSERT_TRUE(fn.ok()) << fn.status().ToString();
  EXPECT_EQ(fn.ValueUnsafe()->name(), "TeguTestTriple");
  std::vector<std::string> names = RegisteredFunctionNames();
  EXPECT_NE(std::find(names.begin(), names.end(), "TeguTestTriple"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "tegu.inc"), names.end());

  // The registered function computes in a graph.
  Graph graph;
  KeyId x = graph.AddTask("x", TaskSpec::Literal(Value::From(int64_t{14})));
  KeyId y = graph.AddTask("triple-1", TaskSpec(fn.ValueUnsafe(), {Arg::Ref(x)}));
  std::vector<KeyId> outputs = {y};
  Result<std::vector<Value>> result = tegu::Compute(graph, outputs);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(*result.ValueUnsafe()[0].TryGet<int64_t>(), 42);

  // Registering again under the same name replaces the function.
  EXPECT_TRUE(RegisterNative("tegu-test-replaced", [](int64_t x) { return x; }));
  EXPECT_TRUE(RegisterNative("tegu-test-replaced", [](int64_t x) { return -x; }));
  ASSERT_TRUE(FindFunction("tegu-test-replaced").ok());
  Graph graph2;
  KeyId z = graph2.AddTask("z", TaskSpec(FindFunction("tegu-test-replaced").ValueUnsafe(),
                                         {Arg::Literal(Value::From(int64_t{5}))}));
  std::vector<KeyId> outputs2 = {z};
  Result<std::vector<Value>> result2 = tegu::Compute(graph2, outputs2);
  ASSERT_TRUE(result2.ok());
  EXPECT_EQ(*result2.ValueUnsafe()[0].TryGet<int64_t>(), -5);
}

TEST(DelayedTest, UnknownFunctionIsKeyError) {
  Result<std::shared_ptr<const TaskFunction>> fn = FindFunction("nope");
  ASSERT_FALSE(fn.ok());
  EXPECT_EQ(fn.status().code(), StatusCode::kKeyError);
  EXPECT_NE(fn.status().message().find("'nope'"), std::string::npos) << fn.status().message();
}

}  // namespace
}  // namespace tegu

namespace {
// Restores the scheduler setting even when an assertion fails.
class ScopedSchedulerConfig {
 public:
  explicit ScopedSchedulerConfig(const std::string& json) {
    EXPECT_TRUE(tegu::config::SetJson("scheduler", json).ok());
  }
  ~ScopedSchedulerConfig() { tegu::config::Delete("scheduler"); }
};
}  // namespace

TEST(DelayedTest, ComputeFollowsTheConfiguredScheduler) {
  auto thread_of = tegu::delayed([](int64_t) {
    return static_cast<int64_t>(std::hash<std::thread::id>{}(std::this_thread::get_id()));
  }, "thread_of");
  const auto here = static_cast<int64_t>(std::hash<std::thread::id>{}(std::this_thread::get_id()));
  {
    ScopedSchedulerConfig sync("\"sync\"");
    EXPECT_EQ(tegu::compute(thread_of(1)), here);
  }
  {
    ScopedSchedulerConfig threads("\"threads\"");
    EXPECT_NE(tegu::compute(thread_of(2)), here);
  }
  {
    ScopedSchedulerConfig unknown("\"warp-drive\"");
    try {
      tegu::compute(thread_of(3));
      FAIL() << "an unknown scheduler must be an error";
    } catch (const tegu::StatusError& e) {
      EXPECT_NE(std::string(e.what()).find("warp-drive"), std::string::npos);
    }
  }
}
