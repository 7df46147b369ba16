// tegu::delayed from C++: ordinary functions and lambdas become typed lazy tasks; compute()
// runs them on the threaded scheduler and returns typed values.
//
//   ./build/release/examples/delayed_example [graph.svg]
#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

#include "tegu/delayed.hpp"

int64_t Inc(int64_t x) { return x + 1; }

int main(int argc, char** argv) {
  auto inc = tegu::delayed(Inc, "inc");
  auto add = tegu::delayed([](int64_t a, int64_t b) { return a + b; }, "add");
  auto total = tegu::delayed(
      [](std::vector<int64_t> xs) {
        int64_t sum = 0;
        for (int64_t x : xs) sum += x;
        return sum;
      },
      "sum");
  auto describe = tegu::delayed(
      [](int64_t sum, int64_t pair) {
        return "sum of 1..1000 = " + std::to_string(sum) + ", inc(1) + inc(2) = " +
               std::to_string(pair);
      },
      "describe");

  std::vector<tegu::Delayed<int64_t>> parts;
  for (int64_t i = 0; i < 1000; ++i) parts.push_back(inc(i));
  tegu::Delayed<int64_t> sum = total(parts);
  tegu::Delayed<int64_t> pair = add(inc(1), inc(2));
  tegu::Delayed<std::string> text = describe(sum, pair);

  // Several values computed together share their work; structured bindings unpack them.
  auto [s, p, t] = tegu::compute(sum, pair, text);
  std::cout << t << "\n";

  // The synchronous scheduler runs everything on this thread (handy in a debugger).
  tegu::ComputeOptions sync;
  sync.scheduler = tegu::SchedulerKind::kSync;
  std::cout << "sync scheduler agrees: " << (pair.Compute(sync) == p && s == 500500) << "\n";

  // A task's exception comes back as itself.
  auto fail = tegu::delayed([](int64_t) -> int64_t { throw std::invalid_argument("bad input"); },
                            "fail");
  try {
    tegu::compute(fail(1));
  } catch (const std::invalid_argument& e) {
    std::cout << "caught from a task: " << e.what() << "\n";
  }

  if (argc > 1) {
    tegu::Status st = tegu::visualize(argv[1], pair);
    std::cout << (st.ok() ? "wrote " + std::string(argv[1]) : st.ToString()) << "\n";
  }
  return 0;
}
