"""The REST client against a secured Connect cluster: HTTPS with a private CA, and basic auth.

The worker is the real Apache Kafka Connect runtime serving its REST API over HTTPS (a PKCS#12
keystore made with openssl for this test). Basic auth needs Kafka's basic-auth REST extension,
which the bundled jars lack, so an authenticating HTTPS front (standard library) that forwards
to the worker checks the header the client sends.
"""
from __future__ import annotations

import base64
import http.server
import ssl
import subprocess
import threading
import urllib.request
from pathlib import Path

import pytest

from studentflow.core import config, procs
from studentflow.core.errors import ConnectError
from tests.support.tls import make_pki

pytestmark = pytest.mark.slow


@pytest.fixture()
def https_worker(broker, tmp_path):
    from connect import rest, runtime

    pki = make_pki(tmp_path / "pki")
    keystore = tmp_path / "pki" / "server.p12"
    subprocess.run(["openssl", "pkcs12", "-export", "-in", str(pki["server_cert"]), "-inkey", str(pki["server_key"]),
                    "-out", str(keystore), "-passout", "pass:changeit"], check=True, capture_output=True)
    settings = config.load(env={}, data_dir=str(tmp_path / "data"), state_dir=str(tmp_path / "state"),
                           staging_dir=str(tmp_path / "data" / "staging"))
    port = procs.free_port()
    props = runtime.worker_properties(settings, bootstrap=broker.bootstrap, rest_port=port, mode="standalone")
    props.update({"listeners": f"https://127.0.0.1:{port}", "rest.advertised.listener": "https",
                  "listeners.https.ssl.keystore.location": str(keystore),
                  "listeners.https.ssl.keystore.type": "PKCS12",
                  "listeners.https.ssl.keystore.password": "changeit"})
    props_file = tmp_path / "worker.properties"
    runtime.write_properties(props_file, props)
    log4j = tmp_path / "log4j2.properties"
    runtime.write_properties(log4j, runtime.log4j_properties(tmp_path / "connect.log"))
    cmd = [runtime.java_binary(), "-Xmx256m", "-XX:+UseSerialGC", f"-Dlog4j2.configurationFile={log4j}",
           "-cp", ":".join(str(j) for j in runtime.classpath(settings)), runtime.STANDALONE_MAIN, str(props_file)]
    worker = procs.spawn(cmd, tmp_path / "connect.out", tie_to_parent=True)
    url = f"https://127.0.0.1:{port}"
    try:
        client = rest.RestClient(url, timeout=2, ca_file=str(pki["ca"]))
        procs.wait_until(client.ready, timeout=90, what="HTTPS Connect worker", proc=worker,
                         log_path=tmp_path / "connect.out", interval=0.5)
        yield url, pki
    finally:
        procs.stop_pid(worker.pid, timeout=15)
    assert not procs.pid_alive(worker.pid)


def test_ca_file_verifies_an_https_worker_and_a_wrong_ca_fails(https_worker, tmp_path):
    from connect import rest

    url, pki = https_worker
    s = config.load(env={"STUDENTFLOW_CONNECT_URL": url, "STUDENTFLOW_CONNECT_CA_LOCATION": str(pki["ca"])})
    info = rest.client(s).request("GET", "/")
    assert info["version"].startswith("3.9")
    other = make_pki(tmp_path / "other", name="other")
    with pytest.raises(ConnectError, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        rest.RestClient(url, ca_file=str(other["ca"])).request("GET", "/")


def test_basic_auth_header_reaches_an_authenticating_front(https_worker, tmp_path):
    from connect import rest

    url, pki = https_worker
    upstream = ssl.create_default_context(cafile=str(pki["ca"]))
    expected = "Basic " + base64.b64encode(b"svc:s3cr\xc3\xa9t").decode()
    seen: list[str] = []

    class Front(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            seen.append(self.headers.get("Authorization", ""))
            if self.headers.get("Authorization") != expected:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="connect"')
                self.end_headers()
                return
            with urllib.request.urlopen(url + self.path, context=upstream, timeout=10) as resp:
                body = resp.read()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Front)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(str(pki["server_cert"]), str(pki["server_key"]))
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        front = f"https://127.0.0.1:{server.server_address[1]}"
        s = config.load(env={"STUDENTFLOW_CONNECT_URL": front, "STUDENTFLOW_CONNECT_USERNAME": "svc",
                             "STUDENTFLOW_CONNECT_PASSWORD": "s3cr\u00e9t",
                             "STUDENTFLOW_CONNECT_CA_LOCATION": str(pki["ca"])})
        assert rest.client(s).request("GET", "/connectors") == []
        assert seen[-1] == expected
        assert "********" in s.redacted()["connect_password"]
        with pytest.raises(ConnectError, match="HTTP 401") as err:
            rest.RestClient(front, ca_file=str(pki["ca"]), username="svc", password="wrong").request("GET", "/")
        assert "STUDENTFLOW_CONNECT_USERNAME" in err.value.hint
    finally:
        server.shutdown()
        server.server_close()
