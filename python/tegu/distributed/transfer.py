"""Client.gather and Client.scatter: moving values between the client and the cluster
(a mixin of Client).

Thread-safety: as Client's; the methods may be called from any thread. Waiting for keys runs
without the client's locks; scatter holds ``_send_lock`` around flushing the buffered releases
and the scatter itself, so that a released key wanted again is released first."""
from __future__ import annotations

import asyncio
import hashlib
import uuid

from tegu.distributed import protocol
from tegu.distributed.futures import (_SKIP, Future, FutureLost, _in_running_loop, _repack,
                                      _repack_skip, _run_callbacks, futures_of)
from tegu.tokenize import tokenize


class _TransferMixin:
    """gather and scatter for Client; uses its ``_core``, ``_send_lock``, ``_check_running``,
    ``_flush_releases`` and ``_resolve_workers``."""

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
