"""The pure normalization transform: staged lines in, classified rows out. No I/O in here.

Input: a DataFrame with ``value`` (the staged line, untouched), ``source_file`` and
``line_number``. Output (:func:`normalize`): one row per input line with a ``verdict``
(``clean`` | ``quarantine`` | ``header``) and every warehouse column. :func:`classify` adds the
last step, duplicates (``duplicate`` or ``conflicting_duplicate``), in Arrow on the driver
(spark_jobs/dedup.py), and returns the rows of both warehouse tables.

The transform is a chain of small ``DataFrame -> DataFrame`` steps, each testable alone::

    lines.transform(with_kind)          # json | text | empty | header | bad_encoding, from the first bytes
         .transform(with_parse)         # the typed contract parse; is the line exactly the contract?
         .transform(with_fields)        # the fields, by salvage rule
         .transform(with_verdict(...))  # types, ranges, canonical major -> clean or a reason
         .transform(as_rows)            # the output columns, and a content hash for the dedup step
    dedup(rows.toArrow())               # first occurrence (file, line) of an event_id wins

Salvage rules, tried in this order, the one used is recorded in ``rule``:

* ``json_strict``  a JSON object with exactly the event contract's keys, ``age`` and
  ``schema_version`` given as JSON integers (the fast path: ~95% of real traffic);
* ``json_loose``   any other JSON object that still carries a name, an age and a major
  (age as a string, extra fields, missing event_id/emitted_at/..., French keys
  ``prénom``/``nom``/``filière``);
* ``csv``          ``first,last,age,major``;
* ``key_value``    the same with ``key:value`` fragments (``Bob,Martin,age:19,Physique``, or
  ``first_name:Bob,last_name:Martin,age:19,major:Physique`` in any order).

Performance, in one paragraph: only built-in Spark SQL functions (no Python UDF, no higher-order
function: both leave generated code), one pass over the lines. A contract line costs one typed
JSON parse, a length comparison and a few null checks; the loose parse runs only for JSON lines
that are not exactly the contract, the comma/key:value machinery only for text lines, accent
folding only for majors that are not already canonical: ``CASE WHEN`` branches are evaluated
lazily. A separate narrow plan for contract lines (filter on ``_strict``, union with the full
plan for the rest) was measured slower on Spark Connect (1M bench/staged.py lines, warm,
alternated, medians of 5: 9.4 s against 6.0 s, server CPU 16.5 s against 10.5 s): each branch
scans and parses the input again (two text scans in the plan: Spark reuses no scan without an
exchange), and a plain filter on ``_strict`` is even pushed below the parse as one pruned
``from_json`` per field (158 s against 26 s, loaded machine). The steps after the loose parse
fuse into one generated method of 13.2 KB of bytecode that HotSpot does not always fully
optimize (C1's profiling tier runs out of registers on it, C2 at times out of nodes), so runs
vary (6.0 to 8.4 s on a quiet machine). The Column expressions are built on every call: on Spark
Connect a Column is a client-side message (about 50 ms for the whole transform); a classic
session pays about 1.2 s of py4j calls.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, NamedTuple

from studentflow.core.contract import (
    CLEAN_COLUMNS, CONTENT_COLUMNS, CONTRACT_FIELDS, CSV_HEADERS, JSON_ALIASES, KV_KEYS, MAX_KV_PARTS, QUARANTINE_COLUMNS,
    REPLACEMENT_CHAR,
)
from studentflow.core.reference import Reference

from spark_jobs.folding import fold

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa
    from pyspark.sql import Column, DataFrame

Step = Callable[["DataFrame"], "DataFrame"]
_KEEP = ("value", "source_file", "line_number")
_FIELDS = ("rule", "_event_id", "student_id", "first_name", "last_name", "_age_l", "_age_s", "_major",
           "emitted_at", "schema_version")


class Normalized(NamedTuple):
    rows: "pa.Table"         # one row per input line, with verdict/rule/reason, every field and the run id
    clean: "pa.Table"        # clean_students columns, deduplicated
    quarantine: "pa.Table"   # quarantine_students columns


def normalize(lines: "DataFrame", ref: Reference, *, age_min: int, age_max: int,
              every_raw_line: bool = False) -> "DataFrame":
    """Classify every staged line (the Spark part: no shuffle, one stage).

    ``lines`` needs ``value`` (string), ``source_file`` (string) and ``line_number`` (long). The
    duplicates are not judged yet: :func:`spark_jobs.dedup.dedup` does that on the rows in Arrow.
    ``raw_line`` is kept for quarantine rows only unless ``every_raw_line``.
    """
    return (lines.transform(with_kind)
                 .transform(with_parse)
                 .transform(with_fields)
                 .transform(with_verdict(ref, age_min=age_min, age_max=age_max))
                 .transform(as_rows(every_raw_line)))


def classify(lines: "DataFrame", ref: Reference, *, age_min: int, age_max: int, run_id: str) -> Normalized:
    """The whole transform for a library caller or a test: :func:`normalize`, then the dedup step,
    as Arrow tables (with the run id), in (file, line) order."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from spark_jobs.dedup import dedup

    rows = dedup(normalize(lines, ref, age_min=age_min, age_max=age_max, every_raw_line=True).toArrow())
    rows = rows.append_column("run_id", pa.array([run_id] * rows.num_rows, pa.string()))
    clean = rows.filter(pc.equal(rows["verdict"], "clean")).select(list(CLEAN_COLUMNS))
    quarantine = rows.filter(pc.equal(rows["verdict"], "quarantine")).select(list(QUARANTINE_COLUMNS))
    return Normalized(rows, clean, quarantine)


