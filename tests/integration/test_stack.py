"""The local stack end to end with real processes: Tansu broker + Apache Kafka Connect worker."""
from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections import Counter
from pathlib import Path

import pytest

from studentflow.core import procs
from tests.support.stackutil import force_down, produce, sf, stack_env, status, stack_session

pytestmark = pytest.mark.slow


@pytest.fixture()
def env(tmp_path: Path):
    with stack_session(tmp_path) as e:
        yield e


def _values(n: int, tag: str = "m") -> list[bytes]:
    # Mixed content on purpose: JSON, CSV-like, accents, and an empty message.
    out = []
    for i in range(n):
        if i % 1000 == 7:
            out.append(b"")
        elif i % 3 == 0:
            out.append(f"Élodie,Dupont,{18 + i % 10},Informatique #{tag}{i}".encode())
        else:
            out.append(json.dumps({"i": i, "tag": tag, "major": "Mathématiques"}, ensure_ascii=False).encode())
    return out


def test_up_produce_sink_lag_down(env, tmp_path):
    up = sf(env, "stack", "up", check=True)
    assert "bootstrap server: 127.0.0.1:" in up.stdout and "Connect REST:" in up.stdout
    st = status(env)
    assert st["running"] and st["broker_port"] != st["connect_port"]
    # A second `up` changes nothing.
    again = sf(env, "stack", "up", check=True)
    assert "already running" in again.stdout and "the broker and the Connect worker are kept" in again.stdout
    assert "starting" not in again.stdout   # nothing was (re)started
    assert status(env)["broker_pid"] == st["broker_pid"] and status(env)["connect_pid"] == st["connect_pid"]
    # Everything binds to loopback only.
    assert st["bootstrap"].startswith("127.0.0.1:") and st["connect_url"].startswith("http://127.0.0.1:")

    values = _values(10_000)
    produce(st["bootstrap"], "students.raw", values)
    sf(env, "connect", "apply", check=True)
    lag = sf(env, "connect", "lag", "--wait", "--timeout", "120", "--json", check=True)
    assert json.loads(lag.stdout)["total_lag"] == 0

    staged = (tmp_path / "data" / "staging" / "students.raw.txt").read_bytes().split(b"\n")
    assert staged[-1] == b""  # every line ends with a newline
    assert Counter(staged[:-1]) == Counter(values)  # byte for byte, nothing lost or added

    # The worker logs at INFO through its own log4j2 config.
    assert " INFO " in Path(st["connect_log"]).read_text()

    down = sf(env, "stack", "down", check=True)
    assert "connect" in down.stdout and "broker" in down.stdout
    assert not procs.pid_alive(st["broker_pid"]) and not procs.pid_alive(st["connect_pid"])
    assert sf(env, "stack", "status").returncode == 1


def test_apply_is_idempotent_and_updates_and_validates(env, tmp_path):
    sf(env, "stack", "up", check=True)
    first = sf(env, "connect", "apply", check=True)
    assert "students-staging-sink: created" in first.stdout
    second = sf(env, "connect", "apply", check=True)
    assert "students-staging-sink: unchanged" in second.stdout

    # A changed file updates the running connector.
    doc = json.loads((Path(__file__).parents[2] / "connect/connectors/staging-sink.json").read_text())
    doc["config"]["consumer.override.max.poll.records"] = "5000"
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(doc))
    upd = sf(env, "connect", "apply", str(changed), check=True)
    assert "students-staging-sink: updated" in upd.stdout
    from connect.rest import RestClient
    live = RestClient(status(env)["connect_url"]).request("GET", "/connectors/students-staging-sink/config")
    assert live["consumer.override.max.poll.records"] == "5000"

    # validate names the bad field and exits non-zero.
    bad = json.loads(json.dumps(doc))
    bad["config"]["tasks.max"] = "not-a-number"
    bad_file = tmp_path / "bad.json"
    bad_file.write_text(json.dumps(bad))
    res = sf(env, "connect", "validate", str(bad_file))
    assert res.returncode == 1
    assert "tasks.max" in res.stderr

    # An unknown connector class gets a clear message listing what is installed.
    unknown = {"name": "x", "config": {"connector.class": "com.example.NoSuchSink", "topics": "t"}}
    unknown_file = tmp_path / "unknown.json"
    unknown_file.write_text(json.dumps(unknown))
    res = sf(env, "connect", "apply", str(unknown_file))
    assert res.returncode == 1
    assert "unknown connector class 'com.example.NoSuchSink'" in res.stderr
    assert "FileStreamSinkConnector" in res.stderr


def _staged_lines(path: Path) -> int:
    try:
        with open(path, "rb") as fh:
            return fh.read().count(b"\n")
    except FileNotFoundError:
        return 0


