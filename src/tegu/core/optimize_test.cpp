// Tests of the graph optimisations: Cull, FuseLinearChains, Inline and InlineCheap. Besides the
// shape of the rewritten graphs, each rewrite must leave the computed results unchanged.

#include "tegu/optimize.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "tegu/graph.hpp"
#include "tegu/local.hpp"
#include "tegu/native.hpp"

namespace tegu {
namespace {

std::shared_ptr<const TaskFunction> AddFunction() {
  static const auto fn =
      MakeNativeFunction("add", [](int64_t a, int64_t b) { return (a * 31 + b) % 1000003; });
  return fn;
}

std::shared_ptr<const TaskFunction> IncFunction() {
  static const auto fn = MakeNativeFunction("inc", [](int64_t a) { return (a + 1) % 1000003; });
  return fn;
}

// A cheap function, as getitem is in Dask.
class CheapNegate final : public TaskFunction {
 public:
  std::string name() const override { return "negate"; }
  bool is_cheap() const override { return true; }
  Result<Value> Call(const TaskSpec& spec, const TaskInputs& inputs) const override {
    Result<int64_t> x = ValueAs<int64_t>(ResolveArgNative(spec.args()[0], inputs));
    if (!x.ok()) return x.status();
    return Value::From(-x.ValueUnsafe());
  }
};

Arg Lit(int64_t v) { return Arg::Literal(Value::From(v)); }
Arg Ref(KeyId id) { return Arg::Ref(id); }

KeyId Inc(Graph* graph, const Key& key, Arg arg) {
  return graph->AddTask(key, TaskSpec(IncFunction(), {std::move(arg)}));
}
KeyId Add(Graph* graph, const Key& key, Arg a, Arg b) {
  return graph->AddTask(key, TaskSpec(AddFunction(), {std::move(a), std::move(b)}));
}
KeyId Literal(Graph* graph, const Key& key, int64_t v) {
  return graph->AddTask(key, TaskSpec::Literal(Value::From(v)));
}

std::set<KeyId> TaskSet(const Graph& graph) {
  std::vector<KeyId> ids = graph.TaskIds();
  return {ids.begin(), ids.end()};
}

std::vector<KeyId> PreludeKeys(const Graph& graph, KeyId id) {
  std::vector<KeyId> keys;
  for (const TaskStep& step : graph.task(id).prelude) keys.push_back(step.key);
  return keys;
}

// Computes `outputs` of `graph` as given (no further optimisation) with the sync scheduler.
std::vector<int64_t> ComputeAll(const Graph& graph, const std::vector<KeyId>& outputs) {
  ComputeOptions options;
  options.scheduler = SchedulerKind::kSync;
  options.optimize = false;
  Result<std::vector<Value>> result = Compute(graph, outputs, options);
  EXPECT_TRUE(result.ok()) << result.status().ToString();
  std::vector<int64_t> values;
  if (!result.ok()) return values;
  for (const Value& v : result.ValueUnsafe()) {
    const int64_t* p = v.TryGet<int64_t>();
    EXPECT_NE(p, nullptr) << v.TypeName();
    values.push_back(p ? *p : -1);
  }
  return values;
}

// A random DAG of inc/add tasks over a few literals.
Graph RandomGraph(uint32_t seed, int n, std::vector<KeyId>* ids) {
  std::mt19937 rng(seed);
  Graph graph;
  ids->clear();
  for (int i = 0; i < n; ++i) {
    Key key = Key::Tuple({std::string("r"), int64_t{i}});
    if (i < 3) {
      ids->push_back(Literal(&graph, key, i + 1));
      continue;
    }
    std::uniform_int_distribution<int> pick(0, i - 1);
    // Mostly the previous task, so that linear chains form.
    KeyId a = (rng() % 3 != 0) ? (*ids)[i - 1] : (*ids)[pick(rng)];
    if (rng() % 2 == 0) {
      ids->push_back(Inc(&graph, key, Ref(a)));
    } else {
      ids->push_back(Add(&graph, key, Ref(a), Ref((*ids)[pick(rng)])));
    }
  }
  return graph;
}

// --- Cull -------------------------------------------------------------------------------------

TEST(CullTest, KeepsExactlyTheAncestorsOfOutputs) {
  Graph graph;
  KeyId a = Literal(&graph, "a", 1);
  KeyId b = Inc(&graph, "b", Ref(a));
  KeyId c = Inc(&graph, "c", Ref(b));
  KeyId d = Literal(&graph, "d", 5);
  KeyId e = Add(&graph, "e", Ref(d), Ref(a));
  KeyId f = Inc(&graph, "f", Ref(e));
  KeyId unrelated = Literal(&graph, "unrelated", 9);

  Graph one = graph;
  std::vector<KeyId> c_only = {c};
  ASSERT_TRUE(Cull(&one, c_only).ok());
  EXPECT_EQ(TaskSet(one), (std::set<KeyId>{a, b, c}));

  Graph two = graph;
  std::vector<KeyId> outputs = {b, e};
  ASSERT_TRUE(Cull(&two, outputs).ok());
  EXPECT_EQ(TaskSet(two), (std::set<KeyId>{a, b, d, e}));
  EXPECT_EQ(two.size(), 4u);

  Graph all = graph;
  std::vector<KeyId> sinks = {c, f, unrelated};
  ASSERT_TRUE(Cull(&all, sinks).ok());
  EXPECT_EQ(all.size(), graph.size());

  // Culling keeps the results of what is left.
  EXPECT_EQ(ComputeAll(two, outputs), ComputeAll(graph, outputs));
}

TEST(CullTest, MissingRequestedKeyIsKeyError) {
  Graph graph;
  Literal(&graph, "a", 1);
  KeyId missing = graph.Intern("missing-1");
  std::vector<KeyId> outputs = {missing};
  Status st = Cull(&graph, outputs);
  EXPECT_EQ(st.code(), StatusCode::kKeyError);
  EXPECT_NE(st.message().find("missing-1"), std::string::npos) << st.message();
  EXPECT_EQ(graph.size(), 1u);  // a failed cull changes nothing
}

TEST(CullTest, MissingReferencedKeyNamesKeyAndReferrer) {
  Graph graph;
  KeyId ghost = graph.Intern("ghost");
  KeyId a = Inc(&graph, "a", Arg::List({Ref(ghost)}));
  KeyId b = Inc(&graph, "b", Ref(a));
  std::vector<KeyId> outputs = {b};
  Status st = Cull(&graph, outputs);
  EXPECT_EQ(st.code(), StatusCode::kKeyError);
  EXPECT_NE(st.message().find("'ghost'"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("'a'"), std::string::npos) << st.message();
}

// --- FuseLinearChains -------------------------------------------------------------------------

TEST(FuseTest, LinearChainFusesIntoItsLastTask) {
  Graph graph;
  KeyId a = Inc(&graph, "a", Lit(1));
  KeyId b = Inc(&graph, "b", Ref(a));
  KeyId c = Inc(&graph, "c", Ref(b));
  std::vector<KeyId> outputs = {c};
  Graph original = graph;

  EXPECT_EQ(FuseLinearChains(&graph, outputs), 2u);
  EXPECT_EQ(TaskSet(graph), (std::set<KeyId>{c}));
  EXPECT_EQ(PreludeKeys(graph, c), (std::vector<KeyId>{a, b}));
  EXPECT_EQ(graph.task(c).spec.FunctionName(), "inc");
  std::vector<KeyId> deps;
  graph.Dependencies(c, &deps);
  EXPECT_TRUE(deps.empty());
  EXPECT_EQ(ComputeAll(graph, outputs), ComputeAll(original, outputs));
  EXPECT_EQ(ComputeAll(graph, outputs), (std::vector<int64_t>{4}));

  // Fusing again finds nothing more.
  EXPECT_EQ(FuseLinearChains(&graph, outputs), 0u);
}

TEST(FuseTest, NoFusionAcrossATaskWithTwoDependents) {
  Graph graph;
  KeyId a = Inc(&graph, "a", Lit(1));
  KeyId b = Inc(&graph, "b", Ref(a));
  KeyId c = Inc(&graph, "c", Ref(a));
  KeyId d = Add(&graph, "d", Ref(b), Ref(c));
  std::vector<KeyId> outputs = {d};
  Graph original = graph;
  EXPECT_EQ(FuseLinearChains(&graph, outputs), 0u);
  EXPECT_EQ(TaskSet(graph), (std::set<KeyId>{a, b, c, d}));
  for (KeyId id : graph.TaskIds()) EXPECT_TRUE(graph.task(id).prelude.empty());
  EXPECT_EQ(ComputeAll(graph, outputs), ComputeAll(original, outputs));
}

TEST(FuseTest, NoFusionIntoATaskWithTwoDependencies) {
  Graph graph;
  KeyId x = Inc(&graph, "x", Lit(1));
  KeyId y = Inc(&graph, "y", Lit(2));
  KeyId z = Add(&graph, "z", Ref(x), Ref(y));
  KeyId w = Inc(&graph, "w", Ref(z));
  std::vector<KeyId> outputs = {w};
  Graph original = graph;
  EXPECT_EQ(FuseLinearChains(&graph, outputs), 1u);
  // x and y stay separate tasks; z (one dependent, which has one dependency) folds into w.
  EXPECT_EQ(TaskSet(graph), (std::set<KeyId>{x, y, w}));
  EXPECT_TRUE(graph.task(x).prelude.empty());
  EXPECT_TRUE(graph.task(y).prelude.empty());
  EXPECT_EQ(PreludeKeys(graph, w), (std::vector<KeyId>{z}));
  std::vector<KeyId> deps;
  graph.Dependencies(w, &deps);
  std::sort(deps.begin(), deps.end());
  EXPECT_EQ(deps, (std::vector<KeyId>{x, y}));
  EXPECT_EQ(ComputeAll(graph, outputs), ComputeAll(original, outputs));
}

TEST(FuseTest, KeepBlocksFusion) {
  Graph graph;
  KeyId a = Inc(&graph, "a", Lit(1));
  KeyId b = Inc(&graph, "b", Ref(a));
  KeyId c = Inc(&graph, "c", Ref(b));
  Graph original = graph;

  Graph keep_b = graph;
  std::vector<KeyId> keep = {b, c};
  EXPECT_EQ(FuseLinearChains(&keep_b, keep), 1u);
  EXPECT_EQ(TaskSet(keep_b), (std::set<KeyId>{b, c}));
  EXPECT_EQ(PreludeKeys(keep_b, b), (std::vector<KeyId>{a}));
  EXPECT_TRUE(keep_b.task(c).prelude.empty());
  EXPECT_EQ(ComputeAll(keep_b, keep), ComputeAll(original, keep));

  Graph keep_a = graph;
  std::vector<KeyId> keep2 = {a, c};
  EXPECT_EQ(FuseLinearChains(&keep_a, keep2), 1u);
  EXPECT_EQ(TaskSet(keep_a), (std::set<KeyId>{a, c}));
  EXPECT_EQ(PreludeKeys(keep_a, c), (std::vector<KeyId>{b}));
  EXPECT_EQ(ComputeAll(keep_a, keep2), ComputeAll(original, keep2));

  Graph keep_all = graph;
  std::vector<KeyId> everything = {a, b, c};
  EXPECT_EQ(FuseLinearChains(&keep_all, everything), 0u);
  EXPECT_EQ(keep_all.size(), 3u);
}

TEST(FuseTest, ResultsIdenticalOnRandomGraphs) {
  for (uint32_t seed : {1u, 2u, 3u, 4u, 5u}) {
    std::vector<KeyId> ids;
    Graph graph = RandomGraph(seed, 300, &ids);
    std::vector<KeyId> outputs = {ids.back(), ids[150], ids[77]};
    ASSERT_TRUE(Cull(&graph, outputs).ok());
    Graph fused = graph;
    size_t removed = FuseLinearChains(&fused, outputs);
    EXPECT_GT(removed, 0u) << "seed " << seed;
    EXPECT_EQ(fused.size() + removed, graph.size());
    for (KeyId out : outputs) EXPECT_TRUE(fused.has_task(out));
    EXPECT_EQ(ComputeAll(fused, outputs), ComputeAll(graph, outputs)) << "seed " << seed;
  }
}

// --- Inline -----------------------------------------------------------------------------------

TEST(InlineTest, LiteralIsInlinedIntoAllDependentsAndRemoved) {
  Graph graph;
  KeyId x = Literal(&graph, "x", 5);
  KeyId y = Inc(&graph, "y", Ref(x));
  KeyId z = Add(&graph, "z", Ref(x), Lit(2));
  KeyId w = Add(&graph, "w", Ref(y), Ref(z));
  std::vector<KeyId> outputs = {w};
  Graph original = graph;

  std::vector<KeyId> keys = {x};
  EXPECT_EQ(Inline(&graph, keys, {}), 1u);
  EXPECT_FALSE(graph.has_task(x));
  EXPECT_EQ(PreludeKeys(graph, y), (std::vector<KeyId>{x}));
  EXPECT_EQ(PreludeKeys(graph, z), (std::vector<KeyId>{x}));
  EXPECT_TRUE(graph.task(w).prelude.empty());
  std::vector<KeyId> deps;
  graph.Dependencies(y, &deps);
  EXPECT_TRUE(deps.empty());
  EXPECT_EQ(ComputeAll(graph, outputs), ComputeAll(original, outputs));
}

TEST(InlineTest, KeptTaskIsInlinedButStays) {
  Graph graph;
  KeyId x = Literal(&graph, "x", 5);
  KeyId y = Inc(&graph, "y", Ref(x));
  KeyId z = Inc(&graph, "z", Ref(x));
  std::vector<KeyId> outputs = {x, y, z};
  Graph original = graph;
  std::vector<KeyId> keys = {x};
  std::vector<KeyId> keep = {x};
  EXPECT_EQ(Inline(&graph, keys, keep), 0u);
  EXPECT_TRUE(graph.has_task(x));
  EXPECT_EQ(PreludeKeys(graph, y), (std::vector<KeyId>{x}));
  EXPECT_EQ(PreludeKeys(graph, z), (std::vector<KeyId>{x}));
  EXPECT_EQ(ComputeAll(graph, outputs), ComputeAll(original, outputs));
  EXPECT_EQ(ComputeAll(graph, outputs), (std::vector<int64_t>{5, 6, 6}));
}

TEST(InlineTest, ChainOfInlinedTasksCarriesItsSteps) {
  Graph graph;
  KeyId x = Literal(&graph, "x", 3);
  KeyId y = Inc(&graph, "y", Ref(x));
  KeyId z = Inc(&graph, "z", Ref(y));
  std::vector<KeyId> outputs = {z};
  Graph original = graph;
  std::vector<KeyId> keys = {x, y};
  EXPECT_EQ(Inline(&graph, keys, {}), 2u);
  EXPECT_EQ(TaskSet(graph), (std::set<KeyId>{z}));
  EXPECT_EQ(PreludeKeys(graph, z), (std::vector<KeyId>{x, y}));
  EXPECT_EQ(ComputeAll(graph, outputs), ComputeAll(original, outputs));
}

TEST(InlineTest, InlineCheapInlinesLiteralsAndCheapFunctions) {
  Graph graph;
  KeyId lit = Literal(&graph, "lit", 4);
  KeyId neg = graph.AddTask("neg", TaskSpec(std::make_shared<CheapNegate>(), {Lit(7)}));
  KeyId neg_dep = graph.AddTask("neg-of-lit", TaskSpec(std::make_shared<CheapNegate>(),
                                                       {Ref(lit)}));
  KeyId alias = graph.AddTask("alias", TaskSpec::Alias(lit));
  KeyId a = Add(&graph, "a", Ref(lit), Ref(neg));
  KeyId b = Add(&graph, "b", Ref(neg_dep), Ref(alias));
  KeyId c = Add(&graph, "c", Ref(a), Ref(b));
  KeyId unused = Literal(&graph, "unused", 1);  // no dependents: nothing to inline into
  std::vector<KeyId> outputs = {c, unused};
  Graph original = graph;

  EXPECT_EQ(InlineCheap(&graph, outputs), 2u);
  // Cheap tasks without dependencies are inlined and removed; cheap tasks with dependencies
  // (an alias, a cheap function of a key) stay.
  EXPECT_FALSE(graph.has_task(lit));
  EXPECT_FALSE(graph.has_task(neg));
  EXPECT_TRUE(graph.has_task(neg_dep));
  EXPECT_TRUE(graph.has_task(alias));
  EXPECT_TRUE(graph.has_task(unused));
  std::vector<KeyId> a_steps = PreludeKeys(graph, a);
  EXPECT_EQ(std::set<KeyId>(a_steps.begin(), a_steps.end()), (std::set<KeyId>{lit, neg}));
  EXPECT_EQ(a_steps.size(), 2u);
  EXPECT_EQ(PreludeKeys(graph, alias), (std::vector<KeyId>{lit}));
  EXPECT_EQ(PreludeKeys(graph, neg_dep), (std::vector<KeyId>{lit}));
  EXPECT_TRUE(graph.task(c).prelude.empty());
  EXPECT_EQ(ComputeAll(graph, outputs), ComputeAll(original, outputs));
}

TEST(InlineTest, InlineCheapKeepsOutputs) {
  Graph graph;
  KeyId lit = Literal(&graph, "lit", 4);
  KeyId a = Inc(&graph, "a", Ref(lit));
  std::vector<KeyId> outputs = {lit, a};
  Graph original = graph;
  EXPECT_EQ(InlineCheap(&graph, outputs), 0u);
  EXPECT_TRUE(graph.has_task(lit));
  EXPECT_EQ(PreludeKeys(graph, a), (std::vector<KeyId>{lit}));
  EXPECT_EQ(ComputeAll(graph, outputs), ComputeAll(original, outputs));
  EXPECT_EQ(ComputeAll(graph, outputs), (std::vector<int64_t>{4, 5}));
}

TEST(InlineTest, InlineThenFuseKeepsResultsOnRandomGraphs) {
  for (uint32_t seed : {11u, 12u, 13u}) {
    std::vector<KeyId> ids;
    Graph graph = RandomGraph(seed, 200, &ids);
    std::vector<KeyId> outputs = {ids.back(), ids[100]};
    ASSERT_TRUE(Cull(&graph, outputs).ok());
    Graph optimized = graph;
    EXPECT_GT(InlineCheap(&optimized, outputs), 0u);
    FuseLinearChains(&optimized, outputs);
    EXPECT_LT(optimized.size(), graph.size());
    EXPECT_EQ(ComputeAll(optimized, outputs), ComputeAll(graph, outputs)) << "seed " << seed;
  }
}

}  // namespace
}  // namespace tegu
