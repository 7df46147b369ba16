"""``tegu.delayed``: lazy Python calls recorded as tasks, behaving as ``dask.delayed``.

A Delayed holds its key, the function, the arguments and the Delayed values found in them;
the graph is assembled by the C++ engine at compute time by walking these links (no graph is
merged per call, which is where Dask spends most of its construction time).
"""
from __future__ import annotations

import dataclasses
import itertools
import operator
import os
import types
import uuid

from tegu import _tegu
from tegu.tokenize import tokenize

__all__ = ["Delayed", "delayed", "unpack_collections"]

# Unique keys without uuid4() per task: a per-process random prefix plus a counter.
_session_token = uuid.uuid4().hex[:16]
_counter = itertools.count(1)
_session_pid = os.getpid()


def _fresh_token() -> str:
    global _session_token, _session_pid
    if os.getpid() != _session_pid:  # a forked child must not repeat its parent's keys
        _session_token, _session_pid = uuid.uuid4().hex[:16], os.getpid()
    return f"{_session_token}{next(_counter):016x}"


def funcname(func) -> str:
    """The name Dask gives a function's tasks (unwrapping partial and methodcaller)."""
    if isinstance(func, _tegu.NativeFunction):
        return func.name
    while hasattr(func, "func") and callable(getattr(func, "func")):
        func = func.func
    if isinstance(func, operator.methodcaller):
        return str(func).split("(", 1)[1].split(",", 1)[0].strip("')\"")
    name = getattr(func, "__name__", None)
    if not isinstance(name, str):
        name = type(func).__name__
    return "lambda" if name == "<lambda>" else name


_ATOMIC = frozenset({int, float, str, bytes, bool, type(None), complex})


def _reconstruct_namedtuple(typ, items):
    return typ(*items)


def _rebuilt(prefix, func, args, kwargs, inner):
    """A task rebuilding a container that the engine cannot traverse itself (sets, slices,
    namedtuples, dataclasses, dicts with Delayed keys), keyed by its contents."""
    return Delayed(f"{prefix}-{tokenize(func, args, kwargs or {})}", func, args, kwargs, tuple(inner))


def _scan_items(items, deps):
    """Scans each item of a sequence; a new list when some item was replaced, else None."""
    new = None
    for i, item in enumerate(items):
        if type(item) in _ATOMIC:
            continue
        out = _scan(item, deps)
        if out is not item:
            if new is None:
                new = list(items)
            new[i] = out
    return new


def _scan(obj, deps):
    """Finds Delayed values inside ``obj`` (lists, tuples, dicts, sets, slices, namedtuples,
    dataclasses), as Dask's unpack_collections. Lists, tuples and dict values are traversed by
    the engine; the other containers holding Delayed values become a task rebuilding them.
    Returns ``obj``, or a copy in which such containers (and iterators, made lists) are replaced."""
    typ = type(obj)
    if typ in _ATOMIC:
        return obj
    if isinstance(obj, Delayed):
        deps.append(obj)
        return obj
    if typ is list or typ is tuple:
        new = _scan_items(obj, deps)
        if new is None:
            return obj
        return new if typ is list else tuple(new)
    if typ is dict:
        key_deps: list = []
        for k in obj:
            if type(k) not in _ATOMIC:
                _scan(k, key_deps)
        if key_deps:  # Delayed keys: rebuild the dict from its (key, value) pairs
            inner: list = []
            pairs = _scan([[k, v] for k, v in obj.items()], inner)
            d = _rebuilt("dict", dict, (pairs,), None, inner)
            deps.append(d)
            return d
        new = None
        for k, v in obj.items():
            if type(v) in _ATOMIC:
                continue
            out = _scan(v, deps)
            if out is not v:
                if new is None:
                    new = dict(obj)
                new[k] = out
        return obj if new is None else new
    if typ is set or typ is frozenset:
        inner = []
        items = [_scan(item, inner) for item in obj]
        if inner:
            d = _rebuilt(typ.__name__, typ, (items,), None, inner)
            deps.append(d)
            return d
        return obj
    if isinstance(obj, types.GeneratorType) or typ is map or typ is filter or typ is zip:
        return _scan(list(obj), deps)
    if typ is slice:
        inner = []
        items = [_scan(item, inner) for item in (obj.start, obj.stop, obj.step)]
        if inner:
            d = _rebuilt("slice", slice, tuple(items), None, inner)
            deps.append(d)
            return d
        return obj
    if isinstance(obj, tuple) and hasattr(typ, "_fields"):  # a namedtuple
        inner = []
        items = _scan_items(obj, inner)
        if inner:
            d = _rebuilt(typ.__name__, _reconstruct_namedtuple,
                         (typ, items if items is not None else list(obj)), None, inner)
            deps.append(d)
            return d
        return obj
    if hasattr(typ, "__dataclass_fields__") and not isinstance(obj, type):
        inner = []
        fields = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)
                  if f.init and hasattr(obj, f.name)}
        scanned = {k: _scan(v, inner) for k, v in fields.items()}
        if inner:
            d = _rebuilt(typ.__name__, typ, (), scanned, inner)
            deps.append(d)
            return d
        return obj
    return obj


