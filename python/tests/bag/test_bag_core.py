"""tegu.bag: creation, transformations, aggregations, Items, persist and visualize, each compared
with plain Python over the same data.

Most tests run on the `scheduler` fixture (sync, threads, an in-process distributed Client); the
last test runs a representative pipeline list on scheduler="processes" and on a processes=True
Client. Order is compared exactly where Dask defines it (map, filter, flatten, pluck, take,
frequencies: first seen, topk: descending) and as sorted lists elsewhere (distinct, foldby,
groupby groups)."""
import heapq
import itertools
import math
import operator
import statistics
import sys
import warnings
from collections import Counter

import cloudpickle
import pytest

import tegu
import tegu.bag as db
from tegu import delayed

# worker processes cannot import this test module: its functions travel by value
cloudpickle.register_pickle_by_value(sys.modules[__name__])

DATA = list(range(10))
PARTS = [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]  # from_sequence(DATA, partition_size=4)


def bag10():
    return db.from_sequence(DATA, partition_size=4)


def partitions(bag, scheduler):
    """The partitions of a bag, each as a list (a range partition is listed)."""
    return [list(p) for p in tegu.compute(*bag.to_delayed(), scheduler=scheduler)]


def inc(x):
    return x + 1


def add(x, y):
    return x + y


def is_even(x):
    return x % 2 == 0


def mod3(x):
    return x % 3


RECORDS = [{"name": n, "age": a, "city": c}
           for n, a, c in [("ann", 31, "Oslo"), ("bob", 25, "Rome"), ("cid", 31, "Oslo"),
                           ("dan", 47, "Lima"), ("eve", 25, "Oslo"), ("fay", 52, "Rome"),
                           ("gus", 31, "Lima")]]


# --- creation -----------------------------------------------------------------------------------


# (len(seq), npartitions) -> number of partitions Dask gives: sequences of up to 100 items get
# ceil(n / npartitions) items a partition, longer ones floor(n / npartitions), so a bag can end
# with fewer partitions than asked (more partitions than items) or one more (150 / 4).
NPARTITIONS = [(10, 3, 3), (3, 10, 3), (5, 4, 3), (7, 5, 4), (11, 7, 6), (23, 10, 8), (1, 5, 1),
               (100, 7, 7), (150, 4, 5), (101, 10, 11), (250, 7, 8)]


