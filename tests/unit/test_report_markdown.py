"""The report, on a small real SQLite warehouse whose marts are computed in Python with dbt's column
names (tests/support/report_warehouse.py).

(tests/integration/test_report_dbt.py builds the marts with the real dbt project instead.)
"""
from __future__ import annotations

import json
import sqlite3
import struct
from pathlib import Path

import pytest

from studentflow import cli
from studentflow.core.errors import DataError, ExitCode
from studentflow.report import report as rep, sections
from studentflow.report.data import ReportInputMissing
from tests.support import warehouse as aw
from tests.support.report_warehouse import AGES, DUPLICATES, NOW, REASONS, make_warehouse

REPO = Path(__file__).resolve().parents[2]


def _fr(value: float, decimals: int = 2) -> str:
    return f"{value:.{decimals}f}".replace(".", ",")


table_after = aw.markdown_table   # the body rows of the table under a header line


def mart(path: Path, sql: str) -> list[tuple]:
    con = sqlite3.connect(path)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.fixture()
def built(settings):
    make_warehouse(settings.warehouse)
    paths = rep.build_report(settings, now=NOW)
    return settings, paths, paths.markdown.read_text(encoding="utf-8")


# --- the French report (default) ----------------------------------------------------------------

def test_files_are_written_under_the_data_folder(built):
    settings, paths, _ = built
    assert paths.directory == settings.data_dir / "report"
    assert paths.markdown.name == "rapport.md"
    assert {p.name for p in paths.directory.iterdir()} == {"rapport.md", "age_boxplot.png", "major_counts.png"}


def test_title_date_and_run(built):
    _, _, md = built
    assert md.startswith("# Rapport de Traitement de Données Étudiantes\n")
    assert "27 novembre 2026 à 10:30 UTC" in md
    assert "`run-2`" in md


def test_age_table_matches_the_mart_exactly(built):
    settings, _, md = built
    rows = table_after(md, "| Filière | Nombre | Moyenne | Médiane | Min | Max | Écart-type |")
    expected = [[m, str(n), _fr(avg), _fr(med), str(lo), str(hi), "—" if sd is None else _fr(sd)]
                for m, n, avg, med, lo, hi, sd in mart(settings.warehouse, "select major, student_count, avg_age, "
                                                       "median_age, min_age, max_age, stddev_age "
                                                       "from major_age_stats order by major")]
    assert rows == expected
    assert len(rows) == len(AGES)
    assert ["Biologie", "1", "27,00", "27,00", "27", "27", "—"] in rows  # single student: no standard deviation
    assert ["Informatique", "8", "22,88", "22,00", "19", "30", "3,36"] in rows  # median of an even count


def test_over_20_table_matches_the_mart(built):
    settings, _, md = built
    rows = table_after(md, "| Filière | Nombre (> 20 ans) | Âge moyen |")
    expected = [[m, str(n), _fr(avg)] for m, n, avg in mart(
        settings.warehouse, "select major, student_count, avg_age from major_avg_age_over_20 order by major")]
    assert rows == expected
    assert "Physique" not in {r[0] for r in rows}  # nobody older than 20 there


def test_overview_prints_both_global_means_labelled(built):
    settings, _, md = built
    (majors, students, weighted, of_means), = mart(
        settings.warehouse, "select major_count, student_count, avg_age_weighted, avg_age_of_major_means "
                            "from global_summary")
    rows = dict((r[0], r[1]) for r in table_after(md, "| Indicateur | Valeur |"))
    assert rows["Nombre de filières"] == str(majors) == "6"
    assert rows["Nombre d'étudiants (données propres)"] == str(students)
    weighted_label = next(k for k in rows if k.startswith("Âge moyen global, pondéré"))
    means_label = next(k for k in rows if k.startswith("Moyenne des âges moyens par filière"))
    assert rows[weighted_label] == _fr(weighted)
    assert rows[means_label] == _fr(of_means)
    assert _fr(weighted) != _fr(of_means)  # the data makes the two means differ


def test_quarantine_by_reason_and_processing_counts(built):
    _, _, md = built
    rows = table_after(md, "| Raison | Détail | Nombre | Part |")
    assert [(r[0], r[2]) for r in rows] == [(f"`{k}`", str(v)) for k, v in REASONS.items()]
    assert rows[0][3] == "50,00\u00a0%"
    total_q = sum(REASONS.values())
    assert f"- Lignes en quarantaine : {total_q}" in md
    steps = dict((r[0], r[1]) for r in table_after(md, "| Étape | Nombre |"))
    n = sum(len(v) for v in AGES.values())
    assert steps["Lignes lues dans le staging"] == str(n + total_q + DUPLICATES)
    assert steps["Doublons supprimés"] == str(DUPLICATES)
    assert "✅" in md.split("Contrôle")[1].splitlines()[0]


