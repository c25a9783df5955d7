"""The Great Expectations suites of the CI gate, as code.

Each check is plain data (a GX Core 1.x expectation class name and its arguments), so this module
imports nothing heavy and the suites can be read, reviewed and unit-tested without GX; gate.py
turns them into ``great_expectations.expectations.<Class>(**kwargs)`` objects.

One source of truth: the value set of ``major`` is read from the dbt seed (settings.majors_file,
column ``major``), the age bounds are settings.age_min / settings.age_max, the table names and
the over-age threshold are the contract's (studentflow/core/contract.py).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from studentflow.core import config
from studentflow.core.contract import CLEAN_TABLE, OVER_AGE, OVER_AGE_MART, STATS_MART, SUMMARY_MART
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
    """One suite per table the gate checks (:data:`TABLES`), bounds from the settings and the contract."""
    majors = canonical_majors(settings.majors_file)
    ages = {"min_value": settings.age_min, "max_value": settings.age_max}
    return [_clean_suite(majors, ages), _stats_suite(majors, ages), _over_age_suite(majors, settings.age_max),
            _summary_suite(majors)]


def _check(table: str, gx_class: str, column: str | None = None, **kwargs: Any) -> Check:
    return Check(table=table, gx_class=gx_class, column=column, kwargs=kwargs)


def _clean_suite(majors: list[str], ages: dict[str, int]) -> Suite:
    t, c = CLEAN_TABLE, partial(_check, CLEAN_TABLE)
    return Suite(t, t, (
        c("ExpectTableRowCountToBeBetween", min_value=1),
        c("ExpectColumnValuesToNotBeNull", "age"),
        c("ExpectColumnValuesToBeOfType", "age", type_="INTEGER"),
        # the declared type says little in SQLite (dynamic typing): check every stored value too
        Check(t, "UnexpectedRowsExpectation", "age", name="expect_column_values_to_be_integer_valued",
              kwargs={"unexpected_rows_query":
                      "select * from {batch} where age is not null and typeof(age) <> 'integer'",
                      "description": "every age is stored as an integer"}),
        c("ExpectColumnValuesToBeBetween", "age", **ages),
        c("ExpectColumnValuesToNotBeNull", "major"),
        c("ExpectColumnValuesToBeInSet", "major", value_set=majors),
        c("ExpectColumnValuesToNotBeNull", "event_id"),
        c("ExpectColumnValuesToBeUnique", "event_id"),
    ))


def _stats_suite(majors: list[str], ages: dict[str, int]) -> Suite:
    c = partial(_check, STATS_MART)
    return Suite(STATS_MART, STATS_MART, (
        c("ExpectTableRowCountToBeBetween", min_value=1, max_value=len(majors)),
        c("ExpectColumnValuesToNotBeNull", "major"),
        c("ExpectColumnValuesToBeInSet", "major", value_set=majors),
        c("ExpectColumnValuesToBeUnique", "major"),
        c("ExpectColumnValuesToBeBetween", "student_count", min_value=1),
        c("ExpectColumnValuesToBeBetween", "stddev_age", min_value=0),
        c("ExpectColumnValuesToBeBetween", "min_age", **ages),
        c("ExpectColumnValuesToBeBetween", "max_age", **ages),
    ))


def _over_age_suite(majors: list[str], age_max: int) -> Suite:
    c = partial(_check, OVER_AGE_MART)
    return Suite(OVER_AGE_MART, OVER_AGE_MART, (
        c("ExpectColumnValuesToNotBeNull", "major"),
        c("ExpectColumnValuesToBeInSet", "major", value_set=majors),
        c("ExpectColumnValuesToBeBetween", "student_count", min_value=1),
        c("ExpectColumnValuesToBeBetween", "avg_age", min_value=OVER_AGE, strict_min=True, max_value=age_max),
    ))


def _summary_suite(majors: list[str]) -> Suite:
    c = partial(_check, SUMMARY_MART)
    return Suite(SUMMARY_MART, SUMMARY_MART, (
        c("ExpectTableRowCountToEqual", value=1),
        c("ExpectColumnValuesToBeBetween", "student_count", min_value=1),
        c("ExpectColumnValuesToBeBetween", "major_count", min_value=1, max_value=len(majors)),
        c("ExpectColumnValuesToBeBetween", "quarantine_rate", min_value=0, max_value=1),
    ))


# the tables the gate checks, one suite each (named after its table)
TABLES = (CLEAN_TABLE, STATS_MART, OVER_AGE_MART, SUMMARY_MART)
