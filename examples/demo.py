"""Tegu demo: a graph of tens of thousands of Python and native tasks on the threaded scheduler.

Native half: squares of 0..N-1 with the registered C++ function ``tegu.square``, summed by a
tree of ``tegu.add`` tasks — these run without the GIL. Python half: the Collatz stopping time of
1..N with a Python function, reduced to the longest one by a tree of Python ``max`` tasks. A
final Python task combines both. The answer is checked against plain Python.
"""
import argparse
import time

import tegu
from tegu.diagnostics import ProgressBar


def collatz_steps(n: int) -> int:
    steps = 0
    while n != 1:
        n = n // 2 if n % 2 == 0 else 3 * n + 1
        steps += 1
    return steps


def longest(a, b):
    return max(a, b)


def report(sum_of_squares, longest_collatz):
    return {"sum_of_squares": sum_of_squares, "longest_collatz": longest_collatz}


def tree_reduce(combine, items):
    while len(items) > 1:
        paired = [combine(items[i], items[i + 1]) for i in range(0, len(items) - 1, 2)]
        if len(items) % 2:
            paired.append(items[-1])
        items = paired
    return items[0]


def build(n):
    square = tegu.delayed(tegu.native("tegu.square"))
    add = tegu.delayed(tegu.native("tegu.add"))
    native_total = tree_reduce(add, [square(i) for i in range(n)])
    steps = tegu.delayed(collatz_steps)
    python_best = tree_reduce(tegu.delayed(longest), [steps(i) for i in range(1, n + 1)])
    return tegu.delayed(report)(native_total, python_best)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=20_000, help="items per half (default 20000)")
    args = parser.parse_args()

    start = time.perf_counter()
    result_delayed = build(args.n)
    built = time.perf_counter()
    n_tasks = len(result_delayed.dask)
    print(f"Built a graph of {n_tasks:,} tasks ({args.n:,} native + {args.n:,} Python leaves "
          f"and their reductions) in {built - start:.2f} s")
    with ProgressBar():
        result = result_delayed.compute(scheduler="threads")
    done = time.perf_counter()
    print(f"Result: {result}")
    print(f"Computed with the threaded scheduler ({tegu._tegu.default_thread_count()} threads) "
          f"in {done - built:.2f} s")

    expected = report(sum(i * i for i in range(args.n)),
                      max(collatz_steps(i) for i in range(1, args.n + 1)))
    if result != expected:
        raise SystemExit(f"wrong answer: expected {expected}")
    print("Checked against plain Python: correct.")


if __name__ == "__main__":
    main()
