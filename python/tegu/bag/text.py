"""Text in and out of bags: ``read_text``, ``to_textfiles`` and the ``.str`` accessor.

``read_text`` makes one task per file (or per block of ``blocksize`` bytes, split at line
delimiters as fsspec's read_block). In UTF-8, ASCII or Latin-1 with errors='strict' the task
is the native ``tegu.bag.read_text`` kernel: lines become a native text partition without
Python objects. Other encodings and error handlers read the block natively (decompressing it
if needed) and decode it with Python's codecs, so they behave exactly as Python does.

Thread-safety: functions build graphs; they may be called from any thread."""
from __future__ import annotations

import codecs
import glob as _glob
import io
import os
import sys

from tegu import _tegu
from tegu.bag import chunk
from tegu.bag.core import OBJECT, TEXT, TEXT_LISTS, Bag, K, _task, tokenize
from tegu.bag.repartition import parse_bytes

__all__ = ["read_text", "to_textfiles", "StringAccessor"]

# As dask.utils.system_encoding: Python's default encoding (UTF-8), not the locale's, so that
# a program reads the same text under any LANG.
system_encoding = sys.getdefaultencoding()
if system_encoding == "ascii":
    system_encoding = "utf-8"

_COMPRESSION_BY_EXTENSION = {"gz": "gzip", "bz2": "bz2", "xz": "xz", "lzma": "xz", "zst": "zstd",
                             "zstd": "zstd"}
_COMPRESSIONS = {None: "", "gzip": "gzip", "bz2": "bz2", "xz": "xz", "lzma": "xz",
                 "zstd": "zstd"}
_NATIVE_ENCODINGS = {"utf-8": "utf-8", "ascii": "ascii", "iso8859-1": "latin-1"}
_STANDARD_NEWLINES = (None, "", "\n", "\r", "\r\n")


def _expand_paths(urlpath):
    """Sorted local paths for a path, glob or list of them; errors name what matched nothing."""
    if isinstance(urlpath, (str, os.PathLike)):
        urlpath = [urlpath]
    paths = []
    for p in urlpath:
        p = os.fspath(p)
        if p.startswith("file://"):
            p = p[len("file://"):]
        if _glob.has_magic(p):
            found = sorted(x for x in _glob.glob(p, recursive=True) if os.path.isfile(x))
            if not found:
                raise FileNotFoundError(f"read_text: no files match {p!r}")
            paths.extend(found)
        else:
            if not os.path.exists(p):
                raise FileNotFoundError(2, "No such file or directory", p)
            if os.path.isdir(p):
                raise IsADirectoryError(21, "Is a directory", p)
            paths.append(p)
    if not paths:
        raise ValueError("read_text: no paths given")
    return paths


def _compression_of(path, compression):
    if compression == "infer":
        ext = path.rsplit(".", 1)[-1].lower() if "." in os.path.basename(path) else ""
        return _COMPRESSION_BY_EXTENSION.get(ext, "")
    if compression not in _COMPRESSIONS:
        raise ValueError(f"unknown compression {compression!r}: expected one of 'infer', "
                         "'gzip', 'bz2', 'xz', 'zstd' or None")
    return _COMPRESSIONS[compression]


def read_text(urlpath, blocksize=None, compression="infer", encoding=system_encoding,
              errors="strict", linedelimiter=None, collection=True, storage_options=None,
              files_per_partition=None, include_path=False):
    """A bag of the lines of text files (each line keeps its line ending), as
    dask.bag.read_text: one partition per file, per block of ``blocksize`` bytes, or per
    ``files_per_partition`` files. ``urlpath``: a path, a glob, or a list of them."""
    if blocksize is not None and files_per_partition is not None:
        raise ValueError("Only one of blocksize or files_per_partition can be set")
    if isinstance(blocksize, str):
        blocksize = parse_bytes(blocksize)
    if blocksize is not None and (not isinstance(blocksize, int) or blocksize <= 0):
        raise ValueError(f"blocksize must be a positive number of bytes, got {blocksize!r}")
    if linedelimiter is not None and not isinstance(linedelimiter, str):
        raise TypeError(f"linedelimiter must be a str, got {type(linedelimiter).__name__}")
    if errors not in ("strict", "replace", "ignore", "surrogateescape", "backslashreplace"):
        codecs.lookup_error(errors)  # raises LookupError naming an unknown handler
    codec = codecs.lookup(encoding)  # raises LookupError naming an unknown encoding
    paths = _expand_paths(urlpath)
    comps = [_compression_of(p, compression) for p in paths]
    if blocksize is not None and any(comps):
        raise ValueError("Cannot do chunked reads on compressed files. To read, set "
                         "blocksize=None")
    native_encoding = _NATIVE_ENCODINGS.get(codec.name)
    native = native_encoding is not None and errors == "strict" and not include_path
    delim = linedelimiter
    blocked = blocksize is not None
    token = tokenize(paths, [os.path.getmtime(p) for p in paths], blocksize, comps, encoding,
                     errors, linedelimiter, files_per_partition, include_path)
    name = f"read-text-{token}"

    def reader(key, path, comp, offset, length):
        if native:
            return _task(key, K.read_text, path, offset, length, comp, delim or "",
                         delim is not None, blocked, native_encoding)
        return _task(key, read_text_python, path, offset, length, comp, delim, blocked,
                     encoding, errors, include_path)

    blocks = []
    for path, comp in zip(paths, comps):
        if blocksize is None:
            blocks.append((path, comp, 0, -1))
        else:
            blocks.extend((path, comp, off, length)
                          for off, length in _block_ranges(os.path.getsize(path), blocksize))
    if not blocks:
        raise ValueError("No files found", urlpath)
    kind = TEXT if native else OBJECT
    if files_per_partition:
        parts = []
        for j, i in enumerate(range(0, len(blocks), files_per_partition)):
            group = [reader((f"{name}-file", i + g), *b)
                     for g, b in enumerate(blocks[i:i + files_per_partition])]
            concat = K.concat_strings if native else chunk.concat_parts
            parts.append(_task((name, j), concat, group))
    else:
        parts = [reader((name, i), *b) for i, b in enumerate(blocks)]
    bag = Bag(parts, name, kind, native=native)
    if not collection:
        return bag.to_delayed()
    return bag


