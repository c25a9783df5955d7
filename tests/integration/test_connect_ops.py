"""Connector files as Kafka users write them, and the connector operations, on a real worker.

The connector files use Kafka's config providers (${env:...}, ${file:...}); here one is posted
with plain HTTP (urllib, no studentflow code), the way curl or the Confluent CLI would, and the
worker resolves the references. Then pause / resume / stop / offsets (GET, DELETE, PATCH)
through the `studentflow connect` CLI.
"""
from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest

from connect import rest
from tests.support.stackutil import force_down, produce, sf, stack_env, status, stack_session

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
SINK = "students-staging-sink"


@pytest.fixture()
def env(tmp_path: Path):
    with stack_session(tmp_path, up=True, STUDENTFLOW_DROP_FILE=str(tmp_path / "data" / "drop" / "students.txt")) as e:
        yield e


def _http(method: str, url: str, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        raw = resp.read()
        return resp.status, (json.loads(raw) if raw else {})


def _wait_lines(path: Path, n: int, timeout: float = 60) -> list[bytes]:
    deadline = time.monotonic() + timeout
    lines: list[bytes] = []
    while time.monotonic() < deadline:
        lines = path.read_bytes().splitlines() if path.exists() else []
        if len(lines) >= n:
            return lines
        time.sleep(0.2)
    return lines


def _wait_state(url: str, name: str, wanted: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    st: dict = {}
    while time.monotonic() < deadline:
        _code, st = _http("GET", f"{url}/connectors/{name}/status")
        states = [st["connector"]["state"]] + [t["state"] for t in st.get("tasks", [])]
        if st.get("tasks") and all(s == wanted for s in states):
            return st
        time.sleep(0.25)
    raise AssertionError(f"{name} not {wanted}: {st}")


def test_connector_file_posted_with_plain_http_is_resolved_by_the_worker(env, tmp_path):
    st = status(env)
    url = st["connect_url"]
    doc = json.loads((REPO / "connect/connectors/staging-sink.json").read_text(encoding="utf-8"))
    assert doc["config"]["file"].startswith("${env:")  # the file as written, nothing filled in
    code, created = _http("POST", f"{url}/connectors", doc)
    assert code == 201 and created["name"] == SINK
    _wait_state(url, SINK, "RUNNING")
    values = [f"Élodie,Dupont,{20 + i % 5},Informatique #{i}".encode() for i in range(50)]
    produce(st["bootstrap"], "students.raw", values)
    staged = tmp_path / "data" / "staging" / "students.raw.txt"
    assert sorted(_wait_lines(staged, 50)) == sorted(values)
    # The worker keeps the references (no secret or path baked in); studentflow sees the same config.
    _code, live = _http("GET", f"{url}/connectors/{SINK}/config")
    assert live["file"] == "${env:STUDENTFLOW_STAGING_DIR}/students.raw.txt"
    assert "students-staging-sink: unchanged" in sf(env, "connect", "apply", check=True).stdout

    # ${file:path:key}: FileConfigProvider reads a properties file on the worker's machine,
    # written here in the `key : value` form with a continued line: studentflow's own reader
    # (connect/properties.py, used by `connect validate` / `apply`) must read the same value.
    props = tmp_path / "sink.properties"
    target = str(tmp_path / "other.txt")
    props.write_text(f"# the sink's file\nfile : {target[:5]}\\\n    {target[5:]}\n", encoding="utf-8")
    ref = f"${{file:{props}:file}}"
    assert rest.resolve(ref, {}) == target
    other = {"name": "file-provider-sink", "config": dict(doc["config"], file=ref)}
    code, _ = _http("POST", f"{url}/connectors", other)
    assert code == 201
    _wait_state(url, "file-provider-sink", "RUNNING")
    assert sorted(_wait_lines(tmp_path / "other.txt", 50)) == sorted(values)


def test_pause_resume_stop_and_offsets(env, tmp_path):
    st = status(env)
    sf(env, "connect", "apply", check=True)
    produce(st["bootstrap"], "students.raw", [f"m{i}".encode() for i in range(100)])
    sf(env, "connect", "lag", "--wait", "--timeout", "120", check=True)
    staged = tmp_path / "data" / "staging" / "students.raw.txt"
    assert len(_wait_lines(staged, 100)) == 100

    got = json.loads(sf(env, "connect", "offsets", SINK, "--json", check=True).stdout)
    assert sum(o["offset"]["kafka_offset"] for o in got["offsets"]) == 100
    assert {o["partition"]["kafka_topic"] for o in got["offsets"]} == {"students.raw"}

    assert f"{SINK}: PAUSED" in sf(env, "connect", "pause", SINK, check=True).stdout
    assert f"{SINK}: RUNNING" in sf(env, "connect", "resume", SINK, check=True).stdout

    refused = sf(env, "connect", "offsets", SINK, "--reset")
    assert refused.returncode != 0 and "STOPPED" in refused.stderr and "Traceback" not in refused.stderr

    # PATCH: partition 0 back to 0; after resume the sink writes that partition's lines again.
    p0 = next(o for o in got["offsets"] if o["partition"]["kafka_partition"] == 0)
    assert f"{SINK}: STOPPED" in sf(env, "connect", "stop", SINK, check=True).stdout
    patch = tmp_path / "offsets.json"
    patch.write_text(json.dumps({"offsets": [{"partition": p0["partition"], "offset": {"kafka_offset": 0}}]}))
    sf(env, "connect", "offsets", SINK, "--set", str(patch), check=True)
    sf(env, "connect", "resume", SINK, check=True)
    n0 = p0["offset"]["kafka_offset"]
    assert len(_wait_lines(staged, 100 + n0)) == 100 + n0

    # DELETE: every offset gone; the sink starts again from the earliest message (auto.offset.reset).
    reset = sf(env, "connect", "offsets", SINK, "--reset", "--stop", check=True)
    assert "STOPPED" in reset.stdout and "reset" in reset.stdout
    assert "no offsets committed yet" in sf(env, "connect", "offsets", SINK, check=True).stdout
    sf(env, "connect", "resume", SINK, check=True)
    assert len(_wait_lines(staged, 200 + n0)) == 200 + n0
