// Graph optimisations that Dask users rely on (dask.optimization, dask.order): cull to the
// requested keys, fuse linear chains, inline cheap tasks, and a memory-friendly ordering.
//
// Thread-safety: pure functions over a Graph the caller owns.
#pragma once

#include <span>
#include <vector>

#include "tegu/graph.hpp"

namespace tegu {

/// Removes every task not needed to compute `outputs`. Fails with KeyError naming a requested
/// key that has no task, or a referenced key missing from the graph (and who refers to it).
Status Cull(Graph* graph, std::span<const KeyId> outputs);

/// Fuses linear chains: a task whose only dependent has it as its only dependency is folded
/// into that dependent (as a prelude step), unless it is in `keep`. Returns the number of tasks
/// removed.
size_t FuseLinearChains(Graph* graph, std::span<const KeyId> keep);
/// As above, over a prebuilt index of every task in `graph` (saves rebuilding it).
size_t FuseLinearChains(Graph* graph, const DependencyIndex& index, std::span<const KeyId> keep);

/// Inlines each task in `keys` into every task that refers to it, then removes it unless it is
/// in `keep`. Returns the number of tasks removed.
size_t Inline(Graph* graph, std::span<const KeyId> keys, std::span<const KeyId> keep);

/// Inlines every cheap task (literals, aliases, cheap functions) that has dependents and no
/// dependencies of its own.
size_t InlineCheap(Graph* graph, std::span<const KeyId> keep);
/// The tasks InlineCheap would inline (cheap, no dependencies); usually none, and then the
/// caller can skip inlining and its index rebuilds entirely.
std::vector<KeyId> CheapTasks(const Graph& graph);

/// Culls to `outputs`, then (when `optimize`) inlines cheap tasks and fuses linear chains, as
/// Compute does before running. Returns the dependency index of the resulting graph, built as
/// few times as the changes require.
Result<DependencyIndex> Optimize(Graph* graph, std::span<const KeyId> outputs, bool optimize);

/// A memory-friendly execution order over the tasks needed for `outputs` (all tasks when
/// empty), as dask.order: depth first from the outputs, finishing a branch before the next and
/// taking cheaper-to-finish dependencies first, so few intermediate results are alive at once.
/// Fails with Cycle naming a key on the cycle, or KeyError for a missing key.
Result<std::vector<KeyId>> Order(const Graph& graph, std::span<const KeyId> outputs);

/// Order over a prebuilt index: positions into index.nodes. `outputs` must be the outputs the
/// index was built for (empty for all tasks).
Result<std::vector<uint32_t>> OrderIndex(const Graph& graph, const DependencyIndex& index,
                                         std::span<const KeyId> outputs);

/// The largest number of results held at once when running `order` serially and freeing each
/// result after its last dependent ran (outputs are held to the end). For tests and tuning.
size_t PeakMemoryOfOrder(const Graph& graph, std::span<const KeyId> order,
                         std::span<const KeyId> outputs);

}  // namespace tegu
