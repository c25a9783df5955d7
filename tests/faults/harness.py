"""Independent counts for the fault matrix: what the producer's delivery reports acknowledged,
what the topic holds, what staging holds, what the warehouse holds, and the conservation check
that ties them together. Nothing here asks the pipeline for its own numbers.
"""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Iterable

from producer import generate
from studentflow.core import contract
from tests.support.stackutil import REPO
from tests.support.topicwatch import topic_values

TOPIC = "students.raw"
STAGED_NAME = contract.STAGING_FILE


def text(value: "str | bytes") -> bytes:
    """A message's bytes as the file sink stages them (invalid UTF-8 becomes U+FFFD)."""
    raw = value.encode("utf-8") if isinstance(value, str) else value
    return raw.decode("utf-8", errors="replace").encode("utf-8")


def messages(n: int, seed: int, malformed_rate: float = 0.05, kinds=None) -> list[tuple[str, str, "str | bytes"]]:
    """The seeded mix `studentflow run --seed S` produces (same generator, same settings)."""
    return list(generate.for_settings(None, seed=seed, malformed_rate=malformed_rate, kinds=kinds).messages(n))


def produce_counted(bootstrap: str, msgs: Iterable[tuple[str, "str | None", "str | bytes"]],
                    topic: str = TOPIC, **conf) -> Counter:
    """Produce ``msgs``; return the multiset of values the delivery reports acknowledged."""
    from confluent_kafka import Producer

    acked: Counter = Counter()
    errors: list = []

    def report(err, msg) -> None:
        if err is None:
            acked[msg.value() or b""] += 1
        else:
            errors.append(err)

    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True, "linger.ms": 20,
                  "batch.size": 1_000_000, **conf})
    for i, (_kind, key, value) in enumerate(msgs):
        while True:
            try:
                p.produce(topic, key=key, value=value, on_delivery=report)
                break
            except BufferError:
                p.poll(0.05)
        if i % 1000 == 0:
            p.poll(0)
    assert p.flush(120) == 0, "the producer could not deliver everything"
    assert not errors, errors[:3]
    return acked


def consume_topic(bootstrap: str, topic: str = TOPIC, timeout: float = 60) -> Counter:
    """Every message on ``topic`` (all partitions, from the start to their end), as a multiset."""
    return Counter(topic_values(bootstrap, topic, timeout))


def staged(staging_dir: Path) -> tuple[Counter, bytes]:
    """(complete staged lines as a multiset, the unterminated tail if any) of the sink's file."""
    path = staging_dir / STAGED_NAME
    data = path.read_bytes() if path.exists() else b""
    *lines, tail = data.split(b"\n")
    return Counter(lines), tail


def staged_count(staging_dir: Path) -> int:
    try:
        with open(staging_dir / STAGED_NAME, "rb") as fh:
            return sum(block.count(b"\n") for block in iter(lambda: fh.read(1 << 20), b""))
    except FileNotFoundError:
        return 0


def verdicts(msgs: Iterable[tuple[str, "str | None", "str | bytes"]]) -> dict[bytes, tuple[str, str | None]]:
    """Staged text -> the contract's verdict for it (a duplicate's text is its original's)."""
    out = {}
    for kind, _key, value in msgs:
        if kind != "duplicate":
            out[text(value)] = generate.ALL_EXPECTED[kind]
    return out


def warehouse(db: Path) -> dict:
    """What the warehouse holds, read with plain sqlite3."""
    with sqlite3.connect(db) as conn:
        q = lambda sql: conn.execute(sql).fetchall()  # noqa: E731
        return {
            "integrity": q("PRAGMA integrity_check")[0][0],
            "clean": q("SELECT count(*) FROM clean_students")[0][0],
            "clean_ids": q("SELECT count(DISTINCT event_id) FROM clean_students")[0][0],
            "quarantined": q("SELECT count(*) FROM quarantine_students")[0][0],
            "reasons": Counter(dict(q("SELECT reason, count(*) FROM quarantine_students GROUP BY reason"))),
            "rules": Counter(dict(q("SELECT rule, count(*) FROM clean_students GROUP BY rule"))),
            "runs": q("SELECT count(*), coalesce(sum(lines_read), 0), coalesce(sum(duplicates_removed), 0) "
                      "FROM pipeline_runs")[0],
            "marks": q("SELECT source_file, lines, bytes FROM staging_watermarks ORDER BY source_file"),
        }


def conservation(staged_lines: Counter, expected: dict[bytes, tuple[str, str | None]], db: Path) -> dict:
    """Exact conservation of staged lines in the warehouse, judged by the contract.

    Every staged line is clean, quarantined or a counted duplicate; clean rows are the distinct
    events (nothing doubled); each staged copy of a quarantined message is one quarantine row with
    the contract's reason. Returns the counts (for the report).
    """
    unknown = [t for t in staged_lines if t not in expected]
    assert not unknown, f"{len(unknown)} staged lines were never produced, e.g. {unknown[:2]}"
    lines = sum(staged_lines.values())
    clean_texts = [t for t in staged_lines if expected[t][0] in ("clean", "duplicate")]
    want_reasons = Counter()
    for t, n in staged_lines.items():
        if expected[t][0] == "quarantine":
            want_reasons[expected[t][1]] += n
    w = warehouse(db)
    runs, lines_read, dups = w["runs"]
    assert w["integrity"] == "ok"
    assert lines_read == lines, f"normalized {lines_read:,} lines, staging holds {lines:,}"
    assert w["clean"] == w["clean_ids"], "an event_id is doubled in clean_students"
    assert w["clean"] == len(clean_texts), (w["clean"], len(clean_texts))
    assert w["reasons"] == want_reasons, (w["reasons"] - want_reasons, want_reasons - w["reasons"])
    assert w["clean"] + w["quarantined"] + dups == lines
    return {"staged_lines": lines, "clean": w["clean"], "quarantined": w["quarantined"], "duplicates_removed": dups,
            "normalize_runs": runs}


def normalize_json(env: dict, timeout: float = 600) -> dict:
    res = subprocess.run([sys.executable, "-m", "studentflow.cli", "normalize", "--json"], env=env, cwd=REPO,
                         capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, res.stdout + res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1])
