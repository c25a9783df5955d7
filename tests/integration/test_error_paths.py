"""Error paths as the user meets them: the exact line the CLI prints (the error and its "-> what
to do" hint) and the exit code (core/errors.py ExitCode), each fault provoked for real.

Real parts only: a file of random bytes as the warehouse, a staging file cut between the plan and
the read, a Spark Connect server with no Java, a dbt project whose dbt_project.yml does not parse,
a broker whose topic refuses every record (Tansu's schema validation), a stack whose sink writes
to another staging folder (refused; and, from a stack file that cannot say so, the generic
shortfall), a gate/report child killed with SIGKILL or stopped with SIGSTOP.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from studentflow.core import config, procs
from studentflow.core.errors import ExitCode, from_world
from tests.support import warehouse as aw
from tests.support.stackutil import REPO, force_down, sf, stack_env, stack_session, status

pytestmark = pytest.mark.slow


def only_line(res: subprocess.CompletedProcess) -> str:
    """The one line the failed command printed on stderr (no traceback, nothing else)."""
    assert "Traceback" not in res.stdout + res.stderr, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    return lines[0]


def garbage_warehouse(tmp_path: Path) -> tuple[dict, Path]:
    env = stack_env(tmp_path)
    wh = Path(env["STUDENTFLOW_WAREHOUSE"])
    wh.parent.mkdir(parents=True)
    wh.write_bytes(os.urandom(8192))   # not a SQLite header: "file is not a database"
    return env, wh


def test_a_warehouse_that_is_not_sqlite_is_one_line_for_every_reader(tmp_path):
    env, wh = garbage_warehouse(tmp_path)
    want = (f"studentflow: error: {wh} is not a readable SQLite database (file is not a database) "
            "-> point STUDENTFLOW_WAREHOUSE at the warehouse the Spark stage writes")
    for command in (["validate", "--no-docs"], ["transform"], ["report"]):
        res = sf(env, *command, timeout=300)
        assert only_line(res) == want, command
        assert res.returncode == ExitCode.SETUP, command


def test_normalize_into_a_warehouse_that_is_not_sqlite(tmp_path):
    env, wh = garbage_warehouse(tmp_path)
    staging = Path(env["STUDENTFLOW_STAGING_DIR"])
    staging.mkdir(parents=True)
    (staging / "students.raw.txt").write_text('{"id": "1"}\n')
    res = sf(env, "normalize", timeout=300)
    # the same line and exit code as every other reader: a setup error, found before Spark starts
    assert only_line(res) == (f"studentflow: error: {wh} is not a readable SQLite database (file is not a database) "
                              "-> point STUDENTFLOW_WAREHOUSE at the warehouse the Spark stage writes")
    assert res.returncode == ExitCode.SETUP
    assert wh.stat().st_size == 8192   # left as it was


def test_stack_up_with_a_connect_url_starts_nothing(tmp_path):
    env = stack_env(tmp_path, own_spark=True, STUDENTFLOW_CONNECT_URL=f"http://127.0.0.1:{procs.free_port()}")
    res = sf(env, "stack", "up", timeout=300)
    assert only_line(res) == ("studentflow: error: a Connect URL is configured, so there is no embedded stack to "
                              "start -> unset STUDENTFLOW_CONNECT_URL to use the embedded worker")
    assert res.returncode == ExitCode.SETUP
    assert not (tmp_path / "state" / "logs").exists()   # no Spark server was started (and stopped) first


@pytest.fixture(scope="module")
def stack_a(tmp_path_factory):
    """A running stack (broker, Connect worker) for the module."""
    tmp = tmp_path_factory.mktemp("stack_a")
    env = stack_env(tmp, STUDENTFLOW_STAGING_DIR=str(tmp / "a"))
    sf(env, "stack", "up", check=True, timeout=300)
    yield env, tmp, status(env)
    force_down(env)


def test_stack_up_for_another_kafka_while_one_runs(stack_a):
    env, _tmp, st = stack_a
    other = f"127.0.0.1:{procs.free_port()}"
    res = sf(dict(env, STUDENTFLOW_BOOTSTRAP_SERVERS=other), "stack", "up", timeout=120)
    assert only_line(res) == (f"studentflow: error: a stack for Kafka {st['bootstrap']} is running, but {other} "
                              "is configured -> run `studentflow stack down` first")
    assert res.returncode == ExitCode.SETUP
    assert status(env)["running"]   # the running stack is left alone



def test_run_configured_for_another_staging_folder_than_the_running_worker(stack_a):
    """The worker resolved its connectors' ${env:STUDENTFLOW_STAGING_DIR} when it started: a run
    configured with another staging folder would produce events its sink stages elsewhere, and
    then wait for lines that never come. Refused before anything is produced."""
    from tests.support.topicwatch import topic_size

    env, tmp, st = stack_a
    elsewhere = tmp / "elsewhere"
    before = topic_size(st["bootstrap"], "students.raw")
    res = sf(dict(env, STUDENTFLOW_STAGING_DIR=str(elsewhere)), "run", "--count", "50", timeout=300)
    last = res.stderr.strip().splitlines()[-1]
    assert last == (f"studentflow: error: the running stack's Connect worker was started with "
                    f"STUDENTFLOW_STAGING_DIR={env['STUDENTFLOW_STAGING_DIR']}, but this configuration gives "
                    f"STUDENTFLOW_STAGING_DIR={elsewhere}: its connectors would not read or write what this command "
                    "does -> run `studentflow stack down` first (or set those values back)"), res.stderr
    assert res.returncode == ExitCode.SETUP and "Traceback" not in res.stderr
    assert topic_size(st["bootstrap"], "students.raw") == before   # nothing was produced
    assert status(env)["running"]   # the running stack is left alone


def test_acknowledged_events_that_do_not_reach_staging(stack_a):
    """The generic shortfall: lag 0 on the sink, the broker up, the disk not full, and fewer new
    lines than acknowledged events. Provoked with a real worker writing to another staging folder
    whose stack file, like one written before it recorded the worker's values, cannot say so."""
    import json

    env, tmp, st = stack_a
    state_file = Path(env["STUDENTFLOW_STATE_DIR"]) / "stack.json"
    saved = state_file.read_text()
    state_file.write_text(json.dumps({k: v for k, v in json.loads(saved).items() if k != "connector_env"}))
    try:
        elsewhere = tmp / "elsewhere-unrecorded"
        res = sf(dict(env, STUDENTFLOW_STAGING_DIR=str(elsewhere)), "run", "--count", "30", timeout=300)
        last = res.stderr.strip().splitlines()[-1]
        assert last == ("studentflow: error: only 0 of 30 acknowledged events reached staging -> check "
                        "`studentflow connect status`; the worker log says why"), res.stderr
        assert res.returncode == ExitCode.FAILED and "Traceback" not in res.stderr
        staged = sum(p.read_bytes().count(b"\n") for p in Path(env["STUDENTFLOW_STAGING_DIR"]).iterdir())
        assert staged == 30   # the worker staged them, where it was started to
    finally:
        state_file.write_text(saved)

