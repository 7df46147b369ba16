"""Futures of tegu.distributed: CancelledError, FutureLost, the per-key future state shared
by every Future of one key in one client, Future, and futures_of with the helpers that
traverse and rebuild nested containers of futures.

Thread-safety: Future objects may be used from any thread. Every ``_FutureState``'s status
transition, Event, callbacks and asyncio waiters are guarded by the module-wide
``_state_lock``; callbacks run outside it, in the thread that completed the key (usually the
client's event thread), and asyncio waiters are woken with ``call_soon_threadsafe``.
``Future.__del__`` may run in any thread and only buffers the release in its client."""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time

from tegu.delayed import Delayed
from tegu.distributed.registry import default_client

logger = logging.getLogger("tegu.distributed")

__all__ = ["Future", "futures_of", "CancelledError", "FutureLost", "TimeoutError"]


class CancelledError(concurrent.futures.CancelledError):
    """The future was cancelled."""


class FutureLost(Exception):
    """The data of a future was lost and cannot be recomputed."""


TimeoutError = TimeoutError  # noqa: A001 - builtins.TimeoutError, as Dask's


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
