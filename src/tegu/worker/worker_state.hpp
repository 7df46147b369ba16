// WorkerState: the worker's logic as a sans-IO state machine (DESIGN.md, "Sans-IO state
// machines"), modelled on dask/distributed's WorkerState (distributed/worker_state_machine.py).
// It owns the state of every task the worker knows — to compute, to fetch from peers, in
// memory — and turns each event (events.hpp) into instructions (actions.hpp): run this task,
// copy those keys from that peer, tell the scheduler this. It holds no sockets, threads, values
// or clocks: the service around it runs the instructions, keeps the data, and passes the time
// of each event in. So every decision is deterministic and unit-testable by feeding events and
// comparing instructions (worker_state_test.cpp).
//
// Policies it embodies (see docs/worker.md for the full state diagram and invariants):
//   - at most `nthreads` tasks execute at once; seceded (long-running) tasks do not count; ready
//     tasks start in priority order (tuple compare, lower first; among equal priorities the
//     latest ComputeTask first, as Dask);
//   - dependencies are fetched in batches per peer, up to `transfer_message_bytes_limit` per
//     request, with at most `transfer_incoming_count_limit` requests and (beyond the first)
//     `transfer_incoming_bytes_limit` bytes in flight; among peers holding the most urgent key,
//     a peer on the same host, then the one with the most wanted bytes, is asked first; a key
//     is never requested twice at once;
//   - a dependency a peer fails to provide is asked from the other holders, and when none is
//     left it becomes missing and the scheduler is asked for new holders;
//   - a task freed while it runs or while its data is in flight is cancelled: its outcome is
//     dropped when it arrives, unless it was wanted again meanwhile (then it is resumed).
//
// Thread-safety: not thread-safe. One owner (the worker service's event loop) calls Handle and
// the accessors; there is no internal locking.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tegu/key.hpp"
#include "tegu/status.hpp"
#include "tegu/worker/actions.hpp"
#include "tegu/worker/events.hpp"
#include "tegu/worker/memory_accounting.hpp"
#include "tegu/worker/types.hpp"

namespace tegu::worker {

struct WorkerStateOptions {
  // This worker's own address; removed from any who_has list it appears in.
  std::string address;
  // Execution slots.
  int nthreads = 1;
  // Abstract resources of this worker ({"GPU", 2}); tasks with restrictions wait for them.
  Resources resources;
  // Most GatherDep requests in flight at once.
  size_t transfer_incoming_count_limit = 10;
  // Most bytes in flight at once. A single key larger than this is still fetched when nothing
  // else is in flight, so that progress is always possible.
  uint64_t transfer_incoming_bytes_limit = UINT64_MAX;
  // Target size of one GatherDep: keys from the same peer are batched up to this many bytes
  // (the first key of a request is always taken, whatever its size).
  uint64_t transfer_message_bytes_limit = 50 * 1024 * 1024;
  // Size assumed for a key whose size is unknown (nbytes 0 in its Dependency).
  uint64_t default_nbytes = 1024;
  // Notified of every key entering or leaving memory; not owned; may be null.
  MemoryAccounting* memory_accounting = nullptr;
  // Transitions kept for Story() (a ring buffer); 0 keeps none.
  size_t log_capacity = 10000;
};

class WorkerState {
 public:
  explicit WorkerState(WorkerStateOptions options);
  ~WorkerState();
  WorkerState(WorkerState&&) noexcept;
  WorkerState& operator=(WorkerState&&) noexcept;
  WorkerState(const WorkerState&) = delete;
  WorkerState& operator=(const WorkerState&) = delete;

  // Applies one event at time `now` and returns what the service must do, in order. Events
  // about keys or peers it does not know (late, duplicated) are ignored, or answered with
  // DiscardData for a value that arrived for nothing.
  Instructions Handle(const StateMachineEvent& event, Clock::time_point now);

  // The state of `key`, or nullopt if it is not known (never known, or forgotten).
  std::optional<State> GetState(const Key& key) const;
  // Whether the service may serve `key` to peers and tasks: it is in memory.
  bool InMemory(const Key& key) const { return GetState(key) == State::kMemory; }

  int nthreads() const;
  bool running() const;  // false while paused
  // Tasks holding an execution slot (executing, and cancelled/resumed ones still running).
  size_t executing_count() const;
  // Tasks running after secede() (they hold a thread but no slot).
  size_t long_running_count() const;
  size_t task_count() const;
  // Bytes of the keys in memory: the state machine's accounting of the data store.
  uint64_t memory_bytes() const;
  // Open GatherDep requests, and the bytes they are expected to bring.
  size_t transfer_incoming_count() const;
  uint64_t transfer_incoming_bytes() const;

  // The last transitions of `key`: "x: fetch -> flight (flight) @123ns", oldest first.
  std::vector<std::string> Story(const Key& key) const;

  // --- test seams -------------------------------------------------------------------------
  // Checks every internal invariant (docs/worker.md, "Invariants"); the first violation found
  // is returned as Invalid. O(tasks + edges); meant for tests and debugging.
  Status TEST_CheckInvariants() const;
  // Every known task and its state, sorted by key spelling.
  std::vector<std::pair<Key, State>> TEST_Tasks() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tegu::worker
