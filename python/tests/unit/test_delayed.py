"""tegu.delayed: building lazy values and task graphs, as dask.delayed does."""

import collections
import dataclasses
import operator

import pytest

import tegu
from tegu import Delayed, delayed


def inc(x):
    return x + 1


def add(x, y):
    return x + y


def echo(*args, **kwargs):
    return args, kwargs


# --- delayed as decorator and call form ---------------------------------------------------------


def test_decorator_without_arguments(scheduler):
    @delayed
    def double(x):
        return 2 * x

    d = double(21)
    assert isinstance(d, Delayed)
    assert d.key.startswith("double-")
    assert d.compute(scheduler=scheduler) == 42


def test_decorator_with_arguments(scheduler):
    @delayed(pure=True)
    def double(x):
        return 2 * x

    assert double(4).key == double(4).key
    assert double(4).compute(scheduler=scheduler) == 8


def test_decorator_with_nout(scheduler):
    @delayed(nout=2)
    def divmod_(a, b):
        return divmod(a, b)

    q, r = divmod_(17, 5)
    assert tegu.compute(q, r, scheduler=scheduler) == (3, 2)


def test_call_form(scheduler):
    d = delayed(add)(1, 2)
    assert isinstance(d, Delayed)
    assert d.compute(scheduler=scheduler) == 3
    assert delayed(add)(d, delayed(inc)(d)).compute(scheduler=scheduler) == 7


def test_delayed_function_keeps_name_and_doc():
    def documented(x):
        """Doc string."""
        return x

    d = delayed(documented)
    assert d.__name__ == "documented"
    assert d.__doc__ == "Doc string."


def test_delayed_value(scheduler):
    assert delayed(5).compute(scheduler=scheduler) == 5
    assert delayed(inc).compute(scheduler=scheduler) is inc
    assert delayed("abc").compute(scheduler=scheduler) == "abc"


def test_call_with_keyword_arguments(scheduler):
    d = delayed(echo)(1, delayed(inc)(1), a=delayed(inc)(2), b="x")
    assert d.compute(scheduler=scheduler) == ((1, 2), {"a": 3, "b": "x"})


def test_call_delayed_result(scheduler):
    make = delayed(lambda: inc)()
    assert make(4).compute(scheduler=scheduler) == 5


# --- keys: pure, name, dask_key_name ------------------------------------------------------------


def test_pure_true_equal_keys_for_equal_args():
    assert delayed(add, pure=True)(1, 2).key == delayed(add, pure=True)(1, 2).key
    assert delayed(add, pure=True)(1, y=2).key == delayed(add, pure=True)(1, y=2).key
    f = delayed(add, pure=True)
    assert f(1, 2).key == f(1, 2).key


def test_pure_true_different_keys_for_different_args():
    f = delayed(add, pure=True)
    assert f(1, 2).key != f(2, 1).key
    assert f(1, 2).key != f(1, 3).key
    assert f(1, y=2).key != f(1, y=3).key
    assert f(1, 2).key != delayed(operator.sub, pure=True)(1, 2).key


def test_pure_keys_follow_delayed_arguments():
    a, b = delayed(inc)(1), delayed(inc)(1)  # impure: different keys
    f = delayed(add, pure=True)
    assert f(a, 1).key == f(a, 1).key
    assert f(a, 1).key != f(b, 1).key


def test_pure_per_call():
    f = delayed(add)
    assert f(1, 2, pure=True).key == f(1, 2, pure=True).key
    assert f(1, 2).key != f(1, 2).key


def test_pure_config_default():
    with tegu.config.set(delayed_pure=True):
        assert delayed(add)(1, 2).key == delayed(add)(1, 2).key
    assert delayed(add)(1, 2).key != delayed(add)(1, 2).key


def test_impure_default_gives_fresh_keys(scheduler):
    keys = {delayed(add)(1, 2).key for _ in range(100)}
    assert len(keys) == 100
    assert all(k.startswith("add-") for k in keys)
    assert len({delayed(5).key for _ in range(10)}) == 10


def test_pure_values_share_keys():
    assert delayed(5, pure=True).key == delayed(5, pure=True).key
    assert delayed(5, pure=True).key != delayed(6, pure=True).key
    assert delayed([1, 2], pure=True).key == delayed([1, 2], pure=True).key


