"""End-to-end tests of Client, Future, map/gather/scatter, errors, retries and key lifetimes."""
import gc
import os
import time
import traceback

import pytest

import tegu
from tegu.distributed import (CancelledError, Client, Future, KilledWorker, as_completed,
                              fire_and_forget, futures_of, get_client, wait)


def inc(x):
    return x + 1


def add(x, y):
    return x + y


def slowinc(x, delay=0.02):
    time.sleep(delay)
    return x + 1


def raise_value_error(x):
    raise ValueError(f"bad value {x}")


def wait_until(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_submit_result(client):
    f = client.submit(inc, 10)
    assert isinstance(f, Future)
    assert f.result(timeout=30) == 11
    assert f.done() and f.status == "finished"
    assert "finished" in repr(f)
    assert f.key.startswith("inc-")


def test_pure_keys_shared_and_impure_distinct(client):
    a, b = client.submit(inc, 1), client.submit(inc, 1)
    assert a.key == b.key
    c, d = client.submit(inc, 1, pure=False), client.submit(inc, 1, pure=False)
    assert c.key != d.key
    assert client.gather([a, b, c, d]) == [2, 2, 2, 2]


def test_submit_kwargs_and_futures_as_args(client):
    x = client.submit(inc, 1)
    y = client.submit(add, x, y=client.submit(inc, 2))
    z = client.submit(sum, [x, y, {"nested": x}["nested"]])
    assert y.result() == 5
    assert z.result() == 2 + 5 + 2


def test_map_gather_matches_python(client):
    futures = client.map(inc, range(500))
    assert client.gather(futures) == [inc(i) for i in range(500)]
    pairs = client.map(add, range(20), range(100, 120))
    assert client.gather(pairs) == [a + b for a, b in zip(range(20), range(100, 120))]
    chained = client.map(inc, futures[:50])
    assert client.gather(chained) == [i + 2 for i in range(50)]


def test_map_with_kwargs_keys_and_batches(client):
    fs = client.map(slowinc, range(10), delay=0.0, batch_size=3)
    assert client.gather(fs) == list(range(1, 11))
    named = client.map(inc, [1, 2], key=["one", "two"])
    assert [f.key for f in named] == ["one", "two"]
    assert client.gather(named) == [2, 3]


def test_gather_nested(client):
    a, b = client.submit(inc, 1), client.submit(inc, 2)
    assert client.gather({"a": a, "rest": [b, (a, 7)]}) == {"a": 2, "rest": [3, (2, 7)]}
    assert client.gather(a) == 2


def test_error_reraised_with_type_and_traceback(client):
    f = client.submit(raise_value_error, 3)
    with pytest.raises(ValueError, match="bad value 3") as info:
        f.result()
    assert f.status == "error"
    assert isinstance(f.exception(), ValueError)
    tb_text = "".join(traceback.format_tb(info.value.__traceback__))
    assert "raise_value_error" in tb_text
    assert "raise_value_error" in "".join(traceback.format_tb(f.traceback()))
    with pytest.raises(ValueError):
        client.gather([client.submit(inc, 1), f])
    assert client.gather([client.submit(inc, 1), f], errors="skip") == [2]
    # a dependent of an erred task errs with the same exception
    g = client.submit(inc, f)
    with pytest.raises(ValueError, match="bad value 3"):
        g.result()


class Unpicklable(Exception):
    def __init__(self, a, b):  # pickling reconstructs with one argument: fails
        super().__init__(f"{a}-{b}")


def raise_unpicklable():
    raise Unpicklable(1, 2)


def test_error_that_cannot_be_unpickled_keeps_text(client):
    f = client.submit(raise_unpicklable, pure=False)
    with pytest.raises(Exception, match="1-2"):
        f.result()


def flaky(path):
    # fails the first two times (counted in a file, as tasks may run in other processes)
    n = int(open(path).read()) if os.path.exists(path) else 0
    with open(path, "w") as f:
        f.write(str(n + 1))
    if n < 2:
        raise RuntimeError(f"attempt {n}")
    return n


def test_retries(client, tmp_path):
    f = client.submit(flaky, str(tmp_path / "a"), retries=2)
    assert f.result() == 2
    g = client.submit(flaky, str(tmp_path / "b"), retries=1)
    with pytest.raises(RuntimeError, match="attempt 1"):
        g.result()


def test_priorities_accepted(client):
    fs = [client.submit(inc, i, priority=i % 3) for i in range(20)]
    fs += client.map(inc, range(100, 110), priority=-1)
    assert client.gather(fs) == [i + 1 for i in range(20)] + [i + 1 for i in range(100, 110)]


def test_workers_restriction(client):
    workers = sorted(client.nthreads())
    assert len(workers) == 2
    for w in workers:
        fs = client.map(inc, range(10), workers=[w], pure=False)
        client.gather(fs)
        who = client.who_has(fs)
        assert all(set(addrs) == {w} for addrs in who.values()), who
    f = client.submit(inc, 99, workers=workers[0], allow_other_workers=True)
    assert f.result() == 100


def test_scatter(client):
    f = client.scatter(41)
    assert f.status == "finished"
    assert client.submit(inc, f).result() == 42
    lst = client.scatter([1, 2, 3])
    assert isinstance(lst, list) and client.gather(lst) == [1, 2, 3]
    d = client.scatter({"x": 10, "y": 20})
    assert set(d) == {"x", "y"} and d["x"].key == "x"
    assert client.submit(add, d["x"], d["y"]).result() == 30
    big = client.scatter(list(range(1000)), hash=False)
    assert client.submit(sum, big).result() == sum(range(1000))


def test_scatter_broadcast_and_workers(client):
    workers = sorted(client.nthreads())
    f = client.scatter("shared", broadcast=True)
    assert set(client.who_has([f])[f.key]) == set(workers)
    g = client.scatter([1.5], workers=[workers[1]])[0]
    assert set(client.who_has([g])[g.key]) == {workers[1]}
    assert g.result() == 1.5


def test_cancel(client):
    f = client.submit(slowinc, 1, delay=1.0, pure=False)
    g = client.submit(inc, f)
    client.cancel([f])
    assert f.cancelled() and f.status == "cancelled"
    with pytest.raises(CancelledError):
        f.result()
    f2 = client.submit(inc, 5)
    f2.result()
    f2.cancel()
    assert f2.cancelled()
    del g


def test_wait(client):
    fs = client.map(slowinc, range(6), delay=0.01)
    done, not_done = wait(fs)
    assert len(done) == 6 and not not_done
    slow = client.submit(slowinc, 1, delay=2.0, pure=False)
    with pytest.raises(TimeoutError):
        wait([slow], timeout=0.05)
    quick = client.submit(inc, 123)
    res = wait([slow, quick], return_when="FIRST_COMPLETED")
    assert quick in res.done
    client.cancel([slow])


def test_as_completed(client):
    fs = client.map(slowinc, range(10), delay=0.01, pure=False)
    seen = [f.result() for f in as_completed(fs)]
    assert sorted(seen) == list(range(1, 11))
    ac = as_completed(client.map(inc, range(3)), with_results=True)
    out = []
    for i, (future, result) in enumerate(ac):
        out.append(result)
        if i == 0:
            ac.add(client.submit(inc, 100))
    assert sorted(out) == [1, 2, 3, 101]
    assert ac.is_empty() and ac.count() == 0


def test_as_completed_batches_and_errors(client):
    ac = as_completed(client.map(inc, range(20)))
    total = 0
    for batch in ac.batches():
        total += len(batch)
    assert total == 20
    ac = as_completed([client.submit(raise_value_error, 1)], with_results=True, raise_errors=False)
    (fut, exc), = list(ac)
    assert isinstance(exc, ValueError)
    with pytest.raises(ValueError):
        list(as_completed([client.submit(raise_value_error, 2)], with_results=True))


def test_done_callback(client):
    import threading

    got = threading.Event()
    seen = []

    def cb(fut):
        seen.append(fut.status)
        got.set()

    f = client.submit(slowinc, 3, delay=0.05, pure=False)
    f.add_done_callback(cb)
    assert got.wait(30)
    assert seen == ["finished"]
    f.add_done_callback(lambda fut: seen.append("late"))
    assert seen == ["finished", "late"]


def test_release_forgets_key(client):
    f = client.submit(inc, 1000)
    key = f.key
    f.result()
    assert client.get_task_states([key]) == ["memory"]
    f.release()
    assert wait_until(lambda: client.get_task_states([key])[0] in ("forgotten", "released"))


def test_gc_of_last_future_frees_key(client):
    f = client.submit(inc, 2000)
    g = Future(f.key, client)
    key = f.key
    f.result()
    del f
    gc.collect()
    time.sleep(0.2)
    assert client.get_task_states([key]) == ["memory"]  # g still holds it
    del g
    gc.collect()
    assert wait_until(lambda: client.get_task_states([key])[0] in ("forgotten", "released"))


def test_fire_and_forget(client, tmp_path):
    path = tmp_path / "fired"

    def write(p):
        time.sleep(0.1)
        with open(p, "w") as f:
            f.write("done")
        return 1

    f = client.submit(write, str(path), pure=False)
    fire_and_forget(f)
    del f
    gc.collect()
    assert wait_until(lambda: path.exists() and path.read_text() == "done")


def test_futures_of():
    assert futures_of([1, {"a": 2}]) == []


def test_several_clients(cluster):
    with Client(cluster, set_as_default=False) as c1, Client(cluster, set_as_default=False) as c2:
        a = c1.submit(inc, 7)
        b = c2.submit(inc, 7)
        assert a.key == b.key
        assert a.result() == b.result() == 8
        a.release()
        time.sleep(0.1)
        assert c2.gather(b) == 8  # still wanted by c2
        fs = c2.map(inc, range(50))
        assert c2.gather(fs) == list(range(1, 51))


def test_run(client):
    def pid_and(x, y=0):
        return (os.getpid(), x + y)

    out = client.run(pid_and, 1, y=2)
    assert set(out) == set(client.nthreads())
    assert all(v[1] == 3 for v in out.values())
    one = sorted(out)[0]
    assert list(client.run(pid_and, 1, workers=[one])) == [one]

    def boom():
        raise KeyError("on worker")

    with pytest.raises(KeyError):
        client.run(boom)


def test_scheduler_info_and_friends(client):
    info = client.scheduler_info()
    assert info["type"] == "Scheduler"
    assert info["address"] == client.scheduler_address
    assert len(info["workers"]) == 2
    for addr, w in info["workers"].items():
        assert w["nthreads"] == 2
    assert sum(client.nthreads().values()) == 4
    f = client.scatter(5, broadcast=True)
    hw = client.has_what()
    assert all(f.key in keys for keys in hw.values())


def test_get_client_outside_task(client):
    assert get_client() is client


def test_get_client_without_clients():
    from tegu.distributed import client as client_module

    if client_module._current_default() is None:
        with pytest.raises(ValueError, match="No clients found"):
            get_client()


def test_native_function_in_task(client):
    native_inc = tegu.native("tegu.inc")
    f = client.submit(lambda x: native_inc(x), 41)
    assert f.result() == 42
    assert client.submit(native_inc, 1).result() == 2


def test_submit_with_delayed_argument(client):
    d = tegu.delayed(inc)(tegu.delayed(inc)(1))
    assert client.submit(add, d, 10).result() == 13


def test_killed_worker_error_type():
    from tegu.distributed.protocol import error_from_frames

    exc = error_from_frames("killed-worker", [b"KilledWorker: attempted to run task x"], "x")
    assert isinstance(exc, KilledWorker) and exc.task == "x"
    assert str(exc).startswith("Attempted")


def test_connection_lost_fails_pending_futures():
    from tegu.distributed import Scheduler, Worker

    s = Scheduler().start()
    w = Worker(s.address).start()
    c = Client(s.address, set_as_default=False)
    try:
        c.wait_for_workers(1, timeout=30)
        f = c.submit(time.sleep, 1, pure=False)
        s.close()  # the scheduler goes away under the client
        with pytest.raises(OSError):
            f.result(timeout=60)
        assert c.status == "closed"
    finally:
        c.close()
        w.close()


def test_tuple_keys_and_large_values(client):
    f = client.submit(inc, 1, key=("x", 1))
    assert f.key == ("x", 1) and f.result() == 2
    assert client.submit(inc, f, key=("x", 2)).result() == 3
    assert ("x", 1) in client.who_has([f])
    big = bytes(range(256)) * 4096  # 1 MiB
    fb = client.scatter(big)
    assert client.submit(len, fb).result() == len(big)
    assert fb.result() == big
    arr = bytearray(b"ab" * 100000)
    assert client.submit(lambda b: bytes(b[:4]), client.scatter(arr)).result() == b"abab"
