"""Where to connect: the configured Kafka cluster and Connect REST URL, or the running embedded stack.

The embedded stack (:mod:`studentflow.stack`) records its ports, PIDs and logs in
``<state_dir>/stack.json``; every stage asks ``kafka_conf(settings)`` / ``connect_url(settings)``
and never reads that file itself.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar

from studentflow.core import procs
from studentflow.core.config import Settings
from studentflow.core.errors import StackError


class _StateFile:
    """A dataclass recorded as JSON in the state folder, replaced atomically (a reader never sees
    half a file); unreadable or missing reads as None."""

    FILE: ClassVar[str] = ""

    @classmethod
    def path(cls, settings: Settings) -> Path:
        return settings.state_dir / cls.FILE

    @classmethod
    def read(cls, settings: Settings):
        try:
            return cls(**json.loads(cls.path(settings).read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def write(self, settings: Settings) -> None:
        p = self.path(settings)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(p.name + ".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n")
        tmp.replace(p)


@dataclass
class StackState(_StateFile):
    """The embedded broker and Connect worker (``<state_dir>/stack.json``)."""

    FILE: ClassVar[str] = "stack.json"
    bootstrap: str
    broker_pid: int
    broker_port: int
    broker_log: str
    connect_url: str
    connect_pid: int
    connect_port: int
    connect_log: str
    connect_mode: str
    started_at: str

    def alive(self) -> dict[str, bool]:
        return {"broker": procs.pid_alive(self.broker_pid), "connect": procs.pid_alive(self.connect_pid)}


@dataclass
class SparkState(_StateFile):
    """The stack's Spark Connect server (``<state_dir>/spark.json``), written by whoever started it."""

    FILE: ClassVar[str] = "spark.json"
    url: str
    pid: int
    port: int
    log: str
    master: str
    started_at: str

    def alive(self) -> bool:
        return procs.pid_alive(self.pid)


def stack_up(settings: Settings) -> bool:
    """The embedded stack's recorded processes are all alive (a hosted broker counts as alive)."""
    state = StackState.read(settings)
    if state is None:
        return False
    alive = state.alive()
    if not state.broker_pid:
        alive["broker"] = True
    return all(alive.values())


def kafka_conf(settings: Settings) -> dict[str, str]:
    """confluent-kafka client settings: the configured cluster, else the running embedded broker."""
    if not settings.embedded_kafka:
        return settings.kafka_client_config()
    state = StackState.read(settings)
    if state is None or not procs.pid_alive(state.broker_pid):
        raise StackError("no Kafka configured and the embedded stack is not running",
                         "run `studentflow stack up`, or set STUDENTFLOW_BOOTSTRAP_SERVERS")
    return settings.kafka_client_config(state.bootstrap)   # the [kafka] table's properties too


def connect_url(settings: Settings) -> str:
    """Kafka Connect REST URL: the configured one, else the running embedded worker."""
    if not settings.embedded_connect:
        return settings.connect_url.rstrip("/")
    state = StackState.read(settings)
    if state is None or not procs.pid_alive(state.connect_pid):
        raise StackError("no Connect URL configured and the embedded worker is not running",
                         "run `studentflow stack up`, or set STUDENTFLOW_CONNECT_URL")
    return state.connect_url