def test_name_for_a_value(scheduler):
    d = delayed(5, name="five")
    assert d.key == "five"
    e = delayed(inc)(d)
    assert "five" in e.dask
    assert e.compute(scheduler=scheduler) == 6


def test_name_for_a_collection_value(scheduler):
    d = delayed([delayed(inc)(1), 2], name="pair")
    assert d.key == "pair"
    assert d.compute(scheduler=scheduler) == [2, 2]


def test_dask_key_name(scheduler):
    d = delayed(add)(1, 2, dask_key_name="my-sum")
    assert d.key == "my-sum"
    assert d.compute(scheduler=scheduler) == 3
    e = delayed(inc)(d, dask_key_name=("inc", 0))
    assert e.key == ("inc", 0)
    assert set(e.dask) == {"my-sum", ("inc", 0)}
    assert e.compute(scheduler=scheduler) == 4


def test_dask_key_name_on_method_call(scheduler):
    d = delayed("abc").upper(dask_key_name="up")
    assert d.key == "up"
    assert d.compute(scheduler=scheduler) == "ABC"


def test_key_prefix_is_function_name():
    assert delayed(inc)(1).key.startswith("inc-")
    assert delayed(lambda x: x)(1).key.startswith("lambda-")
    assert delayed(5).key.startswith("int-")
    assert delayed([1]).key.startswith("list-")


# --- nout and iteration -------------------------------------------------------------------------


def test_nout_unpacking(scheduler):
    a, b, c = delayed(lambda: (1, 2, 3), nout=3)()
    assert tegu.compute(a, b, c, scheduler=scheduler) == (1, 2, 3)
    d = delayed(lambda: (1, 2, 3), nout=3)()
    assert len(d) == 3
    assert [x.compute(scheduler=scheduler) for x in d] == [1, 2, 3]


def test_nout_zero_and_one(scheduler):
    d = delayed(lambda: (), nout=0)()
    assert len(d) == 0
    assert list(d) == []
    (x,) = delayed(lambda: (7,), nout=1)()
    assert x.compute(scheduler=scheduler) == 7


def test_nout_invalid():
    with pytest.raises(ValueError):
        delayed(add, nout=-1)
    with pytest.raises(ValueError):
        delayed(add, nout=1.5)


def test_iterating_without_nout_raises():
    d = delayed(add)(1, 2)
    with pytest.raises(TypeError, match="Delayed objects of unspecified length are not iterable"):
        list(d)
    with pytest.raises(TypeError, match="Delayed objects of unspecified length are not iterable"):
        a, b = d
    with pytest.raises(TypeError, match=r"Delayed objects of unspecified length have no len\(\)"):
        len(d)


# --- traverse -----------------------------------------------------------------------------------


def test_traverse_false_keeps_delayed_inside(scheduler):
    inner = delayed(inc)(1)
    d = delayed([inner, 2], traverse=False)
    out = d.compute(scheduler=scheduler)
    assert out[0] is inner
    assert out[1] == 2
    assert delayed([inner, 2]).compute(scheduler=scheduler) == [2, 2]


def test_traverse_false_on_function(scheduler):
    f = delayed(lambda xs: [type(x).__name__ for x in xs], traverse=False)
    # traverse applies to the wrapped object only: call arguments are still traversed, as in Dask
    assert f([delayed(inc)(1)]).compute(scheduler=scheduler) == ["int"]


# --- attributes, methods, indexing --------------------------------------------------------------


def test_attribute_access(scheduler):
    d = delayed(1 + 2j)
    assert d.real.compute(scheduler=scheduler) == 1.0
    assert d.imag.compute(scheduler=scheduler) == 2.0
    assert d.real.key.startswith("getattr-")


def test_method_calls(scheduler):
    d = delayed("banana")
    assert d.upper().compute(scheduler=scheduler) == "BANANA"
    assert d.count("a").compute(scheduler=scheduler) == 3
    assert d.replace("a", delayed("o")).compute(scheduler=scheduler) == "bonono"
    assert d.split(sep="n").compute(scheduler=scheduler) == ["ba", "a", "a"]
    assert d.upper().key.startswith("upper-")


def test_method_on_computed_value(scheduler):
    d = delayed(lambda: [3, 1, 2])()
    assert d.index(2).compute(scheduler=scheduler) == 2
    assert delayed(sorted)(d).compute(scheduler=scheduler) == [1, 2, 3]


