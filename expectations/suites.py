"""The Great Expectations suites of the CI gate, as code.

Each check is plain data (a GX Core 1.x expectation class name and its arguments), so this module
imports nothing heavy and the suites can be read, reviewed and unit-tested without GX; gate.py
turns them into ``great_expectations.expectations.<Class>(**kwargs)`` objects.

One source of truth: the value set of ``major`` is read from the dbt seed (settings.majors_file,
column ``major``) and the age bounds are settings.age_min / settings.age_max.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studentflow.core import config
from studentflow.core.reference import load_majors


@dataclass(frozen=True)
class Check:
    """One expectation on one table (column None for a table-level expectation)."""

    table: str
    gx_class: str                      # class in great_expectations.expectations
    column: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    name: str | None = None            # printed name; defaults to the snake_case expectation type

    @property
    def expectation(self) -> str:
        if self.name:
            return self.name
        return re.sub(r"(?<!^)(?=[A-Z])", "_", self.gx_class).lower()

    def gx_kwargs(self) -> dict[str, Any]:
        kw = dict(self.kwargs)
        # UnexpectedRowsExpectation is table-level (its SQL names the column); column is for display
        if self.column is not None and self.gx_class != "UnexpectedRowsExpectation":
            kw["column"] = self.column
        return kw


@dataclass(frozen=True)
class Suite:
    name: str
    table: str
    checks: tuple[Check, ...]


def canonical_majors(majors_file: Path) -> list[str]:
    """Canonical majors from the dbt seed (column `major`), in file order (the core's one reader)."""
    return list(load_majors(majors_file))


def build_suites(settings: config.Settings) -> list[Suite]:
    majors = canonical_majors(settings.majors_file)
    ages = {"min_value": settings.age_min, "max_value": settings.age_max}

    def suite(table: str, *checks: Check) -> Suite:
        return Suite(name=table, table=table, checks=checks)

    def c(table: str, gx_class: str, column: str | None = None, **kwargs: Any) -> Check:
        return Check(table=table, gx_class=gx_class, column=column, kwargs=kwargs)

    t = "clean_students"
    clean = suite(
        t,
        c(t, "ExpectTableRowCountToBeBetween", min_value=1),
        c(t, "ExpectColumnValuesToNotBeNull", "age"),
        c(t, "ExpectColumnValuesToBeOfType", "age", type_="INTEGER"),
        # the declared type says little in SQLite (dynamic typing): check every stored value too
        Check(t, "UnexpectedRowsExpectation", "age", name="expect_column_values_to_be_integer_valued",
              kwargs={"unexpected_rows_query":
                      "select * from {batch} where age is not null and typeof(age) <> 'integer'",
                      "description": "every age is stored as an integer"}),
        c(t, "ExpectColumnValuesToBeBetween", "age", **ages),
        c(t, "ExpectColumnValuesToNotBeNull", "major"),
        c(t, "ExpectColumnValuesToBeInSet", "major", value_set=majors),
        c(t, "ExpectColumnValuesToNotBeNull", "event_id"),
        c(t, "ExpectColumnValuesToBeUnique", "event_id"),
    )
    t = "major_age_stats"
    stats = suite(
        t,
        c(t, "ExpectTableRowCountToBeBetween", min_value=1, max_value=len(majors)),
        c(t, "ExpectColumnValuesToNotBeNull", "major"),
        c(t, "ExpectColumnValuesToBeInSet", "major", value_set=majors),
        c(t, "ExpectColumnValuesToBeUnique", "major"),
        c(t, "ExpectColumnValuesToBeBetween", "student_count", min_value=1),
        c(t, "ExpectColumnValuesToBeBetween", "stddev_age", min_value=0),
        c(t, "ExpectColumnValuesToBeBetween", "min_age", **ages),
        c(t, "ExpectColumnValuesToBeBetween", "max_age", **ages),
    )
    t = "major_avg_age_over_20"
    over_20 = suite(
        t,
        c(t, "ExpectColumnValuesToNotBeNull", "major"),
        c(t, "ExpectColumnValuesToBeInSet", "major", value_set=majors),
        c(t, "ExpectColumnValuesToBeBetween", "student_count", min_value=1),
        c(t, "ExpectColumnValuesToBeBetween", "avg_age", min_value=20, strict_min=True, max_value=settings.age_max),
    )
    t = "global_summary"
    summary = suite(
        t,
        c(t, "ExpectTableRowCountToEqual", value=1),
        c(t, "ExpectColumnValuesToBeBetween", "student_count", min_value=1),
        c(t, "ExpectColumnValuesToBeBetween", "major_count", min_value=1, max_value=len(majors)),
        c(t, "ExpectColumnValuesToBeBetween", "quarantine_rate", min_value=0, max_value=1),
    )
    return [clean, stats, over_20, summary]


TABLES = ("clean_students", "major_age_stats", "major_avg_age_over_20", "global_summary")
