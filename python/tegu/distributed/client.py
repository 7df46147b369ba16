"""Client, as dask.distributed's, on Tegu's C++ ClientCore: connecting (or starting a
LocalCluster), the per-key bookkeeping behind its futures, the event thread, submit and map,
cancel and the cluster queries. gather/scatter live in ``transfer``, compute/persist/get in
``graph``; Future in ``futures``; wait/as_completed in ``waiting``. The names this module
used to define are re-exported from here.

Thread-safety: a Client may be used from any thread. ``_lock`` (an RLock) guards the key
states and their reference counts; ``_send_lock`` orders the buffered key releases before the
graph updates that follow them. One daemon event thread per client turns the scheduler's
events into future completions and flushes the buffered releases."""
from __future__ import annotations

import asyncio
import gc
import hashlib
import logging
import threading
import time
import uuid
import weakref

from tegu import _tegu
from tegu.delayed import Delayed, funcname
from tegu.distributed import protocol
from tegu.distributed.futures import (  # noqa: F401 - re-exported
    _SKIP, CancelledError, Future, FutureLost, TimeoutError, _FutureState, _in_running_loop,
    _is_container, _key_of, _rebuild_future, _repack, _repack_skip, _run_callbacks,
    _set_async_done, futures_of)
from tegu.distributed.graph import _GraphMixin
from tegu.distributed.protocol import TASK
from tegu.distributed.registry import (  # noqa: F401 - re-exported
    _AsCurrent, _clients_lock, _current_default, _default_clients, _find_secret, _local_secrets,
    _register_secret, _set_default, _unset_default, default_client)
from tegu.distributed.transfer import _TransferMixin
from tegu.distributed.waiting import (  # noqa: F401 - re-exported
    ALL_COMPLETED, FIRST_COMPLETED, FIRST_EXCEPTION, DoneAndNotDoneFutures, as_completed,
    fire_and_forget, wait)
from tegu.tokenize import tokenize

logger = logging.getLogger("tegu.distributed")

__all__ = ["Client", "Future", "wait", "as_completed", "fire_and_forget", "futures_of",
           "default_client", "CancelledError", "FutureLost"]


# ---- keys -----------------------------------------------------------------------------------

_ATOMIC = (int, float, str, bytes, bool, type(None))


def _task_token(ftok, args, kwargs):
    """The token of a pure task: tokenize(func, args, kwargs), with a fast path for atomic
    arguments (client.map over 100k numbers)."""
    for a in args:
        if type(a) not in _ATOMIC:
            return tokenize(ftok, args, kwargs or {})
    if kwargs:
        for v in kwargs.values():
            if type(v) not in _ATOMIC:
                return tokenize(ftok, args, kwargs)
        return hashlib.md5(repr((ftok, args, sorted(kwargs.items()))).encode(), usedforsecurity=False).hexdigest()
    return hashlib.md5(repr((ftok, args)).encode(), usedforsecurity=False).hexdigest()


# ---- the event thread -----------------------------------------------------------------------

def _event_loop(client_ref, core):
    while True:
        try:
            events = core.next_events(0.2)
        except Exception:  # noqa: BLE001 - the core closed
            return
        client = client_ref()
        if client is None or client._closing:
            return
        if events:
            client._on_events(events)
        if client._to_release:
            client._flush_releases()
        if core.closed:
            client._connection_lost()
            return
        del client


# ---- the client -----------------------------------------------------------------------------

