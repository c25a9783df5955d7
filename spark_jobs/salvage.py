"""Steps 2 and 3 of the transform: the typed contract parse, then the fields by salvage rule.

:func:`with_parse` tells a line that is exactly the contract (the fast path) from the rest;
:func:`with_fields` reads the fields of strict rows from that parse, of other JSON rows from an
all-string parse that also knows the French keys, and of text rows from the csv / key:value split.
See spark_jobs/normalize.py for the whole chain and its performance notes.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from studentflow.core.contract import CONTRACT_FIELDS, JSON_ALIASES, KV_KEYS, MAX_KV_PARTS

from spark_jobs.folding import fold

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import Column, DataFrame

KEEP = ("value", "source_file", "line_number")   # the input columns every step carries


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
    contract's keys and unescaped values is exactly ``compact_len`` bytes long; anything else
    (extra or repeated keys, spaces, escapes: an escape is never shorter than the UTF-8 of what it
    stands for) is longer and gets the key count. In bytes, not characters: a UTF-8 string knows
    its byte length, while counting its characters reads it all (a tenth of a 1M-line transform's
    samples; about 7 % of it, alternated).
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
        compact_len = compact_len + (F.octet_length(c.cast("string")) if n in ("age", "schema_version")
                                     else F.octet_length(c) + 2)
    strict = present & ((F.octet_length(v) == compact_len) | (F.regexp_count(v, F.lit(_KEY_TOKEN)) == len(CONTRACT_FIELDS)))
    first = (*KEEP, "_kind", F.when(F.col("_kind") == "json", F.from_json(v, _json_schema(True))).alias("jt"))
    return first, (*KEEP, "_kind", "jt", F.coalesce(strict, F.lit(False)).alias("_strict"))


# --- step 3: the fields, by salvage rule -------------------------------------------------------
def blank_to_null(c: "Column") -> "Column":
    from pyspark.sql import functions as F

    t = F.trim(c)
    return F.when(t != "", t)


def _text_parts() -> "Column":
    """The csv / key:value split of a text line, each value once: a struct of the part count
    ``n``, each part ``p<i>``, its folded key ``k<i>`` (null: none) and its value ``v<i>``.

    Its own column, read by :func:`_text_fields` in the next projection: written inside that
    expression, every use of a key repeated its split, regexp and folding, and the plan Spark
    analyzes and optimizes for every query grew to 204 KB (a third of a small increment's time).
    One struct column, null for rows that are not text, keeps the work lazy: a JSON row pays one
    null test (a column per part and key, tried, made a 1M-line normalize slower).
    """
    from pyspark.sql import functions as F

    parts = F.split(F.trim(F.col("value")), ",")
    key_re, val_re = r"^([^:=]{1,20}?)\s*[:=]", r"^[^:=]{1,20}?\s*[:=]\s*(.*)$"
    fields = [F.size(parts).alias("n")]
    for i in range(MAX_KV_PARTS):
        p = F.trim(F.get(parts, i))
        key = F.regexp_extract(p, key_re, 1)
        fields += [p.alias(f"p{i}"), F.when(key != "", fold(key)).alias(f"k{i}"),
                   F.trim(F.regexp_extract(p, val_re, 1)).alias(f"v{i}")]
    return F.when(F.col("_kind") == "text", F.struct(*fields))


def _text_fields() -> "Column":
    """csv / key_value, from :func:`_text_parts`' column ``tp``: a struct of the four fields and
    the rule, or null when the text does not fit (or the row is not text).

    No higher-order function here on purpose: they are interpreted (CodegenFallback) and make
    Spark copy every row, JSON rows included. Plain expressions on at most MAX_KV_PARTS parts,
    computed only for text rows, stay in generated code.
    """
    from pyspark.sql import functions as F

    tp = F.col("tp")
    n = tp.getField("n")
    part = [tp.getField(f"p{i}") for i in range(MAX_KV_PARTS)]
    key_of = [tp.getField(f"k{i}") for i in range(MAX_KV_PARTS)]
    val_of = [tp.getField(f"v{i}") for i in range(MAX_KV_PARTS)]
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
    return F.when(tp.isNotNull() & fits, F.struct(*(field(f).alias(f) for f in positional),
                                                  F.when(any_keyed, F.lit("key_value")).otherwise(F.lit("csv")).alias("rule")))


def with_fields(df: "DataFrame") -> "DataFrame":
    """The raw fields (still untyped for salvaged rows) and ``rule`` (null: nothing fits).

    Strict rows read the typed parse directly. Other JSON rows get a second, all-string parse that
    also knows the French keys; text rows get the csv / key:value split.
    """
    first, text, second = _fields_columns()
    return df.select(*first).select(*text).select(*second)


def _fields_columns() -> tuple:
    from pyspark.sql import functions as F

    v, kind, strict = F.col("value"), F.col("_kind"), F.col("_strict")
    loose = F.when((kind == "json") & ~strict, F.from_json(v, _json_schema(False), _JSON_OPTS))
    first = (*KEEP, "_kind", "_strict", "jt", loose.alias("js"), _text_parts().alias("tp"))
    text = (*KEEP, "_kind", "_strict", "jt", "js", _text_fields().alias("tx"))
    js_ok = F.col("js").isNotNull() & F.col("js._corrupt").isNull()
    is_js = ~strict & js_ok
    is_tx = ~strict & ~js_ok & F.col("tx").isNotNull()

    def jfield(name: str) -> "Column":
        c = F.col("js").getField(name)
        return F.coalesce(c, *(F.col("js").getField(a) for a in JSON_ALIASES[name])) if name in JSON_ALIASES else c

    def field(name: str) -> "Column":
        return (F.when(strict, blank_to_null(F.col("jt").getField(name)))
                 .when(is_js, blank_to_null(jfield(name)))
                 .when(is_tx, blank_to_null(F.col("tx").getField(name))))

    return first, text, (
        *KEEP, "_kind",
        F.when(strict, F.lit("json_strict")).when(is_js, F.lit("json_loose"))
         .when(is_tx, F.col("tx.rule")).alias("rule"),
        F.when(strict, F.col("jt.event_id")).when(is_js, F.col("js.event_id")).alias("_event_id"),
        F.when(strict, blank_to_null(F.col("jt.student_id")))
         .when(is_js, blank_to_null(F.col("js.student_id"))).alias("student_id"),
        field("first_name").alias("first_name"),
        field("last_name").alias("last_name"),
        F.when(strict, F.col("jt.age")).alias("_age_l"),
        F.when(is_js, blank_to_null(F.col("js.age"))).when(is_tx, blank_to_null(F.col("tx.age"))).alias("_age_s"),
        field("major").alias("_major"),
        F.when(strict, blank_to_null(F.col("jt.emitted_at")))
         .when(is_js, blank_to_null(F.col("js.emitted_at"))).alias("emitted_at"),
        F.when(strict, F.col("jt.schema_version").cast("int"))
         .when(is_js, F.col("js.schema_version").try_cast("int")).alias("schema_version"),
    )
