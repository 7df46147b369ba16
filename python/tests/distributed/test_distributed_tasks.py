"""Code running inside tasks: get_worker, nested submission, secede/rejoin, worker_client;
client.restart; asyncio clients and the in-process Scheduler/Worker services."""
import asyncio
import time

import pytest

from tegu.distributed import (Client, LocalCluster, Scheduler, Worker, as_completed, get_client,
                              get_worker, rejoin, secede, wait, worker_client)


def inc(x):
    return x + 1


def test_get_worker(client):
    def info():
        w = get_worker()
        return w.address, w.scheduler_address, w.name, w.nthreads

    addr, sched, name, nthreads = client.submit(info).result()
    assert addr in client.nthreads()
    assert sched == client.scheduler_address
    assert nthreads == 2
    with pytest.raises(ValueError):
        get_worker()


def fib(n):
    if n < 2:
        return n
    with worker_client() as c:
        a = c.submit(fib, n - 1)
        b = c.submit(fib, n - 2)
        return a.result() + b.result()


def test_nested_worker_client(client):
    # more nested tasks waiting than there are threads: needs secede to not deadlock
    assert client.submit(fib, 8).result(timeout=120) == 21


def test_nested_get_client_secede_rejoin(client):
    def parent(n):
        c = get_client()
        futures = c.map(inc, range(n))
        secede()
        total = sum(c.gather(futures))
        rejoin()
        return total

    fs = [client.submit(parent, 10 + i) for i in range(6)]  # 6 parents on 4 threads
    assert client.gather(fs) == [sum(range(1, 11 + i)) for i in range(6)]


def test_restart(own_cluster):
    with Client(own_cluster, set_as_default=False) as c:
        f = c.submit(inc, 1)
        assert f.result() == 2
        slow = c.submit(time.sleep, 0.5)
        c.restart()
        assert f.cancelled() and slow.cancelled()
        assert len(c.nthreads()) == 2
        assert c.submit(inc, 2).result() == 3


def test_asyncio_client(cluster):
    async def main():
        async with Client(cluster, asynchronous=True, set_as_default=False) as c:
            f = c.submit(inc, 1)
            assert await f == 2
            fs = c.map(inc, range(10))
            assert await c.gather(fs) == list(range(1, 11))
            s = await c.scatter([1, 2])
            assert await c.gather(s) == [1, 2]
            out = []
            async for fut in as_completed(c.map(inc, range(5), pure=False)):
                out.append(await fut)
            assert sorted(out) == [1, 2, 3, 4, 5]
            res = await wait(c.map(inc, range(3)))
            assert len(res.done) == 3
            with pytest.raises(ZeroDivisionError):
                await c.submit(lambda: 1 / 0)
        c2 = await Client(cluster, asynchronous=True, set_as_default=False)
        assert await c2.submit(inc, 5) == 6
        await c2.close()
        assert c2.status == "closed"

    asyncio.run(main())


def test_scheduler_worker_context_managers():
    async def main():
        async with Scheduler() as s:
            async with Worker(s.address) as w1, Worker(s.address, nthreads=2) as w2:
                async with Client(s.address, asynchronous=True, set_as_default=False) as c:
                    while len(c.nthreads()) < 2:
                        await asyncio.sleep(0.01)
                    assert await c.submit(inc, 1) == 2
                    assert set(c.nthreads()) == {w1.address, w2.address}
                    assert sorted(c.nthreads().values()) == [1, 2]

    asyncio.run(main())


def test_scheduler_worker_sync_and_secret_registry():
    with Scheduler() as s:
        with Worker(s.address):
            with Client(s.address, set_as_default=False) as c:
                c.wait_for_workers(1, timeout=30)
                assert c.submit(inc, 1).result() == 2


def test_local_cluster_defaults_and_repr():
    with LocalCluster(processes=False, n_workers=1, threads_per_worker=1, memory_limit="1GiB") as lc:
        assert "LocalCluster" in repr(lc)
        assert len(lc.workers) == 1
        assert lc.scheduler_address.startswith("tcp://")
        assert lc.secret
        with Client(lc, set_as_default=False) as c:
            (w,) = c.scheduler_info()["workers"].values()
            assert w["memory_limit"] == 2**30


def reschedule_once(path):
    import os

    from tegu.distributed import Reschedule

    if not os.path.exists(path):
        open(path, "w").close()
        raise Reschedule()
    return "ran again"


def test_reschedule(client, tmp_path):
    assert client.submit(reschedule_once, str(tmp_path / "flag")).result(timeout=60) == "ran again"
