"""Where each output lives: one named path per place, derived from the settings' folders.

A command writes under ``data_dir`` (what a user reads: the warehouse, reports, Data Docs) or
``state_dir`` (what the machinery keeps: ports, PIDs, logs, scratch) and nowhere else; `make setup`
writes what it builds for the machine under ``setup_dir``, which every state folder shares. Three
paths are settings of their own (``warehouse``, ``staging_dir``, ``drop_file``): config.py puts
them under ``data_dir`` unless set. ``settings.paths`` builds this (cheap, no I/O); the README's
table of outputs is :func:`reference_markdown` (``studentflow config --markdown paths``).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def _at(folder: str, relative: str, doc: str) -> Any:
    """A path: ``relative`` inside the setting ``folder``, or the setting itself when ``relative`` is ""."""
    return field(metadata={"folder": folder, "relative": relative, "doc": doc})


@dataclass(frozen=True)
class Paths:
    # --- data_dir: what a run produces ------------------------------------------
    staging: Path = _at("staging_dir", "", "The Connect sink's landing file (students.raw.txt).")
    warehouse: Path = _at("warehouse", "", "The SQLite warehouse: clean, quarantine, runs, dbt marts.")
    drop_file: Path = _at("drop_file", "", "The file the Connect drop source streams into the topic.")
    report: Path = _at("data_dir", "report", "The markdown reports and their charts (one set per language).")
    site: Path = _at("data_dir", "site", "The local page: index.html, fr.html, en.html, runs.csv, page.json.")
    quality: Path = _at("data_dir", "quality", "The Great Expectations gate's outputs.")
    quality_results: Path = _at("data_dir", "quality/results", "Validation results the Data Docs list "
                                                               "(written by GX where expectations/project.py says; a test keeps the two equal).")
    quality_docs: Path = _at("data_dir", "quality/docs", "Data Docs (HTML, the last quality_history runs).")
    quality_summary: Path = _at("data_dir", "quality/validation.json", "The gate's summary the report reads.")
    dbt_target: Path = _at("data_dir", "dbt/target", "dbt's artifacts (run_results.json, manifest, docs).")
    dbt_logs: Path = _at("data_dir", "dbt/logs", "dbt's log.")
    # --- state_dir: what the stack keeps ------------------------------------------
    logs: Path = _at("state_dir", "logs", "Logs of the stack's processes.")
    broker_log: Path = _at("state_dir", "logs/broker.log", "The embedded broker's log.")
    connect_log: Path = _at("state_dir", "logs/connect.log", "The Connect worker's log (its JVM output: connect.out).")
    spark_log: Path = _at("state_dir", "logs/spark-connect.log", "The Spark Connect server's output.")
    spark_warm_up_log: Path = _at("state_dir", "logs/spark-warm-up.log", "The server's warm-up run.")
    quality_log: Path = _at("state_dir", "logs/quality.log", "The quality worker's log (its jobs, one line each).")
    quality_state: Path = _at("state_dir", "quality.json", "The stack's quality worker: address, PID, key (0600).")
    stack_state: Path = _at("state_dir", "stack.json", "The embedded broker and worker: ports, PIDs, logs.")
    spark_state: Path = _at("state_dir", "spark.json", "The stack's Spark Connect server: URL, PID.")
    spark_session_lock: Path = _at("state_dir", "spark-session.lock",
                                   "Held by the client using the stack server's shared session (one at a time).")
    lock: Path = _at("state_dir", "studentflow.lock", "The project lock (one state-changing command at a time).")
    connect_standalone_properties: Path = _at("state_dir", "connect-standalone.properties",
                                              "The standalone worker's configuration (0600: it may hold secrets).")
    connect_distributed_properties: Path = _at("state_dir", "connect-distributed.properties",
                                               "The distributed worker's configuration (0600).")
    connect_log4j: Path = _at("state_dir", "connect-log4j2.properties", "The worker's logging configuration.")
    connect_offsets: Path = _at("state_dir", "connect.offsets", "The standalone worker's source offsets.")
    spark_work: Path = _at("state_dir", "spark", "The Spark server's working folder.")
    spark_tmp: Path = _at("state_dir", "spark/tmp", "Spark's shuffle, spill and scratch files (spark.local.dir and java.io.tmpdir).")
    spark_sql_warehouse: Path = _at("state_dir", "spark/warehouse", "spark.sql.warehouse.dir (kept out of the cwd).")
    normalize_scratch: Path = _at("state_dir", "normalize", "normalize's copies of each increment's files, per run.")
    # --- setup_dir: made by `make setup` for this machine, shared by every state folder ------
    spark_archive: Path = _at("setup_dir", "spark-connect-classes.aot",
                              "The Spark server's class archive (JDK 25: its ahead-of-time cache; JDK 17: a class-data "
                              "archive): a server started with any state folder maps it.")
    connect_archive: Path = _at("connect_libs_dir", "connect-classes.jsa",
                                "Connect's class-data archive: built for those jars, deleted with them.")

    @classmethod
    def of(cls, settings: Any) -> "Paths":
        """The paths of ``settings`` (a config.Settings: read by attribute, so this module needs no import of it)."""
        return cls(**{f.name: _resolve(settings, f.metadata) for f in dataclasses.fields(cls)})

    def connect_properties(self, mode: str) -> Path:
        """The worker's configuration file for ``mode`` (standalone or distributed)."""
        return self.connect_standalone_properties if mode == "standalone" else self.connect_distributed_properties


def _resolve(settings: Any, meta: Any) -> Path:
    folder = getattr(settings, meta["folder"])
    return folder / meta["relative"] if meta["relative"] else folder


def reference_markdown(under: dict[str, tuple[str, str]]) -> str:
    """The README's table of where each output lives; ``under``: each path setting's default place
    (from the settings' declarations: warehouse -> (data_dir, warehouse.db))."""
    rows = ["| `settings.paths.` | where | what |", "|---|---|---|"]
    for f in dataclasses.fields(Paths):
        folder, relative = f.metadata["folder"], f.metadata["relative"]
        if relative:
            where = f"`<{folder}>/{relative}`"
        else:   # a setting of its own: where it is unless set
            where = "`<{}>/{}` (setting `{}`)".format(*under[folder], folder)
        rows.append(f"| `{f.name}` | {where} | {f.metadata['doc']} |")
    return "\n".join(rows)

