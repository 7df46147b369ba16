// MemoryAccounting: the extension point through which a memory policy follows the bytes that
// the worker's state machine holds (DESIGN.md: "a data store whose memory accounting and
// eviction are pluggable"). WorkerState calls it, synchronously and in order, each time a key
// enters or leaves the memory state; so an implementation always knows the managed bytes per
// key without owning the data. A spill/eviction policy (target/spill/pause thresholds, LRU of
// keys to write to disk) will implement this interface in the worker service, and acts on
// the state machine only through events (PauseEvent/UnpauseEvent) and on the data store
// directly (spilled values are still "memory" to the state machine, as in Dask).
//
// Thread-safety: called on the thread that owns the WorkerState, from inside Handle. An
// implementation must not call back into that WorkerState.
#pragma once

#include <cstdint>

#include "tegu/key.hpp"

namespace tegu::worker {

class MemoryAccounting {
 public:
  virtual ~MemoryAccounting() = default;
  // `key` entered memory with `nbytes` (computed here or copied from a peer).
  virtual void OnStore(const Key& key, uint64_t nbytes) = 0;
  // `key`, which entered memory with `nbytes`, left it.
  virtual void OnRelease(const Key& key, uint64_t nbytes) = 0;
};

}  // namespace tegu::worker
