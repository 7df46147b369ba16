"""tegu.compute / persist / visualize, schedulers, nested compute, large graphs and native
functions, as dask.compute and friends behave."""

import collections
import dataclasses
import os
import threading

import pytest

import tegu
from tegu import Delayed, delayed


def inc(x):
    return x + 1


def add(x, y):
    return x + y


# --- compute ------------------------------------------------------------------------------------


def test_compute_returns_tuple(scheduler):
    a, b = delayed(inc)(1), delayed(inc)(2)
    out = tegu.compute(a, b, scheduler=scheduler)
    assert out == (2, 3)
    assert isinstance(out, tuple)
    assert tegu.compute(a, scheduler=scheduler) == (2,)
    assert tegu.compute(scheduler=scheduler) == ()


def test_compute_non_delayed_pass_through(scheduler):
    obj = object()
    a = delayed(inc)(1)
    out = tegu.compute(1, a, "x", obj, [1, 2], scheduler=scheduler)
    assert out[0] == 1 and out[1] == 2 and out[2] == "x" and out[4] == [1, 2]
    assert out[3] is obj
    assert tegu.compute(1, obj) == (1, obj)


def test_compute_containers(scheduler):
    d1, d2, d3 = delayed(inc)(1), delayed(inc)(2), delayed(inc)(3)
    lst, dct = tegu.compute([d1, d2], {"a": d3}, scheduler=scheduler)
    assert lst == [2, 3]
    assert dct == {"a": 4}
    (tup,) = tegu.compute((d1, [d2, {"k": d3}], 7), scheduler=scheduler)
    assert tup == (2, [3, {"k": 4}], 7)
    assert tegu.compute({d1, 10}, scheduler=scheduler) == ({2, 10},)
    assert tegu.compute({d1: "v"}, scheduler=scheduler) == ({2: "v"},)


def test_compute_namedtuple_and_dataclass(scheduler):
    P = collections.namedtuple("P", "x y")

    @dataclasses.dataclass
    class DC:
        a: object
        b: object

    d = delayed(inc)(1)
    p, dc = tegu.compute(P(d, 1), DC(d, [d]), scheduler=scheduler)
    assert p == P(2, 1) and type(p) is P
    assert dc == DC(2, [2])


def test_compute_generator_passes_through():
    gen = (i for i in range(3))
    assert tegu.compute(gen)[0] is gen


def test_compute_traverse_false(scheduler):
    d = delayed(inc)(1)
    lst = [d, 2]
    out = tegu.compute(lst, d, traverse=False, scheduler=scheduler)
    assert out[0] is lst
    assert out[1] == 2


def test_method_compute(scheduler):
    d = delayed(inc)(1)
    assert d.compute(scheduler=scheduler) == 2
    assert d.compute(scheduler=scheduler, optimize_graph=False) == 2


def test_shared_subgraph_computed_once(scheduler, counter):
    f = counter.wrap(inc)
    shared = delayed(f)(1)
    x = delayed(add)(shared, 1)
    y = delayed(add)(shared, 2)
    z = delayed(add)(x, y)
    assert tegu.compute(x, y, z, [shared, shared], scheduler=scheduler) == (3, 4, 7, [2, 2])
    assert counter.count == 1


_pure_calls = []


def pure_inc(x):
    _pure_calls.append(x)  # list.append is atomic
    return x + 1


def test_shared_pure_tasks_deduplicated(scheduler):
    # (a closure over a lock cannot be tokenized deterministically, here as in Dask, so the
    # function is a module-level one)
    _pure_calls.clear()
    f = delayed(pure_inc, pure=True)
    total = delayed(sum)([f(1), f(1), f(2)])
    assert total.compute(scheduler=scheduler) == 2 + 2 + 3
    assert sorted(_pure_calls) == [1, 2]


def test_compute_with_optimize_graph_false(scheduler, counter):
    f = counter.wrap(inc)
    x = delayed(f)(1)
    for _ in range(10):
        x = delayed(f)(x)
    assert x.compute(scheduler=scheduler, optimize_graph=False) == 12
    assert tegu.compute(x, scheduler=scheduler, optimize_graph=True) == (12,)
    assert counter.count == 22


def test_get_argument_rejected():
    with pytest.raises(TypeError, match="get= keyword"):
        tegu.compute(delayed(inc)(1), get=lambda *a: None)


