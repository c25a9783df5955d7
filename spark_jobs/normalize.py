"""The pure normalization transform: staged lines in, classified rows out. No I/O in here.

Input: a DataFrame with ``value`` (the staged line, untouched), ``source_file`` and
``line_number``. Output (:func:`normalize`): one row per input line with a ``verdict``
(``clean`` | ``quarantine`` | ``duplicate``), plus projections onto the two warehouse tables.

Salvage rules, tried in this order, the one used is recorded in ``rule``:

* ``json_strict``  a JSON object with exactly the event contract's keys, ``age`` and
  ``schema_version`` given as JSON integers;
* ``json_loose``   any other JSON object that still carries a name, an age and a major
  (age as a string, extra fields, missing event_id/emitted_at/..., French keys
  ``prénom``/``nom``/``filière``);
* ``csv``          ``first,last,age,major``;
* ``key_value``    the same with ``key:value`` fragments (``Bob,Martin,age:19,Physique``, or
  ``first_name:Bob,last_name:Martin,age:19,major:Physique`` in any order).

Only built-in Spark SQL functions are used (no Python UDF): the hot path stays in the JVM.
The canonical majors and aliases arrive as a :class:`Reference` built by :func:`load_reference`
from the dbt seeds (one source of truth), and are applied with a broadcast join.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from studentflow.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import Column, DataFrame

# --- the contract -----------------------------------------------------------------------------
RULES = ("json_strict", "json_loose", "csv", "key_value")
REASONS = (
    "empty", "not_json_or_csv", "invalid_json", "missing_name", "missing_age", "age_not_a_number",
    "age_out_of_range", "missing_major", "unknown_major", "conflicting_duplicate",
)
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
                 "schema_version", "rule", "run_id")
QUARANTINE_COLUMNS = ("raw_line", "reason", "detail", "source_file", "line_number", "run_id")

# --- folding (identical in Spark and in Python, so reference keys always match) --------------
_FOLD_GROUPS = {
    "a": "àáâãäåāăąæ", "c": "çćč", "d": "ďđ", "e": "èéêëēėęě", "i": "ìíîïīįı", "n": "ñńň",
    "o": "òóôõöøōőœ", "r": "ŕř", "s": "śšşß", "t": "ť", "u": "ùúûüūůűų", "y": "ýÿ", "z": "źżž",
    " ": "\t\n\x0b\x0c\r\u00a0",  # other whitespace becomes a plain space
}
# translate(): a char of FROM without a counterpart in TO is deleted -> combining marks
# (U+0300..U+036F, accents of decomposed text) go last in FROM, with no counterpart.
_FROM = "".join(_FOLD_GROUPS.values()) + "".join(chr(c) for c in range(0x300, 0x370))
_TO = "".join(plain * len(chars) for plain, chars in _FOLD_GROUPS.items())
_TABLE = {ord(a): (_TO[i] if i < len(_TO) else None) for i, a in enumerate(_FROM)}


def fold_text(text: str) -> str:
    """Python twin of :func:`fold`: lower case, accents off, whitespace collapsed and trimmed."""
    return re.sub(" +", " ", text.lower().translate(_TABLE)).strip(" ")


def fold(col: "Column") -> "Column":
    """Case/accent/space folding of a string column with built-ins only (no UDF)."""
    from pyspark.sql import functions as F

    c = F.trim(F.translate(F.lower(col), _FROM, _TO))
    return F.when(c.contains("  "), F.regexp_replace(c, " +", " ")).otherwise(c)


# --- reference data -------------------------------------------------------------------------
@dataclass(frozen=True)
class Reference:
    """Canonical majors and the folded-key -> canonical major map (aliases included)."""

    majors: tuple[str, ...]
    keys: tuple[tuple[str, str], ...]   # (folded key, canonical major), keys unique

    @classmethod
    def build(cls, majors: list[str], aliases: list[tuple[str, str]]) -> "Reference":
        canon = [m.strip() for m in majors if m.strip()]
        if not canon:
            raise ConfigError("the majors reference is empty", "add the canonical majors to the majors seed file")
        mapping: dict[str, str] = {}
        for m in canon:
            mapping[fold_text(m)] = m
        for alias, target in aliases:
            alias, target = alias.strip(), target.strip()
            if not alias:
                continue
            canonical = mapping.get(fold_text(target))
            if canonical is None or canonical not in canon:
                raise ConfigError(f"alias {alias!r} maps to {target!r}, which is not a canonical major",
                                  f"use one of: {', '.join(canon)} (majors seed file)")
            key = fold_text(alias)
            if mapping.get(key, canonical) != canonical:
                raise ConfigError(f"alias {alias!r} maps to {canonical!r} but already means {mapping[key]!r}",
                                  "remove the conflicting line from the aliases seed file")
            mapping[key] = canonical
        return cls(tuple(canon), tuple(sorted(mapping.items())))


def load_reference(majors_file: Path, aliases_file: Path) -> Reference:
    """Read the dbt seeds (``major`` column; ``alias,major`` columns)."""
    def rows(path: Path, needed: tuple[str, ...]) -> list[dict[str, str]]:
        try:
            with open(path, newline="", encoding="utf-8-sig") as fh:
                reader = csv.DictReader(fh)
                missing = [c for c in needed if c not in (reader.fieldnames or [])]
                if missing:
                    raise ConfigError(f"{path} has no column {', '.join(missing)}",
                                      f"the file needs a header line with: {','.join(needed)}")
                return list(reader)
        except FileNotFoundError:
            raise ConfigError(f"reference file {path} does not exist",
                              "restore it from git or point STUDENTFLOW_MAJORS_FILE / "
                              "STUDENTFLOW_MAJOR_ALIASES_FILE at it") from None

    majors = [r["major"] or "" for r in rows(majors_file, ("major",))]
    aliases = [(r["alias"] or "", r["major"] or "") for r in rows(aliases_file, ("alias", "major"))]
    return Reference.build(majors, aliases)


# --- the transform --------------------------------------------------------------------------
class Normalized(NamedTuple):
    rows: "DataFrame"        # one row per input line, with verdict/rule/reason and every field
    clean: "DataFrame"       # clean_students columns, deduplicated
    quarantine: "DataFrame"  # quarantine_students columns


def _json_schema(typed: bool):
    """Contract fields (+ French aliases + the corrupt-record column). ``typed``: age and
    schema_version as integers, so a JSON string or float there marks the record corrupt and
    sends it to the loose (all-string) parse."""
    from pyspark.sql import types as T

    names = list(CONTRACT_FIELDS) + [a for al in JSON_ALIASES.values() for a in al] + ["_corrupt"]
    as_long = ("age", "schema_version") if typed else ()
    return T.StructType([T.StructField(n, T.LongType() if n in as_long else T.StringType()) for n in names])


def derived_event_id(raw: "Column") -> "Column":
    """A deterministic UUID-shaped id from the raw line's bytes (sha-256)."""
    from pyspark.sql import functions as F

    return F.regexp_replace(F.sha2(raw, 256), r"^(.{8})(.{4})(.{4})(.{4})(.{12}).*$", "$1-$2-$3-$4-$5")


