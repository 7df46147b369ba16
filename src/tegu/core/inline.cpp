#include <algorithm>
#include <unordered_set>

#include "tegu/optimize.hpp"

namespace tegu {

namespace {
// Prepends the steps that compute `inlined` (its own prelude, then itself) to `target`, skipping
// steps the target already computes.
void PrependSteps(const Task& inlined, KeyId inlined_key, Task* target) {
  std::unordered_set<KeyId> present;
  for (const TaskStep& step : target->prelude) present.insert(step.key);
  std::vector<TaskStep> steps;
  for (const TaskStep& step : inlined.prelude) {
    if (present.insert(step.key).second) steps.push_back(step);
  }
  if (present.insert(inlined_key).second) steps.push_back(TaskStep{inlined_key, inlined.spec});
  steps.insert(steps.end(), std::make_move_iterator(target->prelude.begin()),
               std::make_move_iterator(target->prelude.end()));
  target->prelude = std::move(steps);
}
}  // namespace

size_t Inline(Graph* graph, std::span<const KeyId> keys, std::span<const KeyId> keep) {
  if (keys.empty()) return 0;
  Result<DependencyIndex> maybe_index = BuildDependencyIndex(*graph, {});
  if (!maybe_index.ok()) return 0;  // an invalid graph is reported by Cull/Order, not here
  const DependencyIndex& index = maybe_index.ValueUnsafe();
  Result<std::vector<uint32_t>> order = OrderIndex(*graph, index, {});
  if (!order.ok()) return 0;
  std::unordered_set<KeyId> to_inline(keys.begin(), keys.end());
  std::unordered_set<KeyId> kept(keep.begin(), keep.end());

  // Dependencies first, so an inlined task carries the tasks inlined into it.
  size_t removed = 0;
  for (uint32_t pos : order.ValueUnsafe()) {
    KeyId id = index.nodes[pos];
    if (!to_inline.count(id) || !graph->has_task(id)) continue;
    auto dependents = index.DependentsOf(pos);
    if (dependents.empty()) continue;
    const Task inlined = graph->task(id);
    for (uint32_t d : dependents) {
      PrependSteps(inlined, id, &graph->mutable_task(index.nodes[d]));
    }
    if (!kept.count(id)) {
      graph->RemoveTask(id);
      ++removed;
    }
  }
  return removed;
}

std::vector<KeyId> CheapTasks(const Graph& graph) {
  std::vector<KeyId> cheap;
  std::vector<KeyId> deps;
  for (KeyId id : graph.TaskIds()) {
    const Task& task = graph.task(id);
    if (!task.spec.is_cheap() || !task.prelude.empty()) continue;
    graph.Dependencies(id, &deps);
    if (deps.empty()) cheap.push_back(id);
  }
  return cheap;
}

size_t InlineCheap(Graph* graph, std::span<const KeyId> keep) {
  return Inline(graph, CheapTasks(*graph), keep);
}

}  // namespace tegu
