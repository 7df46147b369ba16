"""A stand-in ``tegu`` that is real Dask, to check the tegu.bag tests against the reference::

    PYTHONPATH=python/tests/bag/dask_shim .bench-venv/bin/python -m pytest python/tests/bag \
        -m "not stricter_than_dask"

``import tegu.bag as db`` then gives ``dask.bag``, ``tegu.compute`` ``dask.compute``, and
``from tegu.distributed import Client`` ``distributed.Client``. Not part of Tegu: nothing
imports it unless PYTHONPATH names this directory.
"""
import sys

import dask
import dask.bag
import distributed
from dask import compute, config, delayed, persist, visualize  # noqa: F401  (re-exported)
from dask.delayed import Delayed  # noqa: F401

bag = dask.bag
sys.modules[__name__ + ".bag"] = dask.bag
sys.modules[__name__ + ".distributed"] = distributed

DASK_SHIM = True
