"""``tegu.bag.Bag`` and ``Item``: the bag collection, behaving as ``dask.bag``.

A Bag is a list of Delayed partitions built lazily; ``compute`` runs them on any scheduler.
Known text operations over text partitions (``read_text``, ``.str`` methods, ``flatten`` of
split words, ``frequencies``, ``topk``, ``distinct``, ``count``) are registered C++ kernels
(``tegu.bag.*``) that run without the GIL and keep partitions native (no Python objects);
everything else, and every user function, is a Python task. See docs/collections.md.

Each Bag remembers what its partitions hold (``_kind``): Python lists ("object"), native
lists of str ("text"), lists of lists of str from ``.str.split()`` ("text-lists"), or
(str, count) pairs from ``frequencies()`` ("counts"). Only "text" kinds use the kernels; a
Python function given a native partition receives it as a list.

Thread-safety: Bags are immutable; build and compute them from any thread."""
from __future__ import annotations

import operator

from collections.abc import Iterable

from tegu import _tegu
from tegu.bag import chunk
from tegu.bag.chunk import no_default
from tegu.delayed import Delayed
from tegu.tokenize import tokenize

__all__ = ["Bag", "Item", "no_default"]

OBJECT, TEXT, TEXT_LISTS, COUNTS = "object", "text", "text-lists", "counts"


class _Kernels:
    """The registered kernels, looked up once."""

    def __getattr__(self, name):
        fn = _tegu.native("tegu.bag." + name)
        setattr(self, name, fn)
        return fn


K = _Kernels()
_SUM = _tegu.native("tegu.sum")


def _collect_deps(obj, out, depth=0):
    if isinstance(obj, Delayed):
        out.append(obj)
    elif depth < 3 and type(obj) in (list, tuple):
        for x in obj:
            _collect_deps(x, out, depth + 1)
    elif depth < 3 and type(obj) is dict:
        for x in obj.values():
            _collect_deps(x, out, depth + 1)


def _task(key, func, *args, kwargs=None):
    """A Delayed calling func(*args, **kwargs); Delayed values inside args are dependencies."""
    deps: list = []
    _collect_deps(args, deps)
    if kwargs:
        _collect_deps(kwargs, deps)
    return Delayed(key, func, args, kwargs or None, tuple(deps))


def _name(prefix, *parts):
    return f"{prefix}-{tokenize(*parts)}"


def _unwrap(arg):
    """A map/map_partitions argument as a task argument: Items and Delayed values resolve."""
    if isinstance(arg, Item):
        return arg._delayed
    return arg


class _Collection:
    """compute, persist and visualize of a collection (through tegu.base, which understands
    the __tegu_finalize__ / __tegu_parts__ / __tegu_rebuild__ methods)."""

    __slots__ = ()

    def compute(self, **kwargs):
        from tegu.base import compute

        return compute(self, **kwargs)[0]

    def persist(self, **kwargs):
        from tegu.base import persist

        return persist(self, **kwargs)[0]

    def visualize(self, filename="mydask", format=None, optimize_graph=False, **kwargs):
        from tegu.base import visualize

        return visualize(self, filename=filename, format=format, optimize_graph=optimize_graph,
                         **kwargs)


class Item(_Collection):
    """A single lazy value (the result of a reduction), as dask.bag.Item."""

    __slots__ = ("_delayed", "_native")

    def __init__(self, delayed, native=False):
        self._delayed = delayed
        self._native = native  # computed by native kernels only (see Bag._native)

    @property
    def key(self):
        return self._delayed._key

    @property
    def name(self):
        k = self._delayed._key
        return k[0] if isinstance(k, tuple) else k

    def __tegu_finalize__(self):
        return self._delayed

    def __tegu_parts__(self):
        return [self._delayed]

    def __tegu_rebuild__(self, parts):
        return Item(parts[0], self._native)

    def to_delayed(self, optimize_graph=True):
        return self._delayed

    def apply(self, func):
        return Item(_task(_name("apply", self.key, func), func, self._delayed))

    def __repr__(self):
        return f"Item<{self.key}>"

    def __await__(self):
        from tegu.distributed.registry import _current_default

        client = _current_default()
        return client.compute(self).__await__()

    def __tegu_tokenize__(self):
        return ("item", self.key)

    def __tegu_default_scheduler__(self):
        return "threads" if self._native else "processes"

    def __bool__(self):
        raise TypeError("the truth value of an Item is not known until it is computed")


