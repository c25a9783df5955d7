"""What the world does (Connect down, slow, 409, 5xx, a FAILED task, bad files, a missing topic,
a stuck sink, a dead broker) reaches the user as one line with a hint: never a traceback.

One real stack (Tansu + Connect worker) for the module; the broker is killed by the last test.
Every CLI failure path exercised here is grepped for "Traceback".
"""
from __future__ import annotations

import http.server
import json
import os
import signal
import socket
import threading
from pathlib import Path

import pytest

from connect.rest import RestClient
from studentflow.core import procs
from studentflow.core.errors import ConnectError, ConnectHTTPError, ExitCode
from tests.support.stackutil import REPO, force_down, produce, sf, stack_env, status

pytestmark = pytest.mark.slow
SINK = REPO / "connect" / "connectors" / "staging-sink.json"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("world")
    env = stack_env(tmp)
    sf(env, "stack", "up", check=True)
    sf(env, "connect", "apply", str(SINK), check=True)
    yield env, tmp, status(env)
    force_down(env)


def one_line_error(res, *needles: str) -> str:
    """The command failed with exactly one line on stderr, naming each needle, and no traceback."""
    assert res.returncode not in (0, None), res.stdout
    assert "Traceback" not in res.stdout + res.stderr, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert " -> " in lines[0]  # a hint follows
    return lines[0]


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


