"""The report as a list of blocks (headings, lists, tables, notes, images), built once, and the
text of the numbers and dates they show.

The markdown report and the HTML page render the same blocks with their own Jinja2 template
(templates/report.md.j2, templates/page.html.j2): one wording, one set of tables.
"""
from __future__ import annotations

import datetime as dt
import re
import sqlite3
from decimal import Decimal
from importlib import metadata
from pathlib import Path
from typing import Any

from studentflow.core.config import Settings
from studentflow.core.staging import staging_files
from studentflow.report.data import ReportData, ReportRun
from studentflow.report.marts import MartTable, anchor, is_number
from studentflow.report.texts import (CONNECT_KEYS, COUNT_LABELS, KAFKA_KEYS, MISSING, REASONS, SASL_KEYS, SSL_KEYS,
                                      STAGES, TEXT)


def h1(text: str) -> dict:
    return {"k": "h1", "text": text}


def h2(text: str) -> dict:
    return {"k": "h2", "text": text}


def literal(block: dict, **extra: str) -> dict:
    """``block`` with its text taken as plain text (a project file's or the warehouse's value),
    escaped by each template rather than read as markup."""
    return {**block, "lit": True, **extra}


def p(text: str) -> dict:
    return {"k": "p", "text": text}


def note(text: str) -> dict:
    return {"k": "note", "text": text}


def ul(items: list[str]) -> dict:
    return {"k": "ul", "items": list(items)}


def table(headers: list[str], rows: list[list[str]], align: str) -> dict:
    """``align`` has one letter per column: l(eft) or r(ight)."""
    return {"k": "table", "headers": headers, "rows": [[str(c) for c in row] for row in rows], "align": align}


def img(alt: str, src: str) -> dict:
    return {"k": "img", "alt": alt, "src": src}


def link(text: str, label: str, href: str) -> dict:
    """A sentence ending with a link (the page only)."""
    return {"k": "link", "text": text, "label": label, "href": href}


# --- number and date formatting (Babel, CLDR locale data) ---------------------------------------
# Beside the sections that show the figures; the charts label their bars with fmt_int too.
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


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "?"


def _tools_section(settings: Settings, t: dict[str, str], lang: str) -> list[dict]:
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
    return [h2(t["tools"]), ul(items)]


def _kafka_section(settings: Settings, t: dict[str, str]) -> list[dict]:
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
    return [h2(t["kafka"]), p(t["kafka_note"]), table([t["setting"], t["value"]], rows, "ll")]


def _stage_rows(run: ReportRun, t: dict[str, str], lang: str) -> list[list[str]]:
    rows = [[STAGES[lang].get(st.name, st.name), fmt_int(st.count, lang), fmt_number(st.seconds, 2, lang), st.detail]
            for st in run.stages]
    if run.total_seconds is not None:
        rows.append([f"**{t['total']}**", "", f"**{fmt_number(run.total_seconds, 2, lang)}**", ""])
    return rows


def _steps_section(data: ReportData, run_summary: ReportRun | None, t: dict[str, str], lang: str) -> list[dict]:
    out = [h2(t["steps"])]
    if run_summary:
        rows = _stage_rows(run_summary, t, lang)
        if rows:
            out.append(table([t["step"], t["count"], t["seconds"], t["detail"]], rows, "lrrl"))
        if run_summary.counts:
            labels = COUNT_LABELS[lang]
            sep = " :" if lang == "fr" else ":"
            out.append(ul([f"{labels.get(k, k)}{sep} {fmt_int(v, lang)}" for k, v in run_summary.counts.items()]))
    run = data.last_run
    if run is None:
        return out + [p(t["no_runs"])]
    out.append(p(f"{t['run_counts']} :" if lang == "fr" else f"{t['run_counts']}:"))
    rows = [[t[k], fmt_int(run.get(k), lang)] for k in ("lines_read", "clean_count", "quarantined_count",
                                                         "duplicates_removed")]
    rows.append([t["status"], str(run.get("status") or MISSING)])
    out.append(table([t["step"], t["count"]], rows, "lr"))
    parts = [run.get(k) for k in ("lines_read", "clean_count", "quarantined_count", "duplicates_removed")]
    if all(isinstance(x, int) for x in parts):
        out.append(p(t["balance_ok"] if parts[0] == sum(parts[1:]) else t["balance_bad"]))
    return out


def _stats_section(data: ReportData, t: dict[str, str], lang: str) -> list[dict]:
    rows = [[r["major"], fmt_int(r["student_count"], lang), fmt_number(r["avg_age"], 2, lang),
             fmt_number(r["median_age"], 2, lang), fmt_int(r["min_age"], lang), fmt_int(r["max_age"], lang),
             fmt_number(r["stddev_age"], 2, lang)]
            for r in data.stats]
    return [h2(t["stats"]),
            table([t["major"], t["count"], t["mean"], t["median"], t["min"], t["max"], t["stddev"]], rows, "lrrrrrr"),
            note(t["stats_note"])]


def _over20_section(data: ReportData, t: dict[str, str], lang: str) -> list[dict]:
    rows = [[r["major"], fmt_int(r["student_count"], lang), fmt_number(r["avg_age"], 2, lang)] for r in data.over20]
    return [h2(t["over20"]), table([t["major"], t["over20_count"], t["avg_age"]], rows, "lrr"), note(t["over20_note"])]


def _overview_section(data: ReportData, t: dict[str, str], lang: str) -> list[dict]:
    s = data.summary
    rows = [[t["major_count"], fmt_int(s.get("major_count"), lang)],
            [t["student_count"], fmt_int(s.get("student_count"), lang)],
            [t["weighted"], fmt_number(s.get("avg_age_weighted"), 2, lang)],
            [t["mean_of_means"], fmt_number(s.get("avg_age_of_major_means"), 2, lang)]]
    return [h2(t["overview"]), table([t["indicator"], t["value"]], rows, "lr"), note(t["overview_note"])]


