"""Deterministic tokens for pure tasks, as ``dask.base.tokenize``.

Two calls with equal arguments give the same token, so ``delayed(f, pure=True)(x)`` names the
same key each time. Objects that cannot be normalised deterministically get a random token,
which is always safe (it only loses deduplication), as Dask does.
"""
from __future__ import annotations

import hashlib
import uuid

_ATOMS = (int, float, complex, str, bytes, bool, type(None), slice, range)


def _normalize(obj, seen):
    from tegu.delayed import Delayed

    if isinstance(obj, _ATOMS):
        return (type(obj).__name__, repr(obj))
    if isinstance(obj, Delayed):
        return ("__tegu_key__", repr(obj._key))
    hook = getattr(type(obj), "__tegu_tokenize__", None) or getattr(type(obj), "__dask_tokenize__", None)
    if hook is not None:
        return (type(obj).__name__, _normalize(hook(obj), seen))
    if id(obj) in seen:
        return ("__cycle__",)
    if isinstance(obj, (list, tuple)):
        seen = seen | {id(obj)}
        return (type(obj).__name__, [_normalize(x, seen) for x in obj])
    if isinstance(obj, dict):
        seen = seen | {id(obj)}
        items = [(_normalize(k, seen), _normalize(v, seen)) for k, v in obj.items()]
        return ("dict", sorted(items, key=repr))
    if isinstance(obj, (set, frozenset)):
        return (type(obj).__name__, sorted((_normalize(x, seen) for x in obj), key=repr))
    tobytes = getattr(obj, "tobytes", None)
    if callable(tobytes) and hasattr(obj, "dtype") and hasattr(obj, "shape"):
        return ("ndarray", str(obj.dtype), tuple(obj.shape), hashlib.md5(tobytes()).hexdigest())
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if callable(obj) and module and qualname and "<" not in qualname:
        return ("callable", module, qualname)
    try:
        import cloudpickle

        return ("pickle", hashlib.md5(cloudpickle.dumps(obj, protocol=5)).hexdigest())
    except Exception:
        return ("random", uuid.uuid4().hex)


def tokenize(*args, **kwargs) -> str:
    """A deterministic hex token for the arguments."""
    normalized = _normalize((args, kwargs), frozenset()) if kwargs else _normalize(args, frozenset())
    return hashlib.md5(repr(normalized).encode(), usedforsecurity=False).hexdigest()
