"""Serialization for Tegu's distributed runtime: values, the "python-task" run spec, errors.

Both ends of the run spec are here:

* frames[0]: cloudpickle of the function (``None``: the task's value is ``args[0]``);
* frames[1]: pickle (protocol 5) of ``(args, kwargs)`` in which every Future or Delayed inside
  the arguments, at any nesting, was written as a persistent id (its key); those keys are the
  task's dependencies, in the order the pickler met them;
* frames[2:]: out-of-band buffers.

The worker unpickles frames[1] with ``persistent_load`` returning the dependency's value.
"""
from __future__ import annotations

import atexit
import collections
import io
import pickle
import sys
import threading
import traceback as _traceback
import types

import cloudpickle

from tegu import _tegu

PICKLE = "pickle"
TASK = "python-task"

_ATOMIC = (int, float, str, bytes, bool, type(None), complex)


class Reschedule(Exception):
    """Raised inside a task: the scheduler runs the task again, maybe elsewhere."""


# ---- values ---------------------------------------------------------------------------------

def _dumps(obj):
    buffers = []
    try:
        data = cloudpickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
        return [data] + [b.raw() for b in buffers]
    except BufferError:  # a non-contiguous buffer: pickle it in band
        return [cloudpickle.dumps(obj, protocol=5)]


def serialize(obj):
    """(kind, frames) of a Python value, pickled with cloudpickle protocol 5."""
    if type(obj) is bytes and len(obj) > 65536:  # sent as is, no copy through pickle
        return "bytes", [obj]
    if type(obj) in _ATOMIC:
        return PICKLE, [pickle.dumps(obj, protocol=5)]
    return PICKLE, _dumps(obj)


def deserialize(kind, frames):
    if kind == PICKLE:
        return pickle.loads(frames[0], buffers=frames[1:])
    if kind == "bytes":
        frame = frames[0]
        return frame if type(frame) is bytes else bytes(frame)
    if kind == "native" or _tegu.is_native_kind(kind):  # native values, bag text partitions...
        return _tegu.decode_native(frames, kind)
    if kind == "error":
        return error_from_frames("task-raised", frames)
    raise ValueError(f"cannot deserialize a payload of kind {kind!r}")


def sizeof(obj) -> int:
    try:
        nbytes = getattr(obj, "nbytes", None)
        if isinstance(nbytes, int):
            return nbytes
        n = sys.getsizeof(obj)
        if type(obj) in (list, tuple, set, frozenset) and obj:
            items = obj if len(obj) <= 16 else list(obj)[:16]
            n += sum(sizeof(x) for x in items) * len(obj) // len(items)
        elif type(obj) is dict and obj:
            n += sum(sizeof(k) + sizeof(v) for k, v in list(obj.items())[:16]) * len(obj) // min(len(obj), 16)
        return int(n)
    except Exception:  # noqa: BLE001 - an estimate only
        return 64


# ---- run specs ------------------------------------------------------------------------------

def _placeholder_key(obj):
    """The key a Future or Delayed inside task arguments stands for, else None."""
    from tegu.delayed import Delayed
    from tegu.distributed.futures import Future

    if isinstance(obj, Future):
        return obj.key
    if isinstance(obj, Delayed):
        return obj._key
    return None


class KeyRef:
    """A reference to another key inside a dict-graph task (Client.get)."""

    __slots__ = ("key",)

    def __init__(self, key):
        self.key = key


def execute_dask_task(arg):
    """Evaluates a Dask-style task after its key references were replaced by values."""
    if type(arg) is tuple and arg and callable(arg[0]):
        return arg[0](*[execute_dask_task(a) for a in arg[1:]])
    if type(arg) is list:
        return [execute_dask_task(a) for a in arg]
    return arg


_REF_TYPES = None


def _ref_types():
    """(Future, Delayed, KeyRef), imported once (tegu.delayed and futures import this module)."""
    global _REF_TYPES
    if _REF_TYPES is None:
        from tegu.delayed import Delayed
        from tegu.distributed.futures import Future
        _REF_TYPES = (Future, Delayed, KeyRef)
    return _REF_TYPES


