"""``tegu.compute``, ``tegu.persist`` and ``tegu.visualize``, behaving as Dask's."""
from __future__ import annotations

import dataclasses
import os
import threading

from tegu import _tegu, config
from tegu.delayed import Delayed, delayed, unpack_collections

__all__ = ["compute", "persist", "visualize", "get_scheduler", "is_dask_collection"]

_SCHEDULER_ALIASES = {
    "sync": "sync",
    "synchronous": "sync",
    "single-threaded": "sync",
    "threads": "threads",
    "threading": "threads",
    "threaded": "threads",
}
_PROCESSES = {"processes", "multiprocessing"}
_DISTRIBUTED = {"distributed", "dask.distributed", "tegu.distributed"}

# Diagnostics callbacks (ProgressBar) that are active for every compute call.
_active_callbacks: set = set()
_callbacks_lock = threading.Lock()


def is_dask_collection(obj) -> bool:
    return isinstance(obj, Delayed) or _is_collection(obj)


def _is_collection(obj) -> bool:
    """A collection (Bag, Item, ...): it gives the Delayed value that computes it
    (``__tegu_finalize__``), its partitions (``__tegu_parts__``) and rebuilds itself from
    persisted partitions (``__tegu_rebuild__``) — the counterpart of Dask's collection
    protocol."""
    return hasattr(type(obj), "__tegu_finalize__") and not isinstance(obj, type)


def _finalized(obj):
    """``obj`` with every collection inside builtin containers replaced by its finalize
    Delayed (what computing it returns)."""
    if _is_collection(obj):
        return obj.__tegu_finalize__()
    typ = type(obj)
    if typ in (list, tuple, set, frozenset):
        items = [_finalized(x) for x in obj]
        if any(a is not b for a, b in zip(items, obj)):
            return typ(items)
        return obj
    if typ is dict:
        new = {k: _finalized(v) for k, v in obj.items()}
        return new if any(new[k] is not v for k, v in obj.items()) else obj
    return obj


def _default_client():
    """The default tegu.distributed Client, when that module is in use and one is open.
    None inside a task running on a worker: a compute there runs locally (nested compute)
    unless it names the distributed scheduler."""
    import sys

    mod = sys.modules.get("tegu.distributed.registry")
    if mod is None or _tegu.current_task() is not None:
        return None
    return mod._current_default()


def get_scheduler(scheduler=None, collections=None) -> str:
    """The scheduler name for a compute call: the argument, else the configured one, else
    'distributed' while a default tegu.distributed Client is open, else the default of the
    collections computed — 'threads' for Delayed values (as Dask), 'processes' (a temporary
    LocalCluster of worker processes) for bags that run Python code (as Dask's bags)."""
    if scheduler is None:
        scheduler = config.get("scheduler", None)
    if scheduler is None:
        if _default_client() is not None:
            return "distributed"
        return _default_of(collections)
    if not isinstance(scheduler, str):
        if hasattr(scheduler, "_compute_values") or \
                hasattr(getattr(scheduler, "__self__", None), "_compute_values"):  # a Client, client.get
            return "distributed"
        raise ValueError(f"scheduler must be a name such as 'threads' or 'sync', got {scheduler!r}")
    name = scheduler.lower()
    if name in _SCHEDULER_ALIASES:
        return _SCHEDULER_ALIASES[name]
    if name in _PROCESSES:
        return "processes"
    if name in _DISTRIBUTED:
        return "distributed"
    names = sorted(set(_SCHEDULER_ALIASES) | _PROCESSES | _DISTRIBUTED)
    raise ValueError(f"Expected one of {names}, got scheduler={scheduler!r}")


def _default_of(collections):
    """'processes' when a collection among `collections` (top level, or in a list, tuple or
    dict) prefers it (``__tegu_default_scheduler__``), else 'threads'. Inside a task it is
    always 'threads': a nested compute must not start a cluster."""
    if not collections or _tegu.current_task() is not None:
        return "threads"
    stack = list(collections)
    while stack:
        c = stack.pop()
        if type(c) in (list, tuple):
            stack.extend(c)
        elif type(c) is dict:
            stack.extend(c.values())
        else:
            prefers = getattr(type(c), "__tegu_default_scheduler__", None)
            if prefers is not None and not isinstance(c, type) and prefers(c) == "processes":
                return "processes"
    return "threads"


