// A program outside the Tegu tree that finds the installed library with find_package(Tegu).
#include <cstdint>
#include <iostream>
#include <vector>

#include "tegu/delayed.hpp"

int main() {
  auto square = tegu::delayed([](int64_t x) { return x; }, "identity");
  auto total = tegu::delayed(
      [](std::vector<int64_t> xs) {
        int64_t s = 0;
        for (int64_t x : xs) s += x;
        return s;
      },
      "sum");
  std::vector<tegu::Delayed<int64_t>> parts;
  for (int64_t i = 1; i <= 100; ++i) parts.push_back(square(i));
  std::cout << "sum=" << tegu::compute(total(parts)) << "\n";
  return 0;
}
