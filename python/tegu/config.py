"""Tegu's configuration, as ``dask.config``.

The values live in the C++ engine (``include/tegu/config.hpp``), so the schedulers and workers
read what Python sets. They are built from defaults, YAML files (``~/.config/tegu/*.yaml`` and
``$TEGU_CONFIG``) and ``TEGU_*`` environment variables (``TEGU_OPTIMIZATION__FUSE__ACTIVE=false``
sets ``optimization.fuse.active``); ``_`` and ``-`` in keys are the same character.

Values cross to C++ as JSON. A value JSON cannot hold (a ``Client``, a function, a NaN) stays in
this module and C++ stores a marker ``{"__tegu_pyobject__": id}`` for it, so ``get`` returns the
very object that was set while C++ code sees that something non-native is there. Tuples come
back as lists and ``os.PathLike`` values as strings, so that C++ can read them.
"""

from __future__ import annotations

import json
import numbers
import os
import threading
from collections.abc import Mapping
from typing import Any

from tegu import _tegu

__all__ = ["get", "set", "refresh", "update_defaults", "to_dict", "load_warnings"]

_NO_DEFAULT: Any = object()
_MARKER = "__tegu_pyobject__"
# Objects that JSON cannot hold, by id(). They are kept alive here for as long as the process
# runs: a marker may be restored by a `set` context that exits much later, so no point in time is
# safe to drop them at.
_pyobjects: dict[int, Any] = {}
# Serialises `set` and its rollback with each other, as dask.config.config_lock does.
_lock = threading.RLock()


def _keep(obj: Any) -> dict[str, int]:
    _pyobjects[id(obj)] = obj
    return {_MARKER: id(obj)}


def _to_json_value(obj: Any) -> Any:
    # json.dumps calls this for objects it cannot encode itself.
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, numbers.Integral):  # numpy integers, for example
        return int(obj)
    return _keep(obj)


def _encode(value: Any) -> str:
    try:
        return json.dumps(value, default=_to_json_value, allow_nan=False)
    except (TypeError, ValueError):
        # NaN or infinity, or mapping keys JSON cannot hold: keep the whole value in Python.
        return json.dumps(_keep(value))


def _revive(d: dict) -> Any:
    if len(d) == 1 and _MARKER in d:
        # A marker of unknown id (one written into a YAML file, say) stays a plain dict.
        return _pyobjects.get(d[_MARKER], d)
    return d


def _decode(text: str) -> Any:
    return json.loads(text, object_hook=_revive)


def get(key: str, default: Any = _NO_DEFAULT, override_with: Any = None) -> Any:
    """The value at a dotted ``key`` such as ``"optimization.fuse.active"``.

    ``override_with``, when not None, is returned as is (handy for keyword defaults). A missing
    key gives ``default``, or raises KeyError when there is none.
    """
    if override_with is not None:
        return override_with
    text = _tegu._config_get_json(key)
    if text is None:
        if default is _NO_DEFAULT:
            raise KeyError(key)
        return default
    return _decode(text)


class set:  # noqa: A001 - the name dask users know
    """Set configuration values, globally or for the duration of a ``with`` block.

    ``tegu.config.set({"optimization.fuse.active": False})`` or
    ``tegu.config.set(optimization__fuse__active=False)`` applies at once. Used as a context
    manager, the previous values come back on exit, and keys that did not exist are removed.
    Values in ``arg`` are applied before those in ``kwargs``; ``__`` in a keyword means ``.``.
    """

    def __init__(self, arg: Mapping[str, Any] | None = None, **kwargs: Any):
        # (op, key, previous JSON): op is "replace" (write previous back) or "insert" (delete).
        self._record: list[tuple[str, str, str | None]] = []
        items = list(arg.items()) if arg is not None else []
        items += [(key.replace("__", "."), value) for key, value in kwargs.items()]
        with _lock:
            try:
                for key, value in items:
                    self._assign(key, value)
            except BaseException:
                # A key that runs through a scalar: leave no half-applied change behind.
                self._restore()
                raise

    def _assign(self, key: str, value: Any) -> None:
        encoded = _encode(value)
        parts = key.split(".")
        # Record the shallowest thing this assignment changes: a prefix that does not exist (it
        # is created, so deleting it undoes everything below), a prefix that is not a mapping
        # (null becomes a mapping), or the key itself.
        for i in range(1, len(parts) + 1):
            prefix = ".".join(parts[:i])
            previous = _tegu._config_get_json(prefix)
            if previous is None:
                self._record.append(("insert", prefix, None))
                break
            if i == len(parts) or not previous.startswith("{"):
                self._record.append(("replace", prefix, previous))
                break
        _tegu._config_set_json(key, encoded)

    def _restore(self) -> None:
        with _lock:
            for op, key, previous in reversed(self._record):
                if op == "replace":
                    _tegu._config_set_json(key, previous)
                else:
                    _tegu._config_delete(key)
            self._record.clear()

    def __enter__(self) -> dict:
        return to_dict()

    def __exit__(self, *exc_info: Any) -> None:
        self._restore()


def refresh() -> None:
    """Rebuild the configuration from defaults, files and ``TEGU_*`` variables, dropping every
    value set programmatically (as ``dask.config.refresh``)."""
    _tegu._config_refresh()


def update_defaults(new: Mapping[str, Any]) -> None:
    """Register defaults, a nested mapping: each key takes its new default where it is missing
    or still holds the previous default. The defaults survive ``refresh()``."""
    if not isinstance(new, Mapping):
        raise TypeError(f"update_defaults expects a mapping, got {type(new).__name__}")
    _tegu._config_update_defaults(_encode(dict(new)))


def to_dict() -> dict:
    """The whole configuration as a new nested dict."""
    return _decode(_tegu._config_to_json())


def load_warnings() -> list[str]:
    """Problems found in config files by the latest load; such files are skipped."""
    return list(_tegu._config_load_warnings())


def __getattr__(name: str) -> Any:
    # `tegu.config.config` is a snapshot of the current values, as `dask.config.config` reads.
    if name == "config":
        return to_dict()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
