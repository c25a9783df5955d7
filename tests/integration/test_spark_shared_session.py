"""The stack server's shared session (spark_jobs.server.attach): clients one after the other
attach to one server-side session (each finds the state the one before left), a client at the
same moment gets a session of its own, a killed holder frees it, and a session closed by someone
else is replaced by a new one. The test run's real Spark Connect server, real file locks.

The record points at that server with this test process's PID: the record's PID only says the
server is alive (the test workers do not own the run's server, so they do not know its PID).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from spark_jobs.server import Attached, port_of
from studentflow.core import config
from studentflow.core.endpoints import SparkState

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
MARK = "spark.sql.shuffle.partitions"   # a session setting: what one client leaves, the next one sees


def recorded(tmp_path: Path, url: str) -> tuple[config.Settings, str]:
    settings = config.load(env={}, state_dir=str(tmp_path / "state"))
    session_id = str(uuid.uuid4())
    SparkState(url=url, pid=os.getpid(), port=port_of(url), log="", master="local[2]", started_at="",
               session_id=session_id).write(settings)
    return settings, session_id


def test_clients_in_turn_share_one_session_and_one_at_the_same_moment_gets_its_own(tmp_path, spark_server):
    settings, session_id = recorded(tmp_path, spark_server)
    first = Attached(settings)
    try:
        assert first.shared and first.session.session_id == session_id
        first.session.conf.set(MARK, "7")
        meanwhile = Attached(settings)
        try:
            assert not meanwhile.shared and meanwhile.session.session_id != session_id
            assert meanwhile.session.conf.get(MARK) != "7"
            assert meanwhile.session.range(4).count() == 4
        finally:
            meanwhile.close()
    finally:
        first.close()
    after = Attached(settings)
    try:
        assert after.shared and after.session.session_id == session_id
        assert after.session.conf.get(MARK) == "7"          # the same session on the server, not only its id
        assert after.session.range(5).count() == 5
    finally:
        after.close()


HOLDER = """
import sys, time
from spark_jobs.server import Attached
from studentflow.core import config
a = Attached(config.load(env={}, state_dir=sys.argv[1]))
print("shared" if a.shared else "own", flush=True)
time.sleep(300)
"""


def test_a_killed_holder_frees_the_session(tmp_path, spark_server):
    settings, session_id = recorded(tmp_path, spark_server)
    child = subprocess.Popen([sys.executable, "-c", HOLDER, str(settings.state_dir)], cwd=REPO,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "shared"
        busy = Attached(settings)
        try:
            assert not busy.shared                            # the child holds it
        finally:
            busy.close()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    freed = Attached(settings)
    try:
        assert freed.shared and freed.session.session_id == session_id
    finally:
        freed.close()


def test_a_session_closed_elsewhere_is_replaced_by_a_new_one(tmp_path, spark_server):
    settings, session_id = recorded(tmp_path, spark_server)
    first = Attached(settings)
    assert first.shared
    first.session.client.release_session()   # as another client of that id could
    first.close()
    after = Attached(settings)
    try:
        assert not after.shared and after.session.session_id != session_id
        assert after.session.range(3).count() == 3
    finally:
        after.close()



def test_the_attempt_on_a_closed_session_does_not_stay_the_active_one(tmp_path, spark_server):
    """pyspark's functions ask the thread's active session whether to debug (a conf.get): were the
    failed attempt left active, they would fail with SESSION_CLOSED for the rest of the process."""
    from pyspark.sql.connect.session import SparkSession

    settings, _ = recorded(tmp_path, spark_server)
    first = Attached(settings)
    first.session.client.release_session()
    first.close()
    # as in a new process: no active session yet, so the next one created becomes it
    SparkSession._active_session.session, SparkSession._default_session = None, None
    after = Attached(settings)
    try:
        assert not after.shared
        active = SparkSession.getActiveSession()
        assert active is None or active.conf.get("spark.sql.session.timeZone") == "UTC"
    finally:
        after.close()


def test_a_remote_url_naming_a_session_is_left_open_for_the_next_client(tmp_path, spark_server):
    """spark_remote = sc://host:port/;session_id=UUID: each `normalize` uses that server-side session
    and leaves it open, so the next client finds it (and the code compiled in it), settings included."""
    from spark_jobs.session import connect, session_url
    from bench.staged import generate, write_staging
    from tests.support.stackutil import sf, stack_env

    url = session_url(spark_server, str(uuid.uuid4()))
    first = connect(url)
    first.conf.set(MARK, "7")
    first.stop()                                           # a client that ends, as a command does
    write_staging(generate(500, seed=2), tmp_path / "staging")
    env = stack_env(tmp_path, STUDENTFLOW_SPARK_REMOTE=url, STUDENTFLOW_STAGING_DIR=str(tmp_path / "staging"))
    res = sf(env, "normalize", "--json", timeout=300)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    after = connect(url)
    try:
        assert after.conf.get(MARK) == "7"                 # the same session on the server, still open
        assert after.range(3).count() == 3
    finally:
        after.client.release_session()                     # the test's session: gone with the test
        after.stop()
