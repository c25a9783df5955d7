"""Hosted-Kafka security from the producer's side: mutual TLS through stunnel, SASL, secrets kept quiet.

The embedded broker cannot speak TLS; tests/support/tls.py puts stunnel (mutual TLS, a fresh
throwaway CA) in front of it, with the broker advertising stunnel's port.
"""
from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path

import pytest

from studentflow.core import config, procs
from tests.support.produce import cli, cli_env, consume
from tests.support.tls import make_pki, tls_broker  # noqa: F401  (a fixture)

pytestmark = pytest.mark.slow

KEY_PASSWORD = "kp-do-not-print-7c1e"
SASL_PASSWORD = "sasl-do-not-print-52aa"


def ssl_env(tmp_path: Path, b, *, ca: Path | None = None, key: Path | None = None) -> dict:
    return cli_env(b.bootstrap, tmp_path, STUDENTFLOW_SECURITY_PROTOCOL="SSL",
                   STUDENTFLOW_SSL_CA_LOCATION=str(ca or b.pki["ca"]),
                   STUDENTFLOW_SSL_CERTIFICATE_LOCATION=str(b.pki["client_cert"]),
                   STUDENTFLOW_SSL_KEY_LOCATION=str(key or b.pki["client_key"]),
                   STUDENTFLOW_SSL_KEY_PASSWORD=KEY_PASSWORD)


def no_secret_anywhere(out: subprocess.CompletedProcess, folder: Path, *secrets: str) -> None:
    texts = [out.stdout.decode(errors="replace"), out.stderr.decode(errors="replace")]
    texts += [p.read_text(errors="replace") for p in folder.rglob("*.log")]
    for secret in secrets:
        assert all(secret not in t for t in texts), f"secret leaked: {secret}"


def test_ssl_produce_and_consume_with_an_encrypted_client_key(tls_broker, tmp_path):
    encrypted = tmp_path / "client-encrypted.key"
    subprocess.run(["openssl", "pkey", "-in", str(tls_broker.pki["client_key"]), "-aes256",
                    "-passout", f"pass:{KEY_PASSWORD}", "-out", str(encrypted)], check=True, capture_output=True)
    assert b"ENCRYPTED" in encrypted.read_bytes()
    env = ssl_env(tmp_path, tls_broker, key=encrypted)
    out = cli(env, "--count", "2000", "--seed", "3", "--malformed-rate", "0.1", "--topic", "t.ssl")
    assert out.returncode == 0, out.stderr.decode()
    assert "2,000 of 2,000 messages acknowledged by t.ssl" in out.stdout.decode()
    no_secret_anywhere(out, tmp_path, KEY_PASSWORD)

    s = config.load(env={k: v for k, v in env.items() if k.startswith("STUDENTFLOW_")})
    got = consume(s.kafka_client_config(), "t.ssl", 2000)
    dry = cli(env, "--count", "2000", "--seed", "3", "--malformed-rate", "0.1", "--dry-run").stdout
    assert Counter(m.value() for m in got) == Counter(dry.split(b"\n")[:-1])


def test_wrong_ca_fails_fast_with_one_clear_line(tls_broker, tmp_path):
    stranger = make_pki(tmp_path / "other-pki", name="stranger")   # a CA that did not sign the broker
    env = ssl_env(tmp_path, tls_broker, ca=stranger["ca"])
    out = cli(env, "--count", "100", "--topic", "t.ssl.bad", timeout=90)   # bounded: a hang fails here
    assert out.returncode != 0
    err = out.stderr.decode().strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0]
    assert err[0].startswith("studentflow: error: cannot reach Kafka at 127.0.0.1:")
    assert "certificate verify failed" in err[0]
    assert "ssl_ca_location" in err[0]                             # what to do next
    no_secret_anywhere(out, tmp_path, KEY_PASSWORD)


def test_sasl_secrets_never_printed(broker, tmp_path):
    # SASL_SSL towards a loopback port where nothing listens.
    nowhere = f"127.0.0.1:{procs.free_port()}"
    env = cli_env(nowhere, tmp_path, STUDENTFLOW_SECURITY_PROTOCOL="SASL_SSL",
                  STUDENTFLOW_SASL_MECHANISM="SCRAM-SHA-256", STUDENTFLOW_SASL_USERNAME="alice",
                  STUDENTFLOW_SASL_PASSWORD=SASL_PASSWORD, STUDENTFLOW_SSL_KEY_PASSWORD=KEY_PASSWORD)
    out = cli(env, "--count", "10", timeout=90)
    assert out.returncode != 0
    assert "Connection refused" in out.stderr.decode()
    no_secret_anywhere(out, tmp_path, SASL_PASSWORD, KEY_PASSWORD)

    # SASL_PLAINTEXT against a broker that does not do SASL: the handshake fails, quickly and clearly.
    env = cli_env(broker.bootstrap, tmp_path, STUDENTFLOW_SECURITY_PROTOCOL="SASL_PLAINTEXT",
                  STUDENTFLOW_SASL_MECHANISM="PLAIN", STUDENTFLOW_SASL_USERNAME="alice",
                  STUDENTFLOW_SASL_PASSWORD=SASL_PASSWORD)
    out = cli(env, "--count", "10", timeout=90)
    assert out.returncode != 0
    err = out.stderr.decode()
    assert "SASL" in err and "sasl_password" in err    # names the setting to check, never its value
    no_secret_anywhere(out, tmp_path, SASL_PASSWORD)

    # `studentflow config` shows the settings with the secrets masked.
    shown = subprocess.run([*cli_prefix(), "config"], env=env, capture_output=True, timeout=60)
    assert b"alice" in shown.stdout and SASL_PASSWORD.encode() not in shown.stdout


def cli_prefix() -> list[str]:
    import sys
    return [sys.executable, "-m", "studentflow.cli"]
