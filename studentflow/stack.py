"""The embedded local stack: Tansu broker + Apache Kafka Connect worker + Spark Connect server +
quality worker (dbt, Great Expectations and the report, imported once: studentflow/quality.py).

State (ports, PIDs, log paths) lives in ``<state_dir>/stack.json`` and ``<state_dir>/spark.json``
(:mod:`studentflow.core.endpoints`, where every stage asks ``kafka_conf(settings)`` / ``connect_url(settings)``
for where to connect; Spark users attach through :mod:`spark_jobs.server`).
"""
from __future__ import annotations

import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from studentflow.core import kafka, procs
from studentflow.core.config import Settings
from studentflow.core.endpoints import StackState, stack_health
from studentflow.core.errors import StackError

# Seconds a new Connect worker gets to answer on REST. Usually 2-6 s; a loaded 2-core machine, or
# a worker without its class-data archive (the one that builds it), needs far more.
CONNECT_READY_TIMEOUT = 180.0


# --- lifecycle -------------------------------------------------------------------------------

@dataclass
class _Started:
    """A process this module started (or None for a hosted broker) and where to reach it."""

    proc: subprocess.Popen | None
    address: str          # bootstrap servers, or the worker's REST URL
    port: int
    log: Path
    client_conf: dict | None = None

def _now() -> str:
    import datetime as dt
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def running(settings: Settings) -> StackState | None:
    """The recorded stack if its processes are alive (a hosted broker counts as alive), else None."""
    health = stack_health(settings)
    return health.state if health.up else None


def up(settings: Settings, *, broker_port: int | None = None, connect_port: int | None = None,
       mode: str | None = None, tie_to_parent: bool = False, spark: bool = True,
       progress=print) -> tuple[StackState, bool]:
    """Start the embedded broker, Connect worker and (``spark``) Spark Connect server. Returns
    (state, started_now: the broker or the worker was started).

    The Spark server starts first, in parallel with the others (it takes longest), and is warmed
    up in the background. ``spark=False``: a caller that attaches to Spark itself (``run``).

    With a stack already running it changes nothing. If only the worker died, only the worker
    is restarted (the broker keeps its in-memory topics). With a hosted Kafka configured only
    the worker starts, pointed at that cluster. Runs under the project lock (re-entrant: the
    CLI and `run` already hold it), so two callers never start two stacks for one project.
    """
    from studentflow import quality
    from studentflow.lock import project_lock

    from spark_jobs import server

    with project_lock(settings, "stack up", say=progress):
        _refuse_another_stack(settings)   # before the Spark server starts: nothing to stop again
        if settings.embedded_kafka:
            from studentflow import broker
            broker.tansu_binary()   # the `embedded` extra: one clear line before anything starts
        pending = new_quality = None
        if spark and not settings.spark_remote and server.recorded(settings) is None:
            proc, url = server.start(settings, tie_to_parent=tie_to_parent)
            progress(f"starting the Spark Connect server ({settings.spark_master}) on {url}")
            pending = (proc, url)
        if spark and settings.warm_quality and not settings.quality_remote and quality.current(settings, progress) is None:
            new_quality = quality.start(settings, tie_to_parent=tie_to_parent)
            progress(f"starting the quality worker (dbt, Great Expectations, the report) on {new_quality.address}")
        try:
            result = _up(settings, broker_port=broker_port, connect_port=connect_port, mode=mode,
                         tie_to_parent=tie_to_parent, progress=progress)
            if pending is not None:
                proc, url = pending   # started first, beside the broker and worker: ready by now or soon
                server.wait_ready(url, proc, settings)
                server.record(settings, proc, url, warm=settings.warm_spark)
        except BaseException:
            if pending is not None:
                server.stop_pid(pending[0].pid)
            if new_quality is not None:
                quality.stop_recorded(settings)
            raise
        return result


