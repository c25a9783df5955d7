"""The original method's parsing function (with the notebook's quirks), its report, and what it gets wrong."""
from __future__ import annotations

import json

import pytest

from bench import analysis
from bench.baseline_original import Phases, markdown_report, parse_message
from producer import generate, malformed


def quiet(text):
    printed = []
    return parse_message(text, log=printed.append), printed


@pytest.mark.parametrize("text, expected", [
    # the message forms of the original topic (docs/architecture.md, "Where it comes from")
    ('{"first_name": "Claire", "last_name": "Lemoine", "age": 21, "major": "Chimie"}',
     {"first_name": "Claire", "last_name": "Lemoine", "age": 21, "major": "Chimie"}),
    ("Alice,Dupont,22,Informatique", {"first_name": "Alice", "last_name": "Dupont", "age": 22, "major": "Informatique"}),
    ("Bob,Martin,age:19,Physique", {"first_name": "Bob", "last_name": "Martin", "age": 19, "major": "Physique"}),
])
def test_original_forms(text, expected):
    rec, printed = quiet(text)
    assert rec == expected and printed == []


def test_json_missing_fields_kept_as_empty_and_zero():
    rec, printed = quiet('{"first_name":"A","major":"Chimie"}')
    assert rec == {"first_name": "A", "last_name": "", "age": 0, "major": "Chimie"} and printed == []
    assert quiet('{"first_name":"A","last_name":"B","age":30}')[0]["major"] == ""
    assert quiet("{}")[0] == {"first_name": "", "last_name": "", "age": 0, "major": ""}


def test_flexible_age_joins_every_digit_of_the_age_part():
    assert quiet("Bob,Martin,age: 1 9,Physique")[0]["age"] == 19
    assert quiet("Bob,Martin,age:-3,Physique")[0]["age"] == 3          # the sign is not a digit
    assert quiet("Bob,Martin,AGE=2a1,Physique")[0]["age"] == 21
    # CSV fields as written (the notebook did not strip them: "  biologie  " is its own group)
    assert quiet("Bob, Martin , age:19 ,  biologie  ")[0] == {"first_name": "Bob", "last_name": " Martin ",
                                                               "age": 19, "major": "  biologie  "}
    assert quiet("Alice,Dupont, 22 ,Chimie")[0]["age"] == 22             # int() ignores the spaces


def test_csv_takes_the_first_four_fields():
    assert quiet("Alice,Dupont,22,Chimie,extra,more")[0] == {"first_name": "Alice", "last_name": "Dupont",
                                                            "age": 22, "major": "Chimie"}
    # a truncated JSON event with four commas or more is CSV to the notebook: the first field
    # holding "age" gives the digits of its value
    rec, printed = quiet('{"event_id":"x","student_id":"y","emitted_at":"2025","age":23,"ma')
    assert rec == {"first_name": '{"event_id":"x"', "last_name": '"student_id":"y"', "age": 23,
                   "major": '"age":23'} and printed == []


def test_json_first_keeps_spacing_and_case_of_major():
    rec, _ = quiet(json.dumps({"first_name": "A", "last_name": "B", "age": 30, "major": "  biologie  "}))
    assert rec["major"] == "  biologie  "   # no canonicalization: a separate group downstream


def test_no_range_check_and_int_of_json_age():
    assert quiet('{"first_name":"A","last_name":"B","age":140,"major":"Art"}')[0]["age"] == 140
    assert quiet('{"first_name":"A","last_name":"B","age":"22","major":"Chimie"}')[0]["age"] == 22
    assert quiet('{"first_name":"A","last_name":"B","age":22.9,"major":"Chimie"}')[0]["age"] == 22


@pytest.mark.parametrize("text", [
    '{"first_name":"A","last_name":"B","age":"vingt","major":"Chimie"}',   # int() refuses: dropped, not CSV
    '{"first_name":"A","last_name":"B","age":null,"major":"Chimie"}',      # int(None)
    "[1, 2, 3]",                                                           # JSON, not an object
    "42",
    "hello kafka",
    "",
    "a,b,c",                                                               # three fields
    "Alice,Dupont,vingt,Chimie",                                           # no field holds "age"
    "Alice,Dupont,age:,Chimie",                                            # an age part without digits
    '{"event_id":"x","student_id":"y","emitted_at":"2025-09-01T08:00:00Z","sch',  # truncated: no age part
])
def test_dropped_with_one_print_each(text):
    rec, printed = quiet(text)
    assert rec is None
    assert len(printed) == 1 and printed[0].startswith("Erreur de parsing")


def test_print_is_the_default_trace(capsys):
    assert parse_message("hello kafka") is None
    assert "Erreur de parsing" in capsys.readouterr().out