REJECT_ALL = '{"type": "object", "properties": {"value": {"type": "object", "required": ["never_sent"]}}}'


def test_run_against_a_topic_that_refuses_every_record(tmp_path):
    """A broker that accepts connections and a topic that refuses the records (Tansu validates
    each record against the topic's JSON schema: INVALID_RECORD), with the broker still up."""
    schema = tmp_path / "schema"
    schema.mkdir()
    (schema / "students.raw.json").write_text(REJECT_ALL)
    env = stack_env(tmp_path, SCHEMA_REGISTRY="file://./schema")   # the broker's folder: the run's cwd
    try:
        res = subprocess.run([sys.executable, "-m", "studentflow.cli", "run", "--count", "20"], env=env,
                             cwd=tmp_path, capture_output=True, text=True, timeout=400)
        last = res.stderr.strip().splitlines()[-1]
        assert re.fullmatch(r"studentflow: error: not every event was delivered: 0 of 20 messages acknowledged by "
                            r"students\.raw in [0-9.]+ s \(0/s\); failed: 20 \(([A-Z_]+ x[0-9]+, )*INVALID_RECORD x[0-9]+(, [A-Z_]+ x[0-9]+)*\) "
                            r"-> check the broker \(`studentflow stack status`\) and rerun", last), last
        # under load the broker may fence a retried batch instead (PRODUCER_FENCED, listed first when
        # it is the commoner: CI saw "PRODUCER_FENCED x14, INVALID_RECORD x6"); the refusal is still
        # what failed, and every one of the 20 is accounted for above
        assert res.returncode == ExitCode.FAILED and "Traceback" not in res.stderr
        assert "lost with the memory-only broker" not in res.stderr   # the broker did not stop
    finally:
        force_down(env)


