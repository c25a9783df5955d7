"""Where a run writes: with only `data_dir` and `state_dir` set, everything it writes is under them.

Real processes: `studentflow run` on its own embedded stack (attached to the test worker's Spark
server, as to a remote one), dbt, Great Expectations and the report. Every file of the checkout
(but what git, the venv, caches and `make setup` own) is compared before and after, and every
file the run wrote is at a place ``settings.paths`` names. tests/unit/test_output_paths.py checks
the places themselves.
"""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

from studentflow.core import config
from tests.support.stackutil import REPO, sf, stack_env

pytestmark = pytest.mark.slow

SKIPPED_NAMES = {".git", ".venv", "node_modules", "__pycache__", ".pytest_cache"}
# made by `make setup`, not by a run: the Connect jars (and their class-data archive), the lock
# tool, the Spark class-data archive and the archives' build log
SETUP_MADE = (".state/connect-libs", ".state/lock-tools", ".state/spark-connect-classes.aot", ".state/setup-cds.log")


def checkout_files() -> dict[str, tuple[int, int]]:
    """(size, mtime) of every file in the checkout, but what git, the venv, caches and setup own."""
    out = {}
    for folder, dirs, files in os.walk(REPO):
        dirs[:] = [d for d in dirs if d not in SKIPPED_NAMES]
        for name in files:
            path = Path(folder) / name
            rel = path.relative_to(REPO).as_posix()
            if rel.startswith(SETUP_MADE):
                continue
            try:
                st = path.stat()
            except FileNotFoundError:   # a temporary file gone between listing and stat
                continue
            out[rel] = (st.st_size, st.st_mtime_ns)
    return out


def test_data_dir_and_state_dir_alone_move_every_output(tmp_path):
    env = stack_env(tmp_path)
    for key in ("STUDENTFLOW_STAGING_DIR", "STUDENTFLOW_WAREHOUSE", "STUDENTFLOW_DROP_FILE"):
        env.pop(key, None)
    data, state = Path(env["STUDENTFLOW_DATA_DIR"]), Path(env["STUDENTFLOW_STATE_DIR"])
    before = checkout_files()
    res = sf(env, "run", "--count", "1000", "--json", timeout=900)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    after = checkout_files()
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    assert changed == [], f"the run wrote into the checkout: {changed[:10]}"
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    # the staging file, the warehouse, dbt's artifacts, the gate's results and the report: in data_dir
    paths = config.load(env=env).paths
    staged = sum(p.read_bytes().count(b"\n") for p in paths.staging.iterdir())
    assert paths.staging.parent == data and staged == 1000 == summary["counts"]["lines_read"], summary
    assert paths.warehouse.is_file() and (paths.dbt_target / "run_results.json").is_file()
    assert any(paths.report.glob("*.md")) and paths.quality_summary.is_file() and any(paths.quality_docs.iterdir())
    assert paths.connect_log.is_file() and paths.broker_log.is_file()
    # and each file it wrote is at a place settings.paths names (or inside one)
    places = [getattr(paths, f.name) for f in dataclasses.fields(paths)]
    written = [p for root in (data, state) for p in root.rglob("*") if p.is_file()]
    unnamed = [str(p) for p in written if not any(p == place or p.is_relative_to(place) for place in places)]
    assert written and unnamed == [], unnamed[:10]
