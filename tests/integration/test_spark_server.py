"""The Spark Connect server as a service of the stack: started, shown, restarted, stopped; a remote
endpoint gives the same rows; a server killed while it runs an increment's query loses nothing.

Real processes throughout: the stack's own server (not the test worker's shared one), the
`studentflow` CLI in subprocesses, a real SQLite warehouse.
"""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.staged import expected_counts, generate, write_staging
from spark_jobs import jvm
from studentflow.core import procs
from tests.support.stackutil import REPO, sf, stack_env, stack_session, status

pytestmark = pytest.mark.slow


def snapshot(db: Path) -> dict[str, list[tuple]]:
    """Both tables, every column but the run id, in line order."""
    with sqlite3.connect(db) as conn:
        out = {}
        for table in ("clean_students", "quarantine_students"):
            cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})") if r[1] != "run_id"]
            out[table] = conn.execute(f"SELECT {', '.join(cols)} FROM {table} ORDER BY source_file, line_number").fetchall()
    return out


def counts(db: Path) -> tuple[int, int, int, int]:
    """(runs, lines read, clean, quarantined) as the warehouse records them."""
    with sqlite3.connect(db) as conn:
        runs, read, clean, quar, dup = conn.execute(
            "SELECT count(*), coalesce(sum(lines_read), 0), coalesce(sum(clean_count), 0), "
            "coalesce(sum(quarantined_count), 0), coalesce(sum(duplicates_removed), 0) FROM pipeline_runs").fetchone()
        assert read == clean + quar + dup
        assert conn.execute("SELECT count(*) FROM clean_students").fetchone()[0] == clean
        return runs, read, clean, quar


def test_stack_server_is_shown_restarted_by_normalize_and_stopped(tmp_path):
    pairs = generate(3_000, seed=11)
    with stack_session(tmp_path, up=True, own_spark=True, STUDENTFLOW_WARM_SPARK="true") as env:
        st = status(env)
        spark = st["spark"]
        # warm_spark on: stack up has started the server's background warm-up, its log beside the server's
        assert (Path(env["STUDENTFLOW_STATE_DIR"]) / "logs" / "spark-warm-up.log").is_file()
        assert st["running"] and st["alive"]["spark"], st
        assert spark["url"].startswith("sc://127.0.0.1:") and procs.port_in_use(spark["port"])
        assert Path(spark["log"]).parent == Path(env["STUDENTFLOW_STATE_DIR"]) / "logs"
        assert "SparkConnectServer" in procs.pid_cmdline(spark["pid"])
        # on the JDK 25 setup installed, mapping the class archive setup built (spark_jobs/jvm.py)
        assert Path(f"/proc/{spark['pid']}/exe").resolve().is_relative_to(jvm.bundled_java_home().resolve())
        assert "-XX:AOTCache=" in procs.pid_cmdline(spark["pid"])

        os.kill(spark["pid"], signal.SIGKILL)
        deadline = time.monotonic() + 10
        while procs.pid_alive(spark["pid"]) and time.monotonic() < deadline:
            time.sleep(0.1)
        shown = sf(env, "stack", "status")
        assert shown.returncode == 1 and "DEGRADED" in shown.stdout
        assert [ln for ln in shown.stdout.splitlines() if ln.strip().startswith("spark")][0].split()[4] == "DOWN"

        write_staging(pairs, Path(env["STUDENTFLOW_STAGING_DIR"]))
        res = sf(env, "normalize", timeout=600)
        assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
        assert "is not running: starting it again" in res.stdout
        again = status(env)
        assert again["running"] and again["spark"]["pid"] != spark["pid"], again
        want = expected_counts(pairs)
        assert counts(Path(env["STUDENTFLOW_WAREHOUSE"]))[1:] == (3_000, want["clean"], want["quarantine"])

        down = sf(env, "stack", "down", check=True)
        assert f"spark (pid {again['spark']['pid']})" in down.stdout
        assert not procs.pid_alive(again["spark"]["pid"])
        assert not (Path(env["STUDENTFLOW_STATE_DIR"]) / "spark.json").exists()


