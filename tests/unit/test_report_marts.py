"""A mart the report has no section for is shown as a table, titled and described from its YAML,
in both languages' markdown and on the page, with hostile values escaped.

The warehouse is report_warehouse's plus the extra mart's table; dbt's manifest is written here as
dbt writes it from the YAML below (name, description, config.meta), beside the four marts the
report reads by name and an intermediate model (tests/integration/test_report_dbt.py builds a
real one with dbt).
"""
from __future__ import annotations

import json
import re
import sqlite3

import pytest
import yaml

from studentflow.core.contract import MARTS
from studentflow.core.errors import WarehouseNotReady
from studentflow.report import data as data_mod, marts, site
from studentflow.report import report as rep
from tests.support.report_warehouse import make_warehouse

SHARE_YAML = """
version: 2
models:
  - name: major_share
    description: Share of the clean students in each major.
    config:
      meta:
        title_fr: Part des étudiants par filière
        title_en: Share of students by major
        description_fr: Part des étudiants propres dans chaque filière.
    columns:
      - name: major
        description: The major.
"""
SHARE_ROWS = [("Chimie", 4, 0.25, None), ("Informatique", 8, 0.5, "ok")]

HOSTILE_TITLE = '<script>alert("t")</script> **bold** | `code` [x](javascript:alert(1))'
HOSTILE_DESCRIPTION = "- 1. <img src=x onerror=alert(1)> &amp; _it_ # no\nsecond line"
HOSTILE_COLUMN = "a|b<i>"
HOSTILE_CELL = "</td><script>x</script> `c` **b** \\| |"
HOSTILE_YAML = f"""
version: 2
models:
  - name: hostile_mart
    description: {json.dumps(HOSTILE_DESCRIPTION)}
    meta:
      title_fr: {json.dumps(HOSTILE_TITLE)}
      title_en: {json.dumps(HOSTILE_TITLE)}
"""


def _node(model: dict, folder: str = "marts") -> dict:
    """A model as dbt's manifest.json holds it (the fields the report reads)."""
    return {"resource_type": "model", "package_name": "studentflow", "name": model["name"], "alias": model["name"],
            "fqn": ["studentflow", folder, model["name"]], "description": model.get("description", ""),
            "meta": model.get("meta", {}), "config": {"meta": (model.get("config") or {}).get("meta", {})}}


def write_manifest(settings, *yaml_texts: str) -> None:
    models = [m for text in yaml_texts for m in yaml.safe_load(text)["models"]]
    nodes = [_node({"name": name, "description": "a mart the report reads by name"}) for name in MARTS]
    nodes += [_node({"name": "int_major_age_counts"}, "intermediate")] + [_node(m) for m in models]
    path = settings.paths.dbt_target / "manifest.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"metadata": {"project_name": "studentflow"},
                                "nodes": {f"model.studentflow.{n['name']}": n for n in nodes}}), encoding="utf-8")


def add_table(settings, name: str, columns: list[str], rows: list[tuple]) -> None:
    con = sqlite3.connect(settings.warehouse)
    con.execute(f"create table {name} ({', '.join(json.dumps(c) for c in columns)})")
    con.executemany(f"insert into {name} values ({', '.join('?' for _ in columns)})", rows)
    con.commit()
    con.close()


@pytest.fixture()
def share(settings):
    make_warehouse(settings.warehouse)
    add_table(settings, "major_share", ["major", "student_count", "share", "note"], SHARE_ROWS)
    write_manifest(settings, SHARE_YAML)
    return settings


def _section(markdown: str, heading: str) -> list[str]:
    """The lines of the markdown section under ``## heading``, up to the next one."""
    lines = markdown.splitlines()
    start = lines.index(f"## {heading}")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return [line for line in lines[start + 1:end] if line]


