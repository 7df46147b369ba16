// Local execution: the synchronous executor (the caller's thread, for debugging) and the
// threaded executor (a work-stealing pool, one thread per core by default). Both free each
// intermediate result as soon as its last dependent has run, and stop at the first failure.
//
// Thread-safety: Compute() may be called concurrently from any threads, including from inside
// a running task (nested compute): a pool thread that waits for a nested computation runs that
// computation's tasks itself, so nesting never deadlocks the pool.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "tegu/graph.hpp"
#include "tegu/result.hpp"

namespace tegu {

/// Live counters of one computation, read by progress bars from another thread.
struct Progress {
  std::atomic<size_t> total{0};
  std::atomic<size_t> done{0};
  std::atomic<bool> finished{false};
};

enum class SchedulerKind : uint8_t { kSync, kThreads };

/// Parses 'sync', 'synchronous', 'single-threaded', 'threads', 'threading'. Other names are an
/// Invalid error naming the scheduler.
Result<SchedulerKind> ParseSchedulerName(const std::string& name);

struct ComputeOptions {
  SchedulerKind scheduler = SchedulerKind::kThreads;
  /// Threads for the threaded scheduler; 0 uses the shared pool (one thread per core).
  int num_workers = 0;
  /// Inline cheap tasks and fuse linear chains before running (culling always happens).
  bool optimize = true;
  std::shared_ptr<Progress> progress;

  /// Options from tegu::config — `scheduler`, `num-workers`, `optimization.fuse.active` — the
  /// same settings tegu.config.set() changes from Python. An unknown scheduler name is an
  /// Invalid error naming it.
  static Result<ComputeOptions> FromConfig();
};

/// Culls, optimises, orders and runs `graph`, returning the values of `outputs` in order.
/// A task that fails stops the computation; its Status (kTaskError, with the task's exception
/// as detail) names the key. Cycles and missing keys are errors naming the key.
Result<std::vector<Value>> Compute(Graph graph, std::span<const KeyId> outputs,
                                   const ComputeOptions& options = {});

/// As Compute, but optimises `graph` in place and leaves it to the caller, who decides on
/// which thread (and under which lock) its literals are destroyed.
Result<std::vector<Value>> ComputeInPlace(Graph* graph, std::span<const KeyId> outputs,
                                          const ComputeOptions& options = {});

/// Runs an already optimised graph in `order` (from tegu::Order) with the given scheduler.
Result<std::vector<Value>> Execute(const Graph& graph, std::span<const KeyId> outputs,
                                   std::span<const KeyId> order, const ComputeOptions& options);

/// Number of threads of the shared pool (hardware concurrency, at least 1).
int DefaultThreadCount();

}  // namespace tegu