def _client_for(scheduler):
    """The Client a 'distributed' compute runs on (scheduler= a Client, or the default one)."""
    if scheduler is not None and hasattr(scheduler, "_compute_values"):
        return scheduler
    owner = getattr(scheduler, "__self__", None)  # scheduler=client.get
    if owner is not None and hasattr(owner, "_compute_values"):
        return owner
    client = _default_client()
    if client is None:
        raise ValueError("No clients found: start a tegu.distributed.Client to use the "
                         "distributed scheduler")
    return client


def _run_elsewhere(roots, sched, scheduler, num_workers, persist=False):
    """Runs Delayed roots on a distributed Client, or on a temporary process cluster."""
    if sched == "distributed":
        if scheduler is None:
            scheduler = config.get("scheduler", None)
        if _tegu.current_task() is not None and not hasattr(scheduler, "_compute_values") \
                and not hasattr(getattr(scheduler, "__self__", None), "_compute_values"):
            # inside a task: the worker's client, and the task leaves the worker's thread pool
            # while it waits (no deadlock when every thread waits on nested work)
            from tegu.distributed.worker import get_client, rejoin, secede

            client = get_client()
            if persist:
                return client._persist_values(roots)
            secede()
            try:
                return client._compute_values(roots)
            finally:
                rejoin()
        client = _client_for(scheduler)
        return client._persist_values(roots) if persist else client._compute_values(roots)
    from tegu.distributed import Client

    n = num_workers or os.cpu_count() or 1
    with Client(n_workers=n, threads_per_worker=1, processes=True, set_as_default=False) as client:
        values = client._compute_values(roots)
    return values


def _is_container(obj) -> bool:
    """Whether compute/persist look for Delayed values inside ``obj``, as Dask does: builtin
    containers, namedtuples and dataclass instances (not iterators, which pass through)."""
    typ = type(obj)
    return (typ in (list, tuple, dict, set, frozenset)
            or (isinstance(obj, tuple) and hasattr(typ, "_fields"))
            or (hasattr(typ, "__dataclass_fields__") and not isinstance(obj, type)))


def _find_delayed(obj, found):
    """Appends the Delayed values inside ``obj`` (through builtin containers, namedtuples and
    dataclasses) to ``found``."""
    if isinstance(obj, Delayed):
        found.append(obj)
    elif type(obj) is dict:
        for v in obj.values():
            _find_delayed(v, found)
    elif _is_container(obj):
        items = obj if not hasattr(type(obj), "__dataclass_fields__") else \
            [getattr(obj, f.name) for f in dataclasses.fields(obj) if hasattr(obj, f.name)]
        for item in items:
            _find_delayed(item, found)


def _repack(obj, persisted):
    """``obj`` with each Delayed value replaced by ``persisted[id(value)]``."""
    if isinstance(obj, Delayed):
        return persisted[id(obj)]
    if _is_collection(obj):
        return obj.__tegu_rebuild__([persisted[id(d)] for d in obj.__tegu_parts__()])
    typ = type(obj)
    if typ is dict:
        return {k: _repack(v, persisted) for k, v in obj.items()}
    if typ in (list, tuple, set, frozenset):
        return typ(_repack(item, persisted) for item in obj)
    if isinstance(obj, tuple) and hasattr(typ, "_fields"):
        return typ(*(_repack(item, persisted) for item in obj))
    if hasattr(typ, "__dataclass_fields__") and not isinstance(obj, type):
        return dataclasses.replace(obj, **{f.name: _repack(getattr(obj, f.name), persisted)
                                           for f in dataclasses.fields(obj)
                                           if f.init and hasattr(obj, f.name)})
    return obj


def _collect(args, traverse):
    """Splits compute arguments into Delayed roots and pass-through values."""
    roots, slots = [], []
    for arg in args:
        arg = _finalized(arg) if traverse or _is_collection(arg) else arg
        if isinstance(arg, Delayed):
            slots.append(len(roots))
            roots.append(arg)
            continue
        if traverse and _is_container(arg):
            task, deps = unpack_collections(arg)
            if deps:
                slots.append(len(roots))
                roots.append(delayed(task))
                continue
        slots.append(None)
    return roots, slots


