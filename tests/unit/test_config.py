from pathlib import Path

import pytest

from studentflow.core import config
from studentflow.core.errors import ConfigError


def test_defaults_resolve_relative_to_project_root():
    s = config.load(env={})
    assert s.warehouse == config.PROJECT_ROOT / "data" / "warehouse.db"
    assert s.embedded_kafka and s.embedded_connect
    assert s.topic == "students.raw"


def test_env_overrides_file_and_defaults(tmp_path: Path):
    cfg = tmp_path / "sf.toml"
    cfg.write_text('[studentflow]\ntopic = "from.file"\nage_max = 90\n')
    s = config.load(env={"STUDENTFLOW_CONFIG": str(cfg), "STUDENTFLOW_AGE_MAX": "80"})
    assert s.topic == "from.file"
    assert s.age_max == 80


def test_unknown_key_in_file_is_rejected(tmp_path: Path):
    cfg = tmp_path / "sf.toml"
    cfg.write_text('topik = "typo"\n')
    with pytest.raises(ConfigError, match="topik"):
        config.load(env={"STUDENTFLOW_CONFIG": str(cfg)})


def test_bad_integer_names_the_variable():
    with pytest.raises(ConfigError, match="STUDENTFLOW_AGE_MIN"):
        config.load(env={"STUDENTFLOW_AGE_MIN": "abc"})


def test_ssl_client_config_and_secrets_masked():
    s = config.load(env={"STUDENTFLOW_BOOTSTRAP_SERVERS": "kafka.example:9093",
                         "STUDENTFLOW_SECURITY_PROTOCOL": "SASL_SSL",
                         "STUDENTFLOW_SASL_MECHANISM": "SCRAM-SHA-256",
                         "STUDENTFLOW_SASL_USERNAME": "alice",
                         "STUDENTFLOW_SASL_PASSWORD": "s3cr3t-value",
                         "STUDENTFLOW_SSL_CA_LOCATION": "ca.pem"})
    conf = s.kafka_client_config()
    assert conf["security.protocol"] == "SASL_SSL"
    assert conf["sasl.mechanism"] == "SCRAM-SHA-256"
    assert conf["sasl.password"] == "s3cr3t-value"
    assert conf["ssl.ca.location"] == "ca.pem"
    assert "s3cr3t-value" not in str(s.redacted())


def test_security_without_bootstrap_is_a_clear_error():
    with pytest.raises(ConfigError, match="BOOTSTRAP_SERVERS"):
        config.load(env={"STUDENTFLOW_SECURITY_PROTOCOL": "SSL"})


def test_the_delivery_timeout_is_whole_positive_seconds():
    assert config.load(env={"STUDENTFLOW_DELIVERY_TIMEOUT": "8"}).delivery_timeout == 8
    assert config.load(env={}).delivery_timeout == 30
    for bad in ("0", "-3"):
        with pytest.raises(ConfigError, match="STUDENTFLOW_DELIVERY_TIMEOUT"):
            config.load(env={"STUDENTFLOW_DELIVERY_TIMEOUT": bad})