def unpack_collections(obj):
    """(obj with sets of Delayed values replaced, tuple of the Delayed values it holds)."""
    deps: list = []
    out = _scan(obj, deps)
    return out, tuple(deps)


def _unpack_args(args):
    deps: list = []
    scanned = None
    for i, a in enumerate(args):
        if type(a) in _ATOMIC:
            continue
        new = _scan(a, deps)
        if new is not a:
            if scanned is None:
                scanned = list(args)
            scanned[i] = new
    return (tuple(scanned) if scanned is not None else args), tuple(deps)


def _call_method(obj, name, *args, **kwargs):
    return getattr(obj, name)(*args, **kwargs)


def _apply(func, *args, **kwargs):
    return func(*args, **kwargs)


class Delayed:
    """A lazy value: the result of a task in a graph that tegu.compute runs."""

    __slots__ = ("_key", "_func", "_args", "_kwargs", "_deps", "_length", "__weakref__")

    def __init__(self, key, func, args, kwargs=None, deps=(), length=None):
        object.__setattr__(self, "_key", key)
        object.__setattr__(self, "_func", func)
        object.__setattr__(self, "_args", args)
        object.__setattr__(self, "_kwargs", kwargs)
        object.__setattr__(self, "_deps", deps)
        object.__setattr__(self, "_length", length)

    # --- identity -------------------------------------------------------------------------
    @property
    def key(self):
        return self._key

    def __dask_keys__(self):
        return [self._key]

    def __dask_graph__(self):
        return _graph_dict([self])

    @property
    def dask(self):
        return _graph_dict([self])

    def __repr__(self):
        return f"Delayed({self._key!r})"

    def __hash__(self):
        return hash(self._key)

    def __dir__(self):
        return sorted(set(dir(type(self))) | {"key", "dask"})

    # --- running --------------------------------------------------------------------------
    def compute(self, **kwargs):
        from tegu.base import compute

        return compute(self, traverse=False, **kwargs)[0]

    def persist(self, **kwargs):
        from tegu.base import persist

        return persist(self, traverse=False, **kwargs)[0]

    def visualize(self, filename="mydask", format=None, optimize_graph=False, **kwargs):
        from tegu.base import visualize

        return visualize(self, filename=filename, format=format, optimize_graph=optimize_graph, **kwargs)

    # --- building new tasks ---------------------------------------------------------------
    def __getattr__(self, attr):
        if attr.startswith("_"):
            raise AttributeError(f"Attribute {attr} not found")
        return DelayedAttr(self, attr)

    def __setattr__(self, attr, value):
        raise TypeError("Delayed objects are immutable")

    def __setitem__(self, index, value):
        raise TypeError("Delayed objects are immutable")

    def __iter__(self):
        if self._length is None:
            raise TypeError("Delayed objects of unspecified length are not iterable")
        for i in range(self._length):
            yield self[i]

    def __len__(self):
        if self._length is None:
            raise TypeError("Delayed objects of unspecified length have no len()")
        return self._length

    def __bool__(self):
        raise TypeError("Truth of Delayed objects is not supported")

    __nonzero__ = __bool__

    def __call__(self, *args, pure=None, dask_key_name=None, **kwargs):
        return _call(_apply, "apply", (self,) + args, kwargs, pure, dask_key_name, None)

    def __getitem__(self, index):
        return _call(operator.getitem, "getitem", (self, index), {}, True, None, None)

    def __reduce__(self):
        return (Delayed, (self._key, self._func, self._args, self._kwargs, self._deps, self._length))


class DelayedLeaf(Delayed):
    """``delayed(obj)`` for an object holding no Delayed values; calling it records a task."""

    __slots__ = ("_pure", "_nout")

    def __init__(self, obj, key, pure=None, nout=None):
        super().__init__(key, None, (obj,), None, ())
        object.__setattr__(self, "_pure", pure)
        object.__setattr__(self, "_nout", nout)

    def __call__(self, *args, **kwargs):
        pure = kwargs.pop("pure", self._pure)
        dask_key_name = kwargs.pop("dask_key_name", None)
        func = self._args[0]
        return _call(func, None, args, kwargs, pure, dask_key_name, self._nout)

    @property
    def __name__(self):
        return funcname(self._args[0])

    @property
    def __doc__(self):
        return getattr(self._args[0], "__doc__", None)


