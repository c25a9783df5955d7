"""Run the suites of suites.py with Great Expectations Core 1.x; print, record, decide the exit code.

- The whole-table gate runs the saved GX project expectations/gx/ (project.py renders it from
  suites.py): a file context whose checkpoint ``studentflow_gate`` a GX user runs with GX's own
  API too. Its results go to ``<data_dir>/quality/results/``; the Data Docs under
  ``<data_dir>/quality/docs/`` list the last ``quality_history`` runs (history.py).
- An increment of ``run --follow`` (``run_id``), or settings the saved project was not rendered
  for (other age bounds, an edited seed), run the same suites.py in an in-memory context
  instead (nothing written into the repository); its Data Docs show that run only.
- Analytics off, progress bars off (GX would otherwise print tqdm "Calculating Metrics" bars on
  stderr for every batch); one whole-table batch per suite on settings.warehouse.
- A machine-readable summary at ``<data_dir>/quality/validation.json`` (read by the report);
  failing column expectations carry a sample of their offending values.

Importing Great Expectations costs seconds (gx_import.py), so it happens inside run() only (or
preload(), which `studentflow run` calls in a thread while the last increment is normalized).
"""
from __future__ import annotations

import json
import re
import shutil
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from expectations import history, project
from expectations.gx_import import import_gx
from expectations.suites import Suite, build_suites
from studentflow.core import config
from studentflow.core.contract import CLEAN_TABLE
from studentflow.core.warehouse import require_tables


@dataclass
class Outcome:
    suite: str
    table: str
    column: str | None
    expectation: str
    success: bool
    unexpected_count: int | None
    error: str | None = None
    unexpected_values: list[Any] | None = None   # a sample of the offending values (failures only)
    expected: dict[str, Any] | None = None       # the expectation's arguments (bounds, value set ...)


@dataclass
class GateResult:
    success: bool
    outcomes: list[Outcome]
    docs_index: Path | None
    summary_file: Path
    elapsed: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.success]


def select_suites(settings: config.Settings, names: list[str] | None = None) -> list[Suite]:
    suites = build_suites(settings)
    if names:
        suites = [s for s in suites if s.name in names]
    return suites


def check_warehouse(settings: config.Settings, suites: list[Suite]) -> None:
    """Exit-2 errors (WarehouseNotReady) before paying for the GX import."""
    tables = [s.table for s in suites]
    sources = [t for t in tables if t == CLEAN_TABLE]
    require_tables(settings.warehouse, sources,
                   "run `studentflow normalize` first (the Spark stage writes clean_students), "
                   "or set STUDENTFLOW_WAREHOUSE")
    require_tables(settings.warehouse, [t for t in tables if t not in sources],
                   "run `studentflow transform` first (dbt builds the marts)")


def preload() -> None:
    """Import Great Expectations now (seconds of CPU: gx_import.py), e.g. in a thread while another process works."""
    import_gx()


# The last context this process built, by its Data Docs folder: `run --follow` gates every
# increment through one context (building one is ~0.1-0.2 s of set-up each time). One slot only:
# Great Expectations keeps a process-wide "current" context, which is always the last one built.
_LAST_CONTEXT: dict[str, Any] = {}


def _context(docs_dir: Path):
    """The context for ``docs_dir``: the one this process built last when it was for the same
    folder (emptied of what the previous run added: every name below is fixed), else a new one."""
    key = str(docs_dir)
    context = _LAST_CONTEXT.get(key)
    if context is not None:
        for checkpoint in context.checkpoints.all():
            context.checkpoints.delete(checkpoint.name)
        for definition in context.validation_definitions.all():
            context.validation_definitions.delete(definition.name)
        for suite in context.suites.all():
            context.suites.delete(suite.name)
        for name in list(context.data_sources.all()):
            context.data_sources.delete(name)
        return context   # its stored results: emptied before each run (_run_in_memory)
    context = _new_context(docs_dir)
    _LAST_CONTEXT.clear()
    _LAST_CONTEXT[key] = context
    return context


def _new_context(docs_dir: Path):
    gx = import_gx()
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    project_config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
        data_docs_sites={
            "studentflow": {
                "class_name": "SiteBuilder",
                "show_how_to_buttons": False,
                "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            }
        },
    )
    return gx.get_context(mode="ephemeral", project_config=project_config)


