"""A throw-away PKI for TLS tests, made with the ``openssl`` command line tool.

Two certificate authorities: ``ca`` signs the broker's certificate (for ``localhost`` and
``127.0.0.1``) and a client certificate; ``other_ca`` signs nothing the broker uses, so a
client trusting only it must refuse the broker ("wrong CA"). Keys are EC P-256, valid two days.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


def openssl_available() -> bool:
    return shutil.which("openssl") is not None


@dataclass(frozen=True)
class Pki:
    ca_cert: Path
    other_ca_cert: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _openssl(directory: Path, *args: str) -> None:
    result = subprocess.run(["openssl", *args], cwd=directory, capture_output=True, text=True,
                            timeout=60, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed:\n{result.stdout}{result.stderr}")


def _ca(directory: Path, name: str) -> tuple[Path, Path]:
    key, cert = directory / f"{name}.key", directory / f"{name}.pem"
    _openssl(directory, "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key.name, "-out", cert.name,
             "-days", "2", "-subj", f"/CN=kytos test {name}",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return cert, key


def _leaf(directory: Path, name: str, common_name: str, ca: tuple[Path, Path],
          extensions: str) -> tuple[Path, Path]:
    key, csr, cert = (directory / f"{name}.key", directory / f"{name}.csr",
                      directory / f"{name}.pem")
    ext = directory / f"{name}.ext"
    ext.write_text(extensions)
    _openssl(directory, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", key.name, "-out", csr.name, "-subj", f"/CN={common_name}")
    _openssl(directory, "x509", "-req", "-in", csr.name, "-CA", ca[0].name, "-CAkey",
             ca[1].name, "-CAcreateserial", "-out", cert.name, "-days", "2",
             "-extfile", ext.name)
    return cert, key


def make_pki(directory: Path) -> Pki:
    """Create the CAs and certificates in ``directory`` (which must exist)."""
    ca = _ca(directory, "ca")
    other_ca = _ca(directory, "other_ca")
    server = _leaf(directory, "server", "localhost", ca,
                   "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                   "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n")
    client = _leaf(directory, "client", "kytos-client", ca,
                   "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                   "extendedKeyUsage=clientAuth\n")
    return Pki(ca[0], other_ca[0], server[0], server[1], client[0], client[1])


def broker_tls_config(pki: Pki, tls_port: int) -> str:
    """rabbitmq.conf lines: a TLS listener that requires a client certificate from ``ca``."""
    return (f"listeners.ssl.default = {tls_port}\n"
            f"ssl_options.cacertfile = {pki.ca_cert}\n"
            f"ssl_options.certfile = {pki.server_cert}\n"
            f"ssl_options.keyfile = {pki.server_key}\n"
            "ssl_options.verify = verify_peer\n"
            "ssl_options.fail_if_no_peer_cert = true\n")