def _persistent_key(pickler, obj):
    """The persistent id of a Future/Delayed/KeyRef (its key, recorded as a dependency)."""
    future_t, delayed_t, keyref_t = _ref_types()
    t = type(obj)
    if t is delayed_t or isinstance(obj, delayed_t):
        key = obj._key
    elif t is future_t or t is keyref_t or isinstance(obj, (future_t, keyref_t)):
        key = obj.key
    else:
        return None
    hk = (type(key), key)
    if hk not in pickler._seen:
        pickler._seen.add(hk)
        pickler.deps.append(key)
        pickler.dep_objs.append(obj)
    return ("k", key)


class _ArgsPickler(cloudpickle.Pickler):
    """Pickles task arguments, writing Futures and Delayed values as their keys."""

    def __init__(self, file, buffer_callback):
        super().__init__(file, protocol=5, buffer_callback=buffer_callback)
        self.deps = []        # keys, in first-seen order
        self.dep_objs = []    # the Future/Delayed objects behind them
        self._seen = set()

    def persistent_id(self, obj):
        return _persistent_key(self, obj)


class _PlainArgsPickler(pickle.Pickler):
    """The C pickler, for arguments that are plain values and references only (the common
    Delayed task): no cloudpickle machinery per task."""

    def __init__(self, file):
        super().__init__(file, protocol=5)
        self.deps = []
        self.dep_objs = []
        self._seen = set()

    def persistent_id(self, obj):
        return _persistent_key(self, obj)


def _plain_refs(args, kwargs):
    """Whether every argument is an atomic value or a Future/Delayed (no nesting, no kwargs)."""
    if kwargs:
        return False
    ref_types = _ref_types()
    for a in args:
        if type(a) not in _ATOMIC and not isinstance(a, ref_types):
            return False
    return True


def _all_atomic(args, kwargs):
    for a in args:
        if type(a) not in _ATOMIC:
            return False
    if kwargs:
        for v in kwargs.values():
            if type(v) not in _ATOMIC:
                return False
    return True


def dumps_args(args, kwargs):
    """(frames for frames[1:], dependency keys, dependency objects)."""
    if _all_atomic(args, kwargs):
        return [pickle.dumps((args, kwargs or None), protocol=5)], [], []
    if _plain_refs(args, kwargs):
        f = io.BytesIO()
        p = _PlainArgsPickler(f)
        p.dump((args, None))
        return [f.getvalue()], p.deps, p.dep_objs
    buffers = []
    f = io.BytesIO()
    p = _ArgsPickler(f, buffers.append)
    try:
        p.dump((args, kwargs or None))
        frames = [f.getvalue()] + [b.raw() for b in buffers]
    except BufferError:
        f = io.BytesIO()
        p = _ArgsPickler(f, None)
        p.dump((args, kwargs or None))
        frames = [f.getvalue()]
    return frames, p.deps, p.dep_objs


def dumps_function(func) -> bytes:
    return cloudpickle.dumps(func, protocol=5)


_func_cache: "collections.OrderedDict[bytes, object]" = collections.OrderedDict()
_func_lock = threading.Lock()
_FUNC_CACHE_SIZE = 256
atexit.register(_func_cache.clear)  # no native objects alive when the interpreter finalizes


def loads_function(frame):
    data = bytes(frame)
    with _func_lock:
        func = _func_cache.get(data, _func_cache)
        if func is not _func_cache:
            _func_cache.move_to_end(data)
            return func
    func = pickle.loads(data)
    with _func_lock:
        _func_cache[data] = func
        if len(_func_cache) > _FUNC_CACHE_SIZE:
            _func_cache.popitem(last=False)
    return func


class _ArgsUnpickler(pickle.Unpickler):
    def __init__(self, file, buffers, values):
        super().__init__(file, buffers=buffers)
        self._values = values

    def persistent_load(self, pid):
        return self._values[pid[1]]


def loads_args(frames, inputs):
    if not frames:
        return (), None
    if not inputs:
        return pickle.loads(frames[0], buffers=frames[1:])
    values = {}
    for key, value in inputs:
        values[key] = value
    return _ArgsUnpickler(io.BytesIO(frames[0]), frames[1:], values).load()