def _python_partitions(n, npartitions):
    size = math.ceil(n / npartitions) if n <= 100 else max(1, n // npartitions)
    return [list(range(i, min(i + size, n))) for i in range(0, n, size)]


@pytest.mark.parametrize("n,npartitions,expected", NPARTITIONS)
def test_from_sequence_npartitions(n, npartitions, expected, scheduler):
    b = db.from_sequence(range(n), npartitions=npartitions)
    assert b.npartitions == expected
    assert b.compute(scheduler=scheduler) == list(range(n))
    assert partitions(b, scheduler) == _python_partitions(n, npartitions)


def test_from_sequence_more_partitions_than_items(scheduler, check):
    b = db.from_sequence(range(3), npartitions=10)
    assert b.npartitions == 3
    check.assert_same(b.compute(scheduler=scheduler), [0, 1, 2])
    check.assert_same(b.map(inc).compute(scheduler=scheduler), [1, 2, 3])
    check.assert_same(b.sum().compute(scheduler=scheduler), 3)
    check.assert_same(b.frequencies().compute(scheduler=scheduler), [(0, 1), (1, 1), (2, 1)])
    check.assert_same(b.topk(2).compute(scheduler=scheduler), [2, 1])
    assert check.as_groups(b.groupby(is_even).compute(scheduler=scheduler)) == \
        check.python_groups(range(3), is_even)


def test_from_sequence_partition_size(scheduler):
    b = db.from_sequence(DATA, partition_size=4)
    assert b.npartitions == 3
    assert partitions(b, scheduler) == PARTS
    b = db.from_sequence(DATA, partition_size=1)
    assert b.npartitions == 10
    assert b.compute(scheduler=scheduler) == DATA
    b = db.from_sequence(DATA, partition_size=100)
    assert b.npartitions == 1
    assert partitions(b, scheduler) == [DATA]


def test_from_sequence_default_partitioning(scheduler):
    # no npartitions: one item a partition up to 100 items, ceil(sqrt(n) / 10) beyond
    b = db.from_sequence(range(5))
    assert b.npartitions == 5
    assert b.compute(scheduler=scheduler) == list(range(5))
    b = db.from_sequence(range(1000))
    assert b.npartitions == 250
    assert b.sum().compute(scheduler=scheduler) == sum(range(1000))


def test_from_sequence_kinds_of_sequence(scheduler, check):
    check.assert_same(db.from_sequence("abc").compute(scheduler=scheduler), ["a", "b", "c"])
    check.assert_same(db.from_sequence((1, 2), npartitions=2).compute(scheduler=scheduler), [1, 2])
    check.assert_same(db.from_sequence(x * x for x in range(4)).compute(scheduler=scheduler),
                      [0, 1, 4, 9])
    check.assert_same(db.from_sequence(RECORDS, npartitions=3).compute(scheduler=scheduler),
                      RECORDS)
    pairs = [(1, "a"), (2, "b")]
    check.assert_same(db.from_sequence(pairs).compute(scheduler=scheduler), pairs)


def test_empty_bag(scheduler, check):
    b = db.from_sequence([])
    assert b.npartitions == 1
    out = tegu.compute(b, b.count(), b.sum(), b.map(inc), b.filter(is_even), b.frequencies(),
                       b.topk(3), b.distinct(), b.any(), b.all(), b.flatten(),
                       scheduler=scheduler)
    check.assert_same(list(out), [[], 0, 0, [], [], [], [], [], False, True, []])
    assert b.groupby(is_even).compute(scheduler=scheduler) == []
    assert b.foldby(is_even, add).compute(scheduler=scheduler) == []


def _bag_with_empty_partitions():
    """Partitions [0, 1, 2], [], [3, 4], [], [] built with from_delayed."""
    parts = [[0, 1, 2], [], [3, 4], [], []]
    return db.from_delayed([delayed(list)(p) for p in parts]), [x for p in parts for x in p]


def test_empty_partitions(scheduler, check):
    b, data = _bag_with_empty_partitions()
    assert b.npartitions == 5
    check.run_pipelines([
        ("compute", b, data, "exact"),
        ("map", b.map(inc), [inc(x) for x in data], "exact"),
        ("filter", b.filter(is_even), [x for x in data if is_even(x)], "exact"),
        ("count", b.count(), len(data), "exact"),
        ("sum", b.sum(), sum(data), "exact"),
        ("min", b.min(), min(data), "exact"),
        ("max", b.max(), max(data), "exact"),
        ("mean", b.mean(), sum(data) / len(data), "exact"),
        ("var", b.var(), statistics.pvariance(data) * 1.0, "exact"),
        ("std", b.std(ddof=1), statistics.stdev(data), "exact"),
        ("frequencies", b.frequencies(), list(Counter(data).items()), "exact"),
        ("topk", b.topk(2), [4, 3], "exact"),
        ("distinct", b.distinct(), data, "sorted"),
        ("foldby", b.foldby(is_even, add), [(True, 6), (False, 4)], "sorted"),
        ("groupby", b.groupby(is_even), {True: [0, 2, 4], False: [1, 3]}, "groups"),
        ("fold", b.fold(add), sum(data), "exact"),
        ("any", b.any(), any(data), "exact"),
        ("all", b.all(), all(data), "exact"),
        ("map_partitions", b.map_partitions(lambda p: [len(list(p))]), [3, 0, 2, 0, 0], "exact"),
        ("repartition", b.repartition(2), data, "exact"),
        ("take", b.take(4, npartitions=-1, compute=False), data[:4], "exact"),
    ], scheduler=scheduler)
    assert b.repartition(2).npartitions == 2


def test_from_delayed(scheduler, check):
    parts = [delayed(lambda i: list(range(3 * i, 3 * i + 3)))(i) for i in range(3)]
    b = db.from_delayed(parts)
    assert b.npartitions == 3
    check.assert_same(b.compute(scheduler=scheduler), list(range(9)))
    check.assert_same(b.map(inc).sum().compute(scheduler=scheduler), sum(range(1, 10)))
    assert partitions(b, scheduler) == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    # a single Delayed value is a one-partition bag
    one = db.from_delayed(delayed(list)("xyz"))
    assert one.npartitions == 1
    check.assert_same(one.compute(scheduler=scheduler), ["x", "y", "z"])
    # partitions may be tuples: the bag's elements are what they hold
    mixed = db.from_delayed([delayed(tuple)([1, 2]), delayed(list)([3])])
    check.assert_same(mixed.compute(scheduler=scheduler), [1, 2, 3])


def test_range(scheduler, check):
    b = db.range(10, npartitions=3)
    assert b.npartitions == 3
    check.assert_same(b.compute(scheduler=scheduler), list(range(10)))
    assert partitions(b, scheduler) == [[0, 1, 2], [3, 4, 5], [6, 7, 8, 9]]
    b = db.range(12, npartitions=4)
    assert partitions(b, scheduler) == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11]]
    check.assert_same(db.range(100, npartitions=7).map(inc).sum().compute(scheduler=scheduler),
                      sum(range(1, 101)))


@pytest.mark.stricter_than_dask
def test_range_more_partitions_than_items(scheduler):
    # Dask fails here (range() arg 3 must not be zero); the items must come back
    b = db.range(3, npartitions=10)
    assert b.compute(scheduler=scheduler) == [0, 1, 2]
    assert 1 <= b.npartitions <= 10


def test_concat(scheduler, check):
    a = bag10()
    b = db.from_sequence("xy", npartitions=1)
    c = db.concat([a, b, db.from_sequence([], npartitions=1)])
    assert c.npartitions == a.npartitions + 2
    check.assert_same(c.compute(scheduler=scheduler), DATA + ["x", "y"])
    check.assert_same(db.concat([a]).compute(scheduler=scheduler), DATA)


# --- element-wise transformations ---------------------------------------------------------------


