"""The original method, re-implemented faithfully as a benchmark baseline (NOT part of the product).

The notebook studentflow replaces (DESIGN.md, "Where it comes from") did, in order:

1. a confluent-kafka consumer calling ``poll(1.0)`` once per message;
2. the original parsing function on each message: JSON first, then CSV ``first,last,age,major``,
   then a flexible age extraction (``age:19`` -> 19); everything else silently dropped;
3. the parsed records in a Python list, turned into a Spark DataFrame with ``createDataFrame``;
4. ``filter(age > 20)``, ``groupBy(major).avg(age)``;
5. ``toPandas()`` into SQLite with ``DataFrame.to_sql``.

No canonicalization of majors, no range check, no deduplication, no quarantine: that is the point.

    python -m bench.baseline_original --bootstrap 127.0.0.1:9092 --topic students.raw \\
        --expect 100000 --sqlite bench/results/original.db --json-out bench/results/original.json

It runs as its own process (like the notebook), so it pays its own interpreter, pyspark import
and Spark JVM start-up; ``bench.run`` starts it after studentflow processed the same topic.
"""
from __future__ import annotations

import argparse
import json
import re
import sqlite3
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Callable

TABLE = "avg_age_by_major"          # the original's output table
_DIGITS = re.compile(r"\d+")


def parse_message(text: str) -> dict[str, Any] | None:
    """The original parsing function: a dict ``first_name, last_name, age, major`` or None (dropped).

    - JSON first: an object with the four keys; ``age`` goes through ``int()`` (so ``"22"`` is 22).
      Any error (not JSON, not an object, a missing key, an age ``int()`` refuses) falls through.
    - then CSV: exactly four comma-separated fields ``first,last,age,major`` (fields stripped),
      age through ``int()``;
    - then the flexible age extraction: the first run of digits in the age field (``age:19`` -> 19).
    - anything else: ``None``, silently dropped (no count, no reason kept).

    Nothing else is checked: majors keep their spacing and case, ages are not range-checked,
    unknown majors and duplicates go through.
    """
    try:
        data = json.loads(text)
        return {"first_name": data["first_name"], "last_name": data["last_name"],
                "age": int(data["age"]), "major": data["major"]}
    except (ValueError, TypeError, KeyError):
        pass
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 4:
        return None
    first, last, age, major = parts
    try:
        return {"first_name": first, "last_name": last, "age": int(age), "major": major}
    except ValueError:
        pass
    m = _DIGITS.search(age)
    if m is None:
        return None
    return {"first_name": first, "last_name": last, "age": int(m.group()), "major": major}


def consume(conf: dict[str, str], topic: str, group: str, expect: int, idle_timeout: float = 10.0,
            on_message: Callable[[str], None] | None = None) -> tuple[list[dict], int, float | None]:
    """The original loop: ``poll(1.0)`` once per message, parse, append what parsed.

    Stops after ``expect`` messages (what is on the topic; the notebook ran until the topic was
    read), or after ``idle_timeout`` seconds without a message. Returns (records, messages read,
    ``time.perf_counter()`` at the first message: the group join ends there).
    """
    from confluent_kafka import Consumer

    # The notebook used the client defaults against a hosted Kafka, where joining a group is quick.
    # The embedded broker makes a join last about half of session.timeout.ms (DESIGN.md), so the
    # baseline gets the same 6 s session timeout as studentflow's sink: that quirk is not the
    # original method's fault.
    consumer = Consumer({**conf, "group.id": group, "auto.offset.reset": "earliest",
                         "enable.auto.commit": True, "session.timeout.ms": 6000,
                         "heartbeat.interval.ms": 1000})
    consumer.subscribe([topic])
    students: list[dict] = []
    seen = 0
    first_at = None
    last = time.monotonic()
    try:
        while seen < expect:
            msg = consumer.poll(1.0)
            if msg is None:
                if time.monotonic() - last > idle_timeout:
                    break
                continue
            if msg.error():
                continue
            last = time.monotonic()
            if first_at is None:
                first_at = time.perf_counter()
            seen += 1
            raw = msg.value()
            text = raw.decode("utf-8") if raw is not None else ""
            if on_message is not None:
                on_message(text)
            data = parse_message(text)
            if data:
                students.append(data)
    finally:
        consumer.close()
    return students, seen, first_at


def spark_session(master: str):
    """A SparkSession with the same start-up settings as studentflow's (fair comparison)."""
    import os

    from pyspark.sql import SparkSession

    from spark_jobs.session import spark_conf
    from studentflow import config

    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    conf = spark_conf(config.load(env={}))
    conf["spark.app.name"] = "StudentDataProcessing (original method)"
    builder = SparkSession.builder.master(master)
    for k, v in conf.items():
        builder = builder.config(k, v)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def aggregate_to_sqlite(spark, students: list[dict], db: Path) -> int:
    """createDataFrame from the Python list, age > 20, avg(age) per major, toPandas, to_sql."""
    df = spark.createDataFrame(students)
    avg = df.filter(df.age > 20).groupBy("major").avg("age")
    pdf = avg.toPandas()
    conn = sqlite3.connect(db)
    try:
        pdf.to_sql(TABLE, conn, if_exists="replace", index=False)
        conn.commit()
    finally:
        conn.close()
    return len(pdf)


def read_averages(db: Path) -> dict[str, float]:
    """major -> average age (age > 20) from the original's SQLite table."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {m: float(a) for m, a in conn.execute(f'select major, "avg(age)" from {TABLE}')}
    finally:
        conn.close()


def run(conf: dict[str, str], topic: str, expect: int, db: Path, master: str = "local[*]",
        group: str | None = None) -> dict[str, Any]:
    """The whole original method; returns its phase timings and counts."""
    timings: dict[str, float] = {}
    t0 = clock = time.perf_counter()

    def phase(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = now - clock
        clock = now

    group = group or f"original-notebook-{uuid.uuid4().hex[:8]}"
    students, seen, first_at = consume(conf, topic, group, expect)
    if first_at is not None:
        timings["group_join"] = first_at - clock
        clock = first_at
    phase("consume_parse")
    spark = spark_session(master)
    phase("spark_startup")
    try:
        majors = aggregate_to_sqlite(spark, students, db)
        phase("dataframe_to_sqlite")
    finally:
        spark.stop()
    return {"messages_read": seen, "records_kept": len(students), "dropped_silently": seen - len(students),
            "majors": majors, "timings": timings, "seconds": time.perf_counter() - t0, "sqlite": str(db),
            "table": TABLE, "group": group}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.baseline_original", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers (host:port) holding the topic")
    ap.add_argument("--topic", required=True, help="topic to read from the beginning (its own consumer group)")
    ap.add_argument("--expect", type=int, required=True,
                    help="messages on the topic: the loop stops after reading that many (or 10 s idle)")
    ap.add_argument("--sqlite", type=Path, required=True, help="SQLite file the averages are written to")
    ap.add_argument("--master", default="local[*]", help="Spark master URL (default local[*])")
    ap.add_argument("--json-out", type=Path, help="write timings and counts there as JSON")
    args = ap.parse_args(argv)
    out = run({"bootstrap.servers": args.bootstrap}, args.topic, args.expect, args.sqlite, args.master)
    text = json.dumps(out, indent=2)
    if args.json_out:
        args.json_out.write_text(text + "\n")
    print(text)
    return 0 if out["messages_read"] == args.expect else 1


if __name__ == "__main__":
    sys.exit(main())
