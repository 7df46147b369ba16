#include <algorithm>
#include <unordered_set>

#include "tegu/optimize.hpp"

namespace tegu {

size_t FuseLinearChains(Graph* graph, std::span<const KeyId> keep) {
  Result<DependencyIndex> maybe_index = BuildDependencyIndex(*graph, {});
  if (!maybe_index.ok()) return 0;  // an invalid graph is reported by Cull/Order, not here
  return FuseLinearChains(graph, maybe_index.ValueUnsafe(), keep);
}

size_t FuseLinearChains(Graph* graph, const DependencyIndex& index, std::span<const KeyId> keep) {
  std::unordered_set<KeyId> kept(keep.begin(), keep.end());
  const size_t n = index.size();

  // parent[i] is the single dependency that folds into i, when the edge is linear.
  std::vector<uint32_t> parent(n, UINT32_MAX);
  std::vector<uint8_t> folds_into_child(n, 0);
  for (uint32_t i = 0; i < n; ++i) {
    auto deps = index.DependenciesOf(i);
    if (deps.size() != 1) continue;
    uint32_t p = deps[0];
    if (index.DependentsOf(p).size() != 1 || kept.count(index.nodes[p])) continue;
    parent[i] = p;
    folds_into_child[p] = 1;
  }

  size_t removed = 0;
  std::vector<uint32_t> chain;
  for (uint32_t end = 0; end < n; ++end) {
    if (folds_into_child[end] || parent[end] == UINT32_MAX) continue;
    // `end` is the bottom of a chain: collect its ancestors along linear edges.
    chain.clear();
    for (uint32_t p = parent[end]; p != UINT32_MAX; p = parent[p]) chain.push_back(p);
    std::reverse(chain.begin(), chain.end());
    Task fused;
    for (uint32_t p : chain) {
      KeyId pid = index.nodes[p];
      Task& task = graph->mutable_task(pid);
      for (TaskStep& step : task.prelude) fused.prelude.push_back(std::move(step));
      fused.prelude.push_back(TaskStep{pid, std::move(task.spec)});
      graph->RemoveTask(pid);
      ++removed;
    }
    KeyId eid = index.nodes[end];
    Task& tail = graph->mutable_task(eid);
    for (TaskStep& step : tail.prelude) fused.prelude.push_back(std::move(step));
    fused.spec = std::move(tail.spec);
    graph->SetTask(eid, std::move(fused));
  }
  return removed;
}

}  // namespace tegu
