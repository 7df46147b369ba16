"""Client and Future, as dask.distributed's, on Tegu's C++ ClientCore."""
from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import hashlib
import logging
import os
import threading
import time
import uuid
import weakref

from tegu import _tegu, config
from tegu.delayed import Delayed, funcname
from tegu.distributed import protocol
from tegu.distributed.protocol import TASK
from tegu.tokenize import tokenize

logger = logging.getLogger("tegu.distributed")

__all__ = ["Client", "Future", "wait", "as_completed", "fire_and_forget", "futures_of",
           "default_client", "CancelledError", "FutureLost"]


class CancelledError(concurrent.futures.CancelledError):
    """The future was cancelled."""


class FutureLost(Exception):
    """The data of a future was lost and cannot be recomputed."""


TimeoutError = TimeoutError  # noqa: A001 - builtins.TimeoutError, as Dask's


# ---- default client -------------------------------------------------------------------------

_clients_lock = threading.Lock()
_default_clients: list = []  # weakrefs, the last open one is the default


def _set_default(client):
    with _clients_lock:
        _default_clients.append(weakref.ref(client))


def _unset_default(client):
    with _clients_lock:
        _default_clients[:] = [r for r in _default_clients if r() is not None and r() is not client]


def default_client(c=None):
    """The default client (the last one created with set_as_default that is still open)."""
    if c is not None:
        return c
    with _clients_lock:
        for ref in reversed(_default_clients):
            cl = ref()
            if cl is not None and cl.status == "running":
                return cl
    raise ValueError("No clients found\nStart a client and point it to the scheduler address\n"
                     "  from tegu.distributed import Client\n  client = Client('ip-addr-of-scheduler:8786')\n")


def _current_default():
    try:
        return default_client()
    except ValueError:
        return None


# ---- secrets --------------------------------------------------------------------------------

_local_secrets: dict = {}  # address -> secret of schedulers running in this process


def _register_secret(address, secret):
    _local_secrets[address] = secret


def _find_secret(address, secret):
    if secret is not None:
        return secret
    if address in _local_secrets:
        return _local_secrets[address]
    env = os.environ.get("TEGU_SECRET")
    if env:
        return env
    cfg = config.get("distributed.secret", None)
    if cfg:
        return cfg
    path = os.environ.get("TEGU_SECRET_FILE")
    if path:
        with open(path) as f:
            return f.read().strip()
    raise ValueError(f"No secret for the scheduler at {address}: pass Client(address, secret=...), "
                     "or set TEGU_SECRET, the config key distributed.secret, or TEGU_SECRET_FILE "
                     "(a file holding the secret)")


# ---- futures --------------------------------------------------------------------------------

_state_lock = threading.Lock()  # guards every state's event, callbacks and waiters
_DONE = frozenset({"finished", "error", "cancelled"})


class _FutureState:
    """The state of one key in one client, shared by every Future object of that key.

    Cheap to create (client.map makes 100k of them): the Event, callbacks and asyncio waiters
    exist only once somebody waits."""

    __slots__ = ("key", "status", "_event", "exception", "traceback", "error_kind", "callbacks",
                 "waiters", "__weakref__")

    def __init__(self, key):
        self.key = key
        self.status = "pending"
        self._event = None
        self.exception = None
        self.traceback = None
        self.error_kind = None
        self.callbacks = None
        self.waiters = None

    def done(self):
        return self.status in _DONE

    def wait(self, timeout):
        """Whether the key is done, waiting up to ``timeout`` seconds."""
        with _state_lock:
            if self.status in _DONE:
                return True
            ev = self._event
            if ev is None:
                ev = self._event = threading.Event()
        return ev.wait(timeout)

    def _fire(self, status):
        with _state_lock:
            self.status = status
            ev, self._event = self._event, None
            callbacks, self.callbacks = self.callbacks, None
            waiters, self.waiters = self.waiters, None
        if ev is not None:
            ev.set()
        if waiters:
            for loop, fut in waiters:
                try:
                    loop.call_soon_threadsafe(_set_async_done, fut)
                except RuntimeError:  # the loop is closed
                    pass
        return callbacks

    def add_callback(self, item):
        """Registers (fn, future); False when already done (the caller runs it)."""
        with _state_lock:
            if self.status in _DONE:
                return False
            if self.callbacks is None:
                self.callbacks = []
            self.callbacks.append(item)
            return True

    def add_waiter(self, loop, fut):
        with _state_lock:
            if self.status in _DONE:
                return False
            if self.waiters is None:
                self.waiters = []
            self.waiters.append((loop, fut))
            return True

    def finish(self):
        return self._fire("finished")

    def set_error(self, exc, error_kind="task-raised"):
        self.exception = exc
        self.traceback = exc.__traceback__
        self.error_kind = error_kind
        return self._fire("error")

    def cancel(self):
        self.exception = CancelledError()
        return self._fire("cancelled")

    def lose(self):
        with _state_lock:
            if self.status == "finished":
                self.status = "lost"