# --- persist ------------------------------------------------------------------------------------


def test_persist_runs_once_and_keeps_keys(scheduler, counter):
    f = counter.wrap(inc)
    a = delayed(f)(1)
    b = delayed(f)(a)
    pa, pb = tegu.persist(a, b, scheduler=scheduler)
    assert counter.count == 2
    assert isinstance(pa, Delayed) and isinstance(pb, Delayed)
    assert (pa.key, pb.key) == (a.key, b.key)
    assert pa.compute(scheduler=scheduler) == 2
    assert tegu.compute(pa, pb, scheduler=scheduler) == (2, 3)
    assert delayed(add)(pa, pb).compute(scheduler=scheduler) == 5
    assert counter.count == 2  # nothing re-ran
    assert pb.dask == {pb.key: 3}


def test_persist_method(scheduler, counter):
    f = counter.wrap(inc)
    a = delayed(f)(1)
    p = a.persist(scheduler=scheduler)
    assert p.key == a.key
    assert p.compute() == 2 and (p + 1).compute() == 3
    assert counter.count == 1


def test_persist_pass_through_and_containers(scheduler, counter):
    f = counter.wrap(inc)
    a, b = delayed(f)(1), delayed(f)(2)
    obj = object()
    one, lst, dct, same = tegu.persist(1, [a, 3], {"x": (b,)}, obj, scheduler=scheduler)
    assert one == 1 and same is obj
    # As Dask: containers come back holding persisted Delayed values under the same keys.
    assert isinstance(lst, list) and isinstance(lst[0], Delayed) and lst[1] == 3
    assert lst[0].key == a.key
    assert isinstance(dct["x"], tuple) and dct["x"][0].key == b.key
    assert tegu.compute(lst, dct) == ([2, 3], {"x": (3,)})
    assert counter.count == 2


def test_persist_keeps_nout(scheduler):
    d = delayed(lambda: (1, 2), nout=2)()
    (p,) = tegu.persist(d, scheduler=scheduler)
    x, y = p
    assert tegu.compute(x, y) == (1, 2)


# --- schedulers and config ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["sync", "synchronous", "single-threaded"])
def test_sync_runs_on_calling_thread(name):
    here = threading.get_ident()
    get_ident = delayed(threading.get_ident)
    assert get_ident().compute(scheduler=name) == here
    with tegu.config.set(scheduler=name):
        assert get_ident().compute() == here
        assert tegu.compute(get_ident(), get_ident()) == (here, here)


@pytest.mark.parametrize("name", ["threads", "threading"])
def test_threads_runs_on_other_thread(name):
    here = threading.get_ident()
    get_ident = delayed(threading.get_ident)
    assert get_ident().compute(scheduler=name) != here
    with tegu.config.set(scheduler=name):
        assert get_ident().compute() != here


def test_default_scheduler_is_threads():
    assert tegu.config.get("scheduler", None) is None
    assert tegu.get_scheduler() == "threads"
    assert delayed(threading.get_ident)().compute() != threading.get_ident()


def test_config_context_manager_restores():
    here = threading.get_ident()
    get_ident = delayed(threading.get_ident)
    with tegu.config.set(scheduler="sync"):
        assert get_ident().compute() == here
        with tegu.config.set(scheduler="threads"):
            assert get_ident().compute() != here
        assert get_ident().compute() == here
    assert get_ident().compute() != here


def test_config_global_set():
    here = threading.get_ident()
    previous = tegu.config.get("scheduler", None)
    setting = tegu.config.set(scheduler="sync")  # applies at once, without a with block
    try:
        assert tegu.config.get("scheduler") == "sync"
        assert delayed(threading.get_ident)().compute() == here
        assert tegu.compute(delayed(threading.get_ident)()) == (here,)
        # an explicit argument wins over the configuration
        assert delayed(threading.get_ident)().compute(scheduler="threads") != here
    finally:
        setting.__exit__(None, None, None)  # roll back for the other tests
    assert tegu.config.get("scheduler", None) == previous


def test_unknown_scheduler_raises_value_error():
    with pytest.raises(ValueError, match="not-a-scheduler"):
        delayed(inc)(1).compute(scheduler="not-a-scheduler")
    with tegu.config.set(scheduler="bogus"):
        with pytest.raises(ValueError, match="bogus"):
            delayed(inc)(1).compute()
    with pytest.raises(ValueError):
        tegu.persist(delayed(inc)(1), scheduler="nope")


