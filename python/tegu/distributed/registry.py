"""Process-wide registries of tegu.distributed: the default clients (``default_client``,
``Client.as_current``) and the secrets of the schedulers running in this process.

Thread-safety: the default-client list is guarded by ``_clients_lock`` and may be used from
any thread. ``_local_secrets`` is a plain dict: single inserts and lookups (atomic under the
GIL) are its only uses."""
from __future__ import annotations

import os
import threading
import weakref

from tegu import config

__all__ = ["default_client"]

# ---- default client -------------------------------------------------------------------------

_clients_lock = threading.Lock()
_default_clients: list = []  # weakrefs, the last open one is the default


def _set_default(client):
    with _clients_lock:
        _default_clients.append(weakref.ref(client))


def _unset_default(client):
    with _clients_lock:
        _default_clients[:] = [r for r in _default_clients if r() is not None and r() is not client]


def default_client(c=None):
    """The default client (the last one created with set_as_default that is still open)."""
    if c is not None:
        return c
    with _clients_lock:
        for ref in reversed(_default_clients):
            cl = ref()
            if cl is not None and cl.status == "running":
                return cl
    raise ValueError("No clients found\nStart a client and point it to the scheduler address\n"
                     "  from tegu.distributed import Client\n  client = Client('ip-addr-of-scheduler:8786')\n")


def _current_default():
    try:
        return default_client()
    except ValueError:
        return None


# ---- secrets --------------------------------------------------------------------------------

_local_secrets: dict = {}  # address -> secret of schedulers running in this process


def _register_secret(address, secret):
    _local_secrets[address] = secret


def _find_secret(address, secret):
    if secret is not None:
        return secret
    if address in _local_secrets:
        return _local_secrets[address]
    env = os.environ.get("TEGU_SECRET")
    if env:
        return env
    cfg = config.get("distributed.secret", None)
    if cfg:
        return cfg
    path = os.environ.get("TEGU_SECRET_FILE")
    if path:
        with open(path) as f:
            return f.read().strip()
    raise ValueError(f"No secret for the scheduler at {address}: pass Client(address, secret=...), "
                     "or set TEGU_SECRET, the config key distributed.secret, or TEGU_SECRET_FILE "
                     "(a file holding the secret)")


class _AsCurrent:
    """Client.as_current(): the client is the default inside the with block."""

    def __init__(self, client):
        self.client = client

    def __enter__(self):
        _set_default(self.client)
        return self.client

    def __exit__(self, *exc):
        with _clients_lock:
            for i in range(len(_default_clients) - 1, -1, -1):
                if _default_clients[i]() is self.client:
                    del _default_clients[i]
                    break