def _set_async_done(fut):
    if not fut.done():
        fut.set_result(None)


def _run_callbacks(callbacks, future_objs):
    for fn, fut in callbacks or ():
        try:
            fn(fut)
        except Exception:  # noqa: BLE001
            logger.exception("Error in a Future's done callback")


class Future:
    """A remotely running computation, as dask.distributed.Future."""

    __slots__ = ("key", "client", "_state", "_released", "__weakref__")

    def __init__(self, key, client=None, inform=True, state=None):
        if client is None:
            client = default_client()
        self.key = key
        self.client = client
        self._released = False
        if state is None:
            state = client._state_for(key, inform=inform)
        else:
            client._incref(key, state)
        self._state = state

    # --- state ---------------------------------------------------------------------------
    @property
    def status(self):
        return self._state.status

    def done(self):
        return self._state.done()

    def cancelled(self):
        return self._state.status == "cancelled"

    def _wait(self, timeout):
        state = self._state
        deadline = None if timeout is None else time.monotonic() + timeout
        while not state.done():
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise TimeoutError(f"Future {self.key!r} not done after {timeout} s")
            step = 1.0 if remaining is None else min(1.0, remaining)
            if state.wait(step):
                break
            # A safety net for events the stream may not report (e.g. a key already in memory
            # for another client): ask the client core directly.
            self.client._poll_key(self.key, state)

    def result(self, timeout=None):
        if self.client.asynchronous and _in_running_loop():
            return self._result_async()
        self._wait(timeout)
        state = self._state
        if state.status == "finished":
            return self.client._gather_keys([self.key], state_check=False)[0]
        raise state.exception.with_traceback(state.traceback)

    async def _result_async(self):
        await self._await_done()
        state = self._state
        if state.status == "finished":
            loop = asyncio.get_running_loop()
            values = await loop.run_in_executor(None, self.client._gather_keys, [self.key], False)
            return values[0]
        raise state.exception.with_traceback(state.traceback)

    def exception(self, timeout=None):
        self._wait(timeout)
        return self._state.exception if self._state.status in ("error", "cancelled") else None

    def traceback(self, timeout=None):
        self._wait(timeout)
        return self._state.traceback

    def add_done_callback(self, fn):
        if not self._state.add_callback((fn, self)):
            _run_callbacks([(fn, self)], None)

    def cancel(self, force=False):
        self.client.cancel([self], force=force)

    def retry(self):
        self.client.retry([self])

    def release(self):
        if not self._released:
            self._released = True
            client = self.client
            if client is not None:
                client._decref(self.key, self._state)
                client._flush_releases()

    def __del__(self):
        # may run in any thread, inside any code: only buffer the release
        try:
            if not self._released:
                self._released = True
                self.client._decref(self.key, self._state)
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    # --- asyncio -------------------------------------------------------------------------
    async def _await_done(self):
        state = self._state
        if state.done():
            return
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        if state.add_waiter(loop, fut):
            await fut

    def __await__(self):
        return self._result_async().__await__()

    # --- identity ------------------------------------------------------------------------
    def __reduce__(self):
        return (_rebuild_future, (self.key,))

    def __repr__(self):
        status = self._state.status
        if status == "error":
            return f"<Future: {status}, key: {self.key}, type: {type(self._state.exception).__name__}>"
        return f"<Future: {status}, key: {self.key}>"

    def __hash__(self):
        return hash(self.key)

    def __eq__(self, other):
        return self is other

    def __dask_tokenize__(self):
        return ("Future", self.key)

    __tegu_tokenize__ = __dask_tokenize__


def _rebuild_future(key):
    from tegu.distributed.worker import get_client

    client = get_client()
    return Future(key, client, inform=True)


def _in_running_loop():
    try:
        asyncio.get_running_loop()
        return True
    except RuntimeError:
        return False


# ---- traversal helpers ----------------------------------------------------------------------

def _is_container(obj):
    typ = type(obj)
    return typ in (list, tuple, dict, set, frozenset) or (isinstance(obj, tuple) and hasattr(typ, "_fields"))