class DelayedAttr(Delayed):
    """``d.attr``: getattr as a task; calling it calls the method as one task."""

    __slots__ = ("_obj", "_attr")

    def __init__(self, obj, attr):
        super().__init__(f"getattr-{tokenize(obj._key, attr)}", getattr, (obj, attr), None, (obj,))
        object.__setattr__(self, "_obj", obj)
        object.__setattr__(self, "_attr", attr)

    def __call__(self, *args, pure=None, dask_key_name=None, **kwargs):
        return _call(_call_method, self._attr, (self._obj, self._attr) + args, kwargs, pure,
                     dask_key_name, None)


def _call(func, name, args, kwargs, pure, dask_key_name, nout):
    """Records func(*args, **kwargs) as a task and returns its Delayed."""
    args, deps = _unpack_args(args)
    if kwargs:
        kw_deps: list = []
        kwargs = {k: _scan(v, kw_deps) for k, v in kwargs.items()}
        if kw_deps:
            deps = deps + tuple(kw_deps)
    else:
        kwargs = None
    if dask_key_name is not None:
        key = dask_key_name
    else:
        if pure is None:
            from tegu import config

            pure = config.get("delayed_pure", False)
        prefix = name if name is not None else funcname(func)
        if pure:
            key = f"{prefix}-{tokenize(func, args, kwargs or {})}"
        else:
            key = f"{prefix}-{_fresh_token()}"
    return Delayed(key, func, args, kwargs, deps, nout)


def delayed(obj=None, name=None, pure=None, nout=None, traverse=True):
    """Wraps a function or value so that calls and operations on it build a task graph.

    Usable as ``delayed(f)(x)``, ``delayed(value)`` and as a decorator, with or without
    arguments (``@delayed``, ``@delayed(pure=True)``), exactly as ``dask.delayed``.
    """
    if obj is None:
        return lambda func: delayed(func, name=name, pure=pure, nout=nout, traverse=traverse)
    if isinstance(obj, Delayed):
        return obj
    if nout is not None and (not isinstance(nout, int) or nout < 0):
        raise ValueError(f"nout must be None or a non-negative integer, got {nout!r}")
    if traverse:
        task, deps = unpack_collections(obj)
    else:
        task, deps = obj, ()
    if not deps:
        if name is None:
            if callable(obj):
                name = f"{funcname(obj)}-{tokenize(obj) if pure else _fresh_token()}"
            else:
                name = f"{type(obj).__name__}-{tokenize(obj) if pure else _fresh_token()}"
        return DelayedLeaf(obj, name, pure=pure, nout=nout)
    if name is None:
        name = f"{type(obj).__name__}-{tokenize(task) if pure else _fresh_token()}"
    return Delayed(name, None, (task,), None, deps, nout)


def _right(op):
    def inner(a, b):
        return op(b, a)

    inner.__name__ = op.__name__
    return inner


def _bind_operators():
    binary = ["add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and_", "or_",
              "xor", "lshift", "rshift", "eq", "ne", "lt", "le", "gt", "ge"]
    reflected = {"add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and_", "or_",
                 "xor", "lshift", "rshift"}
    for name in binary:
        op = getattr(operator, name)
        dunder = name.rstrip("_")

        def method(self, other, op=op):
            return _call(op, None, (self, other), {}, True, None, None)

        setattr(Delayed, f"__{dunder}__", method)
        if name in reflected:
            rop = _right(op)

            def rmethod(self, other, rop=rop):
                return _call(rop, None, (self, other), {}, True, None, None)

            setattr(Delayed, f"__r{dunder}__", rmethod)
    for name in ["neg", "pos", "invert", "abs"]:
        op = getattr(operator, name)

        def unary(self, op=op):
            return _call(op, None, (self,), {}, True, None, None)

        setattr(Delayed, f"__{name}__", unary)


_bind_operators()
_tegu._set_delayed_type(Delayed)


def _graph_dict(roots):
    """A dict {key: task} of the graph behind ``roots``, in Dask's tuple form."""
    graph = {}
    stack = list(roots)
    while stack:
        d = stack.pop()
        if d._key in graph:
            continue
        if d._func is None and not d._deps:
            graph[d._key] = d._args[0]
        else:
            task = (d._func,) + tuple(d._args)
            graph[d._key] = task if not d._kwargs else (_apply, d._func, list(d._args), d._kwargs)
        stack.extend(d._deps)
    return graph
