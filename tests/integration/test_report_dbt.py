"""The report on marts built by the real dbt project (dbt_project/) over a small clean_students table,
and on a copy of that project with one more mart (its .sql and .yml only)."""
from __future__ import annotations

import random
import shutil
import sqlite3
import statistics
from pathlib import Path

import pytest

from tests.support import warehouse as aw
from studentflow.report import report as rep, site

REPO = Path(__file__).resolve().parents[2]
MAJORS = ("Informatique", "Chimie", "Mathématiques", "Economie", "Physique", "Philosophie", "Littérature",
          "Biologie")

pytestmark = pytest.mark.slow


def _fill_spark_tables(path: Path) -> dict[str, list[int]]:
    """The Spark stage's tables (its own DDL), with reproducible rows; returns ages by major."""
    rng = random.Random(11)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path)
    con.executescript((REPO / "spark_jobs" / "warehouse.sql").read_text(encoding="utf-8"))
    ages: dict[str, list[int]] = {}
    for i in range(400):
        major = MAJORS[i % 7] if i else "Biologie"  # Biologie: exactly one student (no std dev)
        age = min(60, max(17, int(rng.gauss(22, 4))))
        ages.setdefault(major, []).append(age)
        aw.insert(con, "clean_students", aw.CLEAN_COLUMNS,
                       [(f"evt-{i:05d}", f"s{i}", "Alice", "Dupont", age, major, "2026-11-27T10:00:00Z", 1,
                         "json_strict", "run-7")])
    quarantine = [("hello kafka", "not_json_or_csv")] * 4 + [('{"age": 7}', "age_out_of_range")] * 2
    con.executemany("insert into quarantine_students values (?, ?, 'detail', 'students.raw.txt', 1, 'run-7')",
                    quarantine)
    aw.insert(con, "pipeline_runs", aw.RUN_COLUMNS,
                   [("run-7", "2026-11-27T10:00:00Z", "2026-11-27T10:00:09Z", 409, 400, 6, 3, "students.raw.txt",
                     "success")])
    con.commit()
    con.close()
    return ages


@pytest.fixture()
def dbt_warehouse(settings):
    from studentflow.transform import runner as dbt_runner

    ages = _fill_spark_tables(settings.warehouse)
    outcome = dbt_runner.run_dbt(settings, ["build"])
    assert outcome.ok, outcome.output[-3000:]
    return settings, ages


def test_report_tables_match_the_dbt_marts(dbt_warehouse):
    settings, ages = dbt_warehouse
    paths = rep.build_report(settings)
    md = paths.markdown.read_text(encoding="utf-8")

    con = sqlite3.connect(settings.warehouse)
    stats = con.execute("select major, student_count, avg_age, median_age, min_age, max_age, stddev_age "
                        "from major_age_stats order by major").fetchall()
    over20 = con.execute("select major, student_count, avg_age from major_avg_age_over_20 order by major").fetchall()
    summary = con.execute("select major_count, avg_age_weighted, avg_age_of_major_means, quarantine_count "
                          "from global_summary").fetchone()
    con.close()

    def fr(v):
        return "—" if v is None else f"{v:.2f}".replace(".", ",")

    rows = _table(md, "| Filière | Nombre | Moyenne | Médiane | Min | Max | Écart-type |")
    assert rows == [[m, str(n), fr(a), fr(med), str(lo), str(hi), fr(sd)] for m, n, a, med, lo, hi, sd in stats]
    assert {r[0] for r in rows} == set(ages)
    # the mart agrees with an independent computation (what the table shows is right, not just copied)
    for major, n, avg, med, lo, hi, sd in stats:
        assert med == pytest.approx(statistics.median(ages[major]))
        assert n == len(ages[major]) and lo == min(ages[major]) and hi == max(ages[major])
        assert avg == pytest.approx(statistics.mean(ages[major]))
        assert sd == (pytest.approx(statistics.stdev(ages[major])) if n > 1 else None)
    assert _table(md, "| Filière | Nombre (> 20 ans) | Âge moyen |") == [[m, str(n), fr(a)] for m, n, a in over20]
    overview = dict((r[0], r[1]) for r in _table(md, "| Indicateur | Valeur |"))
    assert overview["Nombre de filières"] == str(summary[0]) == str(len(ages))
    assert fr(summary[1]) in overview.values() and fr(summary[2]) in overview.values()
    assert f"- Lignes en quarantaine : {summary[3]}" in md
    for png in (paths.boxplot, paths.bar_chart):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000


NEW_MART_SQL = """-- how many clean students of each major are 20 or younger
with students as (select major, age from {{ ref('stg_students') }})
select major, count(*) as young_count
from students
where age <= 20
group by major
order by major
"""
NEW_MART_YML = """version: 2

models:
  - name: major_young_students
    description: Clean students aged 20 or younger, per major.
    config:
      meta:
        title_fr: Étudiants de 20 ans ou moins par filière
        title_en: Students aged 20 or younger by major
        description_fr: Étudiants propres de 20 ans ou moins, par filière.
    columns:
      - name: major
        description: A canonical major.
      - name: young_count
        description: Clean students of that major aged 20 or younger.
"""


def test_a_new_mart_reaches_the_report_and_the_page(settings, tmp_path):
    """A .sql and a .yml in models/marts of a copy of the project, built by the product's dbt
    runner: the report and the page show it, titled from its YAML, in both languages."""
    from studentflow.transform import runner as dbt_runner

    ages = _fill_spark_tables(settings.warehouse)
    project = tmp_path / "dbt_project"
    shutil.copytree(dbt_runner.DBT_PROJECT, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    (project / "models" / "marts" / "major_young_students.sql").write_text(NEW_MART_SQL, encoding="utf-8")
    (project / "models" / "marts" / "major_young_students.yml").write_text(NEW_MART_YML, encoding="utf-8")
    outcome = dbt_runner.run_dbt(settings, ["build"], project_dir=project)
    assert outcome.ok, outcome.output[-3000:]

    young = {m: sum(a <= 20 for a in values) for m, values in ages.items() if any(a <= 20 for a in values)}
    fr = rep.build_report(settings, "fr").markdown.read_text(encoding="utf-8")
    en = rep.build_report(settings, "en").markdown.read_text(encoding="utf-8")
    for md, title, description in (
            (fr, "Étudiants de 20 ans ou moins par filière", "Étudiants propres de 20 ans ou moins, par filière."),
            (en, "Students aged 20 or younger by major", "Clean students aged 20 or younger, per major.")):
        section = md[md.index(f"## {title}\n"):]
        assert section.split("\n\n")[1] == description
        assert _table(section, r"| major | young\_count |") == [[m, str(n)] for m, n in sorted(young.items())]
    assert "## Statistiques d'âge par filière" in fr   # the special sections stay
    folder = site.build(settings, "fr", 0)[""]
    page_fr, page_en = ((folder / f"{lang}.html").read_text(encoding="utf-8") for lang in ("fr", "en"))
    assert '<h2 id="mart-major-young-students">Étudiants de 20 ans ou moins par filière</h2>' in page_fr
    assert '<h2 id="mart-major-young-students">Students aged 20 or younger by major</h2>' in page_en
    assert "<code>major_young_students</code>" in page_en


_table = aw.markdown_table
