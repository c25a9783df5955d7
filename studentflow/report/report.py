"""The pipeline's report: a markdown file plus two PNG charts, built from the warehouse marts.

``build_report(settings, lang="fr", run_summary=None)`` reads the SQLite warehouse (the dbt marts
``major_age_stats``, ``major_avg_age_over_20`` and ``global_summary``, plus ``clean_students``,
``quarantine_students`` and ``pipeline_runs``) and the Great Expectations summary
``<data_dir>/quality/validation.json`` when present, and writes under ``<data_dir>/report/``:

* ``rapport.md`` (French, the default) or ``report.md`` (``lang="en"``);
* ``age_boxplot.png``: age distribution by major (box = quartiles, whiskers = 1.5 IQR, ◆ = mean);
* ``major_counts.png``: number of students by major.

Every figure of the tables comes straight from the marts (no recomputation here), formatted with
two decimals. Kafka settings are printed through ``Settings.redacted()``: secrets never appear.

``run_summary`` (optional, given by ``studentflow run``) adds per-stage counts and times::

    {"run_id": "...",                                    # optional
     "counts": {"produced": 10000, "staged": 10000, "clean": 9500,
                "quarantined": 400, "duplicates": 100},  # any subset
     "stages": [{"name": "produce", "seconds": 1.2, "count": 10000, "detail": "..."}, ...],
     "total_seconds": 42.0}                              # optional

``stages`` may also be a mapping ``{name: {"seconds": .., "count": .., "detail": ..}}`` or
``{name: seconds}``.
"""
from __future__ import annotations

import datetime as dt
import json
import sqlite3
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable

from studentflow.config import Settings
from studentflow.errors import DataError

LANGS = ("fr", "en")
MARTS = ("major_age_stats", "major_avg_age_over_20", "global_summary")
REPORT_NAMES = {"fr": "rapport.md", "en": "report.md"}
BOXPLOT_NAME = "age_boxplot.png"
BAR_CHART_NAME = "major_counts.png"
MISSING = "—"


class ReportInputMissing(DataError):
    """The warehouse or a dbt mart the report reads does not exist yet (exit code 2, like transform)."""

    exit_code = 2


@dataclass(frozen=True)
class ReportPaths:
    """Where the report's files were written."""

    directory: Path
    markdown: Path
    boxplot: Path
    bar_chart: Path

    def files(self) -> list[Path]:
        return [self.markdown, self.boxplot, self.bar_chart]


# --- texts -------------------------------------------------------------------------------------

