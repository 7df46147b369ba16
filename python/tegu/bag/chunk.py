"""The Python functions a bag's tasks call on partitions (module-level, so that a worker
imports them by name instead of unpickling code). Each takes and returns whole partitions
(lists); native kernels do the same work for text partitions (src/tegu/bag/)."""
from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Iterator
from functools import reduce

__all__ = []


class _NoDefault:
    __slots__ = ()

    def __repr__(self):
        return "<no_default>"

    def __reduce__(self):
        return "no_default"


no_default = _NoDefault()


class _NoResult:
    """What a reduction's empty partition gives: skipped by the aggregate (as Dask)."""
    __slots__ = ()

    def __repr__(self):
        return "<no_result>"

    def __reduce__(self):
        return "no_result"


no_result = _NoResult()


def as_list(part):
    """A partition as a list (user functions may return any iterable; tuples stay tuples)."""
    if type(part) is list or type(part) is tuple:
        return part
    if part is None:
        return []
    if isinstance(part, (Iterator, range, set, frozenset, dict)) or hasattr(part, "__iter__"):
        return list(part)
    raise TypeError(f"a bag partition must be iterable, got {type(part).__name__}")






def range_part(start, stop):
    return list(range(start, stop))


def map_part(func, part, args, kwargs, bag_args=(), bag_kwargs=None):
    """[func(x, *args, **kwargs)], zipping in the elements of other bags' partitions."""
    if bag_args or bag_kwargs:
        names = list(bag_kwargs) if bag_kwargs else []
        iters = [part] + [as_list(p) for p in bag_args] + [as_list(bag_kwargs[n]) for n in names]
        nb = 1 + len(bag_args)
        out = []
        for row in zip(*iters):
            kw = dict(kwargs) if kwargs else {}
            for n, v in zip(names, row[nb:]):
                kw[n] = v
            out.append(func(*row[:nb], *args, **kw))
        return out
    if kwargs:
        return [func(x, *args, **kwargs) for x in part]
    if args:
        return [func(x, *args) for x in part]
    return [func(x) for x in part]


def starmap_part(func, part, kwargs):
    if kwargs:
        return [func(*x, **kwargs) for x in part]
    return [func(*x) for x in part]


def map_partitions_part(func, part, args, kwargs):
    out = func(part, *args, **(kwargs or {}))
    if isinstance(out, Iterator):  # a generator is consumed once: keep its items
        return list(out)
    return out






def pluck_part(key, part, default=no_default):
    if isinstance(key, list):
        if default is no_default:
            return [tuple(x[k] for k in key) for x in part]
        return [tuple(_get(x, k, default) for k in key) for x in part]
    if default is no_default:
        return [x[key] for x in part]
    return [_get(x, key, default) for x in part]


def _get(x, k, default):
    try:
        return x[k]
    except (KeyError, IndexError, TypeError):
        return default






def join_part(on_other, other, on_self, part):
    """(other_element, element) for every match, in the partition's order (toolz.join)."""
    if not callable(on_other):
        i = on_other
        on_other = lambda x: x[i]  # noqa: E731
    if not callable(on_self):
        j = on_self
        on_self = lambda x: x[j]  # noqa: E731
    index = {}
    for x in other:
        index.setdefault(on_other(x), []).append(x)
    return [(match, x) for x in part for match in index.get(on_self(x), ())]


def sample_part(part, seed, prob):
    import random

    rng = random.Random(seed)
    return [x for x in part if rng.random() < prob]


def concat_parts(parts):
    out = []
    for p in parts:
        out.extend(p)
    return out


def split_part(part, n):
    """`part` cut into n consecutive pieces of near-equal length (as Dask's repartition)."""
    part = as_list(part)
    size, extra = divmod(len(part), n)
    out, start = [], 0
    for i in range(n):
        stop = start + size + (1 if i < extra else 0)
        out.append(part[start:stop])
        start = stop
    return out


def getitem(seq, i):
    return seq[i]


def product_part(a, b):
    b = as_list(b)
    return [(x, y) for x in a for y in b]


def zip_parts(*parts):
    return list(zip(*parts))


def unique_part(part, key=None):
    seen = {}
    if key is None:
        for x in part:
            if x not in seen:
                seen[x] = None
        return list(seen)
    out = []
    for x in part:
        k = key(x)
        if k not in seen:
            seen[k] = None
            out.append(x)
    return out


def unique_merge(parts, key=None):
    return unique_part(itertools.chain.from_iterable(parts), key)


# --- reductions ------------------------------------------------------------------------------

def empty_safe_apply(func, part, is_last):
    """func(part); an empty partition gives no_result unless it is the last step (Dask)."""
    part = as_list(part)
    if not is_last and len(part) == 0:
        return no_result
    return func(part)


