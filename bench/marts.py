"""Benchmark of one continuous-mode increment's analytics on a grown warehouse: marts and gate.

    python -m bench.marts --rows 1500000 --runs 60

Builds a synthetic warehouse (``tests/support/warehouse.py``: valid clean rows spread over ``--runs``
normalize runs, the schema of spark_jobs/warehouse.sql with its indexes), then times, on warm
engines as `run --follow` uses them: an increment's marts (``--increment`` new clean rows appended
as one more run, then the loop's own ``dbt run``, in-process: studentflow.pipeline.follow.marts_command)
and the gate on the last run's rows (``gate.run(run_id=...)``), three times each; then drops the
named indexes (``--drop ''``: none) and times both again. What it shows: which costs follow the
history rather than the increment.
"""
from __future__ import annotations

import itertools
import os
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from bench import arg_parser

INDEXES = ("clean_students_run_id", "quarantine_students_run_id", "clean_students_major_age")


def _median_of_3(call) -> float:
    times = []
    for _ in range(3):
        t = time.perf_counter()
        call()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    ap = arg_parser("bench.marts", __doc__)
    ap.add_argument("--rows", type=int, default=1_500_000, help="clean rows in the warehouse (default 1500000)")
    ap.add_argument("--runs", type=int, default=60, help="normalize runs they belong to (default 60)")
    ap.add_argument("--drop", default=",".join(INDEXES), help="indexes to drop for the second measure ('': no second measure)")
    ap.add_argument("--increment", type=int, default=5000, help="clean rows appended before each marts build (default 5000)")
    args = ap.parse_args(argv)

    from studentflow.core import config
    from tests.support import warehouse as aw

    with tempfile.TemporaryDirectory(prefix="sf-bench-marts-") as tmp:
        root = Path(tmp)
        db = root / "data" / "warehouse.db"
        per_run = args.rows // args.runs
        rows: list[tuple] = []
        for r in range(args.runs):
            rows += aw.random_clean_rows(per_run, seed=r, run_id=f"run-{r:05d}")
        last = f"run-{args.runs - 1:05d}"
        aw.build(db, rows=rows, run_id=last)
        with sqlite3.connect(db) as conn:   # one pipeline_runs row per run (build() wrote the last one)
            conn.executemany("INSERT INTO pipeline_runs (run_id, clean_count, duplicates_removed, status) "
                             "VALUES (?, ?, 0, 'success')", [(f"run-{r:05d}", per_run) for r in range(args.runs - 1)])
        settings = config.load(data_dir=str(root / "data"), state_dir=str(root / "state"), warehouse=str(db))
        os.environ["STUDENTFLOW_WAREHOUSE"] = str(db)
        from expectations import gate
        from studentflow.pipeline.follow import marts_command
        from studentflow.pipeline.warm import WarmDbt

        dbt = WarmDbt(settings)
        ok, problems = dbt.invoke("build")
        if not ok:
            raise SystemExit("dbt build failed on the synthetic warehouse: " + "; ".join(problems))
        gate.run(settings, docs=False, run_id=last)   # imports and first context: not timed
        print(f"{len(rows):,} clean rows over {args.runs} runs (load {os.getloadavg()[0]:.2f})", flush=True)
        increments = itertools.count(1)

        def increment_marts() -> float:
            """One more run's rows appended, then the loop's dbt command: its seconds (the appending untimed)."""
            k = next(increments)
            new = aw.random_clean_rows(args.increment, seed=10_000 + k, run_id=f"incr-{k:05d}")
            with sqlite3.connect(db) as conn:
                aw.insert_clean(conn, [(f"incr-{k}-{i}", *r[1:]) for i, r in enumerate(new)])
            t = time.perf_counter()
            ok, problems = dbt.invoke(*marts_command(project_changed=False))
            if not ok:
                raise SystemExit("dbt failed: " + "; ".join(problems))
            return time.perf_counter() - t

        for label in ("with the indexes", *([f"without {args.drop}"] if args.drop else [])):
            marts = statistics.median(increment_marts() for _ in range(3))
            gated = _median_of_3(lambda: gate.run(settings, docs=False, run_id=last))
            print(f"{label:<40} an increment's marts {marts:.2f} s   gate on one run's rows {gated:.2f} s "
                  f"(medians of 3; load {os.getloadavg()[0]:.2f})", flush=True)
            with sqlite3.connect(db) as conn:
                for name in filter(None, args.drop.split(",")):
                    conn.execute(f"DROP INDEX IF EXISTS {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
