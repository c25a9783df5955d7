"""One method run of bench/compare.py: its work folder, its broker, its timed window, its outputs.

Every run starts its own embedded broker (Tansu) and points studentflow at it as a configured
Kafka (STUDENTFLOW_BOOTSTRAP_SERVERS), so the broker is the only engine running before a cold
window: studentflow's Connect worker and Spark server start inside it, like the original's Spark.
"""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import compare_lib as cl
from connect import runtime
from studentflow.core import config

RESULTS_DIR = config.PROJECT_ROOT / "bench" / "results"
ROOT = config.PROJECT_ROOT
TOPIC = "students.raw"
WARM_TOPIC = "students.warm-up"     # the warm original's first run reads other events from here
SINK = "students-staging-sink"


def cli() -> list[str]:
    exe = Path(sys.executable).with_name("studentflow")
    return [str(exe)] if exe.is_file() else [sys.executable, "-m", "studentflow.cli"]


def loadavg() -> list[float] | None:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return None


class Work:
    """One method run: its folder, its STUDENTFLOW_* environment, the processes it started."""

    def __init__(self, root: Path, interval: float) -> None:
        self.root = root
        self.interval = interval
        root.mkdir(parents=True, exist_ok=True)
        data = root / "data"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("STUDENTFLOW_")}
        self.env.update(STUDENTFLOW_STATE_DIR=str(root / "state"), STUDENTFLOW_DATA_DIR=str(data),
                        STUDENTFLOW_STAGING_DIR=str(data / "staging"), STUDENTFLOW_WAREHOUSE=str(data / "warehouse.db"),
                        STUDENTFLOW_DROP_FILE=str(data / "drop" / "students.txt"), STUDENTFLOW_TOPIC=TOPIC,
                        STUDENTFLOW_CONFIG=str(root / "studentflow.toml"), STUDENTFLOW_BOOTSTRAP_SERVERS="",
                        STUDENTFLOW_CONNECT_URL="")
        # The project's studentflow.toml stays out of the figures. The harness's broker is Tansu, seen
        # by studentflow as a configured Kafka, so its worker would keep Kafka's 45 s group session
        # and Tansu would hold the sink's join about 23 s (docs/architecture.md); the embedded
        # broker's session goes in the worker's [kafka.java] table, as the original's consumer gets it.
        (root / "studentflow.toml").write_text("[kafka.java]\n" + runtime.embedded_session_lines())
        self.acct = cl.CpuAccount()
        self.n = 0

    def settings(self) -> config.Settings:
        return config.load(env=self.env)

    def start(self, cmd: list[str], role: str | None, env: dict | None = None) -> subprocess.Popen:
        """Start ``cmd`` (stdout/stderr to files in the work folder); ``role`` = counted for CPU."""
        self.n += 1
        base = self.root / f"{self.n:02d}-{role or 'setup'}"
        with open(base.with_suffix(".out"), "wb") as fo, open(base.with_suffix(".err"), "wb") as fe:
            p = subprocess.Popen(cmd, env=env or self.env, cwd=ROOT, stdout=fo, stderr=fe, stdin=subprocess.DEVNULL)
        p.out_path = base.with_suffix(".out")  # type: ignore[attr-defined]
        if role:
            self.acct.add_root(p.pid, role)
        return p

    def wait(self, procs: list[subprocess.Popen], until=None) -> None:
        """Sample CPU until every process exited (read once more as a zombie, then reaped), or ``until()``."""
        left = list(procs)
        try:
            while left:
                for p in list(left):
                    if os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                        self.acct.sample()
                        p.wait()
                        left.remove(p)
                if until is not None and until():
                    return
                if left:
                    self.acct.sample()
                    time.sleep(self.interval)
        except BaseException:
            stop(left)
            raise

    def run(self, cmd: list[str], role: str | None = None, check: bool = True, env: dict | None = None) -> str:
        p = self.start(cmd, role, env)
        self.wait([p])
        text = p.out_path.read_text(errors="replace")  # type: ignore[attr-defined]
        if check and p.returncode != 0:
            err = p.out_path.with_suffix(".err").read_text(errors="replace").strip().splitlines()[-3:]  # type: ignore
            raise RuntimeError(f"{' '.join(cmd[-4:])} failed (exit {p.returncode}): {' | '.join(err)}")
        return text


def stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def produce_cmd(n: int, args, seed: int | None = None) -> list[str]:
    return cli() + ["produce", "--count", str(n), "--seed", str(args.seed if seed is None else seed),
                    "--malformed-rate", str(args.malformed_rate)]


