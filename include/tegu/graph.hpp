// Graph: a task graph in the sense of Dask — a mapping from keys to tasks — with keys interned
// to dense ids. Dependencies are derived from the references in each task's arguments.
//
// Thread-safety: a Graph is not synchronized. Build it on one thread; after that, concurrent
// const access is safe (the executors read graphs from many threads).
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "tegu/key.hpp"
#include "tegu/result.hpp"
#include "tegu/task_spec.hpp"

namespace tegu {

class Graph {
 public:
  Graph() = default;
  Graph(Graph&&) noexcept = default;
  Graph& operator=(Graph&&) noexcept = default;
  Graph(const Graph&) = default;
  Graph& operator=(const Graph&) = default;

  /// The id of `key`, interning it if new. Interning does not define a task.
  KeyId Intern(const Key& key);
  std::optional<KeyId> Find(const Key& key) const;
  const Key& key(KeyId id) const { return keys_[id]; }
  /// Number of interned keys (defined or only referenced); ids are [0, key_count()).
  size_t key_count() const { return keys_.size(); }

  /// Defines (or replaces, as a Python dict would) the task of `id`.
  void SetTask(KeyId id, Task task);
  KeyId AddTask(const Key& key, TaskSpec spec);
  void RemoveTask(KeyId id);
  bool has_task(KeyId id) const { return id < defined_.size() && defined_[id]; }
  const Task& task(KeyId id) const { return tasks_[id]; }
  Task& mutable_task(KeyId id) { return tasks_[id]; }
  /// Number of defined tasks.
  size_t size() const { return task_count_; }
  /// Ids of the defined tasks, ascending.
  std::vector<KeyId> TaskIds() const;

  /// The distinct keys task `id` refers to, excluding keys produced inside its own prelude.
  void Dependencies(KeyId id, std::vector<KeyId>* out) const;

 private:
  std::vector<Key> keys_;
  std::unordered_map<Key, KeyId> ids_;
  std::vector<Task> tasks_;
  std::vector<uint8_t> defined_;
  size_t task_count_ = 0;
};

/// Dependencies and dependents of a set of tasks in compressed (CSR) form. Built once per
/// computation; tasks are addressed by their position in `nodes`.
struct DependencyIndex {
  std::vector<KeyId> nodes;            ///< task ids covered
  std::vector<uint32_t> position;      ///< KeyId -> index in nodes, or UINT32_MAX
  std::vector<uint32_t> dep_offsets;   ///< size nodes+1
  std::vector<uint32_t> deps;          ///< indices into nodes
  std::vector<uint32_t> dependent_offsets;
  std::vector<uint32_t> dependents;

  std::span<const uint32_t> DependenciesOf(uint32_t i) const {
    return {deps.data() + dep_offsets[i], deps.data() + dep_offsets[i + 1]};
  }
  std::span<const uint32_t> DependentsOf(uint32_t i) const {
    return {dependents.data() + dependent_offsets[i],
            dependents.data() + dependent_offsets[i + 1]};
  }
  size_t size() const { return nodes.size(); }
};

/// Builds the index of the tasks needed for `outputs` (all tasks when outputs is empty).
/// Fails with KeyError naming the key when an output or a referenced key has no task.
Result<DependencyIndex> BuildDependencyIndex(const Graph& graph, std::span<const KeyId> outputs);

}  // namespace tegu
