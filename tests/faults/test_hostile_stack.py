"""Hostile input through the real stack (Tansu broker, Apache Kafka Connect file sink, Spark):
a 10 MB line, NUL bytes, invalid UTF-8, JSON 1,000 levels deep, 10,000 keys, 10,000 CSV fields,
1e308 / -0 / 22.0 / "22 " ages and a whitespace-only message, mixed into ordinary traffic.

Each must end in clean or quarantine as the contract says (CONTRIBUTING.md, the hostile kinds'
table), the sink and Spark must survive, and conservation must hold. The messages come from the
producer; the verdicts they must get are written out here by hand (VERDICTS), not read from the
producer's table, so a verdict changed in the product and its table together still fails here.
"""
from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from producer import generate, hostile
from studentflow.core import procs
from tests.faults import harness as h
from tests.support.stackutil import force_down, sf, stack_env, status

pytestmark = pytest.mark.slow
COPIES = {"huge_line": 1}   # every other hostile kind: 3 messages
# Verdicts normalize gets wrong today (the test below fails until spark_jobs changes; see the report).
KNOWN_WRONG: set[str] = set()   # kinds whose verdict normalize still gets wrong (none today)
# The contract's verdict for each hostile kind, by hand: ("clean", rule) or ("quarantine", reason).
VERDICTS: dict[str, tuple[str, str]] = {
    "huge_line": ("clean", "json_loose"),               # an event with a 10 MB "note" field
    "nul_bytes": ("quarantine", "invalid_json"),        # a raw NUL inside a JSON string
    "invalid_utf8": ("quarantine", "invalid_encoding"),  # Latin-1 bytes
    "deep_json": ("clean", "json_loose"),               # an extra field nested 1,000 levels deep
    "wide_json": ("clean", "json_loose"),               # 10,000 keys
    "wide_csv": ("quarantine", "not_json_or_csv"),      # 10,000 comma-separated fields
    "age_exponent": ("quarantine", "age_out_of_range"),  # "age": 1e308
    "age_negative_zero": ("quarantine", "age_out_of_range"),  # "age": -0
    "age_integral_float": ("clean", "json_loose"),      # "age": 22.0
    "age_padded_string": ("clean", "json_loose"),       # "age": "22 "
    "whitespace_only": ("quarantine", "empty"),         # spaces and tabs only
}


def test_every_hostile_kind_has_a_verdict_written_here():
    assert set(VERDICTS) == set(hostile.HOSTILE_KINDS)


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    """Produce the mix once, sink it, normalize it; per kind: the verdicts the warehouse holds."""
    tmp = tmp_path_factory.mktemp("hostile")
    env = stack_env(tmp)
    try:
        sf(env, "stack", "up", check=True)
        st = status(env)
        gen = generate.for_settings(None, seed=12)
        msgs = h.messages(2000, 11) + [gen.message(k) for k in hostile.HOSTILE_KINDS
                                       for _ in range(COPIES.get(k, 3))]
        acked = h.produce_counted(st["bootstrap"], msgs, **{"message.max.bytes": hostile.HUGE_MESSAGE_MAX_BYTES})
        assert sum(acked.values()) == len(msgs)
        sf(env, "connect", "apply", check=True)
        sf(env, "connect", "lag", "--wait", "--timeout", "300", check=True)
        from connect.rest import RestClient
        sink = RestClient(st["connect_url"]).request("GET", "/connectors/students-staging-sink/status")
        worker_alive = procs.pid_alive(st["connect_pid"])
        res = h.normalize_json(env)   # exit 0 asserted inside: Spark did not crash
        staging, db = Path(env["STUDENTFLOW_STAGING_DIR"]), Path(env["STUDENTFLOW_WAREHOUSE"])
        lines, tail = h.staged(staging)
        by_number = (staging / h.STAGED_NAME).read_bytes().split(b"\n")
        kind_of = {h.text(v): k for k, _key, v in msgs if k in hostile.HOSTILE_KINDS}
        got: dict[str, Counter] = {k: Counter() for k in hostile.HOSTILE_KINDS}
        with sqlite3.connect(db) as conn:
            for line, rule in conn.execute("SELECT line_number, rule FROM clean_students"):
                kind = kind_of.get(by_number[line - 1])
                if kind:
                    got[kind][("clean", rule)] += 1
            for line, reason in conn.execute("SELECT line_number, reason FROM quarantine_students"):
                kind = kind_of.get(by_number[line - 1])
                if kind:
                    got[kind][("quarantine", reason)] += 1
        yield {"msgs": msgs, "acked": acked, "lines": lines, "tail": tail, "sink": sink, "worker_alive": worker_alive,
               "normalize": res, "got": got, "db": db}
    finally:
        force_down(env)


def test_sink_and_spark_survive_and_stage_every_message_untouched(outcome):
    assert outcome["worker_alive"]
    assert outcome["sink"]["connector"]["state"] == "RUNNING"
    assert [t["state"] for t in outcome["sink"]["tasks"]] == ["RUNNING"]
    produced = Counter(h.text(v) for _k, _key, v in outcome["msgs"])
    assert outcome["tail"] == b""
    assert outcome["lines"] == produced   # byte for byte (invalid UTF-8 as U+FFFD), nothing lost or added
    huge = [t for t in outcome["lines"] if len(t) >= hostile.HUGE_LINE_BYTES]
    assert [len(t) for t in huge] == [hostile.HUGE_LINE_BYTES]


def test_conservation_holds(outcome):
    res, lines = outcome["normalize"], outcome["lines"]
    assert res["lines_read"] == sum(lines.values())
    assert res["clean"] + res["quarantined"] + res["duplicates_removed"] == res["lines_read"]
    w = h.warehouse(outcome["db"])
    assert w["integrity"] == "ok" and w["clean"] == w["clean_ids"] == res["clean"]
    assert w["quarantined"] == res["quarantined"]


@pytest.mark.parametrize("kind", [k for k in hostile.HOSTILE_KINDS if k not in KNOWN_WRONG])
def test_hostile_kind_gets_its_contract_verdict(outcome, kind):
    assert outcome["got"][kind] == Counter({VERDICTS[kind]: COPIES.get(kind, 3)})
