"""The original notebook method, ported faithfully as a benchmark baseline (NOT part of the product).

What the notebook did (docs/architecture.md "Where it comes from", and its review), in its order,
each step timed as its own phase here:

1. ``subscribe``  a confluent-kafka consumer is created and subscribed FIRST (the group join then
   goes on in the client's background threads while Spark starts);
2. ``spark_startup``  the SparkSession;
3. ``consume``  ``poll(1.0)`` once per message, each value kept as text in a list;
4. ``parse``  the original parsing function on each message (:func:`parse_message`), with a
   ``print`` per message it could not parse (the only trace a dropped message leaves);
5. ``create_dataframe``  ``spark.createDataFrame(records, SCHEMA)``: the original's explicit
   schema, no inference;
6. ``result_show``  ``result.show()`` where ``result`` is the Spark average age by major of the
   students older than 20;  7. ``result_collect``  ``len(result.collect())`` (the number of majors);
8. ``to_pandas``  ``df.toPandas()`` of every kept row;
9. ``describe``  ``groupby('major')['age'].describe()``: the per-major count/mean/std/min/max table;
10. ``avg_over_20``  average age by major for students older than 20 (pandas);
11. ``global_average``  the mean of the per-major means (what the report printed) and the mean of
    all ages, both printed;
12. ``boxplot``  the PNG of age by major;  13. ``report``  the French markdown report;
14. ``to_sql``  the averages and the per-major table into SQLite.

No canonicalization of majors, no range check, no deduplication, no quarantine: that is the point.
The sources say what ran, not every detail: the port's choices are that ``result`` is the Spark
over-20 average, that SQLite gets the averages and the per-major table, and that the "age part"
of the flexible extraction is the comma-separated field that contains ``age``.

    python -m bench.baseline_original --bootstrap 127.0.0.1:9092 --topic students.raw \\
        --expect 100000 --out-dir bench/results/original --json-out bench/results/original.json

It runs as its own process (like the notebook): it pays its own interpreter, pyspark import and
Spark JVM start-up. The per-message ``print`` goes to standard output (send it to a file).
"""
from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Callable

TABLE = "avg_age_by_major"          # average age by major, students older than 20
STATS_TABLE = "age_stats_by_major"  # the describe() table
REPORT_TITLE = "Rapport de Traitement de Données Étudiantes"


def schema():
    """The original's explicit schema (no inference): three strings and an integer age."""
    from pyspark.sql.types import IntegerType, StringType, StructField, StructType

    return StructType([StructField("first_name", StringType(), True), StructField("last_name", StringType(), True),
                       StructField("age", IntegerType(), True), StructField("major", StringType(), True)])


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def parse_message(message: str, log: Callable[[str], None] | None = None) -> dict[str, Any] | None:
    """The original parsing function: a dict ``first_name, last_name, age, major`` or None (dropped).

    - JSON first: any text ``json.loads`` accepts. Missing fields become ``''`` (names, major) or
      ``0`` (age); ``age`` goes through ``int()`` (``"22"`` -> 22, ``22.9`` -> 22). If that fails
      (``"vingt"``, ``null``) or the JSON is not an object, the message is dropped.
    - then CSV: exactly four comma-separated fields ``first,last,age,major`` (stripped), age
      through ``int()``;
    - then the flexible age extraction, when ``int()`` refused the age field: the field that
      contains ``age`` (``age:19``) gives the age by joining ALL its digits (``age:1 9`` -> 19,
      ``age:-3`` -> 3).
    - anything else is dropped: ``None``, with one ``print`` of the error (``log``), nothing kept.

    Majors keep their spacing and case; ages are not range-checked; duplicates go through.
    """
    log = print if log is None else log
    try:
        try:
            data = json.loads(message)
        except ValueError:          # json.JSONDecodeError: not JSON, try the other forms
            pass
        else:
            return {"first_name": data.get("first_name", ""), "last_name": data.get("last_name", ""),
                    "age": int(data.get("age", 0)), "major": data.get("major", "")}
        parts = [p.strip() for p in message.split(",")]
        if len(parts) != 4:
            raise ValueError(f"format non reconnu ({len(parts)} champ(s))")
        first, last, age, major = parts
        try:
            return {"first_name": first, "last_name": last, "age": int(age), "major": major}
        except ValueError:
            pass
        age_part = next((p for p in parts if "age" in p.lower()), None)
        if age_part is None:
            raise ValueError(f"âge illisible: {age!r}")
        return {"first_name": first, "last_name": last, "age": int(_digits(age_part)), "major": major}
    except Exception as exc:  # noqa: BLE001 - the original caught everything and printed it
        log(f"Erreur de parsing: {exc} -- message: {message[:80]!r}")
        return None


