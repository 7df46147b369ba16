#include "tegu/optimize.hpp"

namespace tegu {

Result<DependencyIndex> Optimize(Graph* graph, std::span<const KeyId> outputs, bool optimize) {
  TEGU_ASSIGN_OR_RAISE(DependencyIndex index, BuildDependencyIndex(*graph, outputs));
  if (index.size() != graph->size()) {
    for (KeyId id : graph->TaskIds()) {
      if (index.position[id] == UINT32_MAX) graph->RemoveTask(id);
    }
  }
  if (!optimize) return index;
  // The index is rebuilt only when an optimisation changed the graph.
  std::vector<KeyId> cheap = CheapTasks(*graph);
  if (!cheap.empty() && Inline(graph, cheap, outputs) > 0) {
    TEGU_ASSIGN_OR_RAISE(index, BuildDependencyIndex(*graph, outputs));
  }
  if (FuseLinearChains(graph, index, outputs) > 0) {
    TEGU_ASSIGN_OR_RAISE(index, BuildDependencyIndex(*graph, outputs));
  }
  return index;
}

Status Cull(Graph* graph, std::span<const KeyId> outputs) {
  return Optimize(graph, outputs, /*optimize=*/false).status();
}

}  // namespace tegu
