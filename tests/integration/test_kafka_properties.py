"""A hosted cluster as it is: its replication rule, and client properties from the [kafka] table.

The cluster is the real embedded broker behind a loopback tap (tests/support/kafkatap.py) that
reads what each client sends: the client.id of every request, the replication factor of every
CreateTopics. The embedded broker has no setting that refuses a factor, so for "a cluster that
requires 3" the tap answers a CreateTopics asking for 1 with INVALID_REPLICATION_FACTOR itself.
The clients are the real ones: the `studentflow` CLI's producer, admin and lag consumer
(librdkafka) and the distributed Apache Kafka Connect worker (Java).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from connect.runtime import embedded_session_lines
from studentflow.core import procs
from tests.support.kafkatap import start_tapped_broker
from tests.support.stackutil import force_down, sf, stack_env

pytestmark = pytest.mark.slow

RDK_SECRET = "rdk-secret-5a1c9e"
JAVA_SECRET = "jvm-secret-83d2f0"
PRODUCE, FETCH, JOIN_GROUP, CREATE_TOPICS = 0, 1, 11, 19


@pytest.fixture()
def tapped(tmp_path):
    """A 'hosted' cluster that refuses replication factor 1."""
    tap, bootstrap, proc = start_tapped_broker(tmp_path / "broker", refuse_replication=1)
    yield tap, bootstrap
    tap.stop()
    procs.stop_pid(proc.pid)
    assert not procs.pid_alive(proc.pid)


def _env(tmp_path: Path, bootstrap: str, toml: str) -> dict:
    cfg = tmp_path / "studentflow.toml"
    cfg.write_text(f'bootstrap_servers = "{bootstrap}"\n' + toml)
    # SPARK_REMOTE names an endpoint nobody serves: `stack up` starts no Spark (none is needed here).
    return stack_env(tmp_path, own_spark=True, STUDENTFLOW_CONFIG=str(cfg), STUDENTFLOW_SPARK_REMOTE="sc://127.0.0.1:9")


def test_a_hosted_cluster_gets_its_own_default_factor_and_the_client_id(tapped, tmp_path):
    tap, bootstrap = tapped
    env = _env(tmp_path, bootstrap, '[kafka]\n"client.id" = "sf-hosted"\n')
    res = sf(env, "produce", "--count", "40", "--seed", "3", check=True)
    assert "40" in res.stdout
    assert tap.seen.created == [("students.raw", -1, "sf-hosted")]   # -1: the cluster's default, not 1
    assert tap.seen.refused == []
    assert tap.seen.clients[PRODUCE] == {"sf-hosted"}


def test_a_factor_the_cluster_refuses_is_one_clear_line_and_the_configured_one_is_used(tapped, tmp_path):
    tap, bootstrap = tapped
    env = _env(tmp_path, bootstrap, "replication_factor = 1\n")
    res = sf(env, "produce", "--count", "5")
    assert res.returncode != 0
    assert "refuses topic students.raw with replication factor 1" in res.stderr
    assert "replication_factor" in res.stderr and "Traceback" not in res.stderr
    assert tap.seen.refused == [("students.raw", 1)]

    env = _env(tmp_path, bootstrap, "replication_factor = 3\n")
    sf(env, "produce", "--count", "5", check=True)
    assert [(t, rf) for t, rf, _ in tap.seen.created] == [("students.raw", 3)]
    from confluent_kafka.admin import AdminClient

    md = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10)
    assert all(len(p.replicas) == 3 for p in md.topics["students.raw"].partitions.values())  # the broker's own record


def test_the_worker_and_every_client_get_the_kafka_table(tapped, tmp_path):
    tap, bootstrap = tapped
    env = _env(tmp_path, bootstrap, f'''connect_mode = "distributed"
replication_factor = 3
[kafka]
"client.id" = "sf-shared"
[kafka.librdkafka]
"ssl.key.password" = "{RDK_SECRET}"
[kafka.java]
"client.id" = "sf-jvm"
"ssl.key.password" = "{JAVA_SECRET}"
{embedded_session_lines()}''')
    outputs = []
    try:
        outputs.append(sf(env, "stack", "up", check=True))
        outputs.append(sf(env, "connect", "apply", check=True))
        outputs.append(sf(env, "produce", "--count", "200", "--seed", "4", check=True))
        outputs.append(sf(env, "connect", "lag", "--wait", "--timeout", "120", check=True))
        outputs += [sf(env, "config"), sf(env, "stack", "status", "--json"), sf(env, "connect", "status")]
        props = tmp_path / "state" / "connect-distributed.properties"
        props_text = props.read_text()
    finally:
        force_down(env)
    staged = (tmp_path / "data" / "staging" / "students.raw.txt").read_bytes().split(b"\n")[:-1]
    assert len(staged) >= 200

    # The replication factor asked for, by the CLI's admin and by the worker's own admin.
    created = {topic: (rf, cid) for topic, rf, cid in tap.seen.created}
    assert created["students.raw"] == (3, "sf-shared")
    for kind in ("configs", "offsets", "status"):
        rf, cid = created[f"studentflow-connect-{kind}"]
        assert rf == 3 and "sf-jvm" in cid   # the worker's shared admin: "<group>-<client.id>-shared-admin"
    assert tap.seen.refused == []
    # client.id on the wire: the Python producer, the sink task's consumer, the worker's group member.
    assert tap.seen.clients[PRODUCE] >= {"sf-shared"}
    assert "sf-jvm" in tap.seen.clients[FETCH]          # consumer.client.id (the sink task)
    assert "sf-jvm" in tap.seen.clients[JOIN_GROUP]     # the worker's own client.id
    assert "rdkafka" not in tap.seen.clients[PRODUCE]   # librdkafka's default id never appears
    # The rendered worker properties: the worker and its three kinds of client, owner-only.
    for prefix in ("", "consumer.", "producer.", "admin."):
        assert f"{prefix}client.id=sf-jvm\n" in props_text
        assert f"{prefix}ssl.key.password={JAVA_SECRET}\n" in props_text
    assert RDK_SECRET not in props_text
    assert props.stat().st_mode & 0o777 == 0o600
    # Secrets: in no output and no log.
    shown = "".join(r.stdout + r.stderr for r in outputs)
    logs = "".join(p.read_text(errors="replace") for p in (tmp_path / "state" / "logs").rglob("*") if p.is_file())
    assert "client.id=sf-shared" in shown and "********" in shown   # `config` shows the table, masked
    for secret in (RDK_SECRET, JAVA_SECRET):
        assert secret not in shown and secret not in logs
