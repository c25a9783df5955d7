"""The gate as a saved Great Expectations project: expectations/gx/ (a GX file context).

suites.py stays the one definition; this module writes it out as GX's own files (the suites, one
validation definition per suite, the checkpoint ``studentflow_gate``, the SQLite data source), so
a GX user runs the same gate with GX's API, from the repository root::

    import great_expectations as gx
    context = gx.get_context(project_root_dir="expectations")
    result = context.checkpoints.get("studentflow_gate").run()

and `studentflow validate` runs that same saved checkpoint (gate.py). The files are generated
(``python -m expectations.project`` after changing suites.py, the seed or the age bounds) and a
test keeps the committed ones equal to what this module renders for the default settings.

What a run reads and writes comes from substitution variables of great_expectations.yml:
``STUDENTFLOW_WAREHOUSE`` (the SQLite file) and ``STUDENTFLOW_DATA_DIR`` (validation results
under ``quality/results/``, Data Docs under ``quality/docs/``). gx/config_variables.yml holds
defaults for a run from the repository root; an environment variable of the same name wins
(give absolute paths there); studentflow passes its settings' absolute paths.
"""
from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from typing import Any

from studentflow.core import config
from expectations.suites import Suite, build_suites
from expectations.gx_import import import_gx

PROJECT_DIR = config.PROJECT_ROOT / "expectations"   # gx.get_context(project_root_dir=...)
GX_DIR = PROJECT_DIR / "gx"                           # GX's context root
CHECKPOINT = "studentflow_gate"
DATASOURCE = "warehouse"
RESULT_FORMAT = {"result_format": "BASIC", "partial_unexpected_count": 0}
_NAMESPACE = uuid.UUID("6f1c9a52-3d0e-4b7a-9c55-2b8e4f0d1a77")   # stable ids: the files only change with the gate


def stable_id(*parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "/".join(parts)))


def expectation_id(suite: Suite, position: int) -> str:
    """The saved id of the ``position``-th check of ``suite`` (gate.py maps results back with it)."""
    return stable_id("expectation", suite.name, str(position))


def batch_definition_name(suite: Suite) -> str:
    return f"{suite.table}_all"


def _expectation(suite: Suite, position: int) -> dict[str, Any]:
    check = suite.checks[position]
    kwargs = check.gx_kwargs()
    out: dict[str, Any] = {"id": expectation_id(suite, position)}
    if "description" in kwargs:   # a field of the expectation in GX's files, not an argument
        out["description"] = kwargs.pop("description")
    snake = check.expectation if check.gx_class != "UnexpectedRowsExpectation" else "unexpected_rows_expectation"
    out.update({"kwargs": kwargs, "meta": {}, "severity": "critical", "type": snake})
    return out


def _suite(suite: Suite) -> dict[str, Any]:
    return {"expectations": [_expectation(suite, i) for i in range(len(suite.checks))],
            "id": stable_id("suite", suite.name), "meta": {}, "name": suite.name, "notes": None}


def _validation_definition(suite: Suite) -> dict[str, Any]:
    return {"data": {"asset": {"id": stable_id("asset", suite.table), "name": suite.table},
                     "batch_definition": {"id": stable_id("batch", suite.table), "name": batch_definition_name(suite)},
                     "datasource": {"id": stable_id("datasource", DATASOURCE), "name": DATASOURCE}},
            "id": stable_id("validation", suite.name), "name": suite.name,
            "suite": {"id": stable_id("suite", suite.name), "name": suite.name}}


def _checkpoint(suites: list[Suite]) -> dict[str, Any]:
    return {"actions": [], "id": stable_id("checkpoint", CHECKPOINT), "name": CHECKPOINT,
            "result_format": RESULT_FORMAT,
            "validation_definitions": [{"id": stable_id("validation", s.name), "name": s.name} for s in suites]}


def _store(name: str, class_name: str, base: str, backend_id: bool = False) -> str:
    suppress = "" if backend_id else "\n      suppress_store_backend_id: true"
    return (f"  {name}:\n    class_name: {class_name}\n    store_backend:\n"
            f"      class_name: TupleFilesystemStoreBackend{suppress}\n      base_directory: {base}\n")


