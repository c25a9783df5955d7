"""The SparkSession for the normalization job: quiet, small-machine friendly, SQLite JDBC ready."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from core.config import PROJECT_ROOT, Settings
from core.errors import StackError

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

SQLITE_JDBC_JAR = Path("/usr/share/java/sqlite-jdbc.jar")  # Debian libxerial-sqlite-jdbc-java
LOG4J2_FILE = Path(__file__).with_name("log4j2.properties")


# Below this many lines a run is over before HotSpot's optimizing compiler (C2) pays back: its
# compile threads compete with the work for 2 cores. Such a JVM stops at the quick compiler (C1).
# Measured, cold 10k-line normalize, alternated runs: 23.3 / 27.6 s with C2, 14.4 / 15.8 s with C1
# only; at 1M lines C1 only was slower (transform 71 s against 59 s, loaded machine).
QUICK_JIT_LINES = 250_000


def spark_conf(settings: Settings, *, quick: bool = False) -> dict[str, str]:
    """Every setting the job's SparkSession is built with (also used by the test fixture).
    ``quick``: a short-lived JVM for a small run (see QUICK_JIT_LINES)."""
    conf = {
        "spark.app.name": "studentflow-normalize",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.session.timeZone": "UTC",
        # a few hundred MB of shuffle at most: a handful of partitions, AQE coalesces further
        "spark.sql.shuffle.partitions": "8",
        "spark.sql.adaptive.enabled": "true",
        "spark.driver.memory": "2g",
        # -XX:-DontCompileHugeMethods: HotSpot never JIT-compiles a method over 8,000 bytes of
        # bytecode unless told to, and normalize's fused stage is bigger (10.9 KB seen): it ran
        # interpreted. Compiled, the stage stays fused. Measured, cold 1M-line normalize,
        # alternated: 28.6 / 31.8 s against 35.5 / 54.2 s with Spark's per-operator fallback.
        "spark.driver.extraJavaOptions": f"-Dlog4j.configurationFile=file:{LOG4J2_FILE} " + (
            f"-XX:ArchiveClassesAtExit={os.environ['STUDENTFLOW_CDS_TRAINING']} -Xlog:cds=off"
            if os.environ.get("STUDENTFLOW_CDS_TRAINING") else _class_data_sharing(settings))
        + " -XX:-DontCompileHugeMethods" + (" -XX:TieredStopAtLevel=1" if quick else ""),
        "spark.log.structuredLogging.enabled": "false",
    }
    if SQLITE_JDBC_JAR.is_file():
        conf["spark.jars"] = str(SQLITE_JDBC_JAR)
        conf["spark.driver.extraClassPath"] = str(SQLITE_JDBC_JAR)
    return conf


CDS_ARCHIVE = PROJECT_ROOT / ".state" / "spark-classes.jsa"


def _class_data_sharing(settings: Settings) -> str:
    """JVM class-data sharing for the driver: map the archive of the classes a normalize loads, when
    setup built one (`python -m spark_jobs.archive`, run by `make setup`). Measured:
    a cold 10k-line normalize 27.8 s -> 19-24 s. A JVM that finds the archive unusable (another Java,
    another classpath) ignores it silently; without one, nothing changes. Never written by a normal
    run: dumping takes seconds at JVM exit."""
    if CDS_ARCHIVE.is_file() and CDS_ARCHIVE.stat().st_size > 0:
        return f"-XX:SharedArchiveFile={CDS_ARCHIVE} -Xshare:auto"
    return ""


def active_session() -> "SparkSession | None":
    """The SparkSession already running in this process, if any (without starting one)."""
    from pyspark.sql import SparkSession

    return SparkSession.getActiveSession()


def get_session(settings: Settings, *, quick: bool = False) -> "SparkSession":
    """Start (or reuse) the SparkSession on ``settings.spark_master``, logs at ERROR only.
    ``quick``: the run is small (fewer than QUICK_JIT_LINES lines): a JVM tuned to start fast."""
    if settings.spark_master.startswith("local"):
        # loopback only: silences "your hostname resolves to a loopback address" and binds nothing public
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # Python workers (if any ever run) use this venv's interpreter, not whatever python3 is on PATH.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master(settings.spark_master)
    for key, value in spark_conf(settings, quick=quick).items():
        builder = builder.config(key, value)
    # The JVM inherits our stderr at launch; point it at a log file so its start-up chatter
    # ("Using incubator modules", "Setting default log level") stays out of the terminal.
    # Errors still reach the user: Py4J raises them in Python with the Java message.
    log = settings.state_dir / "logs" / "spark.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved, fd = os.dup(2), os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 2)
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # JVM missing, bad master URL, port trouble...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StackError(f"Spark could not start on {settings.spark_master}: {first}",
                         f"check `java -version` (Java 17) and STUDENTFLOW_SPARK_MASTER; see {log}") from None
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(fd)
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def release(spark: "SparkSession") -> None:
    """Stop the session AND end its JVM, returning its memory (GBs after a large run) to the system.

    ``spark.stop()`` alone keeps PySpark's gateway JVM alive until Python exits, which would hold
    the heap through dbt, GX and the report. The JVM exits when its stdin closes; the next
    :func:`get_session` in this process then starts a fresh one.
    """
    import subprocess

    from pyspark import SparkContext

    spark.stop()
    gateway = SparkContext._gateway
    if gateway is None:
        return
    proc = getattr(gateway, "proc", None)
    try:
        gateway.shutdown()
    except Exception:  # noqa: BLE001  (already gone: nothing to release)
        pass
    if proc is not None:
        try:
            proc.stdin.close()
            proc.wait(timeout=15)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
    SparkContext._gateway = None
    SparkContext._jvm = None

