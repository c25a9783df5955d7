-- Every warehouse table that is not dbt's (SQLite): the Spark stage's, created before any write
-- (Spark 4.2+ cannot create a SQLite table over JDBC: the driver sends no SQLState), and the
-- follow mode's increment log. Applied by spark_jobs.warehouse.apply_schema.
-- No PRIMARY KEY / NOT NULL here on purpose: the guarantees are checked by dbt tests and the
-- Great Expectations gate, which must be able to see (and fail on) a bad row.
CREATE TABLE IF NOT EXISTS clean_students (
    event_id        TEXT,     -- from the event, or a deterministic hash of the raw line when absent
    student_id      TEXT,     -- the Kafka key / event field when present
    first_name      TEXT,
    last_name       TEXT,
    age             INTEGER,
    major           TEXT,     -- canonical name from dbt_project/seeds/majors.csv
    emitted_at      TEXT,     -- ISO-8601 UTC, null when the message had none
    schema_version  INTEGER,
    rule            TEXT,     -- salvage rule that produced the row: json_strict, json_loose, csv, key_value
    source_file     TEXT,     -- where the row was staged: file name and 1-based line
    line_number     INTEGER,
    run_id          TEXT
);
-- Not UNIQUE on purpose (see above); it makes the across-increments duplicate check a lookup.
CREATE INDEX IF NOT EXISTS clean_students_event_id ON clean_students (event_id);
-- Lookups by run: the continuous mode's gate reads one increment's rows, and global_summary asks
-- which runs still have rows; without these, each is a scan of the whole history.
CREATE INDEX IF NOT EXISTS clean_students_run_id ON clean_students (run_id);
-- Covering index of the marts' only scan (int_major_age_counts groups by major, age;
-- global_summary counts and averages ages): the continuous mode rebuilds the marts on every
-- increment over the whole history (1.5M rows: dbt run +marts 1.4-1.7 s -> 0.44-0.6 s).
CREATE INDEX IF NOT EXISTS clean_students_major_age ON clean_students (major, age);
CREATE TABLE IF NOT EXISTS quarantine_students (
    raw_line     TEXT,        -- the staged line, untouched
    reason       TEXT,        -- machine-readable: empty, not_json_or_csv, missing_major, unknown_major, ...
    detail       TEXT,        -- human-readable detail (offending value)
    source_file  TEXT,
    line_number  INTEGER,
    run_id       TEXT
);
CREATE INDEX IF NOT EXISTS quarantine_students_run_id ON quarantine_students (run_id);
CREATE TABLE IF NOT EXISTS pipeline_runs (
    run_id              TEXT,
    started_at          TEXT,
    finished_at         TEXT,
    lines_read          INTEGER,
    clean_count         INTEGER,
    quarantined_count   INTEGER,
    duplicates_removed  INTEGER,
    staging_files       TEXT,
    status              TEXT,
    mode                TEXT,     -- incremental | full_refresh
    headers_skipped     INTEGER   -- CSV header lines (counted, in neither table)
);
-- How far each staging file was normalized: committed in the same transaction as the rows.
CREATE TABLE IF NOT EXISTS staging_watermarks (
    source_file  TEXT PRIMARY KEY,
    lines        INTEGER,     -- complete lines normalized (the next increment starts at lines + 1)
    bytes        INTEGER,     -- byte offset just after the last normalized line
    head_sha256  TEXT,        -- fingerprints of the first and last 4 KiB before `bytes`:
    tail_sha256  TEXT,        -- a replaced or rewritten file is detected, not silently re-read
    run_id       TEXT,
    updated_at   TEXT
);
-- One row per increment of `run --follow` (written by the orchestration after the increment's
-- rows reached the marts), read by bench/follow.py and the follow tests.
CREATE TABLE IF NOT EXISTS follow_increments (
    run_id           TEXT,     -- the normalize run (pipeline_runs.run_id) of this increment
    finished_at      TEXT,     -- when its rows were in the marts
    lines            INTEGER,
    seconds          REAL,     -- normalize + marts + gate + report
    normalize_s      REAL,     -- Spark: new staged lines -> clean_students + quarantine_students
    marts_s          REAL,     -- dbt run --select +marts
    gate_s           REAL,     -- Great Expectations on the increment's rows
    report_s         REAL,     -- the markdown report and its plots
    freshness_p50_s  REAL,     -- emitted_at -> row in major_age_stats, over the increment's clean rows
    freshness_p95_s  REAL,
    freshness_max_s  REAL,
    gate_passed      INTEGER   -- 1, 0, or NULL when the gate was off
);
