"""What every benchmark script shares: progress on stderr and a time budget per run.

The scripts run as ``bench/NAME/bench.py`` and put ``bench/`` on ``sys.path`` to import this.
"""
import signal
import sys
from contextlib import contextmanager


def log(msg):
    """Progress goes to stderr: stdout carries the table and the final JSON line."""
    print(msg, file=sys.stderr, flush=True)


class OverBudget(BaseException):
    """Raised by SIGALRM in a run that outlives its budget (BaseException, so that the engines'
    own `except Exception` blocks do not swallow it)."""


@contextmanager
def time_budget(seconds):
    def on_alarm(signum, frame):
        raise OverBudget()
    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
