// SchedulerService: the scheduler process's I/O shell around the sans-IO SchedulerState. It
// listens for workers and clients, turns their ops (codec.hpp, docs/protocol.md) into
// events, sends the resulting actions as batched ops, keeps the run specs and errors the state
// machine names by handle, runs the periodic Tick (heartbeat timeouts, stealing), and proxies
// a client's gather, scatter and run to the workers over their existing connections.
//
// Everything but Start/Close/Wait/address runs on its one I/O thread, so the state machine
// and the tables here need no locks (DESIGN.md: one thread owns a state machine).
//
// Thread-safety: Start, Close, Wait, address and Snapshot may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tegu/net/transport.hpp"
#include "tegu/result.hpp"
#include "tegu/scheduler/scheduler_state.hpp"

namespace tegu::distributed {

struct SchedulerServiceOptions {
  /// "tcp://HOST:PORT" (port 0 picks one) or "unix:///path".
  std::string address = "tcp://127.0.0.1:0";
  /// The cluster's secret; every peer must prove it holds it.
  std::string secret;
  scheduler::SchedulerOptions state;
  /// How often Tick runs (heartbeat timeouts, work stealing).
  std::chrono::milliseconds tick_interval{100};
  /// TLS for a "tls://" address (certificate, key, CA; mutual TLS when the CA is set).
  net::TransportOptions transport;

  /// The scheduler knobs from tegu.config, under Dask's names: distributed.scheduler.
  /// worker-saturation (a number or "inf"), allowed-failures (deaths a task survives; it fails
  /// with KilledWorker on the next), worker-ttl (seconds, or "300s" / "5 minutes"),
  /// work-stealing, bandwidth (bytes/s), and Tegu's queuing-latency (seconds or "2ms"; see
  /// SchedulerOptions::queuing_latency). A malformed value is an Invalid status naming the key.
  static Result<SchedulerServiceOptions> FromConfig();
};

/// What the scheduler knows about one worker (Dask's scheduler_info()["workers"]).
struct WorkerInfo {
  scheduler::WorkerId id = 0;
  std::string address;
  std::string name;
  uint32_t nthreads = 0;
  uint64_t memory_limit = 0;
  size_t processing = 0;
};

struct SchedulerSnapshot {
  std::vector<WorkerInfo> workers;
  size_t clients = 0;
  size_t tasks = 0;
};

class SchedulerService {
 public:
  static Result<std::unique_ptr<SchedulerService>> Start(SchedulerServiceOptions options);
  ~SchedulerService();  // closes

  /// The bound address, with the actual port.
  const std::string& address() const;
  /// Stops listening and closes every connection.
  void Close();
  /// Blocks until Close() (or a "close" op from a client).
  void Wait();
  /// A consistent copy of the scheduler's workers and counts.
  SchedulerSnapshot Snapshot();
  /// Bytes of state-machine memory per task (for the benchmark), measured on the I/O thread.
  size_t BytesPerTask();

  struct Impl;

 private:
  explicit SchedulerService(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tegu::distributed