def _refuse_another_stack(settings: Settings) -> None:
    """A configured Connect URL, or a running stack for another Kafka: a StackError, started nothing."""
    if not settings.embedded_connect:
        raise StackError("a Connect URL is configured, so there is no embedded stack to start",
                         "unset STUDENTFLOW_CONNECT_URL to use the embedded worker")
    health = stack_health(settings)
    existing = health.state
    if existing and not settings.embedded_kafka and existing.bootstrap != settings.bootstrap_servers \
            and (health.connect or bool(existing.broker_pid) and health.broker):   # a process of ours runs
        raise StackError(f"a stack for Kafka {existing.bootstrap} is running, but {settings.bootstrap_servers} is configured",
                         "run `studentflow stack down` first")
    if existing and health.connect:
        _refuse_other_connector_env(existing, settings)


def _refuse_other_connector_env(existing: StackState, settings: Settings) -> None:
    """The running worker resolved its connectors' ${env:...} (topic, staging folder, drop file)
    when it started: with other values configured now, its sink would write where this
    configuration does not read, and the events produced now would never reach its staging."""
    from connect import runtime

    wanted = runtime.worker_env(settings)
    differ = sorted(k for k, v in existing.connector_env.items() if wanted.get(k) != v)
    if differ:
        was = ", ".join(f"{k}={existing.connector_env[k]}" for k in differ)
        now = ", ".join(f"{k}={wanted.get(k)}" for k in differ)
        raise StackError(f"the running stack's Connect worker was started with {was}, but this configuration "
                         f"gives {now}: its connectors would not read or write what this command does",
                         "run `studentflow stack down` first (or set those values back)")


def _up(settings: Settings, *, broker_port: int | None, connect_port: int | None, mode: str | None,
        tie_to_parent: bool, progress) -> tuple[StackState, bool]:
    from connect import runtime

    health = stack_health(settings)
    existing = health.state
    if existing:
        if health.up:
            return existing, False
        if health.broker:
            progress("Connect worker is not running: restarting it (the broker and its topics are kept)")
            runtime.java_binary(), runtime.classpath(settings)
            worker = _start_worker(settings, existing.bootstrap, connect_port or existing.connect_port,
                                   mode or existing.connect_mode, tie_to_parent, progress)
            existing.connect_pid, existing.connect_url, existing.connect_port = worker.proc.pid, worker.address, worker.port
            existing.connector_env = runtime.worker_env(settings)
            existing.write(settings)
            return existing, True
        progress("the broker had stopped: the topic data it held in memory is gone (staged files are kept)")
        _down(settings)
    mode = mode or settings.connect_mode
    settings.staging_dir.mkdir(parents=True, exist_ok=True)
    runtime.java_binary(), runtime.classpath(settings)  # fail before starting anything

    brk = _start_broker(settings, broker_port, tie_to_parent, progress)
    try:
        from studentflow.core.kafka import ensure_topic
        ensure_topic(brk.client_conf or {}, settings.topic, settings.topic_partitions,
                     replication=settings.topic_replication)
        worker = _start_worker(settings, brk.address, connect_port, mode, tie_to_parent, progress)
    except BaseException:
        if brk.proc is not None:
            procs.stop_pid(brk.proc.pid)
        raise
    state = StackState(bootstrap=brk.address, broker_pid=brk.proc.pid if brk.proc else 0, broker_port=brk.port,
                       broker_log=str(brk.log) if brk.proc else "", connect_url=worker.address,
                       connect_pid=worker.proc.pid, connect_port=worker.port, connect_log=str(worker.log),
                       connect_mode=mode, started_at=_now(), connector_env=runtime.worker_env(settings))
    state.write(settings)
    return state, True


