"""Step 4 of the transform: types, ranges, canonical major, and the verdict of each line.

:func:`with_verdict` adds ``_reason`` (null: clean; ``header`` for a CSV header line) and its
human ``detail``, and the typed ``age``, canonical ``major`` and ``event_id`` of clean rows. The
reason codes are the contract's (studentflow/core/contract.py). See spark_jobs/normalize.py for
the whole chain.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from studentflow.core.reference import Reference

from spark_jobs.folding import fold
from spark_jobs.salvage import KEEP, blank_to_null

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import Column, DataFrame

Step = Callable[["DataFrame"], "DataFrame"]
FIELDS = ("rule", "_event_id", "student_id", "first_name", "last_name", "_age_l", "_age_s", "_major",
          "emitted_at", "schema_version")
_INT = r"^[+-]?[0-9]+(\.0+)?$"   # an integer, possibly written 22.0


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
    """Three projections: the typed age and canonical major, then the reason, then the output."""
    from pyspark.sql import functions as F

    age, age_is_int = _age()
    major = F.col("_major")
    alias_map = F.create_map(*[F.lit(x) for kv_pair in ref.keys for x in kv_pair])
    canonical = F.when(major.isin(list(ref.majors)), major).otherwise(F.try_element_at(alias_map, fold(major)))
    first = (*KEEP, "_kind", *FIELDS, age.alias("_age"), canonical.alias("_canonical"))
    second = (*KEEP, "_kind", *FIELDS, "_age", "_canonical", _reason(age_is_int, age_min, age_max).alias("_reason"))
    clean = F.col("_reason").isNull()
    third = ("source_file", "line_number", "rule", "_reason", "value", _detail(age_min, age_max).alias("detail"),
             F.when(clean, F.coalesce(blank_to_null(F.col("_event_id")), derived_event_id(F.col("value"))))
              .alias("event_id"),
             "student_id", "first_name", "last_name",
             F.when(clean, F.col("_age").cast("int")).alias("age"),
             F.when(clean, F.col("_canonical")).alias("major"),
             "emitted_at", "schema_version")
    return first, second, third


def _age() -> tuple["Column", "Column"]:
    """The age as a long (null when it is not a whole number), and whether the text was one.

    A whole number may be written 22.0 or in exponent form (2.2e1, 1e308): it is a number (then
    range-checked); 22.5 or vingt is not."""
    from pyspark.sql import functions as F

    age_l, age_s = F.col("_age_l"), F.col("_age_s")
    as_double = F.when(age_s.rlike(r"^[+-]?[0-9]+(\.[0-9]+)?[eE][+-]?[0-9]+$"), age_s.try_cast("double"))
    whole = as_double.isNotNull() & ~F.isnan(as_double) & (as_double % 1.0 == 0)
    age_s_is_int = age_s.rlike(_INT) | F.coalesce(whole, F.lit(False))
    age = F.coalesce(age_l, F.when(age_s.rlike(_INT), F.regexp_extract(age_s, r"^([+-]?[0-9]+)", 1).try_cast("long")),
                     F.when(whole & (F.abs(as_double) < 1e18), as_double.cast("long")))
    return age, age_s_is_int


def _reason(age_s_is_int: "Column", age_min: int, age_max: int) -> "Column":
    """The first rule a line breaks, in the contract's order of checks (null: none, clean)."""
    from pyspark.sql import functions as F

    kind, rule, major = F.col("_kind"), F.col("rule"), F.col("_major")
    return (F.when(kind == "header", F.lit("header"))   # not a reason: as_rows makes it the verdict
            .when(kind == "bad_encoding", F.lit("invalid_encoding"))
            .when(kind == "empty", F.lit("empty"))
            .when((kind == "json") & rule.isNull(), F.lit("invalid_json"))
            .when(rule.isNull(), F.lit("not_json_or_csv"))
            .when(F.col("first_name").isNull() | F.col("last_name").isNull(), F.lit("missing_name"))
            .when(F.col("_age_l").isNull() & F.col("_age_s").isNull(), F.lit("missing_age"))
            .when(F.col("_age").isNull() & ~age_s_is_int, F.lit("age_not_a_number"))
            .when(~F.coalesce(F.col("_age").between(age_min, age_max), F.lit(False)), F.lit("age_out_of_range"))
            .when(major.isNull(), F.lit("missing_major"))
            # fold only for the few majors that are not canonical: blank after folding
            # (tabs, no-break spaces) is missing, anything else unknown
            .when(F.col("_canonical").isNull(),
                  F.when(fold(major) == "", F.lit("missing_major")).otherwise(F.lit("unknown_major"))))


def _detail(age_min: int, age_max: int) -> "Column":
    """The human-readable detail of a quarantine reason (the offending value where there is one)."""
    from pyspark.sql import functions as F

    r, major = F.col("_reason"), F.col("_major")
    age_text = F.coalesce(F.col("_age_l").cast("string"), F.col("_age_s"))
    return (F.when(r.isNull() | (r == "header"), F.lit(None).cast("string"))
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