def _block_ranges(size, blocksize):
    """(offset, length) of a file's blocks, as dask.bytes.read_bytes cuts them: the block size
    shrunk to spread the spare bytes, none for an empty file."""
    if size == 0:
        return []
    step = size / (size // blocksize) if size % blocksize and size > blocksize else blocksize
    place, offsets = 0, [0]
    while size - place > step * 2 - 1:
        place += step
        offsets.append(int(place))
    ends = offsets[1:] + [size]
    return [(o, e - o) for o, e in zip(offsets, ends)]


def read_text_python(path, offset, length, compression, linedelimiter, blocked, encoding,
                     errors, include_path):
    """The lines of one block decoded by Python's codecs (encodings and error handlers the
    native kernel does not do); the bytes come from the native block reader."""
    # as Dask: blocks end at the delimiter's UTF-8 bytes, whatever the file's encoding
    delimiter = (linedelimiter if linedelimiter is not None else "\n").encode()
    start, data = _tegu.bag_read_block(path, offset, length if blocked else -1, compression,
                                       delimiter)
    try:
        text = data.decode(encoding, errors)
    except UnicodeDecodeError as e:
        from tegu._errors import NativeDecodeError

        where = "decompressed byte offset" if compression else "byte offset"
        raise NativeDecodeError(f"{e} (file {path!r}, {where} {start + e.start})",
                                e.encoding) from None
    lines = _split_lines(text, linedelimiter, blocked)
    if include_path:
        return [(line, path) for line in lines]
    return lines


def _split_lines(text, linedelimiter, blocked):
    """Lines as Dask makes them: for the standard delimiters, a whole file read in text mode
    (newline=linedelimiter) or a block through io.StringIO(text, newline=linedelimiter) — which,
    unlike reading a file, first turns each "\n" into a "\r" or "\r\n" delimiter; str.split
    keeping the delimiter for others."""
    if linedelimiter in _STANDARD_NEWLINES:
        if blocked or linedelimiter not in ("\r", "\r\n"):
            return list(io.StringIO(text, newline=linedelimiter))
        parts = text.split(linedelimiter)  # a file in text mode: split, nothing translated
        return [t + linedelimiter for t in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
    if not text:
        return []
    parts = text.split(linedelimiter)
    if blocked:
        out = [t + linedelimiter for t in parts[:-1]]
        if not text.endswith(linedelimiter):
            out.append(parts[-1])
        return out
    return [t + linedelimiter for t in parts[:-1]] + parts[-1:]


# --- writing -----------------------------------------------------------------------------------

def open_for_write(path, compression, encoding):
    """A file object for one output partition (text unless encoding is None)."""
    mode = "wb" if encoding is None else "wt"
    kw = {} if encoding is None else {"encoding": encoding}
    if compression == "gzip":
        import gzip

        return gzip.open(path, mode, **kw)
    if compression == "bz2":
        import bz2

        return bz2.open(path, mode, **kw)
    if compression == "xz":
        import lzma

        return lzma.open(path, mode, **kw)
    if compression == "zstd":
        try:
            import zstandard
        except ImportError:
            raise ValueError("writing zstd files needs the 'zstandard' package") from None
        raw = zstandard.open(path, "wb")
        return raw if encoding is None else io.TextIOWrapper(raw, encoding=encoding)
    return open(path, mode, **kw)


def to_textfiles(b, path, name_function=None, compression="infer", encoding=system_encoding,
                 compute=True, storage_options=None, last_endline=False, **kwargs):
    """Writes one file per partition, one element (a str) per line. ``path``: a directory
    (files 0.part, 1.part, ...), a pattern with one ``*`` (replaced by name_function(i),
    default str(i)), or a list of npartitions paths. Returns the paths written (or, with
    compute=False, the Delayed writes)."""
    n = b.npartitions
    name_function = name_function or str
    if isinstance(path, (list, tuple)):
        paths = [os.fspath(p) for p in path]
        if len(paths) != n:
            raise ValueError(f"to_textfiles got {len(paths)} paths for {n} partitions")
    else:
        path = os.fspath(path)
        if "*" in path:
            if path.count("*") > 1:
                raise ValueError(f"the output path {path!r} may hold only one '*'")
            paths = [path.replace("*", name_function(i)) for i in range(n)]
        else:
            paths = [os.path.join(path, name_function(i) + ".part") for i in range(n)]
    names = [name_function(i) for i in range(n)]
    if names != sorted(names):
        import warnings

        warnings.warn("In order to preserve order between partitions, paths created with "
                      "``name_function`` should sort to partition order")
    for p in paths:
        parent = os.path.dirname(p)
        if parent:
            os.makedirs(parent, exist_ok=True)
    name = f"to-textfiles-{tokenize(b.name, paths, compression, encoding, last_endline)}"
    writes = [_task((name, i), chunk.write_text_part, part, p, _compression_of(p, compression),
                    encoding, last_endline)
              for i, (part, p) in enumerate(zip(b._parts, paths))]
    if compute:
        import tegu

        tegu.compute(writes, **kwargs)
        return [os.path.abspath(p) for p in paths]
    return writes


# --- the .str accessor -------------------------------------------------------------------------

class StringAccessor:
    """String methods over a bag's elements (``b.str.lower()``): the native kernels for text
    bags (lower, upper, strip, lstrip, rstrip, split, replace, match), else str's method."""

    def __init__(self, bag):
        self._bag = bag

    def __dir__(self):
        return sorted(set(dir(type(self))) | set(dir(str)))

    def _native(self):
        return self._bag._kind == TEXT

    def _kernel(self, prefix, kernel, *args, kind=TEXT, split_of=None):
        b = self._bag
        return b._derive(f"str-{prefix}", (prefix, args),
                         lambda key, p, i: _task(key, kernel, p, *args), kind, split_of,
                         native=b._native)

    def _method(self, method, *args, **kwargs):
        b = self._bag
        kind = TEXT if method in _STR_RESULTS and b._kind == TEXT else OBJECT
        return b._then(f"str-{method}", (method, args, kwargs),
                       chunk.MethodStage(method, args, kwargs), kind)

    def lower(self):
        return self._kernel("lower", K.str_lower) if self._native() else self._method("lower")

    def upper(self):
        return self._kernel("upper", K.str_upper) if self._native() else self._method("upper")

    def _strip(self, method, side, chars):
        if not self._native():
            return self._method(method, chars) if chars is not None else self._method(method)
        if chars is not None and not isinstance(chars, str):
            raise TypeError(f"{method} arg must be None or str")
        return self._kernel(method, K.str_strip, chars or "", chars is not None, side)

    def strip(self, chars=None):
        return self._strip("strip", 0, chars)

    def lstrip(self, chars=None):
        return self._strip("lstrip", 1, chars)

    def rstrip(self, chars=None):
        return self._strip("rstrip", 2, chars)

    def split(self, sep=None, maxsplit=-1):
        if sep is not None and not isinstance(sep, str):
            raise TypeError(f"must be str or None, not {type(sep).__name__}")
        if sep == "":
            raise ValueError("empty separator")
        if not self._native():
            return self._method("split", sep, maxsplit)
        return self._kernel("split", K.str_split, sep or "", sep is not None, int(maxsplit),
                            kind=TEXT_LISTS, split_of=(self._bag, sep, int(maxsplit)))

    def replace(self, old, new, count=-1):
        if not self._native():
            return self._method("replace", old, new, count)
        return self._kernel("replace", K.str_replace, old, new, int(count))

    def match(self, pattern):
        """The elements matching a glob pattern (fnmatch), as dask.bag's str.match."""
        b = self._bag
        if self._native():
            return self._kernel("match", K.str_match, pattern)
        return b._then("str-match", (pattern,), chunk.MatchStage(pattern), b._kind)

    def __getattr__(self, name):
        if name.startswith("_") or not hasattr(str, name):
            raise AttributeError(name)

        def method(*args, **kwargs):
            return self._method(name, *args, **kwargs)

        method.__name__ = name
        return method


# str methods that return a str (their result is still a text bag)
_STR_RESULTS = {"capitalize", "casefold", "center", "expandtabs", "format", "join", "ljust",
                "lower", "lstrip", "removeprefix", "removesuffix", "replace", "rjust", "rstrip",
                "strip", "swapcase", "title", "translate", "upper", "zfill"}