def test_private_attribute_raises():
    d = delayed(inc)(1)
    with pytest.raises(AttributeError):
        d._private  # noqa: B018


def test_indexing_and_slicing(scheduler):
    d = delayed([10, 20, 30, 40])
    assert d[1].compute(scheduler=scheduler) == 20
    assert d[-1].compute(scheduler=scheduler) == 40
    assert d[1:3].compute(scheduler=scheduler) == [20, 30]
    assert d[::2].compute(scheduler=scheduler) == [10, 30]
    m = delayed({"a": [1, 2]})
    assert m["a"][1].compute(scheduler=scheduler) == 2
    i = delayed(2)
    assert d[i].compute(scheduler=scheduler) == 30


def test_indexing_is_pure():
    d = delayed([1, 2])
    assert d[0].key == d[0].key
    assert d[0].key != d[1].key


# --- operators ----------------------------------------------------------------------------------


BINARY = [operator.add, operator.sub, operator.mul, operator.truediv, operator.floordiv,
          operator.mod, operator.pow, operator.and_, operator.or_, operator.xor,
          operator.lshift, operator.rshift, operator.eq, operator.ne, operator.lt, operator.le,
          operator.gt, operator.ge]


@pytest.mark.parametrize("op", BINARY, ids=lambda op: op.__name__)
def test_binary_operators(op, scheduler):
    for a, b in [(7, 3), (3, 7), (5, 5)]:
        expected = op(a, b)
        assert op(delayed(a), b).compute(scheduler=scheduler) == expected
        assert op(a, delayed(b)).compute(scheduler=scheduler) == expected  # reflected
        assert op(delayed(a), delayed(b)).compute(scheduler=scheduler) == expected


class Mat:
    """A value with @ (matrix multiplication) in both directions."""

    def __init__(self, v):
        self.v = v

    def __matmul__(self, other):
        return ("matmul", self.v, other.v if isinstance(other, Mat) else other)

    def __rmatmul__(self, other):
        return ("rmatmul", other, self.v)


def test_matmul(scheduler):
    assert (delayed(Mat(1)) @ Mat(2)).compute(scheduler=scheduler) == ("matmul", 1, 2)
    assert (delayed(Mat(1)) @ 5).compute(scheduler=scheduler) == ("matmul", 1, 5)
    assert (5 @ delayed(Mat(1))).compute(scheduler=scheduler) == ("rmatmul", 5, 1)