# --- step 1: the kind of line ------------------------------------------------------------------
def with_kind(lines: "DataFrame") -> "DataFrame":
    """``_kind``: ``bad_encoding`` (not valid UTF-8, or carries U+FFFD), ``json``, ``empty``,
    ``header`` (a CSV header line) or ``text``.

    A UTF-8 check, a byte search and a first-byte test for nearly every line; the regexes and the
    header comparison only run for the few lines that do not start with ``{``.
    """
    return lines.select(*_kind_columns())


def _kind_columns() -> tuple:
    from pyspark.sql import functions as F

    # Bytes that are not UTF-8 (a staging file written by another tool) become U+FFFD here, as
    # Connect's StringConverter does: the line is then text SQLite and Python can hold.
    raw = F.col("value")
    v = F.when(F.is_valid_utf8(raw), raw).otherwise(F.make_valid_utf8(raw))
    kind = (F.when(v.contains(REPLACEMENT_CHAR), F.lit("bad_encoding"))
            .when(v.startswith("{"), F.lit("json"))
            .when(v.isNull() | v.rlike(r"^\s*$"), F.lit("empty"))
            .when(v.rlike(r"^\s*\{"), F.lit("json"))
            .when(F.regexp_replace(fold(F.translate(v, "\ufeff", "")), " ", "").isin(list(CSV_HEADERS)),
                  F.lit("header"))
            .otherwise(F.lit("text")))
    return (v.alias("value"), "source_file", "line_number", kind.alias("_kind"))


# --- step 2: the typed contract parse -----------------------------------------------------------
def _json_schema(typed: bool):
    """``typed``: the contract's fields only, age and schema_version as integers (a JSON string or
    float there leaves the field null). No corrupt-record column: keeping one costs about a third
    of the parse, and a strict line needs every field non-null anyway.
    Else (the loose parse): every field as a string, French aliases too, and the corrupt-record
    column that tells a JSON object from text that only starts like one."""
    from pyspark.sql import types as T

    if typed:
        return T.StructType([T.StructField(n, T.LongType() if n in ("age", "schema_version") else T.StringType())
                             for n in CONTRACT_FIELDS])
    names = list(CONTRACT_FIELDS) + [a for al in JSON_ALIASES.values() for a in al] + ["_corrupt"]
    return T.StructType([T.StructField(n, T.StringType()) for n in names])


_JSON_OPTS = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": "_corrupt"}
# a JSON key: after { or a comma, a JSON string, a colon
_KEY_TOKEN = r'(?:^\s*\{|,)\s*"(?:[^"\\]|\\.)*"\s*:'


def with_parse(df: "DataFrame") -> "DataFrame":
    """``jt``: the typed contract parse of JSON lines; ``_strict``: the line is exactly the contract.

    Exactly the contract = parsed, every contract field present, and no other key. Counting keys
    costs a regex over the line, so first a cheap exact test: compact JSON with exactly the
    contract's keys and unescaped values is exactly ``compact_len`` long; anything else (extra or
    repeated keys, spaces, escapes) is longer and gets the key count.
    """
    first, second = _parse_columns()
    return df.select(*first).select(*second)


