"""Step 6, duplicates: the first occurrence (file, line) of each event_id wins. Pure logic, no I/O.

A later row with the same event_id is a ``duplicate`` when its content (CONTENT_COLUMNS, compared
through the 64-bit hash ``_sig`` the Spark steps computed) is the first one's, else a quarantined
``conflicting_duplicate`` whose detail names where the first one was staged.

Why on the driver and not in Spark: the rows cross to the driver anyway (SQLite is written from
here), and a Spark window over event_id shuffles and sorts every row: 3 s of a warm 1M-line run,
plus a second stage to compile on a cold JVM. Here it is one sort of 64-bit id hashes in numpy
(a fraction of a second and 8 MB at 1M), and only the few ids seen twice are looked at row by row.
Ids already in the warehouse are judged at commit time (spark_jobs/warehouse.py), by the same rule.
The streamed path (spark_jobs/incoming.py) and the commit judge in SQL on SQLite files; the
conflict detail they write is :func:`conflict_detail_sql`, built from the same template.
"""
from __future__ import annotations

from string import Formatter
from typing import TYPE_CHECKING, Any, Iterable

from studentflow.core.contract import CONFLICT_DETAIL

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa


def in_line_order(rows: "pa.Table") -> "pa.Table":
    """Rows in (source_file, line_number) order: the order "first occurrence" and the tables use.

    Spark returns each chunk's rows in line order, one chunk per task, but the tasks in its own
    order (bigger files first). So the record batches are put in order, not the rows: no copy of
    the table (a 1M-row sort would copy all of it, +250 MB). Rows in any other order (a test's
    DataFrame) are sorted.
    """
    import numpy as np
    import pyarrow as pa

    batches = [b for b in rows.to_batches() if b.num_rows]
    f, n = rows.schema.get_field_index("source_file"), rows.schema.get_field_index("line_number")

    def ends(b: "pa.RecordBatch") -> tuple:
        return (b.column(f)[0].as_py(), b.column(n)[0].as_py()), (b.column(f)[-1].as_py(), b.column(n)[-1].as_py())

    batches.sort(key=lambda b: ends(b)[0])
    ordered = all(ends(b)[0][0] == ends(b)[1][0] and bool(np.all(np.diff(b.column(n).to_numpy()) > 0))
                  and len(b.column(f).unique()) == 1 for b in batches)
    ordered = ordered and all(ends(a)[1] < ends(b)[0] for a, b in zip(batches, batches[1:]))
    if ordered:
        return pa.Table.from_batches(batches, rows.schema)
    return rows.sort_by([("source_file", "ascending"), ("line_number", "ascending")])


def _later_occurrences(rows: "pa.Table") -> tuple:
    """(positions of later occurrences, position of each one's first occurrence), ascending, for
    the clean rows of ``rows`` (in line order).

    Candidates come from ``_idh``, a 64-bit hash of the id: one integer sort (8 MB at 1M rows,
    where a group-by over the id strings held hundreds of MB); the few ids whose hash is seen twice
    are then compared as strings, so a hash collision is never taken for a duplicate."""
    import numpy as np
    import pyarrow.compute as pc

    clean = np.flatnonzero(pc.equal(rows["verdict"], "clean").to_numpy(zero_copy_only=False))
    h = pc.fill_null(rows["_idh"], 0).to_numpy()[clean]   # filled: an int64 with nulls would become float
    order = np.argsort(h, kind="stable")
    same = h[order][1:] == h[order][:-1]
    seen_twice = np.zeros(len(clean), dtype=bool)
    seen_twice[1:] |= same
    seen_twice[:-1] |= same
    candidates = np.sort(clean[order[seen_twice]])
    pairs = later_occurrences(zip(candidates.tolist(), rows["event_id"].take(candidates).to_pylist()))
    return (np.array([p[0] for p in pairs], dtype=np.int64), np.array([p[1] for p in pairs], dtype=np.int64))


def later_occurrences(candidates: Iterable[tuple[Any, str]]) -> list[tuple[Any, Any]]:
    """The rule: (later, first) for each later occurrence among ``candidates``, pairs (row, event_id)
    given in line order; the first occurrence of an event_id wins. (The streamed path,
    spark_jobs/incoming.py, applies the same rule in SQL, a window over each id in line order.)"""
    firsts: dict[str, Any] = {}
    out = []
    for row, event_id in candidates:
        if event_id in firsts:
            out.append((row, firsts[event_id]))
        else:
            firsts[event_id] = row
    return out


def conflict_detail_sql(event_id: str, first_file: str, first_line: str) -> str:
    """CONFLICT_DETAIL as an SQLite expression over the three given SQL expressions: the text
    :func:`dedup` writes, made by SQL where the rows are (no Python object per conflict)."""
    fields = {"event_id": event_id, "first_at": f"{first_file} || ':' || {first_line}"}
    parts = []
    for literal, name, _spec, _conv in Formatter().parse(CONFLICT_DETAIL):
        if literal:
            parts.append("'" + literal.replace("'", "''") + "'")
        if name is not None:
            parts.append(f"({fields[name]})")
    return " || ".join(parts)


def dedup(rows: "pa.Table") -> "pa.Table":
    """``rows`` (the Spark steps' output) in line order, later occurrences of an event_id re-judged."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    rows = in_line_order(rows)
    later_at, first_at = _later_occurrences(rows)
    if not len(later_at):
        return rows
    sig = pc.fill_null(rows["_sig"], 0).to_numpy()   # exact 64-bit values (with nulls: floats)
    conflict = sig[later_at] != sig[first_at]
    # Only the few re-judged rows change: masks over the table, no Python object per row.
    files, lines, event_ids = rows["source_file"], rows["line_number"], rows["event_id"]
    details = [CONFLICT_DETAIL.format(event_id=event_ids[row].as_py(),
                                      first_at=f"{files[first_row].as_py()}:{lines[first_row].as_py()}")
               for row, first_row in zip(later_at[conflict].tolist(), first_at[conflict].tolist())]
    changes = {
        "verdict": (later_at, np.where(conflict, "quarantine", "duplicate").tolist()),
        "reason": (later_at[conflict], ["conflicting_duplicate"] * len(details)),
        "detail": (later_at[conflict], details),
    }
    for name, (at, values) in changes.items():
        if not len(at):
            continue
        mask = np.zeros(rows.num_rows, dtype=bool)
        mask[at] = True
        column = pc.replace_with_mask(rows[name].combine_chunks(), pa.array(mask), pa.array(values, pa.string()))
        rows = rows.set_column(rows.schema.get_field_index(name), name, column)
    return rows