def _cells(line: str) -> list[str]:
    """A markdown table row's cells, split on unescaped pipes and unescaped."""
    return [re.sub(r"\\(.)", r"\1", c.strip()) for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def test_an_extra_mart_is_a_table_in_both_languages(share):
    fr = rep.build_report(share, "fr").markdown.read_text(encoding="utf-8")
    en = rep.build_report(share, "en").markdown.read_text(encoding="utf-8")
    assert _section(fr, "Part des étudiants par filière") == [
        "Part des étudiants propres dans chaque filière.",
        r"| major | student\_count | share | note |", "|:---|---:|---:|:---|",
        "| Chimie | 4 | 0,25 | — |", "| Informatique | 8 | 0,50 | ok |",
        "_Source : mart dbt `major_share`._"]
    assert _section(en, "Share of students by major") == [
        "Share of the clean students in each major.",   # no description_en: dbt's description
        r"| major | student\_count | share | note |", "|:---|---:|---:|:---|",
        "| Chimie | 4 | 0.25 | — |", "| Informatique | 8 | 0.50 | ok |",
        "_Source: dbt mart `major_share`._"]
    # the marts with a section of their own, and models outside marts/, are not shown again as tables
    assert [m.info.name for m in data_mod.read(share).marts] == ["major_share"]
    for name in (*MARTS, "int_major_age_counts"):
        assert f"## {name}" not in fr and f"## {name}" not in en
    assert fr.count("## Statistiques d'âge par filière") == 1
    # after the mart sections the report already had, before the quarantine
    assert fr.index("## Vue d'ensemble") < fr.index("## Part des étudiants") < fr.index("## Quarantaine")


def test_an_extra_mart_is_on_the_page_in_both_languages(share):
    folder = site.build(share, "fr", 0)[""]
    fr, en = (folder / "fr.html").read_text(encoding="utf-8"), (folder / "en.html").read_text(encoding="utf-8")
    assert '<h2 id="mart-major-share">Part des étudiants par filière</h2>' in fr
    assert '<h2 id="mart-major-share">Share of students by major</h2>' in en
    assert '<td class="l">Informatique</td><td class="r">8</td><td class="r">0,50</td><td class="l">ok</td>' in fr
    assert '<td class="l">Informatique</td><td class="r">8</td><td class="r">0.50</td><td class="l">ok</td>' in en
    assert "<p>Part des étudiants propres dans chaque filière.</p>" in fr
    assert '<p class="note">Source: dbt mart <code>major_share</code>.</p>' in en


def test_hostile_titles_descriptions_columns_and_values_are_escaped(settings):
    make_warehouse(settings.warehouse)
    add_table(settings, "hostile_mart", [HOSTILE_COLUMN, "n"], [(HOSTILE_CELL, 1)])
    write_manifest(settings, HOSTILE_YAML)
    md = rep.build_report(settings, "en").markdown.read_text(encoding="utf-8")
    heading = next(line for line in md.splitlines() if line.startswith("## ") and "script" in line)
    assert re.sub(r"\\(.)", r"\1", heading[3:]) == HOSTILE_TITLE
    description, header, _, row, source = _section(md, heading[3:])
    # one line, every markdown character escaped: shown as written, never a list, a tag or a link
    assert re.sub(r"\\(.)", r"\1", description) == " ".join(HOSTILE_DESCRIPTION.split())
    assert description.startswith(r"\- 1. \<img")
    raw_cells = [c for line in (header, row) for c in re.split(r"(?<!\\)\|", line)[1:-1]]
    for text in (heading[3:], description, *raw_cells):
        assert not re.search(r"(?<!\\)[<>`*_\[\]|&]", text), text
    assert _cells(header) == [HOSTILE_COLUMN, "n"] and _cells(row) == [HOSTILE_CELL, "1"]
    assert source == "_Source: dbt mart `hostile_mart`._"

    page = (site.build(settings, "en", 0)[""] / "en.html").read_text(encoding="utf-8")
    for raw in ("<script", "<img src=x", "<i>", "</td>&lt;", "<code>c</code>", "<strong>b", "<strong>bold",
                "<code>code</code>", 'href="javascript'):
        assert raw not in page, raw
    assert ('<h2 id="mart-hostile-mart">&lt;script&gt;alert("t")&lt;/script&gt; **bold** | `code` '
            "[x](javascript:alert(1))</h2>") in page
    assert "<p>- 1. &lt;img src=x onerror=alert(1)&gt; &amp;amp; _it_ # no second line</p>" in page
    assert "<th class=\"l\">a|b&lt;i&gt;</th>" in page
    assert "<td class=\"l\">&lt;/td&gt;&lt;script&gt;x&lt;/script&gt; `c` **b** \\| |</td>" in page


def test_without_a_manifest_there_is_no_extra_section(settings):
    make_warehouse(settings.warehouse)
    add_table(settings, "major_share", ["major"], [("Chimie",)])
    assert data_mod.read(settings).marts == []
    assert "major_share" not in rep.build_report(settings, "fr").markdown.read_text(encoding="utf-8")


def test_a_described_mart_missing_from_the_warehouse_asks_for_transform(settings):
    make_warehouse(settings.warehouse)
    write_manifest(settings, SHARE_YAML)
    with pytest.raises(WarehouseNotReady) as err:
        data_mod.read(settings)
    assert "major_share" in err.value.args[0] and "studentflow transform" in str(err.value.hint)


def test_a_long_mart_shows_its_first_rows_and_counts_the_rest(settings):
    make_warehouse(settings.warehouse)
    add_table(settings, "major_share", ["major", "n"], [(f"m{i:03d}", i) for i in range(marts.ROWS_SHOWN + 7)])
    write_manifest(settings, SHARE_YAML)
    md = rep.build_report(settings, "fr").markdown.read_text(encoding="utf-8")
    lines = _section(md, "Part des étudiants par filière")
    assert [_cells(line)[0] for line in lines if line.startswith("| m0")] == [f"m{i:03d}" for i in range(marts.ROWS_SHOWN)]
    assert f"Les {marts.ROWS_SHOWN} premières lignes sur {marts.ROWS_SHOWN + 7}." in lines
