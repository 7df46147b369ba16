"""Errors raised by tasks reach the caller as Dask users expect: same type, same object
attributes, a traceback through the task function, and the computation stops."""

import threading
import traceback

import pytest

import tegu
from tegu import delayed


def inc(x):
    return x + 1


def raise_value_error(x):
    raise ValueError(f"bad value {x}")


def raise_key_error(key):
    return {}[key]


class CustomError(Exception):
    def __init__(self, message, payload, code):
        super().__init__(message)
        self.payload = payload
        self.code = code


PAYLOAD = object()


def raise_custom(x):
    raise CustomError("custom failure", PAYLOAD, code=x)


def _frames(excinfo):
    return [frame.name for frame in traceback.extract_tb(excinfo.value.__traceback__)]


def test_value_error(scheduler):
    with pytest.raises(ValueError, match="bad value 3") as excinfo:
        delayed(raise_value_error)(3).compute(scheduler=scheduler)
    assert type(excinfo.value) is ValueError
    assert "raise_value_error" in _frames(excinfo)


def test_key_error(scheduler):
    with pytest.raises(KeyError) as excinfo:
        delayed(raise_key_error)("missing").compute(scheduler=scheduler)
    assert type(excinfo.value) is KeyError
    assert excinfo.value.args == ("missing",)
    assert "raise_key_error" in _frames(excinfo)


def test_custom_exception_keeps_attributes(scheduler):
    with pytest.raises(CustomError, match="custom failure") as excinfo:
        tegu.compute(delayed(raise_custom)(42), scheduler=scheduler)
    err = excinfo.value
    assert type(err) is CustomError
    assert err.payload is PAYLOAD
    assert err.code == 42
    assert "raise_custom" in _frames(excinfo)


def test_exception_from_lambda_and_method(scheduler):
    with pytest.raises(ZeroDivisionError):
        delayed(lambda: 1 / 0)().compute(scheduler=scheduler)
    with pytest.raises(AttributeError):
        delayed(5).no_such_method().compute(scheduler=scheduler)
    with pytest.raises(TypeError):
        (delayed("a") + 1).compute(scheduler=scheduler)
    with pytest.raises(IndexError):
        delayed([1])[5].compute(scheduler=scheduler)


def test_failure_in_many_independent_tasks(scheduler):
    def maybe_fail(i):
        if i == 500:
            raise ValueError("task 500 failed")
        return i

    tasks = [delayed(maybe_fail)(i) for i in range(1000)]
    with pytest.raises(ValueError, match="task 500 failed"):
        tegu.compute(*tasks, scheduler=scheduler)
    with pytest.raises(ValueError, match="task 500 failed"):
        tegu.compute(tasks, scheduler=scheduler)


@pytest.mark.parametrize("scheduler,num_workers", [("sync", None), ("threads", 1), ("threads", 4)])
def test_first_failure_stops_computation(scheduler, num_workers):
    lock = threading.Lock()
    state = {"failed": False, "started_after": 0, "ran": 0}

    def task(i):
        with lock:
            state["ran"] += 1
            if state["failed"]:
                state["started_after"] += 1
        if i == 0:
            with lock:
                state["failed"] = True
            raise RuntimeError("first")
        return i

    tasks = [delayed(task)(i) for i in range(1000)]
    with pytest.raises(RuntimeError, match="first"):
        tegu.compute(tasks, scheduler=scheduler, num_workers=num_workers)
    assert state["ran"] < 1000
    if scheduler == "sync":
        assert state["started_after"] == 0
    else:
        assert state["started_after"] < 500


def test_dependents_of_failed_task_do_not_run(scheduler, counter):
    after = counter.wrap(inc)
    bad = delayed(raise_value_error)(1)
    good = delayed(inc)(1)
    top = delayed(after)(delayed(after)(bad))
    total = delayed(sum)([top, good])
    with pytest.raises(ValueError, match="bad value 1") as excinfo:
        total.compute(scheduler=scheduler)
    assert counter.count == 0
    assert "raise_value_error" in _frames(excinfo)


def test_error_in_middle_of_chain(scheduler, counter):
    f = counter.wrap(inc)
    x = delayed(0)
    for i in range(50):
        x = delayed(f)(x)
    x = delayed(raise_value_error)(x)
    for i in range(50):
        x = delayed(f)(x)
    with pytest.raises(ValueError, match="bad value 50"):
        x.compute(scheduler=scheduler)
    assert counter.count == 50