def test_distributed_without_a_client_is_a_clear_error():
    # "processes" runs on a temporary local cluster (tests/distributed); "distributed" needs one.
    with pytest.raises(ValueError, match="No clients found"):
        delayed(inc)(1).compute(scheduler="distributed")


def _thread_ids(n, **kwargs):
    def ident(i):
        return threading.get_ident()

    return set(tegu.compute(*[delayed(ident)(i) for i in range(n)], **kwargs))


def test_num_workers_one_uses_one_thread():
    ids = _thread_ids(200, scheduler="threads", num_workers=1)
    assert len(ids) == 1
    assert threading.get_ident() not in ids


@pytest.mark.parametrize("n", [2, 4])
def test_num_workers_runs_tasks_concurrently(n):
    # n tasks that each wait for the others: only finishes when n run at the same time.
    barrier = threading.Barrier(n, timeout=30)

    def meet(i):
        barrier.wait()
        return threading.get_ident()

    ids = tegu.compute(*[delayed(meet)(i) for i in range(n)], scheduler="threads", num_workers=n)
    assert len(set(ids)) == n


def test_num_workers_bounds_threads():
    assert len(_thread_ids(300, scheduler="threads", num_workers=2)) <= 2
    with tegu.config.set(num_workers=3):
        assert len(_thread_ids(300, scheduler="threads")) <= 3


def test_num_workers_invalid():
    with pytest.raises(ValueError):
        delayed(inc)(1).compute(num_workers=0)


# --- nested compute (the crawler pattern) -------------------------------------------------------


def crawl(depth, fanout):
    """Counts the nodes of a tree by computing each level's children from inside a task."""
    if depth == 0:
        return 1
    children = [delayed(crawl)(depth - 1, fanout) for _ in range(fanout)]
    return 1 + sum(tegu.compute(*children))


def tree_size(depth, fanout):
    return sum(fanout ** i for i in range(depth + 1))


@pytest.mark.parametrize("num_workers", [1, 2, None])
@pytest.mark.parametrize("depth,fanout", [(3, 3), (4, 4), (3, 4)])
def test_nested_compute_threads(depth, fanout, num_workers, run_with_timeout):
    def run():
        return delayed(crawl)(depth, fanout).compute(scheduler="threads", num_workers=num_workers)

    assert run_with_timeout(run, 60) == tree_size(depth, fanout)


def test_nested_compute_configured_threads(run_with_timeout):
    def run():
        with tegu.config.set(scheduler="threads", num_workers=1):
            return delayed(crawl)(4, 3).compute()

    assert run_with_timeout(run, 60) == tree_size(4, 3)


def test_nested_compute_sync(run_with_timeout):
    assert run_with_timeout(lambda: delayed(crawl)(3, 4).compute(scheduler="sync"), 60) == \
        tree_size(3, 4)


def test_nested_compute_many_outer_tasks(run_with_timeout):
    # several outer tasks each doing nested computes, all competing for two workers
    def run():
        outer = [delayed(crawl)(3, 3) for _ in range(6)]
        return tegu.compute(*outer, scheduler="threads", num_workers=2)

    assert run_with_timeout(run, 60) == (tree_size(3, 3),) * 6


# --- large graphs -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def long_chain():
    x = delayed(0)
    for _ in range(100_000):
        x = delayed(inc)(x)
    return x


@pytest.fixture(scope="module")
def many_tasks():
    return [delayed(inc)(i) for i in range(100_000)]


def test_long_chain(scheduler, long_chain):
    assert long_chain.compute(scheduler=scheduler) == 100_000


def test_many_independent_tasks(scheduler, many_tasks):
    (out,) = tegu.compute(many_tasks, scheduler=scheduler)
    assert out == list(range(1, 100_001))
    assert tegu.compute(*many_tasks[:1000], scheduler=scheduler) == tuple(range(1, 1001))


def test_tree_reduction(scheduler):
    layer = [delayed(inc)(i) for i in range(10_000)]
    while len(layer) > 1:
        nxt = [delayed(add)(layer[i], layer[i + 1]) for i in range(0, len(layer) - 1, 2)]
        if len(layer) % 2:
            nxt.append(layer[-1])
        layer = nxt
    assert layer[0].compute(scheduler=scheduler) == sum(range(1, 10_001))


# --- native functions ---------------------------------------------------------------------------


