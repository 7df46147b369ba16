"""LocalCluster: a scheduler in this process and workers as subprocesses (or threads)."""
from __future__ import annotations

import atexit
import math
import os
import weakref
import subprocess
import sys
import threading
import time

from tegu import _tegu
from tegu.distributed.registry import _register_secret

__all__ = ["LocalCluster", "parse_bytes", "nprocesses_nthreads"]

CPU_COUNT = os.cpu_count() or 1


def _total_memory():
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12, "pb": 10**15,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40, "pib": 2**50,
          "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}


def parse_bytes(s) -> int:
    """'4GB' -> 4000000000, as dask.utils.parse_bytes."""
    if isinstance(s, (int, float)):
        return int(s)
    text = s.replace(" ", "").lower()
    i = len(text)
    while i > 0 and not (text[i - 1].isdigit() or text[i - 1] == "."):
        i -= 1
    number, unit = text[:i] or "1", text[i:]
    if unit not in _UNITS:
        raise ValueError(f"Could not interpret {unit!r} as a byte unit")
    return int(float(number) * _UNITS[unit])


def nprocesses_nthreads(n=CPU_COUNT):
    """Dask's default split of ``n`` cores into worker processes and threads."""
    if n <= 4:
        processes = n
    else:
        processes = min(f for f in range(1, n + 1) if n % f == 0 and f >= math.sqrt(n))
    return processes, n // processes


class _ProcessWorker:
    def __init__(self, proc, name):
        self.proc = proc
        self.name = name

    @property
    def pid(self):
        return self.proc.pid


_clusters: "weakref.WeakSet" = weakref.WeakSet()