def _great_expectations_yml(suites: list[Suite]) -> str:
    assets = "".join(
        f"      {s.table}:\n        type: table\n        id: {stable_id('asset', s.table)}\n"
        f"        table_name: {s.table}\n        batch_metadata: {{}}\n        batch_definitions:\n"
        f"          {batch_definition_name(s)}:\n            id: {stable_id('batch', s.table)}\n"
        f"            partitioner:\n" for s in suites)
    return (
        "# The Great Expectations project of studentflow's quality gate. Generated from\n"
        "# expectations/suites.py by `python -m expectations.project`: do not edit by hand.\n"
        "# Run it from the repository root with GX's API:\n"
        "#   gx.get_context(project_root_dir=\"expectations\").checkpoints.get(\"studentflow_gate\").run()\n"
        "# ${STUDENTFLOW_WAREHOUSE} and ${STUDENTFLOW_DATA_DIR}: environment variables (absolute paths),\n"
        "# else the defaults of config_variables.yml.\n"
        "config_version: 4.0\n"
        "config_variables_file_path: config_variables.yml\n"
        "plugins_directory:\n"
        "analytics_enabled: false\n"
        f"data_context_id: {stable_id('context')}\n"
        "progress_bars:\n  globally: false\n  metric_calculations: false\n"
        "stores:\n"
        + _store("expectations_store", "ExpectationsStore", "expectations/")
        + _store("validation_results_store", "ValidationResultsStore", "${STUDENTFLOW_DATA_DIR}/quality/results/",
                 backend_id=True)
        + _store("checkpoint_store", "CheckpointStore", "checkpoints/")
        + _store("validation_definition_store", "ValidationDefinitionStore", "validation_definitions/")
        + "expectations_store_name: expectations_store\n"
        "validation_results_store_name: validation_results_store\n"
        "checkpoint_store_name: checkpoint_store\n"
        "data_docs_sites:\n  studentflow:\n    class_name: SiteBuilder\n    show_how_to_buttons: false\n"
        "    store_backend:\n      class_name: TupleFilesystemStoreBackend\n"
        "      base_directory: ${STUDENTFLOW_DATA_DIR}/quality/docs/\n"
        "    site_index_builder:\n      class_name: DefaultSiteIndexBuilder\n"
        f"fluent_datasources:\n  {DATASOURCE}:\n    type: sqlite\n    id: {stable_id('datasource', DATASOURCE)}\n"
        "    connection_string: sqlite:///${STUDENTFLOW_WAREHOUSE}\n"
        f"    assets:\n{assets}")


CONFIG_VARIABLES = """\
# Defaults of the ${...} variables of great_expectations.yml; an environment variable of the same
# name wins (give an absolute path there). studentflow passes its settings' absolute paths.
# the SQLite warehouse: relative to the working directory (run from the repository root)
STUDENTFLOW_WAREHOUSE: data/warehouse.db
# validation results (quality/results/) and Data Docs (quality/docs/): relative to this folder
STUDENTFLOW_DATA_DIR: ../../data
"""


def _json(payload: dict[str, Any]) -> str:
    return json.dumps(payload, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def render(settings: config.Settings) -> dict[str, str]:
    """The project's files (path under gx/ -> text) for these settings."""
    suites = build_suites(settings)
    files = {"great_expectations.yml": _great_expectations_yml(suites),
             "config_variables.yml": CONFIG_VARIABLES,
             f"checkpoints/{CHECKPOINT}.json": _json(_checkpoint(suites))}
    for s in suites:
        files[f"expectations/{s.name}.json"] = _json(_suite(s))
        files[f"validation_definitions/{s.name}.json"] = _json(_validation_definition(s))
    return files


def stale(settings: config.Settings, root: Path = GX_DIR) -> list[str]:
    """The project's files that differ from what these settings render (missing ones included)."""
    out = []
    for rel, text in render(settings).items():
        path = root / rel
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            out.append(rel)
    return out


def write(settings: config.Settings, root: Path = GX_DIR) -> list[Path]:
    """Write the project for these settings; return the files that changed."""
    changed = []
    for rel in stale(settings, root):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(settings)[rel], encoding="utf-8")
        changed.append(path)
    return changed


def runtime_environment(settings: config.Settings) -> dict[str, str]:
    """The substitution variables for these settings (they win over the environment)."""
    return {"STUDENTFLOW_WAREHOUSE": str(settings.warehouse), "STUDENTFLOW_DATA_DIR": str(settings.data_dir)}


def open_context(settings: config.Settings, project_dir: Path = PROJECT_DIR):
    """The saved project as a GX file context, reading and writing where these settings say."""
    return import_gx().get_context(mode="file", project_root_dir=str(project_dir),
                          runtime_environment=runtime_environment(settings))


if __name__ == "__main__":
    written = write(config.load())
    for p in written:
        print(f"wrote {p.relative_to(config.PROJECT_ROOT)}")
    print(f"{len(written)} file(s) changed under {GX_DIR.relative_to(config.PROJECT_ROOT)}", file=sys.stderr)
