"""`studentflow transform`: run the dbt project (dbt_project/) against the SQLite warehouse.

The same project runs with dbt's own CLI (`dbt build --project-dir dbt_project --profiles-dir
dbt_project`); this command only supplies what studentflow's settings know:

- STUDENTFLOW_WAREHOUSE = settings.warehouse (absolute), read by dbt_project/profiles.yml;
- the age bounds as dbt vars (``--vars {"age_min": .., "age_max": ..}``);
- dbt's target/ and logs/ under ``<data_dir>/dbt/`` (so concurrent runs with different data
  folders never share artifacts).

dbt runs as a subprocess of the venv's ``dbt`` executable (a clean process per invocation, its
own environment); the compact summary is read from ``target/run_results.json``.
Nothing heavy is imported at module level: `studentflow --help` stays instant.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from studentflow.core import config
from studentflow.core.errors import ConfigError, DataError, StudentflowError

DBT_PROJECT = config.PROJECT_ROOT / "dbt_project"
MARTS = ("major_age_stats", "major_avg_age_over_20", "global_summary", "major_age_distribution")
SOURCE_TABLES = ("clean_students", "quarantine_students", "pipeline_runs")


class WarehouseNotReady(StudentflowError):
    """The warehouse file or a table a stage needs does not exist yet (exit code 2)."""

    exit_code = 2


# --------------------------------------------------------------------------- warehouse checks
def existing_tables(warehouse: Path) -> set[str]:
    """Tables and views of the warehouse, opened read-only (never creates the file)."""
    if not warehouse.is_file():
        return set()
    con = sqlite3.connect(f"file:{warehouse}?mode=ro", uri=True)
    try:
        return {name for (name,) in con.execute("select name from sqlite_master where type in ('table', 'view')")}
    except sqlite3.DatabaseError as exc:
        raise WarehouseNotReady(f"{warehouse} is not a readable SQLite database ({exc})",
                                "point STUDENTFLOW_WAREHOUSE at the warehouse the Spark stage writes") from None
    finally:
        con.close()


def require_tables(warehouse: Path, tables: tuple[str, ...] | list[str], hint: str) -> None:
    """Raise WarehouseNotReady naming what is missing: the file, or the tables."""
    if not warehouse.is_file():
        raise WarehouseNotReady(f"warehouse {warehouse} does not exist", hint)
    missing = [t for t in tables if t not in existing_tables(warehouse)]
    if missing:
        raise WarehouseNotReady(f"warehouse {warehouse} has no table {', '.join(missing)}", hint)


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
    con = sqlite3.connect(f"file:{warehouse}?mode=ro", uri=True)
    try:
        return {m: con.execute(f'select count(*) from "{m}"').fetchone()[0] for m in MARTS if m in tables}
    finally:
        con.close()


def _tail_errors(output: str, limit: int = 12) -> list[str]:
    lines = [ln.rstrip() for ln in output.splitlines() if ln.strip()]
    keep = [ln for ln in lines if any(w in ln for w in ("Error", "error", "ERROR", "FAIL"))]
    return (keep or lines)[-limit:]


# --------------------------------------------------------------------------- CLI
def handle(args: argparse.Namespace, settings: config.Settings) -> int:
    hint = "run `studentflow normalize` first (the Spark stage writes clean_students), or set STUDENTFLOW_WAREHOUSE"
    require_tables(settings.warehouse, SOURCE_TABLES, hint)
    _, logs = dbt_paths(settings)
    if args.docs:
        outcome = run_dbt(settings, ["docs", "generate", "--static"], stream=args.verbose)
        if not outcome.ok:
            for line in _tail_errors(outcome.output):
                print(line, file=sys.stderr)
            raise StudentflowError("dbt docs generate failed", f"see {logs / 'dbt.log'}")
        target, _ = dbt_paths(settings)
        print(f"dbt docs: {target / 'static_index.html'} (one file, open it in a browser; "
              f"or `dbt docs serve --target-path {target}` for index.html)")
        return 0

    command = [args.command]
    if args.select:
        command += ["--select", *args.select]
    if args.full_refresh:
        command.append("--full-refresh")
    outcome = run_dbt(settings, command, stream=args.verbose)
    for line in summarize(outcome):
        print(line)
    if outcome.ok:
        counts = mart_row_counts(settings.warehouse)
        if counts:
            print("marts: " + ", ".join(f"{m} ({n} row{'s' if n != 1 else ''})" for m, n in counts.items())
                  + f"  in {settings.warehouse}")
        return 0
    if not outcome.results:   # dbt stopped before running any node: parse/compile/connection error
        for line in _tail_errors(outcome.output):
            print(line, file=sys.stderr)
        raise StudentflowError(f"dbt {args.command} failed before running any model",
                               f"see the lines above and {logs / 'dbt.log'}")
    failed_tests = [r for r in outcome.problems if r["status"] == "fail"]
    if failed_tests and len(failed_tests) == len(outcome.problems):
        target, _ = dbt_paths(settings)
        raise DataError(f"{len(failed_tests)} dbt test(s) failed on the warehouse data",
                        f"each failing test's SQL (it selects the offending rows) is under "
                        f"{target / 'compiled' / 'studentflow'}; run it against {settings.warehouse}")
    raise StudentflowError(f"dbt {args.command}: {len(outcome.problems)} node(s) failed",
                           f"fix the model SQL/YAML named above; log: {logs / 'dbt.log'}")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "transform",
        help="dbt build on the SQLite warehouse: staging views, per-major marts and their tests",
        description=(
            "Run the dbt project in dbt_project/ against the warehouse (setting `warehouse`), with the "
            "configured age bounds as dbt vars. Default: `dbt build` (seeds, models, tests). "
            "Artifacts go to <data_dir>/dbt/. Exit 0 when everything passed, 1 when a dbt test "
            "failed, 2 when the warehouse is missing or dbt itself failed."),
    )
    p.add_argument("--select", "-s", nargs="+", metavar="SELECTOR",
                   help="dbt node selection, passed to `dbt --select` (e.g. `major_age_stats+`, `stg_students`)")
    p.add_argument("--command", choices=("build", "run", "test", "seed"), default="build",
                   help="dbt command to run (default: build = seed + run + test in DAG order)")
    p.add_argument("--full-refresh", action="store_true", help="pass --full-refresh to dbt (rebuild seeds and tables)")
    p.add_argument("--docs", action="store_true",
                   help="run `dbt docs generate --static` instead of building; prints the path of the HTML docs")
    p.add_argument("--verbose", "-v", action="store_true", help="stream dbt's own output instead of the compact summary only")
    p.set_defaults(handler=handle)