def _error_of(info: Any) -> str | None:
    """The first line of the exception an expectation raised, or None.

    GX 1.x reports it either flat ({"raised_exception": True, ...}) or per metric
    ({metric_id: {"raised_exception": True, ...}}) (e.g. a column that does not exist).
    """
    if not isinstance(info, dict):
        return None
    for item in (info, *info.values()):
        if isinstance(item, dict) and item.get("raised_exception"):
            message = str(item.get("exception_message") or "").strip()
            return message.splitlines()[0] if message else "exception"
    return None


def _unexpected_count(check_class: str, result: dict) -> int | None:
    if "unexpected_count" in result and result["unexpected_count"] is not None:
        return int(result["unexpected_count"])
    if check_class == "UnexpectedRowsExpectation" and isinstance(result.get("observed_value"), int):
        return int(result["observed_value"])
    return None


# An increment's rows only (``run --follow``): clean_students rows of one normalize run.
_INCREMENT_QUERY = "SELECT * FROM clean_students WHERE run_id = '{run_id}'"
# What only the whole table can be asked: an increment may hold only quarantined lines (no clean
# row at all), and a query's result has no declared column types (every stored value's type is
# still checked, by the integer-valued expectation).
_WHOLE_TABLE_ONLY = ("ExpectTableRowCountToBeBetween", "ExpectColumnValuesToBeOfType")


def run(settings: config.Settings, suite_names: list[str] | None = None, docs: bool = True,
        run_id: str | None = None) -> GateResult:
    """Validate the warehouse; write the summary JSON (and Data Docs); never exits.

    The whole-table gate runs the saved GX project (expectations/gx/, project.py): its checkpoint,
    or its validation definitions of the ``suite_names`` asked for; its results are kept (the
    last ``quality_history`` runs) and the Data Docs list them. When these settings would give
    other suites than the saved ones (other age bounds, an edited seed), the same suites.py runs
    in an in-memory context instead and says so (``extra["gx_project"]``).

    ``run_id``: gate the new data only — clean_students' rows of that normalize run (the marts,
    small aggregates, are validated whole), in memory. The continuous mode does this on every
    increment so the gate's cost follows the increment, not the history; uniqueness across
    increments is the commit's job (an id already clean is a duplicate or a conflict).
    """
    if run_id is not None and not re.fullmatch(r"[A-Za-z0-9_.:-]+", run_id):
        raise ValueError(f"not a run id: {run_id!r}")
    suites = select_suites(settings, suite_names)
    check_warehouse(settings, suites)
    docs_dir, summary_file = settings.paths.quality_docs, settings.paths.quality_summary
    start = time.monotonic()

    stale = project.stale(settings) if run_id is None else []
    if run_id is None and not stale:
        context, run_results, by_id = _run_saved(settings, suites)
        where = f"saved: {project.GX_DIR.relative_to(config.PROJECT_ROOT)}, checkpoint {project.CHECKPOINT}"
    else:
        context, run_results, by_id = _run_in_memory(settings, suites, run_id, docs_dir)
        where = ("in memory: these settings differ from the saved project in " + ", ".join(stale)
                 + " (`python -m expectations.project` writes it)") if stale else "in memory: one increment"
    outcomes = _outcomes(context, run_results, by_id)
    if docs:
        if stale or run_id is not None:
            shutil.rmtree(docs_dir, ignore_errors=True)   # an in-memory context: the site shows this run only
            context.build_data_docs()
        else:
            history.publish(context, suites, list(run_results), settings.quality_history)

    success = all(v.success for v in run_results.values()) and all(o.success for o in outcomes)
    docs_index = docs_dir / "index.html" if docs else None
    gate = GateResult(success, outcomes, docs_index, summary_file, time.monotonic() - start,
                      extra={"gx_project": where})
    write_summary(settings, gate)
    return gate


