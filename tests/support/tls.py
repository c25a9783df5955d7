"""A TLS-terminated embedded broker for testing the hosted-Kafka SSL path.

The embedded broker cannot speak TLS itself, so stunnel (Debian `stunnel4`) terminates mutual
TLS in front of it and the broker advertises stunnel's port (docs/architecture.md). Certificates are
made fresh with openssl for every test.
"""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from studentflow import broker as broker_mod
from studentflow.core import procs


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(folder: Path, name: str = "ca") -> dict[str, Path]:
    """A CA, a server certificate for IP 127.0.0.1 and a client certificate, all PEM (PKCS#8 keys)."""
    folder.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.pem",
             "-days", "2", "-subj", f"/CN=studentflow-test-{name}", cwd=folder)
    for who, ext in (("server", "subjectAltName=IP:127.0.0.1"), ("client", "extendedKeyUsage=clientAuth")):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{who}.key", "-out", f"{who}.csr",
                 "-subj", f"/CN={who}", cwd=folder)
        (folder / f"{who}.ext").write_text(ext + "\n")
        _openssl("x509", "-req", "-in", f"{who}.csr", "-CA", f"{name}.pem", "-CAkey", f"{name}.key",
                 "-CAcreateserial", "-out", f"{who}.pem", "-days", "2", "-extfile", f"{who}.ext", cwd=folder)
    return {k: folder / f for k, f in (("ca", f"{name}.pem"), ("server_cert", "server.pem"), ("server_key", "server.key"),
                                       ("client_cert", "client.pem"), ("client_key", "client.key"))}


@dataclass
class TlsBroker:
    bootstrap: str
    pki: dict[str, Path]
    broker: object
    stunnel: object

    def stop(self) -> None:
        procs.stop_pid(self.stunnel.pid, timeout=5)
        procs.stop_pid(self.broker.pid, timeout=5)


def start_tls_broker(tmp: Path) -> TlsBroker:
    stunnel = shutil.which("stunnel4") or shutil.which("stunnel")
    assert stunnel, "stunnel4 is not installed: run `make setup` (scripts/apt-packages.txt lists it)"
    pki = make_pki(tmp / "pki")
    plain, tls = procs.free_port(), procs.free_port()
    b = broker_mod.start(plain, tmp / "broker.log", tie_to_parent=True, advertised_port=tls)
    conf = tmp / "stunnel.conf"
    conf.write_text(f"""foreground = yes
pid =
debug = warning
[kafka]
accept = 127.0.0.1:{tls}
connect = 127.0.0.1:{plain}
cert = {pki['server_cert']}
key = {pki['server_key']}
CAfile = {pki['ca']}
verifyChain = yes
requireCert = yes
""")
    s = procs.spawn([stunnel, str(conf)], tmp / "stunnel.log", tie_to_parent=True)
    procs.wait_until(lambda: procs.port_in_use(tls), timeout=10, what="stunnel", proc=s, log_path=tmp / "stunnel.log")
    return TlsBroker(f"127.0.0.1:{tls}", pki, b, s)


@pytest.fixture()
def tls_broker(tmp_path: Path):
    """An embedded broker behind stunnel (mutual TLS), stopped after the test."""
    b = start_tls_broker(tmp_path)
    yield b
    b.stop()
