"""The producer/Spark contract as data: rules, reasons, fields, major folding, reference data.

Pure Python (no Spark import at module load): the transform steps (normalize.py), the write edge,
the benchmarks and the tests read these names from here, so each fact lives in one place.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from studentflow.core.reference import (  # noqa: F401  (re-exported: the reference reader lives in the core)
    FOLD_FROM as _FROM, FOLD_TO as _TO, Reference, fold_text, load_reference)

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import Column

# --- the contract -----------------------------------------------------------------------------
RULES = ("json_strict", "json_loose", "csv", "key_value")
REASONS = (
    "empty", "not_json_or_csv", "invalid_json", "missing_name", "missing_age", "age_not_a_number",
    "age_out_of_range", "missing_major", "unknown_major", "conflicting_duplicate", "invalid_encoding",
)
# Connect's StringConverter decodes message bytes as UTF-8 and puts U+FFFD where a byte was not
# valid UTF-8 (so does this project's reader for staging bytes): such a line lost its original
# text on the way, and lands in quarantine as invalid_encoding rather than as a corrupted name.
REPLACEMENT_CHAR = "\ufffd"
# A CSV header line (a drop file's first line, streamed by the source connector) is neither a
# student nor an error: verdict `header`, counted, written to neither table. Compared folded
# (case, accents, spaces) after a byte-order mark is dropped.
CSV_HEADERS = ("prenom,nom,age,filiere", "first_name,last_name,age,major")
VERDICTS = ("clean", "quarantine", "duplicate", "header")
CONTRACT_FIELDS = ("event_id", "student_id", "first_name", "last_name", "age", "major",
                   "emitted_at", "schema_version")
# JSON keys accepted by json_loose besides the contract's (the original French CSV headers).
JSON_ALIASES = {"first_name": ("prénom", "prenom"), "last_name": ("nom",), "major": ("filière", "filiere")}
# keys recognised in key:value fragments (compared after folding case and accents)
KV_KEYS = {
    "first_name": ("first_name", "firstname", "first name", "prenom"),
    "last_name": ("last_name", "lastname", "last name", "nom", "name"),
    "age": ("age",),
    "major": ("major", "filiere", "field"),
}
MAX_KV_PARTS = 6
CLEAN_COLUMNS = ("event_id", "student_id", "first_name", "last_name", "age", "major", "emitted_at",
                 "schema_version", "rule", "source_file", "line_number", "run_id")
# What "the same content" means for two rows with one event_id (else: conflicting_duplicate).
CONTENT_COLUMNS = ("student_id", "first_name", "last_name", "age", "major", "emitted_at")
CONFLICT_DETAIL = "event_id {event_id} already seen with other content at {first_at}"
QUARANTINE_COLUMNS = ("raw_line", "reason", "detail", "source_file", "line_number", "run_id")

# --- folding (identical in Spark and in Python, so reference keys always match) --------------
def fold(col: "Column") -> "Column":
    """Case/accent/space folding of a string column with built-ins only (no UDF)."""
    from pyspark.sql import functions as F

    c = F.trim(F.translate(F.lower(col), _FROM, _TO))
    return F.when(c.contains("  "), F.regexp_replace(c, " +", " ")).otherwise(c)
