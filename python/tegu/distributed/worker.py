"""Helpers for code running inside tasks (get_worker, get_client, secede, rejoin,
worker_client) and the in-process Scheduler and Worker services."""
from __future__ import annotations

import asyncio
import contextlib
import threading
import weakref

from tegu import _tegu
from tegu.distributed.client import Client
from tegu.distributed.registry import (_current_default, _local_secrets, _register_secret,
                                       default_client)

__all__ = ["get_worker", "get_client", "secede", "rejoin", "worker_client", "Scheduler", "Worker"]


class WorkerInfo:
    """What a task sees of the worker running it (``get_worker()``)."""

    def __init__(self, info):
        self.address = info["worker_address"]
        self.scheduler_address = info["scheduler_address"]
        self.name = info.get("worker_name", "")
        self.nthreads = info.get("nthreads", 1)
        self.secret = info.get("secret")
        self.key = info.get("key")

    @property
    def id(self):
        return self.name

    def __repr__(self):
        return f"<Worker {self.address!r}, name: {self.name}, nthreads: {self.nthreads}>"


def _task_info():
    return _tegu.current_task()


def get_worker():
    """The worker running the current task; ValueError outside a task."""
    info = _task_info()
    if info is None:
        raise ValueError("No worker found")
    return WorkerInfo(info)


_services: "weakref.WeakSet" = weakref.WeakSet()  # Scheduler and Worker objects, closed at exit
_worker_clients: dict = {}
_worker_clients_lock = threading.Lock()


def get_client(address=None, timeout=None, resolve_address=True):
    """Inside a task: a client of the worker's scheduler (one per process and scheduler).
    Elsewhere: the default client, or ValueError('No clients found')."""
    info = _task_info()
    if info is not None and (address is None or address == info["scheduler_address"]):
        sched = info["scheduler_address"]
        with _worker_clients_lock:
            client = _worker_clients.get(sched)
            if client is None or client.status != "running":
                client = Client(sched, secret=info["secret"], set_as_default=False,
                                timeout=timeout or 10)
                _worker_clients[sched] = client
        return client
    if address is not None:
        default = _current_default()
        if default is not None and default.scheduler_address == address:
            return default
        return Client(address, timeout=timeout or 10)
    return default_client()


def secede():
    """The current task leaves its worker's thread pool (long-running tasks that wait)."""
    _tegu.secede()


def rejoin():
    """The current task takes a thread slot of its worker again."""
    _tegu.rejoin()


@contextlib.contextmanager
def worker_client(timeout=None, separate_thread=True):
    """``with worker_client() as client:`` inside a task: secede, a client, rejoin."""
    client = get_client(timeout=timeout)
    if separate_thread:
        secede()
    try:
        yield client
    finally:
        if separate_thread:
            rejoin()


class _InProcessService:
    """The sync and async context-manager protocol of the in-process services: a subclass
    defines start() (idempotent, returns self) and close(); _astart() runs start() for await."""

    async def _astart(self):
        return self.start()

    def __await__(self):
        return self._astart().__await__()

    async def __aenter__(self):
        return await self._astart()

    async def __aexit__(self, *exc):
        self.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()


class Scheduler(_InProcessService):
    """A scheduler service in this process: ``async with Scheduler() as s:``."""

    def __init__(self, secret=None, port=0, host="127.0.0.1", tick_ms=100, **kwargs):
        self.secret = secret or _tegu.generate_secret()
        self._spec = f"tcp://{host}:{port}"
        self._tick = tick_ms
        self._service = None
        self.address = None
        _services.add(self)

    def start(self):
        if self._service is None:
            self._service = _tegu.SchedulerService.start(self._spec, self.secret, self._tick)
            self.address = self._service.address
            _register_secret(self.address, self.secret)
        return self

    def close(self):
        if self._service is not None:
            self._service.close()
            _local_secrets.pop(self.address, None)
            self._service = None

    @property
    def workers(self):
        return {w["address"]: w for w in self._service.workers()} if self._service else {}

    def __repr__(self):
        return f"<Scheduler {self.address!r}, workers: {len(self.workers)}>"


class Worker(_InProcessService):
    """A worker service in this process: ``async with Worker(s.address) as w:``."""

    def __init__(self, scheduler_address, nthreads=1, secret=None, name="", memory_limit=0,
                 host="127.0.0.1", **kwargs):
        if not isinstance(scheduler_address, str) and hasattr(scheduler_address, "address"):
            secret = secret or getattr(scheduler_address, "secret", None)
            scheduler_address = scheduler_address.address
        if secret is None:
            from tegu.distributed.registry import _find_secret

            secret = _find_secret(scheduler_address, None)
        self.scheduler_address = scheduler_address
        self.secret = secret
        self.nthreads = nthreads
        self.name = str(name) if name is not None else ""
        self._memory_limit = memory_limit
        self._host = host
        self._service = None
        self.address = None
        _services.add(self)

    def start(self):
        if self._service is None:
            self._service = _tegu.WorkerService.start(self.scheduler_address, self.secret,
                                                      f"tcp://{self._host}:0", self.name,
                                                      int(self.nthreads), int(self._memory_limit))
            self.address = self._service.address
        return self

    async def _astart(self):
        # Joining the scheduler blocks until it answers: off the event loop.
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self.start)

    def close(self):
        if self._service is not None:
            self._service.close()
            self._service = None

    def __repr__(self):
        return f"<Worker {self.address!r}, nthreads: {self.nthreads}>"
