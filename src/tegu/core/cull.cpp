#include "tegu/optimize.hpp"

namespace tegu {

Status Cull(Graph* graph, std::span<const KeyId> outputs) {
  TEGU_ASSIGN_OR_RAISE(DependencyIndex index, BuildDependencyIndex(*graph, outputs));
  if (index.size() == graph->size()) return Status::OK();
  for (KeyId id : graph->TaskIds()) {
    if (index.position[id] == UINT32_MAX) graph->RemoveTask(id);
  }
  return Status::OK();
}

}  // namespace tegu
