"""tegu.bag on every scheduler: one list of pipelines covering every operation, computed together
on "sync", "threads", "processes" (a temporary process cluster), an in-process Client and a
processes=True Client (the `everywhere` fixture), each result compared with plain Python; then
persist, to_textfiles, take, from_delayed of futures, a default Client and the configured
scheduler."""
import gzip
import heapq
import itertools
import math
import operator
import statistics
import sys
from collections import Counter

import cloudpickle
import pytest

import tegu
import tegu.bag as db
from tegu import delayed
from tegu.distributed import Client

# worker processes cannot import this test module: its functions travel by value
cloudpickle.register_pickle_by_value(sys.modules[__name__])

DATA = list(range(23))
PARTS = [DATA[i:i + 5] for i in range(0, 23, 5)]  # from_sequence(DATA, partition_size=5)
WORDS = "the cat and the hat and the bat sat on the mat".split()
RECORDS = [{"name": n, "age": a} for n, a in [("ann", 31), ("bob", 25), ("cid", 31),
                                               ("dan", 47), ("eve", 25)]]


def inc(x):
    return x + 1


def add(x, y):
    return x + y


def mod4(x):
    return x % 4


def all_pipelines(tmp_path, check):
    """Every operation of the bag API, with what plain Python gives for it."""
    b = db.from_sequence(DATA, partition_size=5)
    other = db.from_sequence([x * 10 for x in DATA], partition_size=5)
    w = db.from_sequence(WORDS, npartitions=4)
    recs = db.from_sequence(RECORDS, npartitions=2)
    few = db.from_sequence(range(3), npartitions=10)  # fewer items than partitions asked
    parts_with_empties = [[1, 2], [], [3], [], []]
    emp = db.from_delayed([delayed(list)(p) for p in parts_with_empties])
    emp_data = [1, 2, 3]
    text_path = tmp_path / "text.txt"
    text = "Ünïcode ΟΔΟΣ\u00a0déjà\r\nthe cat\u3000the HAT\n\nΣίσυφος 東京 東京\nend"
    text_path.write_bytes(text.encode())
    text_lines = check.python_lines([text_path])
    text_words = [x for line in text_lines for x in line.lower().split()]
    gz_path = tmp_path / "text.txt.gz"
    gz_path.write_bytes(gzip.compress(text.encode()))
    n = len(DATA)
    mean = sum(DATA) / n
    ss = sum((x - mean) ** 2 for x in DATA)
    total = b.sum()
    return [
        # creation
        ("from_sequence", b, DATA, "exact"),
        ("from_sequence npartitions", db.from_sequence(DATA, npartitions=4), DATA, "exact"),
        ("more partitions than items", few, [0, 1, 2], "exact"),
        ("empty partitions", emp, emp_data, "exact"),
        ("empty bag", db.from_sequence([]), [], "exact"),
        ("from_delayed", db.from_delayed([delayed(list)(p) for p in PARTS]), DATA, "exact"),
        ("range", db.range(20, npartitions=3), list(range(20)), "exact"),
        ("concat", db.concat([b, w]), DATA + WORDS, "exact"),
        ("read_text", db.read_text(str(text_path)), text_lines, "exact"),
        ("read_text blocksize", db.read_text(str(text_path), blocksize=8), text_lines, "exact"),
        ("read_text gzip", db.read_text(str(gz_path)), text_lines, "exact"),
        ("read_text NODELIM", db.read_text(str(text_path), linedelimiter="NODELIM"), [text],
         "exact"),
        # element-wise
        ("map", b.map(inc), [inc(x) for x in DATA], "exact"),
        ("map args", b.map(lambda x, y, z=0: x * y + z, 3, z=1), [x * 3 + 1 for x in DATA],
         "exact"),
        ("map bag", b.map(add, other), [x + 10 * x for x in DATA], "exact"),
        ("map item", b.map(lambda x, t: x - t, total), [x - sum(DATA) for x in DATA], "exact"),
        ("db.map", db.map(operator.mul, b, other), [x * 10 * x for x in DATA], "exact"),
        ("starmap", db.zip(b, other).starmap(operator.sub), [x - 10 * x for x in DATA],
         "exact"),
        ("filter", b.filter(lambda x: x % 3 == 0), [x for x in DATA if x % 3 == 0], "exact"),
        ("remove", b.remove(lambda x: x % 3 == 0), [x for x in DATA if x % 3], "exact"),
        ("flatten", b.map(lambda x: list(range(x % 3))).flatten(),
         [y for x in DATA for y in range(x % 3)], "exact"),
        ("map_partitions", b.map_partitions(lambda p: [sum(p)]), [sum(p) for p in PARTS],
         "exact"),
        ("map_partitions bag", db.map_partitions(lambda p, q: [len(p) + len(q)], b, other),
         [2 * len(p) for p in PARTS], "exact"),
        ("pluck", recs.pluck("name"), [r["name"] for r in RECORDS], "exact"),
        ("pluck keys", recs.pluck(["age", "name"]), [(r["age"], r["name"]) for r in RECORDS],
         "exact"),
        ("pluck default", db.from_sequence([{"a": 1}, {}]).pluck("a", default=0), [1, 0],
         "exact"),
        ("distinct", w.distinct(), list(set(WORDS)), "sorted"),
        ("distinct key", w.distinct(key=len).map(len), list({len(x) for x in WORDS}), "sorted"),
        ("repartition up", b.repartition(9), DATA, "exact"),
        ("repartition down", b.repartition(2), DATA, "exact"),
        ("product", b.product(w).count(), n * len(WORDS), "exact"),
        ("product pairs", few.product(db.from_sequence("ab")),
         list(itertools.product(range(3), "ab")), "sorted"),
        ("zip", db.zip(b, b.map(str)), [(x, str(x)) for x in DATA], "exact"),
        # grouping and folding
        ("groupby", b.groupby(mod4), check.python_groups(DATA, mod4), "groups"),
        ("groupby tasks", w.groupby(len, shuffle="tasks", npartitions=3),
         check.python_groups(WORDS, len), "groups"),
        ("foldby", b.foldby(mod4, add), [(k, sum(x for x in DATA if x % 4 == k))
                                         for k in range(4)], "sorted"),
        ("foldby initial combine", b.foldby(mod4, lambda acc, x: acc + 1, 0, add, 0),
         sorted(Counter(map(mod4, DATA)).items()), "sorted"),
        ("fold", b.fold(add), sum(DATA), "exact"),
        ("fold initial", b.fold(add, initial=1), sum(DATA) + len(PARTS), "exact"),
        ("reduction", b.reduction(max, max), max(DATA), "exact"),
        ("frequencies", w.frequencies(), list(Counter(WORDS).items()), "exact"),
        ("frequencies sort", w.frequencies(sort=True),
         sorted(Counter(WORDS).items(), key=operator.itemgetter(1), reverse=True), "exact"),
        ("topk", b.topk(4), heapq.nlargest(4, DATA), "exact"),
        ("topk key", w.frequencies().topk(2, key=1),
         heapq.nlargest(2, Counter(WORDS).items(), key=operator.itemgetter(1)), "exact"),
        # aggregations
        ("count", b.count(), n, "exact"),
        ("sum", b.sum(), sum(DATA), "exact"),
        ("mean", b.mean(), mean, "exact"),
        ("min", b.min(), 0, "exact"),
        ("max", b.max(), 22, "exact"),
        ("std", b.std(), math.sqrt(ss / n), "exact"),
        ("var ddof", b.var(ddof=1), statistics.variance(DATA) * 1.0, "exact"),
        ("any", b.map(lambda x: x > 21).any(), True, "exact"),
        ("all", b.map(lambda x: x < 22).all(), False, "exact"),
        ("empty partitions sum", emp.sum(), 6, "exact"),
        ("empty partitions max", emp.max(), 3, "exact"),
        ("empty partitions frequencies", emp.frequencies(), [(1, 1), (2, 1), (3, 1)], "exact"),
        ("take", b.take(3, compute=False), [0, 1, 2], "exact"),
        ("take npartitions", b.take(7, npartitions=2, compute=False), DATA[:7], "exact"),
        ("item apply", total.apply(lambda s: s * 2), 2 * sum(DATA), "exact"),
        # text
        ("str lower split", db.read_text(str(text_path)).str.lower().str.split().flatten(),
         text_words, "exact"),
        ("str words topk", db.read_text(str(text_path)).str.lower().str.split().flatten()
         .frequencies().topk(3, key=1),
         heapq.nlargest(3, Counter(text_words).items(), key=operator.itemgetter(1)), "exact"),
        ("str distinct count", db.read_text(str(text_path), blocksize=10).str.lower().str
         .split().flatten().distinct().count(), len(set(text_words)), "exact"),
        ("str strip replace match", w.str.strip().str.replace("a", "4").str.match("*4t"),
         [x.replace("a", "4") for x in WORDS if x.replace("a", "4").endswith("4t")], "exact"),
        ("str upper title", w.str.upper().str.title(), [x.upper().title() for x in WORDS],
         "exact"),
        ("str split sep maxsplit", db.from_sequence(["a,b,c", "d"]).str.split(",", 1),
         [["a", "b,c"], ["d"]], "exact"),
    ]


