// Tests of tegu::Key (spelling, prefixes, hashing), tegu::Graph (interning, defining and removing
// tasks, dependencies) and tegu::BuildDependencyIndex (the CSR index and its errors).

#include "tegu/graph.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <unordered_set>
#include <vector>

#include "tegu/key.hpp"
#include "tegu/native.hpp"
#include "tegu/task_spec.hpp"

namespace tegu {
namespace {

std::shared_ptr<const TaskFunction> AnyFunction() {
  static const auto fn = MakeNativeFunction("anything", [](ValueList items) {
    return static_cast<int64_t>(items.size());
  });
  return fn;
}

Arg Lit(int64_t v) { return Arg::Literal(Value::From(v)); }

// A task calling AnyFunction with `args`.
TaskSpec Call(std::vector<Arg> args, std::vector<std::pair<std::string, Arg>> kwargs = {}) {
  return TaskSpec(AnyFunction(), std::move(args), std::move(kwargs));
}

std::vector<KeyId> DependenciesOf(const Graph& graph, KeyId id) {
  std::vector<KeyId> deps = {12345};  // Dependencies() must clear what was there
  graph.Dependencies(id, &deps);
  return deps;
}

std::vector<KeyId> Sorted(std::vector<KeyId> ids) {
  std::sort(ids.begin(), ids.end());
  return ids;
}

// --- Key --------------------------------------------------------------------------------------

TEST(KeyTest, StringKeySpellsItself) {
  Key key("inc-5f2a9c1e8d");
  EXPECT_FALSE(key.is_tuple());
  EXPECT_EQ(key.ToString(), "inc-5f2a9c1e8d");
  EXPECT_EQ(key.name(), "inc-5f2a9c1e8d");
}

TEST(KeyTest, TupleKeySpellsLikePythonRepr) {
  EXPECT_EQ(Key::Tuple({std::string("x"), int64_t{0}, int64_t{1}}).ToString(), "('x', 0, 1)");
  EXPECT_EQ(Key::Tuple({std::string("x")}).ToString(), "('x',)");
  EXPECT_EQ(Key::Tuple({std::string("a-b"), int64_t{-3}}).ToString(), "('a-b', -3)");
  EXPECT_EQ(Key::Tuple({std::string("x"), int64_t{0}, int64_t{1}}).name(), "x");
  EXPECT_TRUE(Key::Tuple({std::string("x")}).is_tuple());
}

TEST(KeyTest, PrefixFollowsDaskKeySplit) {
  EXPECT_EQ(Key("inc-5f2a9c1e8d").Prefix(), "inc");
  EXPECT_EQ(Key::Tuple({std::string("x"), int64_t{0}, int64_t{1}}).Prefix(), "x");
  EXPECT_EQ(Key::Tuple({std::string("x-2"), int64_t{1}}).Prefix(), "x");
  EXPECT_EQ(Key("x").Prefix(), "x");
  EXPECT_EQ(Key("x-1").Prefix(), "x");
  EXPECT_EQ(Key("x-1-2-3").Prefix(), "x");
  EXPECT_EQ(Key("hello-world-1").Prefix(), "hello-world");
  EXPECT_EQ(Key("x-abcdefab").Prefix(), "x");  // an 8-letter hex word is a token
  EXPECT_EQ(Key("sum-aggregate-ae05086432ca935f6eba409a8ecd4896").Prefix(), "sum-aggregate");
  // Any word that is not purely alphabetic ends the prefix, as in dask.utils.key_split.
  EXPECT_EQ(Key("inc-1f").Prefix(), "inc");
  EXPECT_EQ(Key("inc-5f2a").Prefix(), "inc");
  EXPECT_EQ(Key("getitem-x1-2").Prefix(), "getitem");
}

TEST(KeyTest, EqualityAndHashDistinguishStringAndTupleKeys) {
  Key a("x");
  Key b = Key::Tuple({std::string("x")});
  EXPECT_FALSE(a == b);
  EXPECT_TRUE(a == Key("x"));
  EXPECT_TRUE(b == Key::Tuple({std::string("x")}));
  EXPECT_EQ(a.Hash(), Key("x").Hash());
  EXPECT_EQ(Key::Tuple({std::string("x"), int64_t{1}}).Hash(),
            Key::Tuple({std::string("x"), int64_t{1}}).Hash());
  std::unordered_set<Key> keys = {a, b, Key::Tuple({std::string("x"), int64_t{1}}),
                                  Key::Tuple({std::string("x"), int64_t{2}}), Key("x")};
  EXPECT_EQ(keys.size(), 4u);
}

// --- Graph ------------------------------------------------------------------------------------

TEST(GraphTest, InterningGivesDenseStableIds) {
  Graph graph;
  KeyId x = graph.Intern("x");
  KeyId t = graph.Intern(Key::Tuple({std::string("x"), int64_t{0}}));
  KeyId y = graph.Intern("y");
  EXPECT_EQ(x, 0u);
  EXPECT_EQ(t, 1u);
  EXPECT_EQ(y, 2u);
  EXPECT_EQ(graph.Intern("x"), x);
  EXPECT_EQ(graph.Intern(Key::Tuple({std::string("x"), int64_t{0}})), t);
  EXPECT_EQ(graph.key_count(), 3u);
  EXPECT_EQ(graph.key(t).ToString(), "('x', 0)");
  ASSERT_TRUE(graph.Find("y").has_value());
  EXPECT_EQ(*graph.Find("y"), y);
  EXPECT_FALSE(graph.Find("z").has_value());
  // Interning defines no task.
  EXPECT_EQ(graph.size(), 0u);
  EXPECT_FALSE(graph.has_task(x));
  EXPECT_FALSE(graph.has_task(999));
}

TEST(GraphTest, SetTaskReplacesAndRemoveTaskUndefines) {
  Graph graph;
  KeyId a = graph.AddTask("a", TaskSpec::Literal(Value::From(int64_t{1})));
  KeyId b = graph.Intern("b");
  graph.SetTask(b, Task{Call({Arg::Ref(a)}), {}});
  EXPECT_EQ(graph.size(), 2u);
  EXPECT_TRUE(graph.has_task(a));
  EXPECT_TRUE(graph.has_task(b));
  EXPECT_EQ(graph.TaskIds(), (std::vector<KeyId>{a, b}));

  // Replacing a task does not change the count.
  graph.SetTask(a, Task{TaskSpec::Literal(Value::From(int64_t{2})), {}});
  EXPECT_EQ(graph.size(), 2u);
  EXPECT_EQ(*graph.task(a).spec.args()[0].literal().TryGet<int64_t>(), 2);

  graph.RemoveTask(a);
  EXPECT_EQ(graph.size(), 1u);
  EXPECT_FALSE(graph.has_task(a));
  EXPECT_EQ(graph.TaskIds(), (std::vector<KeyId>{b}));
  // The key stays interned; removing twice is harmless.
  EXPECT_EQ(*graph.Find("a"), a);
  graph.RemoveTask(a);
  EXPECT_EQ(graph.size(), 1u);

  graph.SetTask(a, Task{TaskSpec::Literal(Value::From(int64_t{3})), {}});
  EXPECT_EQ(graph.size(), 2u);
}

TEST(GraphTest, DependenciesIncludeNestedRefsAndKwargs) {
  Graph graph;
  KeyId a = graph.Intern("a");
  KeyId b = graph.Intern("b");
  KeyId c = graph.Intern("c");
  KeyId d = graph.Intern("d");
  KeyId e = graph.Intern("e");
  KeyId t = graph.Intern("t");
  Arg nested = Arg::List({Arg::Ref(a), Lit(1), Arg::Tuple({Lit(2), Arg::List({Arg::Ref(b)})})});
  Arg dict = Arg::Dict({Value::From(std::string("k1")), Value::From(std::string("k2"))},
                       {Arg::Ref(c), Arg::List({Lit(3)})});
  graph.SetTask(t, Task{Call({nested, dict, Lit(4)}, {{"kw", Arg::Tuple({Arg::Ref(d)})},
                                                       {"plain", Lit(5)}}),
                        {}});
  std::vector<KeyId> deps = DependenciesOf(graph, t);
  EXPECT_EQ(Sorted(deps), (std::vector<KeyId>{a, b, c, d}));
  EXPECT_EQ(std::count(deps.begin(), deps.end(), e), 0);
  EXPECT_TRUE(nested.HasRefs());
  EXPECT_FALSE(Arg::List({Lit(1), Arg::Tuple({Lit(2)})}).HasRefs());
}

TEST(GraphTest, DependenciesAreDeduplicated) {
  Graph graph;
  KeyId a = graph.Intern("a");
  KeyId b = graph.Intern("b");
  KeyId t = graph.Intern("t");
  graph.SetTask(t, Task{Call({Arg::Ref(b), Arg::Ref(a), Arg::List({Arg::Ref(a), Arg::Ref(b)})},
                             {{"again", Arg::Ref(a)}}),
                        {}});
  EXPECT_EQ(Sorted(DependenciesOf(graph, t)), (std::vector<KeyId>{a, b}));
}

TEST(GraphTest, DependenciesExcludeKeysProducedByThePrelude) {
  Graph graph;
  KeyId outside = graph.Intern("outside");
  KeyId s1 = graph.Intern("s1");
  KeyId s2 = graph.Intern("s2");
  KeyId t = graph.Intern("t");
  Task task;
  task.prelude.push_back(TaskStep{s1, Call({Arg::Ref(outside)})});
  task.prelude.push_back(TaskStep{s2, Call({Arg::Ref(s1)})});
  task.spec = Call({Arg::Ref(s2), Arg::Ref(s1)});
  graph.SetTask(t, std::move(task));
  EXPECT_EQ(DependenciesOf(graph, t), (std::vector<KeyId>{outside}));
}

TEST(GraphTest, DependenciesOfALiteralTaskAreEmpty) {
  Graph graph;
  KeyId x = graph.AddTask("x", TaskSpec::Literal(Value::From(int64_t{1})));
  KeyId y = graph.AddTask("y", TaskSpec::Alias(x));
  EXPECT_TRUE(DependenciesOf(graph, x).empty());
  EXPECT_EQ(DependenciesOf(graph, y), (std::vector<KeyId>{x}));
}

// --- DependencyIndex --------------------------------------------------------------------------

// Checks the CSR invariants and that the index matches the graph's own dependencies.
void ExpectIndexMatchesGraph(const Graph& graph, const DependencyIndex& index) {
  const size_t n = index.size();
  ASSERT_EQ(index.position.size(), graph.key_count());
  ASSERT_EQ(index.dep_offsets.size(), n + 1);
  ASSERT_EQ(index.dependent_offsets.size(), n + 1);
  EXPECT_EQ(index.dep_offsets.front(), 0u);
  EXPECT_EQ(index.dependent_offsets.front(), 0u);
  EXPECT_EQ(index.dep_offsets.back(), index.deps.size());
  EXPECT_EQ(index.dependent_offsets.back(), index.dependents.size());
  EXPECT_EQ(index.deps.size(), index.dependents.size());
  for (size_t i = 0; i < n; ++i) {
    EXPECT_LE(index.dep_offsets[i], index.dep_offsets[i + 1]);
    EXPECT_LE(index.dependent_offsets[i], index.dependent_offsets[i + 1]);
  }
  std::set<KeyId> covered;
  for (uint32_t i = 0; i < n; ++i) {
    KeyId id = index.nodes[i];
    EXPECT_TRUE(graph.has_task(id));
    EXPECT_EQ(index.position[id], i);
    covered.insert(id);
    std::vector<KeyId> expected = DependenciesOf(graph, id);
    std::vector<KeyId> actual;
    for (uint32_t d : index.DependenciesOf(i)) {
      ASSERT_LT(d, n);
      actual.push_back(index.nodes[d]);
      // The reverse edge is present exactly once.
      auto dependents = index.DependentsOf(d);
      EXPECT_EQ(std::count(dependents.begin(), dependents.end(), i), 1);
    }
    EXPECT_EQ(Sorted(actual), Sorted(expected)) << "task " << graph.key(id).ToString();
    for (uint32_t c : index.DependentsOf(i)) {
      ASSERT_LT(c, n);
      auto deps = index.DependenciesOf(c);
      EXPECT_EQ(std::count(deps.begin(), deps.end(), i), 1);
    }
  }
  EXPECT_EQ(covered.size(), n);
  for (KeyId id = 0; id < graph.key_count(); ++id) {
    if (!covered.count(id)) {
      EXPECT_EQ(index.position[id], UINT32_MAX);
    }
  }
}

// A diamond a -> {b, c} -> d plus an unrelated task u, and an unreferenced key z.
struct Diamond {
  Graph graph;
  KeyId a, b, c, d, u, z;
};

Diamond MakeDiamond() {
  Diamond g;
  g.a = g.graph.AddTask("a", TaskSpec::Literal(Value::From(int64_t{1})));
  g.b = g.graph.AddTask("b", Call({Arg::Ref(g.a)}));
  g.c = g.graph.AddTask("c", Call({Arg::List({Arg::Ref(g.a), Lit(2)})}));
  g.d = g.graph.AddTask("d", Call({Arg::Ref(g.b)}, {{"other", Arg::Ref(g.c)}}));
  g.u = g.graph.AddTask("u", Call({Lit(7)}));
  g.z = g.graph.Intern("z");
  return g;
}

TEST(DependencyIndexTest, CoversAllTasksWhenNoOutputs) {
  Diamond g = MakeDiamond();
  Result<DependencyIndex> index = BuildDependencyIndex(g.graph, {});
  ASSERT_TRUE(index.ok()) << index.status().ToString();
  EXPECT_EQ(index.ValueUnsafe().size(), 5u);
  ExpectIndexMatchesGraph(g.graph, index.ValueUnsafe());
  const DependencyIndex& idx = index.ValueUnsafe();
  EXPECT_EQ(idx.DependentsOf(idx.position[g.a]).size(), 2u);
  EXPECT_EQ(idx.DependenciesOf(idx.position[g.d]).size(), 2u);
  EXPECT_TRUE(idx.DependenciesOf(idx.position[g.u]).empty());
  EXPECT_TRUE(idx.DependentsOf(idx.position[g.u]).empty());
  EXPECT_EQ(idx.position[g.z], UINT32_MAX);
}

TEST(DependencyIndexTest, CoversOnlyTheAncestorsOfOutputs) {
  Diamond g = MakeDiamond();
  std::vector<KeyId> outputs = {g.b};
  Result<DependencyIndex> index = BuildDependencyIndex(g.graph, outputs);
  ASSERT_TRUE(index.ok()) << index.status().ToString();
  const DependencyIndex& idx = index.ValueUnsafe();
  EXPECT_EQ(std::set<KeyId>(idx.nodes.begin(), idx.nodes.end()), (std::set<KeyId>{g.a, g.b}));
  ExpectIndexMatchesGraph(g.graph, idx);
  // Only b depends on a inside this index, although c does in the graph.
  EXPECT_EQ(idx.DependentsOf(idx.position[g.a]).size(), 1u);

  std::vector<KeyId> two = {g.d, g.u};
  Result<DependencyIndex> both = BuildDependencyIndex(g.graph, two);
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(both.ValueUnsafe().size(), 5u);
  ExpectIndexMatchesGraph(g.graph, both.ValueUnsafe());
}

TEST(DependencyIndexTest, LargerGraphMatchesGraph) {
  Graph graph;
  std::vector<KeyId> ids;
  for (int i = 0; i < 300; ++i) {
    std::vector<Arg> args;
    for (int k = 1; k <= 3 && k <= i; ++k) args.push_back(Arg::Ref(ids[(i * 7 + k * 13) % i]));
    args.push_back(Arg::List({Lit(i)}));
    ids.push_back(graph.AddTask(Key::Tuple({std::string("n"), int64_t{i}}), Call(args)));
  }
  Result<DependencyIndex> index = BuildDependencyIndex(graph, {});
  ASSERT_TRUE(index.ok());
  EXPECT_EQ(index.ValueUnsafe().size(), 300u);
  ExpectIndexMatchesGraph(graph, index.ValueUnsafe());
}

TEST(DependencyIndexTest, MissingReferencedKeyNamesKeyAndReferrer) {
  Graph graph;
  KeyId ghost = graph.Intern(Key::Tuple({std::string("ghost"), int64_t{3}}));
  KeyId a = graph.AddTask("a", Call({Arg::List({Arg::Ref(ghost)})}));
  KeyId b = graph.AddTask("b", Call({Arg::Ref(a)}));
  std::vector<KeyId> outputs = {b};
  for (std::span<const KeyId> outs : {std::span<const KeyId>(outputs), std::span<const KeyId>()}) {
    Result<DependencyIndex> index = BuildDependencyIndex(graph, outs);
    ASSERT_FALSE(index.ok());
    EXPECT_EQ(index.status().code(), StatusCode::kKeyError);
    EXPECT_NE(index.status().message().find("('ghost', 3)"), std::string::npos)
        << index.status().message();
    EXPECT_NE(index.status().message().find("'a'"), std::string::npos)
        << index.status().message();
  }
}

TEST(DependencyIndexTest, RequestedKeyWithoutTaskIsKeyError) {
  Diamond g = MakeDiamond();
  std::vector<KeyId> outputs = {g.d, g.z};
  Result<DependencyIndex> index = BuildDependencyIndex(g.graph, outputs);
  ASSERT_FALSE(index.ok());
  EXPECT_EQ(index.status().code(), StatusCode::kKeyError);
  EXPECT_NE(index.status().message().find("'z'"), std::string::npos) << index.status().message();

  // A removed task is missing too.
  g.graph.RemoveTask(g.b);
  std::vector<KeyId> d_only = {g.d};
  Result<DependencyIndex> removed = BuildDependencyIndex(g.graph, d_only);
  ASSERT_FALSE(removed.ok());
  EXPECT_EQ(removed.status().code(), StatusCode::kKeyError);
  EXPECT_NE(removed.status().message().find("'b'"), std::string::npos);
  EXPECT_NE(removed.status().message().find("'d'"), std::string::npos);
}

TEST(DependencyIndexTest, EmptyGraphGivesEmptyIndex) {
  Graph graph;
  Result<DependencyIndex> index = BuildDependencyIndex(graph, {});
  ASSERT_TRUE(index.ok());
  EXPECT_EQ(index.ValueUnsafe().size(), 0u);
  EXPECT_EQ(index.ValueUnsafe().dep_offsets.size(), 1u);
}

}  // namespace
}  // namespace tegu
