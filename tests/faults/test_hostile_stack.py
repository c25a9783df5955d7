"""Hostile input through the real stack (Tansu broker, Apache Kafka Connect file sink, Spark):
a 10 MB line, NUL bytes, invalid UTF-8, JSON 1,000 levels deep, 10,000 keys, 10,000 CSV fields,
1e308 / -0 / 22.0 / "22 " ages and a whitespace-only message, mixed into ordinary traffic.

Each must end in clean or quarantine as producer/hostile.py's table says, the sink and Spark
must survive, and conservation must hold. The kinds come from the producer (one source of truth).
"""
from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from producer import generate, hostile
from core import procs
from tests.faults import harness as h
from tests.integration.stackutil import force_down, sf, stack_env, status

pytestmark = pytest.mark.slow
COPIES = {"huge_line": 1}   # every other hostile kind: 3 messages
# Verdicts normalize gets wrong today (the test below fails until spark_jobs changes; see the report).
KNOWN_WRONG: set[str] = set()   # kinds whose verdict normalize still gets wrong (none today)


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
        kind_of = {h.text(v): k for k, _key, v in msgs if k in hostile.HOSTILE_EXPECTED}
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
    assert outcome["got"][kind] == Counter({hostile.HOSTILE_EXPECTED[kind]: COPIES.get(kind, 3)})