def test_every_operation_everywhere(everywhere, tmp_path, check):
    check.run_pipelines(all_pipelines(tmp_path, check), **everywhere)


def test_persist_everywhere(everywhere, check):
    b = db.from_sequence(DATA, partition_size=5).map(inc)
    p = b.persist(**everywhere)
    assert isinstance(p, db.Bag) and p.npartitions == b.npartitions
    check.assert_same(p.compute(**everywhere), [inc(x) for x in DATA])
    check.assert_same(p.filter(lambda x: x % 2).sum().compute(**everywhere),
                      sum(inc(x) for x in DATA if inc(x) % 2))
    (q, s) = tegu.persist(b.map(str), b.sum(), **everywhere)
    check.assert_same(q.compute(**everywhere), [str(inc(x)) for x in DATA])
    check.assert_same(s.compute(**everywhere), sum(map(inc, DATA)))


def test_to_textfiles_everywhere(everywhere, tmp_path):
    b = db.from_sequence(["ä", "b", "ç", "d", "é"], npartitions=3)
    names = b.to_textfiles(str(tmp_path / "out-*.txt.gz"), **everywhere)
    assert len(names) == b.npartitions
    got = [gzip.open(n, "rt", encoding="utf-8").read() for n in names]
    assert got == ["ä\nb", "ç\nd", "é"]
    back = db.read_text(str(tmp_path / "out-*.txt.gz")).compute(**everywhere)
    assert [x.rstrip("\n") for x in back] == ["ä", "b", "ç", "d", "é"]


