"""The scheduler refuses peers without the secret and survives garbage on its port."""
import os
import socket

import pytest

from tegu import _tegu
from tegu.distributed import Client


def inc(x):
    return x + 1


def _host_port(address):
    host, port = address.split("://")[-1].rsplit(":", 1)
    return host, int(port)


def test_wrong_secret_refused(cluster):
    with pytest.raises((OSError, ValueError)):
        _tegu.ClientCore.connect(cluster.scheduler_address, "not-the-secret", 5.0)
    with pytest.raises((OSError, ValueError)):
        Client(cluster.scheduler_address, secret="wrong", timeout=5, set_as_default=False)
    with Client(cluster, set_as_default=False) as c:
        assert c.submit(inc, 1).result() == 2


def test_missing_secret_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("TEGU_SECRET", raising=False)
    monkeypatch.delenv("TEGU_SECRET_FILE", raising=False)
    with pytest.raises(ValueError, match="secret"):
        Client("tcp://127.0.0.1:1", set_as_default=False)


def test_secret_from_env_and_file(cluster, monkeypatch, tmp_path):
    from tegu.distributed import client as client_module

    # not found through the registry of in-process schedulers: from the environment
    monkeypatch.delitem(client_module._local_secrets, cluster.scheduler_address)
    monkeypatch.setenv("TEGU_SECRET", cluster.secret)
    with Client(cluster.scheduler_address, set_as_default=False) as c:
        assert c.submit(inc, 2).result() == 3
    monkeypatch.delenv("TEGU_SECRET")
    path = tmp_path / "secret"
    path.write_text(cluster.secret + "\n")
    monkeypatch.setenv("TEGU_SECRET_FILE", str(path))
    with Client(cluster.scheduler_address, set_as_default=False) as c:
        assert c.submit(inc, 3).result() == 4


def test_garbage_bytes_then_cluster_still_works(cluster):
    host, port = _host_port(cluster.scheduler_address)
    for payload in (b"\x00" * 64, os.urandom(4096), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                    b"TGU1" + os.urandom(200), b"\xff" * 100000):
        with socket.create_connection((host, port), timeout=5) as s:
            try:
                s.sendall(payload)
                s.settimeout(2)
                s.recv(1024)
            except OSError:
                pass
    # a connection that sends nothing and stays open
    idle = socket.create_connection((host, port), timeout=5)
    try:
        with Client(cluster, set_as_default=False) as c:
            assert c.gather(c.map(inc, range(20))) == list(range(1, 21))
            assert len(c.nthreads()) == 2
    finally:
        idle.close()
