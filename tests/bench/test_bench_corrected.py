"""The corrected original's parse and judgement, on hand-written messages with their verdicts written out.

The reference is the project's own seeds (dbt_project/seeds: what studentflow reads) and the
default age range 15..100; every expected verdict and kept record below is written by hand.
"""
from __future__ import annotations

import pytest

from bench.corrected_original import Judge, reference_from_settings
from studentflow.core import config


def judge() -> Judge:
    return Judge(reference_from_settings(config.load(env={})), 15, 100)


J = '{{"event_id": "{eid}", "first_name": "Ana", "last_name": "Roy", "age": {age}, "major": "{major}"}}'

# (message, verdict, the kept record's (age, major) or None), judged in this order by ONE judge
MESSAGES = [
    (J.format(eid="e1", age=22, major="Informatique"), "kept", (22, "Informatique")),
    (J.format(eid="e2", age=30, major="  biologie  "), "kept", (30, "Biologie")),        # spacing and case
    (J.format(eid="e3", age=19, major="CS"), "kept", (19, "Informatique")),              # an alias
    (J.format(eid="e4", age=40, major="Économie"), "kept", (40, "Economie")),            # alias with an accent
    (J.format(eid="e5", age=25, major="Astrologie"), "unknown_major", None),
    (J.format(eid="e6", age=140, major="Chimie"), "age_out_of_range", None),
    (J.format(eid="e7", age=7, major="Chimie"), "age_out_of_range", None),
    (J.format(eid="e8", age=15, major="Chimie"), "kept", (15, "Chimie")),                # bounds are inclusive
    (J.format(eid="e9", age=100, major="Physique"), "kept", (100, "Physique")),
    (J.format(eid="e1", age=22, major="Informatique"), "duplicate", None),               # same event id again
    (J.format(eid="e1", age=23, major="Chimie"), "duplicate", None),                     # the id decides, not the text
    (J.format(eid="e6", age=50, major="Chimie"), "kept", (50, "Chimie")),                # e6 was never kept
    ('{"event_id": "e10", "first_name": "A", "last_name": "B", "age": 30}', "unknown_major", None),  # major ''
    ('{"event_id": "e11", "first_name": "A", "last_name": "B", "major": "Chimie"}', "age_out_of_range", None),  # 0
    ('{"event_id": "e12", "age": "22", "major": "Philosophie"}', "kept", (22, "Philosophie")),  # names not judged
    ('{"event_id": "e13", "age": 22, "major": 7}', "unknown_major", None),                # a number is no major
    ('{"event_id": "e14", "age": "vingt", "major": "Chimie"}', "unparsed", None),
    ("Alice,Dupont,22,Informatique", "kept", (22, "Informatique")),                       # CSV: the text is the id
    ("Alice,Dupont,22,Informatique", "duplicate", None),
    ("Alice,Dupont,22,Informatique,extra", "kept", (22, "Informatique")),                  # a 5th field: ignored
    ("Bob,Martin,age:19,Physique", "kept", (19, "Physique")),
    ("Bob,Martin,age:-3,Physique", "age_out_of_range", None),                             # the digits give 3
    ("Carl,Petit, 33 ,  Maths ", "kept", (33, "Mathématiques")),                           # unstripped, folded
    ("a,b,c", "unparsed", None),
    ("hello kafka", "unparsed", None),
    ("", "unparsed", None),
    ('{"event_id": "e15", "first_name": "A"', "unparsed", None),                           # truncated JSON
    ('{"first_name": "A", "last_name": "B", "age": 21, "major": "Chimie"}', "kept", (21, "Chimie")),  # no id
    ('{"first_name": "A", "last_name": "B", "age": 21, "major": "Chimie"}', "duplicate", None),
]


def test_verdicts_of_hand_written_messages():
    j = judge()
    got = []
    for text, _verdict, _kept in MESSAGES:
        verdict, record = j.judge(text, log=lambda _m: None)
        got.append((text, verdict, None if record is None else (record["age"], record["major"])))
    assert got == [(t, v, k) for t, v, k in MESSAGES]
    assert dict(j.counts) == {"kept": 13, "unparsed": 5, "unknown_major": 3, "age_out_of_range": 4, "duplicate": 4}


def test_keep_parsed_is_judge_over_a_list():
    from bench.baseline_original import parse_event

    msgs = [t for t, _v, _k in MESSAGES]
    j = judge()
    kept = j.keep_parsed(msgs, [parse_event(m, lambda _m: None) for m in msgs])
    assert [(r["age"], r["major"]) for r in kept] == [k for _t, v, k in MESSAGES if v == "kept"]
    assert kept[0] == {"first_name": "Ana", "last_name": "Roy", "age": 22, "major": "Informatique"}


@pytest.mark.parametrize("age_min, age_max, age, verdict", [(18, 30, 17, "age_out_of_range"), (18, 30, 18, "kept"),
                                                             (18, 30, 31, "age_out_of_range")])
def test_the_age_range_is_the_one_given(age_min, age_max, age, verdict):
    j = Judge(reference_from_settings(config.load(env={})), age_min, age_max)
    assert j.judge(J.format(eid="x", age=age, major="Chimie"))[0] == verdict
