"""tegu.bag errors: missing files, globs matching nothing, undecodable text, exceptions raised by
user functions, wrong arguments; on the sync and threads schedulers, an in-process Client
(`scheduler` fixture), and on worker processes; a Client keeps working after a failed compute.

Tests marked ``stricter_than_dask`` ask for more than Dask gives (Dask's errors there are a
TypeError from arithmetic on None, a ZeroDivisionError, an empty result, or a message without
the file name); the others hold for Dask as they are."""
import gzip
import sys

import cloudpickle
import pytest

import tegu
import tegu.bag as db

# worker processes cannot import this test module: its functions travel by value
cloudpickle.register_pickle_by_value(sys.modules[__name__])


class Boom(Exception):
    pass


def explode_on_5(x):
    if x == 5:
        raise Boom(f"bad element {x}")
    return x


def divide(x):
    return 10 / (x - 3)


# --- files --------------------------------------------------------------------------------------


@pytest.mark.parametrize("blocksize", [None, 100])
def test_missing_file(blocksize, scheduler, tmp_path):
    path = str(tmp_path / "no-such-file.txt")
    with pytest.raises(OSError) as info:
        db.read_text(path, blocksize=blocksize).compute(scheduler=scheduler)
    assert isinstance(info.value, FileNotFoundError)
    assert "no-such-file.txt" in str(info.value)


def test_missing_file_in_a_list(scheduler, tmp_path):
    good = tmp_path / "good.txt"
    good.write_text("a\nb\n")
    missing = str(tmp_path / "missing-one.txt")
    with pytest.raises(FileNotFoundError) as info:
        db.read_text([str(good), missing]).compute(scheduler=scheduler)
    assert "missing-one.txt" in str(info.value)


def test_glob_matching_nothing(scheduler, tmp_path):
    (tmp_path / "other.csv").write_text("x\n")
    pattern = str(tmp_path / "nothing-*.txt")
    with pytest.raises((ValueError, OSError)) as info:
        db.read_text(pattern).compute(scheduler=scheduler)
    assert "nothing-*.txt" in str(info.value)
    with pytest.raises((ValueError, OSError)) as info:
        db.read_text(pattern, blocksize=1000).compute(scheduler=scheduler)
    assert "nothing-*.txt" in str(info.value)


def _bad_utf8_file(tmp_path):
    """A file with one invalid byte (0xff) at byte offset 15001 (past the first blocks)."""
    data = ("é" * 2000 + "\n").encode() + b"a" * 10000 + b"\n" + b"b" * 999 + b"\xff\n" + \
        b"tail\n"
    offset = data.index(b"\xff")
    assert offset == 15001
    path = tmp_path / "latin-junk.txt"
    path.write_bytes(data)
    return path, data, offset


@pytest.mark.parametrize("blocksize", [None, 4096])
def test_invalid_utf8_strict_raises(blocksize, scheduler, tmp_path):
    path, data, _ = _bad_utf8_file(tmp_path)
    with pytest.raises(UnicodeDecodeError):
        db.read_text(str(path), blocksize=blocksize).compute(scheduler=scheduler)
    with pytest.raises(ValueError):
        db.read_text(str(path), blocksize=blocksize, errors="strict").str.lower().frequencies() \
            .compute(scheduler=scheduler)


@pytest.mark.stricter_than_dask
@pytest.mark.parametrize("blocksize", [None, 4096])
def test_invalid_utf8_message_names_file_and_offset(blocksize, scheduler, tmp_path):
    path, _, offset = _bad_utf8_file(tmp_path)
    with pytest.raises(ValueError) as info:
        db.read_text(str(path), blocksize=blocksize).compute(scheduler=scheduler)
    message = str(info.value)
    assert "latin-junk.txt" in message, message
    assert str(offset) in message, message  # the offset in the file, not in a block