def test_pngs_are_real_images_of_useful_size(built):
    import matplotlib.image as mpimg

    _, paths, md = built
    for png in (paths.boxplot, paths.bar_chart):
        width, height = png_size(png)
        assert width >= 800 and height >= 500, (png.name, width, height)
        assert png.stat().st_size > 20_000, png.name
        pixels = mpimg.imread(png)
        assert pixels.std() > 0.05, f"{png.name} is (nearly) blank"
        assert f"]({png.name})" in md  # embedded in the report


def test_files_section_lists_what_was_produced(built):
    settings, paths, md = built
    rows = table_after(md, "| Fichier | Contenu |")
    listed = {r[0].strip("`") for r in rows}
    assert {str(settings.warehouse), str(paths.markdown), str(paths.boxplot), str(paths.bar_chart)} <= listed


def test_no_quality_results_says_how_to_get_them(built):
    _, _, md = built
    assert "studentflow validate" in md.split("## Qualité des données")[1]


# --- options and variants ----------------------------------------------------------------------------

def test_secrets_never_appear(settings):
    hosted = settings.with_overrides(bootstrap_servers="broker.example.com:9093", security_protocol="SASL_SSL",
                                     sasl_mechanism="SCRAM-SHA-512", sasl_username="analyst",
                                     sasl_password="Sup3r-S3cret-pw", ssl_ca_location="/certs/ca.pem",
                                     ssl_key_password="k3y-Passw0rd")
    make_warehouse(hosted.warehouse)
    md = rep.build_report(hosted, now=NOW).markdown.read_text(encoding="utf-8")
    assert "Sup3r-S3cret-pw" not in md and "k3y-Passw0rd" not in md
    rows = dict(table_after(md, "| Paramètre | Valeur |"))
    assert rows["`sasl_password`"] == "`********`"
    assert rows["`ssl_key_password`"] == "`********`"
    assert rows["`bootstrap_servers`"] == "`broker.example.com:9093`"
    assert rows["`sasl_username`"] == "`analyst`"


def test_embedded_stack_settings_are_shown_as_such(built):
    _, _, md = built
    rows = dict(table_after(md, "| Paramètre | Valeur |"))
    assert "broker embarqué" in rows["`bootstrap_servers`"]
    assert rows["`topic`"] == "`students.raw`"
    assert "`sasl_password`" not in rows  # PLAINTEXT: no SASL/SSL rows at all


def test_english_variant(settings):
    make_warehouse(settings.warehouse)
    paths = rep.build_report(settings, lang="en", now=NOW)
    assert paths.markdown.name == "report.md"
    md = paths.markdown.read_text(encoding="utf-8")
    assert md.startswith("# Student Data Processing Report\n")
    assert "2026-11-27 10:30 UTC" in md
    rows = table_after(md, "| Major | Count | Mean | Median | Min | Max | Std dev |")
    expected = [[m, str(n), f"{avg:.2f}", f"{med:.2f}", str(lo), str(hi), "—" if sd is None else f"{sd:.2f}"]
                for m, n, avg, med, lo, hi, sd in mart(settings.warehouse, "select major, student_count, avg_age, "
                                                       "median_age, min_age, max_age, stddev_age "
                                                       "from major_age_stats order by major")]
    assert rows == expected
    assert "Filière" not in md and "Écart-type" not in md


def test_quality_results_are_summarized(settings):
    make_warehouse(settings.warehouse)
    quality = settings.data_dir / "quality" / "validation.json"
    quality.parent.mkdir(parents=True)
    quality.write_text(json.dumps({"success": False, "results": [
        {"suite": "clean_students", "table": "clean_students", "column": "age",
         "expectation": "expect_column_values_to_be_between", "success": True, "unexpected_count": 0},
        {"suite": "clean_students", "table": "clean_students", "column": "major",
         "expectation": "expect_column_values_to_be_in_set", "success": False, "unexpected_count": 4},
        {"suite": "marts", "table": "global_summary", "column": None, "expectation": "expect_table_row_count_to_equal",
         "success": False, "unexpected_count": None, "error": "no such table: global_summary\nmore"},
    ], "data_docs": str(settings.data_dir / "quality" / "docs" / "index.html")}))
    md = rep.build_report(settings, now=NOW).markdown.read_text(encoding="utf-8")
    assert "❌ au moins une attente n'est pas satisfaite (1/3 réussies)" in md
    rows = table_after(md, "| Suite | Table | Colonne | Attente | Résultat | Non conformes |")
    assert rows[1] == ["clean_students", "`clean_students`", "`major`", "`expect_column_values_to_be_in_set`", "❌", "4"]
    assert rows[2][4] == "❌ (no such table: global_summary)" and rows[2][5] == "—"
    files = {r[0] for r in table_after(md, "| Fichier | Contenu |")}
    assert f"`{quality}`" in files and f"`{settings.data_dir / 'quality' / 'docs' / 'index.html'}`" in files


