// ClientCore: a client's connection to the scheduler, shared by the Python Client and the C++
// tegu::Client. It sends graphs and key releases, proxies gather/scatter/run/who_has through
// the scheduler, and follows the state of every key the client wants (in memory, erred, lost)
// as the scheduler reports it: callers wait on a key, or read the stream of key events.
//
// Thread-safety: every method may be called from any thread; blocking calls wait on the
// scheduler's answer without holding internal locks (release the GIL around them).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tegu/distributed/payload.hpp"
#include "tegu/key.hpp"
#include "tegu/net/transport.hpp"
#include "tegu/result.hpp"

namespace tegu::distributed {

/// A task as a client submits it.
struct TaskToSubmit {
  Key key;
  std::vector<Key> dependencies;  ///< in the order the run spec refers to them
  int32_t priority = 0;
  uint32_t retries = 0;
  std::vector<std::string> workers;  ///< restrict to these worker addresses
  bool allow_other_workers = false;
  Payload spec;  ///< empty kind: a key that only names data (no run spec)
};

/// What happened to a wanted key.
struct KeyEvent {
  enum class Kind : uint8_t { kMemory, kErred, kLost };
  Kind kind = Kind::kMemory;
  Key key;
  std::string error_kind;  ///< kErred: "task-raised", "killed-worker", ...
  Payload error;           ///< kErred: the error payload (text first)
};

enum class KeyStatus : uint8_t { kPending, kMemory, kErred, kUnknown };

struct GatherResult {
  std::vector<std::pair<Key, Payload>> values;
  std::vector<Key> missing;  ///< not in memory on any reachable worker
};

struct RemoteWorker {
  std::string address;
  std::string name;
  uint32_t nthreads = 0;
  uint64_t memory_limit = 0;
  uint64_t processing = 0;
  std::vector<Key> keys;  ///< has_what, when asked for
};

struct ClusterInfo {
  std::string scheduler_address;
  std::vector<RemoteWorker> workers;
};

struct RunResult {
  std::string worker;
  bool ok = false;
  Payload payload;  ///< the value, or an error payload
};

class ClientCore {
 public:
  static Result<std::shared_ptr<ClientCore>> Connect(const std::string& address,
                                                     const std::string& secret,
                                                     std::chrono::milliseconds timeout =
                                                         std::chrono::seconds(10),
                                                     const net::TransportOptions& transport = {});
  ~ClientCore();

  uint32_t id() const;
  const std::string& scheduler_address() const;

  /// Submits tasks and marks `wanted` as wanted by this client.
  Status UpdateGraph(std::vector<TaskToSubmit> tasks, std::vector<Key> wanted);
  /// This client no longer wants these keys.
  Status ReleaseKeys(std::vector<Key> keys);

  /// The scheduler computes these keys even when no client wants them (Dask fire_and_forget).
  Status FireAndForget(std::vector<Key> keys);

  /// The status of a key this client wants.
  KeyStatus StatusOf(const Key& key);
  /// Waits until `key` is in memory or erred (or the timeout passes: kPending).
  KeyStatus WaitKey(const Key& key, std::optional<std::chrono::milliseconds> timeout);
  /// The error of an erred key.
  std::optional<KeyEvent> ErrorOf(const Key& key);
  /// Key events in arrival order; waits up to `timeout` for the first. Empty after Close().
  std::vector<KeyEvent> NextEvents(std::chrono::milliseconds timeout);
  /// Whether NextEvents is used; events are not queued otherwise.
  void EnableEvents(bool enabled);

  Result<GatherResult> Gather(std::vector<Key> keys);
  /// Places values on workers; returns the keys placed.
  Result<std::vector<Key>> Scatter(std::vector<std::pair<Key, Payload>> values, bool broadcast,
                                   std::vector<std::string> workers);
  Result<std::vector<RunResult>> Run(Payload function, std::vector<std::string> workers);
  Result<std::vector<std::pair<Key, std::vector<std::string>>>> WhoHas(std::vector<Key> keys);
  Result<ClusterInfo> Info(bool with_keys);
  /// The scheduler's state of each key ("memory", "processing", "forgotten", ...).
  Result<std::vector<std::string>> TaskStates(std::vector<Key> keys);
  /// Asks the scheduler process to shut down.
  Status ShutdownScheduler();

  void Close();
  bool is_closed();

  struct Impl;

 private:
  explicit ClientCore(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace tegu::distributed
