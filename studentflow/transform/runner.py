"""The dbt runner: run the dbt project (dbt_project/) against the SQLite warehouse.

The same project runs with dbt's own CLI (`dbt build --project-dir dbt_project --profiles-dir
dbt_project`); this runner only supplies what studentflow's settings know (its command,
`studentflow transform`, is studentflow/cli/transform.py):

- STUDENTFLOW_WAREHOUSE = settings.warehouse (absolute), read by dbt_project/profiles.yml;
- the age bounds (settings) and the over-age threshold (the contract) as dbt vars
  (``--vars {"age_min": .., "age_max": .., "over_age": ..}``);
- dbt's target/ and logs/ under ``<data_dir>/dbt/`` (so concurrent runs with different data
  folders never share artifacts).

dbt runs in this process (``dbtRunner``), one invocation at a time: no second interpreter that
imports dbt again. Its partial-parse file stays in the target folder, so the next process only
re-parses what changed. A long-lived process (the stack's quality worker, the follow loop) also
keeps the parsed project in memory (:func:`parsed_manifest`): its builds run on it without parsing
or writing the manifest again. The compact summary is read from ``target/run_results.json``.
Nothing heavy is imported at module level: `studentflow --help` stays instant.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from studentflow.core import config
from studentflow.core.errors import ConfigError
from studentflow.core.contract import MARTS, OVER_AGE, SOURCE_TABLES
from studentflow.core.warehouse import connect_readonly, existing_tables

DBT_PROJECT = config.PROJECT_ROOT / "dbt_project"
_INVOKE_LOCK = threading.Lock()   # dbt's runner keeps global state (flags, adapters, loggers): one invocation at a time
_PARSE_LOCK = threading.Lock()    # guards _PARSED


# --------------------------------------------------------------------------- running dbt
@dataclass
class DbtOutcome:
    command: str
    returncode: int
    elapsed: float
    results: list[dict] = field(default_factory=list)   # run_results.json "results"
    output: str = ""                                      # dbt's console log

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r["status"] == status)

    @property
    def problems(self) -> list[dict]:
        return [r for r in self.results if r["status"] in ("fail", "error", "runtime error")]

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def dbt_vars(settings: config.Settings) -> dict[str, int]:
    return {"age_min": settings.age_min, "age_max": settings.age_max, "over_age": OVER_AGE}


def dbt_args(settings: config.Settings, command: list[str], project_dir: Path = DBT_PROJECT) -> list[str]:
    """dbt's arguments for `command` (what follows `dbt` on a command line)."""
    target, logs = settings.paths.dbt_target, settings.paths.dbt_logs
    return [*command,
            "--project-dir", str(project_dir), "--profiles-dir", str(project_dir),
            "--target-path", str(target), "--log-path", str(logs),
            "--vars", json.dumps(dbt_vars(settings)), "--no-use-colors"]


def dbt_env(settings: config.Settings) -> dict[str, str]:
    """What the profile reads; never sends usage statistics."""
    return {"STUDENTFLOW_WAREHOUSE": str(settings.warehouse), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}


@contextlib.contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    """dbt reads env_var() from os.environ at each invocation; put back what was there after."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class _Tee(io.TextIOBase):
    """dbt's console log to a buffer and, when streaming, to the real stdout too."""

    def __init__(self, echo: Any = None) -> None:
        self.text = io.StringIO()
        self.echo = echo

    def write(self, text: str) -> int:
        self.text.write(text)
        if self.echo is not None:
            self.echo.write(text)
        return len(text)

    def flush(self) -> None:
        if self.echo is not None:
            self.echo.flush()


def invoke_dbt(settings: config.Settings, command: list[str], *, manifest: Any = None,
               project_dir: Path | None = None, stream: bool = False) -> tuple[Any, str]:
    """One dbt invocation in this process: (dbtRunnerResult, dbt's console log).

    ``manifest``: a parsed manifest to run on (no parse at all); else dbt parses, partially when
    its partial-parse file in the target folder still matches the project. ``project_dir``:
    DBT_PROJECT (read at each call) when None."""
    try:
        from dbt.cli.main import dbtRunner
    except ImportError as exc:
        raise ConfigError(f"dbt is not installed in this environment ({exc})",
                          "run `make setup` (installs dbt-core and dbt-sqlite into .venv)") from exc
    target, logs = settings.paths.dbt_target, settings.paths.dbt_logs
    target.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    out = _Tee(sys.stdout if stream else None)
    # dbt's console logger writes to the sys.stdout it finds when the invocation starts
    with _INVOKE_LOCK, _environ(dbt_env(settings)), contextlib.redirect_stdout(out):
        res = dbtRunner(manifest=manifest).invoke(dbt_args(settings, command, project_dir or DBT_PROJECT))
    if isinstance(res.exception, KeyboardInterrupt):   # the runner catches everything: a Ctrl-C stays one
        raise res.exception
    return res, out.text.getvalue()


