"""The original method's steps after the consume loop: createDataFrame ... report (bench/baseline_original.py).

Each step is marked as its own phase (:class:`Phases`); nothing here talks to Kafka.
"""
from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any, Callable

TABLE = "avg_age_by_major"          # average age by major, students older than 20
STATS_TABLE = "age_stats_by_major"  # the describe() table (corrected method only)
REPORT_TITLE = "Rapport de Traitement de Données Étudiantes"


def schema():
    """The original's explicit schema (no inference): three strings and an integer age."""
    from pyspark.sql.types import IntegerType, StringType, StructField, StructType

    return StructType([StructField("first_name", StringType(), True), StructField("last_name", StringType(), True),
                       StructField("age", IntegerType(), True), StructField("major", StringType(), True)])


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


def _averages(spark, records: list[dict], db: Path, phases: Phases, log: Callable[[str], None]):
    """Steps 5-9: createDataFrame, result.show(), collect, result.toPandas(), to_sql, SELECT *."""
    import pandas as pd

    df = spark.createDataFrame(records, schema())
    phases.mark("create_dataframe")
    result = df.filter(df.age > 20).groupBy("major").avg("age")
    result.show()
    phases.mark("result_show")
    n_majors = len(result.collect())
    log(f"Nombre de filières : {n_majors}")
    phases.mark("result_collect")
    result_pd = result.toPandas().rename(columns={"avg(age)": "avg_age"})
    phases.mark("result_to_pandas")
    conn = sqlite3.connect(db)
    try:
        result_pd.to_sql(TABLE, conn, if_exists="replace", index=False)
        conn.commit()
        phases.mark("to_sql")
        log(pd.read_sql(f"SELECT * FROM {TABLE}", conn).to_string())
        phases.mark("select_check")
    finally:
        conn.close()
    return df, n_majors


def analyse(spark, records: list[dict], out_dir: Path, phases: Phases, log: Callable[[str], None] = print,
            stats_table: bool = False) -> dict[str, Any]:
    """Steps 5-10, each marked as its own phase; ``stats_table``: the per-major table into SQLite too."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    db = out_dir / "students.db"
    df, n_majors = _averages(spark, records, db, phases, log)
    pdf = df.toPandas()
    phases.mark("to_pandas")
    stats = pdf.groupby("major")["age"].describe()
    log(stats.to_string())
    phases.mark("describe")
    if stats_table:
        with sqlite3.connect(db) as conn:
            stats.reset_index().to_sql(STATS_TABLE, conn, if_exists="replace", index=False)
        phases.mark("stats_to_sql")
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
    return {"majors": n_majors, "rows": len(pdf), "sqlite": str(db), "boxplot": str(boxplot), "report": str(report),
            "tables": [TABLE, STATS_TABLE] if stats_table else [TABLE],
            "global_mean_of_means": round(mean_of_means, 4), "global_mean": round(mean_all, 4)}


def read_averages(db: Path) -> dict[str, float]:
    """major -> average age (age > 20) from the original's SQLite table."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {m: float(a) for m, a in conn.execute(f"select major, avg_age from {TABLE}")}
    finally:
        conn.close()
