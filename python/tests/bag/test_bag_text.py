"""tegu.bag text: read_text (globs, lists, blocksize, line delimiters, encodings, decode errors,
compression), to_textfiles, the .str accessor, the native text pipeline (lower, split, flatten,
frequencies, topk, distinct, count) on Unicode text, and messy JSON lines, each compared with
plain Python over the same files.

Plain Python reads the files as ``open(path, encoding=...)`` does: universal newlines, so
``\\r\\n`` comes back as ``\\n``, and line ends are kept, as Dask's read_text gives them."""
import bz2
import fnmatch
import gzip
import heapq
import io
import json
import lzma
import math
import operator
import sys
from collections import Counter

import cloudpickle
import pytest

import tegu
import tegu.bag as db

# worker processes cannot import this test module: its functions travel by value
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def lines_of(text):
    """Plain Python: the lines of ``text`` as text mode reads them (universal newlines)."""
    return list(io.StringIO(text, newline=None))


def split_keep(text, delimiter):
    """Plain Python: ``text`` cut after each ``delimiter``."""
    parts = text.split(delimiter)
    return [p + delimiter for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


# --- read_text ----------------------------------------------------------------------------------


def test_read_text_glob(scheduler, corpus, check):
    pattern, paths = corpus
    b = db.read_text(pattern)
    assert b.npartitions == len(paths)  # one partition a file, the empty file included
    check.assert_same(b.compute(scheduler=scheduler), check.python_lines(paths))
    parts = tegu.compute(*b.to_delayed(), scheduler=scheduler)
    check.assert_same([list(p) for p in parts], [check.python_lines([p]) for p in paths])
    assert list(parts[-1]) == []  # the empty file


def test_read_text_paths(scheduler, corpus, check):
    _, paths = corpus
    # a list of paths, in the list's order
    rev = [str(p) for p in reversed(paths)]
    b = db.read_text(rev)
    assert b.npartitions == len(paths)
    check.assert_same(b.compute(scheduler=scheduler), check.python_lines(rev))
    # one path
    check.assert_same(db.read_text(str(paths[1])).compute(scheduler=scheduler),
                      check.python_lines([paths[1]]))
    # a glob inside a list
    check.assert_same(db.read_text([str(paths[0].parent / "part-*.txt")])
                      .compute(scheduler=scheduler), check.python_lines(paths))


@pytest.mark.parametrize("blocksize", [64, 200, 1000, "1kB", 10**6])
def test_read_text_blocksize(blocksize, scheduler, corpus, check):
    pattern, paths = corpus
    b = db.read_text(pattern, blocksize=blocksize)
    expected = check.python_lines(paths)
    check.assert_same(b.compute(scheduler=scheduler), expected)
    if blocksize in (64, 200):
        assert b.npartitions > len(paths)
    # each partition holds whole lines: only a file's last line lacks its "\n"
    parts = tegu.compute(*b.to_delayed(), scheduler=scheduler)
    for part in parts:
        for line in list(part)[:-1]:
            assert line.endswith("\n"), (line, part)
    assert sum(len(p) for p in parts) == len(expected)


def test_read_text_universal_newlines(scheduler, tmp_path, check):
    data = "a\rb\r\nc\nd\r\n\r\n\rlast"
    path = tmp_path / "nl.txt"
    path.write_bytes(data.encode())
    expected = lines_of(data)
    assert expected == ["a\n", "b\n", "c\n", "d\n", "\n", "\n", "last"]
    check.assert_same(db.read_text(str(path)).compute(scheduler=scheduler), expected)
    check.assert_same(db.read_text(str(path), blocksize=3).compute(scheduler=scheduler),
                      expected)


def test_read_text_linedelimiter(scheduler, tmp_path, check):
    path = tmp_path / "d.txt"
    data = "α;βγ;;δ\nε;\r\nlast"
    path.write_bytes(data.encode())
    p = str(path)
    check.assert_same(db.read_text(p, linedelimiter=";").compute(scheduler=scheduler),
                      split_keep(data, ";"))
    check.assert_same(db.read_text(p, linedelimiter=";", blocksize=4).compute(
        scheduler=scheduler), split_keep(data, ";"))
    check.assert_same(db.read_text(p, linedelimiter="\n").compute(scheduler=scheduler),
                      split_keep(data, "\n"))
    check.assert_same(db.read_text(p, linedelimiter="\r\n").compute(scheduler=scheduler),
                      split_keep(data, "\r\n"))
    check.assert_same(db.read_text(p, linedelimiter=";;").compute(scheduler=scheduler),
                      split_keep(data, ";;"))
    # as Dask: a file that ends with the (custom) delimiter, read whole, gives a last ""
    ends = tmp_path / "ends.txt"
    ends.write_bytes("x;ÿ;".encode())
    check.assert_same(db.read_text(str(ends), linedelimiter=";").compute(scheduler=scheduler),
                      ["x;", "ÿ;", ""])


def test_read_text_nodelim_whole_files(scheduler, tmp_path, check):
    # the book's trick: a delimiter that never occurs gives one record a file, as written
    docs = [{"id": i, "name": f"doc {i}", "tags": ["x"] * i, "text": "línea\r\nδύο"}
            for i in range(4)]
    paths = []
    for i, doc in enumerate(docs):
        path = tmp_path / f"doc-{i}.json"
        path.write_bytes(json.dumps(doc, indent=2, ensure_ascii=False)
                         .replace("\n", "\r\n" if i % 2 else "\n").encode())
        paths.append(path)
    b = db.read_text(str(tmp_path / "doc-*.json"), linedelimiter="NODELIM")
    assert b.npartitions == 4
    texts = [p.read_bytes().decode() for p in paths]
    check.assert_same(b.compute(scheduler=scheduler), texts)
    check.assert_same(b.map(json.loads).compute(scheduler=scheduler), docs)
    check.assert_same(b.map(json.loads).pluck("id").sum().compute(scheduler=scheduler), 6)


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252", "utf-16", "utf-8-sig"])
def test_read_text_encoding(encoding, scheduler, tmp_path, check):
    text = "façade\nnaïve café\r\n€uro\n" if encoding == "cp1252" else \
        "façade\nnaïve café\r\nÆØÅ\n"
    if encoding in ("utf-16", "utf-8-sig"):
        text += "Σίσυφος 中文 😀\n"
    path = tmp_path / "enc.txt"
    path.write_bytes(text.encode(encoding))
    check.assert_same(db.read_text(str(path), encoding=encoding).compute(scheduler=scheduler),
                      lines_of(text))
    if encoding in ("latin-1", "cp1252"):  # one byte a character: blocks cut at b"\n"
        check.assert_same(db.read_text(str(path), encoding=encoding, blocksize=8)
                          .compute(scheduler=scheduler), lines_of(text))


BAD_UTF8 = (b"ok line\nbad \xff\xfe here\ntrunc \xe2\x82A\noverlong \xc0\xaf\n"
            b"surrogate \xed\xa0\x80 x\n\xf4\x90\x80\x80 big\nfine \xc3\xa9\r\nend\xc3")


@pytest.mark.parametrize("errors", ["replace", "ignore", "backslashreplace", "surrogateescape"])
@pytest.mark.parametrize("blocksize", [None, 16])
def test_read_text_decode_errors(errors, blocksize, scheduler, tmp_path, check):
    path = tmp_path / "bad.txt"
    path.write_bytes(BAD_UTF8)
    expected = lines_of(BAD_UTF8.decode("utf-8", errors=errors))
    got = db.read_text(str(path), errors=errors, blocksize=blocksize).compute(
        scheduler=scheduler)
    check.assert_same(got, expected)


COMPRESSIONS = {
    "gzip": (".gz", gzip.compress),
    "bz2": (".bz2", bz2.compress),
    "xz": (".xz", lzma.compress),
    "zstd": (".zst", None),
}


def _write_compressed(path, data, compression, check):
    compress = COMPRESSIONS[compression][1]
    if compress is None:
        check.write_zstd(path, data)
    else:
        path.write_bytes(compress(data))


@pytest.mark.parametrize("compression", list(COMPRESSIONS))
def test_read_text_compressed(compression, scheduler, tmp_path, corpus, check):
    _, paths = corpus
    ext = COMPRESSIONS[compression][0]
    written = []
    for i, p in enumerate(paths):
        target = tmp_path / f"c-{i}.txt{ext}"
        _write_compressed(target, p.read_bytes(), compression, check)
        written.append(target)
    expected = check.python_lines(paths)
    # compression="infer" (the default) by the extension
    b = db.read_text(str(tmp_path / f"c-*.txt{ext}"))
    assert b.npartitions == len(paths)
    check.assert_same(b.compute(scheduler=scheduler), expected)
    check.assert_same(db.read_text([str(w) for w in written], compression="infer")
                      .compute(scheduler=scheduler), expected)
    # named explicitly, on files whose names say nothing
    plain = tmp_path / "noext"
    plain.mkdir()
    for i, w in enumerate(written):
        (plain / f"f-{i}").write_bytes(w.read_bytes())
    check.assert_same(db.read_text(str(plain / "f-*"), compression=compression)
                      .compute(scheduler=scheduler), expected)


def test_read_text_include_path(scheduler, corpus, check):
    pattern, paths = corpus
    expected = [(line, str(p)) for p in paths for line in check.python_lines([p])]
    check.assert_same(db.read_text(pattern, include_path=True).compute(scheduler=scheduler),
                      expected)
    check.assert_same(db.read_text(pattern, include_path=True, blocksize=100)
                      .compute(scheduler=scheduler), expected)


def test_read_text_files_per_partition(scheduler, corpus, check):
    pattern, paths = corpus
    b = db.read_text(pattern, files_per_partition=2)
    assert b.npartitions == math.ceil(len(paths) / 2)
    check.assert_same(b.compute(scheduler=scheduler), check.python_lines(paths))


# --- to_textfiles -------------------------------------------------------------------------------


PARTITIONS = [["alpha", "βήτα", "gamma"], ["δέλτα"], [], ["epsilon 😀", "zeta"]]


def _text_bag():
    return db.from_delayed([tegu.delayed(list)(p) for p in PARTITIONS])


def test_to_textfiles_and_back(scheduler, tmp_path, check):
    b = _text_bag()
    names = b.to_textfiles(str(tmp_path / "out-*.txt"), scheduler=scheduler)
    assert names == [str(tmp_path / f"out-{i}.txt") for i in range(len(PARTITIONS))]
    for name, part in zip(names, PARTITIONS):
        with open(name, encoding="utf-8", newline="") as f:
            assert f.read() == "\n".join(part)  # lines joined by "\n", none after the last
    back = db.read_text(str(tmp_path / "out-*.txt"))
    assert back.npartitions == len(PARTITIONS)
    got = back.compute(scheduler=scheduler)
    check.assert_same([line.rstrip("\n") for line in got], [x for p in PARTITIONS for x in p])


def test_to_textfiles_name_function_and_last_endline(scheduler, tmp_path):
    parts = [p for p in PARTITIONS if p]  # (Dask writes "\n" for an empty partition here)
    b = db.from_delayed([tegu.delayed(list)(p) for p in parts])
    names = b.to_textfiles(str(tmp_path / "data-*.txt"), name_function=lambda i: f"p{i:03d}",
                           last_endline=True, scheduler=scheduler)
    assert names == [str(tmp_path / f"data-p{i:03d}.txt") for i in range(len(parts))]
    for name, part in zip(names, parts):
        with open(name, encoding="utf-8", newline="") as f:
            assert f.read() == "".join(line + "\n" for line in part)


def test_to_textfiles_list_and_directory(scheduler, tmp_path):
    b = db.from_sequence(["a", "b", "c"], npartitions=2)
    targets = [str(tmp_path / "first.txt"), str(tmp_path / "second.txt")]
    assert b.to_textfiles(targets, scheduler=scheduler) == targets
    assert [open(t).read() for t in targets] == ["a\nb", "c"]
    names = b.to_textfiles(str(tmp_path / "outdir"), scheduler=scheduler)
    assert names == [str(tmp_path / "outdir" / f"{i}.part") for i in range(2)]
    assert [open(n).read() for n in names] == ["a\nb", "c"]


def test_to_textfiles_lazy(scheduler, tmp_path):
    b = db.from_sequence(["x", "y"], npartitions=2).map(str.upper)
    ds = b.to_textfiles(str(tmp_path / "lazy-*.txt"), compute=False)
    assert isinstance(ds, list) and len(ds) == 2
    assert all(isinstance(d, tegu.Delayed) for d in ds)
    assert not list(tmp_path.glob("lazy-*"))  # nothing written yet
    tegu.compute(*ds, scheduler=scheduler)
    assert [(tmp_path / f"lazy-{i}.txt").read_text() for i in range(2)] == ["X", "Y"]


@pytest.mark.parametrize("compression", ["gzip", "bz2", "xz"])
def test_to_textfiles_compressed(compression, scheduler, tmp_path, check):
    b = _text_bag()
    ext = COMPRESSIONS[compression][0]
    opener = {"gzip": gzip.open, "bz2": bz2.open, "xz": lzma.open}[compression]
    # inferred from the extension
    names = b.to_textfiles(str(tmp_path / f"inf-*.txt{ext}"), scheduler=scheduler)
    for name, part in zip(names, PARTITIONS):
        with opener(name, "rt", encoding="utf-8", newline="") as f:
            assert f.read() == "\n".join(part)
    # named explicitly
    names = b.to_textfiles(str(tmp_path / "exp-*.data"), compression=compression,
                           scheduler=scheduler)
    for name, part in zip(names, PARTITIONS):
        with opener(name, "rt", encoding="utf-8", newline="") as f:
            assert f.read() == "\n".join(part)
    back = db.read_text(str(tmp_path / f"inf-*.txt{ext}")).compute(scheduler=scheduler)
    check.assert_same([line.rstrip("\n") for line in back], [x for p in PARTITIONS for x in p])


# --- the .str accessor --------------------------------------------------------------------------


STRINGS = ["Hello World", "  Foo-Bar  ", "ÉCOLE straße", "a,b,,c", "", "ΟΔΟΣ ΣΑΣ",
           "\u3000全角\u00a0space\t", "İstanbul ǅemal", "x--y--z", "Hello hello HELLO"]


def test_str_accessor(scheduler, check):
    s = db.from_sequence(STRINGS, npartitions=3)
    check.run_pipelines([
        ("lower", s.str.lower(), [x.lower() for x in STRINGS], "exact"),
        ("upper", s.str.upper(), [x.upper() for x in STRINGS], "exact"),
        ("strip", s.str.strip(), [x.strip() for x in STRINGS], "exact"),
        ("strip chars", s.str.strip(" -Hz"), [x.strip(" -Hz") for x in STRINGS], "exact"),
        ("lstrip", s.str.lstrip(), [x.lstrip() for x in STRINGS], "exact"),
        ("rstrip chars", s.str.rstrip("d-"), [x.rstrip("d-") for x in STRINGS], "exact"),
        ("split", s.str.split(), [x.split() for x in STRINGS], "exact"),
        ("split sep", s.str.split(","), [x.split(",") for x in STRINGS], "exact"),
        ("split sep maxsplit", s.str.split(" ", 1), [x.split(" ", 1) for x in STRINGS], "exact"),
        ("split keywords", s.str.split(sep="--", maxsplit=1),
         [x.split(sep="--", maxsplit=1) for x in STRINGS], "exact"),
        ("split maxsplit only", s.str.split(maxsplit=1), [x.split(maxsplit=1) for x in STRINGS],
         "exact"),
        ("rsplit", s.str.rsplit(None, 1), [x.rsplit(None, 1) for x in STRINGS], "exact"),
        ("replace", s.str.replace("o", "0"), [x.replace("o", "0") for x in STRINGS], "exact"),
        ("replace count", s.str.replace("l", "L", 2), [x.replace("l", "L", 2) for x in STRINGS],
         "exact"),
        ("match", s.str.match("*o*"), [x for x in STRINGS if fnmatch.fnmatch(x, "*o*")],
         "exact"),
        ("match prefix", s.str.match("H*"), [x for x in STRINGS if fnmatch.fnmatch(x, "H*")],
         "exact"),
        ("match class", s.str.match("[a-z]*"),
         [x for x in STRINGS if fnmatch.fnmatch(x, "[a-z]*")], "exact"),
        ("match ?", s.str.match("x?-y*"), [x for x in STRINGS if fnmatch.fnmatch(x, "x?-y*")],
         "exact"),
        ("title", s.str.title(), [x.title() for x in STRINGS], "exact"),
        ("capitalize", s.str.capitalize(), [x.capitalize() for x in STRINGS], "exact"),
        ("casefold", s.str.casefold(), [x.casefold() for x in STRINGS], "exact"),
        ("swapcase", s.str.swapcase(), [x.swapcase() for x in STRINGS], "exact"),
        ("startswith", s.str.startswith("H"), [x.startswith("H") for x in STRINGS], "exact"),
        ("endswith", s.str.endswith(("d", "z")), [x.endswith(("d", "z")) for x in STRINGS],
         "exact"),
        ("count", s.str.count("o"), [x.count("o") for x in STRINGS], "exact"),
        ("find", s.str.find("o"), [x.find("o") for x in STRINGS], "exact"),
        ("isupper", s.str.isupper(), [x.isupper() for x in STRINGS], "exact"),
        ("zfill", s.str.zfill(5), [x.zfill(5) for x in STRINGS], "exact"),
        ("center", s.str.center(15, "*"), [x.center(15, "*") for x in STRINGS], "exact"),
        ("partition", s.str.partition(" "), [x.partition(" ") for x in STRINGS], "exact"),
        ("chained", s.str.strip().str.lower().str.replace("-", " ").str.split(),
         [x.strip().lower().replace("-", " ").split() for x in STRINGS], "exact"),
    ], scheduler=scheduler)


def test_str_accessor_unknown_method():
    s = db.from_sequence(["a"])
    with pytest.raises(AttributeError):
        s.str.no_such_method()


# --- the native text pipeline -------------------------------------------------------------------


def _python_words(lines):
    return [w for line in lines for w in line.lower().split()]


@pytest.mark.parametrize("blocksize", [None, 256])
def test_word_count_pipeline(blocksize, scheduler, corpus, check):
    pattern, paths = corpus
    lines = check.python_lines(paths)
    words = _python_words(lines)
    freqs = list(Counter(words).items())  # first-seen order
    assert len(freqs) > 10 and any(w.endswith("ς") for w in words)  # the data is what we think

    text = db.read_text(pattern, blocksize=blocksize)
    w = text.str.lower().str.split().flatten()
    check.run_pipelines([
        ("lines", text, lines, "exact"),
        ("lower", text.str.lower(), [line.lower() for line in lines], "exact"),
        ("upper", text.str.upper(), [line.upper() for line in lines], "exact"),
        ("strip", text.str.strip(), [line.strip() for line in lines], "exact"),
        ("split", text.str.split(), [line.split() for line in lines], "exact"),
        ("split space", text.str.split(" "), [line.split(" ") for line in lines], "exact"),
        ("words", w, words, "exact"),
        ("word count", w.count(), len(words), "exact"),
        ("frequencies", w.frequencies(), freqs, "exact"),
        ("frequencies sorted", w.frequencies(sort=True),
         sorted(freqs, key=operator.itemgetter(1), reverse=True), "exact"),
        ("topk", w.frequencies().topk(10, key=1),
         heapq.nlargest(10, freqs, key=operator.itemgetter(1)), "exact"),
        ("distinct count", w.distinct().count(), len(set(words)), "exact"),
        ("distinct", w.distinct(), list(set(words)), "sorted"),
        ("line count", text.count(), len(lines), "exact"),
        ("non-blank lines", text.str.strip().filter(bool).count(),
         sum(1 for line in lines if line.strip()), "exact"),
        ("longest words", w.topk(5, key=len), heapq.nlargest(5, words, key=len), "exact"),
        ("python map", w.map(len).sum(), sum(map(len, words)), "exact"),
        ("casefold frequencies", text.str.casefold().str.split().flatten().frequencies(),
         list(Counter(x for line in lines for x in line.casefold().split()).items()), "exact"),
    ], scheduler=scheduler)


def test_word_count_special_cases(scheduler, tmp_path, check):
    # Unicode whitespace Python's str.split() splits on, including the C0 separators, NEL and
    # LINE SEPARATOR (not line ends for text mode), and lower() cases with context or length
    # changes
    text = ("ΟΔΟΣ\u00a0ΚΑΙ ΣΑΣ.\r\n"
            "a\x1cb\x1dc\x1ed\x1fe\x85f\u2028g\u2029h\u2003i\u202fj\u205fk\n"
            "İSTANBUL ǄEMAL STRAẞE ﬃ\n"
            "   \n"
            "\u3000\u3000\n"
            "tail")
    path = tmp_path / "special.txt"
    path.write_bytes(text.encode())
    lines = lines_of(text)
    w = db.read_text(str(path)).str.lower().str.split().flatten()
    words = _python_words(lines)
    check.run_pipelines([
        ("words", w, words, "exact"),
        ("frequencies", w.frequencies(), list(Counter(words).items()), "exact"),
        ("distinct count", w.distinct().count(), len(set(words)), "exact"),
    ], scheduler=scheduler)
    assert "οδος" in words and "σας." in words  # final sigma before no-break space / punctuation


# --- messy data: JSON lines, some broken -----------------------------------------------------


def _messy_lines():
    good = [{"id": i, "user": f"u{i % 4}", "amount": i * 1.5, "tags": ["a", "ß"][: i % 3]}
            for i in range(40)]
    lines = []
    for i, rec in enumerate(good):
        if i % 7 == 3:
            lines.append(json.dumps(rec)[:-5])  # truncated
        elif i % 11 == 5:
            lines.append("{'id': %d, 'single': 'quotes'}" % i)
        elif i % 13 == 8:
            lines.append("not json at all ✗")
        else:
            lines.append(json.dumps(rec, ensure_ascii=i % 2 == 0))
    lines.append("")  # a blank line is broken JSON too
    lines.append('{"id": 99, "user": "u9", "amount": 1e400, "tags": []}')  # inf: parses
    return lines


def parse(line):
    """The book's pattern: the record, or a description of what went wrong."""
    try:
        return json.loads(line)
    except json.JSONDecodeError as e:
        return {"error": type(e).__name__, "message": str(e), "line": line.rstrip("\n")}


def parse_or_exception(line):
    try:
        return json.loads(line)
    except ValueError as e:
        return e


def test_messy_json_lines(scheduler, tmp_path, check):
    lines = _messy_lines()
    path = tmp_path / "messy.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    py_lines = check.python_lines([path])
    py_parsed = [parse(line) for line in py_lines]
    py_good = [r for r in py_parsed if "error" not in r]
    py_bad = [r for r in py_parsed if "error" in r]
    assert 0 < len(py_bad) < len(py_good)

    parsed = db.read_text(str(path), blocksize=300).map(parse)
    good = parsed.filter(lambda r: "error" not in r)
    bad = parsed.filter(lambda r: "error" in r)
    check.run_pipelines([
        ("good count", good.count(), len(py_good), "exact"),
        ("bad count", bad.count(), len(py_bad), "exact"),
        ("good ids", good.pluck("id"), [r["id"] for r in py_good], "exact"),
        ("bad records", bad, py_bad, "exact"),
        ("amount by user", good.foldby("user", lambda acc, r: acc + r["amount"], 0.0,
                                       operator.add),
         sorted({u: sum(r["amount"] for r in py_good if r["user"] == u)
                 for u in {r["user"] for r in py_good}}.items()), "sorted"),
        ("tag frequencies", good.pluck("tags").flatten().frequencies(),
         list(Counter(t for r in py_good for t in r["tags"]).items()), "exact"),
    ], scheduler=scheduler)

    # the exception objects themselves travel back
    exc = db.read_text(str(path)).map(parse_or_exception)
    errors = exc.filter(lambda r: isinstance(r, Exception))
    got = errors.compute(scheduler=scheduler)
    py_errors = [e for e in map(parse_or_exception, py_lines) if isinstance(e, Exception)]
    assert [(type(e), str(e)) for e in got] == [(type(e), str(e)) for e in py_errors]
    assert all(isinstance(e, json.JSONDecodeError) for e in got)
    assert exc.remove(lambda r: isinstance(r, Exception)).count().compute(
        scheduler=scheduler) == len(py_good)


# --- on process schedulers ----------------------------------------------------------------------


def text_pipelines(pattern, paths, tmp_path, check):
    lines = check.python_lines(paths)
    words = _python_words(lines)
    freqs = list(Counter(words).items())
    text = db.read_text(pattern)
    w = text.str.lower().str.split().flatten()
    blocks = db.read_text(pattern, blocksize=200).str.lower().str.split().flatten()
    gz = tmp_path / "one.txt.gz"
    gz.write_bytes(gzip.compress(paths[0].read_bytes()))
    bad = tmp_path / "bad.txt"
    bad.write_bytes(BAD_UTF8)
    messy = tmp_path / "messy.jsonl"
    messy.write_text("\n".join(_messy_lines()), encoding="utf-8")
    py_parsed = [parse(line) for line in check.python_lines([messy])]
    return [
        ("lines", text, lines, "exact"),
        ("words", w, words, "exact"),
        ("topk", w.frequencies().topk(10, key=1),
         heapq.nlargest(10, freqs, key=operator.itemgetter(1)), "exact"),
        ("distinct count", w.distinct().count(), len(set(words)), "exact"),
        ("blocks frequencies", blocks.frequencies(), freqs, "exact"),
        ("str methods", text.str.strip().str.upper().str.replace("Σ", "S"),
         [line.strip().upper().replace("Σ", "S") for line in lines], "exact"),
        ("gzip", db.read_text(str(gz)), check.python_lines([paths[0]]), "exact"),
        ("errors=replace", db.read_text(str(bad), errors="replace"),
         lines_of(BAD_UTF8.decode("utf-8", "replace")), "exact"),
        ("messy good", db.read_text(str(messy)).map(parse).filter(lambda r: "error" not in r)
         .pluck("id"), [r["id"] for r in py_parsed if "error" not in r], "exact"),
        ("messy bad", db.read_text(str(messy)).map(parse).filter(lambda r: "error" in r)
         .count(), sum(1 for r in py_parsed if "error" in r), "exact"),
    ]


@pytest.mark.parametrize("where", ["processes", "distributed-processes"])
def test_text_pipelines_in_processes(where, request, tmp_path, corpus, check):
    pipelines = text_pipelines(*corpus, tmp_path, check)
    if where == "processes":
        check.run_pipelines(pipelines, scheduler="processes", num_workers=2)
    else:
        check.run_pipelines(pipelines, scheduler=request.getfixturevalue("bag_process_client"))
    # and writing from worker processes
    out = tmp_path / "written"
    kwargs = {"scheduler": "processes", "num_workers": 2} if where == "processes" else \
        {"scheduler": request.getfixturevalue("bag_process_client")}
    names = db.from_sequence(["α", "β", "γ"], npartitions=2).to_textfiles(
        str(out / "*.txt.gz"), **kwargs)
    assert [gzip.open(n, "rt", encoding="utf-8").read() for n in names] == ["α\nβ", "γ"]
