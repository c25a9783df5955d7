"""The dbt project's documentation, read statically (no dbt run: fast): shared descriptions are
docs blocks, the sources describe every column the Spark stage writes, and the exposure names
what the report really reads."""
from __future__ import annotations

import posixpath
import re
from pathlib import Path

import yaml

from studentflow.core.contract import MARTS, SOURCE_TABLES

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "dbt_project" / "models"
# staging columns that expose the source table's SQLite rowid under a name of their own
ROWID_COLUMNS = {"stg_students": "warehouse_row"}
DOC_REF = re.compile(r"""^\{\{\s*doc\(['"](\w+)['"]\)\s*\}\}$""")


def _yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _blocks() -> dict[str, str]:
    text = (MODELS / "docs.md").read_text(encoding="utf-8")
    return {name: body.strip() for name, body in re.findall(r"\{%\s*docs\s+(\w+)\s*%\}(.*?)\{%\s*enddocs\s*%\}", text, re.S)}


def _sources() -> dict[str, dict]:
    (source,) = _yaml(MODELS / "staging" / "_sources.yml")["sources"]
    return {t["name"]: t for t in source["tables"]}


def _ddl_columns() -> dict[str, list[str]]:
    ddl = (REPO / "spark_jobs" / "warehouse.sql").read_text(encoding="utf-8")
    out = {}
    for table, body in re.findall(r"CREATE TABLE IF NOT EXISTS (\w+) \((.*?)\n\);", ddl, re.S):
        lines = [line.split("--")[0].strip() for line in body.splitlines()]
        out[table] = [line.split()[0] for line in lines if line]
    return out


def _described(columns: list[dict]) -> dict[str, str]:
    return {c["name"]: c.get("description", "") for c in columns}


def test_every_doc_reference_has_its_block_and_every_block_is_used():
    blocks = _blocks()
    assert blocks and all(blocks.values())
    used = set()
    for yml in MODELS.rglob("*.yml"):
        used |= set(re.findall(r"""doc\(['"](\w+)['"]\)""", yml.read_text(encoding="utf-8")))
    assert not used - set(blocks), f"doc() names with no block in models/docs.md: {used - set(blocks)}"
    assert not set(blocks) - used, f"docs blocks nothing uses: {set(blocks) - used}"


def test_sources_describe_every_column_spark_writes_through_docs_blocks():
    ddl, sources = _ddl_columns(), _sources()
    for table in SOURCE_TABLES:
        columns = _described(sources[table]["columns"])
        assert list(columns) == ddl[table], f"{table}: _sources.yml columns differ from spark_jobs/warehouse.sql"
        plain = [name for name, text in columns.items() if not DOC_REF.match(text.strip())]
        assert not plain, f"{table}: descriptions written in place instead of a docs block: {plain}"


def test_staging_columns_share_their_source_column_description():
    sources = _sources()
    for stg, table in (("stg_students", "clean_students"), ("stg_quarantine_students", "quarantine_students"),
                       ("stg_pipeline_runs", "pipeline_runs")):
        (model,) = _yaml(MODELS / "staging" / f"{stg}.yml")["models"]
        source_docs = _described(sources[table]["columns"])
        if "rule" in source_docs:
            source_docs["salvage_rule"] = source_docs["rule"]   # stg_students renames rule
        for name, text in _described(model["columns"]).items():
            if name == ROWID_COLUMNS.get(stg):   # SQLite's rowid: no source column describes it
                assert DOC_REF.match(text.strip()), f"{stg}.{name}: described in place instead of a docs block"
                continue
            assert text == source_docs[name], f"{stg}.{name}: not the description of {table}.{name}"


def _report_reads() -> set[str]:
    """Tables and views studentflow/report/ selects from: by name, and every other mart (shown as
    a table, studentflow/report/marts.py)."""
    code = "\n".join(p.read_text(encoding="utf-8") for p in (REPO / "studentflow" / "report").glob("*.py"))
    names = set(re.findall(r"\bfrom\s+(\w+)", code, re.I))
    return (names & (set(MARTS) | set(SOURCE_TABLES) | {p.stem for p in MODELS.rglob("*.sql")})
            | {p.stem for p in (MODELS / "marts").glob("*.sql")})


def test_exposure_depends_on_what_the_report_reads_and_links_the_page():
    (exposure,) = _yaml(MODELS / "exposures.yml")["exposures"]
    # `docs serve` puts the page at / and these dbt docs at /dbt/index.html: the link is relative
    assert posixpath.normpath(posixpath.join("/dbt", exposure["url"])) == "/index.html"
    deps = set()
    for dep in exposure["depends_on"]:
        m = re.fullmatch(r"(ref)\('(\w+)'\)|(source)\('warehouse', '(\w+)'\)", dep)
        assert m, dep
        deps.add((m.group(1) or m.group(3), m.group(2) or m.group(4)))
    reads = _report_reads()
    assert set(MARTS) <= reads
    wanted = {("source" if name in SOURCE_TABLES else "ref", name) for name in reads}
    assert deps == wanted, f"exposure depends_on {sorted(deps)}, the report reads {sorted(wanted)}"
