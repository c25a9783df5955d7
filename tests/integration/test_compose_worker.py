"""The docker-compose Connect worker file, run for real (no docker engine here).

docker/connect-distributed.properties is started with the real Apache Kafka Connect runtime
(ConnectDistributed, the Kafka 3.9 jars that `make setup` fetched), with only what is specific to
the container network rewritten (bootstrap servers, REST listener, the plugin.path jar location)
and the group session the embedded broker gets. As in the apache/kafka image (kafka-run-class.sh
filters connect-file*.jar out), the connect-file jar is NOT on the classpath: the file sink must come from plugin.path. Then the
compose healthcheck command is run against the worker, and the repository's connector file is
applied and moves messages into the staging file.
"""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from studentflow.core import config, kafka, procs

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _props(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def test_docker_worker_file_runs_the_file_sink_from_plugin_path(broker, tmp_path):
    from confluent_kafka import Producer

    from connect import rest, runtime

    jars = runtime.classpath(config.load(env={}))  # the repo's .state/connect-libs + Debian jars
    plugin_jar = next(j for j in jars if j.name.startswith("connect-file-"))
    classpath = [j for j in jars if j != plugin_jar]

    port = procs.free_port()
    props = _props(REPO / "docker" / "connect-distributed.properties")
    assert props["plugin.path"].startswith("/opt/kafka/libs/connect-file-")
    props.update({"bootstrap.servers": broker.bootstrap, "listeners": f"http://127.0.0.1:{port}",
                  "rest.advertised.host.name": "127.0.0.1", "rest.advertised.port": str(port),
                  "plugin.path": str(plugin_jar)})
    # The embedded broker instead of compose's Apache Kafka: the group session studentflow gives a
    # worker there (it holds a join for half of it: 10 s and 45 s by default, tens of seconds here).
    props.update({**runtime.EMBEDDED_BROKER_SESSION, **runtime.EMBEDDED_BROKER_CONSUMER})
    props_file = tmp_path / "worker.properties"
    runtime.write_properties(props_file, props)
    log = tmp_path / "connect.log"
    log4j = tmp_path / "log4j2.properties"
    log4j.write_text(runtime.LOG4J2.format(log=log))
    cmd = [runtime.java_binary(), "-Xmx256m", "-XX:+UseSerialGC", f"-Dlog4j2.configurationFile={log4j}",
           "-cp", ":".join(str(j) for j in classpath), runtime.DISTRIBUTED_MAIN, str(props_file)]
    settings = config.load(env={}, data_dir=str(tmp_path / "data"), state_dir=str(tmp_path / "state"),
                           staging_dir=str(tmp_path / "data" / "staging"),
                           warehouse=str(tmp_path / "data" / "warehouse.db"))
    # The environment the compose file gives the `connect` service, here with this test's paths.
    env = {**os.environ, **runtime.worker_env(settings)}
    worker = procs.spawn(cmd, tmp_path / "connect.out", env=env, tie_to_parent=True)
    try:
        client = rest.RestClient(f"http://127.0.0.1:{port}", timeout=2)
        procs.wait_until(client.ready, timeout=90, what="Connect worker", proc=worker,
                         log_path=tmp_path / "connect.out", interval=0.5)

        # the compose healthcheck, aimed at this worker's port, turns healthy
        compose = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
        test = compose["services"]["connect"]["healthcheck"]["test"]
        assert test[0] == "CMD"
        check = [part.replace("/8083", f"/{port}") for part in test[1:]]
        procs.wait_until(lambda: subprocess.run(check, timeout=10).returncode == 0, timeout=60,
                         what="compose healthcheck", proc=worker, interval=0.5)

        classes = {p["class"] for p in client.request("GET", "/connector-plugins")}
        assert "org.apache.kafka.connect.file.FileStreamSinkConnector" in classes

        # the repository's connector file, as the one-shot connect-apply service applies it
        settings.staging_dir.mkdir(parents=True)
        client = rest.RestClient(f"http://127.0.0.1:{port}")  # CLI timeout: requests wait out rebalances
        conf = {"bootstrap.servers": broker.bootstrap}
        kafka.ensure_topic(conf, settings.topic, settings.topic_partitions)
        (cf,) = [rest.load_connector_file(p, settings) for p in sorted(rest.CONNECTORS_DIR.glob("*.json"))
                 if "FileStreamSink" in p.read_text(encoding="utf-8")]
        assert rest.validate(client, cf) == []
        assert rest.apply(client, cf) == "created"
        assert rest.apply(client, cf) == "unchanged"  # idempotent
        rest.wait_running(client, cf.name, timeout=90)

        messages = [f'{{"n": {i}}}' for i in range(20)] + ["hello kafka", "Alice,Dupont,22,Informatique"]
        producer = Producer(conf)
        for i, text in enumerate(messages):
            producer.produce(settings.topic, key=str(i), value=text.encode())
        assert producer.flush(15) == 0
        staged = Path(cf.config["file"])
        deadline = time.monotonic() + 60
        lines: list[str] = []
        while time.monotonic() < deadline:
            lines = staged.read_text(encoding="utf-8").splitlines() if staged.exists() else []
            if len(lines) >= len(messages):
                break
            time.sleep(0.3)
        assert sorted(lines) == sorted(messages)  # one line per message, text untouched
    finally:
        procs.stop_pid(worker.pid, timeout=15)
    assert not procs.pid_alive(worker.pid)