def _num_workers(num_workers):
    if num_workers is None:
        num_workers = config.get("num-workers", None) or config.get("num_workers", None)
    if num_workers is None:
        return 0
    if not isinstance(num_workers, int) or num_workers < 1:
        raise ValueError(f"num_workers must be a positive integer, got {num_workers!r}")
    return num_workers


def _run(roots, scheduler, num_workers, optimize_graph):
    # As Dask's local_callbacks: the active callbacks serve only the outermost computation, so
    # computes nested inside tasks (or running meanwhile) do not drive the same progress bar.
    with _callbacks_lock:
        callbacks = list(_active_callbacks)
        _active_callbacks.clear()
    progress = _tegu.Progress() if callbacks else None
    try:
        for cb in callbacks:
            cb._start(progress)
        try:
            return _tegu.compute(roots, scheduler, num_workers,
                                 bool(optimize_graph) and config.get("optimization.fuse.active", True),
                                 progress)
        finally:
            for cb in callbacks:
                cb._finish(progress)
    finally:
        if callbacks:
            with _callbacks_lock:
                _active_callbacks.update(callbacks)


def compute(*args, traverse=True, optimize_graph=True, scheduler=None, get=None,
            num_workers=None, **kwargs):
    """Computes several Delayed values at once, sharing their common work.

    Returns a tuple with one result per argument; arguments that hold no Delayed values are
    returned unchanged. Lists, tuples, dicts and sets of Delayed values are computed into the
    same container type when ``traverse`` is true.
    """
    if get is not None:
        raise TypeError("The get= keyword has been removed. Please use the scheduler= keyword "
                        "instead with the name of the desired scheduler like 'threads' or 'sync'")
    sched = get_scheduler(scheduler, args)
    roots, slots = _collect(args, traverse)
    if not roots:
        return tuple(args)
    if sched in ("distributed", "processes"):
        values = _run_elsewhere(roots, sched, scheduler, _num_workers(num_workers))
    else:
        values = _run(roots, sched, _num_workers(num_workers), optimize_graph)
    return tuple(arg if slot is None else values[slot] for arg, slot in zip(args, slots))


def persist(*args, traverse=True, optimize_graph=True, scheduler=None, num_workers=None, **kwargs):
    """Computes Delayed values and returns new Delayed values holding the results in memory,
    under the same keys."""
    sched = get_scheduler(scheduler, args)
    # As Dask: the Delayed values inside containers are persisted one by one, and the
    # containers come back holding the persisted values.
    found: list = []
    for arg in args:
        if isinstance(arg, Delayed):
            found.append(arg)
        elif _is_collection(arg):
            found.extend(arg.__tegu_parts__())
        elif traverse:
            _find_delayed(arg, found)
    if not found:
        return tuple(args)
    roots, index = [], {}
    for d in found:
        if id(d) not in index:
            index[id(d)] = len(roots)
            roots.append(d)
    if sched in ("distributed", "processes"):
        # As Dask: with a client, persisted values are backed by futures on the cluster.
        values = _run_elsewhere(roots, sched, scheduler, _num_workers(num_workers),
                                persist=sched == "distributed")
    else:
        values = _run(roots, sched, _num_workers(num_workers), optimize_graph)
    persisted = {id(d): Delayed(d._key, None, (value,), None, (), d._length)
                 for d, value in zip(roots, values)}
    return tuple(_repack(arg, persisted) if traverse or isinstance(arg, Delayed)
                 or _is_collection(arg) else arg for arg in args)


def visualize(*args, filename="mydask", format=None, optimize_graph=False, traverse=True,
              rankdir="BT", verbose=False, **kwargs):
    """Renders the task graph of the arguments with Graphviz, as dask.visualize.

    ``filename`` without an extension gets ``format`` (default png). ``filename=None`` returns
    the DOT source instead of writing a file. Returns an IPython image when IPython is present.
    """
    roots, _ = _collect(args, traverse)
    if filename is None:
        return _tegu.visualize(roots, None, optimize_graph, rankdir, verbose)
    filename = os.fspath(filename)
    root, ext = os.path.splitext(filename)
    if not ext:
        filename = f"{filename}.{format or 'png'}"
        ext = "." + (format or "png")
    _tegu.visualize(roots, filename, optimize_graph, rankdir, verbose)
    try:
        from IPython.display import SVG, Image
    except ImportError:
        return None
    return SVG(filename=filename) if ext.lower() == ".svg" else Image(filename=filename)