def _parse_columns() -> tuple:
    from pyspark.sql import functions as F

    v, jt = F.col("value"), F.col("jt")
    compact_len = F.lit(2 + len(CONTRACT_FIELDS) - 1 + sum(len(n) + 3 for n in CONTRACT_FIELDS))
    present = jt.isNotNull()
    for n in CONTRACT_FIELDS:
        c = jt.getField(n)
        present = present & c.isNotNull()
        compact_len = compact_len + (F.length(c.cast("string")) if n in ("age", "schema_version") else F.length(c) + 2)
    strict = present & ((F.length(v) == compact_len) | (F.regexp_count(v, F.lit(_KEY_TOKEN)) == len(CONTRACT_FIELDS)))
    first = (*_KEEP, "_kind", F.when(F.col("_kind") == "json", F.from_json(v, _json_schema(True))).alias("jt"))
    return first, (*_KEEP, "_kind", "jt", F.coalesce(strict, F.lit(False)).alias("_strict"))


# --- step 3: the fields, by salvage rule -------------------------------------------------------
def _blank_to_null(c: "Column") -> "Column":
    from pyspark.sql import functions as F

    t = F.trim(c)
    return F.when(t != "", t)


def _text_fields() -> "Column":
    """csv / key_value: a struct of the four fields and the rule, or null when the text does not fit.

    No higher-order function here on purpose: they are interpreted (CodegenFallback) and make
    Spark copy every row, JSON rows included. Plain expressions on at most MAX_KV_PARTS parts,
    computed only for text rows, stay in generated code.
    """
    from pyspark.sql import functions as F

    parts = F.split(F.trim(F.col("value")), ",")
    n = F.size(parts)
    part = [F.trim(F.get(parts, i)) for i in range(MAX_KV_PARTS)]
    key_re, val_re = r"^([^:=]{1,20}?)\s*[:=]", r"^[^:=]{1,20}?\s*[:=]\s*(.*)$"
    key_of, val_of = [], []
    for p in part:
        key = F.regexp_extract(p, key_re, 1)
        key_of.append(F.when(key != "", fold(key)))
        val_of.append(F.trim(F.regexp_extract(p, val_re, 1)))
    known = [k for ks in KV_KEYS.values() for k in ks]
    keyed = [F.coalesce(k.isin(known), F.lit(False)) for k in key_of]
    all_keyed, any_keyed = F.lit(True), F.lit(False)
    for i in range(MAX_KV_PARTS):
        all_keyed = all_keyed & ((n <= i) | keyed[i])
        any_keyed = any_keyed | ((n > i) & keyed[i])
    positional = {"first_name": 0, "last_name": 1, "age": 2, "major": 3}

    def field(name: str) -> "Column":
        by_key = [F.when((n > i) & key_of[i].isin(list(KV_KEYS[name])), val_of[i]) for i in range(MAX_KV_PARTS)]
        i = positional[name]
        return F.coalesce(*by_key, F.when((n == 4) & ~keyed[i], part[i]))

    fits = (n == 4) | ((n <= MAX_KV_PARTS) & all_keyed)
    return F.when(fits, F.struct(*(field(f).alias(f) for f in positional),
                                 F.when(any_keyed, F.lit("key_value")).otherwise(F.lit("csv")).alias("rule")))


def with_fields(df: "DataFrame") -> "DataFrame":
    """The raw fields (still untyped for salvaged rows) and ``rule`` (null: nothing fits).

    Strict rows read the typed parse directly. Other JSON rows get a second, all-string parse that
    also knows the French keys; text rows get the csv / key:value split.
    """
    first, second = _fields_columns()
    return df.select(*first).select(*second)