def test_map(scheduler, check):
    b = bag10()
    other = db.from_sequence(range(100, 110), partition_size=4)
    total = b.sum()
    check.run_pipelines([
        ("map", b.map(inc), [inc(x) for x in DATA], "exact"),
        ("lambda", b.map(lambda x: x * x), [x * x for x in DATA], "exact"),
        ("extra positional", b.map(add, 10), [x + 10 for x in DATA], "exact"),
        ("keyword", b.map(lambda x, y=0, z=0: x + y - z, y=5, z=1), [x + 4 for x in DATA],
         "exact"),
        ("bag argument", b.map(add, other), [x + y for x, y in zip(DATA, range(100, 110))],
         "exact"),
        ("bag keyword", b.map(lambda x, y: x * y, y=other),
         [x * y for x, y in zip(DATA, range(100, 110))], "exact"),
        ("item argument", b.map(lambda x, t: x * t, total), [x * sum(DATA) for x in DATA],
         "exact"),
        ("item keyword", b.map(lambda x, t=0: x - t, t=total), [x - 45 for x in DATA], "exact"),
        ("delayed argument", b.map(add, delayed(inc)(99)), [x + 100 for x in DATA], "exact"),
        ("db.map", db.map(add, b, other), [x + y for x, y in zip(DATA, range(100, 110))],
         "exact"),
        ("db.map scalar", db.map(operator.mul, b, 3), [3 * x for x in DATA], "exact"),
        ("to tuples", b.map(lambda x: (x, str(x))), [(x, str(x)) for x in DATA], "exact"),
        ("to None", b.map(lambda x: None), [None] * 10, "exact"),
        ("chained", b.map(inc).map(str).map(len), [len(str(x + 1)) for x in DATA], "exact"),
    ], scheduler=scheduler)


def test_starmap(scheduler, check):
    pairs = [(1, 2), (3, 4), (5, 6), (7, 8)]
    b = db.from_sequence(pairs, npartitions=2)
    check.run_pipelines([
        ("starmap", b.starmap(operator.mul), [a * c for a, c in pairs], "exact"),
        ("keyword", b.starmap(lambda a, c, k: a * c + k, k=100), [a * c + 100 for a, c in pairs],
         "exact"),
        ("item keyword", b.starmap(lambda a, c, k: a + c + k, k=b.count()),
         [a + c + 4 for a, c in pairs], "exact"),
    ], scheduler=scheduler)


def test_filter_remove(scheduler, check):
    b = bag10()
    check.run_pipelines([
        ("filter", b.filter(is_even), [x for x in DATA if is_even(x)], "exact"),
        ("remove", b.remove(is_even), [x for x in DATA if not is_even(x)], "exact"),
        ("filter none", b.filter(lambda x: x > 100), [], "exact"),
        ("filter all", b.filter(lambda x: True), DATA, "exact"),
        ("filter truthiness", db.from_sequence([0, 1, "", "a", None, [], [0]], npartitions=3)
         .filter(bool), [1, "a", [0]], "exact"),
        ("filter then count", b.filter(lambda x: x > 6).count(), 3, "exact"),
    ], scheduler=scheduler)


def test_flatten(scheduler, check):
    nested = [[1, 2], [], [3], [4, 5, 6], []]
    check.run_pipelines([
        ("lists", db.from_sequence(nested, npartitions=2).flatten(), [1, 2, 3, 4, 5, 6],
         "exact"),
        ("strings", db.from_sequence(["ab", "", "cd"], npartitions=2).flatten(),
         ["a", "b", "c", "d"], "exact"),
        ("tuples", db.from_sequence([(1, 2), (3,)]).flatten(), [1, 2, 3], "exact"),
        ("map then flatten", bag10().map(lambda x: [x] * (x % 3)).flatten(),
         [y for x in DATA for y in [x] * (x % 3)], "exact"),
        ("twice", db.from_sequence([[[1], [2, 3]], [[4]]]).flatten().flatten(), [1, 2, 3, 4],
         "exact"),
    ], scheduler=scheduler)


def test_map_partitions(scheduler, check):
    b = bag10()
    other = db.from_sequence(range(100, 110), partition_size=4)
    psums = [sum(p) for p in PARTS]
    check.run_pipelines([
        ("sums", b.map_partitions(lambda p: [sum(p)]), psums, "exact"),
        ("generator", b.map_partitions(lambda p: (x * 2 for x in p)), [x * 2 for x in DATA],
         "exact"),
        ("extra argument", b.map_partitions(lambda p, k: [len(p) + k], 100),
         [len(p) + 100 for p in PARTS], "exact"),
        ("keyword", b.map_partitions(lambda p, k=0: [max(p) + k], k=1000),
         [max(p) + 1000 for p in PARTS], "exact"),
        ("bag argument", b.map_partitions(lambda p, q: [sum(p) + sum(q)], other),
         [sum(p) + sum(x + 100 for x in p) for p in PARTS], "exact"),
        ("item argument", b.map_partitions(lambda p, t: [sum(p) * t], b.count()),
         [s * 10 for s in psums], "exact"),
        ("db.map_partitions", db.map_partitions(lambda p, q: [len(p), len(q)], b, other),
         [n for p in PARTS for n in (len(p), len(p))], "exact"),
        ("empty result", b.map_partitions(lambda p: []), [], "exact"),
    ], scheduler=scheduler)


