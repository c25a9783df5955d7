"""The original notebook method, ported as a benchmark baseline (NOT part of the product).

Two methods, one process each (like the notebook: its own interpreter, pyspark import and Spark JVM):

- ``--method as_shipped`` (default): the notebook's steps in its order (docs/architecture.md
  "Where it comes from"), each timed as its own phase:

  1. ``subscribe``  a confluent-kafka consumer created and subscribed first;
  2. ``spark_startup``  the SparkSession;
  3. ``consume``  the notebook's loop: ``poll(1.0)`` and keep each value as text, until no
     message came for ``--idle`` seconds (the count of messages on the topic is not known);
  4. ``parse``  the original parsing function (:func:`parse_message`), one ``print`` per drop;
  5. ``create_dataframe``  ``spark.createDataFrame(records, SCHEMA)`` (explicit schema);
  6. ``result_show`` / ``result_collect``  ``result`` = the Spark average age by major of the
     students older than 20: ``result.show()``, ``len(result.collect())`` (the number of majors);
  7. ``result_to_pandas``  ``result.toPandas()`` (a Spark job);
  8. ``to_sql``  that table into SQLite (``avg_age_by_major``), the notebook's only table;
  9. ``select_check``  ``SELECT *`` of it read back and printed;
  10. ``to_pandas``  ``df.toPandas()`` of every kept row; ``describe``  the per-major
     count/mean/std/min/max table (pandas); ``global_average``  the mean of the per-major means
     and the mean of all ages, printed; ``boxplot``  the PNG; ``report``  the French markdown.

- ``--method corrected``: the same steps, plus ``judge`` after ``parse`` (canonical majors with
  their aliases, the age range, duplicates by event id: bench/corrected_original.py) and the
  per-major table into SQLite too (``stats_to_sql``), so that it writes what studentflow writes.

The sources say what ran, not every detail: the port's choices are that ``result`` is the Spark
over-20 average, that ``to_sql`` and the ``SELECT *`` check come right after ``result.toPandas()``,
that a CSV message is its first four comma-separated fields as written (extra fields ignored,
nothing stripped), and that the "age part" of the flexible extraction is the field holding ``age``.

Spark gets exactly the settings of studentflow's Spark server (``spark_jobs.session.spark_conf``
for the settings of the environment, the same driver memory; ``--quick-jit`` when studentflow's
server gets it), so the JVMs of both sides start alike, but for their Java: the original's
SparkSession is pyspark's in-process JVM on the system's JDK 17 with its default class sharing,
studentflow's server runs on JDK 25 with the class archive setup built (pyspark's launcher cannot
start that trimmed JDK).

    python -m bench.baseline_original --bootstrap 127.0.0.1:9092 --topic students.raw \\
        --out-dir bench/results/original --json-out bench/results/original.json

``--warm-topic T --go-file F``: run once on topic T first (outputs under ``<out-dir>/warm-up``),
write ``<json-out>.warm``, wait for F to exist, then run on ``--topic`` in the same process and
SparkSession: the measured run of a warm original.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Callable

from bench import arg_parser
from bench.original_parse import parse_event, parse_message  # noqa: F401 (the API)
from bench.original_analysis import (STATS_TABLE, TABLE, Phases, analyse, markdown_report,  # noqa: F401 (the API)
                                     read_averages, schema)

METHODS = ("as_shipped", "corrected")


def make_consumer(conf: dict[str, str], topic: str, group: str):
    """Created and subscribed first, as the notebook did.

    The notebook used the client defaults against a hosted Kafka, where joining a group is quick.
    The embedded broker makes a join last about half of session.timeout.ms (docs/architecture.md), so the
    baseline gets the same session as studentflow's sink on that broker: that quirk is not the
    original method's fault.
    """
    from confluent_kafka import Consumer

    from connect.runtime import EMBEDDED_BROKER_SESSION

    session = {k: int(v) for k, v in EMBEDDED_BROKER_SESSION.items()}
    consumer = Consumer({**conf, "group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": True,
                         **session})
    consumer.subscribe([topic])
    return consumer


def consume(consumer, idle: float = 3.0, first_timeout: float = 300.0, clock: Callable[[], float] = time.monotonic
            ) -> tuple[list[str], float]:
    """The notebook's loop: ``poll(1.0)`` until no message came for ``idle`` seconds.

    Before the first message it waits up to ``first_timeout`` s instead (the group join, or a
    producer that has not started yet), so a loop on an empty topic ends too. Returns the texts
    and the seconds spent waiting after the last message (part of the method's time).
    """
    messages: list[str] = []
    last = clock()
    try:
        while True:
            msg = consumer.poll(1.0)
            if msg is None:
                if clock() - last > (idle if messages else first_timeout):
                    break
                continue
            if msg.error():
                continue
            last = clock()
            raw = msg.value()
            messages.append(raw.decode("utf-8", errors="replace") if raw is not None else "")
    finally:
        consumer.close()
    return messages, clock() - last


def spark_session(master: str, quick_jit: bool = False):
    """A SparkSession with exactly the settings of studentflow's Spark server for this environment."""
    import os

    from pyspark.sql import SparkSession

    from spark_jobs.session import spark_conf
    from studentflow.core import config

    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    settings = config.load()
    # Its JVM is pyspark's own, on the system's Java (JDK 17): pyspark's launcher cannot start the
    # trimmed JDK 25 studentflow's server runs on (spark_jobs/jvm.py), and that server's class
    # archive belongs to that Java. So the JDK's default class sharing, not the server's archive.
    conf = spark_conf(settings, quick_jit=quick_jit, java_options="-Xshare:auto")
    conf["spark.driver.memory"] = settings.spark_memory
    conf["spark.app.name"] = "StudentDataProcessing (original method)"
    builder = SparkSession.builder.master(master)
    for k, v in conf.items():
        builder = builder.config(k, v)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _keep(method: str, messages: list[str], phases: Phases, log: Callable[[str], None]) -> tuple[list[dict], dict]:
    """``parse`` (and, corrected, ``judge``): the records kept and the verdict counts."""
    if method != "corrected":
        records = [r for r in (parse_message(m, log) for m in messages) if r is not None]
        phases.mark("parse")
        return records, {"kept": len(records), "unparsed": len(messages) - len(records)}
    from bench.corrected_original import Judge, reference_from_settings
    from studentflow.core import config

    parsed = [parse_event(m, log) for m in messages]
    phases.mark("parse")
    settings = config.load()
    judge = Judge(reference_from_settings(settings), settings.age_min, settings.age_max)
    kept = judge.keep_parsed(messages, parsed)
    phases.mark("judge")
    return kept, dict(judge.counts)


def run_once(spark_or_start: Any, conf: dict[str, str], topic: str, out_dir: Path, method: str = "as_shipped",
             ready_file: Path | None = None, idle: float = 3.0, log: Callable[[str], None] = print
             ) -> tuple[dict[str, Any], Any]:
    """One run of the method, in its order. ``spark_or_start``: a SparkSession (warm) or a function
    that starts one (after ``subscribe``, as the notebook did). Returns (result, the SparkSession)."""
    phases = Phases()
    group = f"original-notebook-{uuid.uuid4().hex[:8]}"
    consumer = make_consumer(conf, topic, group)
    phases.mark("subscribe")
    spark = spark_or_start() if callable(spark_or_start) else spark_or_start
    if callable(spark_or_start):
        phases.mark("spark_startup")
    if ready_file is not None:      # the consumer is subscribed and Spark has started
        ready_file.write_text("ready\n")
    messages, idle_s = consume(consumer, idle)
    phases.mark("consume")
    records, verdicts = _keep(method, messages, phases, log)
    outputs = analyse(spark, records, out_dir, phases, log, stats_table=method == "corrected")
    return {"method": method, "topic": topic, "messages_read": len(messages), "records_kept": len(records),
            "dropped": len(messages) - len(records), "verdicts": verdicts, **outputs,
            "timings": phases.timings, "idle_wait_s": round(idle_s, 3), "seconds": phases.total(),
            "table": TABLE, "group": group}, spark


def build_parser() -> argparse.ArgumentParser:
    ap = arg_parser("bench.baseline_original", __doc__)
    ap.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers (host:port) holding the topic")
    ap.add_argument("--topic", required=True, help="topic to read from the beginning (its own consumer group)")
    ap.add_argument("--method", choices=METHODS, default="as_shipped", help="the notebook as shipped, or corrected")
    ap.add_argument("--expect", type=int, help="messages expected: exit 1 when the loop read another number")
    ap.add_argument("--idle", type=float, default=3.0, help="the loop ends after this many seconds without a message")
    ap.add_argument("--out-dir", type=Path, required=True,
                    help="folder for the outputs: students.db (SQLite), the boxplot PNG, rapport.md")
    ap.add_argument("--master", default="local[*]", help="Spark master URL (default local[*])")
    ap.add_argument("--quick-jit", action="store_true", help="the quick JIT studentflow's server gets for a small run")
    ap.add_argument("--json-out", type=Path, help="write timings and counts there as JSON (the last output written)")
    ap.add_argument("--ready-file", type=Path, help="written once subscribed and Spark started (live runs)")
    ap.add_argument("--warm-topic", help="run once on this topic first, in the same process (warm runs)")
    ap.add_argument("--go-file", type=Path, help="with --warm-topic: the measured run starts once this file exists")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.warm_topic and not (args.go_file and args.json_out):
        print("error: --warm-topic needs --go-file and --json-out", file=sys.stderr)
        return 2
    conf = {"bootstrap.servers": args.bootstrap}
    spark: Any = lambda: spark_session(args.master, args.quick_jit)   # noqa: E731
    try:
        if args.warm_topic:
            first, spark = run_once(spark, conf, args.warm_topic, args.out_dir / "warm-up", args.method, idle=args.idle)
            args.json_out.with_suffix(".warm").write_text(json.dumps(first) + "\n")
            while not args.go_file.exists():
                time.sleep(0.02)
        out, spark = run_once(spark, conf, args.topic, args.out_dir, args.method, args.ready_file, args.idle)
        text = json.dumps(out, indent=2)
        if args.json_out:     # whole or absent: the harness takes its appearance as "outputs written"
            tmp = args.json_out.with_suffix(".tmp")
            tmp.write_text(text + "\n")
            tmp.replace(args.json_out)
        print(text)
    finally:
        if not callable(spark):
            spark.stop()
    return 0 if args.expect is None or out["messages_read"] == args.expect else 1


if __name__ == "__main__":
    sys.exit(main())