def test_native_direct_call():
    assert tegu.native("tegu.inc")(5) == 6
    assert tegu.native("tegu.add")(2, 3) == 5
    assert tegu.native("tegu.fadd")(0.5, 0.25) == 0.75
    assert tegu.native("tegu.sum")([1, 2, 3]) == 6
    assert tegu.native("tegu.inc").name == "tegu.inc"


def test_native_functions_listed():
    names = tegu.native_functions()
    assert "tegu.add" in names and "tegu.inc" in names


def test_native_unknown_raises_key_error():
    with pytest.raises(KeyError, match="nope"):
        tegu.native("nope")


def test_native_delayed(scheduler):
    ninc = delayed(tegu.native("tegu.inc"))
    nadd = delayed(tegu.native("tegu.add"))
    x = ninc(1)
    assert x.key.startswith("tegu.inc-")
    assert nadd(x, ninc(x)).compute(scheduler=scheduler) == 2 + 3


def test_native_mixed_with_python(scheduler):
    ninc = delayed(tegu.native("tegu.inc"))
    nsum = delayed(tegu.native("tegu.sum"))
    # Python result feeding a native task
    assert ninc(delayed(inc)(1)).compute(scheduler=scheduler) == 3
    # native result feeding a Python task
    assert delayed(inc)(ninc(1)).compute(scheduler=scheduler) == 3
    # both ways, with a list argument mixing the two
    y = nsum([ninc(1), delayed(inc)(ninc(2)), 10])
    assert delayed(lambda v: v * 2)(y).compute(scheduler=scheduler) == (2 + 4 + 10) * 2


def test_native_chain(scheduler):
    ninc = delayed(tegu.native("tegu.inc"))
    x = ninc(0)
    for _ in range(999):
        x = ninc(x)
    assert x.compute(scheduler=scheduler) == 1000


# --- visualize ----------------------------------------------------------------------------------


def visual_task(x):
    return x


def _graph():
    return delayed(add)(delayed(visual_task)(1), delayed(visual_task)(2))


def test_visualize_svg(tmp_path):
    path = tmp_path / "g.svg"
    tegu.visualize(_graph(), filename=str(path))
    text = path.read_text()
    assert "<svg" in text
    assert "visual_task" in text


def test_visualize_png(tmp_path):
    path = tmp_path / "g.png"
    tegu.visualize(_graph(), filename=str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_visualize_format_argument(tmp_path):
    tegu.visualize(_graph(), filename=str(tmp_path / "noext"), format="svg")
    assert "<svg" in (tmp_path / "noext.svg").read_text()


def test_visualize_returns_dot_text():
    dot = tegu.visualize(_graph(), filename=None)
    assert isinstance(dot, str)
    assert dot.lstrip().startswith("digraph")
    assert "visual_task" in dot and "add" in dot


def test_visualize_method(tmp_path):
    path = tmp_path / "m.svg"
    _graph().visualize(filename=str(path))
    assert "<svg" in path.read_text()
    # no extension: png by default
    _graph().visualize(filename=str(tmp_path / "m2"))
    assert (tmp_path / "m2.png").read_bytes()[:4] == b"\x89PNG"


def test_visualize_several_and_containers():
    dot = tegu.visualize(delayed(visual_task)(1), [delayed(inc)(2)], filename=None)
    assert "visual_task" in dot and "inc" in dot


def test_visualize_without_dot_raises(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(OSError, match="dot"):
        tegu.visualize(_graph(), filename=str(tmp_path / "x.png"))
    assert not os.path.exists(tmp_path / "x.png")


def test_threads_scheduler_works_in_a_forked_child():
    # The child inherits the parent's pool objects but not their threads; compute must not hang.
    import multiprocessing as mp
    import sys

    if sys.platform != "linux":
        pytest.skip("fork is Linux-only here")

    def inc(x):
        return x + 1

    assert tegu.compute(*[tegu.delayed(inc)(i) for i in range(10)], scheduler="threads")[9] == 10
    ctx = mp.get_context("fork")
    with ctx.Pool(1) as pool:
        result = pool.apply_async(_child_compute, ())
        assert result.get(timeout=60) == sum(i + 1 for i in range(100))


def _child_compute():
    return sum(tegu.compute(*[tegu.delayed(lambda x: x + 1)(i) for i in range(100)],
                            scheduler="threads"))
