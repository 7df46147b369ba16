"""Task-overhead benchmark: Tegu vs Dask on trivial Python tasks.

Workloads (N tasks, N = 100_000, --quick: 5_000):
  independent  N tasks inc(i), computed together with compute(*tasks)
  chain        x = inc(x) repeated N times
  tree         N leaves inc(i), reduced pairwise with add until one remains
For each (system, workload, scheduler) the graph construction ("build") and the
compute call ("compute") are timed separately, on a fresh graph each repeat;
the best of the repeats is kept. Every answer is checked against the known
value, so Tegu and Dask must agree; a wrong answer raises AssertionError.
A run that fails (an exception, or still running after --budget seconds) is
reported as an error instead. Progress goes to stderr; the table and then one
JSON object (the last line) go to stdout.
"""
import argparse
import gc
import importlib
import json
import os
import platform
import sys
import time
from collections import namedtuple

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness import OverBudget, log, time_budget  # noqa: E402  (bench/harness.py)

SCHEDULERS = ("sync", "threads")
PHASES = ("build", "compute", "total")

System = namedtuple("System", "name delayed compute version")
Workload = namedtuple("Workload", "build tasks expected")


def inc(x):
    return x + 1


def add(x, y):
    return x + y


def build_independent(delayed, n):
    d_inc = delayed(inc)
    return [d_inc(i) for i in range(n)]


def build_chain(delayed, n):
    d_inc = delayed(inc)
    x = 0
    for _ in range(n):
        x = d_inc(x)
    return [x]


