"""Step 6, duplicates: the first occurrence (file, line) of each event_id wins. Pure Arrow, no I/O.

A later row with the same event_id is a ``duplicate`` when its content (CONTENT_COLUMNS, compared
through the 64-bit hash ``_sig`` the Spark steps computed) is the first one's, else a quarantined
``conflicting_duplicate`` whose detail names where the first one was staged.

Why on the driver and not in Spark: the rows cross to the driver anyway (SQLite is written from
here), and a Spark window over event_id shuffles and sorts every row: 3 s of a warm 1M-line run,
plus a second stage to compile on a cold JVM. Here it is one hash group-by in Arrow's C++ over
the ids (a fraction of a second at 1M), and only the few ids seen twice are looked at row by row.
Ids already in the warehouse are judged at commit time (spark_jobs/warehouse.py), by the same rule.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from spark_jobs.contract import CONFLICT_DETAIL

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa


def in_line_order(rows: "pa.Table") -> "pa.Table":
    """Rows in (source_file, line_number) order: the order "first occurrence" and the tables use."""
    return rows.sort_by([("source_file", "ascending"), ("line_number", "ascending")])


def dedup(rows: "pa.Table") -> "pa.Table":
    """``rows`` (the Spark steps' output) in line order, later occurrences of an event_id re-judged."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    rows = in_line_order(rows)
    clean = pc.equal(rows["verdict"], "clean")
    index = pa.array(np.arange(rows.num_rows, dtype=np.int64))
    ids = pa.table({"event_id": rows["event_id"], "i": index}).filter(clean)
    groups = ids.group_by("event_id").aggregate([("i", "min"), ("i", "count")])
    twice = groups.filter(pc.greater(groups["i_count"], 1))
    if twice.num_rows == 0:
        return rows
    # per row: the index of its id's first clean occurrence (null for ids seen once, non-clean rows)
    first = pc.take(twice["i_min"], pc.index_in(pc.if_else(clean, rows["event_id"], None), value_set=twice["event_id"]))
    later = pc.fill_null(pc.not_equal(first, index), False)
    later_at = np.flatnonzero(later.to_numpy(zero_copy_only=False))        # ascending
    first_at = first.to_numpy(zero_copy_only=False)[later_at].astype(np.int64)
    sig = rows["_sig"].to_numpy(zero_copy_only=False)
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