def test_worker_killed_mid_stream_loses_nothing(env, tmp_path):
    sf(env, "stack", "up", check=True)
    st = status(env)
    staging = tmp_path / "data" / "staging" / "students.raw.txt"
    first = _values(100_000, "a")
    produce(st["bootstrap"], "students.raw", first)  # a backlog, so the kill lands while the sink drains it
    # A sink that takes small bites (500 records a poll) so the drain lasts long enough to be cut.
    doc = json.loads((Path(__file__).parents[2] / "connect/connectors/staging-sink.json").read_text())
    doc["config"]["consumer.override.max.poll.records"] = "500"
    slow = tmp_path / "slow-sink.json"
    slow.write_text(json.dumps(doc))
    sf(env, "connect", "apply", str(slow), check=True)
    while _staged_lines(staging) == 0:  # observed progress: the sink has started writing
        assert procs.pid_alive(st["connect_pid"])
        time.sleep(0.005)
    os.kill(st["connect_pid"], signal.SIGKILL)
    while procs.pid_alive(st["connect_pid"]):
        time.sleep(0.01)
    staged_at_kill = _staged_lines(staging)
    # The fault hit the stage it targets: the worker died part-way through the backlog.
    assert 0 < staged_at_kill < len(first), staged_at_kill
    second = _values(5_000, "b")
    produce(st["bootstrap"], "students.raw", second)  # the broker keeps taking events meanwhile

    restarted = sf(env, "stack", "up", check=True)
    assert "stack ready" in restarted.stdout  # the dead worker was noticed and restarted
    st2 = status(env)
    assert st2["connect_pid"] != st["connect_pid"]
    assert st2["broker_pid"] == st["broker_pid"]  # the broker (and its in-memory topic) was kept
    sf(env, "connect", "apply", str(slow), check=True)  # standalone mode keeps connector configs in memory only
    sf(env, "connect", "lag", "--wait", "--timeout", "120", check=True)
    staged = Counter(staging.read_bytes().split(b"\n")[:-1])
    produced = Counter(first + second)
    missing = [v for v in produced if staged[v] < produced[v]]
    assert not missing, f"{len(missing)} messages lost, e.g. {missing[:3]}"
    invented = [v for v in staged if v not in produced]
    assert not invented, f"{len(invented)} staged lines were never produced, e.g. {invented[:3]}"
    # At-least-once: the lines re-sent after the restart are duplicates, counted (not asserted on).
    print(f"staged at the kill: {staged_at_kill} of {len(first)}; "
          f"duplicates after kill -9: {sum(staged.values()) - sum(produced.values())}")


def test_port_in_use_is_a_one_line_error(env):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        res = sf(env, "stack", "up", "--broker-port", str(port))
    assert res.returncode != 0
    assert f"port {port} is already in use" in res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not status(env)["running"]


def test_missing_java_is_a_one_line_error(env, tmp_path):
    env = dict(env, PATH=str(tmp_path / "empty-bin"), JAVA_HOME=str(tmp_path / "nojava"))
    res = sf(env, "stack", "up")
    assert res.returncode != 0
    assert "Java not found" in res.stderr and "openjdk-17-jre-headless" in res.stderr
    assert "Traceback" not in res.stderr


def test_missing_jar_is_a_one_line_error(env, tmp_path):
    libs = tmp_path / "libs"
    libs.mkdir()
    res = sf(dict(env, STUDENTFLOW_CONNECT_LIBS_DIR=str(libs)), "stack", "up")
    assert res.returncode != 0
    assert "missing jar connect-runtime" in res.stderr and "make setup" in res.stderr
    assert "Traceback" not in res.stderr


def test_unreachable_bootstrap_is_a_one_line_error(env):
    port = procs.free_port()  # nothing listens there
    res = sf(dict(env, STUDENTFLOW_BOOTSTRAP_SERVERS=f"127.0.0.1:{port}"), "stack", "up", timeout=60)
    assert res.returncode != 0
    assert f"cannot reach the configured Kafka at 127.0.0.1:{port}" in res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_distributed_mode_runs_the_sink(env, tmp_path):
    sf(env, "stack", "up", "--mode", "distributed", check=True)
    st = status(env)
    assert st["connect_mode"] == "distributed"
    from connect.rest import RestClient
    info = RestClient(st["connect_url"]).request("GET", "/")
    assert info["kafka_cluster_id"]  # a distributed worker joined a group on the broker
    sf(env, "connect", "apply", "--timeout", "90", check=True)
    values = _values(3_000, "d")
    produce(st["bootstrap"], "students.raw", values)
    sf(env, "connect", "lag", "--wait", "--timeout", "120", check=True)
    staged = (tmp_path / "data" / "staging" / "students.raw.txt").read_bytes().split(b"\n")[:-1]
    assert Counter(staged) == Counter(values)


def test_a_run_starts_its_producer_once_the_broker_is_up(tmp_path):
    """The Produce step's idempotent producer waits about 0.5 s for its producer id: `run` starts
    it in the stack step, as soon as the broker it started answers, so the wait overlaps the
    connectors' apply. `run --follow` (its own producer) does not."""
    from producer.tracked_producer import TrackedProducer
    from studentflow.core import config
    from studentflow.pipeline import Pipeline, RunOptions
    from studentflow.pipeline.ingest import Stack

    env = stack_env(tmp_path)
    pipeline = Pipeline(config.load(env=env), RunOptions(), progress=lambda _m: None)
    try:
        pipeline.run_step(Stack())
        assert pipeline.ctx.producer is None and pipeline.ctx.started_stack
        pipeline.run_step(Stack(producer_ahead=True))   # the stack it started, reused
        assert isinstance(pipeline.ctx.producer, TrackedProducer)
        assert pipeline.ctx.producer.producer.list_topics(timeout=5).brokers   # connected to the run's broker
    finally:
        pipeline.stop_started_stack()
        force_down(env)