def test_invalid_utf8_same_type_everywhere(tmp_path, bag_client):
    path, _, _ = _bad_utf8_file(tmp_path)
    b = db.read_text(str(path))
    types = []
    for scheduler in ["sync", "threads", bag_client]:
        with pytest.raises(ValueError) as info:
            b.compute(scheduler=scheduler)
        types.append(type(info.value))
    assert types[0] is types[1] is types[2], types
    assert issubclass(types[0], UnicodeDecodeError)


@pytest.mark.parametrize("errors", ["replace", "ignore"])
def test_invalid_utf8_replace_ignore(errors, scheduler, tmp_path):
    path, data, _ = _bad_utf8_file(tmp_path)
    import io

    expected = list(io.StringIO(data.decode("utf-8", errors=errors), newline=None))
    for blocksize in [None, 4096]:
        got = db.read_text(str(path), errors=errors, blocksize=blocksize).compute(
            scheduler=scheduler)
        assert got == expected, blocksize


def test_compressed_file_errors(scheduler, tmp_path):
    path = tmp_path / "x.txt.gz"
    path.write_bytes(gzip.compress(b"a\nb\n"))
    with pytest.raises(ValueError):  # Dask: "Cannot do chunked reads on compressed files"
        db.read_text(str(path), blocksize=2).compute(scheduler=scheduler)
    with pytest.raises(ValueError):
        db.read_text(str(path), compression="no-such-compression").compute(scheduler=scheduler)
    # not gzip at all
    fake = tmp_path / "fake.txt.gz"
    fake.write_bytes(b"plain text\n")
    with pytest.raises(OSError):  # gzip.BadGzipFile
        db.read_text(str(fake)).compute(scheduler=scheduler)


# --- user functions that raise ------------------------------------------------------------------


def test_user_function_raises(scheduler, bag_client):
    b = db.from_sequence(range(10), npartitions=3)
    with pytest.raises(Boom, match="bad element 5"):
        b.map(explode_on_5).compute(scheduler=scheduler)
    with pytest.raises(ZeroDivisionError):
        b.map(divide).compute(scheduler=scheduler)
    with pytest.raises(ZeroDivisionError):
        b.map(divide).sum().compute(scheduler=scheduler)
    with pytest.raises(Boom):
        b.filter(lambda x: explode_on_5(x) > 0).count().compute(scheduler=scheduler)
    with pytest.raises(Boom):
        b.map_partitions(lambda p: [explode_on_5(x) for x in p]).compute(scheduler=scheduler)
    with pytest.raises(Boom):
        b.groupby(explode_on_5).compute(scheduler=scheduler)
    with pytest.raises(Boom):
        b.foldby(explode_on_5, lambda a, x: a + x).compute(scheduler=scheduler)
    with pytest.raises(Boom):
        b.fold(lambda a, x: explode_on_5(x)).compute(scheduler=scheduler)
    with pytest.raises(Boom):
        b.topk(3, key=explode_on_5).compute(scheduler=scheduler)
    with pytest.raises(Boom):
        b.sum().apply(lambda s: explode_on_5(5)).compute(scheduler=scheduler)
    # after all that, the same scheduler computes
    assert b.map(lambda x: x * 2).sum().compute(scheduler=scheduler) == 90


def test_data_errors(scheduler):
    recs = db.from_sequence([{"a": 1}, {"b": 2}], npartitions=2)
    with pytest.raises(KeyError):
        recs.pluck("a").compute(scheduler=scheduler)
    with pytest.raises(IndexError):
        db.from_sequence([[1, 2], [3]]).pluck(1).compute(scheduler=scheduler)
    with pytest.raises(AttributeError):  # .str on numbers
        db.from_sequence([1, 2]).str.lower().compute(scheduler=scheduler)
    with pytest.raises(TypeError):
        db.from_sequence([1, "a", 2], npartitions=1).sum().compute(scheduler=scheduler)
    with pytest.raises(TypeError):  # flatten of numbers
        db.from_sequence([1, 2]).flatten().compute(scheduler=scheduler)
    empty = db.from_sequence([])
    with pytest.raises(ValueError):
        empty.min().compute(scheduler=scheduler)
    with pytest.raises(ValueError):
        empty.max().compute(scheduler=scheduler)
    with pytest.raises(ZeroDivisionError):
        empty.mean().compute(scheduler=scheduler)