def test_phases_are_consecutive():
    ticks = iter([10.0, 10.5, 12.0, 12.25])
    ph = Phases(clock=lambda: next(ticks))
    ph.mark("subscribe")
    ph.mark("spark_startup")
    ph.mark("consume")
    assert ph.timings == {"subscribe": 0.5, "spark_startup": 1.5, "consume": 0.25}
    assert ph.total() == 2.25 and list(ph.timings) == ["subscribe", "spark_startup", "consume"]


def test_markdown_report_table():
    pd = pytest.importorskip("pandas")
    pdf = pd.DataFrame({"major": ["Chimie", "Chimie", "  biologie  "], "age": [20, 22, 30]})
    stats = pdf.groupby("major")["age"].describe()
    text = markdown_report(stats, float(stats["mean"].mean()), float(pdf["age"].mean()), 2, 3)
    assert text.startswith("# Rapport de Traitement de Données Étudiantes")
    assert "| Filière | Nombre | Moyenne | Min | Max | Écart-type |" in text
    assert "| Chimie | 2 | 21.00 | 20 | 22 | 1.41 |" in text
    assert "|   biologie   | 1 | 30.00 | 30 | 30 |  |" in text          # one student: no std
    assert "(moyenne des moyennes par filière) : 25.50" in text   # (21 + 30) / 2
    assert "(tous les étudiants) : 24.00" in text


def test_original_outcomes_on_generated_messages():
    gen = generate.Generator(seed=3, majors=("Chimie", "Biologie"), malformed_rate=0.5)
    msgs = list(gen.messages(3000))
    out = analysis.original_outcomes(msgs, lambda t: parse_message(t, log=lambda _m: None), malformed.EXPECTED)
    t = out["totals"]
    assert t["messages"] == 3000 == t["original_kept"] + t["original_dropped"]
    by = out["by_kind"]
    for kind in ("non_student_text", "empty", "age_not_a_number"):
        assert by[kind]["original_kept"] == 0 and by[kind]["original_dropped"] == by[kind]["count"] > 0
    # cut after a few fields: dropped; cut after four commas or more: CSV to the notebook, kept
    assert 0 < by["truncated_json"]["original_kept"] < by["truncated_json"]["count"]
    # missing fields are kept as ''/0: studentflow quarantines them, the original counts them
    for kind in ("missing_age", "missing_major", "missing_name", "age_out_of_range", "unknown_major"):
        assert by[kind]["original_dropped"] == 0 and by[kind]["original_kept"] > 0
    for kind in ("valid", "csv_like", "age_key_value", "missing_event_id", "age_as_string"):
        assert by[kind]["original_dropped"] == 0
    assert t["accepted_invalid"] >= (by["age_out_of_range"]["count"] + by["unknown_major"]["count"]
                                     + by["missing_age"]["count"] + by["missing_major"]["count"])
    assert t["accepted_duplicates"] == by["duplicate"]["count"] > 0
    assert t["kept_uncanonical"] == by["major_spacing_case"]["count"] > 0
    assert t["dropped_salvageable"] == 0
    assert t["dropped_quarantinable"] == t["original_dropped"]
    expected = analysis.expected_studentflow_counts(by, malformed.EXPECTED)
    assert sum(expected["verdicts"].values()) == 3000


class FakeMessage:
    def __init__(self, value):
        self._value = value

    def value(self):
        return self._value

    def error(self):
        return None


class FakeConsumer:
    """Stands in for the Kafka client (the loop's logic only; bench.compare runs it on the real
    broker): each poll returns the next item and advances a fake clock by one second."""

    def __init__(self, items, clock):
        self.items, self.clock, self.closed = list(items), clock, False

    def poll(self, timeout):
        self.clock["t"] += timeout
        return FakeMessage(self.items.pop(0)) if self.items and self.items[0] is not None else \
            (self.items.pop(0) if self.items else None)

    def close(self):
        self.closed = True


def test_the_loop_ends_after_idle_seconds_without_a_message():
    from bench.baseline_original import consume
    clock = {"t": 0.0}
    # two empty polls (the group join) before the first message, a gap of two shorter than the
    # idle time, then nothing: the loop reads all five and stops on its own, no count given
    items = [None, None, b"a", b"b", None, None, b"c", b"d", "e".encode()]
    c = FakeConsumer(items, clock)
    msgs, idle = consume(c, idle=3.0, first_timeout=300.0, clock=lambda: clock["t"])
    assert msgs == ["a", "b", "c", "d", "e"] and c.closed
    assert idle == 4.0                                   # polled until more than 3 s without a message
    clock2 = {"t": 0.0}
    msgs, _ = consume(FakeConsumer([], clock2), idle=3.0, first_timeout=10.0, clock=lambda: clock2["t"])
    assert msgs == [] and clock2["t"] == 11.0            # an empty topic: ends after first_timeout
