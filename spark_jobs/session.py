"""Spark for the normalization job: the server's settings and the client session that attaches to it.

Every Spark user of the project (``normalize``, ``run``, ``run --follow``, the tests) is a Spark
Connect client of one long-lived server (:mod:`spark_jobs.server`), so no command pays a JVM
start or a cold JIT of its own once the stack is up.
"""
from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from studentflow.core.config import Settings
from studentflow.core.errors import StackError
from studentflow.core.procs import pid_alive

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession

SQLITE_JDBC_JAR = Path("/usr/share/java/sqlite-jdbc.jar")  # Debian libxerial-sqlite-jdbc-java
LOG4J2_FILE = Path(__file__).with_name("log4j2.properties")


# A server that lives for one small run is over before HotSpot's optimizing compiler (C2) pays
# back: its compile threads compete with the work for 2 cores. Such a server stops at the quick
# compiler (C1). Measured on the in-process JVM, cold 10k-line normalize, alternated: 23.3 / 27.6 s
# with C2, 14.4 / 15.8 s with C1 only; at 1M lines C1 only was slower. A kept server never uses it.
QUICK_JIT_LINES = 250_000

# The transform's fused stage is one generated method of 23.5 KB of bytecode (processNext). C2
# compiles it first with the branches no row had taken yet left out; the first row that takes
# one sends it back (an uncommon trap), and the compile with them in ran out of C2's node budget
# (80,000: "out of nodes after split", HotSpot's compilation log): the method then ran without
# C2 code for the server's whole life, a warm 1M transform 7-8.5 s instead of 4.5-5.5 s, on one
# server in three. The budget is raised for that method only (docs/normalize.md has the runs).
FUSED_STAGE_NODE_LIMIT = 400_000
FUSED_STAGE_METHOD = "org.apache.spark.sql.catalyst.expressions.GeneratedClass$GeneratedIteratorForCodegenStage*::processNext"


def spark_conf(settings: Settings, *, java_options: str = "", quick_jit: bool = False) -> dict[str, str]:
    """The server's Spark settings (``java_options``: driver JVM options instead of the class-data
    archive, e.g. for the archive training run; ``quick_jit``: see QUICK_JIT_LINES)."""
    conf = {
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.session.timeZone": "UTC",
        # a few hundred MB of shuffle at most: a handful of partitions, AQE coalesces further
        "spark.sql.shuffle.partitions": "8",
        "spark.sql.adaptive.enabled": "true",
        # -XX:-DontCompileHugeMethods: HotSpot never JIT-compiles a method over 8,000 bytes of
        # bytecode unless told to, and normalize's fused stage is bigger (10.9 KB seen): it ran
        # interpreted. Compiled, the stage stays fused. Measured, cold 1M-line normalize,
        # alternated: 28.6 / 31.8 s against 35.5 / 54.2 s with Spark's per-operator fallback.
        "spark.driver.extraJavaOptions": " ".join(filter(None, (
            java_option(f"-Dlog4j.configurationFile=file:{LOG4J2_FILE}"),
            java_options or class_data_sharing(settings),
            "-XX:-DontCompileHugeMethods",
            # quiet first: CompileCommand otherwise prints to stdout, which Spark's launcher reads
            f"-XX:CompileCommand=quiet -XX:CompileCommand=MaxNodeLimit,{FUSED_STAGE_METHOD},{FUSED_STAGE_NODE_LIMIT}",
            "-Duser.language=en -Duser.country=US",
            "-XX:TieredStopAtLevel=1" if quick_jit else ""))),
        "spark.log.structuredLogging.enabled": "false",
        # lower() by Java's String.toLowerCase instead of ICU's: ICU's first use builds a
        # title-case word iterator from its data files, about 1.2 s of a new server's first query
        # (a 10k-line normalize 4.1-4.5 s -> 2.6-3.1 s). The folded keys are the same either way
        # (tests/integration/test_normalize_transform.py). Java's follows the JVM's locale, pinned
        # above (-Duser.language=en): a Turkish one would lower-case I to a dotless i.
        "spark.sql.icu.caseMappings.enabled": "false",
    }
    if SQLITE_JDBC_JAR.is_file():
        conf["spark.jars"] = str(SQLITE_JDBC_JAR)
        conf["spark.driver.extraClassPath"] = str(SQLITE_JDBC_JAR)
    return conf


def java_option(option: str) -> str:
    """One JVM option as a token of ``spark.driver.extraJavaOptions``, which Spark's launcher
    splits at whitespace unless quoted: a path with a space (a checkout or a state folder in
    "My Projects") is quoted, with its quotes and backslashes escaped as the launcher reads them."""
    if not any(c.isspace() or c in "\"'\\" for c in option):
        return option
    return '"' + option.replace("\\", "\\\\").replace('"', '\\"') + '"'


