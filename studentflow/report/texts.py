"""The report's words and number formats, French and English (shared by the markdown and the page)."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from studentflow.core.contract import REASON_LABELS

LANGS = ("fr", "en")
MISSING = "—"

TEXT: dict[str, dict[str, str]] = {
    "fr": {
        "median": "Médiane",
        "page_title": "studentflow : rapport et documentation",
        "history": "Historique des exécutions (`pipeline_runs`)",
        "history_shown": "Les {shown} exécutions les plus récentes sur {total} ; toutes sont dans",
        "history_csv": "l'historique complet (CSV)",
        "run": "Exécution",
        "finished": "Fin",
        "rate": "Taux de quarantaine",
        "trend_title": "Évolution des exécutions",
        "trend_counts": "Lignes",
        "trend_rate": "Taux de quarantaine (%)",
        "trend_seconds": "Durée Spark (s)",
        "reasons_title": "Lignes en quarantaine par raison",
        "links": "Documentation",
        "dbt_docs": "Documentation dbt (modèles, lignage, exposition `student_report`)",
        "gx_docs": "Data Docs Great Expectations",
        "missing_docs": "pas encore générée : {cmd}",
        "empty_title": "Rien à montrer pour l'instant",
        "empty_body": "Aucun entrepôt n'a été trouvé ({path}). Lancez le pipeline, puis rechargez cette page :",
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
        "mart_note": "Source : mart dbt {name}.",
        "mart_rows": "Les {shown} premières lignes sur {total}.",
        "mart_empty": "Aucune ligne.",
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
        "median": "Median",
        "page_title": "studentflow: report and documentation",
        "history": "Run history (`pipeline_runs`)",
        "history_shown": "The {shown} newest runs of {total}; every run is in",
        "history_csv": "the whole history (CSV)",
        "run": "Run",
        "finished": "Finished",
        "rate": "Quarantine rate",
        "trend_title": "Runs over time",
        "trend_counts": "Lines",
        "trend_rate": "Quarantine rate (%)",
        "trend_seconds": "Spark time (s)",
        "reasons_title": "Quarantined lines by reason",
        "links": "Documentation",
        "dbt_docs": "dbt documentation (models, lineage, the `student_report` exposure)",
        "gx_docs": "Great Expectations Data Docs",
        "missing_docs": "not generated yet: {cmd}",
        "empty_title": "Nothing to show yet",
        "empty_body": "No warehouse was found ({path}). Run the pipeline, then reload this page:",
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
        "mart_note": "Source: dbt mart {name}.",
        "mart_rows": "The first {shown} rows of {total}.",
        "mart_empty": "No rows.",
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

# reason code -> its label in each language (the labels are the contract's, beside the codes)
REASONS = {lang: {code: labels[i] for code, labels in REASON_LABELS.items()} for i, lang in enumerate(LANGS)}

# stage name -> (fr, en); `apply`, `stage` and `staging` are other names the run summary may use
_STAGE_LABELS = {
    "stack": ("Démarrage de la pile (broker + Kafka Connect)", "Stack start (broker + Kafka Connect)"),
    "topic": ("Création du topic", "Topic creation"),
    "connect": ("Application des connecteurs", "Connector apply"),
    "produce": ("Production des événements (Kafka)", "Event production (Kafka)"),
    "sink": ("Staging (connecteur Kafka Connect)", "Staging (Kafka Connect sink)"),
    "normalize": ("Normalisation (PySpark)", "Normalization (PySpark)"),
    "transform": ("Transformation (dbt)", "Transformation (dbt)"),
    "validate": ("Qualité (Great Expectations)", "Quality (Great Expectations)"),
    "report": ("Rapport", "Report"),
}
_STAGE_ALIASES = {"apply": "connect", "stage": "sink", "staging": "sink"}
STAGES = {lang: {**{k: v[i] for k, v in _STAGE_LABELS.items()},
                 **{a: _STAGE_LABELS[k][i] for a, k in _STAGE_ALIASES.items()}}
          for i, lang in enumerate(("fr", "en"))}

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

KAFKA_KEYS = ("bootstrap_servers", "topic", "topic_partitions", "security_protocol")
SSL_KEYS = ("ssl_ca_location", "ssl_certificate_location", "ssl_key_location", "ssl_key_password")
SASL_KEYS = ("sasl_mechanism", "sasl_username", "sasl_password")
CONNECT_KEYS = ("connect_url", "connect_mode")


# --- number and date formatting (Babel, CLDR locale data) ---------------------------------------
LOCALES = {"fr": "fr_FR", "en": "en_US"}
PERCENT_PATTERNS = {"fr": "#,##0.00\u00a0%", "en": "#,##0.00%"}
DATE_PATTERNS = {"fr": "d MMMM y 'à' HH:mm", "en": "yyyy-MM-dd HH:mm"}


def _exact(value: Any) -> Decimal:
    # the float's exact binary value: rounding then matches Python's own (half-even on that value)
    return Decimal(float(value))


def fmt_number(value: Any, decimals: int, lang: str) -> str:
    """Consistent number text: fixed decimals, French uses a decimal comma and a narrow no-break
    space as thousands separator (``1 234,50``), English ``1,234.50``; None is an em dash."""
    from babel.numbers import format_decimal

    if value is None:
        return MISSING
    number = _exact(value) if decimals else int(round(float(value)))
    return format_decimal(number, format="#,##0" + ("." + "0" * decimals if decimals else ""),
                          locale=LOCALES[lang])


def fmt_int(value: Any, lang: str) -> str:
    return fmt_number(value, 0, lang)


def fmt_percent(value: Any, lang: str) -> str:
    """A share (0..1) as a percentage with two decimals: ``12,50 %`` / ``12.50%``."""
    from babel.numbers import format_percent

    if value is None:
        return MISSING
    return format_percent(_exact(float(value) * 100) / 100, format=PERCENT_PATTERNS[lang], locale=LOCALES[lang])


def date_text(now: dt.datetime, lang: str) -> str:
    from babel.dates import format_datetime

    tz = now.strftime("%Z") or now.strftime("%z")
    return f"{format_datetime(now, DATE_PATTERNS[lang], tzinfo=now.tzinfo, locale=LOCALES[lang])} {tz}".rstrip()