def _fields_columns() -> tuple:
    from pyspark.sql import functions as F

    v, kind, strict = F.col("value"), F.col("_kind"), F.col("_strict")
    loose = F.when((kind == "json") & ~strict, F.from_json(v, _json_schema(False), _JSON_OPTS))
    first = (*_KEEP, "_kind", "_strict", "jt", loose.alias("js"), F.when(kind == "text", _text_fields()).alias("tx"))
    js_ok = F.col("js").isNotNull() & F.col("js._corrupt").isNull()
    is_js = ~strict & js_ok
    is_tx = ~strict & ~js_ok & F.col("tx").isNotNull()

    def jfield(name: str) -> "Column":
        c = F.col("js").getField(name)
        return F.coalesce(c, *(F.col("js").getField(a) for a in JSON_ALIASES[name])) if name in JSON_ALIASES else c

    def field(name: str) -> "Column":
        return (F.when(strict, _blank_to_null(F.col("jt").getField(name)))
                 .when(is_js, _blank_to_null(jfield(name)))
                 .when(is_tx, _blank_to_null(F.col("tx").getField(name))))

    return first, (
        *_KEEP, "_kind",
        F.when(strict, F.lit("json_strict")).when(is_js, F.lit("json_loose"))
         .when(is_tx, F.col("tx.rule")).alias("rule"),
        F.when(strict, F.col("jt.event_id")).when(is_js, F.col("js.event_id")).alias("_event_id"),
        F.when(strict, _blank_to_null(F.col("jt.student_id")))
         .when(is_js, _blank_to_null(F.col("js.student_id"))).alias("student_id"),
        field("first_name").alias("first_name"),
        field("last_name").alias("last_name"),
        F.when(strict, F.col("jt.age")).alias("_age_l"),
        F.when(is_js, _blank_to_null(F.col("js.age"))).when(is_tx, _blank_to_null(F.col("tx.age"))).alias("_age_s"),
        field("major").alias("_major"),
        F.when(strict, _blank_to_null(F.col("jt.emitted_at")))
         .when(is_js, _blank_to_null(F.col("js.emitted_at"))).alias("emitted_at"),
        F.when(strict, F.col("jt.schema_version").cast("int"))
         .when(is_js, F.col("js.schema_version").try_cast("int")).alias("schema_version"),
    )


# --- step 4: types, ranges, canonical major, the verdict --------------------------------------
def derived_event_id(raw: "Column") -> "Column":
    """A deterministic UUID-shaped id from the raw line's bytes (sha-256)."""
    from pyspark.sql import functions as F

    return F.regexp_replace(F.sha2(raw, 256), r"^(.{8})(.{4})(.{4})(.{4})(.{12}).*$", "$1-$2-$3-$4-$5")


def with_verdict(ref: Reference, *, age_min: int, age_max: int) -> Step:
    """``_reason`` (null: clean) and ``detail``; typed ``age``, canonical ``major``, the ``event_id``.

    A canonical major is recognised by an exact ``isin``; only other spellings are folded and
    looked up in the alias map (a literal map, folded to a constant by the optimizer).
    """
    def step(df: "DataFrame") -> "DataFrame":
        first, second, third = _verdict_columns(ref, age_min, age_max)
        return df.select(*first).select(*second).select(*third)
    return step