def empty_safe_aggregate(func, parts, is_last):
    return empty_safe_apply(func, [p for p in parts if p is not no_result], is_last)


def reduce_seq(binop, seq, initial=no_default):
    if initial is not no_default:
        return reduce(binop, seq, initial)
    return reduce(binop, seq)


def count_seq(seq):
    return len(seq) if hasattr(seq, "__len__") else sum(1 for _ in seq)


def mean_chunk(seq):
    total, n = 0.0, 0
    for x in seq:
        total += x
        n += 1
    return total, n


def mean_aggregate(pairs):
    totals, counts = list(zip(*pairs)) if pairs else ((), ())
    n = sum(counts)
    if n == 0:
        raise ZeroDivisionError("mean of an empty bag")
    return 1.0 * sum(totals) / n


def var_chunk(seq):
    squares, total, n = 0.0, 0.0, 0
    for x in seq:
        squares += x * x
        total += x
        n += 1
    return squares, total, n


def var_aggregate(parts, ddof):
    squares, totals, counts = list(zip(*parts)) if parts else ((), (), ())
    x2, x, n = float(sum(squares)), float(sum(totals)), sum(counts)
    if n - ddof <= 0:
        raise ZeroDivisionError(f"variance of {n} elements with ddof={ddof}")
    return (x2 / n - (x / n) ** 2) * n / (n - ddof)


def sqrt(x):
    return math.sqrt(x)


def frequencies_part(part):
    counts = {}
    for x in part:
        counts[x] = counts.get(x, 0) + 1
    return counts


def merge_frequencies(parts):
    parts = list(parts)
    if not parts:
        return {}
    out = dict(parts[0]) if isinstance(parts[0], dict) else dict(parts[0])
    for d in parts[1:]:
        for k, v in (d.items() if isinstance(d, dict) else d):
            out[k] = out.get(k, 0) + v
    return out


def dict_items(d, sort=False):
    items = list(d.items()) if isinstance(d, dict) else list(d)
    if sort:
        items.sort(key=lambda kv: kv[1], reverse=True)
    return items


def topk_part(k, part, key=None):
    if key is not None and not callable(key):
        idx = key
        key = lambda x: x[idx]  # noqa: E731 - toolz.topk's getter
    return tuple(heapq.nlargest(k, part, key=key))


def topk_merge(k, parts, key=None):
    return topk_part(k, itertools.chain.from_iterable(parts), key)


def reduceby(key, binop, seq, initial=no_default):
    out = {}
    if initial is no_default:
        for x in seq:
            k = key(x)
            out[k] = binop(out[k], x) if k in out else x
    else:
        init = initial
        for x in seq:
            k = key(x)
            prev = out[k] if k in out else (init() if callable(init) else init)
            out[k] = binop(prev, x)
    return out


def foldby_combine(combine, parts, combine_initial=no_default):
    """Merges partial foldby dicts: values of the same key folded with ``combine``."""
    if combine_initial is no_default:
        out = {}
        for d in parts:
            for k, v in d.items():
                out[k] = combine(out[k], v) if k in out else v
        return out
    out = {}
    for d in parts:
        for k, v in d.items():
            prev = out[k] if k in out else (combine_initial() if callable(combine_initial) else combine_initial)
            out[k] = combine(prev, v)
    return out


# --- groupby shuffle -------------------------------------------------------------------------

def shuffle_split(grouper, part, n):
    """`part` split into n buckets by hash(grouper(x)) % n (hashes agree across a cluster's
    worker processes: LocalCluster starts them with one PYTHONHASHSEED, as Dask's nannies)."""
    buckets = [[] for _ in range(n)]
    for x in part:
        buckets[hash(grouper(x)) % n].append(x)
    return buckets


def group_part(grouper, buckets):
    groups = {}
    for bucket in buckets:
        for x in bucket:
            k = grouper(x)
            g = groups.get(k)
            if g is None:
                groups[k] = [x]
            else:
                g.append(x)
    return list(groups.items())


# --- finalize ----------------------------------------------------------------------------------

def finalize_bag(parts):
    out = []
    for p in parts:
        out.extend(p)
    return out


def accumulate_part(binop, part, carry, initial, first):
    """(running values, last value) of one partition: the first partition starts from
    ``initial`` (or its first element), the others from the previous partition's last value
    (or, when every partition before was empty, their own first element)."""
    items = iter(part)
    out = []
    if first and initial is not no_default:
        acc = initial
        out.append(acc)
    elif first or carry is no_result:
        acc = next(items, no_result)
        if acc is no_result:
            return [], no_result
        out.append(acc)
    else:
        acc = carry
    for x in items:
        acc = binop(acc, x)
        out.append(acc)
    return out, acc


def take_part(k, part):
    return list(itertools.islice(part, k))


