"""Secrets kept, and nothing listens beyond loopback.

A client key encrypted with a password (mutual TLS through stunnel in front of the embedded
broker) must work for the Connect worker and the producer, while the password appears in no
output, log, process argument list or environment, and only in the worker's owner-only
properties file. The embedded broker and the Connect REST server listen on 127.0.0.1 only:
read from the kernel's table of listening sockets (/proc/net/tcp, tcp6).
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from studentflow.core import config
from tests.support.stackutil import force_down, sf, stack_env, status, tansu_config
from tests.support.tls import start_tls_broker

pytestmark = pytest.mark.slow

KEY_PASSWORD = "s3cret-key-pass-7d1e"
SASL_PASSWORD = "s3cret-sasl-pass-2b9a"
CONNECT_PASSWORD = "s3cret-rest-pass-4c0f"
LISTEN = "0A"


def listening(pid: int) -> list[tuple[str, int]]:
    """(address, port) of every listening TCP socket the process owns."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            local, state, inode = cols[1], cols[3], cols[9]
            if state == LISTEN and inode in inodes:
                addr, port = local.split(":")
                found.append((_addr(addr), int(port, 16)))
    return found


def _addr(hexaddr: str) -> str:
    import ipaddress
    raw = bytes.fromhex(hexaddr)
    if len(raw) == 4:
        return str(ipaddress.IPv4Address(raw[::-1]))
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))  # /proc prints 32-bit words in host order
    ip6 = ipaddress.IPv6Address(words)
    return str(ip6.ipv4_mapped or ip6)  # Java binds 127.0.0.1 as ::ffff:127.0.0.1


def _loopback(addr: str) -> bool:
    import ipaddress
    ip = ipaddress.ip_address(addr)
    return ip.is_loopback or (ip.version == 6 and ip.ipv4_mapped is not None and ip.ipv4_mapped.is_loopback)


def test_broker_and_connect_listen_on_loopback_only(tmp_path):
    env = stack_env(tmp_path)
    try:
        sf(env, "stack", "up", check=True)
        st = status(env)
        broker, connect = listening(st["broker_pid"]), listening(st["connect_pid"])
        assert ("127.0.0.1", st["broker_port"]) in broker
        assert ("127.0.0.1", st["connect_port"]) in connect
        for addr, port in broker + connect:
            assert _loopback(addr), f"port {port} listens on {addr}, not loopback"
    finally:
        force_down(env)


def _encrypted_key(pki: dict, folder: Path) -> Path:
    # PBES1 (SHA1 + 3DES): what both Java 17's EncryptedPrivateKeyInfo and OpenSSL 3 decrypt (Java 17 lacks PBES2 here).
    out = folder / "client-encrypted.key"
    subprocess.run(["openssl", "pkcs8", "-topk8", "-in", str(pki["client_key"]), "-out", str(out),
                    "-v1", "PBE-SHA1-3DES", "-passout", f"pass:{KEY_PASSWORD}"], check=True, capture_output=True)
    assert "ENCRYPTED PRIVATE KEY" in out.read_text()
    return out


def _proc_text(pid: int) -> str:
    return b" ".join(Path(f"/proc/{pid}/{part}").read_bytes() for part in ("cmdline", "environ")).decode(errors="replace")


def test_an_encrypted_key_password_stays_secret(tmp_path):
    tls = start_tls_broker(tmp_path)
    key = _encrypted_key(tls.pki, tmp_path / "pki")
    env = stack_env(tmp_path, STUDENTFLOW_CONFIG=tansu_config(tmp_path),
                    STUDENTFLOW_BOOTSTRAP_SERVERS=tls.bootstrap, STUDENTFLOW_SECURITY_PROTOCOL="SSL",
                    STUDENTFLOW_SSL_CA_LOCATION=str(tls.pki["ca"]),
                    STUDENTFLOW_SSL_CERTIFICATE_LOCATION=str(tls.pki["client_cert"]),
                    STUDENTFLOW_SSL_KEY_LOCATION=str(key), STUDENTFLOW_SSL_KEY_PASSWORD=KEY_PASSWORD,
                    STUDENTFLOW_SASL_PASSWORD=SASL_PASSWORD, STUDENTFLOW_CONNECT_PASSWORD=CONNECT_PASSWORD)
    outputs = []
    try:
        outputs.append(sf(env, "stack", "up", check=True))
        st = status(env)
        outputs.append(sf(env, "connect", "apply", check=True))
        outputs.append(sf(env, "produce", "--count", "300", "--seed", "2", check=True))  # librdkafka decrypts it
        outputs.append(sf(env, "connect", "lag", "--wait", "--timeout", "90", check=True))  # so does the worker
        staged = (tmp_path / "data" / "staging" / "students.raw.txt").read_bytes().split(b"\n")[:-1]
        assert len(staged) >= 300
        outputs += [sf(env, "config"), sf(env, "stack", "status", "--json"), sf(env, "connect", "status")]
        worker_seen = _proc_text(st["connect_pid"])  # its `ps` argument list and its environment
        props = tmp_path / "state" / "connect-standalone.properties"
        props_text = props.read_text()
    finally:
        force_down(env)
        tls.stop()
    secrets = (KEY_PASSWORD, SASL_PASSWORD, CONNECT_PASSWORD)
    shown = "".join(r.stdout + r.stderr for r in outputs)
    logs = "".join(p.read_text(errors="replace") for p in (tmp_path / "state" / "logs").rglob("*") if p.is_file())
    for secret in secrets:
        assert secret not in shown and secret not in logs and secret not in worker_seen
    assert "********" in shown  # `config` masks them
    # The one place the key password lives: the worker's properties, owner-only.
    assert f"ssl.key.password={KEY_PASSWORD}" in props_text
    assert props.stat().st_mode & 0o777 == 0o600
    for other in (tmp_path / "state").iterdir():
        if other.is_file() and any(s in other.read_text(errors="replace") for s in secrets):
            assert other.stat().st_mode & 0o077 == 0, f"{other.name} holds a secret and others can read it"


def test_spark_gets_no_secret_on_its_command_line(settings):
    from spark_jobs.session import spark_conf

    s = settings.with_overrides(ssl_key_password=KEY_PASSWORD, sasl_password=SASL_PASSWORD,
                                connect_password=CONNECT_PASSWORD, quality_key="quality-key-s3cr3t")
    text = repr(spark_conf(s))
    assert not any(secret in text for secret in (KEY_PASSWORD, SASL_PASSWORD, CONNECT_PASSWORD, "quality-key-s3cr3t"))
    assert config.SECRET_KEYS == {"ssl_key_password", "sasl_password", "connect_password", "quality_key"}
