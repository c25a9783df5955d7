"""The GX suites as code: value set from the majors seed, bounds from settings (no GX import)."""
from __future__ import annotations

import csv

import pytest

from expectations import suites
from studentflow.core import config
from studentflow.core.errors import ConfigError


def seed_majors(settings) -> list[str]:
    with settings.majors_file.open(encoding="utf-8", newline="") as fh:
        return [r["major"] for r in csv.DictReader(fh)]


def find(suite_list, table, gx_class, column):
    (check,) = [c for s in suite_list if s.table == table for c in s.checks
                if c.gx_class == gx_class and c.column == column]
    return check


def test_major_value_set_is_the_seed_everywhere(settings):
    majors = seed_majors(settings)
    assert "Mathématiques" in majors and len(majors) == 8
    built = suites.build_suites(settings)
    for table in ("clean_students", "major_age_stats", "major_avg_age_over_20"):
        assert find(built, table, "ExpectColumnValuesToBeInSet", "major").kwargs["value_set"] == majors


def test_age_bounds_come_from_settings(settings):
    narrowed = settings.with_overrides(age_min=18, age_max=65)
    check = find(suites.build_suites(narrowed), "clean_students", "ExpectColumnValuesToBeBetween", "age")
    assert check.gx_kwargs() == {"column": "age", "min_value": 18, "max_value": 65}


def test_issue_checks_are_present(settings):
    built = suites.build_suites(settings)
    names = {(s.table, c.column, c.expectation) for s in built for c in s.checks}
    # table -> column -> the expect_column_values_to_... checks it must carry
    needed = {
        "clean_students": {"age": ["not_be_null", "be_of_type", "be_integer_valued", "be_between"],
                           "major": ["not_be_null", "be_in_set"], "event_id": ["be_unique"]},
        "major_age_stats": {"student_count": ["be_between"], "stddev_age": ["be_between"]},
        "major_avg_age_over_20": {"student_count": ["be_between"]},
        "global_summary": {"student_count": ["be_between"]},
    }
    for table, columns in needed.items():
        for column, checks in columns.items():
            for check in checks:
                assert (table, column, f"expect_column_values_to_{check}") in names, (table, column, check)
    # UnexpectedRowsExpectation is table-level: the column is for display only
    check = find(built, "clean_students", "UnexpectedRowsExpectation", "age")
    assert "column" not in check.gx_kwargs() and "{batch}" in check.kwargs["unexpected_rows_query"]


def test_missing_or_headerless_seed_is_a_config_error(tmp_path, settings):
    with pytest.raises(ConfigError, match="does not exist"):
        suites.canonical_majors(tmp_path / "nope.csv")
    bad = tmp_path / "majors.csv"
    bad.write_text("name\nInformatique\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="no `major` column"):
        suites.canonical_majors(bad)
