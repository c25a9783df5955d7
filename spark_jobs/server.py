"""The Spark Connect server: one warm Spark JVM that every Spark user of the project attaches to.

A new Spark JVM costs seconds to start and its JIT is cold for the first queries (a 100k-line
increment in a new process took 13.5 s, 41 % of a 1M full refresh). So Spark runs as a service,
Spark's own ``SparkConnectServer`` (shipped in the installed pyspark), and clients attach with
``SparkSession.builder.remote("sc://127.0.0.1:PORT")``:

* ``studentflow stack up`` starts it beside the broker and the Connect worker, records it in
  ``<state_dir>/spark.json`` (:class:`studentflow.core.endpoints.SparkState`) and warms it up in the
  background; ``stack down`` stops it;
* ``normalize`` with no stack up starts one for itself and stops it when done;
* with ``spark_remote`` set, nothing starts here: every client goes to that endpoint.

The stack's server keeps one session for its clients (its id in spark.json): a new session's
first query costs about a second more than the next one, whatever the server's JIT (its
analyzer and the rest of its session state are built on first use), so a `run` or `normalize`
on a running stack attaches to the session the clients before it warmed. One client at a time
(a file lock in the state folder): a second client at the same moment gets a session of its own,
as a client of another server always does. The server never expires sessions
(``spark.connect.session.manager.defaultSessionTimeout=-1``), so that one is there however long
the stack idles.

The server runs in the foreground of its process (the JVM command ``spark-submit`` would exec,
built by Spark's launcher for the server's Java: spark_jobs/jvm.py), in a session of its own,
its log and scratch folders under the state folder.
"""
from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from studentflow.core import procs
from studentflow.core.config import Settings
from studentflow.core.endpoints import SparkState, stack_up
from studentflow.core.errors import StackError
from spark_jobs.session import connect, java_option, spark_conf

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
START_TIMEOUT = 180.0   # seconds: a loaded 2-core machine was seen to need about 10
STOP_TIMEOUT = 15.0     # seconds Spark gets to stop its context after SIGTERM, before SIGKILL


@dataclass
class Server:
    """A Spark Connect endpoint, and whether this process owns (and so stops) its server."""

    url: str
    pid: int = 0
    proc: subprocess.Popen | None = None
    owned: bool = False
    start_seconds: float | None = None   # when this process started it
    session_id: str = ""                 # the stack's shared session (see the module's docstring)

    def stop(self) -> None:
        if self.owned and self.pid:
            stop_pid(self.pid)
            self.owned = False


def spark_home() -> Path:
    try:
        import pyspark
    except ImportError:
        raise StackError("pyspark is not installed", "run `make setup`") from None
    return Path(pyspark.__file__).parent


def server_command(settings: Settings, port: int, *, java_options: str = "", quick_jit: bool = False,
                   host: str = "127.0.0.1") -> list[str]:
    """The foreground ``spark-submit`` of the Connect server with the project's Spark settings
    (``host``: the address it listens on; loopback unless a container serves other hosts)."""
    conf = spark_conf(settings, java_options=java_options, quick_jit=quick_jit)
    # Spark's own scratch (the Connect artifacts, spark-*, native libraries) goes to java.io.tmpdir:
    # the state folder's, not /tmp, where nothing would ever delete it
    conf["spark.driver.extraJavaOptions"] += " " + java_option(f"-Djava.io.tmpdir={settings.paths.spark_tmp}")
    conf.update({
        "spark.connect.grpc.binding.address": host,
        "spark.connect.grpc.binding.port": str(port),
        "spark.local.dir": str(settings.paths.spark_tmp),         # shuffle and spill files: not /tmp
        "spark.connect.session.manager.defaultSessionTimeout": "-1",   # the shared session never expires
        "spark.sql.warehouse.dir": str(settings.paths.spark_sql_warehouse),
    })
    cmd = [str(spark_home() / "bin" / "spark-submit"), "--class", SERVER_CLASS, "--name", "studentflow-spark-connect",
           "--master", settings.spark_master, "--driver-memory", settings.spark_memory]
    for key, value in conf.items():
        cmd += ["--conf", f"{key}={value}"]
    return [*cmd, "spark-internal"]


def _server_env(settings: Settings, home: Path | None) -> dict[str, str]:
    """``home``: the server's JDK (spark_jobs.jvm.java_home); None leaves JAVA_HOME as it is."""
    settings.paths.spark_tmp.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, SPARK_HOME=str(spark_home()), SPARK_CONNECT_MODE="0", PYSPARK_PYTHON=sys.executable)
    # what spark-class's load-spark-env.sh exports for a pip-installed Spark: its launcher needs it,
    # and so does the one a local-cluster master's workers run for their executors
    env.setdefault("SPARK_SCALA_VERSION", "2.13")
    if home is not None:
        env["JAVA_HOME"] = str(home)
    if settings.spark_master.startswith("local"):
        env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")   # no "hostname resolves to a loopback address"
    return env


