"""The gate's history in the Data Docs: the last N runs' validation results, older ones deleted.

The saved project (project.py) stores every run's results under ``<data_dir>/quality/results/``
(a GX user's own checkpoint runs land there too); after each gate, runs beyond the newest
``keep`` (setting ``quality_history``) lose their results and their Data Docs pages, and the site
gets this run's pages and a new index (one build: GX's UpdateDataDocsAction would rebuild the
index once per suite).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from expectations.suites import Suite


def _run_time(key: Any) -> str:
    """A sortable time of the run a stored result belongs to (GX keeps it as a datetime)."""
    when = key.run_id.run_time
    return when.isoformat() if hasattr(when, "isoformat") else str(when)


def prune(context: Any, keep: int) -> list[Any]:
    """Delete the stored results (and their Data Docs pages) of all runs but the newest ``keep``;
    return the deleted results' keys."""
    store = context.validation_results_store
    keys = store.list_keys()
    runs = sorted({_run_time(k) for k in keys}, reverse=True)
    kept = set(runs[:max(keep, 1)])
    gone = [k for k in keys if _run_time(k) not in kept]
    docs = docs_dir(context)
    for key in gone:
        store.remove_key(key)
        if docs is not None:
            page = docs.joinpath("validations", *key.to_tuple()).with_suffix(".html")
            page.unlink(missing_ok=True)
    for folder in (results_dir(context), docs and docs / "validations"):
        if folder is not None:
            _remove_empty_dirs(folder)
    return gone


def publish(context: Any, suites: list[Suite], new_keys: list[Any], keep: int) -> None:
    """Prune to ``keep`` runs, then build this run's pages, the suites' pages and the index."""
    from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

    prune(context, keep)
    resources = [*new_keys, *(ExpectationSuiteIdentifier(name=s.name) for s in suites)]
    context.build_data_docs(resource_identifiers=resources)


def _base_directory(store_backend: Any) -> Path | None:
    base = getattr(store_backend, "full_base_directory", None)
    return Path(base) if base else None


def results_dir(context: Any) -> Path | None:
    return _base_directory(context.validation_results_store.store_backend)


def docs_dir(context: Any) -> Path | None:
    for site in context.variables.data_docs_sites.values():
        base = site.get("store_backend", {}).get("base_directory")
        if base:
            path = Path(context.config_provider.substitute_config(base))
            return path if path.is_absolute() else Path(context.root_directory) / path
    return None


def _remove_empty_dirs(root: Path) -> None:
    if not root.is_dir():
        return
    for folder, _dirs, _files in sorted(os.walk(root), key=lambda t: len(t[0]), reverse=True):
        if Path(folder) != root and not any(Path(folder).iterdir()):
            Path(folder).rmdir()
