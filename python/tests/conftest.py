"""Shared fixtures for Tegu's Python tests."""

import threading

import pytest


@pytest.fixture(params=["sync", "threads"])
def scheduler(request):
    """Each local scheduler in turn."""
    return request.param


class Counter:
    """A thread-safe call counter: ``counter.wrap(f)`` counts every call of ``f``, per argument
    tuple too."""

    def __init__(self):
        self._lock = threading.Lock()
        self.count = 0
        self.calls = []

    def wrap(self, func):
        def counted(*args, **kwargs):
            with self._lock:
                self.count += 1
                self.calls.append(args)
            return func(*args, **kwargs)

        counted.__name__ = func.__name__
        return counted


@pytest.fixture
def counter():
    return Counter()


@pytest.fixture
def run_with_timeout():
    """``run_with_timeout(fn, seconds)`` runs ``fn()`` on a daemon thread and returns its result,
    re-raises its exception, or fails the test when it has not finished in time (a deadlock
    fails instead of hanging the test run)."""

    def run(fn, seconds=60.0):
        box = {}

        def target():
            try:
                box["value"] = fn()
            except BaseException as e:  # noqa: BLE001 - handed back to the test
                box["error"] = e

        t = threading.Thread(target=target, daemon=True)
        t.start()
        t.join(seconds)
        if t.is_alive():
            pytest.fail(f"did not finish within {seconds} s (deadlock?)")
        if "error" in box:
            raise box["error"]
        return box["value"]

    return run
