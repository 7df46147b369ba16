// tegu::Client on a tegu::LocalCluster: submit and map registered native functions, chain
// Futures, gather results — Dask's distributed model from C++.
//
//   ./build/release/examples/distributed_example
//
// The same program can join a cluster started elsewhere as a worker, with every function it
// registers available to the cluster's tasks:
//
//   tegu scheduler --secret-file F        # prints its address; writes the secret to F
//   ./build/release/examples/distributed_example worker tcp://127.0.0.1:8786 --secret-file F
#include <algorithm>
#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

#include "tegu/distributed.hpp"
#include "tegu/native.hpp"

// Steps of the Collatz sequence from n down to 1.
int64_t collatz_steps(int64_t n) {
  int64_t steps = 0;
  while (n != 1) {
    n = n % 2 == 0 ? n / 2 : 3 * n + 1;
    ++steps;
  }
  return steps;
}
// The index of the largest element.
int64_t argmax(std::vector<int64_t> xs) {
  return std::max_element(xs.begin(), xs.end()) - xs.begin();
}
// Registered under their own names: tasks on any worker of this program find them by name.
TEGU_REGISTER(collatz_steps);
TEGU_REGISTER(argmax);

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "worker") return tegu::RunWorker(argc - 1, argv + 1);

  tegu::LocalCluster cluster({.n_workers = 2, .threads_per_worker = 2});
  tegu::Client client(cluster);
  std::cout << "cluster at " << cluster.scheduler_address() << " with " << client.WorkerCount()
            << " workers\n";

  // A chain: b depends on a; the scheduler runs a first, wherever it likes.
  tegu::Future<int64_t> a = client.submit<int64_t>("tegu.inc", 1);
  tegu::Future<int64_t> b = client.submit<int64_t>("tegu.add", a, 10);
  std::cout << "inc(1) + 10 = " << b.result() << "  (key " << b.key().ToString() << ")\n";

  // map: one task per element, sent in one message; gather: all values in one request.
  std::vector<int64_t> ns;
  for (int64_t n = 1; n < 1000; ++n) ns.push_back(n);
  std::vector<tegu::Future<int64_t>> steps = client.map<int64_t>("collatz_steps", ns);
  std::vector<int64_t> values = client.gather(steps);
  int64_t total = 0;
  for (int64_t v : values) total += v;

  // A list of Futures as an argument: the task gets their values as a std::vector.
  tegu::Future<int64_t> sum = client.submit<int64_t>("tegu.sum", steps);
  int64_t best = client.submit<int64_t>("argmax", steps).result();
  std::cout << "Collatz steps for 1..999: total " << sum.result() << " (gathered: " << total
            << "), longest chain " << values[best] << " steps from n = " << ns[best] << "\n";

  // A failing task raises in the caller with the remote error.
  try {
    client.submit<int64_t>("tegu.fail", std::string("no luck")).result();
  } catch (const tegu::TaskFailed& e) {
    std::cout << "task failed (" << e.kind() << "): " << e.what() << "\n";
  }
  return 0;
}