def _cell(value: Any, lang: str) -> str:
    if value is None:
        return MISSING
    if is_number(value):
        return fmt_int(value, lang) if isinstance(value, int) else fmt_number(value, 2, lang)
    return str(value)


def _mart_section(mart: MartTable, t: dict[str, str], lang: str) -> list[dict]:
    """Any other mart: its title, description, columns and first rows, as they are in the warehouse."""
    info = mart.info
    out = [literal(h2(info.titles[lang]), id=anchor(info.name))]
    if info.descriptions[lang]:
        out.append(literal(p(info.descriptions[lang])))
    if mart.rows:
        align = "".join("r" if any(r[i] is not None for r in mart.rows)
                        and all(r[i] is None or is_number(r[i]) for r in mart.rows) else "l"
                        for i in range(len(mart.columns)))
        out.append(literal(table(mart.columns, [[_cell(v, lang) for v in row] for row in mart.rows], align)))
    else:
        out.append(p(t["mart_empty"]))
    if mart.total > len(mart.rows):
        out.append(p(t["mart_rows"].format(shown=fmt_int(len(mart.rows), lang), total=fmt_int(mart.total, lang))))
    if re.fullmatch(r"\w+", info.name):   # a name that is an identifier shows as code
        return out + [note(t["mart_note"].format(name=f"`{info.name}`"))]
    return out + [literal(note(t["mart_note"].format(name=info.name)))]


def _quarantine_section(data: ReportData, t: dict[str, str], lang: str) -> list[dict]:
    s = data.summary
    sep = " :" if lang == "fr" else ":"
    out = [h2(t["quarantine"]),
           ul([f"{t['quarantine_total']}{sep} {fmt_int(s.get('quarantine_count'), lang)}",
               f"{t['quarantine_rate']}{sep} {fmt_percent(s.get('quarantine_rate'), lang)}",
               f"{t['duplicates_removed']}{sep} {fmt_int(s.get('duplicates_removed'), lang)}"])]
    if not data.reasons:
        return out + [p(t["no_quarantine"])]
    total = sum(r["n"] for r in data.reasons)
    rows = [[f"`{r['reason']}`", REASONS[lang].get(r["reason"], ""), fmt_int(r["n"], lang),
             fmt_percent(r["n"] / total, lang)] for r in data.reasons]
    return out + [table([t["reason"], t["detail"], t["count"], t["share"]], rows, "llrr")]


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


def _quality_section(data: ReportData, settings: Settings, t: dict[str, str], lang: str) -> list[dict]:
    out = [h2(t["quality"])]
    if data.quality is None:
        return out + [p(t["quality_none"].format(path=f"`{data.quality_path}`"))]
    success, results = _quality_results(data.quality)
    passed = sum(1 for r in results if r.get("success"))
    out.append(p(f"{t['quality_ok'] if success else t['quality_bad']} ({passed}/{len(results)} {t['passed']})"))
    rows = [[str(r.get("suite", "")), f"`{r.get('table', '')}`", f"`{r['column']}`" if r.get("column") else "",
             f"`{r.get('expectation', '')}`", _result_cell(r, t),
             fmt_int(r.get("unexpected_count"), lang)] for r in results]
    if rows:
        out.append(table([t["suite"], t["table"], t["column"], t["expectation"], t["result"], t["unexpected"]],
                         rows, "llllrr"))
    return out


def _files_section(settings: Settings, paths, data: ReportData, t: dict[str, str]) -> list[dict]:
    entries: list[tuple[Path, str]] = [(settings.warehouse, t["f_warehouse"])]
    entries += [(p, t["f_staging"]) for p in staging_files(settings.staging_dir, must_exist=False)]
    if data.quality is not None:
        entries.append((data.quality_path, t["f_quality"]))
        docs = data.quality.get("data_docs") if isinstance(data.quality, dict) else None
        if docs:
            entries.append((Path(docs), t["f_docs"]))
    entries += [(paths.markdown, t["f_report"]), (paths.boxplot, t["f_boxplot"]), (paths.bar_chart, t["f_bars"])]
    rows = [[f"`{p}`", what] for p, what in entries]
    return [h2(t["files"]), table([t["file"], t["what"]], rows, "ll")]


def report_blocks(settings: Settings, data: ReportData, paths, lang: str,
                  run_summary: ReportRun | None, now: dt.datetime) -> list[dict]:
    """The markdown report's blocks, in order."""
    t = TEXT[lang]
    sep = " :" if lang == "fr" else ":"
    run_id = (run_summary.run_id if run_summary else None) or \
        data.summary.get("last_run_id") or (data.last_run or {}).get("run_id")
    header = [f"{t['generated']}{sep} {date_text(now, lang)}"]
    if run_id:
        header.append(f"{t['last_run']}{sep} `{run_id}`")
    out = [h1(t["title"]), ul(header)]
    out += _tools_section(settings, t, lang)
    out += _kafka_section(settings, t)
    out += _steps_section(data, run_summary, t, lang)
    out += _stats_section(data, t, lang)
    out += _over20_section(data, t, lang)
    out += _overview_section(data, t, lang)
    for mart in data.marts:
        out += _mart_section(mart, t, lang)
    out += _quarantine_section(data, t, lang)
    out += _quality_section(data, settings, t, lang)
    out += [h2(t["charts"]), img(t["box_title"], paths.boxplot.name), img(t["bar_title"], paths.bar_chart.name)]
    out += _files_section(settings, paths, data, t)
    return out
