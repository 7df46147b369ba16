"""A cluster over mutual TLS: scheduler and worker in this process, a Client with Security."""
import os
import subprocess

import pytest

from tegu import _tegu
from tegu.distributed import Client, Security


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    (d / "leaf.ext").write_text("basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,"
                                "keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n")
    key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
    script = (f"openssl req -x509 {key} -keyout ca.key -out ca.pem -days 2 -subj /CN=ca "
              "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign "
              f"&& openssl req {key} -keyout node.key -out node.csr -subj /CN=node "
              "&& openssl x509 -req -in node.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
              "-days 2 -extfile leaf.ext -out node.pem")
    subprocess.run(script, shell=True, cwd=d, check=True, capture_output=True)
    return {"cert": str(d / "node.pem"), "key": str(d / "node.key"), "ca": str(d / "ca.pem")}


def inc(x):
    return x + 1


def test_client_over_mutual_tls(certificates):
    tls = {"tls_cert": certificates["cert"], "tls_key": certificates["key"],
           "tls_ca": certificates["ca"]}
    secret = _tegu.generate_secret()
    scheduler = _tegu.SchedulerService.start("tls://127.0.0.1:0", secret, **tls)
    worker = _tegu.WorkerService.start(scheduler.address, secret, "tls://127.0.0.1:0", **tls)
    try:
        assert scheduler.address.startswith("tls://")
        security = Security(tls_client_cert=certificates["cert"],
                            tls_client_key=certificates["key"], tls_ca_file=certificates["ca"])
        with Client(scheduler.address, secret=secret, security=security) as client:
            assert client.gather(client.map(inc, range(10))) == list(range(1, 11))
        # Without TLS the connection is refused; the cluster keeps working.
        with pytest.raises((OSError, ValueError)):
            _tegu.ClientCore.connect(scheduler.address, secret, 2.0)
        with Client(scheduler.address, secret=secret, security=security) as client:
            assert client.submit(inc, 41).result() == 42
    finally:
        worker.close()
        scheduler.close()


def test_security_names_what_is_missing(certificates):
    with pytest.raises(ValueError, match="tls_client_key"):
        Security(tls_client_cert=certificates["cert"], tls_ca_file=certificates["ca"])
    with pytest.raises(FileNotFoundError, match="tls_ca_file"):
        Security(tls_client_cert=certificates["cert"], tls_client_key=certificates["key"],
                 tls_ca_file=os.path.join(os.path.dirname(certificates["ca"]), "missing.pem"))