def _blank_to_null(c: "Column") -> "Column":
    from pyspark.sql import functions as F

    t = F.trim(c)
    return F.when(t != "", t)


def normalize(lines: "DataFrame", ref: Reference, *, age_min: int, age_max: int, run_id: str) -> Normalized:
    """Classify every staged line; deduplicate clean rows by event_id (first occurrence wins).

    ``lines`` needs ``value`` (string), ``source_file`` (string) and ``line_number`` (long).
    Cost model: a well-formed event (the bulk) costs one typed JSON parse, one key count and a
    few null checks; regexes, the loose parse, accent folding and hashing only run for the rows
    that need them (CASE WHEN branches and And/Or are evaluated lazily).
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    v = F.col("value")
    kind = (F.when(v.startswith("{"), F.lit("json"))
            .when(v.isNull() | v.rlike(r"^\s*$"), F.lit("empty"))
            .when(v.rlike(r"^\s*\{"), F.lit("json"))
            .otherwise(F.lit("text")))
    json_opts = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": "_corrupt"}

    # ---- step 1: the kind of line and its parse -------------------------------------------
    # JSON: a typed parse; only when it fails (age "22", truncated, ...) an all-string parse.
    # Text: the comma-separated parts, each with its key if it is a key:value fragment.
    df = (lines.select("value", "source_file", "line_number", kind.alias("_kind"))
               .select("*", F.when(F.col("_kind") == "json", F.from_json(v, _json_schema(True), json_opts))
                               .alias("jt")))
    typed_ok = F.col("jt").isNotNull() & F.col("jt._corrupt").isNull()
    df = df.select("*",
                   F.when(F.col("jt._corrupt").isNotNull(), F.from_json(v, _json_schema(False), json_opts))
                    .alias("js"),
                   F.when(F.col("_kind") == "text", F.split(F.trim(v), ",")).alias("_parts"))
    # No higher-order function (transform/filter/...) here on purpose: they are interpreted
    # (CodegenFallback) and make Spark copy every row, JSON rows included. Plain expressions on
    # at most MAX_KV_PARTS parts, each computed only for text rows, stay in generated code.
    parts = F.col("_parts")
    df = df.select("*", F.when(parts.isNotNull(), F.struct(
        F.size(parts).alias("n"), *(F.trim(F.get(parts, i)).alias(f"p{i}") for i in range(MAX_KV_PARTS))))
        .alias("_tp"))
    key_re, val_re = r"^([^:=]{1,20}?)\s*[:=]", r"^[^:=]{1,20}?\s*[:=]\s*(.*)$"
    kv_cols = []
    for i in range(MAX_KV_PARTS):
        p = F.col(f"_tp.p{i}")
        key = F.regexp_extract(p, key_re, 1)
        kv_cols += [F.when(key != "", fold(key)).alias(f"k{i}"), F.trim(F.regexp_extract(p, val_re, 1)).alias(f"v{i}")]
    df = df.select("*", F.when(F.col("_tp").isNotNull(), F.struct(*kv_cols)).alias("_kv"))
    loose_ok = F.col("js").isNotNull() & F.col("js._corrupt").isNull()

    # ---- step 2: the fields, by rule ------------------------------------------------------
    known_keys = [k for ks in KV_KEYS.values() for k in ks]
    n_parts = F.col("_tp.n")
    key_of = [F.col(f"_kv.k{i}") for i in range(MAX_KV_PARTS)]
    val_of = [F.col(f"_kv.v{i}") for i in range(MAX_KV_PARTS)]
    keyed = [F.coalesce(k.isin(known_keys), F.lit(False)) for k in key_of]
    all_keyed = F.lit(True)
    any_keyed = F.lit(False)
    for i in range(MAX_KV_PARTS):
        all_keyed = all_keyed & ((n_parts <= i) | keyed[i])
        any_keyed = any_keyed | ((n_parts > i) & keyed[i])
    positional = {"first_name": 0, "last_name": 1, "age": 2, "major": 3}

    def kv_field(name: str) -> "Column":
        by_key = [F.when((n_parts > i) & key_of[i].isin(list(KV_KEYS[name])), val_of[i]) for i in range(MAX_KV_PARTS)]
        i = positional[name]
        return F.coalesce(*by_key, F.when((n_parts == 4) & ~keyed[i], F.col(f"_tp.p{i}")))

    text = F.when(F.col("_kv").isNotNull() & ((n_parts == 4) | ((n_parts <= MAX_KV_PARTS) & all_keyed)),
                  F.struct(*(kv_field(n).alias(n) for n in positional),
                           F.when(any_keyed, F.lit("key_value")).otherwise(F.lit("csv")).alias("rule")))
    src = (F.when(F.col("jt").isNotNull() & F.col("jt._corrupt").isNull(), F.lit("jt"))
            .when(F.col("js").isNotNull() & F.col("js._corrupt").isNull(), F.lit("js"))
            .when(F.col("tx").isNotNull(), F.lit("tx")))
    df = df.select("value", "source_file", "line_number", "_kind", "jt", "js", text.alias("tx"))
    df = df.select("*", src.alias("_src"))
    is_jt, is_js, is_tx = (F.col("_src") == x for x in ("jt", "js", "tx"))

    def jfield(struct: str, name: str) -> "Column":
        c = F.col(struct).getField(name)
        return F.coalesce(c, *(F.col(struct).getField(a) for a in JSON_ALIASES[name])) if name in JSON_ALIASES else c

    def field(name: str) -> "Column":
        return (F.when(is_jt, _blank_to_null(jfield("jt", name)))
                 .when(is_js, _blank_to_null(jfield("js", name)))
                 .when(is_tx, _blank_to_null(F.col("tx").getField(name))))

    strict = F.lit(True)
    for n in CONTRACT_FIELDS:
        strict = strict & F.col("jt").getField(n).isNotNull()
    # ... and no extra field. Counting keys costs a regex over the line, so first a cheap exact test:
    # compact JSON with exactly the contract's keys and unescaped values is exactly this long;
    # anything else (extra or repeated keys, spaces, escapes) is longer and gets the key count.
    compact_len = F.lit(2 + len(CONTRACT_FIELDS) - 1 + sum(len(n) + 3 for n in CONTRACT_FIELDS))
    for n in CONTRACT_FIELDS:
        c = F.col("jt").getField(n)
        compact_len = compact_len + (F.length(c.cast("string")) if n in ("age", "schema_version") else F.length(c) + 2)
    key_token = r'(?:^\s*\{|,)\s*"(?:[^"\\]|\\.)*"\s*:'   # a key: after { or a comma, a JSON string, a colon
    strict = strict & ((F.length(v) == compact_len) | (F.regexp_count(v, F.lit(key_token)) == len(CONTRACT_FIELDS)))

    df = df.select(
        "value", "source_file", "line_number", "_kind",
        F.when(is_jt, F.when(strict, F.lit("json_strict")).otherwise(F.lit("json_loose")))
         .when(is_js, F.lit("json_loose"))
         .when(is_tx, F.col("tx.rule")).alias("rule"),
        F.when(is_jt, F.col("jt.event_id")).when(is_js, F.col("js.event_id")).alias("_event_id"),
        F.when(is_jt, _blank_to_null(F.col("jt.student_id")))
         .when(is_js, _blank_to_null(F.col("js.student_id"))).alias("student_id"),
        field("first_name").alias("first_name"),
        field("last_name").alias("last_name"),
        F.when(is_jt, F.col("jt.age")).alias("_age_l"),
        F.when(is_js, _blank_to_null(F.col("js.age")))
         .when(is_tx, _blank_to_null(F.col("tx.age"))).alias("_age_s"),
        field("major").alias("_major"),
        F.when(is_jt, _blank_to_null(F.col("jt.emitted_at")))
         .when(is_js, _blank_to_null(F.col("js.emitted_at"))).alias("emitted_at"),
        F.when(is_jt, F.col("jt.schema_version").cast("int"))
         .when(is_js, F.col("js.schema_version").try_cast("int")).alias("schema_version"),
    )

    # ---- step 3: types, ranges, canonical major, the verdict ------------------------------
    age_s = F.col("_age_s")
    age_s_is_int = age_s.rlike(r"^[+-]?[0-9]+(\.0+)?$")
    age = F.coalesce(F.col("_age_l"),
                     F.when(age_s_is_int, F.regexp_extract(age_s, r"^([+-]?[0-9]+)", 1).try_cast("long")))
    major = F.col("_major")
    alias_map = F.create_map(*[F.lit(x) for kv_pair in ref.keys for x in kv_pair])
    canonical = F.when(major.isin(list(ref.majors)), major).otherwise(F.try_element_at(alias_map, fold(major)))
    df = df.select("*", age.alias("_age"), canonical.alias("_canonical"))
    age_text = F.coalesce(F.col("_age_l").cast("string"), age_s)
    reason = (F.when(F.col("_kind") == "empty", F.lit("empty"))
              .when((F.col("_kind") == "json") & F.col("rule").isNull(), F.lit("invalid_json"))
              .when(F.col("rule").isNull(), F.lit("not_json_or_csv"))
              .when(F.col("first_name").isNull() | F.col("last_name").isNull(), F.lit("missing_name"))
              .when(F.col("_age_l").isNull() & age_s.isNull(), F.lit("missing_age"))
              .when(F.col("_age").isNull() & ~age_s_is_int, F.lit("age_not_a_number"))
              .when(~F.coalesce(F.col("_age").between(age_min, age_max), F.lit(False)), F.lit("age_out_of_range"))
              .when(major.isNull() | (fold(major) == ""), F.lit("missing_major"))
              .when(F.col("_canonical").isNull(), F.lit("unknown_major")))
    r = F.col("_reason")
    detail = (F.when(r.isNull(), F.lit(None).cast("string"))
              .when(r == "empty", F.lit("empty line"))
              .when(r == "invalid_json", F.lit("starts like JSON but does not parse as an object"))
              .when(r == "not_json_or_csv", F.lit("neither a JSON object nor first,last,age,major"))
              .when(r == "missing_name", F.lit("first_name or last_name absent or blank"))
              .when(r == "missing_age", F.lit("age absent or blank"))
              .when(r == "age_not_a_number", F.concat(F.lit("age="), age_text))
              .when(r == "age_out_of_range", F.concat(F.lit("age="), age_text, F.lit(f" outside {age_min}..{age_max}")))
              .when(r == "missing_major", F.lit("major absent or blank"))
              .when(r == "unknown_major", F.concat(F.lit("major="), major)))
    clean_now = r.isNull()
    df = (df.withColumn("_reason", reason)
            .select("source_file", "line_number", "rule", "_reason", "value",
                    detail.alias("detail"),
                    F.when(clean_now, F.coalesce(_blank_to_null(F.col("_event_id")), derived_event_id(v)))
                     .alias("event_id"),
                    "student_id", "first_name", "last_name",
                    F.when(clean_now, F.col("_age").cast("int")).alias("age"),
                    F.when(clean_now, F.col("_canonical")).alias("major"),
                    "emitted_at", "schema_version"))

    # ---- step 4: deduplicate clean rows by event_id: first occurrence (file, line) wins ----
    # a later row with the same id and the same content is a duplicate (removed, counted);
    # with other content it is quarantined as conflicting_duplicate (nothing dropped silently).
    w = Window.partitionBy("event_id").orderBy("source_file", "line_number")
    sig = F.xxhash64("student_id", "first_name", "last_name", "age", "major", "emitted_at")
    df = df.select("*", sig.alias("_sig"), F.row_number().over(w).alias("_rn"),
                   F.first(sig).over(w).alias("_first_sig"), F.first("source_file").over(w).alias("_first_file"),
                   F.first("line_number").over(w).alias("_first_line"))
    later = F.col("event_id").isNotNull() & (F.col("_rn") > 1)
    conflict = later & (F.col("_sig") != F.col("_first_sig"))
    rows = df.select(
        "source_file", "line_number",
        F.col("value").alias("raw_line"),
        F.when(conflict, F.lit("quarantine")).when(later, F.lit("duplicate"))
         .when(F.col("_reason").isNull(), F.lit("clean")).otherwise(F.lit("quarantine")).alias("verdict"),
        "rule",
        F.when(conflict, F.lit("conflicting_duplicate")).otherwise(F.col("_reason")).alias("reason"),
        F.when(conflict, F.concat(F.lit("event_id "), F.col("event_id"), F.lit(" already seen with other content at "),
                                  F.col("_first_file"), F.lit(":"), F.col("_first_line").cast("string")))
         .otherwise(F.col("detail")).alias("detail"),
        "event_id", "student_id", "first_name", "last_name", "age", "major", "emitted_at", "schema_version",
        F.lit(run_id).alias("run_id"),
    )
    clean = rows.where(F.col("verdict") == "clean").select(*CLEAN_COLUMNS)
    quarantine = rows.where(F.col("verdict") == "quarantine").select(*QUARANTINE_COLUMNS)
    return Normalized(rows, clean, quarantine)
