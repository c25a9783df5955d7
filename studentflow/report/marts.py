"""Marts the report has no section of its own for, shown as plain tables.

Which marts: the models under ``models/marts/`` in dbt's manifest (``manifest.json`` in
``settings.paths.dbt_target``, written by every ``studentflow transform``), other than the four
the report reads by name (``contract.MARTS``). Each is titled and described from its YAML:
``config.meta`` (or ``meta``) ``title_fr``/``title_en`` and ``description_fr``/``description_en``,
else dbt's ``description``, else the model's name. No manifest (dbt not run through studentflow
yet): no extra section.

Every value here comes from a project file or the warehouse, so the blocks are literal text
(``lit``): the templates escape it for markdown and HTML instead of reading it as markup.
"""
from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studentflow.core.contract import MARTS
from studentflow.core.errors import DataError

MARTS_FOLDER = "marts"   # the models folder whose models are report marts
ROWS_SHOWN = 50          # a mart's first rows in the report; the rest are counted


@dataclass(frozen=True)
class MartInfo:
    """A mart as the manifest describes it: its table, and its title and description per language."""

    name: str
    table: str
    titles: dict[str, str]
    descriptions: dict[str, str]


@dataclass(frozen=True)
class MartTable:
    info: MartInfo
    columns: list[str]
    rows: list[tuple[Any, ...]]   # the first ROWS_SHOWN rows, in the mart's own order
    total: int


def _text(value: Any) -> str:
    return " ".join(str(value).split()) if isinstance(value, str) else ""


def _info(node: dict[str, Any], langs: tuple[str, ...]) -> MartInfo:
    config = node.get("config") or {}
    meta = {**(node.get("meta") or {}), **(config.get("meta") or {})}
    name = str(node["name"])
    return MartInfo(name=name, table=str(node.get("alias") or name),
                    titles={lang: _text(meta.get(f"title_{lang}")) or name for lang in langs},
                    descriptions={lang: _text(meta.get(f"description_{lang}")) or _text(node.get("description"))
                                  for lang in langs})


def described(manifest_path: Path, langs: tuple[str, ...]) -> list[MartInfo]:
    """The project's marts other than contract.MARTS, by name; none without a manifest."""
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read dbt's manifest {manifest_path}: {exc}", "run `studentflow transform` again") from None
    project = (manifest.get("metadata") or {}).get("project_name")
    out = []
    for node in (manifest.get("nodes") or {}).values():
        fqn = node.get("fqn") or []
        if (node.get("resource_type") == "model" and node.get("package_name") == project
                and len(fqn) > 2 and fqn[1] == MARTS_FOLDER and node.get("name") not in MARTS):
            out.append(_info(node, langs))
    return sorted(out, key=lambda m: m.name)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def read_tables(con: sqlite3.Connection, infos: list[MartInfo]) -> list[MartTable]:
    """Each mart's columns, first rows and row count (``con``: the read-only warehouse)."""
    out = []
    for info in infos:
        cur = con.execute(f"select * from {_quoted(info.table)} limit ?", (ROWS_SHOWN,))
        columns = [d[0] for d in cur.description]
        rows = [tuple(r) for r in cur]
        total = con.execute(f"select count(*) from {_quoted(info.table)}").fetchone()[0]
        out.append(MartTable(info, columns, rows, total))
    return out


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_HEADING_ID = re.compile(r"[^a-z0-9]+")


def anchor(name: str) -> str:
    """The section's HTML id: ``mart-<name>`` (titles may repeat or have no latin letter)."""
    return "mart-" + _HEADING_ID.sub("-", name.lower()).strip("-")
