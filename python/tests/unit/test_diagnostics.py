"""tegu.diagnostics.ProgressBar, as dask.diagnostics.ProgressBar."""

import io
import time

import pytest

import tegu
from tegu import base, delayed
from tegu.diagnostics import ProgressBar


def inc(x):
    return x + 1


def _lines(text):
    """The states the bar was drawn in (each drawing starts with a carriage return)."""
    return [part for part in text.replace("\n", "").split("\r") if part]


def test_progress_bar_context_manager(scheduler):
    out = io.StringIO()
    with ProgressBar(out=out) as pb:
        assert isinstance(pb, ProgressBar)
        result = tegu.compute([delayed(inc)(i) for i in range(100)], scheduler=scheduler)
    assert result == ([i + 1 for i in range(100)],)
    text = out.getvalue()
    assert "100% Completed" in text
    assert "[" + "#" * 40 + "]" in text
    assert text.endswith("\n")
    assert _lines(text)[-1].startswith("[" + "#" * 40 + "] | 100% Completed |")
    assert pb not in base._active_callbacks


def test_progress_bar_each_compute_prints_a_line(scheduler):
    out = io.StringIO()
    with ProgressBar(out=out):
        delayed(inc)(1).compute(scheduler=scheduler)
        delayed(inc)(2).compute(scheduler=scheduler)
    assert out.getvalue().count("100% Completed") == 2
    assert out.getvalue().count("\n") == 2


def test_progress_bar_register_unregister(scheduler):
    out = io.StringIO()
    pb = ProgressBar(out=out)
    pb.register()
    try:
        assert pb in base._active_callbacks
        assert delayed(inc)(1).compute(scheduler=scheduler) == 2
    finally:
        pb.unregister()
    assert pb not in base._active_callbacks
    assert "100% Completed" in out.getvalue()
    # not registered any more: nothing more is written
    before = out.getvalue()
    assert delayed(inc)(2).compute(scheduler=scheduler) == 3
    assert out.getvalue() == before


def test_progress_bar_default_output_is_stdout(capsys):
    with ProgressBar():
        delayed(inc)(1).compute()
    assert "100% Completed" in capsys.readouterr().out


def test_progress_bar_minimum_suppresses_fast_computations():
    out = io.StringIO()
    with ProgressBar(out=out, minimum=60):
        assert delayed(inc)(1).compute() == 2
    assert out.getvalue() == ""


def test_progress_bar_width():
    out = io.StringIO()
    with ProgressBar(out=out, width=10):
        delayed(inc)(1).compute()
    assert "[##########] | 100% Completed" in out.getvalue()


def test_progress_bar_draws_while_running():
    out = io.StringIO()

    def wait_for_drawing():
        # the task finishes once the bar has drawn a first state while it runs
        deadline = time.monotonic() + 30
        while not out.getvalue() and time.monotonic() < deadline:
            time.sleep(0.005)
        return out.getvalue()

    with ProgressBar(out=out, dt=0.01) as pb:
        seen = delayed(wait_for_drawing)().compute()
    assert "0% Completed" in seen and "100%" not in seen
    states = _lines(out.getvalue())
    assert len(states) >= 2  # at least one drawing before the final one
    assert "100% Completed" in states[-1]
    assert pb.last_duration > 0


def test_progress_bar_on_failure():
    def fail(x):
        raise ValueError("nope")

    out = io.StringIO()
    pb = ProgressBar(out=out)
    with pytest.raises(ValueError, match="nope"):
        with pb:
            tegu.compute([delayed(inc)(i) for i in range(10)] + [delayed(fail)(0)],
                         scheduler="sync")
    assert pb not in base._active_callbacks
    text = out.getvalue()
    assert text.endswith("\n")
    assert "Completed" in text and "100% Completed" not in text


def test_progress_bar_only_outermost_compute(scheduler):
    # As Dask: a compute nested inside a task does not drive the bar, only the outer one does.
    def outer(i):
        return sum(tegu.compute(*[delayed(inc)(j) for j in range(3)]))

    out = io.StringIO()
    with ProgressBar(out=out) as pb:
        result = tegu.compute(*[delayed(outer)(i) for i in range(4)], scheduler=scheduler)
    assert result == (6,) * 4
    assert out.getvalue().count("100% Completed") == 1
    assert out.getvalue().count("\n") == 1
    assert pb not in base._active_callbacks


def test_nothing_to_compute_draws_nothing():
    out = io.StringIO()
    with ProgressBar(out=out):
        assert tegu.compute(1, 2) == (1, 2)
    assert out.getvalue() == ""