def futures_of(obj):
    """The futures inside ``obj`` (lists, tuples, dicts, sets, persisted Delayed values)."""
    out, seen = [], set()
    stack = [obj]
    while stack:
        x = stack.pop()
        if isinstance(x, Future):
            if id(x) not in seen:
                seen.add(id(x))
                out.append(x)
        elif isinstance(x, dict):
            stack.extend(x.values())
        elif _is_container(x):
            stack.extend(x)
        elif isinstance(x, Delayed):
            stack.extend(x._args)
            if x._kwargs:
                stack.extend(x._kwargs.values())
            stack.extend(x._deps)
    out.reverse()
    return out


def _repack(obj, values):
    if isinstance(obj, Future):
        return values[obj.key]
    typ = type(obj)
    if typ is dict:
        return {k: _repack(v, values) for k, v in obj.items()}
    if typ in (list, tuple, set, frozenset):
        return typ(_repack(x, values) for x in obj)
    if isinstance(obj, tuple) and hasattr(typ, "_fields"):
        return typ(*(_repack(x, values) for x in obj))
    return obj


def _key_of(k):
    return k.key if isinstance(k, Future) else k


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

class Client:
    """Connects to a Tegu scheduler (or starts a LocalCluster), as dask.distributed.Client."""

    _instances = weakref.WeakSet()

    def __init__(self, address=None, *, secret=None, timeout=10, asynchronous=False,
                 set_as_default=True, name=None, direct_to_workers=None, loop=None,
                 **cluster_kwargs):
        self.asynchronous = asynchronous
        self.status = "newly-created"
        self.id = name or f"Client-{uuid.uuid4()}"
        self._timeout = timeout
        self._set_as_default = set_as_default
        self._secret = secret
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
            self._core = _tegu.ClientCore.connect(address, secret, float(self._timeout))
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

    # --- gather --------------------------------------------------------------------------------
    def _gather_keys(self, keys, state_check=True, errors="raise"):
        """The values of ``keys`` (all done), fetched in one round trip, retrying lost keys."""
        core = self._core
        values = {}
        todo = list(dict.fromkeys(keys))
        for attempt in range(50):
            got, missing = core.gather(todo)
            for k, kind, frames in got:
                values[k] = protocol.deserialize(kind, frames)
            if not missing:
                break
            todo = []
            for k in missing:
                st = core.wait_key(k, 5.0)
                if st == "erred":
                    err = core.error_of(k)
                    exc = protocol.error_from_frames(err[0], err[1], k) if err else FutureLost(repr(k))
                    if errors == "skip":
                        values[k] = _SKIP
                        continue
                    raise exc
                if st == "unknown":
                    raise FutureLost(f"The data of {k!r} was lost and this client no longer wants it")
                todo.append(k)
            if not todo:
                break
        else:
            raise FutureLost(f"Could not gather {todo!r}: the data was lost")
        return [values[k] for k in keys]

    def gather(self, futures, errors="raise", direct=None, asynchronous=None):
        """The results of (nested lists, tuples and dicts of) futures."""
        if asynchronous or (asynchronous is None and self.asynchronous and _in_running_loop()):
            return self._gather_async(futures, errors)
        return self._gather_sync(futures, errors)

    async def _gather_async(self, futures, errors):
        for f in futures_of(futures):
            await f._await_done()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self._gather_sync, futures, errors)

    def _gather_sync(self, futures, errors="raise"):
        if errors not in ("raise", "skip"):
            raise ValueError(f"errors must be 'raise' or 'skip', got {errors!r}")
        single = isinstance(futures, Future)
        futs = [futures] if single else futures_of(futures)
        for f in futs:
            f._wait(None)
        bad = set()
        for f in futs:
            st = f._state
            if st.status in ("error", "cancelled"):
                if errors == "skip":
                    bad.add(f.key)
                    continue
                raise st.exception.with_traceback(st.traceback)
        keys = [f.key for f in futs if f.key not in bad]
        values = dict(zip(keys, self._gather_keys(keys, errors=errors))) if keys else {}
        if single:
            return values[futures.key]
        if bad or any(v is _SKIP for v in values.values()):
            return _repack_skip(futures, values)
        return _repack(futures, values)

    # --- scatter -------------------------------------------------------------------------------
    def scatter(self, data, workers=None, broadcast=False, direct=None, hash=True, timeout=None,
                asynchronous=None):
        """Places data on the workers; returns Futures (the same shape as ``data``)."""
        if asynchronous or (asynchronous is None and self.asynchronous and _in_running_loop()):
            loop = asyncio.get_running_loop()
            return loop.run_in_executor(None, lambda: self._scatter_sync(data, workers, broadcast, hash))
        return self._scatter_sync(data, workers, broadcast, hash)

    def _scatter_sync(self, data, workers, broadcast, hash):
        self._check_running()
        if isinstance(data, type(iter([]))) or hasattr(data, "__next__"):
            data = list(data)
        if isinstance(data, dict):
            keys, values = list(data.keys()), list(data.values())
        elif isinstance(data, (list, tuple, set, frozenset)):
            values = list(data)
            keys = [self._scatter_key(v, hash) for v in values]
        else:
            values = [data]
            keys = [self._scatter_key(data, hash)]
        items = []
        for k, v in zip(keys, values):
            kind, frames = protocol.serialize(v)
            items.append((k, kind, frames))
        futures_by_key = {}
        for k in keys:
            if k not in futures_by_key:
                futures_by_key[k] = Future(k, self, inform=False)
        wl = self._resolve_workers(workers)
        with self._send_lock:
            self._flush_releases()
            placed = self._core.scatter(items, bool(broadcast), wl)
        placed_set = set(placed)
        for k, f in futures_by_key.items():
            if k in placed_set or k in keys:
                cbs = f._state.finish() if not f._state.done() else None
                _run_callbacks(cbs, None)
        if isinstance(data, dict):
            return {k: futures_by_key[k] for k in keys}
        if isinstance(data, (list, tuple, set, frozenset)):
            out = [futures_by_key[k] for k in keys]
            return type(data)(out) if isinstance(data, (tuple, set, frozenset)) else out
        return futures_by_key[keys[0]]

    @staticmethod
    def _scatter_key(value, hash):
        if hash:
            if type(value) in (bytes, bytearray):  # tokenize would repr() the whole buffer
                return f"{type(value).__name__}-{hashlib.md5(value, usedforsecurity=False).hexdigest()}"
            return f"{type(value).__name__}-{tokenize(value)}"
        return f"{type(value).__name__}-{uuid.uuid4().hex}"

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
        from tegu.base import _collect

        single = isinstance(collections, Delayed) or not isinstance(collections, (list, tuple, set, frozenset, dict))
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
        single = isinstance(collections, Delayed)
        items = [collections] if single else list(collections)
        roots = [d for d in items if isinstance(d, Delayed)]
        futures = self._submit_delayed(roots, priority, retries, workers, allow_other_workers) if roots else []
        by_id = {id(d): f for d, f in zip(roots, futures)}
        out = [Delayed(d._key, None, (by_id[id(d)],), None, (), d._length) if isinstance(d, Delayed) else d
               for d in items]
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