class Phases:
    """Wall time of each named phase, in order (``mark(name)`` closes the phase that ends now)."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock = clock
        self.t0 = self.last = clock()
        self.timings: dict[str, float] = {}

    def mark(self, name: str) -> None:
        now = self.clock()
        self.timings[name] = now - self.last
        self.last = now

    def total(self) -> float:
        return self.last - self.t0


def make_consumer(conf: dict[str, str], topic: str, group: str):
    """Created and subscribed first, as the notebook did.

    The notebook used the client defaults against a hosted Kafka, where joining a group is quick.
    The embedded broker makes a join last about half of session.timeout.ms (docs/architecture.md), so the
    baseline gets the same 6 s session timeout as studentflow's sink: that quirk is not the
    original method's fault.
    """
    from confluent_kafka import Consumer

    consumer = Consumer({**conf, "group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": True,
                         "session.timeout.ms": 6000, "heartbeat.interval.ms": 1000})
    consumer.subscribe([topic])
    return consumer


def consume(consumer, expect: int, idle_timeout: float = 10.0, first_timeout: float = 300.0
            ) -> tuple[list[str], float | None]:
    """``poll(1.0)`` once per message until ``expect`` messages (what the topic holds) are read.

    Also stops after ``idle_timeout`` s without a message once messages flowed (``first_timeout``
    before the first one: in the live scenario the producer may not have started yet). Returns
    the texts and the ``perf_counter`` of the first message.
    """
    messages: list[str] = []
    first_at = None
    last = time.monotonic()
    try:
        while len(messages) < expect:
            msg = consumer.poll(1.0)
            if msg is None:
                if time.monotonic() - last > (idle_timeout if first_at else first_timeout):
                    break
                continue
            if msg.error():
                continue
            last = time.monotonic()
            if first_at is None:
                first_at = time.perf_counter()
            raw = msg.value()
            messages.append(raw.decode("utf-8", errors="replace") if raw is not None else "")
    finally:
        consumer.close()
    return messages, first_at


def spark_session(master: str):
    """A SparkSession with the same start-up settings as studentflow's (fair comparison)."""
    import os

    from pyspark.sql import SparkSession

    from spark_jobs.session import spark_conf
    from core import config

    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    settings = config.load(env={})
    conf = spark_conf(settings)
    conf["spark.driver.memory"] = settings.spark_memory
    conf["spark.app.name"] = "StudentDataProcessing (original method)"
    builder = SparkSession.builder.master(master)
    for k, v in conf.items():
        builder = builder.config(k, v)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def markdown_report(stats, global_mean_of_means: float, global_mean: float, n_majors: int, n_rows: int) -> str:
    """The French report: the per-major table ``Filière | Nombre | Moyenne | Min | Max | Écart-type``."""
    lines = [f"# {REPORT_TITLE}", "", f"- Étudiants traités : {n_rows}", f"- Nombre de filières : {n_majors}",
             f"- Âge moyen global (moyenne des moyennes par filière) : {global_mean_of_means:.2f}",
             f"- Âge moyen global (tous les étudiants) : {global_mean:.2f}", "",
             "| Filière | Nombre | Moyenne | Min | Max | Écart-type |", "|---|---|---|---|---|---|"]
    for major, row in stats.iterrows():
        std = "" if row["std"] != row["std"] else f"{row['std']:.2f}"     # NaN for a single student
        lines.append(f"| {major} | {int(row['count'])} | {row['mean']:.2f} | {row['min']:.0f} | {row['max']:.0f} | {std} |")
    lines += ["", "![Distribution des âges par filière](boxplot_age_par_filiere.png)", ""]
    return "\n".join(lines)