class Client(_TransferMixin, _GraphMixin):
    """Connects to a Tegu scheduler (or starts a LocalCluster), as dask.distributed.Client."""

    _instances = weakref.WeakSet()

    def __init__(self, address=None, *, secret=None, timeout=10, asynchronous=False,
                 set_as_default=True, name=None, direct_to_workers=None, loop=None,
                 security=None, **cluster_kwargs):
        self.asynchronous = asynchronous
        self.status = "newly-created"
        self.id = name or f"Client-{uuid.uuid4()}"
        self._timeout = timeout
        self._set_as_default = set_as_default
        self._secret = secret
        self._security = security
        self._address_arg = address
        self._cluster_kwargs = cluster_kwargs
        self.cluster = None
        self._own_cluster = False
        self._core = None
        self._lock = threading.RLock()
        self._states: dict = {}
        self._refs: dict = {}
        self._closing = False
        self._thread = None
        self._worker_names: dict = {}
        self._to_release: list = []
        self._send_lock = threading.RLock()
        Client._instances.add(self)
        if not asynchronous:
            self._start()

    # --- starting and closing --------------------------------------------------------------
    def _start(self):
        from tegu.distributed.cluster import LocalCluster

        address = self._address_arg
        if address is None:
            if "processes" not in self._cluster_kwargs:
                self._cluster_kwargs["processes"] = True
            self.cluster = LocalCluster(**self._cluster_kwargs)
            self._own_cluster = True
        elif not isinstance(address, str):
            if hasattr(address, "scheduler_address"):  # a cluster object
                self.cluster = address
            elif hasattr(address, "address"):  # a Scheduler object
                pass
            else:
                raise TypeError(f"Client address must be a string or a cluster, got {address!r}")
        if self.cluster is not None:
            address, secret = self.cluster.scheduler_address, self.cluster.secret
        elif not isinstance(address, str):
            address, secret = address.address, getattr(address, "secret", None) or self._secret
        else:
            secret = self._secret
        if "://" not in address:
            address = "tcp://" + address
        try:
            secret = _find_secret(address, secret)
            tls = self._security.tls_args() if self._security is not None else {}
            self._core = _tegu.ClientCore.connect(address, secret, float(self._timeout), **tls)
        except BaseException:
            if self._own_cluster:
                self.cluster.close()
            raise
        self._secret = secret
        self.scheduler_address = self._core.scheduler_address
        self._core.enable_events(True)
        self._thread = threading.Thread(target=_event_loop, args=(weakref.ref(self), self._core),
                                        name=f"tegu-client-events-{self._core.id}", daemon=True)
        self._thread.start()
        self.status = "running"
        if self._set_as_default:
            _set_default(self)
        return self

    def __await__(self):
        async def start():
            if self.status == "newly-created":
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(None, self._start)
            return self

        return start().__await__()

    async def __aenter__(self):
        await self
        return self

    async def __aexit__(self, *exc):
        await self._close_async()

    def __enter__(self):
        if self.status == "newly-created":
            self._start()
        return self

    def __exit__(self, *exc):
        self._close_sync()

    def close(self, timeout=None):
        if self.asynchronous:
            return self._close_async()
        self._close_sync()

    async def _close_async(self):
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._close_sync)

    def _close_sync(self):
        if self.status in ("closed", "closing"):
            return
        self.status = "closing"
        self._closing = True
        _unset_default(self)
        core = self._core
        if core is not None:
            try:
                core.close()
            except Exception:  # noqa: BLE001
                pass
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)
        with self._lock:
            states = list(self._states.values())
            self._states.clear()
            self._refs.clear()
        for st in states:
            if not st.done():
                st.cancel()
        if self._own_cluster and self.cluster is not None:
            self.cluster.close()
        self.status = "closed"

    def shutdown(self):
        """Closes the client and the scheduler (and the cluster it started)."""
        if self._core is not None and not self._core.closed:
            try:
                self._core.shutdown_scheduler()
            except Exception:  # noqa: BLE001
                pass
        self._close_sync()

    def __del__(self):
        try:
            if self.status == "running" and self._own_cluster:
                self._close_sync()
        except Exception:  # noqa: BLE001
            pass

    def __repr__(self):
        if self._core is None or self.status != "running":
            return f"<Client: status={self.status}>"
        n = len(self._info().get("workers", ()))
        return f"<Client: scheduler={self.scheduler_address!r} workers={n} status={self.status}>"

    @property
    def dashboard_link(self):
        return None

    # --- key state bookkeeping ---------------------------------------------------------------
    def _state_for(self, key, inform=False):
        """The shared state of ``key`` with one more reference (created when new)."""
        with self._lock:
            state = self._states.get(key)
            if state is None:
                state = _FutureState(key)
                self._states[key] = state
                self._refs[key] = 1
                new = True
            else:
                self._refs[key] += 1
                new = False
        if new and inform:
            self._update_graph([], [key])
            self._poll_key(key, state)
        return state

    def _incref(self, key, state):
        with self._lock:
            if self._states.get(key) is state:
                self._refs[key] += 1

    def _decref(self, key, state):
        release = False
        with self._lock:
            if self._states.get(key) is state:
                n = self._refs[key] - 1
                if n <= 0:
                    del self._refs[key]
                    del self._states[key]
                    release = True
                else:
                    self._refs[key] = n
        if release:
            # batched: sent before the next graph update, or by the event thread
            self._to_release.append(key)

    def _flush_releases(self):
        """Sends the buffered key releases. Called with _send_lock held around a send that
        must come after them (a key released and wanted again is released first)."""
        if not self._to_release:
            return
        with self._send_lock:
            keys, self._to_release = self._to_release, []
            if keys and self.status == "running":
                try:
                    self._core.release_keys(keys)
                except Exception:  # noqa: BLE001
                    pass

    def _update_graph(self, tasks, wanted):
        with self._send_lock:
            self._flush_releases()
            self._core.update_graph(tasks, wanted)

    def _connection_lost(self):
        """The scheduler connection closed under us: pending futures fail."""
        if self._closing:
            return
        self.status = "closed"
        _unset_default(self)
        with self._lock:
            states = list(self._states.values())
        exc = OSError(f"Client lost its connection to the scheduler at {self.scheduler_address}")
        for st in states:
            if not st.done():
                _run_callbacks(st.set_error(exc, "connection-lost"), None)

    def _poll_key(self, key, state):
        if state.done() or self._core is None:
            return
        if self._core.closed:
            self._connection_lost()
            return
        try:
            st = self._core.status_of(key)
        except Exception:  # noqa: BLE001
            return
        if st == "memory":
            _run_callbacks(state.finish(), None)
        elif st == "erred":
            err = self._core.error_of(key)
            if err is not None and not state.done():
                _run_callbacks(state.set_error(protocol.error_from_frames(err[0], err[1], key), err[0]), None)

    def _on_events(self, events):
        for kind, key, error_kind, frames in events:
            with self._lock:
                state = self._states.get(key)
            if state is None:
                continue
            if kind == "memory":
                if state.status in ("finished", "cancelled"):
                    continue
                callbacks = state.finish()
            elif kind == "erred":
                if state.status in ("error", "cancelled"):
                    continue
                callbacks = state.set_error(protocol.error_from_frames(error_kind, frames, key), error_kind)
            elif kind == "lost":
                state.lose()
                continue
            else:
                continue
            _run_callbacks(callbacks, None)

    # --- workers -------------------------------------------------------------------------------
    def _info(self, with_keys=False):
        return self._core.info(with_keys)

    def _resolve_workers(self, workers):
        if workers is None:
            return []
        if isinstance(workers, str):
            workers = [workers]
        workers = list(workers)
        info = None
        out = []
        for w in workers:
            if isinstance(w, str) and "://" in w:
                out.append(w)
                continue
            if info is None:
                info = self._info()
            for ws in info["workers"]:
                if ws["name"] == str(w) or ws["address"].split("://")[-1] == str(w):
                    out.append(ws["address"])
                    break
            else:
                out.append(str(w))
        return out

    # --- submit and map ------------------------------------------------------------------------
    def _check_running(self):
        if self.status != "running":
            raise RuntimeError(f"Client is {self.status}")

    def submit(self, func, *args, key=None, workers=None, resources=None, retries=None,
               priority=0, fifo_timeout=None, allow_other_workers=False, actor=False,
               actors=False, pure=True, **kwargs):
        """Runs ``func(*args, **kwargs)`` on the cluster; returns a Future."""
        if not callable(func):
            raise TypeError("First input to submit must be a callable function")
        self._check_running()
        if key is None:
            if pure:
                key = f"{funcname(func)}-{_task_token(tokenize(func), args, kwargs)}"
            else:
                key = f"{funcname(func)}-{uuid.uuid4().hex}"
        with self._lock:
            state = self._states.get(key)
            if state is not None:
                self._refs[key] += 1
                return self._existing(key, state)
        fn_frame = protocol.dumps_function(func)
        frames, deps, dep_objs = protocol.dumps_args(args, kwargs)
        task = (key, deps, int(priority or 0), int(retries or 0), self._resolve_workers(workers),
                bool(allow_other_workers), TASK, [fn_frame] + frames)
        tasks = [task]
        delayed_deps = [d for d in dep_objs if isinstance(d, Delayed)]
        if delayed_deps:  # Delayed arguments are computed as part of the same graph
            tasks = self._graph_tasks(delayed_deps, priority, retries)[0] + tasks
        fut = Future(key, self, inform=False)
        self._update_graph(tasks, [key])
        return fut

    def _existing(self, key, state):
        # _refs was already incremented under the lock: build the Future without a new ref.
        fut = Future.__new__(Future)
        fut.key = key
        fut.client = self
        fut._released = False
        fut._state = state
        return fut

    def map(self, func, *iterables, key=None, workers=None, retries=None, resources=None,
            priority=0, allow_other_workers=False, fifo_timeout=None, actor=False, actors=False,
            pure=True, batch_size=None, **kwargs):
        """Runs ``func`` on each element of the iterables; returns a list of Futures."""
        if not callable(func):
            raise TypeError("First input to map must be a callable function")
        if iterables and all(isinstance(it, (Future, asyncio.Queue)) for it in iterables):
            raise TypeError("Dask no longer supports mapping over Iterators or Queues.")
        self._check_running()
        iterables = [list(it) for it in iterables]
        if not iterables:
            return []
        n = min(len(it) for it in iterables)
        if batch_size and batch_size < n:
            out = []
            for start in range(0, n, batch_size):
                out.extend(self.map(func, *[it[start:start + batch_size] for it in iterables],
                                    key=key[start:start + batch_size] if isinstance(key, list) else key,
                                    workers=workers, retries=retries, priority=priority,
                                    allow_other_workers=allow_other_workers, pure=pure, **kwargs))
            return out
        name = funcname(func)
        if isinstance(key, (list, tuple)):
            keys = list(key)
            if len(keys) < n:
                raise ValueError("map: fewer keys than inputs")
        elif pure:
            prefix = key or name
            ftok = tokenize(func)
            keys = [f"{prefix}-{_task_token(ftok, args, kwargs)}" for args in zip(*iterables)]
        else:
            prefix = key or name
            base = uuid.uuid4().hex[:20]
            keys = [f"{prefix}-{base}{i:012x}" for i in range(n)]
        fn_frame = protocol.dumps_function(func)
        prio = int(priority or 0)
        retr = int(retries or 0)
        wlist = self._resolve_workers(workers)
        aow = bool(allow_other_workers)
        tasks = []
        wanted = []
        futures = []
        gc_was_enabled = gc.isenabled()
        gc.disable()  # 100k small objects: no collections while building them
        try:
            self._map_build(keys, iterables, kwargs, fn_frame, prio, retr, wlist, aow, tasks,
                            wanted, futures)
        finally:
            if gc_was_enabled:
                gc.enable()
        if tasks:
            self._update_graph(tasks, wanted)
        else:
            self._flush_releases()
        return futures

    def _map_build(self, keys, iterables, kwargs, fn_frame, prio, retr, wlist, aow, tasks,
                   wanted, futures):
        dumps_args = protocol.dumps_args
        states = self._states
        refs = self._refs
        existing = self._existing
        with self._lock:
            for k, args in zip(keys, zip(*iterables)):
                state = states.get(k)
                if state is not None:
                    refs[k] += 1
                    futures.append(existing(k, state))
                    continue
                state = _FutureState(k)
                states[k] = state
                refs[k] = 1
                futures.append(existing(k, state))
                frames, deps, _ = dumps_args(args, kwargs)
                frames.insert(0, fn_frame)
                tasks.append((k, deps, prio, retr, wlist, aow, TASK, frames))
                wanted.append(k)

    # --- cancel, retry, release ----------------------------------------------------------------
    def cancel(self, futures, asynchronous=None, force=False, reason=None, msg=None):
        futs = futures_of(futures)
        keys = []
        to_cancel = []
        with self._lock:
            for f in futs:
                st = self._states.get(f.key)
                if st is not None and st is f._state:
                    del self._states[f.key]
                    self._refs.pop(f.key, None)
                    keys.append(f.key)
                    to_cancel.append(st)
        if keys:
            self._core.release_keys(keys)
        for st in to_cancel:
            _run_callbacks(st.cancel(), None)

    def retry(self, futures):
        raise NotImplementedError("Client.retry is not supported yet")

    def release(self, futures):
        for f in futures_of(futures):
            f.release()

    # --- misc ----------------------------------------------------------------------------------
    def run(self, function, *args, workers=None, wait=True, nanny=False, on_error="raise", **kwargs):
        """Runs ``function(*args, **kwargs)`` once on every worker: {address: result}."""
        fn = _RunCall(function, args, kwargs)
        frames = [protocol.dumps_function(fn.__call__)] + protocol.dumps_args((), None)[0]
        results = self._core.run(TASK, frames, self._resolve_workers(workers))
        out = {}
        for address, ok, kind, rframes in results:
            if ok:
                out[address] = protocol.deserialize(kind, rframes)
            else:
                exc = protocol.error_from_frames("task-raised", rframes)
                if on_error == "raise":
                    raise exc
                out[address] = exc
        return out

    def who_has(self, futures=None):
        keys = [f.key for f in futures_of(futures)] if futures is not None else list(self._states)
        return {k: list(addrs) for k, addrs in self._core.who_has(keys)}

    def has_what(self, workers=None):
        info = self._core.info(True)
        wl = set(self._resolve_workers(workers)) if workers is not None else None
        return {w["address"]: list(w.get("keys", ())) for w in info["workers"]
                if wl is None or w["address"] in wl}

    def nthreads(self, workers=None):
        info = self._core.info(False)
        wl = set(self._resolve_workers(workers)) if workers is not None else None
        return {w["address"]: w["nthreads"] for w in info["workers"] if wl is None or w["address"] in wl}

    ncores = nthreads

    def processing(self, workers=None):
        info = self._core.info(False)
        return {w["address"]: w.get("processing", 0) for w in info["workers"]}

    def scheduler_info(self, **kwargs):
        info = self._core.info(False)
        workers = {}
        for w in info["workers"]:
            workers[w["address"]] = {
                "type": "Worker", "id": w["name"], "name": w["name"], "host": _host(w["address"]),
                "nthreads": w["nthreads"], "memory_limit": w["memory_limit"],
                "processing": w.get("processing", 0),
            }
        return {"type": "Scheduler", "id": f"Scheduler-{info['address']}",
                "address": info["address"], "workers": workers}

    def get_task_states(self, keys):
        """The scheduler's state of each key (Tegu extension, for tests)."""
        return self._core.task_states([_key_of(k) for k in keys])

    def wait_for_workers(self, n_workers, timeout=None):
        deadline = None if timeout is None else time.monotonic() + float(timeout)
        while len(self._core.info(False)["workers"]) < n_workers:
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"Only {len(self._core.info(False)['workers'])}/{n_workers} workers arrived")
            time.sleep(0.05)

    def restart(self, timeout=None, wait_for_workers=True):
        """Cancels every future; restarts the workers of a LocalCluster this client uses."""
        with self._lock:
            states = list(self._states.items())
            self._states.clear()
            self._refs.clear()
        if states:
            self._core.release_keys([k for k, _ in states])
        for _, st in states:
            _run_callbacks(st.cancel(), None)
        if self.cluster is not None and hasattr(self.cluster, "restart"):
            self.cluster.restart()
        return self

    def fire_and_forget(self, futures):
        keys = [f.key for f in futures_of(futures)]
        if keys:
            self._core.fire_and_forget(keys)

    def get_executor(self, **kwargs):
        raise NotImplementedError("Client.get_executor is not supported yet")

    def upload_file(self, filename, **kwargs):
        raise NotImplementedError("Client.upload_file is not supported yet")

    def as_current(self):
        return _AsCurrent(self)


class _RunCall:
    def __init__(self, function, args, kwargs):
        self.function, self.args, self.kwargs = function, args, kwargs

    def __call__(self):
        return self.function(*self.args, **self.kwargs)


def _host(address):
    return address.split("://")[-1].rsplit(":", 1)[0]