def class_data_sharing(settings: Settings) -> str:
    """Map the archive of what a warmed-up server loaded, when setup built one
    (``settings.paths.spark_archive``, `python -m spark_jobs.archive`). On JDK 25 it is an
    ahead-of-time cache (classes loaded and linked, method profiles): against JDK 17 with its
    class-data archive, a new server answers about 2 s sooner and its first 10k-line query costs
    about a third less (docs/architecture.md, "The Spark server's Java"). On JDK 17 a class-data
    archive: start 3.9-4.5 s -> 2.4-2.7 s. A JVM that finds it unusable (another Java, another
    classpath) goes on without it."""
    from spark_jobs import jvm

    archive = settings.paths.spark_archive
    if not (archive.is_file() and archive.stat().st_size > 0):
        return ""
    if jvm.aot_cache(settings):
        return f"{java_option(f'-XX:AOTCache={archive}')} -Xlog:aot=off -Xlog:cds=off"
    return f"{java_option(f'-XX:SharedArchiveFile={archive}')} -Xshare:auto"


def class_data_training(settings: Settings, target: Path) -> str:
    """The JVM options of the run that writes that archive to ``target`` when its JVM exits."""
    from spark_jobs import jvm

    if jvm.aot_cache(settings):
        return f"{java_option(f'-XX:AOTCacheOutput={target}')} -Xlog:aot=off -Xlog:cds=off"
    return f"{java_option(f'-XX:ArchiveClassesAtExit={target}')} -Xlog:cds=off"


SESSION_PARAMETER = ";session_id="   # Spark Connect's URL parameter naming a server-side session


def session_url(url: str, session_id: str) -> str:
    """``url`` naming one session of the server."""
    return f"{url.rstrip('/')}/{SESSION_PARAMETER}{session_id}"


def connect(url: str, *, server_pid: int | None = None, session_id: str = "") -> "SparkSession":
    """A new Spark Connect session on ``url`` (its own session state on the server). ``server_pid``:
    the local server's process, when this machine runs it: once it is gone, nothing is retried.
    ``session_id``: that session of the server instead (the stack's shared one, warm from the
    clients before), left open on the server when this client stops; so is a session that ``url``
    names itself (``sc://host:15002/;session_id=UUID``): the next client finds it warm."""
    from pyspark.sql import SparkSession
    from pyspark.sql.connect.client.retries import DefaultPolicy

    class Policy(DefaultPolicy):
        # Spark's default retries a lost server for 10 minutes (a cluster restarting); a dead
        # server should fail the increment in seconds (it rolls back, the next run restarts it):
        # about 15 s of back-off for a remote one, none once a local server's process is gone.
        def can_retry(self, exception: BaseException) -> bool:
            if not super().can_retry(exception):
                return False
            return server_pid is None or not _seen_gone(server_pid)

    try:
        spark = SparkSession.builder.remote(session_url(url, session_id) if session_id else url).create()
        spark.client.set_retry_policies([Policy(max_retries=6, max_backoff=5000)])
        if session_id or SESSION_PARAMETER in url:
            spark.release_session_on_close = False   # stop() closes the channel only: the next client finds it
        return spark
    except Exception as exc:  # noqa: BLE001  (bad URL, nothing listening ...)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StackError(f"cannot attach to the Spark Connect server at {url}: {first}",
                         "check STUDENTFLOW_SPARK_REMOTE, or `studentflow stack status`") from None


def _seen_gone(pid: int, settle: float = 0.5) -> bool:
    """Whether the server's process is gone. A killed server's sockets close while the kernel is
    still tearing the process down, so a lost connection can come before the process is seen
    gone: a process still there gets ``settle`` seconds before it counts as alive."""
    deadline = time.monotonic() + settle
    while pid_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def arrow_batches(df: "DataFrame") -> tuple[Any, Iterator[Any]]:
    """(Arrow schema, record batches) of ``df``'s rows, as Spark sends them: on Spark Connect one
    batch at a time as they arrive (``toArrow()`` would hold the whole result, twice, while it
    concatenates); on a classic session, the batches of ``toArrow()``.

    On Spark Connect the query starts here, and the schema is the one its result stream opens
    with: asking ``df.schema`` first would have the server analyze the whole plan once more
    (about 0.3 s of a small increment's fixed cost)."""
    import pyarrow as pa
    from pyspark.sql.pandas.types import to_arrow_schema
    from pyspark.sql.types import StructType

    def arrow(struct: StructType) -> Any:
        return to_arrow_schema(struct, error_on_duplicated_field_names_in_struct=True, timezone="UTC")

    client = getattr(df.sparkSession, "client", None)
    if client is None or not hasattr(df, "_plan"):   # a classic session
        schema = arrow(df.schema)
        return schema, iter(df.toArrow().cast(schema).to_batches())

    stream = client.to_table_as_iterator(df._plan.to_proto(client), df._plan.observations)
    first = next(stream, None)
    if not isinstance(first, StructType):   # not sent first: ask for it, keep what came
        schema, stream = arrow(df.schema), itertools.chain([] if first is None else [first], stream)
    else:
        schema = arrow(first)

    def batches() -> Iterator[Any]:
        for part in stream:
            if isinstance(part, pa.Table):
                yield from part.to_batches()
    return schema, batches()
