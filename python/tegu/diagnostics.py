"""Diagnostics for local computations, as ``dask.diagnostics``: a text ProgressBar.

The engine publishes live counters (total and finished tasks) for each computation; the bar
polls them from a background thread, so it costs the computation nothing per task.
"""
from __future__ import annotations

import sys
import threading
import time

from tegu import base

__all__ = ["ProgressBar"]


def _format_time(seconds: float) -> str:
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours:2.0f}hr {minutes:2.0f}min {seconds:4.1f}s"
    if minutes:
        return f"{minutes:2.0f}min {seconds:4.1f}s"
    return f"{seconds:4.1f}s"


class ProgressBar:
    """``with ProgressBar(): x.compute()`` prints
    ``[########################################] | 100% Completed |  1.2s``."""

    def __init__(self, minimum=0, width=40, dt=0.1, out=None):
        self._minimum = minimum
        self._width = width
        self._dt = dt
        self._file = out
        self._thread = None
        self._stop = threading.Event()
        self.last_duration = 0.0

    def __enter__(self):
        self.register()
        return self

    def __exit__(self, *exc):
        self.unregister()

    def register(self):
        base._active_callbacks.add(self)

    def unregister(self):
        base._active_callbacks.discard(self)

    @property
    def _out(self):
        return self._file if self._file is not None else sys.stdout

    def _start(self, progress):
        self._progress = progress
        self._start_time = time.perf_counter()
        self._stop.clear()
        self._thread = threading.Thread(target=self._timer, daemon=True)
        self._thread.start()

    def _timer(self):
        while not self._stop.wait(self._dt):
            elapsed = time.perf_counter() - self._start_time
            if elapsed > self._minimum:
                self._draw(elapsed)

    def _finish(self, progress):
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        elapsed = time.perf_counter() - self._start_time
        self.last_duration = elapsed
        if elapsed >= self._minimum:
            self._draw(elapsed, final=True)
            self._out.write("\n")
            self._out.flush()

    def _draw(self, elapsed, final=False):
        total, done = self._progress.total, self._progress.done
        if total:
            frac = done / total
        else:  # not started yet, or an empty graph at the end
            frac = 1.0 if final else 0.0
        bar = "#" * int(self._width * frac)
        percent = int(100 * frac)
        line = f"\r[{bar:<{self._width}}] | {percent:3}% Completed | {_format_time(elapsed)}"
        self._out.write(line)
        self._out.flush()