class LocalCluster:
    """A scheduler in this process and ``n_workers`` workers, as dask.distributed.LocalCluster.

    Worker processes that die unexpectedly are started again (as Dask's nannies do) while
    ``restart_workers`` is true.
    """

    def __init__(self, n_workers=None, threads_per_worker=None, processes=True,
                 memory_limit="auto", host="127.0.0.1", scheduler_port=0, secret=None,
                 silence_logs=None, dashboard_address=None, asynchronous=False,
                 restart_workers=True, timeout=60, **kwargs):
        if n_workers is None and threads_per_worker is None:
            if processes:
                n_workers, threads_per_worker = nprocesses_nthreads(CPU_COUNT)
            else:
                n_workers, threads_per_worker = 1, CPU_COUNT
        if n_workers is None:
            n_workers = max(1, CPU_COUNT // threads_per_worker)
        if threads_per_worker is None:
            threads_per_worker = max(1, CPU_COUNT // max(n_workers, 1))
        self._n_workers = int(n_workers)
        self._nthreads = int(threads_per_worker)
        self.processes = bool(processes)
        if memory_limit in ("auto", None):
            self._memory_limit = _total_memory() // max(self._n_workers, 1) if memory_limit == "auto" else 0
        else:
            self._memory_limit = parse_bytes(memory_limit) if memory_limit else 0
        self._host = host
        self.secret = secret or _tegu.generate_secret()
        self._timeout = timeout
        self.restart_workers = restart_workers and self.processes
        self._lock = threading.RLock()
        self._closed = False
        self._next_name = 0
        self._workers: dict = {}  # name -> _ProcessWorker or WorkerService
        _clusters.add(self)
        self._scheduler = _tegu.SchedulerService.start(f"tcp://{host}:{scheduler_port}", self.secret)
        self.scheduler_address = self._scheduler.address
        _register_secret(self.scheduler_address, self.secret)
        self._monitor = None
        try:
            for _ in range(self._n_workers):
                self._start_worker()
            self.wait_for_workers(self._n_workers, timeout, _fail_fast=True)
        except BaseException:
            self.close()
            raise
        if self.restart_workers:
            self._monitor = threading.Thread(target=self._watch, name="tegu-cluster-monitor", daemon=True)
            self._monitor.start()

    # --- workers -------------------------------------------------------------------------------
    def _new_name(self):
        name = str(self._next_name)
        self._next_name += 1
        return name

    def _start_worker(self, name=None):
        with self._lock:
            if name is None:
                name = self._new_name()
            if self.processes:
                env = dict(os.environ)
                env["TEGU_SECRET"] = self.secret
                # One hash seed for every worker (as Dask's nannies): a bag's groupby sends an
                # element to the partition hash(key) selects, so str hashes must agree.
                env.setdefault("PYTHONHASHSEED", "6640")
                # `tegu worker` (the C++ command line, with the Python task runner installed).
                cmd = [sys.executable, "-m", "tegu", "worker", self.scheduler_address,
                       "--nthreads", str(self._nthreads), "--memory-limit", str(self._memory_limit),
                       "--name", name, "--listen-address", f"tcp://{self._host}:0"]
                proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL)
                w = _ProcessWorker(proc, name)
            else:
                w = _tegu.WorkerService.start(self.scheduler_address, self.secret,
                                              f"tcp://{self._host}:0", name, self._nthreads,
                                              self._memory_limit)
            self._workers[name] = w
            return w

    def start_worker(self, wait=True):
        """Starts one more worker (waits until it has registered)."""
        w = self._start_worker()
        if wait:
            address_of = w.address if not self.processes else None
            deadline = time.monotonic() + self._timeout
            while True:
                names = {x["name"] for x in self._scheduler.workers()}
                if w.name in names or (address_of and address_of in names):
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"worker {w.name} did not join within {self._timeout} s")
                time.sleep(0.02)
        return w

    def kill_worker(self, name=None):
        """Kills a worker process with SIGKILL (a test helper); returns its name."""
        with self._lock:
            if name is None:
                name = next(iter(self._workers))
            w = self._workers.pop(str(name))
        if self.processes:
            w.proc.kill()
            w.proc.wait()
        else:
            w.close()
        return str(name)

    def _watch(self):
        while not self._closed:
            time.sleep(0.1)
            with self._lock:
                if self._closed:
                    return
                dead = [(n, w) for n, w in self._workers.items() if w.proc.poll() is not None]
                for name, w in dead:
                    del self._workers[name]
                    if self.restart_workers:
                        self._start_worker(name)

    def wait_for_workers(self, n_workers, timeout=None, _fail_fast=False):
        timeout = self._timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            n = len(self._scheduler.workers())
            if n >= n_workers:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"Only {n} of {n_workers} workers joined the scheduler at "
                                   f"{self.scheduler_address} within {timeout} s")
            if self.processes:
                with self._lock:
                    failed = [w for w in self._workers.values() if w.proc.poll() not in (None, 0)]
                if failed and (_fail_fast or not self.restart_workers):
                    raise RuntimeError(f"Worker process {failed[0].name} exited with code "
                                       f"{failed[0].proc.returncode}")
            time.sleep(0.02)

    @property
    def workers(self):
        with self._lock:
            return dict(self._workers)

    @property
    def worker_pids(self):
        with self._lock:
            return {n: w.pid for n, w in self._workers.items()} if self.processes else {}

    def scheduler_info(self):
        return {"address": self.scheduler_address, "workers": self._scheduler.workers()}

    @property
    def scheduler(self):
        return self._scheduler

    def restart(self):
        """Replaces every worker by a fresh one."""
        with self._lock:
            names = list(self._workers)
            olds = [self._workers.pop(n) for n in names]
        for w in olds:
            self._stop(w)
        deadline = time.monotonic() + self._timeout
        while self._scheduler.workers() and time.monotonic() < deadline:
            time.sleep(0.02)
        for name in names:
            self._start_worker(name)
        self.wait_for_workers(len(names), self._timeout)

    def scale(self, n):
        with self._lock:
            current = len(self._workers)
        for _ in range(n - current):
            self._start_worker()
        while len(self._workers) > n:
            with self._lock:
                name = list(self._workers)[-1]
                w = self._workers.pop(name)
            self._stop(w)
        self.wait_for_workers(n)

    def _stop(self, w):
        self._ask_to_stop(w)
        self._reap(w)

    def _ask_to_stop(self, w):
        """SIGTERM to a worker process (it closes cleanly); an in-process worker closes now."""
        if not self.processes:
            w.close()
        elif w.proc.poll() is None:
            w.proc.terminate()

    def _reap(self, w):
        """Waits for a worker process to exit, killing it after 5 s."""
        if not self.processes:
            return
        try:
            w.proc.wait(5)
        except subprocess.TimeoutExpired:
            w.proc.kill()
            w.proc.wait()

    # --- closing -------------------------------------------------------------------------------
    def close(self, timeout=None):
        with self._lock:
            if self._closed:
                return
            self._closed = True
            workers = list(self._workers.values())
            self._workers.clear()
        # All workers are asked first, so that they shut down together.
        for w in workers:
            self._ask_to_stop(w)
        for w in workers:
            self._reap(w)
        self._scheduler.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass

    def __repr__(self):
        n = len(self._workers)
        return (f"LocalCluster({self.scheduler_address!r}, workers={n}, "
                f"threads={n * self._nthreads}, memory={n * self._memory_limit / 2**30:.2f} GiB)")


@atexit.register
def _close_everything():
    """At interpreter exit: closes clients and clusters and drops the C++ services (so that
    nothing native is alive when the interpreter finalizes)."""
    from tegu.distributed.client import Client
    from tegu.distributed import worker as worker_module

    for client in list(Client._instances):
        try:
            client._close_sync()
            client._core = None
        except Exception:  # noqa: BLE001
            pass
    worker_module._worker_clients.clear()
    for cluster in list(_clusters):
        try:
            cluster.close()
            cluster._scheduler = None
        except Exception:  # noqa: BLE001
            pass
    for obj in list(worker_module._services):
        try:
            obj.close()
        except Exception:  # noqa: BLE001
            pass