def first_event_time(bootstrap: str, topic: str, since: float, slack: float = 1.0, timeout: float = 300
                     ) -> float | None:
    """Epoch seconds of the earliest message timestamp not before ``since`` (the window's start,
    less ``slack`` for clocks a little apart): the first event the window produced. A warm run's
    topic also holds its first run's events, produced long before; they are skipped. (Offsets
    cannot tell them apart: the embedded broker reports batch offsets as its end offsets.)"""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

    from studentflow.core.kafka import quiet_logger

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-compare-first", "enable.auto.commit": False,
                  "enable.partition.eof": True, "logger": quiet_logger()})
    try:
        parts = list(c.list_topics(topic, timeout=10).topics[topic].partitions)
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
        left, stamps, deadline = set(parts), [], time.monotonic() + timeout
        while left and time.monotonic() < deadline:
            m = c.poll(1.0)
            if m is None or m.partition() not in left:
                continue
            eof = m.error() is not None and m.error().code() == KafkaError._PARTITION_EOF
            stamp = m.timestamp()[1] / 1000 if m.error() is None and m.timestamp()[1] > 0 else None
            if eof or (stamp is not None and stamp >= since - slack):
                left.discard(m.partition())
                c.pause([TopicPartition(topic, m.partition())])
                if stamp is not None:
                    stamps.append(stamp)
        return min(stamps) if stamps else None
    finally:
        c.close()


def table_rows(db: Path, table: str) -> int | None:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute(f"select count(*) from {table}").fetchone()[0]
    except sqlite3.Error:
        return None
    finally:
        conn.close()


def start_broker(w: Work):
    """The run's broker, alone, with its topics; studentflow pointed at it. (process, bootstrap)."""
    from studentflow import broker
    from studentflow.core import kafka
    from studentflow.core import procs

    port = procs.free_port()
    bootstrap = f"127.0.0.1:{port}"
    bproc = broker.start(port, w.root / "broker.log", tie_to_parent=True)
    try:
        broker.wait_ready(bootstrap, bproc, w.root / "broker.log")
        for topic in (TOPIC, WARM_TOPIC):
            kafka.ensure_topic({"bootstrap.servers": bootstrap, "logger": kafka.quiet_logger()}, topic,
                                w.settings().topic_partitions)
    except BaseException:
        procs.stop_pid(bproc.pid, timeout=5)
        raise
    w.env["STUDENTFLOW_BOOTSTRAP_SERVERS"] = bootstrap
    return bproc, bootstrap


def live_seconds(win: cl.Window, bootstrap: str, topic: str) -> dict[str, Any]:
    first = first_event_time(bootstrap, topic, win.wall0)
    return {"first_event_after_start_s": None if first is None else round(first - win.wall0, 3),
            "wall_s": cl.live_wall(first, win.wall0, win.wall1)}


# --------------------------------------------------------------------------- studentflow
def _engines(w: Work) -> None:
    """The running worker and Spark server of the stack, counted from now (a warm window)."""
    from studentflow.core.endpoints import SparkState, StackState

    s = w.settings()
    state, spark = StackState.read(s), SparkState.read(s)
    if state:
        w.acct.add_existing(state.connect_pid, "connect")
    if spark:
        w.acct.add_existing(spark.pid, "spark")


def _studentflow_warm_up(w: Work, n: int, args, gate: list[str]) -> None:
    """`stack up`, a first run on other events (seed + 1), then the sink deleted (its committed
    offsets stay: re-applied, it reads only what comes after) and that run's staging and
    warehouse removed, so that the measured run writes its outputs from its own events only."""
    w.run(cli() + ["stack", "up"])
    w.run(produce_cmd(n, args, seed=args.seed + 1))
    w.run(cli() + ["connect", "apply"])
    w.run(cli() + ["run", "--no-produce", *gate])
    w.run(cli() + ["connect", "delete", SINK])
    s = w.settings()
    shutil.rmtree(s.staging_dir, ignore_errors=True)
    s.staging_dir.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(str(s.warehouse) + suffix).unlink(missing_ok=True)


def studentflow_run(w: Work, scenario: str, n: int, args) -> dict[str, Any]:
    bproc, bootstrap = start_broker(w)
    live, warm = scenario.endswith("_live"), scenario.startswith("warm")
    gate = ["--no-gate"] if args.no_gate else []
    try:
        if warm:
            _studentflow_warm_up(w, n, args, gate)
        if not live:
            w.run(produce_cmd(n, args))
        w.acct.add_existing(bproc.pid, "broker")
        if warm:
            _engines(w)
        win = cl.Window().start()
        if live:
            out = w.run(cli() + ["run", "--count", str(n), "--seed", str(args.seed),
                                 "--malformed-rate", str(args.malformed_rate), *gate], "studentflow")
        else:
            if not warm:
                w.run(cli() + ["stack", "up"], "studentflow")
            w.run(cli() + ["connect", "apply"], "studentflow")
            out = w.run(cli() + ["run", "--no-produce", *gate], "studentflow")
        res: dict[str, Any] = {"process_wall_s": win.stop(), "cpu_s": w.acct.seconds(),
                               "cpu_by_role_s": w.acct.seconds_by_role(),
                               "stages": cl.parse_stage_times(out), "wall_s": win.seconds}
        if live:
            res.update(live_seconds(win, bootstrap, TOPIC))
        wh = Path(cl.parse_outputs(out).get("warehouse", w.settings().warehouse))
        res["kept_rows"] = table_rows(wh, "clean_students")
        res["outputs"] = {"averages_rows": table_rows(wh, "major_avg_age_over_20"),
                          "stats_rows": table_rows(wh, "major_age_stats"),
                          "boxplot": any(k.endswith("boxplot.png") and Path(v).is_file()
                                         for k, v in cl.parse_outputs(out).items())}
        return res
    finally:
        w.run(cli() + ["stack", "down"], check=False)
        _stop_broker(bproc)