def test_spark_that_cannot_start(tmp_path):
    """The server's JVM refuses its options (a heap size it cannot read): the JVM's own words, the log."""
    env = stack_env(tmp_path, own_spark=True, STUDENTFLOW_SPARK_MEMORY="lots")
    staging = Path(env["STUDENTFLOW_STAGING_DIR"])
    staging.mkdir(parents=True)
    (staging / "students.raw.txt").write_text('{"id": "1"}\n')
    res = sf(env, "normalize", timeout=300)
    log = tmp_path / "state" / "logs" / "spark-connect.log"
    last = res.stderr.strip().splitlines()[-1]
    assert re.fullmatch(rf"studentflow: error: Spark Connect server exited with code 1 while starting: "
                        rf"Invalid maximum heap size: -Xmxlots .* -> see {re.escape(str(log))}", last), last
    assert res.returncode == ExitCode.SETUP and "Traceback" not in res.stderr
    assert not Path(env["STUDENTFLOW_WAREHOUSE"]).exists() or "normalize: [5/5]" not in res.stdout


def test_a_spark_java_home_without_java(tmp_path):
    env = stack_env(tmp_path, own_spark=True, STUDENTFLOW_SPARK_JAVA_HOME=str(tmp_path / "no-java"))
    staging = Path(env["STUDENTFLOW_STAGING_DIR"])
    staging.mkdir(parents=True)
    (staging / "students.raw.txt").write_text('{"id": "1"}\n')
    res = sf(env, "normalize", timeout=300)
    assert res.stderr.strip().splitlines()[-1] == (
        f"studentflow: error: spark_java_home {tmp_path / 'no-java'} has no bin/java "
        "-> point STUDENTFLOW_SPARK_JAVA_HOME at a JDK 17 or later, or unset it")
    assert res.returncode == ExitCode.SETUP and "Traceback" not in res.stderr
    assert not (tmp_path / "state" / "logs" / "spark-connect.log").exists()   # nothing was started