def _outcomes(context: Any, run_results: dict, by_id: dict[str, tuple[int, Suite, Any]]) -> list[Outcome]:
    """One Outcome per expectation result, in suites.py's order; failures with offending values."""
    ranked: list[tuple[int, Outcome, Any]] = []
    for validation in run_results.values():
        for r in validation.results:
            position, suite, check = by_id[str(r.expectation_config.id)]
            expected = {k: v for k, v in check.gx_kwargs().items() if k != "column"}
            ranked.append((position, Outcome(suite.name, suite.table, check.column, check.expectation, bool(r.success),
                                             _unexpected_count(check.gx_class, r.result or {}),
                                             _error_of(r.exception_info), expected=expected), check))
    ranked.sort(key=lambda item: item[0])
    _offending_values(context, [(o, check) for _, o, check in ranked])
    return [o for _, o, _ in ranked]


def _by_id(suites: list[Suite]) -> dict[str, tuple[int, Suite, Any]]:
    """Saved expectation id -> (position in suites.py order, suite, check)."""
    by_id: dict[str, tuple[int, Suite, Any]] = {}
    for suite in suites:
        for i, check in enumerate(suite.checks):
            by_id[project.expectation_id(suite, i)] = (len(by_id), suite, check)
    return by_id


def _run_saved(settings: config.Settings, suites: list[Suite]):
    """The saved checkpoint (every suite) or the saved validation definitions asked for, run by GX."""
    import_gx()
    from great_expectations.core.run_identifier import RunIdentifier

    _LAST_CONTEXT.clear()   # GX's process-wide current context becomes the file context
    _PREPARED.clear()
    context = project.open_context(settings)
    if [s.name for s in suites] == [s.name for s in select_suites(settings)]:
        results = context.checkpoints.get(project.CHECKPOINT).run().run_results
        return context, results, _by_id(suites)
    run = RunIdentifier(run_time=datetime.now(timezone.utc))
    for suite in suites:
        context.validation_definitions.get(suite.name).run(result_format=project.RESULT_FORMAT, run_id=run)
    store = context.validation_results_store
    results = {key: store.get(key) for key in store.list_keys() if key.run_id == run}
    return context, results, _by_id(suites)


@dataclass
class _Prepared:
    """An in-memory gate ready to run again: its context, checkpoint and expectation ids, and the
    query assets of an increment's clean rows (their query names the increment)."""
    context: Any
    checkpoint: Any
    by_id: dict[str, tuple[int, Suite, Any]]
    increment_assets: list[Any]


# The in-memory gate this process prepared last, by what it was prepared for: `run --follow` gates
# every increment with the same suites on the same warehouse file, and only the increment's query
# changes. Preparing (data source, assets, suites, validation definitions, checkpoint) was about
# 40 % of an increment's gate (0.29 against 0.17 CPU-seconds on 500 rows, 8 marts rows).
_PREPARED: dict[tuple, _Prepared] = {}


def _gate_key(settings: config.Settings, suites: list[Suite], increment: bool, docs_dir: Path) -> tuple:
    checks = tuple((s.name, s.table, tuple((c.gx_class, json.dumps(c.gx_kwargs(), sort_keys=True, default=str))
                                           for c in s.checks)) for s in suites)
    # the file itself, not only its path: a warehouse deleted and made again (`run --fresh`) is
    # another file, which the prepared data source's pooled connections would not see
    file = settings.warehouse.stat()
    return str(docs_dir), str(settings.warehouse), (file.st_dev, file.st_ino), increment, checks


def _run_in_memory(settings: config.Settings, suites: list[Suite], run_id: str | None, docs_dir: Path):
    """The suites of suites.py in an in-memory context (an increment, or settings the saved project
    lacks); prepared once for the same suites, warehouse and kind of run, then only run again."""
    key = _gate_key(settings, suites, run_id is not None, docs_dir)
    prepared = _PREPARED.get(key)
    if prepared is None:
        _PREPARED.clear()
        prepared = _PREPARED[key] = _prepare(settings, suites, run_id, docs_dir)
    for asset in prepared.increment_assets:
        asset.query = _INCREMENT_QUERY.format(run_id=run_id)
    results = prepared.context.validation_results_store   # in memory: the Data Docs show this run only
    for result_key in results.list_keys():
        results.remove_key(result_key)
    return prepared.context, prepared.checkpoint.run().run_results, prepared.by_id


