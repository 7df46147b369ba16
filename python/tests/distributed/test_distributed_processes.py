"""Worker processes: a processes=True LocalCluster, a worker killed with SIGKILL in the middle of
a graph, KilledWorker, and scheduler='processes'."""
import os
import signal
import sys
import time

import cloudpickle
import pytest

import tegu
from tegu import delayed
from tegu.distributed import Client, KilledWorker, LocalCluster

# worker processes cannot import this test module: its functions travel by value
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def inc(x):
    return x + 1


def slowinc(x):
    time.sleep(0.01)
    return x + 1


def add(x, y):
    return x + y


def test_process_cluster():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as cluster:
        assert len(cluster.worker_pids) == 2
        with Client(cluster, set_as_default=False) as c:
            pids = c.run(os.getpid)
            assert len(set(pids.values())) == 2 and os.getpid() not in pids.values()
            fs = c.map(inc, range(200))
            assert c.gather(fs) == list(range(1, 201))
            x = c.scatter(list(range(100)))
            assert c.submit(sum, x).result() == sum(range(100))
            with pytest.raises(ZeroDivisionError):
                c.submit(lambda: 1 / 0).result()
            d = delayed(add)(delayed(inc)(1), delayed(inc)(2))
            assert c.compute(d, sync=True) == 5
            # the test helpers: SIGKILL one worker (not restarted), start another
            killed = cluster.kill_worker()
            assert killed not in cluster.workers
            cluster.start_worker()
            assert len(cluster.workers) == 2

            def names():
                return {w["name"] for w in c.scheduler_info()["workers"].values()}

            deadline = time.monotonic() + 60
            while (killed in names() or len(names()) != 2) and time.monotonic() < deadline:
                time.sleep(0.02)
            assert killed not in names() and len(names()) == 2
            assert c.gather(c.map(inc, range(50), pure=False)) == list(range(1, 51))


def test_sigkill_worker_mid_graph():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as cluster:
        with Client(cluster, set_as_default=False) as c:
            layer1 = c.map(slowinc, range(300))
            layer2 = [c.submit(add, layer1[i], layer1[i + 1]) for i in range(0, 300, 2)]
            total = c.submit(sum, layer2)
            # kill a worker once some work is done
            deadline = time.monotonic() + 30
            while sum(f.done() for f in layer1) < 40 and time.monotonic() < deadline:
                time.sleep(0.01)
            name, pid = next(iter(cluster.worker_pids.items()))
            os.kill(pid, signal.SIGKILL)
            expected = sum(slowinc(i) + slowinc(i + 1) for i in range(0, 300, 2))
            assert total.result(timeout=120) == expected
            assert c.gather(layer1) == [i + 1 for i in range(300)]


def kill_own_worker():
    os.kill(os.getpid(), signal.SIGKILL)


def test_killed_worker():
    # the cluster restarts worker processes that die (as Dask's nannies)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as cluster:
        with Client(cluster, set_as_default=False) as c:
            f = c.submit(kill_own_worker, pure=False)
            with pytest.raises(KilledWorker):
                f.result(timeout=120)
            cluster.wait_for_workers(2, timeout=60)
            assert c.submit(inc, 1).result(timeout=60) == 2


def test_scheduler_processes():
    def pid(x):
        return os.getpid()

    ds = [delayed(pid)(i) for i in range(4)]
    out = tegu.compute(*ds, scheduler="processes", num_workers=2)
    assert os.getpid() not in out
    assert delayed(add)(delayed(inc)(1), 2).compute(scheduler="processes", num_workers=1) == 4
    with tegu.config.set(scheduler="processes"):
        assert delayed(inc)(1).compute(num_workers=1) == 2


def test_client_starts_own_process_cluster_and_restarts_it():
    with Client(n_workers=1, threads_per_worker=1, set_as_default=False) as c:
        assert c.cluster.processes
        (pid_before,) = c.run(os.getpid).values()
        f = c.submit(inc, 1)
        assert f.result() == 2
        c.restart()
        assert f.cancelled()
        (pid_after,) = c.run(os.getpid).values()
        assert pid_after != pid_before
        assert c.submit(inc, 2).result() == 3
        cluster = c.cluster
    assert cluster._closed
    assert all(w.proc.poll() is not None for w in cluster._workers.values())