class Bag(_Collection):
    """A parallel collection of Python objects in partitions, as dask.bag.Bag."""

    __slots__ = ("_base", "_stages", "_materialized", "name", "_kind", "_split_of", "_native",
                 "__weakref__")

    def __init__(self, parts, name, kind=OBJECT, split_of=None, stages=(), native=False):
        # The partitions are `parts` after `stages`: element-wise operations not yet run,
        # applied lazily (chunk.stream) by whatever task next reads the partitions, so a chain
        # of them costs one task and builds no list in between (Dask fuses its bag tasks the
        # same way).
        self._base = list(parts)
        self._stages = tuple(stages)
        self._materialized = None
        self.name = name
        self._kind = kind
        # For a flattened split (text): (source bag, sep, maxsplit) — frequencies() then runs
        # one fused kernel per partition instead of building the list of words.
        self._split_of = split_of
        # Whether every task behind the partitions is a native kernel (no Python code but
        # trivial glue): such a bag computes on threads by default, any other on processes.
        self._native = native

    @property
    def _parts(self):
        """One Delayed per partition, its value the partition as a list."""
        if not self._stages:
            return self._base
        if self._materialized is None:
            self._materialized = [_task((self.name, i), chunk.run_stages, self._stages, p)
                                  for i, p in enumerate(self._base)]
        return self._materialized

    def _then(self, prefix, token_parts, stage, kind=OBJECT):
        """This bag with one more lazy element-wise stage."""
        name = _name(prefix, self.name, *token_parts)
        return Bag(self._base, name, kind, stages=self._stages + (stage,))

    # --- collection protocol (tegu.compute, persist, visualize, Client.compute) ------------------
    @property
    def npartitions(self):
        return len(self._base)

    def __tegu_finalize__(self):
        return Delayed(f"finalize-{self.name}", chunk.finalize_bag, (list(self._parts),), None,
                       tuple(self._parts))

    def __tegu_parts__(self):
        return list(self._parts)

    def __tegu_rebuild__(self, parts):
        return Bag(parts, self.name, self._kind, native=self._native)

    def __tegu_tokenize__(self):
        return ("bag", self.name)

    def __tegu_default_scheduler__(self):
        """The scheduler a compute with none named uses (no Client, nothing configured): as
        Dask's bags, processes — Python code holds the GIL — unless only native kernels run,
        which threads run in parallel without a process start."""
        return "threads" if self._native else "processes"

    def to_delayed(self, optimize_graph=True):
        """One Delayed per partition (its value is the partition as a list)."""
        return list(self._parts)

    def __iter__(self):
        return iter(self.compute())

    def __repr__(self):
        return f"dask.bag<{self.name.split('-')[0]}, npartitions={self.npartitions}>"

    __str__ = __repr__

    @property
    def str(self):
        """String methods over the elements (``b.str.lower()``, ``b.str.split()``, ...)."""
        from tegu.bag.text import StringAccessor

        return StringAccessor(self)

    def _derive(self, prefix, token_parts, make_part, kind=OBJECT, split_of=None, native=False):
        name = _name(prefix, self.name, *token_parts)
        parts = [make_part((name, i), p, i) for i, p in enumerate(self._parts)]
        return Bag(parts, name, kind, split_of, native=native)

    # --- element-wise ------------------------------------------------------------------------
    def map(self, func, *args, **kwargs):
        """func(x, *args, **kwargs) for every element; Bag arguments (same npartitions) are
        zipped in element-wise, Items and Delayed values are computed first."""
        return _map_bags(func, self, args, kwargs)

    def starmap(self, func, **kwargs):
        kwargs = {k: _unwrap(v) for k, v in kwargs.items()}
        if not _has_lazy_values(kwargs):
            return self._then(f"{_funcname(func)}-starmap", (func, kwargs),
                              chunk.StarmapStage(func, (), kwargs))
        return self._derive(f"{_funcname(func)}-starmap", (func, kwargs),
                            lambda key, p, i: _task(key, chunk.starmap_part, func, p, kwargs))

    def filter(self, predicate):
        keep_kind = self._kind if self._kind in (TEXT, OBJECT) else OBJECT
        return self._then("filter", (predicate,), chunk.FilterStage(predicate, True), keep_kind)

    def remove(self, predicate):
        keep_kind = self._kind if self._kind in (TEXT, OBJECT) else OBJECT
        return self._then("remove", (predicate,), chunk.FilterStage(predicate, False), keep_kind)

    def flatten(self):
        """Concatenates the elements' items (a bag of lists becomes a bag of their items)."""
        if self._kind == TEXT_LISTS:
            return self._derive("flatten", (), lambda key, p, i: _task(key, K.flatten_lists, p),
                                TEXT, split_of=self._split_of, native=self._native)
        kind = TEXT if self._kind == TEXT else OBJECT  # a str's items are str
        return self._then("flatten", (), chunk.FlattenStage(), kind)

    def map_partitions(self, func, *args, **kwargs):
        """func(partition, *args, **kwargs) for each partition (a list); Bag arguments give
        their matching partition, Items and Delayed values their value."""
        return _map_partitions_bags(func, self, args, kwargs)

    def pluck(self, key, default=no_default):
        return self._then("pluck", (key, default), chunk.PluckStage(key, default))

    def distinct(self, key=None):
        """The distinct elements (first occurrences, in order), in one partition."""
        if self._kind == TEXT and key is None:
            return _tree_reduce(self, "distinct", lambda part: (K.distinct, [part]),
                                lambda parts: (K.distinct, parts), TEXT, token=("native",))
        return self.reduction(_Partial(chunk.unique_part, key=key),
                              _Partial(chunk.unique_merge, key=key), out_type=Bag,
                              name="distinct", _streaming=True)

    def product(self, other):
        """The cartesian product with another bag: npartitions = self's × other's."""
        if not isinstance(other, Bag):
            raise TypeError(f"product needs a Bag, got {type(other).__name__}")
        name = _name("product", self.name, other.name)
        parts = []
        for a in self._parts:
            for b in other._parts:
                parts.append(_task((name, len(parts)), chunk.product_part, a, b))
        return Bag(parts, name)

    def repartition(self, npartitions=None, partition_size=None):
        """The same elements in ``npartitions`` partitions (or partitions of about
        ``partition_size`` bytes)."""
        if (npartitions is None) == (partition_size is None):
            raise ValueError("Please provide exactly one of the ``npartitions=`` or "
                             "``partition_size=`` keyword arguments")
        from tegu.bag.repartition import by_npartitions, by_size

        if partition_size is not None:
            return by_size(self, partition_size)
        return by_npartitions(self, npartitions)

    # --- reductions --------------------------------------------------------------------------
    def reduction(self, perpartition, aggregate, split_every=None, out_type=Item, name=None,
                  _streaming=False):
        """perpartition(partition) on each partition, then aggregate(list of results) in a
        tree (split_every at a time, 8 by default); empty partitions are skipped (as Dask).
        The built-in reductions stream the partition (_streaming); a user's perpartition
        gets a list."""
        split_every = _split_every(split_every, self.npartitions)
        token = tokenize(self.name, perpartition, aggregate, split_every)
        prefix = name or _funcname(perpartition)
        a = f"{prefix}-part-{token}"
        last = self.npartitions == 1
        level = [_task((a, i), chunk.reduce_part, self._stages, perpartition, p, last,
                       bool(_streaming))
                 for i, p in enumerate(self._base)]
        fmt = f"{name or _funcname(aggregate)}-aggregate-{token}"
        level = _combine_levels(level, split_every, lambda depth, i, group: _task(
            (fmt + str(depth), i), chunk.empty_safe_aggregate, aggregate, group, False))
        if out_type is Item or out_type == "item":
            return Item(_task(fmt, chunk.empty_safe_aggregate, aggregate, level, True))
        return Bag([_task((fmt, 0), chunk.empty_safe_aggregate, aggregate, level, True)], fmt)

    def fold(self, binop, combine=None, initial=no_default, split_every=None, out_type=Item):
        """reduce(binop) within partitions, reduce(combine) across them."""
        # as Dask: initial starts each partition's fold, not the combination of them
        per = _Partial(chunk.reduce_seq, binop, initial=initial)
        agg = _Partial(chunk.reduce_seq, combine or binop)
        return self.reduction(per, agg, split_every=split_every, out_type=out_type, name="fold",
                              _streaming=True)

    def foldby(self, key, binop, initial=no_default, combine=None, combine_initial=no_default,
               split_every=None):
        """(key, value) pairs: elements grouped by key(x) folded with binop (from initial),
        the per-partition results merged with combine (from combine_initial)."""
        if not callable(key):
            key = operator.itemgetter(key)
        combine = combine or binop
        split_every = _split_every(split_every, self.npartitions)
        token = tokenize(self.name, key, binop, initial, combine, combine_initial, split_every)
        a = f"foldby-a-{token}"
        level = [_task((a, i), chunk.reduceby, key, binop, p, initial)
                 for i, p in enumerate(self._parts)]
        b = f"foldby-b-{token}"
        level = _combine_levels(level, split_every, lambda depth, i, group: _task(
            (b + str(depth), i), chunk.foldby_combine, combine, group, combine_initial))
        merged = _task(f"foldby-merge-{token}", chunk.foldby_combine, combine, level,
                       combine_initial)
        return Bag([_task((b, 0), chunk.dict_items, merged)], b)

    def frequencies(self, split_every=None, sort=False):
        """(element, count) pairs, in first-seen order (by count with sort=True)."""
        if self._kind == TEXT:
            if self._split_of is not None:
                source, sep, maxsplit = self._split_of
                per = lambda part: (K.split_frequencies, part, sep or "", sep is not None,  # noqa: E731
                                    maxsplit)
                return _tree_reduce(source, "frequencies", per,
                                    lambda parts: (K.merge_frequencies, parts, False), COUNTS,
                                    split_every, final=lambda parts: (K.merge_frequencies, parts,
                                                                      bool(sort)),
                                    token=("split", sep, maxsplit, bool(sort)))
            return _tree_reduce(self, "frequencies", lambda part: (K.frequencies, part),
                                lambda parts: (K.merge_frequencies, parts, False), COUNTS,
                                split_every,
                                final=lambda parts: (K.merge_frequencies, parts, bool(sort)),
                                token=("native", bool(sort)))
        counts = self.reduction(chunk.frequencies_part, chunk.merge_frequencies,
                                split_every=split_every, out_type=Bag, name="frequencies",
                                _streaming=True)
        name = _name("frequencies", counts.name, bool(sort))
        return Bag([_task((name, 0), chunk.dict_items, counts._parts[0], bool(sort))], name)

    def topk(self, k, key=None, split_every=None):
        """The k largest elements (by key), in one partition, largest first."""
        if not isinstance(k, int) or isinstance(k, bool) or k < 0:
            raise ValueError(f"topk needs a non-negative int k, got {k!r}")
        if self._kind == COUNTS and (key is None or (type(key) is int and key in (0, 1))):
            mode = -1 if key is None else key
            return _tree_reduce(self, "topk", lambda part: (K.topk_counts, [part], k, mode),
                                lambda parts: (K.topk_counts, parts, k, mode), COUNTS, split_every,
                                token=(k, mode))
        if self._kind == TEXT and key is None:
            return _tree_reduce(self, "topk", lambda part: (K.topk_strings, [part], k),
                                lambda parts: (K.topk_strings, parts, k), TEXT, split_every,
                                token=(k,))
        if key is not None and callable(key) and _takes_multiple_arguments(key):
            key = _Partial(_apply, key)
        return self.reduction(_Partial(chunk.topk_part, k, key=key),
                              _Partial(chunk.topk_merge, k, key=key), split_every=split_every,
                              out_type=Bag, name="topk", _streaming=True)

    def count(self, split_every=None):
        if self._kind in (TEXT, TEXT_LISTS):
            kernel = K.count if self._kind == TEXT else K.count_lists
            name = _name("count", self.name)
            parts = [_task((name, i), kernel, p) for i, p in enumerate(self._parts)]
            return Item(_sum_tree(parts, f"count-aggregate-{name}", split_every), self._native)
        return self.reduction(chunk.count_seq, sum, split_every=split_every, name="count",
                              _streaming=True)

    def sum(self, split_every=None):
        return self.reduction(sum, sum, split_every=split_every, name="sum", _streaming=True)

    def max(self, split_every=None):
        return self.reduction(max, max, split_every=split_every, name="max", _streaming=True)

    def min(self, split_every=None):
        return self.reduction(min, min, split_every=split_every, name="min", _streaming=True)

    def any(self, split_every=None):
        return self.reduction(any, any, split_every=split_every, name="any", _streaming=True)

    def all(self, split_every=None):
        return self.reduction(all, all, split_every=split_every, name="all", _streaming=True)

    def mean(self):
        return self.reduction(chunk.mean_chunk, chunk.mean_aggregate, split_every=False,
                              name="mean", _streaming=True)

    def var(self, ddof=0):
        return self.reduction(chunk.var_chunk, _Partial(chunk.var_aggregate, ddof=ddof),
                              split_every=False, name="var", _streaming=True)

    def std(self, ddof=0):
        return self.var(ddof=ddof).apply(chunk.sqrt)

    # --- regrouping --------------------------------------------------------------------------
    def groupby(self, grouper, method=None, npartitions=None, blocksize=2**20, max_branch=None,
                shuffle=None):
        """(key, [elements]) for each distinct grouper(x): a shuffle across partitions (each
        partition splits into buckets by hash of the key; output partition j gathers bucket j
        of every input)."""
        for m in (method, shuffle):
            if m not in (None, "tasks", "disk"):
                raise ValueError(f"unknown shuffle method {m!r}: expected 'tasks' or 'disk' "
                                 "(both shuffle with tasks here)")
        if not callable(grouper):
            grouper = operator.itemgetter(grouper)
        n = npartitions or self.npartitions
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"npartitions must be a positive int, got {npartitions!r}")
        token = tokenize(self.name, grouper, n)
        split = f"shuffle-split-{token}"
        buckets = [_task((split, i), chunk.shuffle_split, grouper, p, n)
                   for i, p in enumerate(self._parts)]
        pick = f"shuffle-pick-{token}"
        name = f"groupby-{token}"
        parts = []
        for j in range(n):
            picked = [_task((pick, i, j), chunk.getitem, b, j) for i, b in enumerate(buckets)]
            parts.append(_task((name, j), chunk.group_part, grouper, picked))
        return Bag(parts, name)

    # --- output ------------------------------------------------------------------------------
    def take(self, k, npartitions=1, compute=True, warn=True):
        """The first k elements (from the first ``npartitions`` partitions; -1: all), as a
        tuple; warns when there are fewer."""
        if npartitions <= -1:
            npartitions = self.npartitions
        if npartitions > self.npartitions:
            raise ValueError(f"only {self.npartitions} partitions, take received {npartitions}")
        token = tokenize(self.name, k, npartitions)
        name = f"take-{token}"
        if npartitions > 1:
            partial_name = f"take-partial-{token}"
            heads = [_task((partial_name, i), chunk.take_part, k, self._parts[i])
                     for i in range(npartitions)]
        else:
            heads = [self._parts[0]]
        # (safe_take is glue over a few elements: a native bag stays native)
        b = Bag([_task((name, 0), chunk.safe_take, k, heads, warn)], name, native=self._native)
        if compute:
            return tuple(b.compute())
        return b

    def to_textfiles(self, path, name_function=None, compression="infer", encoding=no_default,
                     compute=True, storage_options=None, last_endline=False, **kwargs):
        from tegu.bag.text import system_encoding, to_textfiles

        return to_textfiles(self, path, name_function=name_function, compression=compression,
                            encoding=system_encoding if encoding is no_default else encoding,
                            compute=compute, last_endline=last_endline, **kwargs)

    def join(self, other, on_self, on_other=None):
        """(other_element, element) pairs where on_other(other_element) == on_self(element):
        an inner join of each partition with ``other`` — an iterable, a Delayed value or a
        one-partition Bag — as dask.bag's (keys may be callables or indices)."""
        name = _name("join", self.name, other.name if isinstance(other, Bag) else other,
                     on_self, on_other)
        if isinstance(other, Bag):
            if other.npartitions != 1:
                raise NotImplementedError("Multi-bag joins are not implemented. We recommend "
                                          "Dask dataframe if appropriate")
            other = other._parts[0]
        elif isinstance(other, Item):
            other = other._delayed
        elif not isinstance(other, Delayed):
            if not isinstance(other, Iterable) or isinstance(other, (str, bytes)):
                raise TypeError("Joined argument must be single-partition Bag, delayed object, "
                                f"or Iterable, got {type(other).__name__}")
            other = list(other)
        on_other = on_self if on_other is None else on_other
        return Bag([_task((name, i), chunk.join_part, on_other, other, on_self, p)
                    for i, p in enumerate(self._parts)], name)

    def random_sample(self, prob, random_state=None):
        """Each element kept with probability ``prob``; the same ``random_state`` (an int or a
        random.Random) gives the same sample."""
        import random

        if not 0 <= prob <= 1:
            raise ValueError("prob must be a number in the interval [0, 1]")
        if not isinstance(random_state, random.Random):
            random_state = random.Random(random_state)
        seeds = [random_state.getrandbits(64) for _ in self._base]
        name = _name("random-sample", self.name, prob, seeds)
        return Bag([_task((name, i), chunk.sample_part, p, seed, prob)
                    for i, (p, seed) in enumerate(zip(self._parts, seeds))], name, self._kind
                   if self._kind in (TEXT, OBJECT) else OBJECT)

    def unzip(self, n):
        """n bags, the i-th holding element i of every (tuple) element."""
        return tuple(self.pluck(i) for i in range(n))

    def accumulate(self, binop, initial=no_default):
        """Running reductions (as toolz.accumulate) across the whole bag, in order."""
        name = _name("accumulate", self.name, binop, initial)
        parts = []
        carry = None
        for i, p in enumerate(self._parts):
            task = _task((name, i), chunk.accumulate_part, binop, p, carry, initial, i == 0)
            parts.append(_task((name + "-out", i), chunk.getitem, task, 0))
            carry = _task((name + "-carry", i), chunk.getitem, task, 1)
        return Bag(parts, name + "-out")


