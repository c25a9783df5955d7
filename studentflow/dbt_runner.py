"""The dbt runner: run the dbt project (dbt_project/) against the SQLite warehouse.

The same project runs with dbt's own CLI (`dbt build --project-dir dbt_project --profiles-dir
dbt_project`); this runner only supplies what studentflow's settings know (its command,
`studentflow transform`, is in transform_cli.py):

- STUDENTFLOW_WAREHOUSE = settings.warehouse (absolute), read by dbt_project/profiles.yml;
- the age bounds as dbt vars (``--vars {"age_min": .., "age_max": ..}``);
- dbt's target/ and logs/ under ``<data_dir>/dbt/`` (so concurrent runs with different data
  folders never share artifacts).

dbt runs as a subprocess of the venv's ``dbt`` executable (a clean process per invocation, its
own environment); the compact summary is read from ``target/run_results.json``.
Nothing heavy is imported at module level: `studentflow --help` stays instant.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from core import config
from core.errors import ConfigError
from core.warehouse import MARTS, SOURCE_TABLES, connect_readonly, existing_tables  # noqa: F401

DBT_PROJECT = config.PROJECT_ROOT / "dbt_project"


# --------------------------------------------------------------------------- running dbt
@dataclass
class DbtOutcome:
    command: str
    returncode: int
    elapsed: float
    results: list[dict] = field(default_factory=list)   # run_results.json "results"
    output: str = ""                                      # dbt's stdout + stderr

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r["status"] == status)

    @property
    def problems(self) -> list[dict]:
        return [r for r in self.results if r["status"] in ("fail", "error", "runtime error")]

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def dbt_paths(settings: config.Settings) -> tuple[Path, Path]:
    """(target_path, log_path) for dbt artifacts of this data folder."""
    base = settings.data_dir / "dbt"
    return base / "target", base / "logs"


def dbt_vars(settings: config.Settings) -> dict[str, int]:
    return {"age_min": settings.age_min, "age_max": settings.age_max}


def dbt_executable() -> str:
    beside = Path(sys.executable).with_name("dbt")
    if beside.is_file():
        return str(beside)
    found = shutil.which("dbt")
    if found:
        return found
    raise ConfigError("the dbt executable is not installed in this environment",
                      "run `make setup` (installs dbt-core and dbt-sqlite into .venv)")


def dbt_command(settings: config.Settings, command: list[str], project_dir: Path = DBT_PROJECT) -> list[str]:
    target, logs = dbt_paths(settings)
    return [dbt_executable(), *command,
            "--project-dir", str(project_dir), "--profiles-dir", str(project_dir),
            "--target-path", str(target), "--log-path", str(logs),
            "--vars", json.dumps(dbt_vars(settings)), "--no-use-colors"]


def dbt_env(settings: config.Settings) -> dict[str, str]:
    """The caller's environment plus what the profile reads; never sends usage statistics."""
    env = dict(os.environ)
    env["STUDENTFLOW_WAREHOUSE"] = str(settings.warehouse)
    env["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    return env


def run_dbt(settings: config.Settings, command: list[str], *, project_dir: Path = DBT_PROJECT,
            stream: bool = False) -> DbtOutcome:
    """Run one dbt command; return its outcome (never raises on a dbt failure)."""
    target, logs = dbt_paths(settings)
    target.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    results_file = target / "run_results.json"
    results_file.unlink(missing_ok=True)   # never report a previous run's results
    argv = dbt_command(settings, command, project_dir)
    start = time.monotonic()
    proc = subprocess.run(argv, env=dbt_env(settings), cwd=str(config.PROJECT_ROOT), text=True,
                          stdout=None if stream else subprocess.PIPE,
                          stderr=None if stream else subprocess.STDOUT)
    elapsed = time.monotonic() - start
    results: list[dict] = []
    if results_file.is_file():
        results = json.loads(results_file.read_text(encoding="utf-8")).get("results", [])
    return DbtOutcome(" ".join(command[:1]), proc.returncode, elapsed, results, proc.stdout or "")


# --------------------------------------------------------------------------- reporting
def _kind(unique_id: str) -> str:
    return unique_id.split(".", 1)[0]


def _short(unique_id: str) -> str:
    parts = unique_id.split(".")
    return parts[2] if len(parts) > 2 else unique_id


def _first_line(text: str | None) -> str:
    for line in (text or "").splitlines():
        if line.strip():
            return line.strip()
    return ""


def summarize(outcome: DbtOutcome) -> list[str]:
    """A few lines: totals per node kind and status, then one line per failing node."""
    kinds: dict[str, int] = {}
    for r in outcome.results:
        kinds[_kind(r["unique_id"])] = kinds.get(_kind(r["unique_id"]), 0) + 1
    kinds_text = ", ".join(f"{n} {k}{'s' if n != 1 else ''}" for k, n in sorted(kinds.items()))
    passed = outcome.count("success") + outcome.count("pass")
    lines = [f"dbt {outcome.command}: {kinds_text or 'no nodes'} in {outcome.elapsed:.1f} s  "
             f"ok {passed}, warn {outcome.count('warn')}, fail {outcome.count('fail')}, "
             f"error {outcome.count('error') + outcome.count('runtime error')}, skip {outcome.count('skipped')}"]
    for r in outcome.problems:
        status = r["status"].upper()
        failures = r.get("failures")
        detail = f"{failures} failing row{'s' if failures != 1 else ''}" if r["status"] == "fail" and failures is not None \
            else _first_line(r.get("message"))
        lines.append(f"  {status:<5} {_short(r['unique_id'])}: {detail}")
    return lines


def mart_row_counts(warehouse: Path) -> dict[str, int]:
    tables = existing_tables(warehouse)
    con = connect_readonly(warehouse)
    try:
        return {m: con.execute(f'select count(*) from "{m}"').fetchone()[0] for m in MARTS if m in tables}
    finally:
        con.close()