TEXT: dict[str, dict[str, str]] = {
    "fr": {
        "title": "Rapport de Traitement de Données Étudiantes",
        "generated": "Généré le",
        "last_run": "Dernière exécution (run_id)",
        "tools": "Outils",
        "kafka": "Paramètres Kafka",
        "kafka_note": "Valeurs effectives de la configuration ; les secrets sont masqués.",
        "setting": "Paramètre",
        "value": "Valeur",
        "embedded_broker": "(vide : broker embarqué local, en mémoire)",
        "embedded_connect": "(vide : worker Kafka Connect embarqué)",
        "steps": "Étapes du traitement",
        "step": "Étape",
        "count": "Nombre",
        "seconds": "Durée (s)",
        "detail": "Détail",
        "total": "Total",
        "run_counts": "Comptes de la dernière normalisation Spark (`pipeline_runs`)",
        "lines_read": "Lignes lues dans le staging",
        "clean_count": "Lignes propres (`clean_students`)",
        "quarantined_count": "Lignes en quarantaine (`quarantine_students`)",
        "duplicates_removed": "Doublons supprimés",
        "status": "Statut",
        "balance_ok": "Contrôle : lignes lues = propres + quarantaine + doublons ✅",
        "balance_bad": "Contrôle : lignes lues ≠ propres + quarantaine + doublons ❌",
        "no_runs": "Aucune exécution enregistrée dans `pipeline_runs`.",
        "stats": "Statistiques d'âge par filière",
        "stats_note": "Source : mart dbt `major_age_stats` ; écart-type d'échantillon (n − 1), vide pour une filière d'un seul étudiant.",
        "major": "Filière",
        "mean": "Moyenne",
        "min": "Min",
        "max": "Max",
        "stddev": "Écart-type",
        "over20": "Âge moyen par filière des étudiants de plus de 20 ans",
        "over20_note": "Source : mart dbt `major_avg_age_over_20` (âge > 20).",
        "over20_count": "Nombre (> 20 ans)",
        "avg_age": "Âge moyen",
        "overview": "Vue d'ensemble",
        "indicator": "Indicateur",
        "major_count": "Nombre de filières",
        "student_count": "Nombre d'étudiants (données propres)",
        "weighted": "Âge moyen global, pondéré (chaque étudiant compte une fois)",
        "mean_of_means": "Moyenne des âges moyens par filière (chaque filière compte une fois ; méthode du rapport d'origine)",
        "overview_note": "Source : mart dbt `global_summary`.",
        "quarantine": "Quarantaine",
        "quarantine_total": "Lignes en quarantaine",
        "quarantine_rate": "Taux de quarantaine (sur propres + quarantaine)",
        "reason": "Raison",
        "share": "Part",
        "no_quarantine": "Aucune ligne en quarantaine.",
        "quality": "Qualité des données (Great Expectations)",
        "quality_none": "Pas de résultat de validation ({path} absent) : lancez `studentflow validate`.",
        "quality_ok": "Résultat global : ✅ toutes les attentes sont satisfaites",
        "quality_bad": "Résultat global : ❌ au moins une attente n'est pas satisfaite",
        "suite": "Suite",
        "table": "Table",
        "column": "Colonne",
        "expectation": "Attente",
        "result": "Résultat",
        "unexpected": "Non conformes",
        "passed": "réussies",
        "charts": "Graphiques",
        "files": "Fichiers produits",
        "file": "Fichier",
        "what": "Contenu",
        "f_warehouse": "Entrepôt SQLite (tables Spark + marts dbt)",
        "f_staging": "Fichier de staging (sortie du connecteur Kafka Connect)",
        "f_quality": "Résultats Great Expectations",
        "f_docs": "Data Docs Great Expectations (HTML)",
        "f_report": "Ce rapport",
        "f_boxplot": "Boîte à moustaches de l'âge par filière",
        "f_bars": "Nombre d'étudiants par filière",
        "box_title": "Distribution de l'âge par filière",
        "box_ylabel": "Âge (années)",
        "box_legend": "boîte : quartiles — trait rouge : médiane — ◆ : moyenne — moustaches : 1,5 × IQR — points : valeurs extrêmes",
        "bar_title": "Nombre d'étudiants par filière",
        "bar_ylabel": "Nombre d'étudiants",
        "no_data": "Aucune donnée",
        "yes": "✅",
        "no": "❌",
    },
    "en": {
        "title": "Student Data Processing Report",
        "generated": "Generated on",
        "last_run": "Last run (run_id)",
        "tools": "Tools",
        "kafka": "Kafka settings",
        "kafka_note": "Effective configuration values; secrets are masked.",
        "setting": "Setting",
        "value": "Value",
        "embedded_broker": "(empty: local embedded broker, in memory)",
        "embedded_connect": "(empty: embedded Kafka Connect worker)",
        "steps": "Processing steps",
        "step": "Step",
        "count": "Count",
        "seconds": "Time (s)",
        "detail": "Detail",
        "total": "Total",
        "run_counts": "Counts of the last Spark normalization (`pipeline_runs`)",
        "lines_read": "Lines read from staging",
        "clean_count": "Clean rows (`clean_students`)",
        "quarantined_count": "Quarantined rows (`quarantine_students`)",
        "duplicates_removed": "Duplicates removed",
        "status": "Status",
        "balance_ok": "Check: lines read = clean + quarantined + duplicates ✅",
        "balance_bad": "Check: lines read ≠ clean + quarantined + duplicates ❌",
        "no_runs": "No run recorded in `pipeline_runs`.",
        "stats": "Age statistics by major",
        "stats_note": "Source: dbt mart `major_age_stats`; sample standard deviation (n − 1), empty for a one-student major.",
        "major": "Major",
        "mean": "Mean",
        "min": "Min",
        "max": "Max",
        "stddev": "Std dev",
        "over20": "Average age by major of students older than 20",
        "over20_note": "Source: dbt mart `major_avg_age_over_20` (age > 20).",
        "over20_count": "Count (> 20)",
        "avg_age": "Average age",
        "overview": "Overview",
        "indicator": "Figure",
        "major_count": "Number of majors",
        "student_count": "Number of students (clean data)",
        "weighted": "Global average age, weighted (every student counts once)",
        "mean_of_means": "Mean of the per-major average ages (every major counts once; the original report's method)",
        "overview_note": "Source: dbt mart `global_summary`.",
        "quarantine": "Quarantine",
        "quarantine_total": "Quarantined lines",
        "quarantine_rate": "Quarantine rate (of clean + quarantined)",
        "reason": "Reason",
        "share": "Share",
        "no_quarantine": "No quarantined line.",
        "quality": "Data quality (Great Expectations)",
        "quality_none": "No validation result ({path} missing): run `studentflow validate`.",
        "quality_ok": "Overall result: ✅ every expectation is met",
        "quality_bad": "Overall result: ❌ at least one expectation is not met",
        "suite": "Suite",
        "table": "Table",
        "column": "Column",
        "expectation": "Expectation",
        "result": "Result",
        "unexpected": "Unexpected",
        "passed": "passed",
        "charts": "Charts",
        "files": "Files produced",
        "file": "File",
        "what": "Content",
        "f_warehouse": "SQLite warehouse (Spark tables + dbt marts)",
        "f_staging": "Staging file (output of the Kafka Connect sink)",
        "f_quality": "Great Expectations results",
        "f_docs": "Great Expectations Data Docs (HTML)",
        "f_report": "This report",
        "f_boxplot": "Box plot of age by major",
        "f_bars": "Number of students by major",
        "box_title": "Age distribution by major",
        "box_ylabel": "Age (years)",
        "box_legend": "box: quartiles — red line: median — ◆: mean — whiskers: 1.5 × IQR — dots: outliers",
        "bar_title": "Number of students by major",
        "bar_ylabel": "Number of students",
        "no_data": "No data",
        "yes": "✅",
        "no": "❌",
    },
}