def test_pluck(scheduler, check):
    recs = db.from_sequence(RECORDS, npartitions=3)
    rows = db.from_sequence([[1, 2, 3], [4, 5, 6], [7, 8, 9]], npartitions=2)
    sparse = db.from_sequence([{"a": 1, "b": 2}, {"a": 3}, {"b": 4}], npartitions=2)
    check.run_pipelines([
        ("one key", recs.pluck("name"), [r["name"] for r in RECORDS], "exact"),
        ("list of keys", recs.pluck(["name", "age"]), [(r["name"], r["age"]) for r in RECORDS],
         "exact"),
        ("index", rows.pluck(0), [1, 4, 7], "exact"),
        ("indices", rows.pluck([2, 0]), [(3, 1), (6, 4), (9, 7)], "exact"),
        ("default", sparse.pluck("a", default=None), [1, 3, None], "exact"),
        ("keys with default", sparse.pluck(["a", "b"], default=-1), [(1, 2), (3, -1), (-1, 4)],
         "exact"),
    ], scheduler=scheduler)


def test_distinct(scheduler, check):
    data = [3, 1, 3, 2, 1, 5, 2, 0, 5, 5]
    words = ["a", "B", "A", "b", "c", "C", "d"]
    b = db.from_sequence(data, npartitions=3)
    w = db.from_sequence(words, npartitions=3)
    check.run_pipelines([
        ("distinct", b.distinct(), list(set(data)), "sorted"),
        ("count", b.distinct().count(), len(set(data)), "exact"),
        ("strings", w.distinct(), words, "sorted"),
    ], scheduler=scheduler)
    # distinct(key=): one element for each key, each one of the input
    got = w.distinct(key=str.lower).compute(scheduler=scheduler)
    assert type(got) is list
    assert sorted(x.lower() for x in got) == sorted({x.lower() for x in words})
    assert all(x in words for x in got)
    got = db.from_sequence(RECORDS, npartitions=3).distinct(key=lambda r: r["city"]) \
        .compute(scheduler=scheduler)
    assert sorted(r["city"] for r in got) == sorted({r["city"] for r in RECORDS})
    assert all(r in RECORDS for r in got)


def test_repartition(scheduler, check):
    b = bag10()
    for n in [1, 2, 3, 5, 10, 20]:
        r = b.repartition(n)
        assert r.npartitions == n, n
        check.assert_same(r.compute(scheduler=scheduler), DATA, f"repartition({n})")
        parts = partitions(r, scheduler)
        assert [x for p in parts for x in p] == DATA, parts
    check.assert_same(b.repartition(npartitions=2).map(inc).sum().compute(scheduler=scheduler),
                      sum(DATA) + 10)


def test_repartition_partition_size(scheduler, check):
    b = db.from_sequence(DATA, npartitions=5)
    big = b.repartition(partition_size="1MB")
    assert big.npartitions == 1
    check.assert_same(big.compute(scheduler=scheduler), DATA)
    small = b.repartition(partition_size=100)  # bytes: more partitions than 1
    assert small.npartitions > 1
    check.assert_same(small.compute(scheduler=scheduler), DATA)


def test_product(scheduler, check):
    a = db.from_sequence(range(4), npartitions=2)
    c = db.from_sequence("abc", npartitions=2)
    p = a.product(c)
    assert p.npartitions == a.npartitions * c.npartitions
    check.run_pipelines([
        ("product", p, list(itertools.product(range(4), "abc")), "sorted"),
        ("count", p.count(), 12, "exact"),
        ("with itself", a.product(a).map(lambda t: t[0] * t[1]).sum(),
         sum(x * y for x in range(4) for y in range(4)), "exact"),
    ], scheduler=scheduler)


def test_zip(scheduler, check):
    a = bag10()
    b = bag10().map(str)
    c = bag10().map(lambda x: -x)
    z = db.zip(a, b, c)
    assert z.npartitions == a.npartitions
    check.run_pipelines([
        ("zip 2", db.zip(a, b), [(x, str(x)) for x in DATA], "exact"),
        ("zip 3", z, [(x, str(x), -x) for x in DATA], "exact"),
        ("starmap after zip", db.zip(a, c).starmap(operator.add), [0] * 10, "exact"),
    ], scheduler=scheduler)


# --- grouping and folding -----------------------------------------------------------------------


