"""``Bag.repartition``: the same elements in another number of partitions, or in partitions of
about a number of bytes (as dask.bag's).

Thread-safety: builds graphs; call from any thread."""
from __future__ import annotations

import math

from tegu.bag import chunk
from tegu.bag.core import OBJECT, TEXT, Bag, K, _name, _task

__all__ = ["by_npartitions", "by_size", "parse_bytes"]


def by_npartitions(bag, npartitions):
    if not isinstance(npartitions, int) or npartitions < 1:
        raise ValueError(f"npartitions must be a positive int, got {npartitions!r}")
    n_in = bag.npartitions
    text = bag._kind == TEXT
    concat = K.concat_strings if text else chunk.concat_parts
    name = _name("repartition", bag.name, npartitions)
    if npartitions == n_in:
        return bag
    if npartitions < n_in:
        # consecutive input partitions grouped into npartitions runs of near-equal count
        bounds = [round(i * n_in / npartitions) for i in range(npartitions + 1)]
        parts = [_task((name, j), concat, bag._parts[bounds[j]:bounds[j + 1]])
                 for j in range(npartitions)]
        return Bag(parts, name, TEXT if text else OBJECT, native=text and bag._native)
    div, mod = divmod(npartitions, n_in)
    nsplits = [div] * n_in
    nsplits[-1] += mod
    parts = []
    split_name = f"{name}-split"
    for i, (p, k) in enumerate(zip(bag._parts, nsplits)):
        pieces = _task((split_name, i), chunk.split_part, p, k)
        for j in range(k):
            parts.append(_task((name, len(parts)), chunk.getitem, pieces, j))
    return Bag(parts, name)


def parse_bytes(size):
    if isinstance(size, (int, float)) and not isinstance(size, bool):
        return int(size)
    if isinstance(size, str):
        import re

        m = re.fullmatch(r"\s*([\d.]+)\s*([kmgtp]?i?b?)?\s*", size.lower())
        if m:
            units = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
                     "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12,
                     "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
                     "ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40}
            unit = m.group(2) or ""
            if unit in units:
                return int(float(m.group(1)) * units[unit])
    raise ValueError(f"cannot understand {size!r} as a number of bytes")


def by_size(bag, partition_size):
    """Partitions of at most about partition_size bytes (sizes measured by computing them, as
    Dask does): big partitions split, runs of small ones joined."""
    import tegu

    limit = parse_bytes(partition_size)
    if limit <= 0:
        raise ValueError(f"partition_size must be positive, got {partition_size!r}")
    name = _name("repartition-size", bag.name, limit)
    sizes = tegu.compute([_task((f"{name}-sizeof", i), _sizeof_part, p)
                          for i, p in enumerate(bag._parts)])[0]
    pieces = []  # (delayed piece, size)
    for i, (p, size) in enumerate(zip(bag._parts, sizes)):
        k = max(1, math.ceil(size / limit))
        if k == 1:
            pieces.append((p, size))
        else:
            split = _task((f"{name}-split", i), chunk.split_part, p, k)
            for j in range(k):
                pieces.append((_task((f"{name}-piece", i, j), chunk.getitem, split, j), size / k))
    groups, current, total = [], [], 0
    for piece, size in pieces:
        if current and total + size > limit:
            groups.append(current)
            current, total = [], 0
        current.append(piece)
        total += size
    if current or not groups:
        groups.append(current)
    parts = [_task((name, j), chunk.concat_parts, g) for j, g in enumerate(groups)]
    return Bag(parts, name)


def _sizeof_part(part):
    import sys

    return sys.getsizeof(part) + sum(sys.getsizeof(x) for x in part)
