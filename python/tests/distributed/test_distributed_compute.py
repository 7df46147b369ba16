"""compute/persist of Delayed graphs on a client, and tegu.compute routed to the default client."""
import operator

import pytest

import tegu
from tegu import delayed
from tegu.distributed import Future


def inc(x):
    return x + 1


def add(x, y):
    return x + y


def graph():
    a = delayed(inc)(1)
    b = delayed(inc)(a)
    c = delayed(add)(a, b)
    lst = [delayed(inc)(i) for i in range(10)]
    total = delayed(sum)(lst)
    d = delayed(add)(total, y=c)
    e = delayed({"k": [a, (b, 3)], "s": {1, 2}})
    f = delayed(dict)(x=a, y=[c, {"z": b}])
    g = (a + b) * c - 1
    return [a, b, c, total, d, e, f, g, delayed(operator.getitem)([a, b], 1), a.bit_length()]


def test_compute_equals_sync(client):
    expected = tegu.compute(*graph(), scheduler="sync")
    futures = client.compute(graph())
    assert all(isinstance(f, Future) for f in futures)
    assert client.gather(futures) == list(expected)
    assert client.compute(graph(), sync=True) == list(expected)
    single = client.compute(graph()[4])
    assert single.result() == expected[4]


def test_compute_errors(client):
    def bad(x):
        raise ZeroDivisionError("zero")

    d = delayed(inc)(delayed(bad)(1))
    with pytest.raises(ZeroDivisionError, match="zero"):
        client.compute(d).result()


def test_persist(client):
    ds = graph()
    expected = tegu.compute(*ds, scheduler="sync")
    persisted = client.persist(ds)
    assert [p.key for p in persisted] == [d.key for d in ds]
    # built on persisted values: computed from the futures, not resubmitted
    more = delayed(add)(persisted[2], persisted[3])
    assert client.compute(more).result() == expected[2] + expected[3]
    assert client.compute(persisted, sync=True) == list(expected)
    single = client.persist(ds[0])
    assert client.compute(single, sync=True) == expected[0]


def test_tegu_compute_routed_to_default_client(client):
    def where(x):
        from tegu.distributed import get_worker

        return get_worker().address

    d = delayed(where)(1, dask_key_name="where-1")
    addr = tegu.compute(d)[0]
    assert addr in client.nthreads()
    assert d.compute() in client.nthreads()
    # an explicit local scheduler still runs locally (no worker there)
    with pytest.raises(ValueError, match="No worker"):
        d.compute(scheduler="sync")
    ds = graph()
    assert tegu.compute(*ds) == tegu.compute(*ds, scheduler="sync")
    p, = tegu.persist(ds[3])
    assert isinstance(p._args[0], Future)
    assert p.compute() == ds[3].compute(scheduler="sync")
    assert tegu.compute(d, scheduler=client)[0] in client.nthreads()
    assert tegu.compute(d, scheduler="distributed")[0] in client.nthreads()


def test_distributed_scheduler_without_client():
    from tegu.distributed import client as client_module

    if client_module._current_default() is None:
        with pytest.raises(ValueError, match="No clients found"):
            delayed(inc)(1).compute(scheduler="distributed")


def nested_compute(n):
    parts = [delayed(inc)(i) for i in range(n)]
    return tegu.compute(delayed(sum)(parts))[0]


def nested_distributed_compute(n):
    parts = [delayed(inc)(i) for i in range(n)]
    return tegu.compute(delayed(sum)(parts), scheduler="distributed")[0]


def test_compute_inside_tasks(client):
    # more tasks than worker threads, each computing a graph: locally, or on the cluster
    # (the waiting task secedes, so this does not deadlock)
    fs = client.map(nested_compute, range(6))
    assert client.gather(fs) == [sum(range(1, n + 1)) for n in range(6)]
    fs = client.map(nested_distributed_compute, range(10, 16))
    assert client.gather(fs) == [sum(range(1, n + 1)) for n in range(10, 16)]


def test_client_get_dict_graph(client):
    dsk = {"x": 1, "y": (inc, "x"), "z": (add, "y", (inc, "x")), "w": (sum, ["x", "y", "z"]),
           ("t", 0): (add, "w", 10), "alias": "z"}
    assert client.get(dsk, "z") == 4
    assert client.get(dsk, ["w", [("t", 0), "alias"]]) == [7, [17, 4]]
    futures = client.get(dsk, ["y"], sync=False)
    assert futures[0].result() == 2
    d = delayed(add)(delayed(inc)(1), 5)
    assert tegu.compute(d, scheduler=client.get) == (7,)
    assert client.get(d.dask, d.key) == 7