def _start_broker(settings: Settings, port: int | None, tie_to_parent: bool, progress) -> _Started:
    """The embedded broker, or a reachability check of the configured one."""
    from studentflow import broker

    log = settings.paths.broker_log
    if not settings.embedded_kafka:
        bootstrap = settings.bootstrap_servers
        client_conf = settings.kafka_client_config()
        progress(f"using configured Kafka at {bootstrap} ({settings.security_protocol})")
        # a wrong CA or password is said at once, not after the 10 s a silent address gets
        kafka.reach(client_conf, timeout=10, what="the configured Kafka",
                    hint="check STUDENTFLOW_BOOTSTRAP_SERVERS and the security settings")
        return _Started(None, bootstrap, 0, log, client_conf)
    bport = port or procs.free_port()
    bootstrap = f"127.0.0.1:{bport}"
    progress(f"starting embedded broker on {bootstrap} (memory only: topic data does not survive a restart)")
    proc = broker.start(bport, log, tie_to_parent=tie_to_parent)
    try:
        broker.wait_ready(bootstrap, proc, log)
    except StackError:
        procs.stop_pid(proc.pid)
        raise
    return _Started(proc, bootstrap, bport, log, settings.kafka_client_config(bootstrap))


def _start_worker(settings: Settings, bootstrap: str, port: int | None, mode: str, tie_to_parent: bool,
                  progress) -> _Started:
    from connect import rest, runtime

    cport = port if port and not procs.port_in_use(port) else procs.free_port()
    url = f"http://127.0.0.1:{cport}"
    log = settings.paths.connect_log
    progress(f"starting Kafka Connect ({mode}) on {url}")
    worker = runtime.start_worker(settings, bootstrap=bootstrap, rest_port=cport, mode=mode,
                                  log_path=log, tie_to_parent=tie_to_parent)
    try:
        procs.wait_until(rest.RestClient(url, timeout=2).ready, timeout=CONNECT_READY_TIMEOUT, what="Kafka Connect worker",
                         proc=worker, log_path=log.with_suffix(".out"), interval=0.2)
    except StackError:
        procs.stop_pid(worker.pid)
        raise
    return _Started(worker, url, cport, log)


def down(settings: Settings, *, quiet: bool = False) -> list[str]:
    """Stop exactly the processes recorded in the state file. Returns what was stopped."""
    from studentflow.lock import project_lock

    with project_lock(settings, "stack down"):
        return _down(settings)


def _down(settings: Settings) -> list[str]:
    from spark_jobs import server

    from studentflow import quality

    stopped = [s for s in (server.stop_recorded(settings), quality.stop_recorded(settings)) if s]
    state = StackState.read(settings)
    if state is None:
        return stopped
    # Worker first, so it can commit offsets while the broker is still there.
    if state.connect_pid and procs.stop_pid(state.connect_pid, timeout=10, expect_in_cmdline="org.apache.kafka.connect"):
        stopped.append(f"connect (pid {state.connect_pid})")
    if state.broker_pid and procs.stop_pid(state.broker_pid, timeout=5, expect_in_cmdline="tansu"):
        stopped.append(f"broker (pid {state.broker_pid})")
    StackState.path(settings).unlink(missing_ok=True)
    return stopped


def status(settings: Settings) -> dict:
    """The stack's processes, alive or not. ``spark``: the Spark Connect server (or the configured
    remote endpoint); a dead server makes the stack DEGRADED, like a dead broker or worker."""
    from studentflow.core.endpoints import SparkState

    from studentflow.core.endpoints import QualityState
    from studentflow.quality import code_version

    spark_state = SparkState.read(settings)
    q = QualityState.read(settings)
    quality = ({"remote": settings.quality_remote} if settings.quality_remote
               else {**{k: v for k, v in asdict(q).items() if k != "key"}, "code_changed": q.code != code_version()}
               if q else None)
    spark = ({"remote": settings.spark_remote} if settings.spark_remote
             else asdict(spark_state) if spark_state else None)
    health = stack_health(settings)
    state = health.state
    if state is None:
        return {"running": False, "state_file": str(StackState.path(settings)), "spark": spark, "quality": quality}
    alive = health.alive()   # a hosted Kafka counts as alive: not ours to watch
    if not settings.spark_remote:
        alive["spark"] = spark_state is not None and spark_state.alive()
    if q is not None and not settings.quality_remote:   # only where one was started: it is optional
        alive["quality"] = q.alive()
    return {"running": all(alive.values()), "alive": alive, **asdict(state), "spark": spark, "quality": quality}