def _stop_broker(bproc) -> None:
    from studentflow.core import procs

    procs.stop_pid(bproc.pid, timeout=5)
    bproc.wait()


# --------------------------------------------------------------------------- the originals
def _original_cmd(w: Work, scenario: str, n: int, args, method: str, bootstrap: str) -> list[str]:
    cmd = [sys.executable, "-m", "bench.baseline_original", "--bootstrap", bootstrap, "--topic", TOPIC,
           "--method", method, "--expect", str(n), "--idle", str(args.idle), "--out-dir", str(w.root / method),
           "--json-out", str(w.root / "result.json"), "--master", w.settings().spark_master]
    if cl.quick_jit(scenario, n):          # exactly when studentflow's Spark server gets it
        cmd.append("--quick-jit")
    if scenario.endswith("_live"):
        cmd += ["--ready-file", str(w.root / "ready")]
    if scenario.startswith("warm"):
        cmd += ["--warm-topic", WARM_TOPIC, "--go-file", str(w.root / "go")]
    return cmd


def _warm_original(w: Work, cmd: list[str], n: int, args, method: str) -> subprocess.Popen:
    """The process's first run, on other events (seed + 1, the warm-up topic): not timed."""
    w.run(produce_cmd(n, args, seed=args.seed + 1), env={**w.env, "STUDENTFLOW_TOPIC": WARM_TOPIC})
    proc = w.start(cmd, None)
    warm = w.root / "result.warm"
    cl.wait_until(lambda: warm.is_file() or proc.poll() is not None)
    if not warm.is_file():
        raise RuntimeError(f"the warm {method} original's first run failed (exit {proc.returncode}); "
                           f"see {proc.out_path}")  # type: ignore[attr-defined]
    return proc


def _result(js: Path, orig: subprocess.Popen, method: str, n: int) -> dict[str, Any]:
    """The original's result file; a RuntimeError (a failed run) without one, or when its loop read
    another number of messages than were produced."""
    if not js.is_file():
        raise RuntimeError(f"the {method} original failed (exit {orig.returncode}); see {orig.out_path}")  # type: ignore
    o = json.loads(js.read_text())
    if o["messages_read"] != n:
        raise RuntimeError(f"the {method} original's loop read {o['messages_read']} of {n} messages "
                           "(its idle wait ended it early, or the topic held others)")
    return o


def original_run(w: Work, scenario: str, n: int, args, method: str) -> dict[str, Any]:
    bproc, bootstrap = start_broker(w)
    live, warm = scenario.endswith("_live"), scenario.startswith("warm")
    js, procs = w.root / "result.json", []
    try:
        cmd = _original_cmd(w, scenario, n, args, method, bootstrap)
        if warm:
            procs.append(_warm_original(w, cmd, n, args, method))
        if not live:
            w.run(produce_cmd(n, args))
        w.acct.add_existing(bproc.pid, "broker")
        if warm:
            w.acct.add_root(procs[0].pid, method, from_now=True)
        win = cl.Window().start()
        if warm:
            (w.root / "go").write_text("go\n")
        else:
            procs.append(w.start(cmd, method))
        orig = procs[0]
        if live:
            cl.wait_until(lambda: (w.root / "ready").is_file() or orig.poll() is not None, w.acct.sample)
            procs.append(w.start(produce_cmd(n, args), "producer"))
        cl.wait_until(lambda: js.is_file() or orig.poll() is not None, w.acct.sample, interval=w.interval)
        res: dict[str, Any] = {"process_wall_s": win.stop(), "cpu_s": w.acct.seconds(),
                               "cpu_by_role_s": w.acct.seconds_by_role(), "wall_s": win.seconds}
        w.wait(procs)
        o = _result(js, orig, method, n)
        if live:
            res.update(live_seconds(win, bootstrap, TOPIC))
        db = Path(o["sqlite"])
        res.update(stages={k: round(v, 3) for k, v in o["timings"].items()}, messages_read=o["messages_read"],
                   kept_rows=o["records_kept"], verdicts=o["verdicts"], majors=o["majors"], idle_wait_s=o["idle_wait_s"],
                   outputs={"averages_rows": table_rows(db, "avg_age_by_major"),
                            "stats_rows": table_rows(db, "age_stats_by_major"), "boxplot": Path(o["boxplot"]).is_file()})
        return res
    finally:
        stop(procs)
        _stop_broker(bproc)
