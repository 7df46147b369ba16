"""Security: TLS files for connections to a ``tls://`` cluster, as ``distributed.Security``.

The cluster's secret is still required on every connection (it runs inside TLS); TLS adds
encryption and mutual certificate checks. Thread-safety: an immutable value.
"""
from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Security:
    """PEM files: this party's certificate and key, and the CA that signed the cluster's
    certificates (peers must present one it signed). All three are needed for ``tls://``."""

    tls_client_cert: str | None = None
    tls_client_key: str | None = None
    tls_ca_file: str | None = None
    require_encryption: bool = True

    def __post_init__(self):
        files = {"tls_client_cert": self.tls_client_cert, "tls_client_key": self.tls_client_key,
                 "tls_ca_file": self.tls_ca_file}
        given = {k: v for k, v in files.items() if v}
        if given and len(given) != 3:
            missing = sorted(set(files) - set(given))
            raise ValueError(f"Security: TLS needs all of tls_client_cert, tls_client_key and "
                             f"tls_ca_file; missing {', '.join(missing)}")
        for name, path in given.items():
            if not os.path.isfile(path):
                raise FileNotFoundError(f"Security: {name} {path!r} is not a file")

    def tls_args(self) -> dict:
        """Keyword arguments for the engine's connect/start calls."""
        if not self.tls_client_cert:
            return {}
        return {"tls_cert": self.tls_client_cert, "tls_key": self.tls_client_key,
                "tls_ca": self.tls_ca_file}