def test_a_remote_endpoint_gives_the_same_rows_as_a_local_server_in_folders_with_a_space(spark_server, tmp_path):
    """normalize through a separately started server, addressed only by its sc:// URL, against a
    normalize that starts its own local server: the same tables, row for row.

    The local side lives under "My Projects é": its state folder and its setup folder reach the
    server's JVM options (its scratch folder, its class archive), and Spark's launcher splits those
    at whitespace, so an unquoted path stopped the server from starting at all."""
    from studentflow.core import config

    base = tmp_path / "My Projects é"
    base.mkdir()
    setup = base / "set up"
    setup.symlink_to(config.load().setup_dir.resolve(), target_is_directory=True)
    assert (setup / "spark-connect-classes.aot").is_file()   # the archive is mapped from the spaced path
    staging = base / "staging"
    pairs = generate(8_000, seed=5)
    write_staging(pairs, staging)
    remote = stack_env(tmp_path / "remote", STUDENTFLOW_STAGING_DIR=str(staging), STUDENTFLOW_SPARK_REMOTE=spark_server)
    local = stack_env(base / "local", own_spark=True, STUDENTFLOW_STAGING_DIR=str(staging),
                      STUDENTFLOW_SETUP_DIR=str(setup))
    assert remote["STUDENTFLOW_SPARK_REMOTE"] == spark_server and "STUDENTFLOW_SPARK_REMOTE" not in local
    assert " " in local["STUDENTFLOW_STATE_DIR"] and " " in local["STUDENTFLOW_SETUP_DIR"]
    for env in (remote, local):
        res = sf(env, "normalize", "--json", timeout=600)
        assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
        assert json.loads(res.stdout.splitlines()[-1])["lines_read"] == 8_000
    want = expected_counts(pairs)
    assert counts(Path(local["STUDENTFLOW_WAREHOUSE"]))[1:] == (8_000, want["clean"], want["quarantine"])
    assert snapshot(Path(remote["STUDENTFLOW_WAREHOUSE"])) == snapshot(Path(local["STUDENTFLOW_WAREHOUSE"]))


def test_a_local_servers_death_is_not_retried_and_a_remote_loss_is(spark_server):
    """The client's retry policy: the back-off (about 15 s) only while the server may come back:
    with no local process to watch (a remote endpoint) or while that process lives."""
    import grpc

    from spark_jobs.session import connect

    with grpc.insecure_channel("127.0.0.1:1") as channel:   # nothing listens: a real UNAVAILABLE
        try:
            channel.unary_unary("/x/y")(b"", timeout=5)
            raise AssertionError("a call to a closed port succeeded")
        except grpc.RpcError as exc:
            lost = exc
    assert lost.code() == grpc.StatusCode.UNAVAILABLE
    gone = subprocess.Popen(["true"])
    gone.wait()
    for pid, retried in ((None, True), (os.getpid(), True), (gone.pid, False)):
        spark = connect(spark_server, server_pid=pid)
        try:
            assert [p.can_retry(lost) for p in spark.client._retry_policies] == [retried], pid
        finally:
            spark.stop()


def test_a_run_warms_up_only_a_server_it_started(spark_server, tmp_path):
    """A run attached to a server that was already running (here a remote one, as the stack's
    would be) spends no warm-up query on it, warm_spark on or not; the session still works."""
    from studentflow.core import config
    from studentflow.pipeline.warm import WarmSpark

    settings = config.load(env={}, state_dir=str(tmp_path / "state"), data_dir=str(tmp_path / "data"),
                           spark_remote=spark_server, warm_spark=True)
    warm = WarmSpark(settings).start()
    try:
        assert warm.get().range(3).count() == 3
        assert warm.startup_seconds is not None and warm.warm_up_seconds is None
    finally:
        warm.release()


def test_which_sessions_warm_up():
    from studentflow.pipeline.warm import warms_up

    # only a server the run started, and not one started for one small run (quick JIT)
    assert warms_up(started=True, quick_jit=False)
    assert not warms_up(started=False, quick_jit=False)
    assert not warms_up(started=True, quick_jit=True)


