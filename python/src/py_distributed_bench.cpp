// The native part of bench/distributed_overhead: a graph of native tasks (leaves and a pairwise
// tree reduction) submitted by a C++ client to a scheduler and workers in this process, timed
// from building the graph to holding the result, and the scheduler's memory per task.
#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>

#include <malloc.h>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "errors.hpp"
#include "tegu/distributed/client_core.hpp"
#include "tegu/distributed/payload.hpp"
#include "tegu/distributed/scheduler_service.hpp"
#include "tegu/distributed/worker_service.hpp"
#include "tegu/protocol/handshake.hpp"

namespace nb = nanobind;

namespace tegu::python {

namespace {

using namespace tegu::distributed;

// Leaves ('inc', i) = i + 1 and a pairwise reduction with tegu.add; returns the tasks and the
// final key.
std::vector<TaskToSubmit> TreeGraph(int64_t leaves, Key* final_key) {
  std::vector<TaskToSubmit> tasks;
  tasks.reserve(static_cast<size_t>(2 * leaves));
  std::vector<Key> layer;
  for (int64_t i = 0; i < leaves; ++i) {
    TaskToSubmit t;
    t.key = Key::Tuple({std::string("inc"), i});
    t.spec = EncodeNativeCall("tegu.inc", {Arg::Literal(Value::From(i))}, {}).ValueOrThrow();
    layer.push_back(t.key);
    tasks.push_back(std::move(t));
  }
  int64_t level = 0;
  while (layer.size() > 1) {
    std::vector<Key> next;
    for (size_t i = 0; i + 1 < layer.size(); i += 2) {
      TaskToSubmit t;
      t.key = Key::Tuple({std::string("add"), level, static_cast<int64_t>(i / 2)});
      t.dependencies = {layer[i], layer[i + 1]};
      t.spec = EncodeNativeCall("tegu.add", {Arg::Ref(0), Arg::Ref(1)}, t.dependencies).ValueOrThrow();
      next.push_back(t.key);
      tasks.push_back(std::move(t));
    }
    if (layer.size() % 2) next.push_back(layer.back());
    layer = std::move(next);
    ++level;
  }
  *final_key = layer.front();
  return tasks;
}

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

nb::dict DistributedNativeBenchmark(int64_t leaves, int n_workers, int threads_per_worker,
                                    double worker_saturation, const std::string& transport,
                                    const std::string& parts) {
  const bool timed = parts != "memory", memory = parts != "time";
  nb::dict out;
  double seconds = 0, build_seconds = 0, memory_bytes_per_task = 0;
  size_t tasks = 0, estimate = 0;
  int64_t answer = 0;
  std::string error;
  {
    nb::gil_scoped_release release;
    try {
      std::string secret = protocol::GenerateSecret();
      SchedulerServiceOptions so;
      so.secret = secret;
      so.state.worker_saturation = worker_saturation;
      // Unix sockets: all processes share this host (the issue's "Unix sockets where both
      // ends share a host").
      const std::string dir = "/tmp/tegu-bench-" + std::to_string(getpid());
      if (transport == "unix") {
        std::filesystem::create_directories(dir);
        so.address = "unix://" + dir + "/scheduler.sock";
      }
      // Timed run: submit to result.
      if (timed) {
        auto scheduler = SchedulerService::Start(so).ValueOrThrow();
        std::vector<std::unique_ptr<WorkerService>> workers;
        for (int i = 0; i < n_workers; ++i) {
          WorkerServiceOptions wo;
          wo.scheduler_address = scheduler->address();
          wo.secret = secret;
          wo.nthreads = threads_per_worker;
          if (transport == "unix") wo.listen_address = "unix://" + dir + "/worker" + std::to_string(i) + ".sock";
          workers.push_back(WorkerService::Start(wo).ValueOrThrow());
        }
        auto client = ClientCore::Connect(scheduler->address(), secret).ValueOrThrow();
        auto start = std::chrono::steady_clock::now();
        Key final_key;
        std::vector<TaskToSubmit> graph = TreeGraph(leaves, &final_key);
        tasks = graph.size();
        build_seconds = Seconds(start);
        if (Status st = client->UpdateGraph(std::move(graph), {final_key}); !st.ok()) {
          throw StatusError(st);
        }
        if (client->WaitKey(final_key, std::nullopt) != KeyStatus::kMemory) {
          auto e = client->ErrorOf(final_key);
          throw std::runtime_error("the graph failed: " + (e ? ErrorText(e->error) : "?"));
        }
        GatherResult g = client->Gather({final_key}).ValueOrThrow();
        if (g.values.size() != 1) throw std::runtime_error("the result could not be gathered");
        answer = *Deserialize(g.values[0].second).ValueOrThrow().TryGet<int64_t>();
        seconds = Seconds(start);
      }
      // Memory: the same graph held by a scheduler with no workers (every task waits).
      if (transport == "unix") {
        std::error_code ignored;
        std::filesystem::remove_all(dir, ignored);
        so.address = "tcp://127.0.0.1:0";
      }
      // mallinfo2 counts the main arena only: run this part with MALLOC_ARENA_MAX=1 so that
      // every thread allocates there (bench.py does, in a child process).
      if (memory) {
        auto scheduler = SchedulerService::Start(so).ValueOrThrow();
        auto client = ClientCore::Connect(scheduler->address(), secret).ValueOrThrow();
        Key final_key;
        std::vector<TaskToSubmit> graph = TreeGraph(leaves, &final_key);
        if (Status st = client->UpdateGraph(std::move(graph), {final_key}); !st.ok()) {
          throw StatusError(st);
        }
        const size_t expected_tasks = static_cast<size_t>(2 * leaves - 1);
        while (scheduler->Snapshot().tasks < expected_tasks) {
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        // Let the transport finish with the message buffers before measuring.
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        if (!timed) tasks = scheduler->Snapshot().tasks;
        // The scheduler's share is what destroying it gives back: its tables, the run specs it
        // keeps, its buffers (the client's graph was freed when it was sent).
        const size_t with_scheduler = mallinfo2().uordblks;
        estimate = scheduler->BytesPerTask();
        scheduler.reset();
        const size_t without_scheduler = mallinfo2().uordblks;
        memory_bytes_per_task =
            with_scheduler > without_scheduler
                ? static_cast<double>(with_scheduler - without_scheduler) / static_cast<double>(tasks)
                : 0.0;
      }
    } catch (const std::exception& e) {
      error = e.what();
    }
  }
  if (!error.empty()) throw std::runtime_error(error);
  out["tasks"] = tasks;
  out["seconds"] = seconds;
  out["build_seconds"] = build_seconds;
  out["us_per_task"] = timed ? seconds * 1e6 / static_cast<double>(tasks) : 0.0;
  out["scheduler_bytes_per_task"] = memory_bytes_per_task;
  out["state_bytes_per_task"] = estimate;
  out["answer"] = answer;
  out["expected"] = leaves * (leaves + 1) / 2;
  return out;
}

}  // namespace

void BindDistributedBenchmark(nb::module_& m) {
  m.def("_distributed_native_benchmark", &DistributedNativeBenchmark, nb::arg("leaves"),
        nb::arg("n_workers") = 2, nb::arg("threads_per_worker") = 1,
        nb::arg("worker_saturation") = 1.1, nb::arg("transport") = "tcp",
        nb::arg("parts") = "both");
}

}  // namespace tegu::python