def test_quality_results_as_a_bare_list(settings):
    make_warehouse(settings.warehouse)
    quality = settings.data_dir / "quality" / "validation.json"
    quality.parent.mkdir(parents=True)
    quality.write_text(json.dumps([{"suite": "marts", "table": "major_age_stats", "column": None,
                                    "expectation": "expect_table_row_count_to_be_between", "success": True,
                                    "unexpected_count": None}]))
    md = rep.build_report(settings, lang="en", now=NOW).markdown.read_text(encoding="utf-8")
    assert "✅ every expectation is met (1/1 passed)" in md


def test_run_summary_stages_and_counts(settings):
    make_warehouse(settings.warehouse)
    # the shape studentflow.pipeline.RunSummary.as_report_input() gives (run_id rides in counts)
    summary = {"counts": {"produced": 10000, "staged_total": 10000, "clean": 9500, "run_id": "run-xyz"},
               "stages": [{"name": "produce", "seconds": 1.234, "count": 10000},
                          {"name": "normalize", "seconds": 9.5, "count": 9500, "detail": "local[*]"}],
               "total_seconds": 42}
    md = rep.build_report(settings, run_summary=summary, now=NOW).markdown.read_text(encoding="utf-8")
    rows = table_after(md, "| Étape | Nombre | Durée (s) | Détail |")
    assert rows[0] == ["Production des événements (Kafka)", "10\u202f000", "1,23", ""]
    assert rows[1] == ["Normalisation (PySpark)", "9\u202f500", "9,50", "local[*]"]
    assert rows[2] == ["**Total**", "", "**42,00**", ""]
    assert "- Événements produits (acquittés par Kafka) : 10\u202f000" in md
    assert "- Lignes en staging (total cumulé) : 10\u202f000" in md
    assert "`run-xyz`" in md and "- run_id" not in md
    # the mapping form is accepted too
    md2 = rep.build_report(settings, lang="en", run_summary={"stages": {"transform": 3.0}}, now=NOW)
    assert "| Transformation (dbt) | — | 3.00 |  |" in md2.markdown.read_text(encoding="utf-8")


def test_number_formatting():
    assert sections.fmt_number(1234.5, 2, "fr") == "1\u202f234,50"
    assert sections.fmt_number(1234.5, 2, "en") == "1,234.50"
    assert sections.fmt_number(None, 2, "fr") == "—"
    assert sections.fmt_int(1000000, "en") == "1,000,000"
    assert sections.fmt_percent(0.0425, "fr") == "4,25\u00a0%"


def test_empty_marts_still_give_a_report(settings):
    make_warehouse(settings.warehouse, ages={})
    paths = rep.build_report(settings, now=NOW)
    md = paths.markdown.read_text(encoding="utf-8")
    assert table_after(md, "| Filière | Nombre | Moyenne | Médiane | Min | Max | Écart-type |") == []
    assert png_size(paths.boxplot)[0] > 0


def test_unknown_language_is_refused(settings):
    make_warehouse(settings.warehouse)
    with pytest.raises(DataError, match="language"):
        rep.build_report(settings, lang="de")


# --- errors ----------------------------------------------------------------------------------------

def test_missing_warehouse_is_a_clear_error_and_creates_nothing(settings):
    with pytest.raises(ReportInputMissing) as exc:
        rep.build_report(settings)
    assert "studentflow transform" in str(exc.value)
    assert not settings.warehouse.exists()
    assert not (settings.data_dir / "report").exists()


def test_missing_mart_says_run_transform(settings):
    settings.warehouse.parent.mkdir(parents=True)
    con = sqlite3.connect(settings.warehouse)
    con.executescript((REPO / "spark_jobs" / "warehouse.sql").read_text(encoding="utf-8"))
    con.close()
    with pytest.raises(ReportInputMissing) as exc:
        rep.build_report(settings)
    assert "major_age_stats" in exc.value.message
    assert exc.value.hint == "run `studentflow transform` first"


# --- the CLI -------------------------------------------------------------------------------------------

@pytest.fixture()
def cli_env(settings, monkeypatch):
    for key in ("data_dir", "state_dir", "warehouse", "staging_dir"):
        monkeypatch.setenv(f"STUDENTFLOW_{key.upper()}", str(getattr(settings, key)))
    return settings


def test_cli_report_without_warehouse_prints_one_line(cli_env, capsys):
    code = cli.main(["report"])
    err = capsys.readouterr().err
    assert code == ExitCode.SETUP
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("studentflow: error: no warehouse at") and "studentflow transform" in err


def test_cli_report_english_prints_the_paths(cli_env, capsys):
    make_warehouse(cli_env.warehouse)
    assert cli.main(["report", "--lang", "en"]) == 0
    out = capsys.readouterr().out
    report_dir = cli_env.data_dir / "report"
    for name in ("report.md", "age_boxplot_en.png", "major_counts_en.png"):   # the English charts, not the French ones
        assert str(report_dir / name) in out
        assert (report_dir / name).is_file()
