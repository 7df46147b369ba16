#include "tegu/graph.hpp"

#include <algorithm>

namespace tegu {

KeyId Graph::Intern(const Key& key) {
  auto [it, inserted] = ids_.try_emplace(key, static_cast<KeyId>(keys_.size()));
  if (inserted) {
    keys_.push_back(key);
    tasks_.emplace_back();
    defined_.push_back(0);
  }
  return it->second;
}

std::optional<KeyId> Graph::Find(const Key& key) const {
  auto it = ids_.find(key);
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

void Graph::SetTask(KeyId id, Task task) {
  tasks_[id] = std::move(task);
  if (!defined_[id]) {
    defined_[id] = 1;
    ++task_count_;
  }
}

KeyId Graph::AddTask(const Key& key, TaskSpec spec) {
  KeyId id = Intern(key);
  SetTask(id, Task{std::move(spec), {}});
  return id;
}

void Graph::RemoveTask(KeyId id) {
  if (!has_task(id)) return;
  tasks_[id] = Task{};
  defined_[id] = 0;
  --task_count_;
}

std::vector<KeyId> Graph::TaskIds() const {
  std::vector<KeyId> ids;
  ids.reserve(task_count_);
  for (KeyId id = 0; id < defined_.size(); ++id) {
    if (defined_[id]) ids.push_back(id);
  }
  return ids;
}

void Graph::Dependencies(KeyId id, std::vector<KeyId>* out) const {
  out->clear();
  const Task& task = tasks_[id];
  auto add = [out](KeyId ref) { out->push_back(ref); };
  for (const TaskStep& step : task.prelude) step.spec.ForEachRef(add);
  task.spec.ForEachRef(add);
  if (out->size() > 1) {
    std::sort(out->begin(), out->end());
    out->erase(std::unique(out->begin(), out->end()), out->end());
  }
  if (!task.prelude.empty()) {
    // Keys computed inside the task itself are not dependencies. Fused chains can hold
    // thousands of steps, so look them up in a sorted copy rather than scanning per reference.
    std::vector<KeyId> produced;
    produced.reserve(task.prelude.size());
    for (const TaskStep& step : task.prelude) produced.push_back(step.key);
    std::sort(produced.begin(), produced.end());
    std::erase_if(*out, [&produced](KeyId ref) {
      return std::binary_search(produced.begin(), produced.end(), ref);
    });
  }
}

Result<DependencyIndex> BuildDependencyIndex(const Graph& graph, std::span<const KeyId> outputs) {
  DependencyIndex index;
  index.position.assign(graph.key_count(), UINT32_MAX);
  std::vector<KeyId> stack;
  if (outputs.empty()) {
    stack = graph.TaskIds();
  } else {
    for (KeyId out : outputs) {
      if (!graph.has_task(out)) {
        return Status::KeyError("requested key '" + graph.key(out).ToString() +
                                "' is not in the graph");
      }
      stack.push_back(out);
    }
  }
  // Discover the needed tasks; their dependency lists go, as KeyIds, into one flat array in
  // discovery order (node i's list is dep_offsets[i]..dep_offsets[i+1]).
  index.dep_offsets.push_back(0);
  std::vector<KeyId> deps;
  while (!stack.empty()) {
    KeyId id = stack.back();
    stack.pop_back();
    if (index.position[id] != UINT32_MAX) continue;
    index.position[id] = static_cast<uint32_t>(index.nodes.size());
    index.nodes.push_back(id);
    graph.Dependencies(id, &deps);
    for (KeyId dep : deps) {
      if (!graph.has_task(dep)) {
        return Status::KeyError("key '" + graph.key(dep).ToString() + "' is not in the graph (" +
                                "referenced by task '" + graph.key(id).ToString() + "')");
      }
      if (index.position[dep] == UINT32_MAX) stack.push_back(dep);
      index.deps.push_back(dep);
    }
    index.dep_offsets.push_back(static_cast<uint32_t>(index.deps.size()));
  }
  const size_t n = index.nodes.size();
  for (uint32_t& dep : index.deps) dep = index.position[dep];  // KeyIds -> node indices
  index.dependent_offsets.assign(n + 1, 0);
  for (uint32_t dep : index.deps) ++index.dependent_offsets[dep + 1];
  for (size_t i = 0; i < n; ++i) index.dependent_offsets[i + 1] += index.dependent_offsets[i];
  index.dependents.resize(index.dependent_offsets[n]);
  std::vector<uint32_t> fill(index.dependent_offsets.begin(), index.dependent_offsets.end() - 1);
  for (size_t i = 0; i < n; ++i) {
    for (uint32_t d : index.DependenciesOf(static_cast<uint32_t>(i))) {
      index.dependents[fill[d]++] = static_cast<uint32_t>(i);
    }
  }
  return index;
}

}  // namespace tegu
