"""Distributed-overhead benchmark: Tegu's distributed runtime vs dask.distributed.

Both run LocalCluster(n_workers=2, threads_per_worker=1) with worker processes, on the
same machine, in this one run. Workloads (N = 100_000 tasks, --quick: 2_000):
  map      client.map(inc, range(N)) then client.gather of all N futures
  delayed  a Delayed graph of N tasks (N/2 leaves inc(i), reduced pairwise with add),
           client.compute(total).result()
  native   (Tegu only) 1M native C++ tasks (leaves + pairwise tree reduction) from building
           the graph in a C++ client to holding the result, 2 in-process workers over Unix
           sockets, with root-task queuing (worker-saturation 1.1, the default) and without
           (inf); and the scheduler's memory per task for the same graph held unscheduled
           (mallinfo2 delta over the scheduler's tables, run specs and buffers).
Cluster start-up is not timed. Every answer is checked. A run still going after --budget
seconds is abandoned and reported as a lower bound. Progress goes to stderr; a table and
then one JSON object (the last line) go to stdout.
"""
import argparse
import json
import os
import platform
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness import OverBudget, log, time_budget  # noqa: E402  (bench/harness.py)


def inc(x):
    return x + 1


def add(x, y):
    return x + y


def tree(delayed, n_leaves):
    layer = [delayed(inc)(i) for i in range(n_leaves)]
    while len(layer) > 1:
        nxt = [delayed(add)(layer[i], layer[i + 1]) for i in range(0, len(layer) - 1, 2)]
        if len(layer) % 2:
            nxt.append(layer[-1])
        layer = nxt
    return layer[0]


def tasks_in_tree(n_leaves):
    total, layer = n_leaves, n_leaves
    while layer > 1:
        total += layer // 2
        layer = layer // 2 + layer % 2
    return total


def run_map(client, n):
    start = time.perf_counter()
    futures = client.map(inc, range(n))
    results = client.gather(futures)
    seconds = time.perf_counter() - start
    assert sum(results) == n * (n + 1) // 2, "wrong answer from map"
    del futures
    return seconds


def run_delayed(client, delayed, n_leaves):
    start = time.perf_counter()
    total = tree(delayed, n_leaves)
    future = client.compute(total)
    value = future.result()
    seconds = time.perf_counter() - start
    assert value == n_leaves * (n_leaves + 1) // 2, "wrong answer from the delayed graph"
    del future
    return seconds


def measure(name, fn, tasks, budget):
    log(f"  {name}: {tasks} tasks ...")
    try:
        with time_budget(budget):
            seconds = fn()
        entry = {"tasks": tasks, "seconds": seconds, "us_per_task": seconds * 1e6 / tasks}
        log(f"    {entry['us_per_task']:.1f} us/task ({seconds:.2f} s)")
    except OverBudget:
        entry = {"tasks": tasks, "error": f"over budget ({budget:.0f} s)",
                 "lower_bound_us_per_task": budget * 1e6 / tasks}
        log(f"    over budget ({budget:.0f} s)")
    except Exception as exc:  # reported, not hidden: the JSON says what failed
        entry = {"tasks": tasks, "error": f"{type(exc).__name__}: {str(exc)[:300]}"}
        log(f"    error: {entry['error']}")
    return entry


def run_system(name, args, n):
    if name == "tegu":
        import tegu
        from tegu.distributed import Client, LocalCluster
        delayed, version = tegu.delayed, tegu.__version__
    else:
        import dask
        from dask.distributed import Client, LocalCluster
        delayed, version = dask.delayed, dask.__version__
    log(f"[{name} {version}] starting LocalCluster(n_workers=2, threads_per_worker=1)")
    results = {"version": version}
    kwargs = {"n_workers": 2, "threads_per_worker": 1, "processes": True}
    if name == "dask":
        kwargs.update(dashboard_address=None)
    with LocalCluster(**kwargs) as cluster, Client(cluster) as client:
        results["map"] = measure(f"{name} map", lambda: run_map(client, n), n, args.budget)
        leaves = n // 2
        results["delayed"] = measure(f"{name} delayed", lambda: run_delayed(client, delayed, leaves),
                                     tasks_in_tree(leaves), args.budget)
    return results


