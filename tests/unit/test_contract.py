"""The contract's facts, repeated only where Python cannot import them, agree with
studentflow/core/contract.py (the dbt vars are checked in test_dbt_project.py, dbt's accepted reasons in
test_normalize_rules.py)."""
from __future__ import annotations

import json

from connect import rest
from producer import generate
from studentflow.core import contract
from studentflow.report import texts


def test_the_staging_sink_writes_the_contract_staging_file():
    sink = json.loads((rest.CONNECTORS_DIR / "staging-sink.json").read_text(encoding="utf-8"))
    assert sink["config"]["file"] == "${env:STUDENTFLOW_STAGING_DIR}/" + contract.STAGING_FILE


def test_every_reason_has_both_labels_and_the_report_shows_them():
    for code, labels in contract.REASON_LABELS.items():
        assert len(labels) == 2 and all(label.strip() for label in labels), code
    for lang in texts.LANGS:
        assert tuple(texts.REASONS[lang]) == contract.REASONS, lang


def test_the_producer_expects_only_contract_verdicts_rules_and_reasons():
    for kind, (verdict, detail) in generate.ALL_EXPECTED.items():
        assert verdict in contract.VERDICTS, kind
        if verdict == "clean":
            assert detail in contract.RULES, kind
        elif verdict == "quarantine":
            assert detail in contract.REASONS, kind


def test_the_source_tables_are_the_contract_tables():
    assert contract.SOURCE_TABLES == (contract.CLEAN_TABLE, contract.QUARANTINE_TABLE, contract.RUNS_TABLE)
    assert contract.CLEAN_COLUMNS[:len(contract.CONTRACT_FIELDS)] == contract.CONTRACT_FIELDS