def test_client_works_after_failures(bag_client):
    b = db.from_sequence(range(10), npartitions=4)
    for _ in range(3):
        with pytest.raises(Boom):
            b.map(explode_on_5).compute(scheduler=bag_client)
        assert b.map(lambda x: x + 1).compute(scheduler=bag_client) == list(range(1, 11))
    with pytest.raises(ZeroDivisionError):
        tegu.compute(b.map(divide), b.sum(), scheduler=bag_client)
    assert tegu.compute(b.count(), b.sum(), scheduler=bag_client) == (10, 45)
    # a persisted bag whose partition failed: the error comes at compute, then all is well
    with pytest.raises((Boom, ZeroDivisionError)):
        p = b.map(divide).persist(scheduler=bag_client)
        p.compute(scheduler=bag_client)
    assert b.max().compute(scheduler=bag_client) == 9


@pytest.mark.parametrize("where", ["processes", "distributed-processes"])
def test_errors_in_processes(where, request, tmp_path):
    kwargs = {"scheduler": "processes", "num_workers": 2} if where == "processes" else \
        {"scheduler": request.getfixturevalue("bag_process_client")}
    b = db.from_sequence(range(10), npartitions=3)
    with pytest.raises(ZeroDivisionError):
        tegu.compute(b.map(divide), b.count(), **kwargs)
    path, _, _ = _bad_utf8_file(tmp_path)
    with pytest.raises(UnicodeDecodeError):
        db.read_text(str(path)).compute(**kwargs)
    with pytest.raises(FileNotFoundError):
        db.read_text(str(tmp_path / "gone.txt")).compute(**kwargs)
    assert tegu.compute(b.sum(), b.map(lambda x: -x).min(), **kwargs) == (45, -9)


# --- wrong arguments ----------------------------------------------------------------------------


def test_wrong_arguments():
    b = db.from_sequence(range(10), npartitions=3)
    with pytest.raises(TypeError):
        db.from_sequence(5)  # not a sequence
    with pytest.raises(ValueError):
        b.repartition(npartitions=2, partition_size=10)
    with pytest.raises(ValueError):
        b.repartition()
    with pytest.raises(ValueError):
        b.take(-1)
    with pytest.raises(ValueError):
        db.read_text("whatever-*.txt", blocksize=10, files_per_partition=2)
    other = db.from_sequence(range(10), npartitions=2)
    with pytest.raises(ValueError):
        b.map(lambda x, y: x + y, other).compute(scheduler="sync")
    with pytest.raises((ValueError, AssertionError)):
        db.zip(b, other).compute(scheduler="sync")
    with pytest.raises(AttributeError):
        b.no_such_method()


@pytest.mark.stricter_than_dask
@pytest.mark.parametrize("npartitions", [0, -1])
def test_bad_npartitions(npartitions):
    # Dask: TypeError from arithmetic on None (0), or one partition (-1)
    with pytest.raises(ValueError, match="npartitions"):
        db.from_sequence(range(5), npartitions=npartitions)
    with pytest.raises(ValueError, match="npartitions"):
        db.range(10, npartitions=npartitions)
    with pytest.raises(ValueError, match="npartitions"):
        db.from_sequence(range(5), npartitions=2).repartition(npartitions)


@pytest.mark.stricter_than_dask
def test_negative_k_in_topk():
    # Dask gives []
    b = db.from_sequence(range(10), npartitions=3)
    with pytest.raises(ValueError):
        b.topk(-1).compute(scheduler="sync")
