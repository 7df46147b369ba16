"""Fixtures for tegu.distributed tests: in-process clusters (processes=False) shared per module
where the processes are not the point."""
import gc

import pytest

from tegu.distributed import Client, LocalCluster


@pytest.fixture(scope="module")
def cluster():
    with LocalCluster(n_workers=2, threads_per_worker=2, processes=False) as c:
        yield c


@pytest.fixture
def client(cluster):
    with Client(cluster) as c:
        yield c
    gc.collect()


@pytest.fixture
def own_cluster():
    """A fresh in-process cluster for tests that change it."""
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False) as c:
        yield c