def _serve(handler) -> tuple[_Server, str]:
    server = _Server(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def test_connect_unreachable(stack, tmp_path):
    env, _tmp, _st = stack
    url = f"http://127.0.0.1:{procs.free_port()}"
    for args in (("connect", "status"), ("connect", "apply", str(SINK)), ("connect", "delete", "x")):
        res = sf(dict(env, STUDENTFLOW_CONNECT_URL=url), *args)
        one_line_error(res, f"cannot reach Kafka Connect at {url}", "STUDENTFLOW_CONNECT_URL")
        assert res.returncode == ExitCode.SETUP, args   # a connection error, apart from usage (2)


def test_connect_that_does_not_answer_in_time():
    with socket.socket() as s:  # accepts connections (backlog) and never answers
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        client = RestClient(f"http://127.0.0.1:{s.getsockname()[1]}", timeout=1)
        with pytest.raises(ConnectError, match="did not answer GET /connectors within 1s") as err:
            client.request("GET", "/connectors")
        assert "worker log" in err.value.hint


def test_http_5xx_is_typed_with_a_hint(stack):
    env, _tmp, _st = stack

    class Unavailable(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            body = json.dumps({"error_code": 503, "message": "worker shutting down"}).encode()
            self.send_response(503)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    server, url = _serve(Unavailable)
    try:
        with pytest.raises(ConnectHTTPError) as err:
            RestClient(url).request("GET", "/connectors")
        assert err.value.status == 503 and "worker shutting down" in err.value.message
        assert "worker log" in err.value.hint
        one_line_error(sf(dict(env, STUDENTFLOW_CONNECT_URL=url), "connect", "status"), "HTTP 503")
    finally:
        server.shutdown()


def test_409_conflict_from_a_real_worker(stack):
    _env, _tmp, st = stack
    client = RestClient(st["connect_url"])
    doc = json.loads(SINK.read_text())
    with pytest.raises(ConnectHTTPError) as err:  # POST of a connector that exists: a real 409
        client.request("POST", "/connectors", {"name": doc["name"], "config": doc["config"]})
    assert err.value.status == 409
    assert "already exists" in err.value.message and "connect apply" in err.value.hint


def test_a_connector_that_goes_failed(stack, tmp_path):
    env, _tmp, _st = stack
    doc = json.loads(SINK.read_text())
    doc["name"] = "sink-into-a-folder"
    doc["config"]["file"] = str(tmp_path)  # a directory: the task cannot open it and FAILS
    bad = tmp_path / "failing.json"
    bad.write_text(json.dumps(doc))
    line = one_line_error(sf(env, "connect", "apply", str(bad)), "connector sink-into-a-folder FAILED",
                          "connect restart sink-into-a-folder")
    assert "FileNotFoundException" in line or "Exception" in line  # the trace's first line says why
    st = sf(env, "connect", "status", "sink-into-a-folder")
    assert st.returncode == 1 and "FAILED" in st.stdout and "Traceback" not in st.stderr
    sf(env, "connect", "delete", "sink-into-a-folder", check=True)


@pytest.mark.parametrize("content, needle", [
    ("{not json", "is not valid JSON"),
    ('{"name": "x"}', 'must be {"name": ..., "config": {...}}'),
    ('{"name": "x", "config": {"connector.class": "FileStreamSink", "topics": "${topic}"}}',
     "uses the placeholder ${topic}"),
    ('{"name": "x", "config": {"connector.class": "FileStreamSink", "topics": "${env:NOPE}"}}',
     "the worker gets no variable NOPE"),
])
def test_bad_connector_files(stack, tmp_path, content, needle):
    env, _tmp, _st = stack
    f = tmp_path / "bad.json"
    f.write_text(content)
    for action in ("validate", "apply"):
        one_line_error(sf(env, "connect", action, str(f)), needle)
    one_line_error(sf(env, "connect", "apply", str(tmp_path / "missing.json")), "does not exist")


def test_lag_on_a_missing_topic(stack):
    env, _tmp, _st = stack
    one_line_error(sf(dict(env, STUDENTFLOW_TOPIC="no.such.topic"), "connect", "lag"),
                   "topic no.such.topic does not exist", "studentflow produce")


def test_lag_wait_times_out_while_the_sink_is_paused(stack):
    env, _tmp, st = stack
    name = json.loads(SINK.read_text())["name"]
    sf(env, "connect", "pause", name, check=True)
    try:
        produce(st["bootstrap"], "students.raw", [f"paused-{i}".encode() for i in range(500)])
        res = sf(env, "connect", "lag", "--wait", "--timeout", "3")
        line = one_line_error(res, f"connector {name} still", "messages behind after 3s", "--timeout")
        assert res.returncode == ExitCode.FAILED == 1   # as its --help says: a failed check, not a setup error
        assert int(line.split(" still ", 1)[1].split()[0]) > 0
    finally:
        sf(env, "connect", "resume", name, check=True)
    sf(env, "connect", "lag", "--wait", "--timeout", "60", check=True)  # resumed: it catches up


def test_broker_gone(stack):
    """Last in the module: kill -9 the broker, then every command that needs it says so in one line."""
    env, _tmp, st = stack
    os.kill(st["broker_pid"], signal.SIGKILL)
    while procs.pid_alive(st["broker_pid"]):
        pass
    one_line_error(sf(env, "connect", "lag", timeout=120), "no Kafka configured and the embedded stack is not running")
    # Pointed at the dead address explicitly: librdkafka's own timeouts, still one line.
    dead = dict(env, STUDENTFLOW_BOOTSTRAP_SERVERS=st["bootstrap"])
    one_line_error(sf(dead, "connect", "lag", timeout=120), st["bootstrap"], "stack status")
    res = sf(dead, "produce", "--count", "10", "--timeout", "3", timeout=120)
    one_line_error(res, f"cannot reach Kafka at {st['bootstrap']}")
    down = sf(env, "stack", "status")
    assert down.returncode == 1 and "DEGRADED" in down.stdout and "broker" in down.stdout
    assert "Traceback" not in down.stderr


@pytest.mark.parametrize("option", [["--rate", "-1"], ["--count", "-5"], ["--malformed-rate", "1.5"],
                                    ["--follow", "--interval", "0"], ["--follow", "--report-every", "-1"]])
def test_run_refuses_a_bad_option_before_starting_anything(tmp_path, option):
    env = stack_env(tmp_path)
    res = sf(env, "run", *option)
    one_line_error(res, "fix the option")
    assert res.returncode == ExitCode.USAGE == 2
    assert not (tmp_path / "state" / "stack.json").exists() and not (tmp_path / "data" / "staging").exists()