def test_take_and_configured_scheduler(everywhere, check):
    # `everywhere` also sets the scheduler in the configuration: take() computes with it
    b = db.from_sequence(DATA, partition_size=5)
    check.assert_same(b.map(inc).take(3), (1, 2, 3))
    check.assert_same(b.take(7, npartitions=2), tuple(DATA[:7]))
    check.assert_same(b.sum().compute(), sum(DATA))
    check.assert_same(tegu.compute(b.count(), b.max()), (len(DATA), max(DATA)))


def test_repartition_partition_size_everywhere(everywhere, check):
    # repartition(partition_size=) measures the partitions: it computes, with the configured
    # scheduler, when it is called
    b = db.from_sequence(DATA, partition_size=5).map(inc)
    one = b.repartition(partition_size="1MB")
    assert one.npartitions == 1
    check.assert_same(one.compute(**everywhere), [inc(x) for x in DATA])
    more = b.repartition(partition_size=100)
    assert more.npartitions > 1
    check.assert_same(more.compute(**everywhere), [inc(x) for x in DATA])


def test_to_delayed_everywhere(everywhere, check):
    b = db.from_sequence(DATA, partition_size=5).map(inc)
    parts = tegu.compute(*b.to_delayed(), **everywhere)
    check.assert_same(list(parts), [[inc(x) for x in p] for p in PARTS])
    check.assert_same(b.sum().to_delayed().compute(**everywhere), sum(map(inc, DATA)))


