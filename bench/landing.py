"""commit() into SQLite: the ADBC landing file against the executemany path it replaced.

    .venv/bin/python -m bench.landing                                  # 1M rows, +100k, median of 3
    .venv/bin/python -m bench.landing --rows 200000 --increment 20000 --repeat 1

Prints, for each way of writing the clean rows (``adbc``: spark_jobs/landing.py, the path commit() takes;
``executemany``: the same commit() with the clean rows bound as Python tuples from Arrow batches,
as before the landing file), the median over --repeat runs of:
  full    commit() of --rows classified rows into a fresh warehouse (full refresh);
  incr    commit() of --increment rows on top of a warehouse of --rows (1% of them resend a
          warehouse event: duplicates and conflicts judged against it);
with the seconds of the whole call (index builds, duplicates judged, quarantine rows included:
the same code in both), the part spent writing the clean rows (executemany; or the ADBC write of
the landing file plus the INSERT .. SELECT) and the ADBC write alone, the RSS before commit() and
the peak RSS while it ran (VmHWM, reset just before the call).

Each measure runs in a child process of its own, which builds the rows commit() receives (the
columns of normalize.as_rows after the dedup step; generated here, no Spark) and then times the
call, so one measure's memory never shows in another's.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import zlib
from contextlib import closing, contextmanager, nullcontext
from pathlib import Path
from typing import Any, Iterator, Sequence

from bench import arg_parser
from spark_jobs import warehouse as wh
from studentflow.core import contract
from studentflow.core.contract import CONFLICT_DETAIL

REPO = Path(__file__).resolve().parents[1]
FILE = contract.STAGING_FILE
FIRST = ("Alice", "Bob", "Claire", "Léa", "Zoé", "Inès", "Noé", "Gaëlle", "Hugo", "Jules", "Ōsaka", "李")
LAST = ("Dupont", "Martin", "Lemoine", "Bernard", "Petit", "Durand", "Leroy", "Moreau", "Fournier", "Girard")
MAJORS = ("Informatique", "Chimie", "Mathématiques", "Economie", "Physique", "Philosophie", "Littérature",
          "Biologie")
RULES = ("json_strict",) * 17 + ("json_loose", "csv", "key_value")
QUARANTINE = (("hello kafka", "not_json_or_csv", "neither a JSON object nor first,last,age,major"),
              ('{"first_name": "Léa"', "invalid_json", "starts like JSON but does not parse as an object"),
              ("Zoé,Roy,140,Physique", "age_out_of_range", "age=140 outside 15..100"),
              ("Zoé,Roy,22,Astrologie", "unknown_major", "major=Astrologie"),
              ("", "empty", "empty line"))
COLUMNS = ("source_file", "line_number", "raw_line", "verdict", "rule", "reason", "detail", "event_id",
           "student_id", "first_name", "last_name", "age", "major", "emitted_at", "schema_version", "_sig", "_idh")


def event_ids(n: int, seed: int) -> list[str]:
    """n random UUID-shaped ids, the same for the same seed (random: like the producer's)."""
    rng = random.Random(seed)
    return [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(n)]


def _student(k: int, event_id: str, age_shift: int = 0) -> dict[str, Any]:
    return {"event_id": event_id, "student_id": f"S{k}", "first_name": FIRST[k % len(FIRST)],
            "last_name": LAST[(k // 7) % len(LAST)], "age": 17 + (k + age_shift) % 30, "major": MAJORS[k % len(MAJORS)],
            "emitted_at": f"2026-11-27T{k // 3600 % 24:02d}:{k // 60 % 60:02d}:{k % 60:02d}Z", "schema_version": 1}


def classified_rows(n: int, *, seed: int = 1, first_line: int = 1, base: int = 0, base_seed: int = 1) -> Any:
    """n rows as commit() receives them (in line order, duplicates within them judged): ~95% clean,
    4% quarantine, 1% later copies (``duplicate``), 0.2% same id with other content
    (``conflicting_duplicate``, no raw text: commit asks ``raw_lines``), a header on line 1. With
    ``base``: 1% of the rows resend one of the ``base`` students of ``classified_rows(base,
    seed=base_seed)`` unchanged and 0.2% with another age, judged by commit() against the warehouse."""
    import pyarrow as pa

    rng = random.Random(seed * 7919 + first_line)
    ids = event_ids(n, seed)
    base_ids = event_ids(base, base_seed) if base else []
    out: dict[str, list] = {c: [] for c in COLUMNS}
    clean_at: list[int] = []   # rows of this table that are clean: what copies repeat
    for i in range(n):
        line = first_line + i
        u = rng.random()
        row: dict[str, Any] = {"source_file": FILE, "line_number": line, "raw_line": None, "rule": None,
                               "reason": None, "detail": None}
        if line == 1:
            row["verdict"] = "header"
        elif u < 0.04:
            raw, reason, detail = QUARANTINE[i % len(QUARANTINE)]
            row.update(verdict="quarantine", raw_line=raw, reason=reason, detail=detail)
        elif u < 0.052 and clean_at:
            first = clean_at[rng.randrange(len(clean_at))]
            copy = {c: out[c][first] for c in ("event_id", "student_id", "first_name", "last_name", "age", "major",
                                               "emitted_at", "schema_version", "rule")}
            row.update(copy)
            if u < 0.05:
                row["verdict"] = "duplicate"
            else:
                row.update(verdict="quarantine", reason="conflicting_duplicate", age=copy["age"] % 30 + 18,
                           detail=CONFLICT_DETAIL.format(event_id=copy["event_id"],
                                                         first_at=f"{FILE}:{out['line_number'][first]}"))
        elif base and u < 0.064:
            k = rng.randrange(base)
            row.update(_student(k, base_ids[k], age_shift=0 if u < 0.062 else 1), verdict="clean", rule=RULES[k % 20])
        else:
            row.update(_student(i, ids[i]), verdict="clean", rule=RULES[i % len(RULES)])
        if row["verdict"] == "clean":
            clean_at.append(i)
        clean_like = row["verdict"] != "header" and row.get("event_id") is not None
        row["_sig"] = zlib.crc32(f"{row.get('student_id')}|{row.get('age')}".encode()) if clean_like else None
        row["_idh"] = int(row["event_id"][:16].replace("-", ""), 16) - (1 << 55) if clean_like else None
        for c in COLUMNS:
            out[c].append(row.get(c))
    types = {"line_number": pa.int64(), "age": pa.int32(), "schema_version": pa.int32(), "_sig": pa.int64(),
             "_idh": pa.int64(), "verdict": pa.string()}
    table = pa.table({c: pa.array(out[c], types.get(c, pa.string())) for c in COLUMNS})
    # Spark hands the driver one record batch per task: about eight
    return pa.Table.from_batches(table.to_batches(max_chunksize=max(1, -(-n // 8))))


def raw_lines(wanted: list[tuple[str, int]]) -> dict[tuple[str, int], str]:
    """The staged text of rows that turned out to conflict (commit asks: they travel without it)."""
    return {key: f'{{"line":{key[1]}}}' for key in wanted}


# --- the path this change replaced: executemany over Python tuples -------------------------------
def clean_tuples(rows: Any, columns: Sequence[str]) -> Iterator[tuple]:
    """The clean rows of an Arrow table as tuples, 50,000 at a time (as commit() did before)."""
    import pyarrow.compute as pc

    for batch in rows.select(["verdict", *columns]).to_batches(max_chunksize=50_000):
        batch = batch.filter(pc.equal(batch.column(0), "clean"))
        yield from zip(*(batch.column(i + 1).to_pylist() for i in range(len(columns))))


_REFERENCE: dict[str, Any] = {}   # the rows commit() was given, for the executemany path


def _executemany_clean(conn: Any, table: str, _source: str, _ranges: Any) -> None:
    rows, run_id = _REFERENCE["rows"], _REFERENCE["run_id"]
    columns = [c for c in wh.table_columns(conn, table) if c != "run_id"]
    wh._append(conn, table, columns, clean_tuples(rows, columns), run_id)


@contextmanager
def executemany_path() -> Iterator[None]:
    """commit() with its clean rows written as before the landing file, bound as Python tuples
    from the Arrow table (the reference for the benchmark and the tests); everything else in it
    unchanged (the landing file is still made, and not read)."""
    saved = wh._append_landed
    wh._append_landed = _executemany_clean
    try:
        yield
    finally:
        wh._append_landed = saved
        _REFERENCE.clear()


def commit(db: Path, rows: Any, *, run_id: str, full_refresh: bool, landing_dir: Path | None = None) -> dict:
    """commit() of ``rows`` into the warehouse ``db`` (tables created if missing), as job.py calls it."""
    wh.ensure_tables(db)
    _REFERENCE.update(rows=rows, run_id=run_id)
    with closing(wh.connect(db)) as conn:
        run_row = {"run_id": run_id, "started_at": "2026-11-27T10:00:00.000Z",
                   "finished_at": "2026-11-27T10:00:01.000Z", "lines_read": rows.num_rows,
                   "staging_files": FILE, "status": "ok", "mode": "full_refresh" if full_refresh else "incremental"}
        return wh.commit(conn, rows, run_id=run_id, lines_expected=rows.num_rows, run_row=run_row, marks=[],
                         full_refresh=full_refresh, updated_at=run_row["finished_at"], raw_lines=raw_lines,
                         landing_dir=landing_dir)


# --- one measure per child process ---------------------------------------------------------------
def _status_kb(key: str) -> int:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith(key + ":"))


def child(path: str, how: str, scenario: str, rows: int, increment: int) -> dict:
    db = Path(path)
    if scenario == "full":
        table = classified_rows(rows, seed=1)
    else:
        table = classified_rows(increment, seed=2, first_line=rows + 1, base=rows, base_seed=1)
    import adbc_driver_sqlite.dbapi  # noqa: F401  (imported by both: its load is not the commit's memory)
    gc.collect()
    rss = _status_kb("VmRSS")
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")   # VmHWM := the current RSS: the peak below is the commit's
    spent: dict[str, float] = {"landing_write": 0.0, "append": 0.0}

    def timed(name: str, fn: Any) -> Any:
        def call(*args: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*args)
            finally:
                spent[name] += time.perf_counter() - t
        return call

    wh.incoming.receive = timed("landing_write", wh.incoming.receive)
    run_id, full = f"bench-{scenario}", scenario == "full"
    t = time.perf_counter()
    with executemany_path() if how == "executemany" else nullcontext():
        wh._append_landed = timed("append", wh._append_landed)   # the clean rows' INSERT, either way
        counts = commit(db, table, run_id=run_id, full_refresh=full, landing_dir=db.parent / "scratch")
    seconds = time.perf_counter() - t
    return {"seconds": seconds, "rows_s": spent["landing_write"] + spent["append"],
            "landing_write_s": spent["landing_write"] if how == "adbc" else None,
            "rss_before_mb": rss / 1024, "peak_mb": _status_kb("VmHWM") / 1024,
            "clean": counts.get("clean", 0), "quarantine": counts.get("quarantine", 0),
            "duplicate": counts.get("duplicate", 0)}


def _run_child(*args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "bench.landing", "--child", *args], cwd=REPO,
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = arg_parser("bench.landing", __doc__)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--increment", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--child", nargs=3, metavar=("DB", "HOW", "SCENARIO"), help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        print(json.dumps(child(*a.child, rows=a.rows, increment=a.increment)))
        return 0
    sizes = ["--rows", str(a.rows), "--increment", str(a.increment)]
    with tempfile.TemporaryDirectory(prefix="bench-landing-") as tmp:
        root = Path(tmp)
        base = root / "base" / "warehouse.db"
        _run_child(str(base), "adbc", "full", *sizes)   # the warehouse the increments go on top of
        results: dict[tuple[str, str], list[dict]] = {}
        for _ in range(a.repeat):
            for scenario in ("full", "incr"):
                for how in ("executemany", "adbc"):   # alternated: a load change hits both
                    db = root / f"{how}-{scenario}" / "warehouse.db"
                    shutil.rmtree(db.parent, ignore_errors=True)
                    db.parent.mkdir(parents=True)
                    if scenario == "incr":
                        shutil.copyfile(base, db)
                    results.setdefault((scenario, how), []).append(_run_child(str(db), how, scenario, *sizes))
        print(f"bench.landing: {a.rows:,} rows full refresh, +{a.increment:,} increment; median of {a.repeat}; "
              f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"{'':5} {'how':12} {'commit s':>9} {'clean rows s':>13} {'(adbc write)':>13} {'RSS before MB':>14} "
              f"{'peak MB':>8}  commit s of each run")
        for (scenario, how), runs in results.items():
            med = {k: statistics.median(r[k] for r in runs) for k in ("seconds", "rows_s", "rss_before_mb", "peak_mb")}
            write = [r["landing_write_s"] for r in runs if r["landing_write_s"] is not None]
            write_s = f"{statistics.median(write):.2f}" if write else "-"
            each = ", ".join(f"{r['seconds']:.2f}" for r in runs)
            print(f"{scenario:5} {how:12} {med['seconds']:9.2f} {med['rows_s']:13.2f} {write_s:>13} "
                  f"{med['rss_before_mb']:14.0f} {med['peak_mb']:8.0f}  {each}")
        counts = {(s, h): (r[0]["clean"], r[0]["quarantine"], r[0]["duplicate"]) for (s, h), r in results.items()}
        for scenario in ("full", "incr"):
            if counts[(scenario, "adbc")] != counts[(scenario, "executemany")]:
                raise SystemExit(f"{scenario}: the two paths counted differently: {counts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
