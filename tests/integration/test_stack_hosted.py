"""Pointing the stack at a 'hosted' Kafka: SSL with CA, client certificate and key (mutual TLS).

No paid service here: stunnel terminates TLS in front of the embedded broker, which is what
the Connect worker (Java client, PEM trust/key stores) and librdkafka clients must talk to.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from studentflow.core import config, procs
from tests.support.stackutil import force_down, sf, stack_env, status, tansu_config
from tests.support.tls import tls_broker  # noqa: F401  (a fixture)

pytestmark = pytest.mark.slow

KEY_PASSWORD = "not-for-the-logs-9f3c"


def _ssl_env(tmp_path: Path, b, ca: Path | None = None) -> dict:
    return stack_env(tmp_path, STUDENTFLOW_CONFIG=tansu_config(tmp_path),
                     STUDENTFLOW_BOOTSTRAP_SERVERS=b.bootstrap,
                     STUDENTFLOW_SECURITY_PROTOCOL="SSL",
                     STUDENTFLOW_SSL_CA_LOCATION=str(ca or b.pki["ca"]),
                     STUDENTFLOW_SSL_CERTIFICATE_LOCATION=str(b.pki["client_cert"]),
                     STUDENTFLOW_SSL_KEY_LOCATION=str(b.pki["client_key"]),
                     STUDENTFLOW_SSL_KEY_PASSWORD=KEY_PASSWORD)  # unused by an unencrypted key; must stay secret


def test_worker_and_clients_use_ssl_settings(tls_broker, tmp_path):
    env = _ssl_env(tmp_path, tls_broker)
    try:
        up = sf(env, "stack", "up", check=True)
        assert "using configured Kafka" in up.stdout
        st = status(env)
        assert st["broker_pid"] == 0  # nothing embedded for Kafka: the configured cluster is used
        sf(env, "connect", "apply", check=True)

        from confluent_kafka import Producer
        s = config.load(env={k: v for k, v in env.items() if k.startswith("STUDENTFLOW_")})
        p = Producer({**s.kafka_client_config(), "acks": "all"})
        values = [f"ssl-{i}".encode() for i in range(2000)]
        for v in values:
            p.produce(s.topic, v)
        assert p.flush(30) == 0
        sf(env, "connect", "lag", "--wait", "--timeout", "90", check=True)
        staged = (tmp_path / "data" / "staging" / "students.raw.txt").read_bytes().split(b"\n")[:-1]
        assert Counter(staged) == Counter(values)

        # Secrets never reach output or logs; the worker's properties file is owner-only.
        shown = sf(env, "config").stdout + sf(env, "stack", "status", "--json").stdout + up.stdout + up.stderr
        logs = "".join(p.read_text(errors="replace") for p in (tmp_path / "state" / "logs").glob("*"))
        assert KEY_PASSWORD not in shown and KEY_PASSWORD not in logs
        props = tmp_path / "state" / "connect-standalone.properties"
        assert props.stat().st_mode & 0o077 == 0
    finally:
        force_down(env)


def test_wrong_ca_fails_clearly(tls_broker, tmp_path):
    from tests.support.tls import make_pki

    other = make_pki(tmp_path / "other", name="otherca")
    env = _ssl_env(tmp_path, tls_broker, ca=other["ca"])
    res = sf(env, "stack", "up", timeout=90)
    assert res.returncode != 0
    assert "cannot reach the configured Kafka" in res.stderr
    assert "certificate verify failed" in res.stderr and "ssl_ca_location" in res.stderr   # the cause and its fix
    assert "Traceback" not in res.stderr
    assert not status(env)["running"]