def test_compute_several_bags_everywhere(everywhere, check):
    b1 = db.from_sequence(DATA, partition_size=5)
    b2 = db.from_sequence(WORDS, npartitions=3)
    out = tegu.compute(b1, b2, b1.sum(), b2.frequencies(), **everywhere)
    check.assert_same(list(out), [DATA, WORDS, sum(DATA), list(Counter(WORDS).items())])
    # a bag used twice in one compute
    m = b1.map(inc)
    out = tegu.compute(m, m.sum(), m.filter(lambda x: x > 20), **everywhere)
    check.assert_same(list(out), [[inc(x) for x in DATA], sum(map(inc, DATA)), [21, 22, 23]])


# --- distributed specifics ----------------------------------------------------------------------


def test_from_delayed_futures(bag_client, check):
    futures = [bag_client.submit(lambda i: list(range(3 * i, 3 * i + 3)), i) for i in range(4)]
    b = db.from_delayed(futures)
    assert b.npartitions == 4
    check.assert_same(b.compute(scheduler=bag_client), list(range(12)))
    check.assert_same(b.map(inc).sum().compute(scheduler=bag_client), sum(range(1, 13)))
    # and the futures wrapped in delayed
    b = db.from_delayed([delayed(f) for f in futures])
    check.assert_same(b.compute(scheduler=bag_client), list(range(12)))


def test_client_compute_and_persist(bag_client, check):
    b = db.from_sequence(DATA, partition_size=5)
    future = bag_client.compute(b.sum())
    check.assert_same(future.result(), sum(DATA))
    future = bag_client.compute(b.map(inc))
    check.assert_same(future.result(), [inc(x) for x in DATA])
    p = bag_client.persist(b.map(lambda x: x * 3))
    check.assert_same(p.compute(scheduler=bag_client), [3 * x for x in DATA])
    check.assert_same(p.topk(2).compute(scheduler=bag_client), [66, 63])


def test_default_client():
    # a Client set as default is where bags compute when no scheduler is named
    b = db.from_sequence(DATA, partition_size=5)
    with Client(n_workers=1, threads_per_worker=2, processes=False) as c:
        assert b.map(inc).compute() == [inc(x) for x in DATA]
        assert b.frequencies().compute() == [(x, 1) for x in DATA]
        assert tegu.compute(b.sum(), b.count()) == (sum(DATA), len(DATA))
        f = c.compute(b.max())
        assert f.result() == max(DATA)


def _pid(_):
    import os

    return os.getpid()


@pytest.mark.stricter_than_dask  # Tegu's own rule (Dask: processes for every bag)
def test_default_scheduler_follows_what_the_bag_runs(tmp_path):
    import os

    path = tmp_path / "a.txt"
    path.write_text("b a\nc a\n", encoding="utf-8")
    native = db.read_text(str(path)).str.split().flatten().frequencies().topk(2, key=1)
    python = db.read_text(str(path)).map(str.upper)
    # as Dask's bags: processes for Python code; native kernels only: threads
    assert tegu.get_scheduler(collections=[native]) == "threads"
    assert tegu.get_scheduler(collections=[db.read_text(str(path)).str.split().count()]) \
        == "threads"
    assert tegu.get_scheduler(collections=[python]) == "processes"
    assert tegu.get_scheduler(collections=[python.count()]) == "processes"
    assert tegu.get_scheduler(collections=[[native, {"x": python}]]) == "processes"
    assert tegu.get_scheduler(collections=[delayed(inc)(1)]) == "threads"
    assert tegu.get_scheduler("sync", collections=[python]) == "sync"
    with tegu.config.set(scheduler="threads"):
        assert tegu.get_scheduler(collections=[python]) == "threads"
    # and it runs there: the Python step in another process, with the same answer
    assert native.compute() == [("a", 2), ("b", 1)]
    pids = db.from_sequence([1, 2, 3], npartitions=3).map(_pid).compute()
    assert os.getpid() not in pids
    assert python.compute() == ["B A\n", "C A\n"]


@pytest.mark.stricter_than_dask  # tegu.get_scheduler(collections=...) is Tegu's
def test_default_scheduler_with_a_client_is_the_client():
    with Client(n_workers=1, threads_per_worker=1, processes=False):
        b = db.from_sequence([1, 2, 3]).map(inc)
        assert tegu.get_scheduler(collections=[b]) == "distributed"
        assert b.compute() == [2, 3, 4]
