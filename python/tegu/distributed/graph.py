"""Client.compute, Client.persist and Client.get: submitting Delayed graphs and Dask-style
dict graphs as one graph update (a mixin of Client).

Thread-safety: as Client's; the methods may be called from any thread. Each submission is
serialized here, then sent by ``Client._update_graph`` under the client's ``_send_lock``."""
from __future__ import annotations

from tegu import _tegu
from tegu.delayed import Delayed
from tegu.distributed import protocol
from tegu.distributed.futures import Future, _in_running_loop
from tegu.distributed.protocol import TASK

NATIVE_TASK = "native-task"
_NativeFunction = _tegu.NativeFunction


class _GraphMixin:
    """Delayed and dict-graph submission for Client; uses its ``_check_running``,
    ``_resolve_workers``, ``_update_graph``, ``_poll_key``, ``gather`` and ``_gather_sync``."""

    # --- compute and persist -------------------------------------------------------------------
    def _graph_tasks(self, roots, priority=0, retries=0, workers=None, allow_other_workers=False):
        """The python-tasks of the Delayed graph behind ``roots``; {id(root): key}."""
        tasks = []
        seen = set()
        wlist = self._resolve_workers(workers)
        prio, retr = int(priority or 0), int(retries or 0)
        fn_frames = {}
        held = []  # futures persisted Delayed values hold (kept alive until submitted)
        stack = list(roots)
        while stack:
            d = stack.pop()
            key = d._key
            hk = (type(key), key)
            if hk in seen:
                continue
            seen.add(hk)
            if d._func is None and not d._deps and len(d._args) == 1 and isinstance(d._args[0], Future):
                fut = d._args[0]
                held.append(fut)
                if fut.key == key:
                    continue  # a persisted value: the future's key is already on the cluster
            func = d._func
            if type(func) is _NativeFunction:
                # A registered C++ kernel: a native-task the worker runs without the GIL.
                frames, dep_objs = _tegu.encode_native_task(func, tuple(d._args), Delayed)
                stack.extend(dep_objs)
                tasks.append((key, [o._key for o in dep_objs], prio, retr, wlist,
                              bool(allow_other_workers), NATIVE_TASK, frames))
                continue
            fid = id(func)
            fn_frame = fn_frames.get(fid)
            if fn_frame is None:
                fn_frame = fn_frames[fid] = protocol.dumps_function(func)
            frames, deps, dep_objs = protocol.dumps_args(tuple(d._args), d._kwargs)
            for obj in dep_objs:
                if isinstance(obj, Delayed):
                    stack.append(obj)
                else:
                    held.append(obj)
            for obj in d._deps:
                stack.append(obj)
            tasks.append((key, deps, prio, retr, wlist, bool(allow_other_workers), TASK,
                          [fn_frame] + frames))
        return tasks, held

    def _submit_delayed(self, roots, priority=0, retries=0, workers=None, allow_other_workers=False):
        """Futures of the Delayed ``roots`` (one each), submitted as one graph."""
        self._check_running()
        tasks, held = self._graph_tasks(roots, priority, retries, workers, allow_other_workers)
        futures = [Future(d._key, self, inform=False) for d in roots]
        wanted = list(dict.fromkeys(d._key for d in roots))
        self._update_graph(tasks, wanted)
        for f in futures:
            self._poll_key(f.key, f._state)
        del held
        return futures

    def _collections(self, collections, traverse=True):
        """The Delayed roots of compute/persist arguments and a rebuild function."""
        from tegu.base import _collect, _is_collection

        single = isinstance(collections, Delayed) or _is_collection(collections) or \
            not isinstance(collections, (list, tuple, set, frozenset, dict))
        args = [collections] if single else list(collections)
        roots, slots = _collect(args, traverse)
        return single, args, roots, slots

    def compute(self, collections, sync=False, optimize_graph=True, workers=None,
                allow_other_workers=False, resources=None, retries=0, priority=0,
                fifo_timeout="60s", actors=None, traverse=True, **kwargs):
        """Futures (or, with sync=True, results) of Delayed values computed on the cluster."""
        single, args, roots, slots = self._collections(collections, traverse)
        futures = self._submit_delayed(roots, priority, retries, workers, allow_other_workers) if roots else []
        out = [arg if slot is None else futures[slot] for arg, slot in zip(args, slots)]
        if sync:
            out = self.gather(out)
        if single:
            return out[0]
        return type(collections)(out) if isinstance(collections, tuple) else out

    def persist(self, collections, optimize_graph=True, workers=None, allow_other_workers=False,
                resources=None, retries=None, priority=0, fifo_timeout="60s", actors=None,
                **kwargs):
        """Delayed values backed by futures on the cluster (same keys)."""
        from tegu.base import _is_collection

        single = isinstance(collections, Delayed) or _is_collection(collections)
        items = [collections] if single else list(collections)
        roots = [d for d in items if isinstance(d, Delayed)]
        for c in items:
            if _is_collection(c):
                roots.extend(c.__tegu_parts__())
        futures = self._submit_delayed(roots, priority, retries, workers, allow_other_workers) if roots else []
        by_id = {id(d): f for d, f in zip(roots, futures)}

        def backed(d):
            return Delayed(d._key, None, (by_id[id(d)],), None, (), d._length)

        def rebuilt(item):
            if isinstance(item, Delayed):
                return backed(item)
            if _is_collection(item):
                return item.__tegu_rebuild__([backed(d) for d in item.__tegu_parts__()])
            return item

        out = [rebuilt(item) for item in items]
        if single:
            return out[0]
        return type(collections)(out) if isinstance(collections, tuple) else out

    def _compute_values(self, roots):
        """Values of Delayed roots (tegu.compute routed to this client)."""
        futures = self._submit_delayed(roots)
        return self.gather(futures) if not (self.asynchronous and _in_running_loop()) else self._gather_sync(futures)

    def _persist_values(self, roots):
        return self._submit_delayed(roots)

    def get(self, dsk, keys, workers=None, allow_other_workers=None, resources=None, sync=True,
            asynchronous=None, direct=None, retries=None, priority=0, fifo_timeout="60s",
            actors=None, **kwargs):
        """Computes the keys of a Dask-style dict graph ``{key: (func, *args) | value}``:
        their values (nested as ``keys``), or futures with sync=False."""
        self._check_running()
        dsk = dict(dsk)

        def subs(x):
            t = type(x)
            if t is tuple and x and callable(x[0]):
                return (x[0],) + tuple(subs(a) for a in x[1:])
            if t is list:
                return [subs(a) for a in x]
            if t is dict:
                return {k: subs(v) for k, v in x.items()}
            try:
                if x in dsk:
                    return protocol.KeyRef(x)
            except TypeError:
                pass
            return x

        fn_frame = protocol.dumps_function(protocol.execute_dask_task)
        wl = self._resolve_workers(workers)
        tasks = []
        for key, task in dsk.items():
            t = type(task)
            if t is tuple and task and callable(task[0]):
                body = (task[0],) + tuple(subs(a) for a in task[1:])
            elif t in (list, dict) or (t is tuple and task):
                body = subs(task)
            else:
                try:
                    body = protocol.KeyRef(task) if task in dsk and task != key else task
                except TypeError:
                    body = task
            frames, deps, _ = protocol.dumps_args((body,), None)
            tasks.append((key, deps, int(priority or 0), int(retries or 0), wl,
                          bool(allow_other_workers), TASK, [fn_frame] + frames))

        flat = []

        def walk(k):
            if type(k) is list:
                for x in k:
                    walk(x)
            else:
                flat.append(k)

        walk(keys)
        futures = {k: Future(k, self, inform=False) for k in flat}
        self._update_graph(tasks, list(futures))

        def pack(k):
            return [pack(x) for x in k] if type(k) is list else futures[k]

        packed = pack(keys)
        return self.gather(packed) if sync else packed
