"""The marts against an oracle of their own: `studentflow run` on the real stack, then every
message read back from the topic with a plain Kafka consumer, judged by a small reading of the
contract written here (CONTRIBUTING.md, "The producer ↔ Spark contract"), and the per-major
statistics recomputed with the standard library. The product's normalize rules, its verdict tables
and its testing helpers are not used: a mistake shared by the producer's table, Spark and dbt
cannot hide here.
"""
from __future__ import annotations

import csv
import json
import sqlite3
import statistics
from collections import defaultdict
from pathlib import Path

import pytest

from tests.support.stackutil import REPO, force_down, sf, stack_env, status
from tests.support.topicwatch import topic_values

pytestmark = pytest.mark.slow

AGE_MIN, AGE_MAX = 18, 60      # passed to the run below: the oracle owns its bounds
OVER = 20                      # the original analysis: students strictly older than 20
SEEDS = REPO / "dbt_project" / "seeds"
FIELDS = ("first_name", "last_name", "age", "major")


def _majors() -> dict[str, str]:
    """casefolded canonical name or alias -> canonical major, read from the seed files."""
    out = {}
    with open(SEEDS / "majors.csv", encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            out[row["major"].strip().casefold()] = row["major"]
    with open(SEEDS / "major_aliases.csv", encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            out[row["alias"].strip().casefold()] = row["major"]
    return out


def _age(value) -> int | None:
    """An age the contract accepts (an integer, a numeric string), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def judge(raw: bytes, majors: dict[str, str]) -> tuple[str, str, int] | None:
    """(identity, major, age) of a message the contract calls clean, None for anything else.

    The identity is the event_id when the message has one, else the text itself (two
    byte-identical lines without an id are the same event)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not text.strip():
        return None
    if text.lstrip().startswith("{"):
        try:
            event = json.loads(text)
        except ValueError:
            return None
        if not isinstance(event, dict) or any(event.get(f) in (None, "") for f in FIELDS):
            return None
        identity = event.get("event_id") or text
        first, last, age, major = (event[f] for f in FIELDS)
        if not isinstance(first, str) or not isinstance(last, str) or not isinstance(major, str):
            return None
        age = _age(age)
    else:
        parts = text.split(",")
        if len(parts) != 4 or not all(p.strip() for p in parts):
            return None
        first, last, age_text, major = parts
        age_text = age_text.strip()
        age = _age(age_text[4:] if age_text.startswith("age:") else age_text)
        identity = text
    canonical = majors.get(major.strip().casefold())
    if age is None or not AGE_MIN <= age <= AGE_MAX or canonical is None:
        return None
    return identity, canonical, age


def oracle(values: list[bytes]) -> dict[str, list[int]]:
    """major -> the ages of its distinct clean events."""
    majors, events = _majors(), {}
    for raw in values:
        judged = judge(raw, majors)
        if judged is None:
            continue
        identity, major, age = judged
        assert events.setdefault(identity, (major, age)) == (major, age), f"one event id, two contents: {identity}"
    ages: dict[str, list[int]] = defaultdict(list)
    for major, age in events.values():
        ages[major].append(age)
    return dict(ages)


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("oracle")
    env = stack_env(tmp, STUDENTFLOW_AGE_MIN=str(AGE_MIN), STUDENTFLOW_AGE_MAX=str(AGE_MAX))
    try:
        res = sf(env, "run", "--count", "4000", "--seed", "31", "--malformed-rate", "0.3", "--keep-stack",
                 timeout=900)
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
        st = status(env)
        values = list(topic_values(st["bootstrap"], env.get("STUDENTFLOW_TOPIC", "students.raw")))
    finally:
        force_down(env)
    with sqlite3.connect(Path(env["STUDENTFLOW_WAREHOUSE"])) as conn:
        marts = {name: conn.execute(f"SELECT * FROM {name} ORDER BY 1").fetchall() for name in
                 ("major_age_stats", "major_avg_age_over_20", "global_summary")}
        cols = {name: [r[1] for r in conn.execute(f"PRAGMA table_info({name})")] for name in marts}
    rows = {name: [dict(zip(cols[name], r)) for r in marts[name]] for name in marts}
    return {"values": values, "ages": oracle(values), "marts": rows}


def test_the_topic_holds_the_run_and_the_oracle_sees_every_kind_of_line(outcome):
    values, ages = outcome["values"], outcome["ages"]
    assert len(values) == 4000
    clean = sum(len(a) for a in ages.values())
    assert 2000 < clean < 4000   # malformed lines were judged out, most lines kept
    assert len(ages) == 8        # every major of the seed has students


def test_major_age_stats_equals_the_oracle(outcome):
    ages, rows = outcome["ages"], outcome["marts"]["major_age_stats"]
    assert [r["major"] for r in rows] == sorted(ages)
    for r in rows:
        a = ages[r["major"]]
        assert r["student_count"] == len(a), r
        assert r["avg_age"] == pytest.approx(statistics.fmean(a), rel=1e-12), r
        assert (r["min_age"], r["max_age"]) == (min(a), max(a)), r
        assert r["median_age"] == statistics.median(a), r
        assert r["stddev_age"] == pytest.approx(statistics.stdev(a), rel=1e-9), r


def test_major_avg_age_over_20_equals_the_oracle(outcome):
    over = {m: [x for x in a if x > OVER] for m, a in outcome["ages"].items()}
    over = {m: a for m, a in over.items() if a}
    rows = outcome["marts"]["major_avg_age_over_20"]
    assert [r["major"] for r in rows] == sorted(over)
    for r in rows:
        a = over[r["major"]]
        assert r["student_count"] == len(a), r
        assert r["avg_age"] == pytest.approx(statistics.fmean(a), rel=1e-12), r


def test_global_summary_equals_the_oracle(outcome):
    ages = outcome["ages"]
    every = [x for a in ages.values() for x in a]
    (g,) = outcome["marts"]["global_summary"]
    assert g["student_count"] == len(every) and g["major_count"] == len(ages)
    assert g["avg_age_weighted"] == pytest.approx(statistics.fmean(every), rel=1e-12)
    assert g["avg_age_of_major_means"] == pytest.approx(statistics.fmean(statistics.fmean(a) for a in ages.values()),
                                                        rel=1e-12)
