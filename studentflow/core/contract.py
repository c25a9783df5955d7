"""The data contract as data, each fact once: tables, columns, rules, verdicts, reasons, age bounds.

Pure Python with no third-party import: the producer, Spark, dbt's vars, the Great Expectations
suites, the report and the tests all read these names from here. Files that cannot import Python
(the connector JSON, dbt_project.yml) repeat a value, and a unit test checks that they agree.
"""
from __future__ import annotations

# --- warehouse tables ---------------------------------------------------------------------------
CLEAN_TABLE = "clean_students"
QUARANTINE_TABLE = "quarantine_students"
RUNS_TABLE = "pipeline_runs"
WATERMARKS_TABLE = "staging_watermarks"
# what the Spark stage writes and dbt reads
SOURCE_TABLES = (CLEAN_TABLE, QUARANTINE_TABLE, RUNS_TABLE)
# the marts the report reads by name for its own sections (dbt_project/models/marts): it requires
# them, `transform` counts their rows; any other mart there the report shows as a table
# (studentflow/report/marts.py)
STATS_MART = "major_age_stats"
OVER_AGE_MART = "major_avg_age_over_20"
SUMMARY_MART = "global_summary"
DISTRIBUTION_MART = "major_age_distribution"
MARTS = (STATS_MART, OVER_AGE_MART, SUMMARY_MART, DISTRIBUTION_MART)

# --- columns ------------------------------------------------------------------------------------
CONTRACT_FIELDS = ("event_id", "student_id", "first_name", "last_name", "age", "major",
                   "emitted_at", "schema_version")
CLEAN_COLUMNS = (*CONTRACT_FIELDS, "rule", "source_file", "line_number", "run_id")
QUARANTINE_COLUMNS = ("raw_line", "reason", "detail", "source_file", "line_number", "run_id")
RUN_COLUMNS = ("run_id", "started_at", "finished_at", "lines_read", "clean_count", "quarantined_count",
               "duplicates_removed", "headers_skipped", "staging_files", "status", "mode")
# What "the same content" means for two rows with one event_id (else: conflicting_duplicate).
CONTENT_COLUMNS = ("student_id", "first_name", "last_name", "age", "major", "emitted_at")
CONFLICT_DETAIL = "event_id {event_id} already seen with other content at {first_at}"

# --- verdicts, salvage rules and quarantine reasons --------------------------------------------
VERDICTS = ("clean", "quarantine", "duplicate", "header")
RULES = ("json_strict", "json_loose", "csv", "key_value")
# reason -> (French label, English label): the machine-readable code and how the report says it
REASON_LABELS: dict[str, tuple[str, str]] = {
    "empty": ("message vide", "empty message"),
    "not_json_or_csv": ("ni JSON ni CSV (texte sans rapport)", "neither JSON nor CSV (unrelated text)"),
    "invalid_json": ("JSON invalide ou tronqué", "invalid or truncated JSON"),
    "missing_name": ("nom ou prénom absent", "first or last name missing"),
    "missing_age": ("âge absent", "age missing"),
    "age_not_a_number": ("âge non numérique", "age is not a number"),
    "age_out_of_range": ("âge hors bornes", "age out of bounds"),
    "missing_major": ("filière absente", "major missing"),
    "unknown_major": ("filière inconnue", "unknown major"),
    "conflicting_duplicate": ("event_id déjà vu avec un autre contenu", "event_id already seen with other content"),
    "invalid_encoding": ("message non UTF-8 (octets invalides)", "not valid UTF-8 (invalid bytes)"),
}
REASONS = tuple(REASON_LABELS)

# --- ages ---------------------------------------------------------------------------------------
AGE_MIN = 15       # lowest valid age (inclusive); the default of settings.age_min
AGE_MAX = 100      # highest valid age (inclusive); the default of settings.age_max
OVER_AGE = 20      # the age the major_avg_age_over_20 mart and its expectation compare with

# --- staging --------------------------------------------------------------------------------------
STAGING_FILE = "students.raw.txt"   # the Connect sink's file in the staging folder

# --- reading a staged line ---------------------------------------------------------------------
# Connect's StringConverter decodes message bytes as UTF-8 and puts U+FFFD where a byte was not
# valid UTF-8 (so does this project's reader for staging bytes): such a line lost its original
# text on the way, and lands in quarantine as invalid_encoding rather than as a corrupted name.
REPLACEMENT_CHAR = "\ufffd"
# A CSV header line (a drop file's first line, streamed by the source connector) is neither a
# student nor an error: verdict `header`, counted, written to neither table. Compared folded
# (case, accents, spaces) after a byte-order mark is dropped.
CSV_HEADERS = ("prenom,nom,age,filiere", "first_name,last_name,age,major")
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