class _AsCurrent:
    def __init__(self, client):
        self.client = client

    def __enter__(self):
        _set_default(self.client)
        return self.client

    def __exit__(self, *exc):
        with _clients_lock:
            for i in range(len(_default_clients) - 1, -1, -1):
                if _default_clients[i]() is self.client:
                    del _default_clients[i]
                    break


class _RunCall:
    def __init__(self, function, args, kwargs):
        self.function, self.args, self.kwargs = function, args, kwargs

    def __call__(self):
        return self.function(*self.args, **self.kwargs)


_SKIP = object()


def _repack_skip(obj, values):
    """As _repack, dropping the futures that erred (errors='skip')."""
    if isinstance(obj, Future):
        return values.get(obj.key, _SKIP)
    typ = type(obj)
    if typ is dict:
        out = {k: _repack_skip(v, values) for k, v in obj.items()}
        return {k: v for k, v in out.items() if v is not _SKIP}
    if typ in (list, tuple, set, frozenset):
        return typ(v for v in (_repack_skip(x, values) for x in obj) if v is not _SKIP)
    return obj


def _host(address):
    return address.split("://")[-1].rsplit(":", 1)[0]


def fire_and_forget(obj):
    """The scheduler computes these futures even when no client wants them any more."""
    futs = futures_of(obj)
    by_client = {}
    for f in futs:
        by_client.setdefault(id(f.client), (f.client, []))[1].append(f)
    for client, fs in by_client.values():
        client.fire_and_forget(fs)


# ---- wait and as_completed ------------------------------------------------------------------

FIRST_COMPLETED = "FIRST_COMPLETED"
FIRST_EXCEPTION = "FIRST_EXCEPTION"
ALL_COMPLETED = "ALL_COMPLETED"

DoneAndNotDoneFutures = concurrent.futures._base.DoneAndNotDoneFutures


def wait(fs, timeout=None, return_when=ALL_COMPLETED):
    """Waits for futures: DoneAndNotDoneFutures(done, not_done), as distributed.wait."""
    if isinstance(fs, Future):
        fs = [fs]
    fs = futures_of(fs)
    if fs and fs[0].client.asynchronous and _in_running_loop():
        return _wait_async(fs, timeout, return_when)
    return _wait_sync(fs, timeout, return_when)


