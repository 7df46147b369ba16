"""Fixtures and checks shared by the tegu.bag tests.

Every test compares what a tegu.bag computation returns with plain Python run over the same data.
The tests use the dask.bag API only (``import tegu.bag as db``), so they also run against real
Dask, as a check of the tests themselves::

    PYTHONPATH=python/tests/bag/dask_shim .bench-venv/bin/python -m pytest python/tests/bag

(``dask_shim/tegu`` maps ``tegu``, ``tegu.bag`` and ``tegu.distributed`` onto ``dask``,
``dask.bag`` and ``distributed``; add ``-m "not stricter_than_dask"`` to leave out the checks
where Tegu is asked for more than Dask does, such as error messages naming the file.)

Schedulers:

* ``scheduler``: "sync", "threads" and an in-process distributed Client (module-scoped), each
  also set as the configured scheduler for the test (``take`` and
  ``repartition(partition_size=)`` compute without a ``scheduler=`` argument);
* ``everywhere``: the compute keyword arguments for each of the five ways to run a graph:
  "sync", "threads", "processes" (a temporary process cluster per compute: slow, so only the
  one pipeline-list test per module uses it), an in-process Client and a processes=True Client.
"""
from __future__ import annotations

import gc
import math
import random
import shutil
import subprocess
import types

import pytest

import tegu
from tegu.distributed import Client


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "stricter_than_dask: Tegu is asked for more than real Dask gives (clear errors, file "
        "names in messages); deselect with -m 'not stricter_than_dask' when checking the tests "
        "against Dask")


# --- clusters -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bag_client():
    """An in-process cluster of 2 single-threaded workers, for the whole test module."""
    with Client(n_workers=2, threads_per_worker=1, processes=False, set_as_default=False) as c:
        yield c
    gc.collect()


@pytest.fixture(scope="module")
def bag_process_client():
    """A cluster of 2 worker processes, for the whole test module."""
    with Client(n_workers=2, threads_per_worker=1, processes=True, set_as_default=False) as c:
        yield c
    gc.collect()


@pytest.fixture(params=["sync", "threads", "distributed"])
def scheduler(request):
    """The ``scheduler=`` value of each quick scheduler in turn (a Client for "distributed"),
    also set in the configuration for the duration of the test."""
    value = request.getfixturevalue("bag_client") if request.param == "distributed" \
        else request.param
    with tegu.config.set(scheduler=value):
        yield value


EVERYWHERE = ["sync", "threads", "processes", "distributed", "distributed-processes"]


@pytest.fixture(params=EVERYWHERE)
def everywhere(request):
    """Keyword arguments for ``compute`` on each of the five schedulers in turn."""
    if request.param == "processes":
        kwargs = {"scheduler": "processes", "num_workers": 2}
    elif request.param == "distributed":
        kwargs = {"scheduler": request.getfixturevalue("bag_client")}
    elif request.param == "distributed-processes":
        kwargs = {"scheduler": request.getfixturevalue("bag_process_client")}
    else:
        kwargs = {"scheduler": request.param}
    with tegu.config.set(kwargs):
        yield kwargs


# --- comparisons --------------------------------------------------------------------------------


def same(got, expected) -> bool:
    """Equal, with the same container types all the way down (a list is not a tuple), and
    floats equal to 1e-9 relative."""
    if isinstance(expected, float) and isinstance(got, float):
        return got == expected or math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-12) \
            or (got != got and expected != expected)
    if type(got) is not type(expected):
        return False
    if isinstance(expected, (list, tuple)):
        return len(got) == len(expected) and all(same(g, e) for g, e in zip(got, expected))
    if isinstance(expected, dict):
        return got.keys() == expected.keys() and all(same(got[k], expected[k]) for k in expected)
    return got == expected


def assert_same(got, expected, what=""):
    assert same(got, expected), f"{what}\n  got:      {got!r}\n  expected: {expected!r}"


def _sort_key(x):
    return repr(x)


def as_groups(result):
    """A groupby result ``[(key, [values...]), ...]`` as ``{key: sorted values}``, checking that
    it is a list of (key, list) tuples with each key once."""
    assert type(result) is list, f"groupby gave a {type(result).__name__}, not a list"
    groups = {}
    for entry in result:
        assert type(entry) is tuple and len(entry) == 2, f"groupby entry {entry!r}"
        key, values = entry
        assert type(values) is list, f"groupby values {values!r} are not a list"
        assert key not in groups, f"groupby gave key {key!r} twice"
        groups[key] = sorted(values, key=_sort_key)
    return groups


def python_groups(data, key):
    """Plain Python: ``{key: sorted values}``."""
    groups = {}
    for x in data:
        groups.setdefault(key(x), []).append(x)
    return {k: sorted(v, key=_sort_key) for k, v in groups.items()}


def matches(how, got, expected) -> bool:
    if how == "exact":
        return same(got, expected)
    if how == "sorted":  # Dask does not define the order: same elements, same types
        return type(got) is type(expected) and same(sorted(got, key=_sort_key),
                                                      sorted(expected, key=_sort_key))
    if how == "groups":  # expected is python_groups(...)
        try:
            return same(as_groups(got), expected)
        except AssertionError:
            return False
    raise ValueError(how)