def safe_take(k, parts, warn=True):
    out = list(itertools.islice(itertools.chain.from_iterable(parts), k))
    if len(out) != k and warn:
        import warnings

        warnings.warn(f"Insufficient elements for `take`. {k} elements requested, only "
                      f"{len(out)} elements available. Try passing larger `npartitions` to "
                      "`take`.")
    return out


def write_text_part(part, path, compression, encoding, last_endline):
    """Writes one element per line (as Dask: no newline after the last unless last_endline)."""
    from tegu.bag.text import open_for_write

    with open_for_write(path, compression, encoding) as f:
        binary = encoding is None
        endline = b"\n" if binary else "\n"
        started = False
        for d in part:
            if started:
                f.write(endline)
            started = True
            if not isinstance(d, (str, bytes)):
                raise TypeError(f"to_textfiles writes a bag of str; got an element of type "
                                f"{type(d).__name__} (map json.dumps or str first)")
            if binary:
                f.write(d if isinstance(d, bytes) else d.encode())
            else:
                f.write(d if isinstance(d, str) else d.decode())
        if last_endline:
            f.write(endline)
    return path


# --- lazy element-wise stages ------------------------------------------------------------------
# Consecutive element-wise operations (map, filter, flatten, pluck, ...) run in one task as a
# chain of iterators, as Dask's fused bag tasks do: no list is built between them, only at the
# end of the chain (or not at all when a reduction consumes the stream).

class MapStage:
    __slots__ = ("func", "args", "kwargs")

    def __init__(self, func, args=(), kwargs=None):
        self.func, self.args, self.kwargs = func, tuple(args), kwargs or None

    def __call__(self, items):
        func, args, kwargs = self.func, self.args, self.kwargs
        if kwargs:
            return (func(x, *args, **kwargs) for x in items)
        if args:
            return (func(x, *args) for x in items)
        return map(func, items)

    def __tegu_tokenize__(self):
        return ("map", self.func, self.args, self.kwargs)


class StarmapStage(MapStage):
    __slots__ = ()

    def __call__(self, items):
        func, kwargs = self.func, self.kwargs
        if kwargs:
            return (func(*x, **kwargs) for x in items)
        return itertools.starmap(func, items)

    def __tegu_tokenize__(self):
        return ("starmap", self.func, self.kwargs)


class FilterStage:
    __slots__ = ("predicate", "keep")

    def __init__(self, predicate, keep=True):
        self.predicate, self.keep = predicate, keep

    def __call__(self, items):
        if self.keep:
            return filter(self.predicate, items)
        return itertools.filterfalse(self.predicate, items)

    def __tegu_tokenize__(self):
        return ("filter", self.predicate, self.keep)


class FlattenStage:
    __slots__ = ()

    def __call__(self, items):
        return itertools.chain.from_iterable(items)

    def __tegu_tokenize__(self):
        return ("flatten",)


class PluckStage:
    __slots__ = ("key", "default")

    def __init__(self, key, default=no_default):
        self.key, self.default = key, default

    def __call__(self, items):
        return iter(pluck_part(self.key, items, self.default))

    def __tegu_tokenize__(self):
        return ("pluck", self.key, self.default)


class MethodStage:
    """getattr(x, name)(*args, **kwargs): the .str methods without a kernel."""
    __slots__ = ("name", "args", "kwargs")

    def __init__(self, name, args=(), kwargs=None):
        self.name, self.args, self.kwargs = name, tuple(args), kwargs or {}

    def __call__(self, items):
        name, args, kwargs = self.name, self.args, self.kwargs
        return (getattr(x, name)(*args, **kwargs) for x in items)

    def __tegu_tokenize__(self):
        return ("method", self.name, self.args, self.kwargs)


class MatchStage:
    __slots__ = ("pattern",)

    def __init__(self, pattern):
        self.pattern = pattern

    def __call__(self, items):
        import fnmatch

        pattern = self.pattern
        return (x for x in items if fnmatch.fnmatch(x, pattern))

    def __tegu_tokenize__(self):
        return ("match", self.pattern)


def stream(stages, part):
    """The elements of `part` after `stages`, as an iterator."""
    items = part
    for stage in stages:
        items = stage(items)
    return items


def run_stages(stages, part):
    """`part` after `stages`, as a list (a partition stored or sent as a task's result)."""
    return list(stream(stages, part))


_END = object()


def reduce_part(stages, func, part, is_last, streaming):
    """A reduction's per-partition step over `part` after `stages`: func of the stream (of a
    list when the function is the user's), no_result for an empty partition unless it is the
    only one (as Dask's empty_safe_apply)."""
    items = stream(stages, part) if stages else part
    if not streaming:
        return empty_safe_apply(func, items, is_last)
    it = iter(items)
    first = next(it, _END)
    if first is _END:
        return no_result if not is_last else func([])
    return func(itertools.chain((first,), it))
