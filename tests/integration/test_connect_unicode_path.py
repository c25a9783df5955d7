"""A project path with a non-ASCII character (a home folder named "Hélène") reaches the worker intact.

The worker's .properties files are written as Java reads them (ISO-8859-1, \\uXXXX escapes) and
the worker runs with a UTF-8 locale, so paths from its properties (offsets file, log file) and
from its environment (${env:STUDENTFLOW_STAGING_DIR} in the connector file) are the real ones.
The test's environment has no locale at all, like a bare service account.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.stackutil import force_down, produce, sf, stack_env, status

pytestmark = pytest.mark.slow


def test_worker_uses_paths_with_accents(tmp_path):
    home = tmp_path / "Hélène" / "projet é"
    env = {k: v for k, v in stack_env(home).items() if not k.startswith(("LANG", "LC_"))}
    try:
        sf(env, "stack", "up", check=True)
        st = status(env)
        props = (home / "state" / "connect-standalone.properties").read_bytes()
        assert props.isascii() and b"H\\u00E9l\\u00E8ne" in props  # Java's escapes, not UTF-8 bytes
        sf(env, "connect", "apply", check=True)
        values = [json.dumps({"n": i, "prénom": "Hélène"}, ensure_ascii=False).encode() for i in range(30)]
        produce(st["bootstrap"], "students.raw", values)
        sf(env, "connect", "lag", "--wait", "--timeout", "120", check=True)
        staged = home / "data" / "staging" / "students.raw.txt"
        assert sorted(staged.read_bytes().splitlines()) == sorted(values)
        log = Path(st["connect_log"])
        assert "Hélène" in str(log) and " INFO " in log.read_text(encoding="utf-8")
        garbled = [p for p in tmp_path.rglob("*") if "?" in p.name or "Ã" in p.name]
        assert not garbled, garbled
    finally:
        force_down(env)
