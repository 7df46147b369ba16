// Tests of tegu::Order: a valid topological order of exactly the needed tasks, clean errors for
// cycles and missing keys, and memory-friendliness measured with tegu::PeakMemoryOfOrder.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "tegu/graph.hpp"
#include "tegu/native.hpp"
#include "tegu/optimize.hpp"

namespace tegu {
namespace {

std::shared_ptr<const TaskFunction> SumFunction() {
  static const auto fn = MakeNativeFunction("sum", [](ValueList items) {
    return static_cast<int64_t>(items.size());
  });
  return fn;
}

// A task summing the results of `deps`.
KeyId Sum(Graph* graph, const Key& key, const std::vector<KeyId>& deps) {
  std::vector<Arg> refs;
  for (KeyId d : deps) refs.push_back(Arg::Ref(d));
  return graph->AddTask(key, TaskSpec(SumFunction(), {Arg::List(std::move(refs))}));
}

KeyId Leaf(Graph* graph, const Key& key) {
  return graph->AddTask(key, TaskSpec(SumFunction(), {Arg::List({})}));
}

Key Named(const std::string& name, int64_t i) { return Key::Tuple({name, i}); }

// Asserts that `order` lists each task needed for `outputs` exactly once, after its dependencies.
void ExpectValidOrder(const Graph& graph, const std::vector<KeyId>& order,
                      std::span<const KeyId> outputs) {
  Result<DependencyIndex> index = BuildDependencyIndex(graph, outputs);
  ASSERT_TRUE(index.ok()) << index.status().ToString();
  const DependencyIndex& idx = index.ValueUnsafe();
  ASSERT_EQ(order.size(), idx.size());
  std::vector<int64_t> rank(graph.key_count(), -1);
  for (size_t r = 0; r < order.size(); ++r) {
    ASSERT_LT(order[r], graph.key_count());
    ASSERT_EQ(rank[order[r]], -1) << "listed twice: " << graph.key(order[r]).ToString();
    ASSERT_NE(idx.position[order[r]], UINT32_MAX)
        << "not needed: " << graph.key(order[r]).ToString();
    rank[order[r]] = static_cast<int64_t>(r);
  }
  std::vector<KeyId> deps;
  for (KeyId id : order) {
    graph.Dependencies(id, &deps);
    for (KeyId d : deps) {
      ASSERT_LT(rank[d], rank[id]) << graph.key(d).ToString() << " must come before "
                                   << graph.key(id).ToString();
    }
  }
}

std::vector<KeyId> OrderOrDie(const Graph& graph, std::span<const KeyId> outputs) {
  Result<std::vector<KeyId>> order = Order(graph, outputs);
  EXPECT_TRUE(order.ok()) << order.status().ToString();
  return order.ok() ? order.MoveValueUnsafe() : std::vector<KeyId>{};
}

// A binary tree reduction over `leaves` leaves (a power of two); returns the root.
KeyId BinaryTree(Graph* graph, int leaves, std::vector<std::vector<KeyId>>* levels) {
  levels->clear();
  levels->emplace_back();
  for (int i = 0; i < leaves; ++i) levels->back().push_back(Leaf(graph, Named("leaf", i)));
  int depth = 0;
  while (levels->back().size() > 1) {
    ++depth;
    std::vector<KeyId> next;
    const std::vector<KeyId>& prev = levels->back();
    for (size_t i = 0; i + 1 < prev.size(); i += 2) {
      next.push_back(Sum(graph, Key::Tuple({std::string("tree"), int64_t{depth},
                                            static_cast<int64_t>(i / 2)}),
                         {prev[i], prev[i + 1]}));
    }
    levels->push_back(std::move(next));
  }
  return levels->back()[0];
}

TEST(OrderTest, OrderIsTopologicalAndCoversExactlyTheNeededTasks) {
  std::mt19937 rng(42);
  Graph graph;
  std::vector<KeyId> ids;
  for (int i = 0; i < 500; ++i) {
    std::vector<KeyId> deps;
    int k = i == 0 ? 0 : static_cast<int>(rng() % 4);
    for (int j = 0; j < k; ++j) deps.push_back(ids[rng() % i]);
    ids.push_back(Sum(&graph, Named("n", i), deps));
  }
  std::vector<KeyId> all_order = OrderOrDie(graph, {});
  ExpectValidOrder(graph, all_order, {});
  EXPECT_EQ(all_order.size(), 500u);

  std::vector<KeyId> outputs = {ids[250], ids[100]};
  std::vector<KeyId> some_order = OrderOrDie(graph, outputs);
  ExpectValidOrder(graph, some_order, outputs);
  EXPECT_LT(some_order.size(), 500u);
  // Unrelated later tasks are not included.
  EXPECT_EQ(std::count(some_order.begin(), some_order.end(), ids[499]), 0);
}

TEST(OrderTest, DiamondOrder) {
  Graph graph;
  KeyId a = Leaf(&graph, "a");
  KeyId b = Sum(&graph, "b", {a});
  KeyId c = Sum(&graph, "c", {a});
  KeyId d = Sum(&graph, "d", {b, c});
  Leaf(&graph, "unrelated");
  std::vector<KeyId> outputs = {d};
  std::vector<KeyId> order = OrderOrDie(graph, outputs);
  ExpectValidOrder(graph, order, outputs);
  EXPECT_EQ(order.size(), 4u);
  EXPECT_EQ(order.front(), a);
  EXPECT_EQ(order.back(), d);
}

TEST(OrderTest, CycleNamesAKeyOnTheCycle) {
  Graph graph;
  KeyId a = graph.Intern("a");
  KeyId b = graph.Intern("b");
  KeyId c = graph.Intern("c");
  KeyId start = Leaf(&graph, "start");
  Sum(&graph, "a", {b, start});
  Sum(&graph, "b", {c});
  Sum(&graph, "c", {a});
  KeyId top = Sum(&graph, "top", {a});
  std::vector<KeyId> outputs = {top};
  for (std::span<const KeyId> outs : {std::span<const KeyId>(outputs), std::span<const KeyId>()}) {
    Result<std::vector<KeyId>> order = Order(graph, outs);
    ASSERT_FALSE(order.ok());
    EXPECT_EQ(order.status().code(), StatusCode::kCycle);
    const std::string& msg = order.status().message();
    bool names_cycle_key = msg.find("'a'") != std::string::npos ||
                           msg.find("'b'") != std::string::npos ||
                           msg.find("'c'") != std::string::npos;
    EXPECT_TRUE(names_cycle_key) << msg;
    EXPECT_EQ(msg.find("'top'"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("'start'"), std::string::npos) << msg;
  }
}

TEST(OrderTest, SelfReferenceIsACycle) {
  Graph graph;
  KeyId self = graph.Intern(Key::Tuple({std::string("self"), int64_t{7}}));
  Sum(&graph, Key::Tuple({std::string("self"), int64_t{7}}), {self});
  KeyId top = Sum(&graph, "top", {self});
  std::vector<KeyId> outputs = {top};
  Result<std::vector<KeyId>> order = Order(graph, outputs);
  ASSERT_FALSE(order.ok());
  EXPECT_EQ(order.status().code(), StatusCode::kCycle);
  EXPECT_NE(order.status().message().find("('self', 7)"), std::string::npos)
      << order.status().message();
}

TEST(OrderTest, MissingKeyIsKeyErrorNamingIt) {
  Graph graph;
  KeyId ghost = graph.Intern("ghost-key");
  KeyId a = Sum(&graph, "a", {ghost});
  std::vector<KeyId> outputs = {a};
  Result<std::vector<KeyId>> order = Order(graph, outputs);
  ASSERT_FALSE(order.ok());
  EXPECT_EQ(order.status().code(), StatusCode::kKeyError);
  EXPECT_NE(order.status().message().find("ghost-key"), std::string::npos);

  std::vector<KeyId> missing_output = {graph.Intern("not-defined")};
  Result<std::vector<KeyId>> order2 = Order(graph, missing_output);
  ASSERT_FALSE(order2.ok());
  EXPECT_EQ(order2.status().code(), StatusCode::kKeyError);
  EXPECT_NE(order2.status().message().find("not-defined"), std::string::npos);
}

TEST(OrderTest, BinaryTreeReductionPeakIsLogarithmic) {
  constexpr int kLeaves = 1024;
  Graph graph;
  std::vector<std::vector<KeyId>> levels;
  KeyId root = BinaryTree(&graph, kLeaves, &levels);
  std::vector<KeyId> outputs = {root};
  std::vector<KeyId> order = OrderOrDie(graph, outputs);
  ExpectValidOrder(graph, order, outputs);
  size_t peak = PeakMemoryOfOrder(graph, order, outputs);
  EXPECT_LE(peak, static_cast<size_t>(2 * std::log2(kLeaves) + 2)) << "peak " << peak;
  EXPECT_GE(peak, 3u);  // two inputs and the result, at least

  // Breadth first (all leaves, then each level) holds every leaf at once.
  std::vector<KeyId> breadth_first;
  for (const auto& level : levels) {
    breadth_first.insert(breadth_first.end(), level.begin(), level.end());
  }
  ExpectValidOrder(graph, breadth_first, outputs);
  EXPECT_GE(PeakMemoryOfOrder(graph, breadth_first, outputs), 512u);
}

TEST(OrderTest, IndependentChainsFinishOneAtATime) {
  constexpr int kChains = 100;
  constexpr int kLength = 10;
  Graph graph;
  std::vector<std::vector<KeyId>> chains(kChains);
  std::vector<KeyId> ends;
  for (int c = 0; c < kChains; ++c) {
    for (int j = 0; j < kLength; ++j) {
      Key key = Key::Tuple({std::string("chain"), int64_t{c}, int64_t{j}});
      chains[c].push_back(j == 0 ? Leaf(&graph, key) : Sum(&graph, key, {chains[c].back()}));
    }
    ends.push_back(chains[c].back());
  }
  KeyId total = Sum(&graph, "total", ends);
  std::vector<KeyId> outputs = {total};
  std::vector<KeyId> order = OrderOrDie(graph, outputs);
  ExpectValidOrder(graph, order, outputs);
  EXPECT_EQ(order.back(), total);

  std::unordered_map<KeyId, size_t> rank;
  for (size_t r = 0; r < order.size(); ++r) rank[order[r]] = r;
  for (int c = 0; c < kChains; ++c) {
    // Each chain's tasks are contiguous and in chain order.
    for (int j = 1; j < kLength; ++j) {
      EXPECT_EQ(rank[chains[c][j]], rank[chains[c][j - 1]] + 1) << "chain " << c;
    }
  }
  size_t peak = PeakMemoryOfOrder(graph, order, outputs);
  EXPECT_LE(peak, static_cast<size_t>(kChains + 3)) << "peak " << peak;

  // Running the chains level by level instead holds all of them at every step.
  std::vector<KeyId> by_level;
  for (int j = 0; j < kLength; ++j) {
    for (int c = 0; c < kChains; ++c) by_level.push_back(chains[c][j]);
  }
  by_level.push_back(total);
  EXPECT_GE(PeakMemoryOfOrder(graph, by_level, outputs), static_cast<size_t>(kChains));
}

TEST(OrderTest, VeryLongChainOrdersWithoutStackOverflow) {
  constexpr int kLength = 100000;
  Graph graph;
  std::vector<KeyId> chain;
  chain.push_back(Leaf(&graph, Named("long", 0)));
  for (int i = 1; i < kLength; ++i) chain.push_back(Sum(&graph, Named("long", i), {chain.back()}));
  std::vector<KeyId> outputs = {chain.back()};
  std::vector<KeyId> order = OrderOrDie(graph, outputs);
  ASSERT_EQ(order.size(), static_cast<size_t>(kLength));
  EXPECT_EQ(order, chain);
  EXPECT_EQ(PeakMemoryOfOrder(graph, order, outputs), 2u);
}

TEST(OrderTest, EmptyGraphOrdersToNothing) {
  Graph graph;
  Result<std::vector<KeyId>> order = Order(graph, {});
  ASSERT_TRUE(order.ok());
  EXPECT_TRUE(order.ValueUnsafe().empty());
}

}  // namespace
}  // namespace tegu
