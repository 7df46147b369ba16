"""Waiting on futures, as dask.distributed's: wait, as_completed, fire_and_forget.

Thread-safety: ``wait`` may be called from any thread (or awaited, on an asynchronous
client); it blocks on a Condition that the futures' done callbacks notify. An
``as_completed`` guards its queue with its own Condition: futures may be added from one thread
while another iterates."""
from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time

from tegu.distributed.futures import CancelledError, Future, _in_running_loop, futures_of

__all__ = ["wait", "as_completed", "fire_and_forget", "FIRST_COMPLETED", "FIRST_EXCEPTION",
           "ALL_COMPLETED"]


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
