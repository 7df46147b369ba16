// WorkerService: a worker process's I/O shell around the sans-IO WorkerState. It connects to
// the scheduler, registers, and turns the scheduler's ops into state-machine events; it runs
// the instructions: Execute on its executor threads (through the TaskRunner of the run spec's
// kind), GatherDep as a get-data request to the peer worker holding the data, messages to the
// scheduler as batched ops. It keeps the data store (values by key; values that came over the
// network stay payloads until a task uses them) and serves it to peers on its own listener.
//
// Threads: one I/O thread owns the state machine, the store and the connections; executor
// threads only run tasks and post their outcome back. A task that secedes (long-running)
// frees its slot: another executor thread is started so `nthreads` tasks can still run.
//
// Thread-safety: Start, Close, Wait and the accessors may be called from any thread. Secede,
// Rejoin and CurrentTask are for code running inside a task on an executor thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "tegu/key.hpp"
#include "tegu/net/transport.hpp"
#include "tegu/result.hpp"

namespace tegu::distributed {

struct WorkerServiceOptions {
  /// The scheduler to join.
  std::string scheduler_address;
  std::string secret;
  /// Where this worker listens for its peers ("tcp://HOST:0" picks a port).
  std::string listen_address = "tcp://127.0.0.1:0";
  std::string name;
  int nthreads = 1;
  /// Bytes; 0 = no limit. Above 80% of it the worker pauses (takes no new tasks).
  uint64_t memory_limit = 0;
  std::chrono::milliseconds heartbeat_interval{1000};
  std::chrono::milliseconds connect_timeout{10000};
  /// TLS for "tls://" addresses: this worker's listener, and its connections to the scheduler
  /// and to peers (all of a TLS cluster's addresses are tls://).
  net::TransportOptions transport;
};

class WorkerService {
 public:
  /// Connects, registers and starts serving. Fails when the scheduler cannot be reached or
  /// refuses the worker.
  static Result<std::unique_ptr<WorkerService>> Start(WorkerServiceOptions options);
  ~WorkerService();  // closes

  /// This worker's own (peer) address.
  const std::string& address() const;
  const std::string& scheduler_address() const;
  const std::string& name() const;
  int nthreads() const;
  /// The cluster's secret (tasks that open their own client use it).
  const std::string& secret() const;
  /// Closes the connections; running tasks finish in the background and are dropped.
  void Close();
  /// Blocks until the worker closed (Close(), the scheduler closed, or the connection broke).
  /// The status says why it ended.
  Status Wait();
  /// Keys in the data store now (a consistent copy, taken on the I/O thread).
  size_t data_count();

  struct Impl;

 private:
  explicit WorkerService(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

/// The task running on the calling executor thread, if any.
struct CurrentTaskInfo {
  WorkerService* worker = nullptr;
  Key key;
};
std::optional<CurrentTaskInfo> CurrentTask();
/// The running task leaves the worker's thread pool (Dask `secede`): it no longer counts
/// against nthreads, so tasks it waits for can run. Error outside a task or when seceded.
Status Secede();
/// Waits for a free thread slot and takes it again (Dask `rejoin`).
Status Rejoin();

}  // namespace tegu::distributed