def _verdict_columns(ref: Reference, age_min: int, age_max: int) -> tuple:
    from pyspark.sql import functions as F

    age_l, age_s, major, kind, rule = (F.col(c) for c in ("_age_l", "_age_s", "_major", "_kind", "rule"))
    # an integer, possibly written 22.0 or in exponent form (2.2e1, 1e308): a whole number is
    # a number (then range-checked); 22.5 or vingt is not
    as_double = F.when(age_s.rlike(r"^[+-]?[0-9]+(\.[0-9]+)?[eE][+-]?[0-9]+$"), age_s.try_cast("double"))
    whole = as_double.isNotNull() & ~F.isnan(as_double) & (as_double % 1.0 == 0)
    age_s_is_int = age_s.rlike(r"^[+-]?[0-9]+(\.0+)?$") | F.coalesce(whole, F.lit(False))
    age = F.coalesce(age_l, F.when(age_s.rlike(r"^[+-]?[0-9]+(\.0+)?$"),
                                   F.regexp_extract(age_s, r"^([+-]?[0-9]+)", 1).try_cast("long")),
                     F.when(whole & (F.abs(as_double) < 1e18), as_double.cast("long")))
    alias_map = F.create_map(*[F.lit(x) for kv_pair in ref.keys for x in kv_pair])
    canonical = F.when(major.isin(list(ref.majors)), major).otherwise(F.try_element_at(alias_map, fold(major)))
    first = (*_KEEP, "_kind", *_FIELDS, age.alias("_age"), canonical.alias("_canonical"))
    age_text = F.coalesce(age_l.cast("string"), age_s)
    reason = (F.when(kind == "header", F.lit("header"))   # not a reason: as_rows makes it the verdict
              .when(kind == "bad_encoding", F.lit("invalid_encoding"))
              .when(kind == "empty", F.lit("empty"))
              .when((kind == "json") & rule.isNull(), F.lit("invalid_json"))
              .when(rule.isNull(), F.lit("not_json_or_csv"))
              .when(F.col("first_name").isNull() | F.col("last_name").isNull(), F.lit("missing_name"))
              .when(age_l.isNull() & age_s.isNull(), F.lit("missing_age"))
              .when(F.col("_age").isNull() & ~age_s_is_int, F.lit("age_not_a_number"))
              .when(~F.coalesce(F.col("_age").between(age_min, age_max), F.lit(False)), F.lit("age_out_of_range"))
              .when(major.isNull(), F.lit("missing_major"))
              # fold only for the few majors that are not canonical: blank after folding
              # (tabs, no-break spaces) is missing, anything else unknown
              .when(F.col("_canonical").isNull(),
                    F.when(fold(major) == "", F.lit("missing_major")).otherwise(F.lit("unknown_major"))))
    r = F.col("_reason")
    detail = (F.when(r.isNull() | (r == "header"), F.lit(None).cast("string"))
              .when(r == "invalid_encoding", F.lit("the message was not valid UTF-8 (U+FFFD in the staged line)"))
              .when(r == "empty", F.lit("empty line"))
              .when(r == "invalid_json", F.lit("starts like JSON but does not parse as an object"))
              .when(r == "not_json_or_csv", F.lit("neither a JSON object nor first,last,age,major"))
              .when(r == "missing_name", F.lit("first_name or last_name absent or blank"))
              .when(r == "missing_age", F.lit("age absent or blank"))
              .when(r == "age_not_a_number", F.concat(F.lit("age="), age_text))
              .when(r == "age_out_of_range", F.concat(F.lit("age="), age_text, F.lit(f" outside {age_min}..{age_max}")))
              .when(r == "missing_major", F.lit("major absent or blank"))
              .when(r == "unknown_major", F.concat(F.lit("major="), major)))
    clean = r.isNull()
    second = (*_KEEP, "_kind", *_FIELDS, "_age", "_canonical", reason.alias("_reason"))
    third = ("source_file", "line_number", "rule", "_reason", "value", detail.alias("detail"),
             F.when(clean, F.coalesce(_blank_to_null(F.col("_event_id")), derived_event_id(F.col("value"))))
              .alias("event_id"),
             "student_id", "first_name", "last_name",
             F.when(clean, F.col("_age").cast("int")).alias("age"),
             F.when(clean, F.col("_canonical")).alias("major"),
             "emitted_at", "schema_version")
    return first, second, third


# --- step 5: the output columns ---------------------------------------------------------------
def as_rows(every_raw_line: bool = False) -> Step:
    """verdict (before duplicates), rule, reason, detail, the raw line (quarantine rows only, by
    default: the rest would cross to the driver for nothing), the fields, and ``_sig``: one 64-bit
    hash of a clean row's content, which the dedup step compares instead of six columns, and
    ``_idh``, one of its event_id, which the dedup step sorts instead of the id strings."""
    def step(df: "DataFrame") -> "DataFrame":
        return df.select(*_row_columns(every_raw_line))
    return step


def _row_columns(every_raw_line: bool) -> tuple:
    from pyspark.sql import functions as F

    reason = F.col("_reason")
    verdict = (F.when(reason.isNull(), F.lit("clean")).when(reason == "header", F.lit("header"))
               .otherwise(F.lit("quarantine")))
    return (
        "source_file", "line_number",
        (F.col("value") if every_raw_line else F.when(verdict == "quarantine", F.col("value"))).alias("raw_line"),
        verdict.alias("verdict"), "rule",
        F.when(reason != "header", reason).alias("reason"), "detail",
        "event_id", "student_id", "first_name", "last_name", "age", "major", "emitted_at", "schema_version",
        F.when(reason.isNull(), F.xxhash64(*CONTENT_COLUMNS)).alias("_sig"),
        F.when(reason.isNull(), F.xxhash64("event_id")).alias("_idh"))