def launch_command(settings: Settings, port: int, **options) -> tuple[list[str], dict[str, str]]:
    """(the JVM command, its environment) of a server on ``port``: :func:`server_command` as
    ``spark-submit`` would exec it, on the server's Java (spark_jobs.jvm)."""
    from spark_jobs import jvm

    home = jvm.java_home(settings)
    env = _server_env(settings, home)
    submit = server_command(settings, port, **options)
    return jvm.jvm_command(submit[1:], env, spark_home(), home), env


def _launch(settings: Settings, port: int, **options) -> tuple[list[str], dict[str, str], str]:
    """(command, environment, sc:// URL) of a server on ``port`` (``options``: of :func:`server_command`)."""
    return (*launch_command(settings, port, **options), f"sc://127.0.0.1:{port}")


def start(settings: Settings, *, port: int | None = None, tie_to_parent: bool = False,
          java_options: str = "", quick_jit: bool = False) -> tuple[subprocess.Popen, str]:
    """Start the server (returns at once: see :func:`wait_ready`). (process, sc:// URL)."""
    cmd, env, url = _launch(settings, port or procs.free_port(), java_options=java_options, quick_jit=quick_jit)
    proc = procs.spawn(cmd, settings.paths.spark_log, env=env, cwd=settings.paths.spark_work, tie_to_parent=tie_to_parent)
    return proc, url


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/", 1)[0])


def wait_ready(url: str, proc: subprocess.Popen | None, settings: Settings, timeout: float = START_TIMEOUT) -> None:
    """Until the gRPC port answers (the server binds it once its SparkContext is up)."""
    port = port_of(url)
    procs.wait_until(lambda: procs.port_in_use(port), timeout=timeout, what="Spark Connect server", proc=proc,
                     log_path=settings.paths.spark_log, interval=0.1)


def stop_pid(pid: int, timeout: float = STOP_TIMEOUT) -> bool:
    """SIGTERM (Spark stops its context), SIGKILL after ``timeout``. Only a Connect server's PID is signalled."""
    return procs.stop_pid(pid, timeout=timeout, expect_in_cmdline=SERVER_CLASS)


def recorded(settings: Settings) -> SparkState | None:
    """The stack's server if it is alive."""
    return SparkState.running(settings)


def record(settings: Settings, proc: subprocess.Popen, url: str, *, warm: bool) -> str:
    """Record a ready server as the stack's (spark.json) with the id of its shared session;
    ``warm``: warm it up (that session) in the background. Returns the session id."""
    import datetime as dt

    session_id = str(uuid.uuid4())
    SparkState(url=url, pid=proc.pid, port=port_of(url), log=str(settings.paths.spark_log), master=settings.spark_master,
               started_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
               session_id=session_id).write(settings)
    if warm:
        warm_up_in_background(settings, url)
    return session_id


def stop_recorded(settings: Settings) -> str | None:
    """Stop the stack's server (if any) and forget it. Returns what was stopped."""
    state = SparkState.read(settings)
    if state is None:
        return None
    stopped = stop_pid(state.pid)
    SparkState.path(settings).unlink(missing_ok=True)
    return f"spark (pid {state.pid})" if stopped else None


def ensure(settings: Settings, *, keep: bool | None = None, quick_jit: bool = False,
           progress: Callable[[str], None] = print) -> Server:
    """Where to attach: ``spark_remote``; else the stack's running server; else a new one.

    A new server is the stack's (recorded, kept) when ``keep`` is true, or when ``keep`` is None
    and the stack is up (its server had died: restarted); else it belongs to this process and
    stops with it (``Server.stop``, or the kernel when the process dies); ``quick_jit``: such a
    server serves one small run (see spark_jobs.session.QUICK_JIT_LINES).
    """
    if settings.spark_remote:
        return Server(settings.spark_remote)
    state = SparkState.read(settings)
    if state is not None and state.alive():
        return Server(state.url, state.pid, session_id=state.session_id)
    if keep is None:
        keep = stack_up(settings)
    if state is not None:
        progress(f"the Spark Connect server (pid {state.pid}) is not running: starting it again (log {state.log})")
        SparkState.path(settings).unlink(missing_ok=True)
    return _start_new(settings, keep=keep, quick_jit=quick_jit and not keep, progress=progress)