def run_dbt(settings: config.Settings, command: list[str], *, project_dir: Path | None = None,
            stream: bool = False, reuse_parse: bool = False) -> DbtOutcome:
    """Run one dbt command; return its outcome (never raises on a dbt failure).

    ``reuse_parse``: on the project this process parsed last (:func:`parsed_manifest`), without
    writing manifest.json again (the parse wrote it); run_results.json is written here, as dbt
    writes it. About 0.4 s less per `dbt build` in a process that keeps running."""
    results_file = settings.paths.dbt_target / "run_results.json"
    results_file.unlink(missing_ok=True)   # never report a previous run's results
    start = time.monotonic()
    manifest = parsed_manifest(settings, project_dir) if reuse_parse else None
    if manifest is not None:
        command = [*command, "--no-write-json"]
    res, output = invoke_dbt(settings, command, manifest=manifest, project_dir=project_dir, stream=stream)
    if manifest is not None and hasattr(res.result, "write"):
        res.result.write(str(results_file))   # what dbt's own write_json does at the end of a build
    elapsed = time.monotonic() - start
    # dbt's own exit codes: 1 when nodes failed, 2 when dbt itself stopped (parse error, bad flag ...)
    returncode = 0 if res.success else 2 if res.exception is not None else 1
    if res.exception is not None and str(res.exception) not in output:
        output += f"\nError: {res.exception}\n"
    results: list[dict] = []
    if results_file.is_file():
        results = json.loads(results_file.read_text(encoding="utf-8")).get("results", [])
    return DbtOutcome(" ".join(command[:1]), returncode, elapsed, results, output)


# --------------------------------------------------------------------------- the project parsed once
def project_stamp(project_dir: Path) -> tuple[int, int]:
    """(files, newest mtime) of the project's sources: a change means parsing again."""
    newest, files = 0, 0
    for path in project_dir.rglob("*"):
        if path.suffix in (".sql", ".yml", ".yaml", ".csv") and not {"target", "logs", "dbt_packages"} & set(
                path.relative_to(project_dir).parts):
            files += 1
            newest = max(newest, path.stat().st_mtime_ns)
    return files, newest


@dataclass
class _Parsed:
    key: tuple[str, ...]        # what the parse depends on besides the project's files
    stamp: tuple[int, int]      # project_stamp() just before it
    manifest: Any
    location: tuple[str, str]   # the warehouse and target folder it serves now (see parsed_manifest)


_PARSED: _Parsed | None = None   # the last parse of this process


def _parse_key(settings: config.Settings, project_dir: Path) -> tuple[str, ...]:
    """What dbt's parse reads besides the project's files: its folder and the vars."""
    return str(project_dir), json.dumps(dbt_vars(settings), sort_keys=True)


def _location(settings: config.Settings) -> tuple[str, str]:
    return str(settings.warehouse), str(settings.paths.dbt_target)


def parsed_manifest(settings: config.Settings, project_dir: Path | None = None) -> Any | None:
    """dbt's parsed project for these settings, kept in this process and parsed again only when a
    project file changed or the vars differ from the last parse's. A parse writes manifest.json and
    the partial-parse file into the target folder, as `dbt parse` does. None when the project does
    not parse: a build then parses for itself and says why.

    The parse does not depend on the warehouse or the target folder (the profile's path to the
    warehouse is read when dbt connects; two parses for two data folders give the same manifest
    but for its timestamps), so a process that serves several data folders (a quality worker shared
    by several projects' runs) parses once: another folder gets the manifest.json its report and
    JUnit file read, written from memory (about 1 CPU-second less than a parse). Its partial-parse
    file is not written: it records the profile, so a later `dbt` or `studentflow transform`
    process in that folder parses once itself."""
    global _PARSED
    project = project_dir or DBT_PROJECT
    key, stamp = _parse_key(settings, project), project_stamp(project)   # the stamp first: an edit during the parse is seen next time
    manifest_file = settings.paths.dbt_target / "manifest.json"
    with _PARSE_LOCK:
        last = _PARSED
        if last is not None and (last.key, last.stamp) == (key, stamp):
            if last.location != _location(settings) or not manifest_file.is_file():
                manifest_file.parent.mkdir(parents=True, exist_ok=True)
                last.manifest.write(str(manifest_file))
                last.location = _location(settings)
            return last.manifest
        res, _ = invoke_dbt(settings, ["parse"], project_dir=project)
        _PARSED = _Parsed(key, stamp, res.result, _location(settings)) if res.success else None
        return _PARSED.manifest if _PARSED is not None else None


def project_changed(settings: config.Settings, project_dir: Path | None = None) -> bool:
    """A project file changed since this process last parsed the project for these settings."""
    project = project_dir or DBT_PROJECT
    last = _PARSED
    return last is not None and last.key == _parse_key(settings, project) and project_stamp(project) != last.stamp


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


def generate_docs(settings: config.Settings) -> bool:
    """`dbt docs generate` into <data_dir>/dbt/target when the warehouse has the Spark tables."""
    from studentflow.core.errors import WarehouseNotReady
    from studentflow.core.warehouse import require_tables

    try:
        require_tables(settings.warehouse, SOURCE_TABLES, "")
    except WarehouseNotReady:
        return False
    return run_dbt(settings, ["docs", "generate"]).ok