def test_dbt_that_fails_before_any_model(tmp_path, monkeypatch, capsys):
    """dbt_project.yml that is not YAML: dbt stops while loading the project, no node runs."""
    from studentflow import cli
    from studentflow.transform import runner as dbt_runner

    project = tmp_path / "dbt_project"
    shutil.copytree(dbt_runner.DBT_PROJECT, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    (project / "dbt_project.yml").write_text("name: 'studentflow\nversion: [1.0\n")
    monkeypatch.setattr(dbt_runner, "DBT_PROJECT", project)
    env = stack_env(tmp_path)
    for key, value in env.items():
        if key.startswith("STUDENTFLOW_"):
            monkeypatch.setenv(key, value)
    settings = config.load()
    aw.build(settings.warehouse, n=20)
    code = cli.main(["transform"])
    err = capsys.readouterr().err.strip().splitlines()
    logs = settings.paths.dbt_logs
    assert err[-1] == ("studentflow: error: dbt build failed before running any model "
                       f"-> see the lines above and {logs / 'dbt.log'}")
    assert code == ExitCode.SETUP
    above = "\n".join(err[:-1])   # dbt's own error, the lines it could not parse and why
    assert "Syntax error near line 2" in above and "version: [1.0" in above and "found unexpected end" in above, above


def test_a_staging_file_cut_between_the_plan_and_the_read(tmp_path):
    from spark_jobs import increments

    staging = tmp_path / "staging"
    staging.mkdir()
    f = staging / "students.raw.txt"
    f.write_bytes(b"".join(b'{"id": "%d"}\n' % i for i in range(1000)))
    slices = increments.plan((f,), {})
    assert slices[0].lines == 1000
    with open(f, "r+b") as fh:   # rewritten by hand (or a second sink) after the plan counted it
        fh.truncate(f.stat().st_size // 2)
    with pytest.raises(Exception) as caught:
        increments.materialize(slices, tmp_path / "scratch")
    err = from_world(caught.value)
    assert err is caught.value, repr(caught.value)   # a StudentflowError, not a bug's traceback
    assert f"studentflow: error: {err}" == (f"studentflow: error: staging file {f} changed while it was read "
                                            "-> rerun normalize")
    assert err.exit_code == ExitCode.FAILED


LINE_HINT = "make sure nothing rewrites the staging files during the run, then rerun"


def test_a_chunk_whose_lines_come_back_twice_or_not_at_all(tmp_path, spark):
    """Real Spark reads the chunk copies; one copy read twice, or cut after it was counted."""
    from spark_jobs import increments, staging

    f = tmp_path / "students.raw.txt"
    f.write_bytes(b"".join(b'{"id": "%d"}\n' % i for i in range(1000)))
    chunks = increments.materialize(increments.plan((f,), {}), tmp_path / "scratch", chunk_bytes=4000)
    assert len(chunks) >= 2 and sum(c.lines for c in chunks) == 1000
    want = (f"studentflow: error: Spark read the lines of students.raw.txt otherwise than the staged bytes hold "
            f"(1,000 complete lines); nothing was written -> {LINE_HINT}")

    def check(read: list) -> None:
        rows = staging.read_staging(spark, read).lines.select("source_file", "line_number").toArrow()
        staging.check_line_numbers(rows, chunks)

    check(chunks)   # read as planned: no error
    last = chunks[-1]
    again = tmp_path / "scratch" / str(len(chunks)) / last.name   # the last chunk, a second time
    again.parent.mkdir()
    shutil.copy(last.path, again)
    for read in ([*chunks, increments.Chunk(again, last.name, last.first_line, last.lines)],   # twice
                 chunks[:-1]):                                                                 # not at all
        with pytest.raises(Exception) as caught:
            check(read)
        err = from_world(caught.value)
        assert err is caught.value and f"studentflow: error: {err}" == want
        assert err.exit_code == ExitCode.FAILED


# --- the gate/report child of `run --follow` (studentflow/pipeline/quality_worker.py) ------------------------

def cli_line(err: BaseException) -> tuple[str, int]:
    """What studentflow's main prints for an exception reaching it, and its exit code."""
    one = from_world(err)
    assert one is not None, f"{err!r} would reach the user as a traceback"
    return f"studentflow: error: {one}", int(one.exit_code)


def checker_settings(base: Path) -> config.Settings:
    return config.load(env={}, data_dir=str(base / "data"), state_dir=str(base / "state"),
                       warehouse=str(base / "data" / "warehouse.db"))


def test_the_checker_killed_or_hung_is_one_line(tmp_path):
    from studentflow.pipeline.quality_worker import RERUN, Checker

    checker = Checker(checker_settings(tmp_path)).start()
    try:
        checker.wait_ready()
        pid = checker.pid
        os.kill(pid, signal.SIGSTOP)   # alive, and never answers
        with pytest.raises(Exception) as hung:
            checker.check("run-0001", gate=True, lang="en", run_summary=None, timeout=2)
        assert cli_line(hung.value) == (f"studentflow: error: the gate/report process (pid {pid}) did not answer in "
                                        f"2 s -> {RERUN}", ExitCode.FAILED)
        os.kill(pid, signal.SIGKILL)   # what the kernel's OOM killer sends
        with pytest.raises(Exception) as killed:
            checker.check("run-0001", gate=True, lang="en", run_summary=None, timeout=60)
        assert cli_line(killed.value) == (f"studentflow: error: the gate/report process (pid {pid}) ended with exit "
                                          f"code -9 before it answered (its error is above, if it printed one) "
                                          f"-> {RERUN}", ExitCode.FAILED)
    finally:
        checker.stop()
    assert not procs.pid_alive(pid)


def test_an_error_in_the_checker_is_the_gates_own_line(tmp_path):
    """The gate refusing in the child reaches the user as the same line and exit code as in
    `studentflow validate`, not as a child's traceback."""
    from expectations import gate
    from studentflow.pipeline.quality_worker import Checker

    settings = checker_settings(tmp_path)
    aw.build(settings.warehouse, n=20)   # clean_students, no marts: the gate refuses
    with pytest.raises(Exception) as here:
        gate.run(settings, docs=False, run_id="run-0001")
    checker = Checker(settings).start()
    try:
        with pytest.raises(Exception) as there:
            checker.check("run-0001", gate=True, lang="en", run_summary=None)
    finally:
        checker.stop()
    assert cli_line(there.value) == cli_line(here.value)
    assert "Traceback" not in cli_line(there.value)[0] and "\n" not in cli_line(there.value)[0]
