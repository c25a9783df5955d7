"""The original method's parsing function on the original messages, and what it gets wrong."""
from __future__ import annotations

import json

import pytest

from bench import analysis
from bench.baseline_original import parse_message
from producer import generate


@pytest.mark.parametrize("text, expected", [
    # the message forms of the original topic (DESIGN.md, "Where it comes from")
    ('{"first_name": "Claire", "last_name": "Lemoine", "age": 21, "major": "Chimie"}',
     {"first_name": "Claire", "last_name": "Lemoine", "age": 21, "major": "Chimie"}),
    ("Alice,Dupont,22,Informatique", {"first_name": "Alice", "last_name": "Dupont", "age": 22, "major": "Informatique"}),
    ("Bob,Martin,age:19,Physique", {"first_name": "Bob", "last_name": "Martin", "age": 19, "major": "Physique"}),
    ("hello kafka", None),
    ("", None),
])
def test_original_forms(text, expected):
    assert parse_message(text) == expected


def test_json_first_keeps_spacing_and_case_of_major():
    rec = parse_message(json.dumps({"first_name": "A", "last_name": "B", "age": 30, "major": "  biologie  "}))
    assert rec["major"] == "  biologie  "   # no canonicalization: a separate group downstream


def test_no_range_check_and_string_age_goes_through_int():
    assert parse_message('{"first_name":"A","last_name":"B","age":140,"major":"Art"}')["age"] == 140
    assert parse_message('{"first_name":"A","last_name":"B","age":"22","major":"Chimie"}')["age"] == 22


@pytest.mark.parametrize("text", [
    '{"first_name":"A","last_name":"B","age":"vingt","major":"Chimie"}',   # int() refuses
    '{"first_name":"A","last_name":"B","major":"Chimie"}',                 # missing age
    '{"first_name":"A","age":20,"major":"Chimie"}',                        # missing name
    "[1, 2, 3]",                                                           # JSON, not an object
    "a,b,c",                                                               # three fields
    "Alice,Dupont,vingt,Chimie",                                           # no digits anywhere
])
def test_dropped_silently(text):
    assert parse_message(text) is None


def test_truncated_json_can_become_a_wrong_row():
    # four comma-separated pieces: the flexible age extraction finds the year of a timestamp
    rec = parse_message('{"event_id":"x","student_id":"y","emitted_at":"2025-09-01T08:00:00Z","sch')
    assert rec is not None and rec["age"] == 2025


def test_original_outcomes_on_generated_messages():
    gen = generate.Generator(seed=3, majors=("Chimie", "Biologie"), malformed_rate=0.5)
    msgs = list(gen.messages(3000))
    out = analysis.original_outcomes(msgs, parse_message, generate.EXPECTED)
    t = out["totals"]
    assert t["messages"] == 3000 == t["original_kept"] + t["original_dropped"]
    by = out["by_kind"]
    for kind in ("non_student_text", "empty", "missing_age", "missing_major", "missing_name", "age_not_a_number"):
        assert by[kind]["original_kept"] == 0 and by[kind]["original_dropped"] == by[kind]["count"] > 0
    for kind in ("valid", "csv_like", "age_key_value", "missing_event_id", "age_as_string"):
        assert by[kind]["original_dropped"] == 0
    # what studentflow quarantines or dedupes but the original keeps
    assert t["accepted_invalid"] >= by["age_out_of_range"]["count"] + by["unknown_major"]["count"]
    assert t["accepted_duplicates"] == by["duplicate"]["count"] > 0
    assert t["kept_uncanonical"] == by["major_spacing_case"]["count"] > 0
    assert t["dropped_salvageable"] == 0
    assert t["dropped_quarantinable"] == t["original_dropped"]
    expected = analysis.expected_studentflow_counts(by, generate.EXPECTED)
    assert sum(expected["verdicts"].values()) == 3000
    assert expected["by_reason"]["age_out_of_range"] == by["age_out_of_range"]["count"] + by["age_negative"]["count"]