def run_pipelines(pipelines, **compute_kwargs):
    """Computes every ``(name, bag or item, expected, how)`` in one ``tegu.compute`` call and
    checks each result; reports all the mismatches at once."""
    results = tegu.compute(*[p[1] for p in pipelines], **compute_kwargs)
    assert len(results) == len(pipelines)
    failures = [f"{name}:\n  got:      {got!r}\n  expected: {expected!r}"
                for (name, _, expected, how), got in zip(pipelines, results)
                if not matches(how, got, expected)]
    assert not failures, f"{len(failures)} of {len(pipelines)} pipelines differ:\n" + \
        "\n".join(failures)


# --- text data ----------------------------------------------------------------------------------

# Words with the cases that trip up text kernels: accents (composed and decomposed), Greek
# capital sigma at the end of a word (lower() gives a final ς) and in the middle (σ), German ß
# (upper() gives SS), dotted capital I (lower() gives two code points), titlecase digraphs, CJK,
# full-width Latin, emoji (4-byte UTF-8), and punctuation stuck to words.
VOCABULARY = [
    "the", "The", "THE", "cat", "Cat", "déjà", "DÉJÀ", "vu", "Café", "CAFÉ", "cafe\u0301",
    "naïve", "ΟΔΟΣ", "οδος", "ΣΟΦΟΣ", "Σ", "ΣΑΣ.", "Ελλάδα", "straße", "STRASSE", "İstanbul",
    "ǅemal", "Ǆ", "東京", "大阪", "日本語", "ＡＢＣ", "ａｂｃ", "😀", "dog,", "dog", "end.", "-",
    "x", "y", "über", "ÜBER", "Ωμέγα",
]
# Separators inside a line: Python's str.split() splits on all of them (no-break space,
# ideographic space, thin space, tabs, vertical tab, form feed, runs of spaces).
SEPARATORS = [" ", " ", " ", "  ", "\t", "\u00a0", "\u3000", "\u2009", "\x0b", "\x0c", " \u00a0 "]


def make_corpus(directory, nfiles=4, lines_per_file=120, seed=7):
    """Writes ``part-0.txt`` ... to ``directory`` (UTF-8; ``\\n`` and ``\\r\\n`` line ends, blank
    lines, lines of only whitespace, a file without a final newline, an empty file) and returns
    the paths in glob order."""
    rng = random.Random(seed)
    paths = []
    for i in range(nfiles):
        lines = []
        for j in range(lines_per_file):
            r = rng.random()
            if r < 0.05:
                body = ""
            elif r < 0.08:
                body = rng.choice(SEPARATORS) * 2
            else:
                words = [rng.choice(VOCABULARY) for _ in range(rng.randint(1, 9))]
                seps = [rng.choice(SEPARATORS) for _ in range(len(words) - 1)]
                body = rng.choice(["", " ", "\u3000"]) + \
                    "".join(w + s for w, s in zip(words, seps + [""]))
            lines.append(body + ("\r\n" if (i + j) % 3 == 0 else "\n"))
        if i == nfiles - 1:
            lines[-1] = lines[-1].rstrip("\r\n")  # no final newline
        path = directory / f"part-{i}.txt"
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write("".join(lines))
        paths.append(path)
    empty = directory / f"part-{nfiles}.txt"
    empty.write_bytes(b"")
    paths.append(empty)
    return paths


def python_lines(paths, encoding="utf-8", errors="strict"):
    """Plain Python: the lines of the files as Python's text mode reads them (universal
    newlines: ``\\r\\n`` comes back as ``\\n``), line ends kept, file after file."""
    out = []
    for p in paths:
        with open(p, encoding=encoding, errors=errors) as f:
            out.extend(f)
    return out


@pytest.fixture
def corpus(tmp_path):
    """A directory of generated Unicode text files: ``(glob pattern, paths)``."""
    d = tmp_path / "corpus"
    d.mkdir()
    paths = make_corpus(d)
    return str(d / "part-*.txt"), paths


def write_zstd(path, data: bytes):
    """Writes ``data`` zstd-compressed: with the ``zstandard`` module if importable, else with
    the ``zstd`` command-line tool; skips the calling test when neither is there."""
    try:
        import zstandard
    except ImportError:
        zstandard = None
    if zstandard is not None:
        path.write_bytes(zstandard.ZstdCompressor().compress(data))
        return
    exe = shutil.which("zstd")
    if exe is None:
        pytest.skip("cannot write a .zst test file: neither the 'zstandard' module nor the "
                    "'zstd' command-line tool is installed")
    subprocess.run([exe, "-q", "-f", "-o", str(path)], input=data, check=True)


@pytest.fixture
def check():
    """The comparison helpers and data writers, for the test modules."""
    return types.SimpleNamespace(
        same=same, assert_same=assert_same, as_groups=as_groups, python_groups=python_groups,
        run_pipelines=run_pipelines, make_corpus=make_corpus, python_lines=python_lines,
        write_zstd=write_zstd)
