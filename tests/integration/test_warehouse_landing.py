"""The commit's clean rows through the ADBC landing file: real SQLite files, the real ADBC driver.

The rows must land exactly as the executemany path they replaced landed them (the reference,
kept in bench.landing), a failure after the landing must leave the warehouse as it was and no
landing file behind, and ADBC's own SQLite must never open the warehouse.
"""
from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
from contextlib import closing
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from bench import landing as bl
from studentflow.core.errors import DataError
from spark_jobs import landing
from spark_jobs import warehouse as wh

TABLES = ("clean_students", "quarantine_students", "pipeline_runs", "staging_watermarks")


def edge_rows(first_line: int) -> pa.Table:
    """Clean rows with NULLs, unicode, extreme integers, appended after ``first_line``."""
    names = ["Zoé\u0301", "😀 emoji", "李", "nul\x00inside", "quote ' and \"", "", None, "x" * 5000]
    n = len(names)
    cols = {c: [None] * n for c in bl.COLUMNS}
    cols.update(source_file=[bl.FILE] * n, line_number=[first_line + i for i in range(n - 1)] + [2**62],
                verdict=["clean"] * n, rule=["json_loose"] * (n - 1) + [None],
                event_id=[f"edge-{i}-€" for i in range(n)], student_id=[None, "S1"] * (n // 2),
                first_name=names, last_name=list(reversed(names)),
                age=[2**31 - 1, -2**31, 0, None, 22, 15, 100, 23], major=["Économie", None] * (n // 2),
                emitted_at=[None, "2026-11-27T10:00:00Z"] * (n // 2), schema_version=[1, None] * (n // 2),
                _sig=[2**63 - 1] * n, _idh=[-2**63] * n)
    types = {"line_number": pa.int64(), "age": pa.int32(), "schema_version": pa.int32(), "_sig": pa.int64(),
             "_idh": pa.int64()}
    return pa.table({c: pa.array(cols[c], types.get(c, pa.string())) for c in bl.COLUMNS})


def full_and_increment() -> tuple[pa.Table, pa.Table]:
    first = pa.concat_tables([bl.classified_rows(3000, seed=1), edge_rows(3001)])
    # the increment resends warehouse events (duplicates and conflicts judged against it)
    second = bl.classified_rows(2000, seed=2, first_line=5000, base=3000, base_seed=1)
    return first, second


def contents(db: Path) -> dict[str, list[tuple]]:
    """Every row of every table with each value's storage class, in rowid order."""
    out = {}
    with closing(sqlite3.connect(db)) as conn:
        for table in TABLES:
            cols = wh.table_columns(conn, table)
            picks = ", ".join(f"{c}, typeof({c})" for c in cols)
            out[table] = conn.execute(f"SELECT rowid, {picks} FROM {table} ORDER BY rowid").fetchall()
    return out


def test_rows_land_as_the_executemany_path_landed_them(tmp_path):
    first, second = full_and_increment()
    got, want = tmp_path / "adbc" / "w.db", tmp_path / "executemany" / "w.db"
    no_clean = bl.classified_rows(500, seed=3, first_line=9000)
    no_clean = no_clean.filter(pc.not_equal(no_clean["verdict"], "clean"))   # an empty landing
    counts = [bl.commit(got, first, run_id="r1", full_refresh=True),
              bl.commit(got, second, run_id="r2", full_refresh=False),
              bl.commit(got, no_clean, run_id="r3", full_refresh=False)]
    with bl.executemany_path():
        expected = [bl.commit(want, first, run_id="r1", full_refresh=True),
                    bl.commit(want, second, run_id="r2", full_refresh=False),
                    bl.commit(want, no_clean, run_id="r3", full_refresh=False)]
    assert counts == expected
    assert counts[2].get("clean", 0) == 0 and counts[2]["quarantine"] > 0
    assert counts[1]["duplicate"] > 0 and counts[1]["by_reason"].get("conflicting_duplicate")
    a, b = contents(got), contents(want)
    assert len(a["clean_students"]) > 4000
    for table in TABLES:
        assert a[table] == b[table], table
    # the edge values came through with their storage class
    with closing(sqlite3.connect(got)) as conn:
        rows = conn.execute("SELECT first_name, age, typeof(age), line_number FROM clean_students "
                            "WHERE event_id LIKE 'edge-%' ORDER BY rowid").fetchall()
    assert rows[0] == ("Zoé\u0301", 2**31 - 1, "integer", 3001)
    assert ("nul\x00inside", None, "null", 3004) in rows
    assert rows[-1][3] == 2**62


@pytest.mark.parametrize("full_refresh", [True, False])
@pytest.mark.parametrize("failure", ["conservation", "after_landing"])
def test_a_failure_leaves_the_warehouse_unchanged_and_no_landing_file(tmp_path, full_refresh, failure):
    first, second = full_and_increment()
    db, scratch = tmp_path / "w.db", tmp_path / "scratch"
    bl.commit(db, first, run_id="r1", full_refresh=True)
    before = contents(db)
    rows = first if full_refresh else second
    wh.ensure_tables(db)
    with closing(wh.connect(db)) as conn:
        run_row = {"run_id": "r2", "started_at": "s", "finished_at": "f", "lines_read": rows.num_rows,
                   "staging_files": bl.FILE, "status": "ok", "mode": "x"}

        def broken_lookup(_wanted):   # asked inside the transaction, after the rows were copied in
            raise RuntimeError("injected")

        with pytest.raises(DataError if failure == "conservation" else RuntimeError):
            wh.commit(conn, rows, run_id="r2", run_row=run_row, marks=[], full_refresh=full_refresh,
                      updated_at="f", lines_expected=rows.num_rows + (1 if failure == "conservation" else 0),
                      raw_lines=bl.raw_lines if failure == "conservation" else broken_lookup,
                      landing_dir=scratch)
        # detached, and the connection still works
        assert [r[1] for r in conn.execute("PRAGMA database_list")] == ["main"]
        assert not conn.in_transaction
    assert contents(db) == before
    assert list(scratch.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scratch", "w.db"]


def test_by_default_the_landing_folder_is_beside_the_warehouse_and_goes_afterwards(tmp_path):
    first, _ = full_and_increment()
    db = tmp_path / "data" / "w.db"
    bl.commit(db, first, run_id="r1", full_refresh=True, landing_dir=None)
    assert sorted(p.name for p in db.parent.iterdir()) == ["w.db"]


def test_adbc_never_opens_the_warehouse(tmp_path, monkeypatch):
    import adbc_driver_sqlite.dbapi as adbc

    db = tmp_path / "w.db"
    opened: list[str] = []
    real = adbc.connect

    def connect(uri, *args, **kwargs):
        opened.append(uri)
        assert not (os.path.exists(uri) and db.exists() and os.path.samefile(uri, db))
        return real(uri, *args, **kwargs)

    monkeypatch.setattr(adbc, "connect", connect)
    first, second = full_and_increment()
    bl.commit(db, first, run_id="r1", full_refresh=True, landing_dir=tmp_path)   # the warehouse's own folder
    bl.commit(db, second, run_id="r2", full_refresh=False, landing_dir=None)
    assert len(opened) == 2
    for uri in opened:
        path = Path(uri)
        assert path.name == landing.FILE and path.parent.name.startswith(".landing-")
        assert path.resolve() != db.resolve() and not path.exists()
    # a path that exists (the warehouse, say) is refused before ADBC opens anything
    with pytest.raises(FileExistsError):
        landing.Writer(db)
    assert len(opened) == 2


def test_the_descriptor_check_sees_a_file_sqlite3_holds(tmp_path):
    path = tmp_path / "f.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x)")
    assert landing._open_descriptors(path)
    conn.close()
    assert landing._open_descriptors(path) == []


def test_ctrl_c_during_an_ingest_reaches_the_commands_handler_and_the_rows_land(tmp_path):
    """ADBC puts its own SIGINT handler around each call, and it cancelled the ingest instead
    (NotSupportedError from the SQLite driver) without the command's handler ever seeing the signal.
    Here the command's handler notes the Ctrl-C, and the batch in flight lands whole."""
    from studentflow.signals import StopRequest, stop_on_signal

    ids = pa.array(range(3_000_000), pa.int64())   # about 2 s to ingest: the signal lands inside
    batch = pa.table({"id": ids, "name": pc.cast(ids, pa.string())})
    sent: list[float] = []

    def ctrl_c() -> None:
        time.sleep(0.1)
        sent.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)

    stop = StopRequest()
    path = landing.new_path(tmp_path)
    with stop_on_signal(stop), landing.Writer(path) as writer:
        timer = threading.Thread(target=ctrl_c)
        started = time.monotonic()
        timer.start()
        writer.append("rows", batch)
        ended = time.monotonic()
        timer.join()
    assert started < sent[0] < ended, "the Ctrl-C came after the ingest: the test proves nothing"
    assert stop.signal_name == "SIGINT" and stop.reason() == "stopped by SIGINT"
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT count(*), sum(id) FROM rows").fetchone() == (len(ids), pc.sum(ids).as_py())
