"""Where to connect: the configured Kafka cluster and Connect REST URL, or the running embedded stack.

The embedded stack (:mod:`studentflow.stack`) records its ports, PIDs and logs in
``<state_dir>/stack.json``; every stage asks ``kafka_conf(settings)`` / ``connect_url(settings)``
and never reads that file itself.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import ClassVar

from studentflow.core import procs
from studentflow.core.config import Settings
from studentflow.core.errors import StackError


class _StateFile:
    """A dataclass recorded as JSON in the state folder, replaced atomically (a reader never sees
    half a file); unreadable or missing reads as None."""

    PLACE: ClassVar[str] = ""   # its attribute of settings.paths

    @classmethod
    def path(cls, settings: Settings) -> Path:
        return getattr(settings.paths, cls.PLACE)

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
        tmp.unlink(missing_ok=True)
        # 0600 from the start: a record may hold a key
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
            f.write(json.dumps(asdict(self), indent=2) + "\n")
        tmp.replace(p)


@dataclass
class StackState(_StateFile):
    """The embedded broker and Connect worker (``<state_dir>/stack.json``)."""

    PLACE: ClassVar[str] = "stack_state"
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
    # what the worker's connector files read with ${env:...} (topic, staging folder, drop file)
    connector_env: dict = field(default_factory=dict)


@dataclass
class _Service(_StateFile):
    """A process of the stack other than the broker and worker: its PID, log, when it started."""

    pid: int
    log: str
    started_at: str

    def alive(self) -> bool:
        return procs.pid_alive(self.pid)

    @classmethod
    def running(cls, settings: Settings):
        """The recorded process, if it runs; else None."""
        state = cls.read(settings)
        return state if state is not None and state.alive() else None


@dataclass
class SparkState(_Service):
    """The stack's Spark Connect server (``<state_dir>/spark.json``), written by whoever started it."""

    PLACE: ClassVar[str] = "spark_state"
    url: str
    port: int
    master: str
    # the server-side session every client of the stack attaches to in turn (spark_jobs.server.Attached)
    session_id: str = ""


@dataclass
class QualityState(_Service):
    """The stack's quality worker (``<state_dir>/quality.json``): where it listens and its key."""

    PLACE: ClassVar[str] = "quality_state"
    address: str
    key: str
    code: str = ""   # studentflow.quality.code_version() when it started


@dataclass(frozen=True)
class StackHealth:
    """What of the recorded embedded stack is up: the one answer to "is the stack alive?"."""

    state: StackState | None   # the recorded stack (None: none recorded)
    broker: bool               # its Kafka: our broker's process runs, or the Kafka is hosted (not ours to watch)
    connect: bool              # its Connect worker's process runs
    kafka_reachable: bool      # kafka_conf() has an answer: a configured cluster, or our running broker
    connect_reachable: bool    # connect_url() has an answer: a configured URL, or our running worker
    broker_stopped: bool       # the embedded broker recorded is gone (its memory-only topic with it)
    worker_died: bool          # the recorded stack's Kafka is there, its embedded Connect worker is not

    @property
    def up(self) -> bool:
        """Every recorded process runs."""
        return self.state is not None and self.broker and self.connect

    @property
    def reachable(self) -> bool:
        """There is a topic and a connector to talk to (configured, or the running stack)."""
        return self.kafka_reachable and self.connect_reachable

    def alive(self) -> dict[str, bool]:
        return {"broker": self.broker, "connect": self.connect}


def stack_health(settings: Settings) -> StackHealth:
    """Read the state file once and ask each recorded process whether it runs."""
    state = StackState.read(settings)
    broker_pid_alive = bool(state and procs.pid_alive(state.broker_pid))
    connect = bool(state and procs.pid_alive(state.connect_pid))
    hosted = bool(state and not state.broker_pid)
    broker = broker_pid_alive or hosted
    return StackHealth(state=state, broker=broker, connect=connect,
                       kafka_reachable=not settings.embedded_kafka or broker_pid_alive,
                       connect_reachable=not settings.embedded_connect or connect,
                       broker_stopped=settings.embedded_kafka and state is not None and not hosted
                       and not broker_pid_alive,
                       worker_died=settings.embedded_connect and broker and not connect)


def stack_up(settings: Settings) -> bool:
    """The embedded stack's recorded processes are all alive (a hosted broker counts as alive)."""
    return stack_health(settings).up


def kafka_conf(settings: Settings) -> dict[str, str]:
    """confluent-kafka client settings: the configured cluster, else the running embedded broker."""
    if not settings.embedded_kafka:
        return settings.kafka_client_config()
    health = stack_health(settings)
    if not health.kafka_reachable:
        raise StackError("no Kafka configured and the embedded stack is not running",
                         "run `studentflow stack up`, or set STUDENTFLOW_BOOTSTRAP_SERVERS")
    return settings.kafka_client_config(health.state.bootstrap)   # the [kafka] table's properties too


def connect_url(settings: Settings) -> str:
    """Kafka Connect REST URL: the configured one, else the running embedded worker."""
    if not settings.embedded_connect:
        return settings.connect_url.rstrip("/")
    health = stack_health(settings)
    if not health.connect_reachable:
        raise StackError("no Connect URL configured and the embedded worker is not running",
                         "run `studentflow stack up`, or set STUDENTFLOW_CONNECT_URL")
    return health.state.connect_url
