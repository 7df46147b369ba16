// Memory-friendly ordering (after dask.order's goal: finish a branch before starting the next).
//
// The order is a post-order depth-first traversal from the outputs. At each task its
// dependencies are visited in decreasing Sethi–Ullman "need" (the number of results that must be
// held at once to compute a subtree), which minimises the peak for trees: R. Sethi and
// J. D. Ullman, "The Generation of Optimal Code for Arithmetic Expressions", JACM 17(4), 1970.
// For shared dependencies (DAGs) the need is an estimate, and a result that several branches
// use is computed once, by the first branch that reaches it.
#include <algorithm>
#include <numeric>

#include "tegu/optimize.hpp"

namespace tegu {

namespace {

Status CycleError(const Graph& graph, const DependencyIndex& index,
                  const std::vector<uint32_t>& remaining) {
  // Every node left with unmet dependencies leads to a cycle: walk until a node repeats.
  uint32_t start = 0;
  while (start < remaining.size() && remaining[start] == 0) ++start;
  std::vector<uint8_t> seen(index.size(), 0);
  uint32_t node = start;
  while (!seen[node]) {
    seen[node] = 1;
    for (uint32_t dep : index.DependenciesOf(node)) {
      if (remaining[dep] > 0) {
        node = dep;
        break;
      }
    }
  }
  return Status::Cycle("the graph has a cycle through key '" +
                       graph.key(index.nodes[node]).ToString() + "'");
}

}  // namespace

Result<std::vector<uint32_t>> OrderIndex(const Graph& graph, const DependencyIndex& index,
                                         std::span<const KeyId> outputs) {
  const size_t n = index.size();

  // Kahn's algorithm: a topological order (dependencies first), or a cycle.
  std::vector<uint32_t> remaining(n);
  std::vector<uint32_t> topo;
  topo.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    remaining[i] = static_cast<uint32_t>(index.DependenciesOf(i).size());
    if (remaining[i] == 0) topo.push_back(i);
  }
  for (size_t head = 0; head < topo.size(); ++head) {
    for (uint32_t d : index.DependentsOf(topo[head])) {
      if (--remaining[d] == 0) topo.push_back(d);
    }
  }
  if (topo.size() != n) return CycleError(graph, index, remaining);

  // Sethi–Ullman need, bottom up.
  std::vector<uint32_t> need(n, 1);
  std::vector<uint32_t> child_needs;
  for (uint32_t i : topo) {
    auto deps = index.DependenciesOf(i);
    if (deps.empty()) continue;
    child_needs.assign(deps.size(), 0);
    for (size_t k = 0; k < deps.size(); ++k) child_needs[k] = need[deps[k]];
    std::sort(child_needs.rbegin(), child_needs.rend());
    uint32_t best = 1;
    for (size_t k = 0; k < child_needs.size(); ++k) {
      best = std::max(best, child_needs[k] + static_cast<uint32_t>(k));
    }
    // All dependency results plus the task's own are alive while it runs.
    need[i] = std::max<uint32_t>(best, static_cast<uint32_t>(deps.size()) + 1);
  }

  // Each task's dependencies in visiting order: larger need first, then graph order.
  std::vector<uint32_t> visit(index.deps.begin(), index.deps.end());
  for (uint32_t i = 0; i < n; ++i) {
    auto first = visit.begin() + index.dep_offsets[i];
    auto last = visit.begin() + index.dep_offsets[i + 1];
    if (last - first > 1) {
      std::stable_sort(first, last, [&](uint32_t a, uint32_t b) {
        if (need[a] != need[b]) return need[a] > need[b];
        return index.nodes[a] < index.nodes[b];
      });
    }
  }

  // Roots: the outputs in the order given, else tasks nobody depends on, in key order.
  std::vector<uint32_t> roots;
  if (!outputs.empty()) {
    for (KeyId out : outputs) roots.push_back(index.position[out]);
  } else {
    for (uint32_t i = 0; i < n; ++i) {
      if (index.DependentsOf(i).empty()) roots.push_back(i);
    }
    std::sort(roots.begin(), roots.end(),
              [&](uint32_t a, uint32_t b) { return index.nodes[a] < index.nodes[b]; });
  }

  // Post-order depth-first walk with an explicit stack (chains may be millions long).
  std::vector<uint32_t> order;
  order.reserve(n);
  std::vector<uint8_t> visited(n, 0);
  std::vector<std::pair<uint32_t, uint32_t>> stack;  // (node, next position in visit)
  for (uint32_t root : roots) {
    if (visited[root]) continue;
    visited[root] = 1;
    stack.emplace_back(root, index.dep_offsets[root]);
    while (!stack.empty()) {
      auto& [node, cursor] = stack.back();
      if (cursor < index.dep_offsets[node + 1]) {
        uint32_t dep = visit[cursor++];
        if (!visited[dep]) {
          visited[dep] = 1;
          stack.emplace_back(dep, index.dep_offsets[dep]);
        }
        continue;
      }
      order.push_back(node);
      stack.pop_back();
    }
  }
  return order;
}

Result<std::vector<KeyId>> Order(const Graph& graph, std::span<const KeyId> outputs) {
  TEGU_ASSIGN_OR_RAISE(DependencyIndex index, BuildDependencyIndex(graph, outputs));
  TEGU_ASSIGN_OR_RAISE(std::vector<uint32_t> positions, OrderIndex(graph, index, outputs));
  std::vector<KeyId> order;
  order.reserve(positions.size());
  for (uint32_t p : positions) order.push_back(index.nodes[p]);
  return order;
}

size_t PeakMemoryOfOrder(const Graph& graph, std::span<const KeyId> order,
                         std::span<const KeyId> outputs) {
  Result<DependencyIndex> maybe_index = BuildDependencyIndex(graph, outputs);
  if (!maybe_index.ok()) return 0;
  const DependencyIndex& index = maybe_index.ValueUnsafe();
  std::vector<uint32_t> waiting(index.size());
  for (uint32_t i = 0; i < index.size(); ++i) {
    waiting[i] = static_cast<uint32_t>(index.DependentsOf(i).size());
  }
  std::vector<uint8_t> is_output(index.size(), 0);
  for (KeyId out : outputs) is_output[index.position[out]] = 1;
  size_t held = 0, peak = 0;
  for (KeyId id : order) {
    uint32_t i = index.position[id];
    ++held;
    peak = std::max(peak, held);
    for (uint32_t d : index.DependenciesOf(i)) {
      if (--waiting[d] == 0 && !is_output[d]) --held;
    }
    if (waiting[i] == 0 && !is_output[i]) --held;
  }
  return peak;
}

}  // namespace tegu