def _prepare(settings: config.Settings, suites: list[Suite], run_id: str | None, docs_dir: Path) -> _Prepared:
    gx = import_gx()
    context = _context(docs_dir)
    datasource = context.data_sources.add_sqlite(project.DATASOURCE, connection_string=f"sqlite:///{settings.warehouse}")
    definitions, increment_assets = [], []
    by_id: dict[str, tuple[int, Suite, Any]] = {}   # expectation id -> (position, suite, check)
    for suite in suites:
        increment = run_id is not None and suite.table == CLEAN_TABLE
        if increment:
            asset = datasource.add_query_asset(suite.table, query=_INCREMENT_QUERY.format(run_id=run_id))
            increment_assets.append(asset)
        else:
            asset = datasource.add_table_asset(suite.table, table_name=suite.table)
        batch_definition = asset.add_batch_definition_whole_table(project.batch_definition_name(suite))
        gx_suite = context.suites.add(gx.ExpectationSuite(name=suite.name))
        for check in suite.checks:
            if increment and check.gx_class in _WHOLE_TABLE_ONLY:
                continue
            expectation = gx_suite.add_expectation(getattr(gx.expectations, check.gx_class)(**check.gx_kwargs()))
            by_id[str(expectation.id)] = (len(by_id), suite, check)
        definitions.append(context.validation_definitions.add(
            gx.ValidationDefinition(name=suite.name, data=batch_definition, suite=gx_suite)))
    checkpoint = context.checkpoints.add(gx.Checkpoint(
        name=project.CHECKPOINT, validation_definitions=definitions, actions=[], result_format=project.RESULT_FORMAT))
    return _Prepared(context, checkpoint, by_id, increment_assets)


SAMPLE_VALUES = 20   # offending values shown per failing expectation


def _offending_values(context: Any, pairs: list[tuple[Outcome, Any]]) -> None:
    """Up to SAMPLE_VALUES offending values of each failing column expectation, asked again of GX
    for the failures only (the gate itself runs with no partial list: BASIC with none costs one
    scan per expectation less, ~2 s on 1M rows for the unique check alone)."""
    failing = [(o, c) for o, c in pairs if not o.success and not o.error and o.column
               and c.gx_class != "UnexpectedRowsExpectation" and o.unexpected_count]
    if not failing:
        return
    gx = import_gx()
    from great_expectations.validator.v1_validator import Validator

    source = context.data_sources.get(project.DATASOURCE)
    for outcome, check in failing:
        batch = source.get_asset(outcome.table).get_batch_definition(f"{outcome.table}_all")
        validator = Validator(batch_definition=batch,
                              result_format={"result_format": "BASIC", "partial_unexpected_count": SAMPLE_VALUES})
        result = validator.validate_expectation(getattr(gx.expectations, check.gx_class)(**check.gx_kwargs()))
        values = (result.result or {}).get("partial_unexpected_list")
        if values is not None:
            outcome.unexpected_values = list(values)


def write_summary(settings: config.Settings, gate: GateResult) -> None:
    payload = {
        "success": gate.success,
        "generated_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "warehouse": str(settings.warehouse),
        "age_min": settings.age_min,
        "age_max": settings.age_max,
        "data_docs": str(gate.docs_index) if gate.docs_index else None,
        "statistics": {
            "evaluated": len(gate.outcomes),
            "successful": sum(o.success for o in gate.outcomes),
            "unsuccessful": len(gate.failed),
        },
        "results": [asdict(o) for o in gate.outcomes],
    }
    gate.summary_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = gate.summary_file.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(gate.summary_file)


def table_lines(gate: GateResult) -> list[str]:
    """The compact table CI shows: expectation, table.column, result, unexpected count."""
    rows = [("expectation", "table.column", "result", "unexpected")]
    for o in gate.outcomes:
        where = f"{o.table}.{o.column}" if o.column else o.table
        result = "pass" if o.success else ("ERROR" if o.error else "FAIL")
        count = "-" if o.unexpected_count is None else str(o.unexpected_count)
        rows.append((o.expectation, where, result, count))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]:>10}" for r in rows]
    for o in gate.outcomes:
        if o.error:
            lines.append(f"  error in {o.expectation} ({o.table}.{o.column}): {o.error}")
    return lines