def run_task(key, frames, inputs):
    """Runs a "python-task" run spec on a worker executor thread."""
    try:
        func = loads_function(frames[0])
        args, kwargs = loads_args(frames[1:], inputs)
        if func is None:
            return ("ok", args[0])
        return ("ok", func(*args, **kwargs) if kwargs else func(*args))
    except Reschedule:
        return ("reschedule",)
    except BaseException as e:  # noqa: BLE001 - reported to the client
        if isinstance(e, (KeyboardInterrupt, SystemExit)) and not isinstance(e, SystemExit):
            raise
        return ("error", error_frames(e, skip=1))


# ---- errors ---------------------------------------------------------------------------------

def error_frames(exc, skip=0):
    """[text, pickled exception, pickled traceback frames] of an exception."""
    tb = exc.__traceback__
    for _ in range(skip):
        if tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
    text = "".join(_traceback.format_exception_only(type(exc), exc)).strip()
    tb_text = "".join(_traceback.format_tb(tb)) if tb is not None else ""
    frames = [(text + "\n" + tb_text).encode("utf-8", "replace")]
    try:
        exc_bytes = cloudpickle.dumps(exc, protocol=5)
        pickle.loads(exc_bytes)  # must round-trip, else the client gets the text only
    except Exception:  # noqa: BLE001
        exc_bytes = b""
    frames.append(exc_bytes)
    try:
        summary = [(fs.filename, fs.lineno or 1, fs.name) for fs in _traceback.extract_tb(tb)]
        frames.append(pickle.dumps(summary, protocol=5))
    except Exception:  # noqa: BLE001
        pass
    return frames


class RemoteError(Exception):
    """A task's exception that could not be unpickled on this side (its text is kept)."""


class KilledWorker(Exception):
    """A task was running on workers that died too many times (Dask's KilledWorker)."""

    def __init__(self, task=None, last_worker=None, allowed_failures=3, message=None):
        self.task = task
        self.last_worker = last_worker
        self.allowed_failures = allowed_failures
        super().__init__(message or f"Attempted to run task {task!r} on {allowed_failures} "
                                    f"different workers, but all those workers died while running it.")

    def __reduce__(self):
        return (KilledWorker, (self.task, self.last_worker, self.allowed_failures, str(self)))


def _rebuild_traceback(summary):
    """A traceback object whose frames show the remote ``(filename, lineno, name)`` frames."""
    tb = None
    for filename, lineno, name in reversed(summary):
        try:
            code = compile("\n" * (max(int(lineno), 1) - 1) + "raise __tegu_exc__", filename, "exec")
            code = code.replace(co_name=name)
            if hasattr(code, "co_qualname"):
                code = code.replace(co_qualname=name)
            try:
                exec(code, {"__tegu_exc__": _Marker, "__name__": name})
            except _Marker as m:
                frame = m.__traceback__.tb_next.tb_frame
                tb = types.TracebackType(tb, frame, frame.f_lasti, int(lineno))
        except Exception:  # noqa: BLE001 - a best effort
            continue
    return tb


class _Marker(Exception):
    pass


def error_from_frames(error_kind, frames, key=None):
    """The exception an erred key raises on the client."""
    frames = list(frames or [])
    text = bytes(frames[0]).decode("utf-8", "replace") if frames else "unknown error"
    if error_kind == "killed-worker":
        if text.startswith("KilledWorker: "):
            text = text[len("KilledWorker: "):]
        return KilledWorker(key, None, message=(text[:1].upper() + text[1:]) or None)
    if error_kind in ("missing-dependency", "lost-data"):
        from tegu.distributed.futures import FutureLost

        return FutureLost(f"{key!r}: {text}")
    if error_kind == "cycle":
        return RuntimeError(f"Cycle detected in the task graph: {text}")
    exc = None
    if len(frames) > 1 and len(frames[1]):
        try:
            exc = pickle.loads(frames[1])
        except Exception:  # noqa: BLE001
            exc = None
    if not isinstance(exc, BaseException):
        from tegu._errors import from_worker_text

        return from_worker_text(text) or RemoteError(text)
    if len(frames) > 2 and len(frames[2]):
        try:
            tb = _rebuild_traceback(pickle.loads(frames[2]))
            if tb is not None:
                exc = exc.with_traceback(tb)
        except Exception:  # noqa: BLE001
            pass
    return exc


def install():
    _tegu.install_distributed(serialize, deserialize, sizeof, run_task)