def _start_new(settings: Settings, *, keep: bool, quick_jit: bool, progress: Callable[[str], None]) -> Server:
    """A new server, waited for until it answers (stopped if it never does): the stack's, recorded
    in spark.json, when ``keep``; else this process's own, tied to it."""
    t = time.perf_counter()
    port = procs.free_port()
    cmd, env, url = _launch(settings, port, quick_jit=quick_jit)
    progress(f"starting the Spark Connect server ({settings.spark_master}) on {url}" if keep else
             f"no Spark server running: starting one for this command ({settings.spark_master}); "
             "`studentflow stack up` keeps one warm between commands")
    proc = procs.start_service(cmd, settings.paths.spark_log, ready=lambda: procs.port_in_use(port),
                               what="Spark Connect server", timeout=START_TIMEOUT, env=env,
                               cwd=settings.paths.spark_work, tie_to_parent=not keep,
                               expect_in_cmdline=SERVER_CLASS, stop_timeout=STOP_TIMEOUT)
    seconds = time.perf_counter() - t
    session_id = record(settings, proc, url, warm=False) if keep else ""
    return Server(url, proc.pid, proc, owned=not keep, start_seconds=seconds, session_id=session_id)


def warm_up_in_background(settings: Settings, url: str) -> subprocess.Popen:
    """A short client process that runs a small normalize on the server (its JIT and classes, and
    the shared session, warm before the first real increment), then exits. Its output goes to the
    server's log folder."""
    env = dict(os.environ, STUDENTFLOW_SPARK_REMOTE=url, STUDENTFLOW_STATE_DIR=str(settings.state_dir))
    return procs.spawn([sys.executable, "-m", "spark_jobs.job", "warm-up", url],
                       settings.paths.spark_warm_up_log, env=env)


def _take(lock: Path) -> int | None:
    """An exclusive flock on ``lock`` if no other process holds it (its descriptor), else None.
    The kernel drops it when the holder dies, kill -9 included."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return fd
    except OSError:
        os.close(fd)
        return None


def attach(settings: Settings, server: Server) -> tuple["SparkSession", int | None]:
    """A session on ``server``: its shared one when it has one and no other client uses it (the
    lock's descriptor comes back with it: closing it frees the session), else a new one."""
    held = _take(settings.paths.spark_session_lock) if server.session_id else None
    if held is not None:
        spark = None
        try:
            spark = connect(server.url, server_pid=server.pid or None, session_id=server.session_id)
            spark.conf.get("spark.sql.session.timeZone")   # one round trip: a session closed by someone else fails here
            return spark, held
        except Exception:  # noqa: BLE001  (that session is gone: a session of its own, as before)
            os.close(held)
            if spark is not None:
                # else it stays the process's active session, which pyspark's functions consult
                # (and fail on: SESSION_CLOSED); stop() leaves the server's session alone
                spark.stop()
    return connect(server.url, server_pid=server.pid or None), None


class Attached:
    """A client session and the server it is attached to (stopped with it when this process owns it)."""

    def __init__(self, settings: Settings, *, keep_server: bool | None = None, quick_jit: bool = False,
                 progress: Callable[[str], None] = print, server: Server | None = None) -> None:
        """``server``: attach to that one as it is (never started here); else :func:`ensure`'s."""
        self.server = server or ensure(settings, keep=keep_server, quick_jit=quick_jit, progress=progress)
        try:
            self.session, self._shared = attach(settings, self.server)
        except BaseException:
            self.server.stop()
            raise

    @property
    def shared(self) -> bool:
        """Whether this client holds the stack server's shared session."""
        return self._shared is not None

    def close(self) -> None:
        try:
            self.session.stop()
        except Exception:  # noqa: BLE001  (the server is gone already: nothing to close)
            pass
        if self._shared is not None:
            os.close(self._shared)   # the next client may take the session
            self._shared = None
        self.server.stop()

    def __enter__(self) -> "SparkSession":
        return self.session

    def __exit__(self, *exc) -> None:
        self.close()


def serve(argv: list[str] | None = None) -> int:
    """``python -m spark_jobs.server serve --host 0.0.0.0 --port 15002``: the server in this
    process's place (exec), its log on stdout: the docker-compose ``spark`` service. Its clients
    set ``spark_remote`` to ``sc://HOST:PORT`` and must share its state folder (same path)."""
    import argparse

    from studentflow.core import config

    ap = argparse.ArgumentParser(prog="python -m spark_jobs.server serve", description=serve.__doc__)
    ap.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    ap.add_argument("--port", type=int, default=15002, help="gRPC port (default 15002, Spark Connect's)")
    args = ap.parse_args(argv)
    settings = config.load()
    cmd, env = launch_command(settings, args.port, host=args.host)
    os.chdir(settings.paths.spark_work)
    os.execve(cmd[0], cmd, env)
    return 0   # not reached


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "serve":
        sys.exit(serve(sys.argv[2:]))
    sys.exit("usage: python -m spark_jobs.server serve [--host HOST] [--port PORT]")