def test_server_killed_during_the_transform_rolls_back_and_the_next_run_commits_once(tmp_path):
    pairs = generate(60_000, seed=3)
    want = expected_counts(pairs)
    with stack_session(tmp_path, up=True, own_spark=True) as env:
        # warm_spark off (the tests' default): stack up started no warm-up beside the server
        assert not (Path(env["STUDENTFLOW_STATE_DIR"]) / "logs" / "spark-warm-up.log").exists()
        write_staging(pairs, Path(env["STUDENTFLOW_STAGING_DIR"]))
        db = Path(env["STUDENTFLOW_WAREHOUSE"])
        server_pid = status(env)["spark"]["pid"]
        # pyspark's client logs each retry at debug level ("Will retry after N ms")
        proc = subprocess.Popen([sys.executable, "-u", "-m", "studentflow.cli", "normalize"], cwd=REPO,
                                env={**env, "SPARK_CONNECT_LOG_LEVEL": "debug"},
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        seen = []
        for line in proc.stdout:
            seen.append(line)
            # "[2/5]" comes right before the client builds the transform's plan; its debug log then
            # shows the query sent: killed 0.3 s later, the server dies while it executes the query
            if "ExecuteAndFetchAsIterator. Request" in line and any("[2/5]" in ln for ln in seen):
                time.sleep(0.3)
                os.kill(server_pid, signal.SIGKILL)
                break
        while procs.pid_alive(server_pid):
            time.sleep(0.05)
        waiting = proc.poll() is None      # the client still waits on its query after the server is gone
        rest = proc.stdout.read()
        code = proc.wait(timeout=300)
        out = "".join(seen) + rest
        assert waiting, out
        assert code != 0 and "[3/5]" not in out, out          # the transform never returned
        assert "stopped answering" in out, out
        # no back-off for a server whose process is gone (it would retry for about 15 s); the
        # client's debug log is on, so a retry would show
        assert '"level": "DEBUG"' in out and "Will retry after" not in rest, rest[-3000:]
        assert counts(db) == (0, 0, 0, 0)                      # rolled back: no run, no rows

        res = sf(env, "normalize", "--json", timeout=600)     # restarts the stack's server
        assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
        assert status(env)["spark"]["pid"] != server_pid
        assert counts(db) == (1, 60_000, want["clean"], want["quarantine"])   # once, against the generator's count


def test_a_remote_server_that_cannot_see_the_state_folder_is_a_clear_error(tmp_path):
    """A remote cluster that does not mount the state folder: simulated with a server in a mount
    namespace of its own where that folder is an empty tmpfs (it sees the path, not the files)."""
    from spark_jobs import server
    from tests.support.spark_server import settings_for

    env = stack_env(tmp_path, own_spark=True)
    state = Path(env["STUDENTFLOW_STATE_DIR"])
    (state / "normalize").mkdir(parents=True)
    write_staging(generate(500, seed=2), Path(env["STUDENTFLOW_STAGING_DIR"]))
    s = settings_for(tmp_path / "remote-server")
    port = procs.free_port()
    jvm_cmd, server_env = server.launch_command(s, port)
    cmd = " ".join(f"'{c}'" for c in jvm_cmd)
    script = f"mount -t tmpfs none '{state / 'normalize'}' && exec {cmd}"
    proc = procs.spawn(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                       tmp_path / "remote-server.log", env=server_env, tie_to_parent=True)
    try:
        url = f"sc://127.0.0.1:{port}"
        server.wait_ready(url, proc, s)
        res = sf({**env, "STUDENTFLOW_SPARK_REMOTE": url}, "normalize", timeout=600)
    finally:
        procs.stop_pid(proc.pid, timeout=5)
    assert res.returncode != 0
    assert "the Spark server cannot read the increment's files" in res.stderr, res.stdout[-1500:] + res.stderr[-1500:]
    assert "STUDENTFLOW_STATE_DIR" in res.stderr and "Traceback" not in res.stderr
    assert counts(Path(env["STUDENTFLOW_WAREHOUSE"])) == (0, 0, 0, 0)


def test_the_compose_spark_service_serves_a_normalize_by_its_url(tmp_path):
    """The docker-compose `spark` service's own command (read from docker-compose.yml), run here as
    a process (no docker engine here: the container is the only thing not exercised), on a free
    loopback port instead of 0.0.0.0:15002; a normalize in another process that shares its state
    folder, as the `app` container does, attaches by URL and commits every line."""
    import yaml

    service = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))["services"]["spark"]
    cmd = list(service["command"])
    assert cmd[:4] == ["python", "-m", "spark_jobs.server", "serve"]
    port = procs.free_port()
    cmd[0] = sys.executable
    cmd[cmd.index("--port") + 1], cmd[cmd.index("--host") + 1] = str(port), "127.0.0.1"
    env = stack_env(tmp_path, own_spark=True)
    pairs = generate(2_000, seed=8)
    write_staging(pairs, Path(env["STUDENTFLOW_STAGING_DIR"]))
    proc = procs.spawn(cmd, tmp_path / "spark-service.log", env=env, cwd=REPO, tie_to_parent=True)
    try:
        procs.wait_until(lambda: procs.port_in_use(port), timeout=180, what="the spark service", proc=proc,
                         log_path=tmp_path / "spark-service.log")
        assert "SparkConnectServer" in procs.pid_cmdline(proc.pid)   # exec'd: the service's PID is the JVM's
        res = sf({**env, "STUDENTFLOW_SPARK_REMOTE": f"sc://127.0.0.1:{port}"}, "normalize", "--json", timeout=600)
        assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    finally:
        procs.stop_pid(proc.pid, timeout=15)
    want = expected_counts(pairs)
    assert counts(Path(env["STUDENTFLOW_WAREHOUSE"])) == (1, 2_000, want["clean"], want["quarantine"])
    assert not procs.pid_alive(proc.pid)