async def _wait_async(fs, timeout, return_when):
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, _wait_sync, fs, timeout, return_when)


def _wait_sync(fs, timeout, return_when):
    if return_when not in (ALL_COMPLETED, FIRST_COMPLETED, FIRST_EXCEPTION):
        raise ValueError(f"Invalid return_when {return_when!r}")
    deadline = None if timeout is None else time.monotonic() + timeout
    pending = [f for f in fs if not f.done()]
    errored = any(f.status == "error" for f in fs)
    satisfied = (not pending or (return_when == FIRST_COMPLETED and len(pending) < len(fs))
                 or (return_when == FIRST_EXCEPTION and errored))
    if not satisfied:
        cond = threading.Condition()
        box = {"left": len(pending), "error": False}

        def note(fut):
            with cond:
                box["left"] -= 1
                if fut.status == "error":
                    box["error"] = True
                cond.notify_all()

        for f in pending:
            f.add_done_callback(note)

        def ready():
            if box["left"] <= 0:
                return True
            if return_when == FIRST_COMPLETED:
                return box["left"] < len(pending)
            return return_when == FIRST_EXCEPTION and box["error"]

        with cond:
            while not ready():
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    if return_when == ALL_COMPLETED:
                        raise TimeoutError(f"{box['left']} futures not done after {timeout} s")
                    break
                if not cond.wait(1.0 if remaining is None else min(remaining, 1.0)):
                    # a safety net: ask the client core about one key still pending
                    for f in pending:
                        if not f.done():
                            cond.release()
                            try:
                                f.client._poll_key(f.key, f._state)
                            finally:
                                cond.acquire()
                            break
    done = {f for f in fs if f.done()}
    return DoneAndNotDoneFutures(done, {f for f in fs if not f.done()})


class as_completed:
    """Iterates over futures in the order they complete, as distributed.as_completed."""

    def __init__(self, futures=None, loop=None, with_results=False, raise_errors=True, timeout=None):
        self._cond = threading.Condition()
        self._queue: list = []
        self._pending: set = set()
        self._futures: dict = {}
        self.with_results = with_results
        self.raise_errors = raise_errors
        self._timeout = timeout
        if futures:
            self.update(futures)

    def _notify(self, future):
        with self._cond:
            if id(future) in self._pending:
                self._pending.discard(id(future))
                self._queue.append(future)
                self._cond.notify_all()

    def add(self, future):
        with self._cond:
            self._pending.add(id(future))
            self._futures[id(future)] = future
        future.add_done_callback(self._notify)

    def update(self, futures):
        for f in futures:
            self.add(f)

    def count(self):
        with self._cond:
            return len(self._pending) + len(self._queue)

    def is_empty(self):
        return self.count() == 0

    def has_ready(self):
        with self._cond:
            return bool(self._queue)

    def clear(self):
        with self._cond:
            self._queue.clear()
            self._pending.clear()
            self._futures.clear()

    def _get(self, block=True, all_ready=False):
        with self._cond:
            while not self._queue:
                if not self._pending:
                    raise StopIteration
                if not block:
                    return []
                self._cond.wait(0.5)
                if not self._queue:
                    for fid in list(self._pending):
                        f = self._futures.get(fid)
                        if f is not None and not f.done():
                            f.client._poll_key(f.key, f._state)
                            break
            if all_ready:
                out, self._queue = self._queue, []
            else:
                out = [self._queue.pop(0)]
            for f in out:
                self._futures.pop(id(f), None)
        return [self._with_result(f) for f in out]

    def _with_result(self, f):
        if not self.with_results:
            return f
        if f.status == "error":
            if self.raise_errors:
                st = f._state
                raise st.exception.with_traceback(st.traceback)
            return f, f._state.exception
        if f.status == "cancelled":
            if self.raise_errors:
                raise CancelledError()
            return f, f._state.exception
        return f, f.result()

    def __iter__(self):
        return self

    def __next__(self):
        return self._get()[0]

    def next_batch(self, block=True):
        try:
            return self._get(block=block, all_ready=True)
        except StopIteration:
            return []

    def batches(self):
        while True:
            try:
                yield self._get(all_ready=True)
            except StopIteration:
                return

    def __aiter__(self):
        return self

    async def __anext__(self):
        loop = asyncio.get_running_loop()

        def get():
            try:
                return self._get(block=True)[0]
            except StopIteration:
                return _STOP

        value = await loop.run_in_executor(None, get)
        if value is _STOP:
            raise StopAsyncIteration
        return value


_STOP = object()
