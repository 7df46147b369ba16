"""Python exceptions for errors raised by native kernels.

A kernel names the Python type its error should surface as (``FileNotFoundError``,
``UnicodeDecodeError``...); the local executors and the distributed client both build the
exception here, so ``except FileNotFoundError`` works the same on every scheduler."""
from __future__ import annotations

import builtins
import re

# What a worker writes for a native task that failed: "task KEY failed: TypeName: message".
_WORKER_TEXT = re.compile(r"failed: ([A-Za-z]+(?:Error|Exception)): (.*)\Z", re.DOTALL)


class NativeDecodeError(UnicodeDecodeError):
    """A UnicodeDecodeError from a native reader; its message names the file and byte offset."""

    def __init__(self, message, encoding="utf-8"):
        super().__init__(encoding, b"", 0, 0, message)

    def __str__(self):
        return self.reason

    def __reduce__(self):
        return (NativeDecodeError, (self.reason, self.encoding))


def native_error(type_name: str, message: str) -> BaseException:
    """The exception of builtin type ``type_name`` (OSError and ValueError when unknown)."""
    if type_name == "UnicodeDecodeError":
        m = re.match(r"'([^']+)' codec", message)
        return NativeDecodeError(message, m.group(1) if m else "utf-8")
    cls = getattr(builtins, type_name, None)
    if not (isinstance(cls, type) and issubclass(cls, Exception)):
        cls = RuntimeError
    return cls(message)


def from_worker_text(text: str):
    """The exception a native task's error text names (a builtin type), or None."""
    m = _WORKER_TEXT.search(text)
    if m is None:
        return None
    cls = getattr(builtins, m.group(1), None)
    if not (isinstance(cls, type) and issubclass(cls, Exception)):
        return None
    return native_error(m.group(1), m.group(2))