REASONS = {
    "fr": {
        "empty": "message vide",
        "not_json_or_csv": "ni JSON ni CSV (texte sans rapport)",
        "invalid_json": "JSON invalide ou tronqué",
        "age_out_of_range": "âge hors bornes",
        "age_not_a_number": "âge non numérique",
        "missing_major": "filière absente",
        "missing_age": "âge absent",
        "missing_name": "nom ou prénom absent",
        "unknown_major": "filière inconnue",
    },
    "en": {
        "empty": "empty message",
        "not_json_or_csv": "neither JSON nor CSV (unrelated text)",
        "invalid_json": "invalid or truncated JSON",
        "age_out_of_range": "age out of bounds",
        "age_not_a_number": "age is not a number",
        "missing_major": "major missing",
        "missing_age": "age missing",
        "missing_name": "first or last name missing",
        "unknown_major": "unknown major",
    },
}

STAGES = {
    "fr": {"stack": "Démarrage de la pile (broker + Kafka Connect)", "topic": "Création du topic",
           "connect": "Application des connecteurs", "apply": "Application des connecteurs",
           "produce": "Production des événements (Kafka)", "sink": "Staging (connecteur Kafka Connect)",
           "stage": "Staging (connecteur Kafka Connect)", "staging": "Staging (connecteur Kafka Connect)",
           "normalize": "Normalisation (PySpark)", "transform": "Transformation (dbt)",
           "validate": "Qualité (Great Expectations)", "report": "Rapport"},
    "en": {"stack": "Stack start (broker + Kafka Connect)", "topic": "Topic creation",
           "connect": "Connector apply", "apply": "Connector apply",
           "produce": "Event production (Kafka)", "sink": "Staging (Kafka Connect sink)",
           "stage": "Staging (Kafka Connect sink)", "staging": "Staging (Kafka Connect sink)",
           "normalize": "Normalization (PySpark)", "transform": "Transformation (dbt)",
           "validate": "Quality (Great Expectations)", "report": "Report"},
}

