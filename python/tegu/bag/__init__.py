"""``tegu.bag``: parallel collections of Python objects, behaving as ``dask.bag``.

Known text operations run as native kernels without the GIL (docs/collections.md)."""
from tegu.bag.core import Bag, Item, no_default
from tegu.bag.creation import (concat, from_delayed, from_sequence, map, map_partitions, range,
                               zip)
from tegu.bag.text import read_text, to_textfiles


def from_futures(futures):
    """A bag with one partition per future (each holding a sequence)."""
    return from_delayed(list(futures))


__all__ = ["Bag", "Item", "concat", "from_delayed", "from_futures", "from_sequence", "map",
           "map_partitions", "range", "read_text", "to_textfiles", "zip", "no_default"]