def build_tree(delayed, n):
    d_add = delayed(add)
    level = build_independent(delayed, n)
    while len(level) > 1:
        pairs = [d_add(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        level = pairs + level[len(pairs) * 2:]
    return level


WORKLOADS = {
    "independent": Workload(build_independent, lambda n: n, lambda n: tuple(range(1, n + 1))),
    "chain": Workload(build_chain, lambda n: n, lambda n: (n,)),
    "tree": Workload(build_tree, lambda n: 2 * n - 1, lambda n: (n * (n + 1) // 2,)),
}


def load_systems(dask_only):
    import dask
    systems = [System("dask", dask.delayed, dask.compute, dask.__version__)]
    if not dask_only:
        import tegu
        systems.insert(0, System("tegu", tegu.delayed, tegu.compute,
                                 getattr(tegu, "__version__", "unknown")))
    return systems


def timed_run(system, workload, n, scheduler, budget):
    """Build and compute once; returns (build_s, compute_s, result)."""
    phase, t0, t1 = "build", None, None
    try:
        with time_budget(budget):
            t0 = time.perf_counter()
            objs = workload.build(system.delayed, n)
            t1 = time.perf_counter()
            phase = "compute"
            result = system.compute(*objs, scheduler=scheduler)
            t2 = time.perf_counter()
    except OverBudget:
        raise OverBudget(phase, budget, None if t1 is None else t1 - t0) from None
    return t1 - t0, t2 - t1, result


def check_answer(got, expected, label):
    if got != expected:
        i = next((i for i, (a, b) in enumerate(zip(got, expected)) if a != b),
                 min(len(got), len(expected)))
        raise AssertionError(
            f"{label}: wrong answer: {len(got)} values (expected {len(expected)}), first "
            f"difference at [{i}]: {got[i:i + 1]} (expected {expected[i:i + 1]})")


def time_case(system, name, scheduler, n, args):
    """Best-of-repeats timings of one (system, workload, scheduler)."""
    workload = WORKLOADS[name]
    tasks, expected = workload.tasks(n), workload.expected(n)
    best = dict.fromkeys(PHASES, float("inf"))
    runs = 0
    while runs < args.repeats:
        gc.collect()
        build_s, compute_s, result = timed_run(system, workload, n, scheduler, args.budget)
        check_answer(tuple(result), expected, f"{system.name} {name}/{scheduler}")
        del result
        runs += 1
        for phase, secs in zip(PHASES, (build_s, compute_s, build_s + compute_s)):
            best[phase] = min(best[phase], secs)
        if build_s + compute_s > args.slow:
            break  # one run this slow is enough
    entry = {"tasks": tasks, "repeats": runs}
    for phase in PHASES:
        entry[f"{phase}_s"] = best[phase]
        entry[f"{phase}_us_per_task"] = best[phase] * 1e6 / tasks
    return entry


def run_python_tasks(systems, n, args):
    results = {}
    for system in systems:
        results[system.name] = {}
        for name in WORKLOADS:
            per_sched = results[system.name][name] = {}
            for i, scheduler in enumerate(SCHEDULERS):
                log(f"[{system.name}] {name} / {scheduler} ...")
                try:
                    entry = time_case(system, name, scheduler, n, args)
                except AssertionError:
                    raise
                except OverBudget as exc:
                    phase, budget, build_s = exc.args
                    tasks = WORKLOADS[name].tasks(n)
                    entry = {"error": f"OverBudget: run over {budget:g} s, stopped during {phase} "
                                      f"(total > {budget * 1e6 / tasks:.0f} us/task)",
                             "over_budget": phase, "budget_s": budget}
                    if build_s is not None:  # the build finished: keep its figure
                        entry.update(build_s=build_s, build_us_per_task=build_s * 1e6 / tasks)
                except Exception as exc:  # reported, not fatal
                    entry = {"error": f"{type(exc).__name__}: {str(exc)[:500]}"}
                per_sched[scheduler] = entry
                log("    " + (entry.get("error") or "build {build_us_per_task:.2f}, compute {"
                             "compute_us_per_task:.2f} us/task ({repeats} runs)".format(**entry)))
                if entry.get("over_budget") == "build":
                    # building does not depend on the scheduler: skip the others
                    for other in SCHEDULERS[i + 1:]:
                        per_sched[other] = dict(entry)
                    break
    return results


def compute_ratios(results):
    ratios = {}
    for name in WORKLOADS:
        for scheduler in SCHEDULERS:
            tegu = results.get("tegu", {}).get(name, {}).get(scheduler, {})
            dask = results.get("dask", {}).get(name, {}).get(scheduler, {})
            if "tasks" in tegu and "tasks" in dask:
                ratios.setdefault(name, {})[scheduler] = {
                    p: dask[f"{p}_s"] / tegu[f"{p}_s"] if tegu[f"{p}_s"] > 0 else None
                    for p in PHASES}
            elif "tasks" in tegu and "over_budget" in dask:  # Dask stopped: a bound
                r = {"total_at_least": dask["budget_s"] / tegu["total_s"]}
                if "build_s" in dask:
                    r["build"] = dask["build_s"] / tegu["build_s"]
                    # Dask's compute ran for at least the rest of the budget.
                    r["compute_at_least"] = (dask["budget_s"] - dask["build_s"]) / tegu["compute_s"]
                ratios.setdefault(name, {})[scheduler] = r
    return ratios


def run_native(n, repeats):
    try:
        fn = importlib.import_module("tegu._tegu")._native_task_benchmark
    except (ImportError, AttributeError) as exc:
        return {s: {"error": f"{type(exc).__name__}: {exc}"} for s in SCHEDULERS}
    native = {}
    for scheduler in SCHEDULERS:
        log(f"[tegu native] {n} tasks / {scheduler} ...")
        try:
            runs = [fn(n, scheduler) for _ in range(repeats)]
            best = min(runs, key=lambda r: r["seconds"] / r["tasks"])
            native[scheduler] = {"tasks": best["tasks"], "seconds": best["seconds"],
                                 "us_per_task": best["seconds"] * 1e6 / best["tasks"],
                                 "build_us_per_task": best["build_seconds"] * 1e6 / best["tasks"],
                                 "execute_us_per_task":
                                     best["execute_seconds"] * 1e6 / best["tasks"]}
        except Exception as exc:
            native[scheduler] = {"error": f"{type(exc).__name__}: {str(exc)[:500]}"}
    return native


def fmt(x, suffix=""):
    return "-" if x is None else f"{x:.2f}{suffix}"


def print_table(results, ratios, native, n):
    systems = list(results)
    head = f"{'workload':<12} {'phase':<8} {'sched':<8}" + "".join(
        f" {s + ' us/task':>15}" for s in systems) + (
        f" {'dask/tegu':>10}" if len(systems) > 1 else "")
    print(f"\nTask overhead, N = {n} (microseconds per task, best of repeats)")
    print(head + "\n" + "-" * len(head))
    errors = []
    for name in WORKLOADS:
        for phase in PHASES:
            for sched in SCHEDULERS:
                row = f"{name:<12} {phase:<8} {sched:<8}"
                for s in systems:
                    e = results[s][name][sched]
                    if "error" in e:
                        errors.append(f"{s} {name}/{sched}: {e['error']}")
                    cell = e.get(f"{phase}_us_per_task")
                    text = fmt(cell) if cell is not None else (
                        "TIMEOUT" if "over_budget" in e else "ERROR")
                    row += f" {text:>15}"
                if len(systems) > 1:
                    r = ratios.get(name, {}).get(sched, {})
                    text = fmt(r.get(phase), "x")
                    if phase in ("total", "compute") and f"{phase}_at_least" in r:
                        text = f">{r[phase + '_at_least']:.0f}x"
                    row += f" {text:>10}"
                print(row)
    for err in dict.fromkeys(errors):
        print("error: " + err)
    for sched, e in (native or {}).items():
        print(f"native C++ tasks, {sched:<8}: " + (
            e["error"] if "error" in e else
            f"{e['us_per_task']:.4f} us/task ({e['tasks']} tasks in {e['seconds']:.3f} s; "
            f"graph construction {e['build_us_per_task']:.4f}, "
            f"optimise+order+execute {e['execute_us_per_task']:.4f} us/task)"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    ap.add_argument("--dask-only", action="store_true", help="skip Tegu (development)")
    ap.add_argument("--n", type=int, help="number of tasks (default 100000, quick 5000)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--slow", type=float, default=20.0,
                    help="stop repeating after a run slower than this many seconds")
    ap.add_argument("--budget", type=float, default=120.0,
                    help="abandon a run (build + compute) after this many seconds")
    args = ap.parse_args()
    n = args.n or (5_000 if args.quick else 100_000)
    native_n = 50_000 if args.quick else 1_000_000

    systems = load_systems(args.dask_only)
    results = run_python_tasks(systems, n, args)
    ratios = compute_ratios(results)
    native = None if args.dask_only else run_native(native_n, args.repeats)
    print_table(results, ratios, native, n)

    versions = {s.name: s.version for s in systems}
    report = {
        "benchmark": "task_overhead", "n": n, "quick": args.quick,
        "results": results, "ratios": ratios,
        "native_n": native_n if native else None,
        "native_us_per_task": {s: e.get("us_per_task") for s, e in (native or {}).items()},
        "native": native,
        "machine": {"cores": os.cpu_count(), "usable_cores": len(os.sched_getaffinity(0)),
                    "python": platform.python_version(), "platform": platform.platform(),
                    "machine": platform.machine()},
        "dask_version": versions.get("dask"), "tegu_version": versions.get("tegu"),
    }
    print(json.dumps(report), flush=True)
    tegu_entries = [e for w in results.get("tegu", {}).values() for e in w.values()]
    return 1 if any("error" in e for e in tegu_entries + list((native or {}).values())) else 0


if __name__ == "__main__":
    sys.exit(main())
