"""tegu.distributed: dask.distributed's API (Client, futures, LocalCluster) on Tegu's C++
scheduler and workers. Replace ``from dask.distributed import ...`` with
``from tegu.distributed import ...``."""
from tegu.distributed import protocol as _protocol

_protocol.install()

from tegu.distributed.client import Client  # noqa: E402
from tegu.distributed.futures import (  # noqa: E402
    CancelledError, Future, FutureLost, TimeoutError, futures_of)
from tegu.distributed.registry import default_client  # noqa: E402
from tegu.distributed.waiting import (  # noqa: E402
    ALL_COMPLETED, FIRST_COMPLETED, FIRST_EXCEPTION, as_completed, fire_and_forget, wait)
from tegu.distributed.cluster import LocalCluster  # noqa: E402
from tegu.distributed.protocol import KilledWorker, RemoteError, Reschedule  # noqa: E402
from tegu.distributed.security import Security  # noqa: E402
from tegu.distributed.worker import (  # noqa: E402
    Scheduler, Worker, get_client, get_worker, rejoin, secede, worker_client)

__all__ = ["Client", "Future", "LocalCluster", "wait", "as_completed", "fire_and_forget",
           "futures_of", "get_client", "get_worker", "secede", "rejoin", "worker_client",
           "Scheduler", "Worker", "KilledWorker", "CancelledError", "TimeoutError", "Reschedule",
           "default_client", "FutureLost", "RemoteError", "ALL_COMPLETED", "FIRST_COMPLETED",
           "FIRST_EXCEPTION", "Security"]
