"""A synthetic warehouse whose marts the real dbt project built, and copies of it with rows added.

The Great Expectations and dbt tests build one such warehouse per module (dbt takes seconds), then
inject bad rows into a copy per test, so a test never sees another test's rows.
"""
from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from studentflow.core import config
from tests.support import warehouse as aw


def settings_in(base: Path, **extra) -> config.Settings:
    """Settings whose data, state and warehouse live under ``base``."""
    return config.load(env={}, data_dir=str(base / "data"), state_dir=str(base / "state"),
                       warehouse=str(base / "data" / "warehouse.db"), **extra)


def build_marts(settings: config.Settings) -> None:
    """`dbt build` of the real project on ``settings.warehouse``, in this process, on the parse
    it holds (transform.runner.parsed_manifest): the test worker parses the project once for all
    its warehouses, as the stack's quality worker does, instead of once per fixture. What the
    `studentflow transform` command itself does is tested in test_cli_json.py and test_dbt_*.py."""
    from studentflow.transform.runner import run_dbt

    outcome = run_dbt(settings, ["build"], reuse_parse=True)
    assert outcome.ok, outcome.output[-3000:]


def built(base: Path, n: int = 300) -> tuple[config.Settings, list[tuple]]:
    """(settings, clean rows) of a warehouse of ``n`` random rows under ``base``, marts built."""
    settings = settings_in(base)
    rows = aw.build(settings.warehouse, n=n)
    build_marts(settings)
    return settings, rows


def variant(row: tuple, **values) -> tuple:
    """A copy of a clean_students row with the named columns changed."""
    out = list(row)
    for column, value in values.items():
        out[aw.CLEAN_COLUMNS.index(column)] = value
    return tuple(out)


def add_rows(settings: config.Settings, template: tuple, changes: list[dict]) -> None:
    """Insert one variant of ``template`` per dict of column values into clean_students."""
    con = sqlite3.connect(settings.warehouse)
    try:
        aw.insert_clean(con, [variant(template, **c) for c in changes])
    finally:
        con.close()


def copy_with(good: tuple[config.Settings, list[tuple]], base: Path, changes: list[dict],
              **extra) -> config.Settings:
    """Settings on a copy (under ``base``) of the ``good`` warehouse, marts included, with the
    variants of its first row that ``changes`` describe added."""
    good_settings, rows = good
    settings = settings_in(base, **extra)
    settings.warehouse.parent.mkdir(parents=True)
    shutil.copy(good_settings.warehouse, settings.warehouse)
    add_rows(settings, rows[0], changes)
    return settings