class _Partial:
    """functools.partial with a readable name (for keys) that pickles by reference."""

    __slots__ = ("func", "args", "kwargs")

    def __init__(self, func, *args, **kwargs):
        self.func, self.args, self.kwargs = func, args, kwargs

    def __call__(self, *more):
        return self.func(*self.args, *more, **self.kwargs)

    @property
    def __name__(self):
        return _funcname(self.func)

    def __reduce__(self):
        return (_make_partial, (self.func, self.args, self.kwargs))

    def __tegu_tokenize__(self):
        return (self.func, self.args, self.kwargs)


def _make_partial(func, args, kwargs):
    return _Partial(func, *args, **kwargs)


def _apply(func, args):
    return func(*args)


def _takes_multiple_arguments(func):
    import inspect

    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False
    required = [p for p in params.values()
                if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(required) > 1


def _funcname(func):
    from tegu.delayed import funcname

    try:
        return funcname(func)
    except Exception:  # noqa: BLE001
        return "func"


def _tree_reduce(bag, prefix, per, agg, kind, split_every=None, final=None, token=()):
    """One partition: per(part) on each partition, then agg(list) in a tree; ``final`` is
    the last aggregation when it differs. ``per`` and
    ``agg`` return (func, *args) with the partition(s) placed in them; ``token`` holds the
    parameters that make this reduction differ from another over the same bag."""
    split_every = _split_every(split_every, bag.npartitions)
    name = _name(prefix, bag.name, split_every, *token)
    level = [_task((f"{name}-part", i), *per(p)) for i, p in enumerate(bag._parts)]
    level = _combine_levels(level, split_every, lambda depth, i, group: _task(
        (f"{name}-agg{depth}", i), *agg(group)))
    return Bag([_task((name, 0), *(final or agg)(level))], name, kind, native=bag._native)


def _sum_tree(parts, name, split_every=None):
    """Native sum of native ints, in a tree."""
    level = _combine_levels(parts, _split_every(split_every, len(parts)),
                            lambda depth, i, group: _task((f"{name}{depth}", i), _SUM, group))
    return _task(name, _SUM, list(level))


def _split_every(split_every, npartitions):
    """How many partials a tree step combines: 8 by default (as Dask), all with False."""
    if split_every is None:
        return 8
    if split_every is False:
        return max(npartitions, 2)
    if split_every < 2:
        raise ValueError(f"split_every must be at least 2, got {split_every}")
    return split_every


def _combine_levels(level, split_every, combine):
    """Tree steps over `level` until at most split_every tasks remain: each group of
    split_every becomes combine(depth, index, group), a task."""
    depth = 0
    while len(level) > split_every:
        level = [combine(depth, i, level[j:j + split_every])
                 for i, j in enumerate(range(0, len(level), split_every))]
        depth += 1
    return level


# --- element-wise across bags ------------------------------------------------------------------

def _has_lazy_values(obj):
    """Whether task arguments hold Items, Delayed values or Bags (which a lazy stage, being a
    plain Python object inside a task, cannot resolve)."""
    found: list = []
    _collect_deps(obj, found)
    if found:
        return True
    items = obj.values() if isinstance(obj, dict) else obj
    return any(isinstance(x, (Item, Bag, Delayed)) for x in items)


def _split_bag_args(args, kwargs, npartitions):
    bag_args, other_args = [], []
    for a in args:
        if isinstance(a, Bag):
            if a.npartitions != npartitions:
                raise ValueError("maximum one of the bags given to map may have a different "
                                 f"number of partitions: {a.npartitions} != {npartitions}")
            bag_args.append(a)
        else:
            other_args.append(_unwrap(a))
    bag_kwargs = {k: v for k, v in kwargs.items() if isinstance(v, Bag)}
    for v in bag_kwargs.values():
        if v.npartitions != npartitions:
            raise ValueError(f"bags given to map must have the same number of partitions: "
                             f"{v.npartitions} != {npartitions}")
    other_kwargs = {k: _unwrap(v) for k, v in kwargs.items() if not isinstance(v, Bag)}
    return bag_args, other_args, bag_kwargs, other_kwargs


def _map_bags(func, bag, args, kwargs):
    if not callable(func):
        raise TypeError(f"map needs a callable, got {type(func).__name__}")
    bag_args, other_args, bag_kwargs, other_kwargs = _split_bag_args(args, kwargs, bag.npartitions)
    if not bag_args and not bag_kwargs and not _has_lazy_values(other_args) \
            and not _has_lazy_values(other_kwargs):
        return bag._then(_funcname(func), (func, other_args, other_kwargs),
                         chunk.MapStage(func, other_args, other_kwargs))
    name = _name(f"{_funcname(func)}", bag.name, func, [b.name for b in bag_args], other_args,
                 {k: v.name for k, v in bag_kwargs.items()}, other_kwargs)
    parts = []
    for i, p in enumerate(bag._parts):
        bp = [b._parts[i] for b in bag_args]
        bk = {k: v._parts[i] for k, v in bag_kwargs.items()} or None
        parts.append(_task((name, i), chunk.map_part, func, p, tuple(other_args),
                           other_kwargs or None, bp, bk))
    return Bag(parts, name)


def _map_partitions_bags(func, bag, args, kwargs):
    if not callable(func):
        raise TypeError(f"map_partitions needs a callable, got {type(func).__name__}")
    for a in list(args) + list(kwargs.values()):
        if isinstance(a, Bag) and a.npartitions != bag.npartitions:
            raise ValueError(f"bags given to map_partitions must have the same number of "
                             f"partitions: {a.npartitions} != {bag.npartitions}")
    name = _name(_funcname(func), bag.name, func,
                 [a.name if isinstance(a, Bag) else a for a in args],
                 {k: (v.name if isinstance(v, Bag) else v) for k, v in kwargs.items()})
    parts = []
    for i, p in enumerate(bag._parts):
        a = tuple(x._parts[i] if isinstance(x, Bag) else _unwrap(x) for x in args)
        kw = {k: (v._parts[i] if isinstance(v, Bag) else _unwrap(v)) for k, v in kwargs.items()}
        parts.append(_task((name, i), chunk.map_partitions_part, func, p, a, kw or None))
    return Bag(parts, name)