COUNT_LABELS = {
    "fr": {"produced": "Événements produits (acquittés par Kafka)", "staged": "Lignes en staging",
           "staged_total": "Lignes en staging (total cumulé)",
           "staged_this_run": "Lignes ajoutées au staging par cette exécution",
           "sink_duplicates": "Doublons écrits par le connecteur (at-least-once)",
           "lines_read": "Lignes lues par Spark", "clean": "Lignes propres",
           "quarantined": "Lignes en quarantaine", "duplicates": "Doublons supprimés",
           "duplicates_removed": "Doublons supprimés"},
    "en": {"produced": "Events produced (acknowledged by Kafka)", "staged": "Lines staged",
           "staged_total": "Lines staged (cumulative total)", "staged_this_run": "Lines staged by this run",
           "sink_duplicates": "Duplicates written by the sink (at-least-once)",
           "lines_read": "Lines read by Spark", "clean": "Clean rows", "quarantined": "Quarantined lines",
           "duplicates": "Duplicates removed", "duplicates_removed": "Duplicates removed"},
}

MONTHS_FR = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
             "octobre", "novembre", "décembre")

KAFKA_KEYS = ("bootstrap_servers", "topic", "topic_partitions", "security_protocol")
SSL_KEYS = ("ssl_ca_location", "ssl_certificate_location", "ssl_key_location", "ssl_key_password")
SASL_KEYS = ("sasl_mechanism", "sasl_username", "sasl_password")
CONNECT_KEYS = ("connect_url", "connect_mode")


# --- number formatting -------------------------------------------------------------------------

def fmt_number(value: Any, decimals: int, lang: str) -> str:
    """Consistent number text: fixed decimals, French uses a decimal comma and a thin-space
    thousands separator (``1 234,50``), English ``1,234.50``; None is an em dash."""
    if value is None:
        return MISSING
    text = f"{float(value):,.{decimals}f}" if decimals else f"{int(round(float(value))):,}"
    if lang == "fr":
        text = text.replace(",", "\u202f").replace(".", ",")
    return text


def fmt_int(value: Any, lang: str) -> str:
    return fmt_number(value, 0, lang)


def fmt_percent(value: Any, lang: str) -> str:
    if value is None:
        return MISSING
    return fmt_number(float(value) * 100, 2, lang) + ("\u00a0%" if lang == "fr" else "%")


def _date_text(now: dt.datetime, lang: str) -> str:
    tz = now.strftime("%Z") or now.strftime("%z")
    if lang == "fr":
        return f"{now.day} {MONTHS_FR[now.month - 1]} {now.year} à {now:%H:%M} {tz}".rstrip()
    return f"{now:%Y-%m-%d %H:%M} {tz}".rstrip()


# --- reading the warehouse ---------------------------------------------------------------------

def _open_warehouse(settings: Settings) -> sqlite3.Connection:
    path = settings.warehouse
    if not path.is_file():
        raise ReportInputMissing(f"no warehouse at {path}",
                        "run `studentflow run`, or `studentflow normalize` then `studentflow transform` first")
    # read-only: never create an empty file or touch what dbt built
    con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    con.row_factory = sqlite3.Row
    return con


def _relations(con: sqlite3.Connection) -> set[str]:
    return {r[0] for r in con.execute("select name from sqlite_master where type in ('table', 'view')")}


