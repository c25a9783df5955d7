"""Shared fixtures: real processes on loopback, free ports, cleaned up afterwards."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from studentflow import broker as broker_mod
from studentflow.core import config, procs

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
# Every JVM the tests start (Spark servers, Connect workers) stops at HotSpot's quick compiler
# (C1), as the product's own short-lived servers do (spark_jobs.session.QUICK_JIT_LINES): the
# tests' runs are small and short, and C2's compile threads were an eighth of the suite's CPU
# (the whole suite, 2 workers: 1,232 against 1,081 CPU-seconds). They also collect with the
# serial collector, as the Connect worker always does: the tests' heaps are small, and G1's
# concurrent threads cost the Spark servers more than they save (the fault matrix alone: the
# server 59.5 against 54.8 CPU-seconds). Neither changes any result. The one Spark server shared by
# the whole run stops at C1 too (tests/support/spark_server.py says why).
os.environ.setdefault("JAVA_TOOL_OPTIONS", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config) -> int:
    """`-n auto` (pyproject's addopts): one worker more than the CPUs, at most 3. A test waits on
    its engines part of the time (a sink's flush, a follow interval, a JVM's start), so a third
    worker fills the 2 cores the suite is measured on: 10 min 22 s against 12 min 7 s with 2
    workers (90 % against 74 % of the CPU busy); each worker holds a quality worker of its own (the
    memory a worker costs). A fourth worker costs more CPU than the dips it fills: fresh clones
    alternated 3, 4, 4, 3 workers took 7 min 55 s, 8 min 18 s, 9 min 6 s, 8 min 32 s (1,014, 1,081,
    1,202, 1,101 busy CPU-seconds). PYTEST_XDIST_AUTO_NUM_WORKERS overrides it, `-n 0` runs without
    workers."""
    wanted = os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS")
    if wanted:
        return int(wanted)
    return max(1, min(3, len(os.sched_getaffinity(0)) + 1))


QUICK_FOLDERS = ("unit", "bench")   # no Spark in them: a run of only these starts no server


def pytest_configure(config) -> None:
    """Under xdist, the controller starts the one Spark Connect server every test worker attaches
    to (tests/support/spark_server.py): one JVM to start, and one whose compiled code all of the
    suite's Spark work reuses, instead of one per worker. Stopped when the run ends."""
    if os.environ.get("PYTEST_XDIST_WORKER") or not getattr(config.option, "numprocesses", 0):
        return
    quick = [Path(__file__).resolve().parent / f for f in QUICK_FOLDERS]
    chosen = [Path(str(a).split("::")[0]).resolve() for a in config.args]
    if chosen and all(any(p.is_relative_to(q) for q in quick) for p in chosen):
        return
    from tests.support import spark_server

    config.add_cleanup(spark_server.start_for_workers())


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Long files before quick ones where xdist's own order (most tests first) leaves a choice
    (tests/support/run_order.py says why not more)."""
    from tests.support.run_order import rank

    items.sort(key=lambda item: rank(Path(str(item.fspath))))


@pytest.fixture()
def settings(tmp_path: Path) -> config.Settings:
    """Settings whose every writable path lives under this test's tmp_path."""
    data = tmp_path / "data"
    return config.load(env={}, data_dir=str(data), state_dir=str(tmp_path / "state"),
                       warehouse=str(data / "warehouse.db"), staging_dir=str(data / "staging"))


class RunningBroker:
    def __init__(self, tmp: Path) -> None:
        self.port = procs.free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.log = tmp / "broker.log"
        self.proc = broker_mod.start(self.port, self.log, tie_to_parent=True)
        broker_mod.wait_ready(self.bootstrap, self.proc, self.log)

    def stop(self) -> None:
        # Memory-only broker: nothing to flush. A broker restarted mid-test can sit out a SIGTERM
        # for as long as clients hold connections (measured: the whole 5 s), so SIGKILL after 1 s.
        procs.stop_pid(self.proc.pid, timeout=1)

    def restart(self) -> None:
        """Kill and start again on the same port: every topic and offset is gone (memory storage)."""
        self.stop()
        self.proc = broker_mod.start(self.port, self.log, tie_to_parent=True)
        broker_mod.wait_ready(self.bootstrap, self.proc, self.log)


@pytest.fixture()
def broker(tmp_path: Path):
    """A real embedded broker (Tansu) on a free loopback port, stopped after the test."""
    b = RunningBroker(tmp_path)
    yield b
    b.stop()


@pytest.fixture(scope="session")
def spark_server() -> str:
    """The test run's Spark Connect server (sc:// URL), shared by every Spark test of every worker."""
    from tests.support.spark_server import shared_url

    return shared_url()


@pytest.fixture(scope="session")
def spark(spark_server: str):
    """A Spark Connect session on the run's server, as `normalize` and `run` attach to the stack's."""
    from spark_jobs.session import connect

    s = connect(spark_server)
    yield s
    s.stop()


def needs(binary: str) -> None:
    if shutil.which(binary) is None:
        pytest.fail(f"{binary} is not installed: run `make setup` (scripts/apt-packages.txt lists it)")