def test_groupby(scheduler, check):
    data = list(range(50))
    b = db.from_sequence(data, npartitions=7)
    for key in [mod3, is_even, lambda x: x // 10, lambda x: 0]:
        got = b.groupby(key).compute(scheduler=scheduler)
        assert check.as_groups(got) == check.python_groups(data, key)


def test_groupby_tasks_shuffle(scheduler, check):
    # a shuffle across several partitions into a chosen number of output partitions
    data = [(w, i) for i, w in enumerate("the quick brown fox jumps over the lazy dog the end"
                                         .split())]
    b = db.from_sequence(data, npartitions=4)
    g = b.groupby(lambda t: t[0], shuffle="tasks", npartitions=2)
    got = g.compute(scheduler=scheduler)
    assert check.as_groups(got) == check.python_groups(data, lambda t: t[0])
    words = db.from_sequence([f"w{i % 13}" for i in range(200)], npartitions=9)
    got = words.groupby(lambda s: s, shuffle="tasks").compute(scheduler=scheduler)
    assert check.as_groups(got) == check.python_groups([f"w{i % 13}" for i in range(200)],
                                                       lambda s: s)
    # then an aggregation of each group
    counts = words.groupby(len, shuffle="tasks").map(lambda kv: (kv[0], len(kv[1])))
    check.assert_same(sorted(counts.compute(scheduler=scheduler)),
                      sorted(Counter(len(f"w{i % 13}") for i in range(200)).items()))


def _python_foldby(parts, key, binop, initial=None, combine=None, combine_initial=None):
    """Dask's foldby in plain Python: binop folds each partition per key (from initial when
    given), combine (binop when not given) merges the partitions' values (from combine_initial
    when given)."""
    combine = combine or binop
    per_part = []
    for p in parts:
        acc = {}
        for x in p:
            k = key(x)
            if k in acc:
                acc[k] = binop(acc[k], x)
            else:
                acc[k] = binop(initial, x) if initial is not None else x
        per_part.append(acc)
    out = {}
    for acc in per_part:
        for k, v in acc.items():
            if k in out:
                out[k] = combine(out[k], v)
            else:
                out[k] = combine(combine_initial, v) if combine_initial is not None else v
    return sorted(out.items())


def test_foldby(scheduler, check):
    b = bag10()
    pairs = db.from_sequence([(x % 2, x) for x in DATA], partition_size=4)
    check.run_pipelines([
        ("no initial", b.foldby(mod3, add), _python_foldby(PARTS, mod3, add), "sorted"),
        ("max", b.foldby(is_even, max), [(True, 8), (False, 9)], "sorted"),
        ("initial", b.foldby(mod3, add, 100), _python_foldby(PARTS, mod3, add, 100), "sorted"),
        ("combine", b.foldby(mod3, lambda acc, x: acc + [x], [], add),
         _python_foldby(PARTS, mod3, lambda acc, x: acc + [x], [], add), "sorted"),
        ("combine_initial", b.foldby(mod3, add, 0, add, 1000),
         _python_foldby(PARTS, mod3, add, 0, add, 1000), "sorted"),
        ("key by index", pairs.foldby(0, lambda acc, t: acc + t[1], 0, add),
         [(0, 20), (1, 25)], "sorted"),
        ("count per key", b.foldby(is_even, lambda acc, x: acc + 1, 0, add),
         [(True, 5), (False, 5)], "sorted"),
    ], scheduler=scheduler)
    # the lists of the "combine" case hold each group's elements in order
    got = dict(b.foldby(mod3, lambda acc, x: acc + [x], [], add).compute(scheduler=scheduler))
    assert got == {k: [x for x in DATA if mod3(x) == k] for k in range(3)}


def test_fold_and_reduction(scheduler, check):
    b = bag10()
    check.run_pipelines([
        ("fold", b.fold(add), sum(DATA), "exact"),
        # initial starts each partition's fold; the partitions' results combine without it
        ("fold initial", b.fold(add, initial=10), sum(DATA) + 10 * len(PARTS), "exact"),
        ("fold combine", b.fold(lambda acc, x: acc + [x], add, initial=[]), DATA, "exact"),
        ("fold max", b.fold(max), max(DATA), "exact"),
        ("fold split_every", db.from_sequence(range(100), npartitions=20).fold(add, split_every=3),
         sum(range(100)), "exact"),
        ("reduction sum", b.reduction(sum, sum), sum(DATA), "exact"),
        ("reduction count", b.reduction(len, sum), len(DATA), "exact"),
        ("reduction max", b.reduction(max, max, split_every=2), max(DATA), "exact"),
        ("reduction to bag", b.reduction(lambda p: [max(p)], lambda ps: [m for p in ps for m in p],
                                         out_type=db.Bag), [max(p) for p in PARTS], "exact"),
        ("reduction to list", b.reduction(lambda p: sorted(p)[-2:], lambda ps: sorted(
            x for p in ps for x in p)), sorted(x for p in PARTS for x in sorted(p)[-2:]),
         "exact"),
    ], scheduler=scheduler)
    assert isinstance(b.reduction(sum, sum), db.Item)
    assert isinstance(b.reduction(lambda p: [max(p)], lambda ps: ps, out_type=db.Bag), db.Bag)


def test_frequencies(scheduler, check):
    words = "b a c a b a d e c a f".split()
    w = db.from_sequence(words, npartitions=4)
    first_seen = list(Counter(words).items())
    check.run_pipelines([
        ("first-seen order", w.frequencies(), first_seen, "exact"),
        ("sort=True", w.frequencies(sort=True),
         sorted(first_seen, key=lambda kv: kv[1], reverse=True), "exact"),
        ("split_every", w.frequencies(split_every=2), first_seen, "exact"),
        ("numbers", bag10().map(mod3).frequencies(), list(Counter(map(mod3, DATA)).items()),
         "exact"),
        ("tuples", db.from_sequence([(1, 2), (1, 2), (3, 4)], npartitions=2).frequencies(),
         [((1, 2), 2), ((3, 4), 1)], "exact"),
    ], scheduler=scheduler)
    assert w.frequencies().npartitions == 1


def test_topk(scheduler, check):
    data = [5, 1, 9, 3, 7, 2, 8, 0, 6, 4, 11, -3]
    b = db.from_sequence(data, npartitions=4)
    pairs = [("a", 3), ("b", 1), ("c", 5), ("d", 2), ("e", 4)]
    p = db.from_sequence(pairs, npartitions=2)
    check.run_pipelines([
        ("topk", b.topk(3), heapq.nlargest(3, data), "exact"),
        ("key", b.topk(3, key=lambda x: -x), heapq.nsmallest(3, data), "exact"),
        ("k=1", b.topk(1), [max(data)], "exact"),
        ("k > len", b.topk(100), sorted(data, reverse=True), "exact"),
        ("index key", p.topk(2, key=1), [("c", 5), ("e", 4)], "exact"),
        ("two-argument key", p.topk(2, key=lambda name, n: -n), [("b", 1), ("d", 2)], "exact"),
        ("ties keep first seen", db.from_sequence([("x", 1), ("y", 2), ("z", 2), ("w", 1)],
                                                  npartitions=2).topk(3, key=1),
         heapq.nlargest(3, [("x", 1), ("y", 2), ("z", 2), ("w", 1)], key=operator.itemgetter(1)),
         "exact"),
        ("strings", db.from_sequence(list("hello world"), npartitions=3).topk(2), ["w", "r"],
         "exact"),
        ("k=0", b.topk(0), [], "exact"),
    ], scheduler=scheduler)
    assert b.topk(3).npartitions == 1


def test_aggregations(scheduler, check):
    data = [4, 8, 15, 16, 23, 42, 7, 1, 0, 9, 3]
    b = db.from_sequence(data, npartitions=4)
    n = len(data)
    mean = sum(data) / n
    ss = sum((x - mean) ** 2 for x in data)
    floats = [1.5, 2.25, -0.5, 10.0]
    check.run_pipelines([
        ("count", b.count(), n, "exact"),
        ("sum", b.sum(), sum(data), "exact"),
        ("mean", b.mean(), mean, "exact"),
        ("min", b.min(), min(data), "exact"),
        ("max", b.max(), max(data), "exact"),
        ("var", b.var(), ss / n, "exact"),
        ("var ddof=1", b.var(ddof=1), ss / (n - 1), "exact"),
        ("var ddof=2", b.var(ddof=2), ss / (n - 2), "exact"),
        ("std", b.std(), math.sqrt(ss / n), "exact"),
        ("std ddof=1", b.std(ddof=1), statistics.stdev(data), "exact"),
        ("any", b.any(), True, "exact"),
        ("all", b.all(), False, "exact"),
        ("all true", b.map(inc).all(), True, "exact"),
        ("any false", db.from_sequence([0, 0, "", None], npartitions=2).any(), False, "exact"),
        ("float sum", db.from_sequence(floats, npartitions=2).sum(), sum(floats), "exact"),
        ("float mean", db.from_sequence(floats, npartitions=3).mean(), sum(floats) / 4, "exact"),
        ("mixed max", db.from_sequence([3.5, 1, 2], npartitions=2).max(), 3.5, "exact"),
        ("string min", db.from_sequence(["pear", "apple", "fig"], npartitions=2).min(), "apple",
         "exact"),
        ("count of None", db.from_sequence([None, None, 1]).count(), 3, "exact"),
        ("sum split_every", db.from_sequence(range(100), npartitions=20).sum(split_every=3),
         4950, "exact"),
    ], scheduler=scheduler)


# --- take, Items, compute, persist, to_delayed, visualize ---------------------------------------


def test_take(scheduler, check):
    b = bag10()  # partitions of 4, 4, 2
    check.assert_same(b.take(3), (0, 1, 2))
    check.assert_same(b.take(0), ())
    check.assert_same(b.take(6, npartitions=2), (0, 1, 2, 3, 4, 5))
    check.assert_same(b.take(10, npartitions=-1), tuple(DATA))
    check.assert_same(b.map(inc).filter(is_even).take(2), (2, 4))
    lazy = b.take(3, compute=False)
    assert isinstance(lazy, db.Bag)
    check.assert_same(lazy.compute(scheduler=scheduler), [0, 1, 2])


def test_take_warns_when_fewer_elements(scheduler, check):
    b = bag10()
    with pytest.warns(UserWarning, match="Insufficient elements"):
        got = b.take(6)  # only the first partition's 4
    check.assert_same(got, (0, 1, 2, 3))
    with pytest.warns(UserWarning, match="Insufficient elements"):
        got = b.take(20, npartitions=-1)
    check.assert_same(got, tuple(DATA))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check.assert_same(b.take(6, warn=False), (0, 1, 2, 3))
        check.assert_same(b.take(4), (0, 1, 2, 3))


def test_items(scheduler, check):
    b = bag10()
    s = b.sum()
    assert isinstance(s, db.Item)
    assert isinstance(b.count(), db.Item)
    check.assert_same(s.compute(scheduler=scheduler), 45)
    doubled = s.apply(lambda v: v * 2)
    assert isinstance(doubled, db.Item)
    check.assert_same(doubled.compute(scheduler=scheduler), 90)
    check.assert_same(s.apply(str).compute(scheduler=scheduler), "45")
    d = s.to_delayed()
    check.assert_same(d.compute(scheduler=scheduler), 45)
    check.assert_same(delayed(inc)(d).compute(scheduler=scheduler), 46)
    # Items as arguments of other bags
    check.assert_same(b.map(lambda x, m: x / m, b.max()).compute(scheduler=scheduler),
                      [x / 9 for x in DATA])


def test_compute_several(scheduler, check):
    b1 = bag10()
    b2 = b1.map(str)
    out = tegu.compute(b1, b2, b1.sum(), b1.count(), scheduler=scheduler)
    assert type(out) is tuple
    check.assert_same(list(out), [DATA, [str(x) for x in DATA], 45, 10])
    out = tegu.compute(b1.filter(is_even), b1.remove(is_even), scheduler=scheduler)
    check.assert_same(out, ([0, 2, 4, 6, 8], [1, 3, 5, 7, 9]))
    # containers of collections, and values that are not collections
    (d,) = tegu.compute({"a": b1.max(), "b": [b1.min(), 7]}, scheduler=scheduler)
    assert d == {"a": 9, "b": [0, 7]}


def test_bag_compute_returns_list(scheduler, check):
    check.assert_same(db.from_sequence([1]).compute(scheduler=scheduler), [1])
    check.assert_same(db.range(4, npartitions=1).compute(scheduler=scheduler), [0, 1, 2, 3])
    check.assert_same(db.from_sequence([(1, 2)]).compute(scheduler=scheduler), [(1, 2)])
    check.assert_same(list(bag10()), DATA)  # iterating computes


def test_to_delayed(scheduler, check):
    b = bag10().map(inc)
    ds = b.to_delayed()
    assert type(ds) is list and len(ds) == b.npartitions
    assert all(isinstance(d, tegu.Delayed) for d in ds)
    parts = tegu.compute(*ds, scheduler=scheduler)
    check.assert_same(list(parts), [[inc(x) for x in p] for p in PARTS])
    check.assert_same(delayed(sum)(ds[0]).compute(scheduler=scheduler), sum(map(inc, PARTS[0])))
    # back into a bag
    check.assert_same(db.from_delayed(ds).compute(scheduler=scheduler), [inc(x) for x in DATA])
    ds = b.to_delayed(optimize_graph=False)
    check.assert_same(ds[2].compute(scheduler=scheduler), [9, 10])


def test_persist(scheduler, check):
    calls = []
    b = bag10().map(lambda x: calls.append(x) or x * 3)
    p = b.persist(scheduler=scheduler)
    assert isinstance(p, db.Bag)
    assert p.npartitions == b.npartitions
    check.assert_same(p.compute(scheduler=scheduler), [x * 3 for x in DATA])
    check.assert_same(p.sum().compute(scheduler=scheduler), 3 * sum(DATA))
    check.assert_same(p.map(inc).compute(scheduler=scheduler), [x * 3 + 1 for x in DATA])
    if scheduler in ("sync", "threads"):
        # the function ran once for each element, at persist time only
        assert sorted(calls) == DATA
    (q,) = tegu.persist(bag10().filter(is_even), scheduler=scheduler)
    check.assert_same(q.compute(scheduler=scheduler), [0, 2, 4, 6, 8])


def test_npartitions():
    b = bag10()
    assert b.npartitions == 3
    assert b.map(inc).npartitions == 3
    assert b.filter(is_even).npartitions == 3
    assert b.map_partitions(list).npartitions == 3
    assert b.frequencies().npartitions == 1
    assert b.distinct().npartitions == 1
    assert b.repartition(1).npartitions == 1


def test_visualize_to_file(tmp_path):
    b = bag10().map(inc).filter(is_even)
    path = tmp_path / "bag.svg"
    b.visualize(filename=str(path))
    assert "<svg" in path.read_text()
    path = tmp_path / "item.svg"
    b.sum().visualize(filename=str(path))
    assert "<svg" in path.read_text()
    tegu.visualize(b, b.count(), filename=str(tmp_path / "both.svg"))
    assert "<svg" in (tmp_path / "both.svg").read_text()


@pytest.mark.stricter_than_dask
def test_visualize_returns_dot_text():
    # as tegu.visualize of Delayed values: filename=None gives the DOT source (Dask gives an
    # IPython image, or None without IPython)
    b = bag10().map(inc).filter(is_even)
    dot = b.visualize(filename=None)
    assert isinstance(dot, str) and dot.lstrip().startswith("digraph")
    dot = tegu.visualize(b, b.count(), filename=None)
    assert isinstance(dot, str) and dot.lstrip().startswith("digraph")


# --- a representative pipeline list on process schedulers --------------------------------------


def core_pipelines():
    b = bag10()
    words = "b a c a b a d".split()
    w = db.from_sequence(words, npartitions=3)
    empty_parts, data = _bag_with_empty_partitions()
    other = db.from_sequence(range(100, 110), partition_size=4)
    return [
        ("map", b.map(inc), [inc(x) for x in DATA], "exact"),
        ("map bag", b.map(add, other), [x + y for x, y in zip(DATA, range(100, 110))], "exact"),
        ("map item", b.map(lambda x, t: x * t, b.count()), [x * 10 for x in DATA], "exact"),
        ("filter", b.filter(is_even), [x for x in DATA if is_even(x)], "exact"),
        ("flatten", b.map(lambda x: [x] * (x % 3)).flatten(),
         [y for x in DATA for y in [x] * (x % 3)], "exact"),
        ("map_partitions", b.map_partitions(lambda p: [sum(p)]), [sum(p) for p in PARTS],
         "exact"),
        ("pluck", db.from_sequence(RECORDS, npartitions=3).pluck(["name", "age"]),
         [(r["name"], r["age"]) for r in RECORDS], "exact"),
        ("distinct", w.distinct(), list(set(words)), "sorted"),
        ("repartition", b.repartition(5), DATA, "exact"),
        ("product", b.product(w).count(), 70, "exact"),
        ("zip", db.zip(b, b.map(str)), [(x, str(x)) for x in DATA], "exact"),
        ("groupby", b.groupby(mod3), {k: [x for x in DATA if x % 3 == k] for k in range(3)},
         "groups"),
        ("foldby", b.foldby(mod3, add, 0, add), _python_foldby(PARTS, mod3, add, 0, add),
         "sorted"),
        ("fold", b.fold(add, initial=10), sum(DATA) + 30, "exact"),
        ("frequencies", w.frequencies(), list(Counter(words).items()), "exact"),
        ("topk", b.topk(3, key=lambda x: -x), [0, 1, 2], "exact"),
        ("mean", b.mean(), 4.5, "exact"),
        ("std", b.std(), statistics.pstdev(DATA), "exact"),
        ("empty partitions", empty_parts.map(inc).sum(), sum(data) + len(data), "exact"),
        ("take", b.take(5, npartitions=2, compute=False), DATA[:5], "exact"),
    ]


@pytest.mark.parametrize("where", ["processes", "distributed-processes"])
def test_core_pipelines_in_processes(where, request, check):
    if where == "processes":
        check.run_pipelines(core_pipelines(), scheduler="processes", num_workers=2)
    else:
        check.run_pipelines(core_pipelines(),
                            scheduler=request.getfixturevalue("bag_process_client"))


def test_join_random_sample_unzip(scheduler, check):
    people = db.from_sequence(RECORDS, npartitions=3)
    cities = [("Oslo", "NO"), ("Rome", "IT"), ("Paris", "FR"), ("Oslo", "no")]
    by_city = {}
    for c in cities:
        by_city.setdefault(c[0], []).append(c)
    expected = [(c, r) for r in RECORDS for c in by_city.get(r["city"], ())]
    pairs = [(p, p * 10) for p in DATA]
    sample = bag10().random_sample(0.5, random_state=42)
    firsts, seconds = db.from_sequence(pairs, npartitions=3).unzip(2)
    check.run_pipelines([
        ("join iterable", people.join(cities, lambda r: r["city"], 0), expected, "exact"),
        ("join bag", people.join(db.from_sequence(cities, npartitions=1), lambda r: r["city"],
                                 lambda c: c[0]), expected, "exact"),
        ("join delayed", people.join(delayed(cities), lambda r: r["city"], 0), expected,
         "exact"),
        ("sample is a subset", sample.map(lambda x: x in DATA).all(), True, "exact"),
        ("unzip 0", firsts, DATA, "exact"),
        ("unzip 1", seconds, [p * 10 for p in DATA], "exact"),
    ], scheduler=scheduler)
    # the same random_state gives the same sample; prob 0 and 1 give none and all
    a = bag10().random_sample(0.5, random_state=7).compute(scheduler=scheduler)
    assert a == bag10().random_sample(0.5, random_state=7).compute(scheduler=scheduler)
    assert a == [x for x in DATA if x in set(a)]  # order kept
    assert bag10().random_sample(0.0, 1).compute(scheduler=scheduler) == []
    assert bag10().random_sample(1.0, 1).compute(scheduler=scheduler) == DATA
    with pytest.raises(ValueError, match="interval"):
        bag10().random_sample(1.5)
    with pytest.raises(NotImplementedError, match="Multi-bag joins"):
        people.join(bag10(), "city")


@pytest.mark.stricter_than_dask  # Dask's message formatting fails: AttributeError
def test_join_with_a_non_iterable():
    with pytest.raises(TypeError, match="Joined argument"):
        db.from_sequence(RECORDS).join(5, "city")
