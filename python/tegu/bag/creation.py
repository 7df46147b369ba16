"""The functions of ``tegu.bag`` that make bags: ``from_sequence``, ``range``,
``from_delayed``, ``concat``, ``zip``, and the element-wise ``map`` / ``map_partitions`` over
several bags, as dask.bag's.

Thread-safety: they build graphs; call them from any thread."""
from __future__ import annotations

import itertools
import math
from collections.abc import Iterable

from tegu.bag import chunk
from tegu.bag.core import (OBJECT, TEXT, Bag, _funcname, _map_bags, _map_partitions_bags, _name,
                           _task)
from tegu.delayed import Delayed
from tegu.tokenize import tokenize

__all__ = ["from_sequence", "range", "from_delayed", "concat", "zip", "map", "map_partitions"]

_builtin_range = range


def map(func, *args, **kwargs):  # noqa: A001 - dask.bag.map
    """func applied element-wise across bags (``db.map(f, b1, 2, b2)``): Bag arguments give
    their elements, others are passed as they are (Items and Delayed values computed)."""
    bags = [a for a in args if isinstance(a, Bag)]
    if not bags and not any(isinstance(v, Bag) for v in kwargs.values()):
        raise ValueError("db.map needs at least one Bag argument")
    if args and isinstance(args[0], Bag):
        return _map_bags(func, args[0], args[1:], kwargs)
    if not bags:  # only keyword bags
        first_kw = next(k for k, v in kwargs.items() if isinstance(v, Bag))
        first = kwargs[first_kw]
        rest = {k: v for k, v in kwargs.items() if k != first_kw}
        return _map_bags(_KeywordFirst(func, first_kw, len(args)), first, args, rest)
    layout = [isinstance(a, Bag) for a in args]
    others = [a for a in args if not isinstance(a, Bag)]
    return _map_bags(_Positional(func, layout), bags[0], tuple(bags[1:]) + tuple(others), kwargs)


class _Positional:
    """Calls func with bag elements and other arguments back in their original positions
    (map_part passes the bags' elements first, then the other arguments)."""

    def __init__(self, func, layout):
        self.func, self.layout = func, layout

    def __call__(self, *values, **kwargs):
        nbags = sum(self.layout)
        bags, others = iter(values[:nbags]), iter(values[nbags:])
        return self.func(*[next(bags) if is_bag else next(others) for is_bag in self.layout],
                         **kwargs)

    @property
    def __name__(self):
        return _funcname(self.func)


class _KeywordFirst:
    """Calls func(*args, name=element, **kwargs) for a bag given only by keyword."""

    def __init__(self, func, name, nargs):
        self.func, self.name, self.nargs = func, name, nargs

    def __call__(self, element, *args, **kwargs):
        kwargs[self.name] = element
        return self.func(*args, **kwargs)

    @property
    def __name__(self):
        return _funcname(self.func)


def map_partitions(func, *args, **kwargs):
    bags = [a for a in args if isinstance(a, Bag)]
    if not bags or not isinstance(args[0], Bag):
        raise ValueError("db.map_partitions needs a Bag as its first argument")
    return _map_partitions_bags(func, args[0], args[1:], kwargs)


# --- creation ----------------------------------------------------------------------------------

def from_sequence(seq, partition_size=None, npartitions=None):
    """A bag from a Python sequence, in ``npartitions`` partitions or partitions of
    ``partition_size`` elements (about 100 partitions by default, as Dask)."""
    seq = list(seq)
    if npartitions is not None and (not isinstance(npartitions, int) or npartitions < 1):
        raise ValueError(f"npartitions must be a positive int, got {npartitions!r}")
    if partition_size is not None and (not isinstance(partition_size, int) or partition_size < 1):
        raise ValueError(f"partition_size must be a positive int, got {partition_size!r}")
    if npartitions and not partition_size:
        if len(seq) <= 100:
            partition_size = int(math.ceil(len(seq) / npartitions))
        else:
            partition_size = max(1, int(math.floor(len(seq) / npartitions)))
    if npartitions is None and partition_size is None:
        if len(seq) <= 100:
            partition_size = 1
        else:
            partition_size = max(1, math.ceil(math.sqrt(len(seq)) / math.sqrt(100)))
    parts = [seq[i:i + partition_size] for i in _builtin_range(0, len(seq), partition_size or 1)]
    if not parts:
        parts = [[]]
    name = _name("from_sequence", parts)
    text = all(type(x) is str for x in seq) and len(seq) > 0
    return Bag([Delayed((name, i), None, (p,), None, ()) for i, p in enumerate(parts)], name,
               TEXT if text else OBJECT)


def range(n, npartitions):  # noqa: A001 - dask.bag.range
    """The integers 0..n-1 in ``npartitions`` partitions."""
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"range needs a non-negative int, got {n!r}")
    if not isinstance(npartitions, int) or npartitions < 1:
        raise ValueError(f"npartitions must be a positive int, got {npartitions!r}")
    size = n // npartitions or 1  # fewer items than partitions: one item each
    name = f"range-{n}-npartitions-{npartitions}"
    ijs = list(enumerate(itertools.islice(_builtin_range(0, n, size), npartitions)))
    parts = []
    for i, start in ijs:
        stop = n if i == len(ijs) - 1 else min(start + size, n)
        parts.append(_task((name, i), chunk.range_part, start, stop))
    if not parts:
        parts = [_task((name, 0), chunk.range_part, 0, 0)]
    return Bag(parts, name)


def from_delayed(values):
    """A bag with one partition per Delayed value (each a sequence). Futures work too."""
    import sys

    from tegu.delayed import delayed as make_delayed

    futures = sys.modules.get("tegu.distributed.futures")  # loaded if any Future exists
    if isinstance(values, Delayed) or not isinstance(values, Iterable):
        values = [values]
    parts = []
    for v in values:
        if isinstance(v, Delayed):
            parts.append(v)
        elif futures is not None and isinstance(v, futures.Future):
            parts.append(Delayed(v.key, None, (v,), None, ()))  # as persist's Delayed values
        else:
            parts.append(make_delayed(v))
    name = "bag-from-delayed-" + tokenize(*[p._key for p in parts])
    # Each partition converted to a list so that every value behaves like one.
    return Bag([_task((name, i), chunk.as_list, p) for i, p in enumerate(parts)], name)


def concat(bags):
    """The bags' partitions one after another."""
    bags = list(bags)
    if not bags:
        raise ValueError("concat needs at least one Bag")
    name = "concat-" + tokenize(*[b.name for b in bags])
    parts = [p for b in bags for p in b._parts]
    kinds = {b._kind for b in bags}
    kind = kinds.pop() if len(kinds) == 1 else OBJECT
    native = all(b._native for b in bags)
    if kind not in (TEXT, OBJECT):
        kind, native = OBJECT, False
        parts = [_task((name, i), chunk.as_list, p) for i, p in enumerate(parts)]
    return Bag(parts, name, kind, native=native)


def zip(*bags):  # noqa: A001 - dask.bag.zip
    """Tuples of the bags' elements, partition by partition (equal npartitions)."""
    if not bags:
        raise ValueError("zip needs at least one Bag")
    n = bags[0].npartitions
    if any(b.npartitions != n for b in bags):
        raise ValueError("zip needs bags with the same number of partitions")
    name = "zip-" + tokenize(*[b.name for b in bags])
    parts = [_task((name, i), chunk.zip_parts, *[b._parts[i] for b in bags])
             for i in _builtin_range(n)]
    return Bag(parts, name)