def _rows(con: sqlite3.Connection, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
    return [dict(r) for r in con.execute(sql, tuple(params))]


@dataclass
class _Data:
    stats: list[dict[str, Any]]
    over20: list[dict[str, Any]]
    summary: dict[str, Any]
    reasons: list[dict[str, Any]]
    last_run: dict[str, Any] | None
    ages: dict[str, list[tuple[int, int]]]  # major -> [(age, count)]
    quality: Any
    quality_path: Path


def _read(settings: Settings) -> _Data:
    con = _open_warehouse(settings)
    try:
        present = _relations(con)
        missing = [m for m in MARTS if m not in present]
        if missing:
            raise ReportInputMissing(f"the warehouse {settings.warehouse} has no dbt mart {', '.join(missing)}",
                            "run `studentflow transform` first")
        stats = _rows(con, "select major, student_count, avg_age, min_age, max_age, stddev_age "
                           "from major_age_stats order by major")
        over20 = _rows(con, "select major, student_count, avg_age from major_avg_age_over_20 order by major")
        summary_rows = _rows(con, "select * from global_summary")
        if len(summary_rows) != 1:
            raise DataError(f"global_summary has {len(summary_rows)} rows instead of 1",
                            "run `studentflow transform` again (dbt tests check this mart)")
        reasons = []
        if "quarantine_students" in present:
            reasons = _rows(con, "select coalesce(reason, '?') as reason, count(*) as n "
                                 "from quarantine_students group by 1 order by n desc, reason")
        last_run = None
        if "pipeline_runs" in present:
            runs = _rows(con, "select * from pipeline_runs "
                              "order by coalesce(finished_at, started_at) desc, started_at desc limit 1")
            last_run = runs[0] if runs else None
        ages: dict[str, list[tuple[int, int]]] = {}
        if "clean_students" in present:
            for r in con.execute("select major, cast(age as integer) as age, count(*) as n from clean_students "
                                 "where major is not null and age is not null group by 1, 2 order by 1, 2"):
                ages.setdefault(r["major"], []).append((r["age"], r["n"]))
    except sqlite3.DatabaseError as exc:
        raise DataError(f"cannot read the warehouse {settings.warehouse}: {exc}",
                        "run `studentflow transform` again; if it persists, delete the file and run `studentflow run`") from None
    finally:
        con.close()
    quality_path = settings.data_dir / "quality" / "validation.json"
    quality = None
    if quality_path.is_file():
        try:
            quality = json.loads(quality_path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise DataError(f"{quality_path} is not valid JSON: {exc}", "run `studentflow validate` again") from None
    return _Data(stats, over20, summary_rows[0], reasons, last_run, ages, quality, quality_path)


# --- markdown ----------------------------------------------------------------------------------

def _table(headers: list[str], rows: list[list[str]], align: str) -> list[str]:
    """A markdown table; ``align`` has one letter per column: l(eft) or r(ight)."""
    def cell(text: str) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")
    lines = ["| " + " | ".join(headers) + " |",
             "|" + "|".join("---:" if a == "r" else ":---" for a in align) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return lines


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "?"


def _tools_section(settings: Settings, t: dict[str, str], lang: str) -> list[str]:
    broker = ("Apache Kafka (" + settings.bootstrap_servers + ")") if not settings.embedded_kafka else (
        "broker Kafka embarqué (Tansu, protocole Kafka, en mémoire)" if lang == "fr"
        else "embedded Kafka broker (Tansu, Kafka protocol, in memory)")
    items = [
        f"Kafka : {broker} ; client confluent-kafka {_version('confluent-kafka')}" if lang == "fr"
        else f"Kafka: {broker}; confluent-kafka client {_version('confluent-kafka')}",
        ("Kafka Connect : FileStreamSinkConnector (Apache Kafka 3.9), messages écrits tels quels en staging"
         if lang == "fr" else "Kafka Connect: FileStreamSinkConnector (Apache Kafka 3.9), messages written untouched to staging"),
        f"PySpark {_version('pyspark')}",
        f"dbt-core {_version('dbt-core')} + dbt-sqlite {_version('dbt-sqlite')} (SQLite {sqlite3.sqlite_version})",
        f"Great Expectations {_version('great-expectations')}",
        f"matplotlib {_version('matplotlib')}",
    ]
    return [f"## {t['tools']}", ""] + [f"- {i}" for i in items] + [""]


def _kafka_section(settings: Settings, t: dict[str, str]) -> list[str]:
    shown = settings.redacted()  # secrets masked here, never read raw
    proto = settings.security_protocol.upper()
    keys = list(KAFKA_KEYS)
    if proto in ("SSL", "SASL_SSL"):
        keys += SSL_KEYS
    if proto.startswith("SASL"):
        keys += SASL_KEYS
    keys += CONNECT_KEYS
    rows = []
    for key in keys:
        value = shown[key]
        if key == "bootstrap_servers" and not value:
            value = t["embedded_broker"]
        elif key == "connect_url" and not value:
            value = t["embedded_connect"]
        elif value == "":
            value = MISSING
        rows.append([f"`{key}`", f"`{value}`" if not value.startswith("(") else value])
    return [f"## {t['kafka']}", "", t["kafka_note"], ""] + _table([t["setting"], t["value"]], rows, "ll") + [""]


def _stage_rows(run_summary: dict[str, Any], t: dict[str, str], lang: str) -> list[list[str]]:
    stages = run_summary.get("stages") or []
    if isinstance(stages, dict):
        stages = [{"name": k, **(v if isinstance(v, dict) else {"seconds": v})} for k, v in stages.items()]
    rows = []
    for st in stages:
        name = str(st.get("name") or st.get("stage") or "?")
        label = STAGES[lang].get(name, name)
        rows.append([label, fmt_int(st.get("count"), lang), fmt_number(st.get("seconds"), 2, lang),
                     str(st.get("detail") or "")])
    if run_summary.get("total_seconds") is not None:
        rows.append([f"**{t['total']}**", "", f"**{fmt_number(run_summary['total_seconds'], 2, lang)}**", ""])
    return rows


def _steps_section(data: _Data, run_summary: dict[str, Any] | None, t: dict[str, str], lang: str) -> list[str]:
    out = [f"## {t['steps']}", ""]
    if run_summary:
        rows = _stage_rows(run_summary, t, lang)
        if rows:
            out += _table([t["step"], t["count"], t["seconds"], t["detail"]], rows, "lrrl") + [""]
        counts = run_summary.get("counts") or {}
        if counts:
            labels = COUNT_LABELS[lang]
            sep = " :" if lang == "fr" else ":"
            out += [f"- {labels.get(k, k)}{sep} {fmt_int(v, lang)}" for k, v in counts.items()
                    if isinstance(v, (int, float)) and not isinstance(v, bool)] + [""]
    run = data.last_run
    if run is None:
        return out + [t["no_runs"], ""]
    out += [f"{t['run_counts']} :" if lang == "fr" else f"{t['run_counts']}:", ""]
    rows = [[t[k], fmt_int(run.get(k), lang)] for k in ("lines_read", "clean_count", "quarantined_count",
                                                         "duplicates_removed")]
    rows.append([t["status"], str(run.get("status") or MISSING)])
    out += _table([t["step"], t["count"]], rows, "lr") + [""]
    parts = [run.get(k) for k in ("lines_read", "clean_count", "quarantined_count", "duplicates_removed")]
    if all(isinstance(p, int) for p in parts):
        out += [t["balance_ok"] if parts[0] == sum(parts[1:]) else t["balance_bad"], ""]
    return out


def _stats_section(data: _Data, t: dict[str, str], lang: str) -> list[str]:
    rows = [[r["major"], fmt_int(r["student_count"], lang), fmt_number(r["avg_age"], 2, lang),
             fmt_int(r["min_age"], lang), fmt_int(r["max_age"], lang), fmt_number(r["stddev_age"], 2, lang)]
            for r in data.stats]
    return ([f"## {t['stats']}", ""]
            + _table([t["major"], t["count"], t["mean"], t["min"], t["max"], t["stddev"]], rows, "lrrrrr")
            + ["", f"_{t['stats_note']}_", ""])


def _over20_section(data: _Data, t: dict[str, str], lang: str) -> list[str]:
    rows = [[r["major"], fmt_int(r["student_count"], lang), fmt_number(r["avg_age"], 2, lang)] for r in data.over20]
    return ([f"## {t['over20']}", ""] + _table([t["major"], t["over20_count"], t["avg_age"]], rows, "lrr")
            + ["", f"_{t['over20_note']}_", ""])


def _overview_section(data: _Data, t: dict[str, str], lang: str) -> list[str]:
    s = data.summary
    rows = [[t["major_count"], fmt_int(s.get("major_count"), lang)],
            [t["student_count"], fmt_int(s.get("student_count"), lang)],
            [t["weighted"], fmt_number(s.get("avg_age_weighted"), 2, lang)],
            [t["mean_of_means"], fmt_number(s.get("avg_age_of_major_means"), 2, lang)]]
    return ([f"## {t['overview']}", ""] + _table([t["indicator"], t["value"]], rows, "lr")
            + ["", f"_{t['overview_note']}_", ""])


def _quarantine_section(data: _Data, t: dict[str, str], lang: str) -> list[str]:
    s = data.summary
    sep = " :" if lang == "fr" else ":"
    out = [f"## {t['quarantine']}", "",
           f"- {t['quarantine_total']}{sep} {fmt_int(s.get('quarantine_count'), lang)}",
           f"- {t['quarantine_rate']}{sep} {fmt_percent(s.get('quarantine_rate'), lang)}",
           f"- {t['duplicates_removed']}{sep} {fmt_int(s.get('duplicates_removed'), lang)}", ""]
    if not data.reasons:
        return out + [t["no_quarantine"], ""]
    total = sum(r["n"] for r in data.reasons)
    rows = [[f"`{r['reason']}`", REASONS[lang].get(r["reason"], ""), fmt_int(r["n"], lang),
             fmt_percent(r["n"] / total, lang)] for r in data.reasons]
    return out + _table([t["reason"], t["detail"], t["count"], t["share"]], rows, "llrr") + [""]


def _quality_results(quality: Any) -> tuple[bool | None, list[dict[str, Any]]]:
    if isinstance(quality, list):
        results = quality
        success = None
    elif isinstance(quality, dict):
        results = quality.get("results") or quality.get("expectations") or []
        success = quality.get("success")
    else:
        return None, []
    results = [r for r in results if isinstance(r, dict)]
    if success is None:
        success = all(bool(r.get("success")) for r in results)
    return bool(success), results


def _result_cell(result: dict[str, Any], t: dict[str, str]) -> str:
    if result.get("success"):
        return t["yes"]
    error = str(result.get("error") or "").strip().splitlines()
    return f"{t['no']} ({error[0][:80]})" if error else t["no"]


def _quality_section(data: _Data, settings: Settings, t: dict[str, str], lang: str) -> list[str]:
    out = [f"## {t['quality']}", ""]
    if data.quality is None:
        return out + [t["quality_none"].format(path=f"`{data.quality_path}`"), ""]
    success, results = _quality_results(data.quality)
    passed = sum(1 for r in results if r.get("success"))
    out += [f"{t['quality_ok'] if success else t['quality_bad']} ({passed}/{len(results)} {t['passed']})", ""]
    rows = [[str(r.get("suite", "")), f"`{r.get('table', '')}`", f"`{r['column']}`" if r.get("column") else "",
             f"`{r.get('expectation', '')}`", _result_cell(r, t),
             fmt_int(r.get("unexpected_count"), lang)] for r in results]
    if rows:
        out += _table([t["suite"], t["table"], t["column"], t["expectation"], t["result"], t["unexpected"]],
                      rows, "llllrr") + [""]
    return out


def _files_section(settings: Settings, paths: ReportPaths, data: _Data, t: dict[str, str]) -> list[str]:
    entries: list[tuple[Path, str]] = [(settings.warehouse, t["f_warehouse"])]
    if settings.staging_dir.is_dir():
        entries += [(p, t["f_staging"]) for p in sorted(settings.staging_dir.iterdir()) if p.is_file()]
    if data.quality is not None:
        entries.append((data.quality_path, t["f_quality"]))
        docs = data.quality.get("data_docs") if isinstance(data.quality, dict) else None
        if docs:
            entries.append((Path(docs), t["f_docs"]))
    entries += [(paths.markdown, t["f_report"]), (paths.boxplot, t["f_boxplot"]), (paths.bar_chart, t["f_bars"])]
    rows = [[f"`{p}`", what] for p, what in entries]
    return [f"## {t['files']}", ""] + _table([t["file"], t["what"]], rows, "ll") + [""]


def render_markdown(settings: Settings, data: _Data, paths: ReportPaths, lang: str,
                    run_summary: dict[str, Any] | None, now: dt.datetime) -> str:
    t = TEXT[lang]
    sep = " :" if lang == "fr" else ":"
    run_id = (run_summary or {}).get("run_id") or ((run_summary or {}).get("counts") or {}).get("run_id") or \
        data.summary.get("last_run_id") or (
        data.last_run or {}).get("run_id")
    out = [f"# {t['title']}", "", f"- {t['generated']}{sep} {_date_text(now, lang)}"]
    if run_id:
        out.append(f"- {t['last_run']}{sep} `{run_id}`")
    out.append("")
    out += _tools_section(settings, t, lang)
    out += _kafka_section(settings, t)
    out += _steps_section(data, run_summary, t, lang)
    out += _stats_section(data, t, lang)
    out += _over20_section(data, t, lang)
    out += _overview_section(data, t, lang)
    out += _quarantine_section(data, t, lang)
    out += _quality_section(data, settings, t, lang)
    out += [f"## {t['charts']}", "", f"![{t['box_title']}]({paths.boxplot.name})", "",
            f"![{t['bar_title']}]({paths.bar_chart.name})", ""]
    out += _files_section(settings, paths, data, t)
    return "\n".join(out).rstrip("\n") + "\n"


# --- charts --------------------------------------------------------------------------------------

def _new_figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # headless, no pyplot state
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _fit_labels(ax, n: int) -> None:
    """Horizontal tick labels while they fit (the 8 canonical majors do); slanted beyond."""
    if n > 8:
        ax.tick_params(axis="x", labelrotation=30)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")


def _draw_boxplot(data: _Data, path: Path, t: dict[str, str], lang: str) -> None:
    import numpy as np

    majors = [r["major"] for r in data.stats if data.ages.get(r["major"])]
    fig = _new_figure(10, 6)
    ax = fig.add_subplot()
    if majors:
        series = [np.repeat([a for a, _ in data.ages[m]], [n for _, n in data.ages[m]]) for m in majors]
        labels = [f"{m}\n(n={fmt_int(len(s), lang)})" for m, s in zip(majors, series)]
        ax.boxplot(series, tick_labels=labels, showmeans=True, patch_artist=True,
                   boxprops={"facecolor": "#cfe2f3", "edgecolor": "#1f4e79"},
                   medianprops={"color": "#c0392b", "linewidth": 2},
                   meanprops={"marker": "D", "markerfacecolor": "#f39c12", "markeredgecolor": "#7e5109",
                              "markersize": 6},
                   flierprops={"marker": "o", "markersize": 3, "alpha": 0.4})
        _fit_labels(ax, len(majors))
    else:
        ax.text(0.5, 0.5, t["no_data"], ha="center", va="center", transform=ax.transAxes, fontsize=14)
    fig.suptitle(t["box_title"], fontsize=14)
    ax.set_title(t["box_legend"], fontsize=9, color="#555555")
    ax.set_ylabel(t["box_ylabel"])
    ax.grid(axis="y", alpha=0.3)
    fig.savefig(path, format="png")


def _draw_bar_chart(data: _Data, path: Path, t: dict[str, str], lang: str) -> None:
    rows = sorted(data.stats, key=lambda r: (-(r["student_count"] or 0), r["major"]))
    fig = _new_figure(10, 6)
    ax = fig.add_subplot()
    if rows:
        majors = [r["major"] for r in rows]
        counts = [r["student_count"] or 0 for r in rows]
        bars = ax.bar(majors, counts, color="#2e86c1", edgecolor="#1b4f72")
        ax.bar_label(bars, labels=[fmt_int(c, lang) for c in counts], padding=3, fontsize=10)
        ax.set_ylim(0, max(counts) * 1.12 or 1)
        _fit_labels(ax, len(majors))
    else:
        ax.text(0.5, 0.5, t["no_data"], ha="center", va="center", transform=ax.transAxes, fontsize=14)
    ax.set_title(t["bar_title"], fontsize=14)
    ax.set_ylabel(t["bar_ylabel"])
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    fig.savefig(path, format="png")


# --- entry point -------------------------------------------------------------------------------

def build_report(settings: Settings, lang: str = "fr", run_summary: dict[str, Any] | None = None,
                 *, now: dt.datetime | None = None) -> ReportPaths:
    """Write the markdown report and its two PNG charts under ``<data_dir>/report/``."""
    if lang not in LANGS:
        raise DataError(f"unknown report language {lang!r}", "use --lang fr or --lang en")
    data = _read(settings)
    directory = settings.data_dir / "report"
    directory.mkdir(parents=True, exist_ok=True)
    paths = ReportPaths(directory=directory, markdown=directory / REPORT_NAMES[lang],
                        boxplot=directory / BOXPLOT_NAME, bar_chart=directory / BAR_CHART_NAME)
    t = TEXT[lang]
    _draw_boxplot(data, paths.boxplot, t, lang)
    _draw_bar_chart(data, paths.bar_chart, t, lang)
    now = now or dt.datetime.now(dt.timezone.utc)
    text = render_markdown(settings, data, paths, lang, run_summary, now)
    tmp = paths.markdown.with_suffix(".md.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(paths.markdown)
    return paths