def test_failed_compute_can_be_retried(scheduler):
    state = {"fail": True}

    def flaky(x):
        if state["fail"]:
            raise ValueError("flaky")
        return x

    d = delayed(inc)(delayed(flaky)(1))
    with pytest.raises(ValueError):
        d.compute(scheduler=scheduler)
    state["fail"] = False
    assert d.compute(scheduler=scheduler) == 2


def test_error_inside_nested_compute(scheduler, run_with_timeout):
    def outer(x):
        inner = delayed(raise_custom)(x)
        return tegu.compute(inner)[0] + 1

    def run():
        with pytest.raises(CustomError) as excinfo:
            delayed(inc)(delayed(outer)(7)).compute(scheduler=scheduler)
        return excinfo

    excinfo = run_with_timeout(run, 60)
    assert excinfo.value.payload is PAYLOAD and excinfo.value.code == 7
    frames = _frames(excinfo)
    assert "outer" in frames and "raise_custom" in frames


def test_error_inside_nested_compute_with_one_worker(run_with_timeout):
    def outer(i):
        return sum(tegu.compute(*[delayed(raise_value_error)(i) if i == 2 else delayed(inc)(i)
                                  for i in range(4)]))

    def run():
        with pytest.raises(ValueError, match="bad value 2"):
            tegu.compute(*[delayed(outer)(i) for i in range(3)], scheduler="threads",
                         num_workers=1)
        return True

    assert run_with_timeout(run, 60)


class Abort(BaseException):
    """Not an Exception subclass, as KeyboardInterrupt and SystemExit are not."""


def test_base_exception_propagates(scheduler):
    def abort():
        raise Abort("stop")

    with pytest.raises(Abort, match="stop"):
        delayed(abort)().compute(scheduler=scheduler)
    with pytest.raises(SystemExit) as excinfo:
        delayed(lambda: exit_with(3))().compute(scheduler=scheduler)
    assert excinfo.value.code == 3


def exit_with(code):
    raise SystemExit(code)


def test_exception_chain_preserved(scheduler):
    def wrapped():
        try:
            1 / 0
        except ZeroDivisionError as e:
            raise ValueError("wrapped") from e

    with pytest.raises(ValueError, match="wrapped") as excinfo:
        delayed(wrapped)().compute(scheduler=scheduler)
    assert isinstance(excinfo.value.__cause__, ZeroDivisionError)


# Graphs referencing an undefined key cannot be built from Python: Delayed values always carry
# their dependencies, so the engine's missing-key KeyError is only reachable from C++.


# --- native failures ----------------------------------------------------------------------------


def test_native_task_failure(scheduler):
    fail = delayed(tegu.native("tegu.fail"))
    with pytest.raises(RuntimeError, match="boom"):
        fail("boom").compute(scheduler=scheduler)
    with pytest.raises(RuntimeError, match="kaput"):
        delayed(inc)(fail("kaput")).compute(scheduler=scheduler)


def test_native_direct_failure():
    with pytest.raises(RuntimeError, match="boom"):
        tegu.native("tegu.fail")("boom")


def test_native_wrong_argument_type(scheduler):
    add = delayed(tegu.native("tegu.add"))
    with pytest.raises(TypeError, match="argument 1"):
        add(1, "x").compute(scheduler=scheduler)
    with pytest.raises(TypeError, match="argument 0"):
        add("x", 1).compute(scheduler=scheduler)
    # a Python task handing a wrong type to a native one
    with pytest.raises(TypeError, match="argument 0"):
        add(delayed(str)(1), 2).compute(scheduler=scheduler)
    with pytest.raises(TypeError, match="argument 1"):
        tegu.native("tegu.add")(1, "x")


def test_native_wrong_arity(scheduler):
    # As calling a Python function with the wrong number of arguments: TypeError.
    with pytest.raises(TypeError, match="takes 1 argument, got 2"):
        delayed(tegu.native("tegu.inc"))(1, 2).compute(scheduler=scheduler)


def test_native_int_parameter_rejects_float(scheduler):
    # A float is not truncated into an integer parameter; the message uses Python type names.
    with pytest.raises(TypeError, match="argument 0: expected int, got float"):
        delayed(tegu.native("tegu.inc"))(1.5).compute(scheduler=scheduler)
    with pytest.raises(TypeError, match="argument 1: expected int, got str"):
        delayed(tegu.native("tegu.add"))(1, "x").compute(scheduler=scheduler)
    assert tegu.native("tegu.fadd")(1, 2.5) == 3.5


def test_native_rejects_keywords():
    with pytest.raises(TypeError, match="keyword"):
        delayed(tegu.native("tegu.inc"))(x=1).compute()
