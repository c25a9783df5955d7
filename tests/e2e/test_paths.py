"""Where a run writes: with only `data_dir` and `state_dir` set, everything it writes is under them.

Real processes: `studentflow run` on its own embedded stack (attached to the test worker's Spark
server, as to a remote one), dbt, Great Expectations and the report; the checkout's own data/ and
.state/ folders are compared before and after, file by file.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.stackutil import REPO, sf, stack_env

pytestmark = pytest.mark.slow

# made by `make setup`, not by a run: the Connect jars and the lock tool
_SETUP_MADE = (".state/connect-libs", ".state/lock-tools")


def checkout_outputs() -> dict[str, tuple[int, int]]:
    """(size, mtime) of every file in the checkout's default data and state folders."""
    out = {}
    for folder in (REPO / "data", REPO / ".state"):
        for path in folder.rglob("*") if folder.is_dir() else ():
            rel = path.relative_to(REPO).as_posix()
            if path.is_file() and not rel.startswith(_SETUP_MADE):
                st = path.stat()
                out[rel] = (st.st_size, st.st_mtime_ns)
    return out


def test_data_dir_and_state_dir_alone_move_every_output(tmp_path):
    env = stack_env(tmp_path)
    for key in ("STUDENTFLOW_STAGING_DIR", "STUDENTFLOW_WAREHOUSE", "STUDENTFLOW_DROP_FILE"):
        env.pop(key, None)
    data, state = Path(env["STUDENTFLOW_DATA_DIR"]), Path(env["STUDENTFLOW_STATE_DIR"])
    before = checkout_outputs()
    res = sf(env, "run", "--count", "1000", "--json", timeout=900)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    # the staging file, the warehouse, dbt's artifacts, the gate's results and the report: in data_dir
    staged = sum(p.read_bytes().count(b"\n") for p in (data / "staging").iterdir())
    assert staged == 1000 == summary["counts"]["lines_read"], summary
    assert (data / "warehouse.db").is_file() and (data / "dbt" / "target" / "run_results.json").is_file()
    assert any((data / "report").glob("*.md")) and (data / "quality").is_dir()
    assert (state / "logs").is_dir()
    after = checkout_outputs()
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    assert changed == [], f"the run wrote into the checkout: {changed[:10]}"
