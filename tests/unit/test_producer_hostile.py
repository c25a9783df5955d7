"""Hostile producer kinds: what each message is, its verdict in the table, and that the default
malformed mix is unchanged (hostile kinds only on request)."""
from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

import pytest

from producer import generate, hostile, malformed
from studentflow.core import config

SETTINGS = config.load(env={})


def gen(seed=3, **kw):
    return generate.for_settings(SETTINGS, seed=seed, **kw)


def _depth(text: str) -> int:
    """Deepest object nesting of a JSON text whose strings hold no braces."""
    depth = deepest = 0
    for c in text:
        depth += (c == "{") - (c == "}")
        deepest = max(deepest, depth)
    assert depth == 0
    return deepest


def test_hostile_kinds_are_in_the_full_table_but_not_in_the_default_mix():
    assert set(hostile.HOSTILE_KINDS) == set(hostile.HOSTILE_EXPECTED)
    assert not set(hostile.HOSTILE_KINDS) & set(malformed.EXPECTED)
    assert generate.ALL_EXPECTED == {**malformed.EXPECTED, **hostile.HOSTILE_EXPECTED}
    assert not set(hostile.HOSTILE_KINDS) & set(malformed.MALFORMED_KINDS)
    g = gen(malformed_rate=0.5)
    assert g.kinds == malformed.MALFORMED_KINDS
    assert not set(Counter(k for k, _, _ in g.messages(5000))) & set(hostile.HOSTILE_KINDS)


def test_each_hostile_message_is_what_its_name_says():
    g = gen()
    m = {k: g.message(k) for k in hostile.HOSTILE_KINDS}
    assert all(label == k for k, (label, _key, _v) in m.items())
    huge = m["huge_line"][2]
    assert len(huge.encode()) == hostile.HUGE_LINE_BYTES and json.loads(huge)["first_name"]
    nul = m["nul_bytes"][2]
    assert "\x00" in nul and "\\u0000" not in nul
    with pytest.raises(json.JSONDecodeError):
        json.loads(nul)   # a raw control character inside a JSON string
    bad = m["invalid_utf8"][2]
    assert isinstance(bad, bytes)
    with pytest.raises(UnicodeDecodeError):
        bad.decode("utf-8")
    assert _depth(m["deep_json"][2]) == hostile.DEEP_LEVELS   # too deep for Python's json module itself
    assert len(json.loads(m["wide_json"][2])) == hostile.WIDE_KEYS
    assert len(m["wide_csv"][2].split(",")) == hostile.WIDE_FIELDS
    assert '"age":1e308' in m["age_exponent"][2] and json.loads(m["age_exponent"][2])["age"] == 1e308
    assert '"age":-0,' in m["age_negative_zero"][2]
    assert isinstance(json.loads(m["age_integral_float"][2])["age"], float)
    padded = json.loads(m["age_padded_string"][2])["age"]
    assert padded.endswith(" ") and padded.strip().isdigit()
    ws = m["whitespace_only"][2]
    assert ws and not ws.strip()
    assert g.counts == Counter(hostile.HOSTILE_KINDS)


def test_hostile_messages_are_reproducible_from_the_seed():
    a = [gen(seed=9).message(k) for k in hostile.HOSTILE_KINDS if k != "huge_line"]
    b = [gen(seed=9).message(k) for k in hostile.HOSTILE_KINDS if k != "huge_line"]
    assert a == b


def test_produce_cli_hostile_option_lists_and_draws_them():
    run = lambda *a: subprocess.run([sys.executable, "-m", "studentflow.cli", "produce", *a],  # noqa: E731
                                    capture_output=True, timeout=120, cwd=config.PROJECT_ROOT)
    listed = run("--list-kinds").stdout.decode()
    assert all(k in listed for k in hostile.HOSTILE_KINDS)
    out = run("--count", "200", "--seed", "1", "--malformed-rate", "1", "--kinds", "empty",
              "--hostile", "--dry-run", "--with-kinds").stdout
    kinds = Counter(line.split(b"\t", 1)[0].decode() for line in out.split(b"\n") if b"\t" in line)
    assert set(kinds) == {"empty", *hostile.HOSTILE_KINDS}