def analyse(spark, records: list[dict], out_dir: Path, phases: Phases, log: Callable[[str], None] = print
            ) -> dict[str, Any]:
    """Steps 5-14 (createDataFrame ... to_sql), each marked as its own phase."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    df = spark.createDataFrame(records, schema())
    phases.mark("create_dataframe")
    result = df.filter(df.age > 20).groupBy("major").avg("age")
    result.show()
    phases.mark("result_show")
    n_majors = len(result.collect())
    log(f"Nombre de filières : {n_majors}")
    phases.mark("result_collect")
    pdf = df.toPandas()
    phases.mark("to_pandas")
    stats = pdf.groupby("major")["age"].describe()
    log(stats.to_string())
    phases.mark("describe")
    over_20 = pdf[pdf["age"] > 20].groupby("major")["age"].mean()
    log(over_20.to_string())
    phases.mark("avg_over_20")
    mean_of_means, mean_all = float(stats["mean"].mean()), float(pdf["age"].mean())
    log(f"Âge moyen global : {mean_of_means:.2f} (moyenne des moyennes), {mean_all:.2f} (tous)")
    phases.mark("global_average")
    ax = pdf.boxplot(column="age", by="major", figsize=(12, 6), rot=45)
    ax.set_title("Distribution des âges par filière")
    plt.suptitle("")
    boxplot = out_dir / "boxplot_age_par_filiere.png"
    plt.savefig(boxplot, bbox_inches="tight")
    plt.close("all")
    phases.mark("boxplot")
    report = out_dir / "rapport.md"
    report.write_text(markdown_report(stats, mean_of_means, mean_all, n_majors, len(pdf)), encoding="utf-8")
    phases.mark("report")
    db = out_dir / "students.db"
    conn = sqlite3.connect(db)
    try:
        over_20.rename("avg_age").reset_index().to_sql(TABLE, conn, if_exists="replace", index=False)
        stats.reset_index().to_sql(STATS_TABLE, conn, if_exists="replace", index=False)
        conn.commit()
    finally:
        conn.close()
    phases.mark("to_sql")
    return {"majors": n_majors, "rows": len(pdf), "sqlite": str(db), "boxplot": str(boxplot), "report": str(report),
            "global_mean_of_means": round(mean_of_means, 4), "global_mean": round(mean_all, 4)}


def read_averages(db: Path) -> dict[str, float]:
    """major -> average age (age > 20) from the original's SQLite table."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {m: float(a) for m, a in conn.execute(f"select major, avg_age from {TABLE}")}
    finally:
        conn.close()


def run(conf: dict[str, str], topic: str, expect: int, out_dir: Path, master: str = "local[*]",
        group: str | None = None, ready_file: Path | None = None, log: Callable[[str], None] = print
        ) -> dict[str, Any]:
    """The whole original method, in its order; returns its phase timings and counts."""
    phases = Phases()
    group = group or f"original-notebook-{uuid.uuid4().hex[:8]}"
    consumer = make_consumer(conf, topic, group)
    phases.mark("subscribe")
    if ready_file is not None:
        ready_file.write_text("subscribed\n")
    spark = spark_session(master)
    phases.mark("spark_startup")
    try:
        messages, first_at = consume(consumer, expect)
        phases.mark("consume")
        records = [r for r in (parse_message(m, log) for m in messages) if r is not None]
        phases.mark("parse")
        outputs = analyse(spark, records, out_dir, phases, log)
    finally:
        spark.stop()
    return {"messages_read": len(messages), "records_kept": len(records),
            "dropped_silently": len(messages) - len(records), **outputs, "timings": phases.timings,
            "seconds": phases.total(), "first_message_after_s": None if first_at is None else first_at - phases.t0,
            "table": TABLE, "group": group}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.baseline_original", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers (host:port) holding the topic")
    ap.add_argument("--topic", required=True, help="topic to read from the beginning (its own consumer group)")
    ap.add_argument("--expect", type=int, required=True,
                    help="messages on the topic: the loop stops after reading that many (or 10 s idle)")
    ap.add_argument("--out-dir", type=Path, required=True,
                    help="folder for the outputs: students.db (SQLite), the boxplot PNG, rapport.md")
    ap.add_argument("--master", default="local[*]", help="Spark master URL (default local[*])")
    ap.add_argument("--json-out", type=Path, help="write timings and counts there as JSON")
    ap.add_argument("--ready-file", type=Path, help="written once the consumer is subscribed (for live runs)")
    args = ap.parse_args(argv)
    out = run({"bootstrap.servers": args.bootstrap}, args.topic, args.expect, args.out_dir, args.master,
              ready_file=args.ready_file)
    text = json.dumps(out, indent=2)
    if args.json_out:
        args.json_out.write_text(text + "\n")
    print(text)
    return 0 if out["messages_read"] == args.expect else 1


if __name__ == "__main__":
    sys.exit(main())
