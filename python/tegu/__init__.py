"""Tegu: Dask's programming model on a C++ engine.

Replace ``import dask`` with ``import tegu``: ``tegu.delayed``, ``tegu.compute``,
``tegu.persist``, ``tegu.visualize`` and ``tegu.config`` behave as their Dask counterparts, and
the task graphs run on Tegu's C++ schedulers.
"""
from tegu import _tegu
from tegu import config
from tegu.base import compute, get_scheduler, is_dask_collection, persist, visualize
from tegu.delayed import Delayed, delayed
from tegu.tokenize import tokenize

native = _tegu.native


def _native_by_name(name):
    """Unpickles a native function: looked up by name in this process's registry."""
    return _tegu.native(name)

native_functions = _tegu.native_functions

__version__ = "0.1.0"

__all__ = ["compute", "persist", "visualize", "delayed", "Delayed", "config", "tokenize",
           "native", "native_functions", "get_scheduler", "is_dask_collection"]
