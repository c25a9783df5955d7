"""The report's typed run summary (ReportRun) and its Babel formatting."""
from __future__ import annotations

import datetime as dt

from studentflow.report import report as rep
from studentflow.report.data import ReportRun, StageRun
from studentflow.report.sections import date_text, fmt_number, fmt_percent
from tests.support.report_warehouse import NOW, make_warehouse


def test_typed_summary_gives_the_same_report_as_the_dict(settings):
    make_warehouse(settings.warehouse)
    as_dict = {"counts": {"produced": 10000, "clean": 9500, "run_id": "run-xyz"},
               "stages": [{"name": "produce", "seconds": 1.234, "count": 10000}], "total_seconds": 42}
    typed = ReportRun(stages=(StageRun("produce", 1.234, 10000),), counts={"produced": 10000, "clean": 9500},
                      total_seconds=42, run_id="run-xyz")
    assert ReportRun.of(as_dict) == typed
    md_dict = rep.build_report(settings, run_summary=as_dict, now=NOW).markdown.read_text(encoding="utf-8")
    md_typed = rep.build_report(settings, run_summary=typed, now=NOW).markdown.read_text(encoding="utf-8")
    assert md_typed == md_dict
    assert "`run-xyz`" in md_typed


def test_numbers_percent_and_dates_by_locale():
    assert fmt_number(1234.5, 2, "fr") == "1\u202f234,50" and fmt_number(1234.5, 2, "en") == "1,234.50"
    assert fmt_number(12.345, 2, "en") == "12.35"           # the float's own rounding, as before Babel
    assert fmt_number(None, 2, "fr") == "—"
    assert fmt_percent(0.125, "fr") == "12,50\u00a0%" and fmt_percent(0.125, "en") == "12.50%"
    now = dt.datetime(2026, 11, 27, 10, 30, tzinfo=dt.timezone.utc)
    assert date_text(now, "fr") == "27 novembre 2026 à 10:30 UTC"
    assert date_text(now, "en") == "2026-11-27 10:30 UTC"