def test_reflected_operators(scheduler):
    d = delayed(4)
    assert (1 + d).compute(scheduler=scheduler) == 5
    assert (10 - d).compute(scheduler=scheduler) == 6
    assert (3 * d).compute(scheduler=scheduler) == 12
    assert (10 / d).compute(scheduler=scheduler) == 2.5
    assert (10 // d).compute(scheduler=scheduler) == 2
    assert (10 % d).compute(scheduler=scheduler) == 2
    assert (2 ** d).compute(scheduler=scheduler) == 16
    assert (1 << d).compute(scheduler=scheduler) == 16
    assert (64 >> d).compute(scheduler=scheduler) == 4
    assert (12 & d).compute(scheduler=scheduler) == 4
    assert (1 | d).compute(scheduler=scheduler) == 5
    assert (6 ^ d).compute(scheduler=scheduler) == 2
    assert ("ab" + delayed("cd")).compute(scheduler=scheduler) == "abcd"
    assert ([1] * delayed(2)).compute(scheduler=scheduler) == [1, 1]


def test_unary_operators(scheduler):
    d = delayed(-5)
    assert (-d).compute(scheduler=scheduler) == 5
    assert (+d).compute(scheduler=scheduler) == -5
    assert (~d).compute(scheduler=scheduler) == 4
    assert abs(d).compute(scheduler=scheduler) == 5
    assert (-delayed(inc)(1)).compute(scheduler=scheduler) == -2


def test_comparisons_return_delayed(scheduler):
    d = delayed(3)
    assert isinstance(d == 3, Delayed)
    assert isinstance(d < 4, Delayed)
    assert (d == 3).compute(scheduler=scheduler) is True
    assert (4 > d).compute(scheduler=scheduler) is True  # reflected through __lt__
    assert (d != 3).compute(scheduler=scheduler) is False


def test_operator_chains(scheduler):
    x = delayed(inc)(1)
    y = (x * 10 + 5) // 3 - x ** 2
    assert y.compute(scheduler=scheduler) == (2 * 10 + 5) // 3 - 2 ** 2


# --- immutability and identity ------------------------------------------------------------------


def test_bool_raises():
    d = delayed(inc)(1)
    with pytest.raises(TypeError, match="Truth of Delayed objects is not supported"):
        bool(d)
    with pytest.raises(TypeError):
        if d:
            pass


def test_setattr_and_setitem_raise():
    d = delayed([1, 2])
    with pytest.raises(TypeError, match="immutable"):
        d.foo = 1
    with pytest.raises(TypeError, match="immutable"):
        d[0] = 1


def test_delayed_of_delayed_is_itself():
    d = delayed(inc)(1)
    assert delayed(d) is d
    assert delayed(d, pure=True, name="other") is d
    leaf = delayed(inc)
    assert delayed(leaf) is leaf


def test_key_dask_and_dask_keys():
    a = delayed(inc)(1)
    b = delayed(add)(a, 10)
    assert b.__dask_keys__() == [b.key]
    graph = b.dask
    assert isinstance(graph, dict)
    assert a.key in graph and b.key in graph
    assert b.__dask_graph__().keys() == graph.keys()
    assert tegu.is_dask_collection(b)
    assert not tegu.is_dask_collection(1)


def test_hash_and_repr():
    d = delayed(inc)(1, dask_key_name="k")
    assert repr(d) == "Delayed('k')"
    assert hash(d) == hash("k")
    assert {d: 1}[d] == 1


def test_delayed_pickles(scheduler):
    import pickle

    d = delayed(add)(delayed(inc)(1), 3)
    e = pickle.loads(pickle.dumps(d))
    assert e.key == d.key
    assert e.compute(scheduler=scheduler) == 5


# --- collections inside arguments ---------------------------------------------------------------


def test_list_of_delayed(scheduler):
    d1, d2 = delayed(inc)(1), delayed(inc)(2)
    assert delayed([d1, d2, 3]).compute(scheduler=scheduler) == [2, 3, 3]
    assert delayed((d1, d2)).compute(scheduler=scheduler) == (2, 3)
    assert delayed({"a": d1, "b": [d2]}).compute(scheduler=scheduler) == {"a": 2, "b": [3]}
    assert delayed({d1, 5}).compute(scheduler=scheduler) == {2, 5}
    assert delayed(sum)([d1, d2, 3]).compute(scheduler=scheduler) == 8


def test_nested_collections_in_args_and_kwargs(scheduler):
    a, b, c = delayed(inc)(0), delayed(inc)(1), delayed(inc)(2)

    def plain(x):  # the same structure with the computed values
        return {a: 1, b: 2, c: 3}.get(x, x) if isinstance(x, Delayed) else x

    def resolved(obj):
        if isinstance(obj, Delayed):
            return plain(obj)
        if isinstance(obj, (list, tuple, set, frozenset)):
            return type(obj)(resolved(x) for x in obj)
        if isinstance(obj, dict):
            return {resolved(k): resolved(v) for k, v in obj.items()}
        return obj

    args = ([a, (b, [c, {"k": a}])], {"x": {b, 7}, "y": (c,)}, frozenset({a, 9}), {c: "key"})
    kwargs = {"kw": {"deep": [{"deeper": (a, b)}]}, "s": {c}, "t": (1, [2, b])}
    got = delayed(echo)(*args, **kwargs).compute(scheduler=scheduler)
    assert got == echo(*resolved(args), **resolved(kwargs))
    assert got[0][2] == frozenset({1, 9}) and type(got[0][2]) is frozenset


def test_slices_namedtuples_dataclasses_in_args(scheduler):
    P = collections.namedtuple("P", "x y")

    @dataclasses.dataclass
    class DC:
        a: object
        b: int = 0

    d = delayed(inc)(1)
    got = delayed(echo)(slice(d, 5), P(d, [d]), DC(d, 3), [P(1, d)]).compute(scheduler=scheduler)
    assert got == ((slice(2, 5), P(2, [2]), DC(2, 3), [P(1, 2)]), {})
    assert type(got[0][1]) is P
    assert delayed([10, 20, 30, 40])[slice(d, None)].compute(scheduler=scheduler) == [30, 40]


def test_collections_without_delayed_pass_unchanged(scheduler):
    s = {1, 2}
    obj = [s, {"a": (1, 2)}, frozenset({3})]
    got = delayed(echo)(obj).compute(scheduler=scheduler)
    assert got == ((obj,), {})


def test_generator_arguments(scheduler):
    assert delayed(sum)(i * i for i in range(5)).compute(scheduler=scheduler) == sum(
        i * i for i in range(5))
    assert delayed(list)(map(inc, [1, 2])).compute(scheduler=scheduler) == [2, 3]
    # A generator yielding Delayed values: they are computed (Dask would pass them unresolved).
    ds = [delayed(inc)(i) for i in range(3)]
    assert delayed(sum)(d for d in ds).compute(scheduler=scheduler) == 6
    # nested inside a list, the generator is materialised once and kept
    assert delayed(echo)([(d for d in ds)]).compute(scheduler=scheduler) == (([[1, 2, 3]],), {})


def test_shared_argument_used_twice(scheduler, counter):
    f = counter.wrap(inc)
    d = delayed(f)(1)
    assert delayed(add)(d, d).compute(scheduler=scheduler) == 4
    assert delayed(echo)([d, d], k={"a": d}).compute(scheduler=scheduler) == (([2, 2],), {"k": {"a": 2}})
    assert counter.count == 2  # once per compute


def test_graph_dict_has_tasks():
    d = delayed(add)(delayed(inc)(1), 2)
    graph = d.dask
    task = graph[d.key]
    assert callable(task[0])
    assert len(graph) == 2


# --- tokenize -----------------------------------------------------------------------------------


def test_tokenize_equal_values():
    from tegu import tokenize

    assert tokenize(1, "a", [1, 2], {"k": (3, 4)}) == tokenize(1, "a", [1, 2], {"k": (3, 4)})
    assert tokenize({"a": 1, "b": 2}) == tokenize({"b": 2, "a": 1})
    assert tokenize({1, 2, 3}) == tokenize({3, 2, 1})
    assert tokenize(x=1, y=2) == tokenize(y=2, x=1)
    assert tokenize(b"bytes", None, 1.5, 2j, slice(1, 2), range(3)) == tokenize(
        b"bytes", None, 1.5, 2j, slice(1, 2), range(3))
    assert isinstance(tokenize(1), str) and len(tokenize(1)) == 32


def test_tokenize_different_values():
    from tegu import tokenize

    tokens = {tokenize(v) for v in [1, 2, 1.0, "1", b"1", True, None, (1,), [1], {1}, {"1": 1},
                                    (1, 2), (2, 1), [[1]], ((1,),)]}
    assert len(tokens) == 15
    assert tokenize(1, 2) != tokenize(2, 1)
    assert tokenize(x=1) != tokenize(x=2)
    assert tokenize(x=1) != tokenize(y=1)


def test_tokenize_deterministic_for_functions():
    from tegu import tokenize

    assert tokenize(inc) == tokenize(inc)
    assert tokenize(inc) != tokenize(add)
    assert tokenize(operator.add) == tokenize(operator.add)
    assert tokenize(operator.add) != tokenize(operator.sub)
    lam = lambda x: x + 1  # noqa: E731
    assert tokenize(lam) == tokenize(lam)
    assert tokenize(len) == tokenize(len)


def test_tokenize_delayed_by_key():
    from tegu import tokenize

    a = delayed(inc)(1, dask_key_name="a")
    assert tokenize(a) == tokenize(delayed(add)(1, 2, dask_key_name="a"))
    assert tokenize(a) != tokenize(delayed(inc)(1, dask_key_name="b"))


def test_tokenize_dask_tokenize_hook():
    from tegu import tokenize

    class Thing:
        def __init__(self, v):
            self.v = v

        def __dask_tokenize__(self):
            return ("Thing", self.v)

    assert tokenize(Thing(1)) == tokenize(Thing(1))
    assert tokenize(Thing(1)) != tokenize(Thing(2))


def test_tokenize_cycles():
    from tegu import tokenize

    x = [1]
    x.append(x)
    assert tokenize(x) == tokenize(x)
