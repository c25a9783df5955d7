"""Pure parts of the Connect runtime: classpath selection, worker properties, placeholders."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from connect import rest, runtime
from studentflow.core import config
from studentflow.core.errors import ConnectError, StackError


def test_worker_properties_sasl_scram_reach_every_client(tmp_path):
    s = config.load(env={"STUDENTFLOW_BOOTSTRAP_SERVERS": "k:9093", "STUDENTFLOW_SECURITY_PROTOCOL": "SASL_SSL",
                         "STUDENTFLOW_SASL_MECHANISM": "SCRAM-SHA-512", "STUDENTFLOW_SASL_USERNAME": "svc",
                         "STUDENTFLOW_SASL_PASSWORD": 'p"w', "STUDENTFLOW_STATE_DIR": str(tmp_path)})
    props = runtime.worker_properties(s, bootstrap="k:9093", rest_port=8083, mode="distributed")
    for prefix in ("", "consumer.", "producer.", "admin."):
        assert props[prefix + "security.protocol"] == "SASL_SSL"
        assert props[prefix + "sasl.mechanism"] == "SCRAM-SHA-512"
        assert props[prefix + "sasl.jaas.config"] == (
            'org.apache.kafka.common.security.scram.ScramLoginModule required username="svc" password="p\\"w";')
    assert props["config.storage.replication.factor"] == "-1"   # a hosted cluster: its own default
    assert props["plugin.discovery"] == "service_load"
    assert props["connector.client.config.override.policy"] == "All"
    assert props["listeners"] == "http://127.0.0.1:8083"



def test_the_short_group_session_is_set_on_the_embedded_broker_only(tmp_path):
    """The embedded broker holds a join for half the session timeout; a real one refuses < 6 s."""
    embedded = config.load(env={"STUDENTFLOW_STATE_DIR": str(tmp_path)})
    props = runtime.worker_properties(embedded, bootstrap="127.0.0.1:1", rest_port=1, mode="standalone")
    assert props["consumer.session.timeout.ms"] == "2000"
    assert int(props["consumer.heartbeat.interval.ms"]) < 2000 / 3   # Kafka's advice: a third at most
    hosted = config.load(env={"STUDENTFLOW_BOOTSTRAP_SERVERS": "k:9093", "STUDENTFLOW_STATE_DIR": str(tmp_path)})
    props = runtime.worker_properties(hosted, bootstrap="k:9093", rest_port=1, mode="standalone")
    assert "consumer.session.timeout.ms" not in props and "consumer.heartbeat.interval.ms" not in props
    sink = json.loads((Path(runtime.__file__).parent / "connectors" / "staging-sink.json").read_text())
    assert not [k for k in sink["config"] if "session.timeout" in k or "heartbeat" in k]   # the worker's to set
    # a distributed worker's own group too (standalone has none), on the embedded broker only
    props = runtime.worker_properties(embedded, bootstrap="127.0.0.1:1", rest_port=1, mode="distributed")
    assert (props["session.timeout.ms"], props["heartbeat.interval.ms"]) == ("2000", "500")
    assert "session.timeout.ms" not in runtime.worker_properties(embedded, bootstrap="127.0.0.1:1", rest_port=1,
                                                                 mode="standalone")
    props = runtime.worker_properties(hosted, bootstrap="k:9093", rest_port=1, mode="distributed")
    assert "session.timeout.ms" not in props and "heartbeat.interval.ms" not in props

def test_plain_mechanism_uses_plain_login_module(tmp_path):
    s = config.load(env={"STUDENTFLOW_BOOTSTRAP_SERVERS": "k:9093", "STUDENTFLOW_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                         "STUDENTFLOW_SASL_MECHANISM": "PLAIN", "STUDENTFLOW_SASL_USERNAME": "u",
                         "STUDENTFLOW_SASL_PASSWORD": "p"})
    props = runtime.java_security_props(s)
    assert props["sasl.jaas.config"].startswith("org.apache.kafka.common.security.plain.PlainLoginModule required")
    assert "ssl.truststore.location" not in props


def test_properties_file_escapes_newlines_backslashes_and_non_ascii(tmp_path):
    f = tmp_path / "w.properties"
    runtime.write_properties(f, {"a": "line1\nline2", "b": "C:\\x", "c": "/home/Hélène/😀", "d e": " x"})
    assert f.read_bytes() == (b"a=line1\\nline2\nb=C\\:\\\\x\nc=/home/H\\u00E9l\\u00E8ne/\\uD83D\\uDE00\n"
                              b"d\\ e=\\ x\n")
    assert f.stat().st_mode & 0o077 == 0


def test_pkcs1_client_key_is_refused_with_a_fix(tmp_path):
    key = tmp_path / "k.pem"
    key.write_text("-----BEGIN RSA PRIVATE KEY-----\nabc\n-----END RSA PRIVATE KEY-----\n")
    cert = tmp_path / "c.pem"
    cert.write_text("-----BEGIN CERTIFICATE-----\nabc\n-----END CERTIFICATE-----\n")
    s = config.load(env={"STUDENTFLOW_BOOTSTRAP_SERVERS": "k:9093", "STUDENTFLOW_SECURITY_PROTOCOL": "SSL",
                         "STUDENTFLOW_SSL_KEY_LOCATION": str(key), "STUDENTFLOW_SSL_CERTIFICATE_LOCATION": str(cert)})
    with pytest.raises(StackError, match="openssl pkcs8"):
        runtime.java_security_props(s)


def test_classpath_uses_a_kafka_distribution_when_pointed_at_one(tmp_path):
    libs = tmp_path / "kafka" / "libs"
    libs.mkdir(parents=True)
    for name in ("connect-runtime-3.9.0.jar", "kafka-clients-3.9.0.jar"):
        (libs / name).write_bytes(b"")
    s = config.load(env={"STUDENTFLOW_KAFKA_HOME": str(tmp_path / "kafka")})
    assert [p.name for p in runtime.classpath(s)] == ["connect-runtime-3.9.0.jar", "kafka-clients-3.9.0.jar"]
    (libs / "connect-runtime-3.9.0.jar").unlink()
    with pytest.raises(StackError, match="no connect-runtime jar"):
        runtime.classpath(s)


def test_bundled_classpath_selects_connect_jars_not_debezium(tmp_path):
    s = config.load(env={})
    if not s.connect_libs_dir.is_dir():
        pytest.fail("Connect jars missing: run `make setup`")
    names = [p.name for p in runtime.classpath(s)]
    assert any(n.startswith("connect-runtime-3.9") for n in names)
    assert any(n == "jetty9-server.jar" for n in names)
    assert not any(n.startswith(("debezium", "mysql", "postgresql", "jetty-server-9.4.56")) for n in names)


def test_connector_files_use_kafka_config_providers_resolved_like_the_worker(tmp_path):
    s = config.load(env={"STUDENTFLOW_STAGING_DIR": str(tmp_path / "stg")})
    cf = rest.connector_files(None, s)
    sink = next(c for c in cf if c.connector_class.endswith("FileStreamSinkConnector"))
    # What is posted is the file itself; the worker resolves the references.
    assert sink.raw["topics"] == "${env:STUDENTFLOW_TOPIC}"
    assert sink.raw["file"] == "${env:STUDENTFLOW_STAGING_DIR}/students.raw.txt"
    assert sink.config["file"] == str(tmp_path / "stg" / "students.raw.txt")
    assert sink.config["topics"] == s.topic
    assert sink.config["tasks.max"] == "1"
    assert sink.config["value.converter"] == "org.apache.kafka.connect.storage.StringConverter"
    props = runtime.worker_properties(s, bootstrap="x:1", rest_port=1, mode="standalone")
    assert props["config.providers"] == "env,file"
    assert props["config.providers.env.class"] == "org.apache.kafka.common.config.provider.EnvVarConfigProvider"
    assert set(runtime.worker_env(s)) >= {"STUDENTFLOW_TOPIC", "STUDENTFLOW_STAGING_DIR"}


def test_unknown_env_and_home_made_placeholders_are_rejected(tmp_path):
    s = config.load(env={})
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": "x", "config": {"file": "${env:NO_SUCH_VAR}/f"}}))
    with pytest.raises(ConnectError, match="NO_SUCH_VAR"):
        rest.load_connector_file(bad, s)
    bad.write_text(json.dumps({"name": "x", "config": {"file": "${staging_dir}/f"}}))
    with pytest.raises(ConnectError, match=r"env:STUDENTFLOW_STAGING_DIR"):
        rest.load_connector_file(bad, s)


def test_file_provider_reference_resolves_from_a_properties_file(tmp_path):
    secrets = tmp_path / "secrets.properties"
    secrets.write_text("topic=caf\\u00E9\n", encoding="latin-1")
    assert rest.resolve(f"${{file:{secrets}:topic}}-x", {}) == "café-x"
    assert rest.resolve("${vault:a:b}", {}) == "${vault:a:b}"  # other providers are the worker's business


def test_connector_files_keep_machine_paths_out():
    for f in Path(rest.CONNECTORS_DIR).glob("*.json"):
        text = f.read_text()
        assert "/tmp/" not in text and "/work/" not in text and "/root/" not in text


def test_the_documented_tansu_table_is_the_embedded_session():
    doc = (Path(runtime.__file__).parents[1] / "docs" / "connect.md").read_text(encoding="utf-8")
    assert "[kafka.java]\n" + runtime.embedded_session_lines() in doc