def native_memory(leaves):
    """The scheduler's memory per task for the native graph, in a child process with
    MALLOC_ARENA_MAX=1 (mallinfo2 counts the main arena only; this puts every thread there)."""
    import subprocess
    code = ("import json; from tegu import _tegu; "
            f"r = _tegu._distributed_native_benchmark({leaves}, 2, 1, 1.1, 'tcp', 'memory'); "
            "print(json.dumps(dict(r)))")
    env = dict(os.environ, MALLOC_ARENA_MAX="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_native(leaves):
    """The native graph twice: with Dask's default root-task queuing (worker-saturation 1.1,
    plus Tegu's queuing-latency) and with queuing off (worker-saturation inf), both over Unix
    sockets; then the scheduler's memory per task."""
    from tegu import _tegu
    out = {}
    for name, saturation in (("queuing", 1.1), ("no_queuing", float("inf"))):
        log(f"[tegu native, worker-saturation {saturation}] {tasks_in_tree(leaves)} tasks ...")
        try:
            r = dict(_tegu._distributed_native_benchmark(leaves, 2, 1, saturation, "unix", "time"))
            assert r["answer"] == r["expected"], "wrong answer from the native graph"
            log(f"    {r['us_per_task']:.1f} us/task")
            out[name] = r
        except Exception as exc:
            out[name] = {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}
    log(f"[tegu native] scheduler memory for {tasks_in_tree(leaves)} tasks ...")
    try:
        m = native_memory(leaves)
        log(f"    {m['scheduler_bytes_per_task']:.0f} B/task (state machine estimate "
            f"{m['state_bytes_per_task']} B/task)")
        out["memory"] = {"tasks": m["tasks"], "scheduler_bytes_per_task": m["scheduler_bytes_per_task"],
                         "state_bytes_per_task": m["state_bytes_per_task"]}
    except Exception as exc:
        out["memory"] = {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    ap.add_argument("--dask-only", action="store_true", help="skip Tegu (development)")
    ap.add_argument("--n", type=int, help="tasks per Python workload (default 100000)")
    ap.add_argument("--native-leaves", type=int, help="leaves of the native graph (default 500000)")
    ap.add_argument("--budget", type=float, default=600.0,
                    help="abandon a workload after this many seconds")
    args = ap.parse_args()
    n = args.n or (2_000 if args.quick else 100_000)
    native_leaves = args.native_leaves or (20_000 if args.quick else 500_000)

    systems = ["dask"] if args.dask_only else ["tegu", "dask"]
    results = {s: run_system(s, args, n) for s in systems}
    native = None if args.dask_only else run_native(native_leaves)

    ratios = {}
    if "tegu" in results:
        for w in ("map", "delayed"):
            t, d = results["tegu"].get(w, {}), results["dask"].get(w, {})
            if "us_per_task" in t and "us_per_task" in d:
                ratios[w] = d["us_per_task"] / t["us_per_task"]
            elif "us_per_task" in t and "lower_bound_us_per_task" in d:
                ratios[w] = {"at_least": d["lower_bound_us_per_task"] / t["us_per_task"]}

    print(f"\ndistributed overhead, LocalCluster(n_workers=2, threads_per_worker=1), N={n}")
    for w in ("map", "delayed"):
        cells = []
        for s in systems:
            e = results[s].get(w, {})
            cells.append(f"{s} " + (f"{e['us_per_task']:.1f} us/task" if "us_per_task" in e
                                    else e.get("error", "?")))
        r = ratios.get(w)
        ratio = (f"{r:.1f}x" if isinstance(r, float) else
                 f">= {r['at_least']:.1f}x" if isinstance(r, dict) else "n/a")
        print(f"{w:<8} " + " | ".join(cells) + f" | Tegu faster by {ratio}")
    for name, e in (native or {}).items():
        if "error" in e:
            print(f"native ({name}) {e['error']}")
        elif name == "memory":
            print(f"native scheduler memory: {e['scheduler_bytes_per_task']:.0f} B/task over "
                  f"{e['tasks']} tasks (state machine estimate {e['state_bytes_per_task']} B/task)")
        else:
            print(f"native ({name}) {e['us_per_task']:.2f} us/task over {e['tasks']} tasks "
                  f"(graph construction {e['build_seconds']:.2f} s)")
    report = {
        "benchmark": "distributed_overhead", "n": n, "quick": args.quick,
        "results": results, "ratios": ratios, "native": native,
        "machine": {"cores": os.cpu_count(), "usable_cores": len(os.sched_getaffinity(0)),
                    "python": platform.python_version(), "platform": platform.platform()},
    }
    print(json.dumps(report), flush=True)
    failed = [w for s in results.values() for w in s.values()
              if isinstance(w, dict) and "error" in w and s is results.get("tegu")]
    return 1 if failed or any("error" in e for e in (native or {}).values()) else 0


if __name__ == "__main__":
    sys.exit(main())
