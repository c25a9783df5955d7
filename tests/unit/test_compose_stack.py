"""Static checks of the docker-compose stack (no docker engine runs here).

What can be checked without running a container: the compose file parses and validates, every
service's image/build, command, ports, volumes and dependencies are consistent, the Dockerfile's
sources exist, the environment uses real settings, the Connect worker file matches the image and
the embedded worker, and the connector files applied are the very files of connect/connectors/.
"""
from __future__ import annotations

import base64
import re
import shutil
import stat
import subprocess
from pathlib import Path, PurePosixPath

import pytest
import yaml

from studentflow.core import config

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
WORKER_PROPS = REPO / "docker" / "connect-distributed.properties"
APPLY_SCRIPT = REPO / "docker" / "apply-connectors.sh"
APP_HOME = PurePosixPath("/app")  # WORKDIR of the Dockerfile, where `COPY . .` puts the repo


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def _props(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "!")):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def _mounts(service: dict) -> list[tuple[str, str, str]]:
    """(source, target, mode) for every short-syntax volume entry."""
    out = []
    for entry in service.get("volumes", []):
        assert isinstance(entry, str), f"use the short volume syntax: {entry!r}"
        parts = entry.split(":")
        assert len(parts) in (2, 3), f"volume entry {entry!r} is not source:target[:mode]"
        out.append((parts[0], parts[1], parts[2] if len(parts) == 3 else "rw"))
    return out


def _is_bind(source: str) -> bool:
    return source.startswith((".", "/", "~"))


def _env(service: dict) -> dict[str, str]:
    env = service.get("environment", {})
    assert isinstance(env, dict), "use the mapping form for environment"
    return {k: str(v) for k, v in env.items()}


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _dockerfile_env() -> dict[str, str]:
    env = {}
    for word, rest in _dockerfile_instructions():
        if word == "ENV":
            for key, value in re.findall(r"(\w+)=(\S+)", rest):
                env[key] = value
    return env


def _image_tag(image: str) -> str:
    return image.rsplit(":", 1)[1]


# --- the file itself -------------------------------------------------------------------------

def test_compose_file_parses_with_the_expected_services(services, compose):
    assert set(services) == {"kafka", "connect", "spark", "connect-apply", "app"}
    assert set(compose["volumes"]) == {"kafka-data", "staging", "data", "drop", "state"}


def test_compose_validates_with_the_docker_compose_cli():
    """The real Compose validator (schema + semantics), which works without an engine."""
    candidates = []
    if shutil.which("docker"):
        candidates.append(["docker", "compose"])
    if shutil.which("docker-compose"):
        candidates.append(["docker-compose"])
    for cmd in candidates:
        probe = subprocess.run(cmd + ["version"], capture_output=True, text=True, timeout=60)
        if probe.returncode != 0:
            continue  # e.g. the docker CLI without its compose plugin
        run = subprocess.run(cmd + ["-f", str(COMPOSE_FILE), "config", "-q"], cwd=REPO,
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, f"{' '.join(cmd)} config rejected docker-compose.yml:\n{run.stderr}"
        return
    pytest.skip("no Compose CLI: neither `docker compose` (plugin) nor `docker-compose` is installed "
                "(scripts/apt-packages.txt lists docker-compose; run `make setup`)")


# --- images ------------------------------------------------------------------------------------

def test_kafka_and_connect_use_the_same_pinned_official_image(services):
    for name in ("kafka", "connect"):
        assert re.fullmatch(r"apache/kafka:3\.9\.\d+", services[name]["image"]), services[name]["image"]
    assert services["kafka"]["image"] == services["connect"]["image"]


def test_app_services_build_this_repository(services):
    for name in ("connect-apply", "app"):
        build = services[name]["build"]
        context = (REPO / build["context"]).resolve()
        assert context == REPO
        assert (context / build.get("dockerfile", "Dockerfile")).is_file()
        assert services[name]["image"] == services["app"]["image"], "both app services share one image"


# --- volumes -----------------------------------------------------------------------------------

def test_named_volumes_are_declared_and_bind_mounts_exist(services, compose):
    declared = set(compose["volumes"])
    used = set()
    for name, svc in services.items():
        for source, target, mode in _mounts(svc):
            assert target.startswith("/"), f"{name}: mount target {target} must be absolute"
            assert mode in ("rw", "ro"), f"{name}: unknown mount mode {mode}"
            if _is_bind(source):
                assert not source.startswith("/"), f"{name}: bind mount {source} must be relative to the repo"
                assert (REPO / source).exists(), f"{name}: bind-mounted path {source} does not exist in the repo"
            else:
                assert source in declared, f"{name}: volume {source} is not declared under volumes:"
                used.add(source)
    assert used == declared, f"declared but unused volumes: {declared - used}"


def test_staging_volume_is_shared_at_the_same_path_as_the_staging_setting(services):
    def target_of(svc: str, volume: str) -> str:
        found = [t for s, t, _ in _mounts(services[svc]) if s == volume]
        assert found, f"{svc} does not mount the {volume} volume"
        return found[0]

    staging_path = target_of("connect", "staging")
    # The connector's `file` is filled from the app's settings and opened by the worker: one path.
    for svc in ("connect-apply", "app"):
        assert target_of(svc, "staging") == staging_path
        assert _env(services[svc])["STUDENTFLOW_STAGING_DIR"] == staging_path
        assert _env(services[svc])["STUDENTFLOW_DATA_DIR"] == target_of(svc, "data")
    assert PurePosixPath(_env(services["app"])["STUDENTFLOW_WAREHOUSE"]).parent == PurePosixPath(
        target_of("app", "data"))


def test_connector_files_mounted_are_the_ones_the_embedded_stack_applies(services):
    from connect import rest

    relative = rest.CONNECTORS_DIR.relative_to(REPO)
    assert relative == Path("connect/connectors")
    assert list(rest.CONNECTORS_DIR.glob("*.json")), "no connector file to apply"
    for svc in ("connect-apply", "app"):
        mounts = {(REPO / s).resolve(): t for s, t, _ in _mounts(services[svc]) if _is_bind(s)}
        # the same folder (not a copy), mounted where the image's code looks for it
        assert mounts.get(rest.CONNECTORS_DIR) == str(APP_HOME / relative), mounts


def test_connector_files_resolve_on_the_compose_worker_to_the_shared_paths(services):
    from connect import rest, runtime

    settings = config.load(env=_env(services["connect-apply"]))
    worker_env = _env(services["connect"])
    # The worker resolves ${env:...} from its own environment: it must match the app's settings.
    for key, value in runtime.worker_env(settings).items():
        assert str(worker_env.get(key)) == value, f"connect service: {key} differs from the app's setting"
    staging = worker_env["STUDENTFLOW_STAGING_DIR"]
    for path in sorted(rest.CONNECTORS_DIR.glob("*.json")):
        cf = rest.load_connector_file(path, settings)
        resolved = {k: rest.resolve(v, {k: str(v) for k, v in worker_env.items()}) for k, v in cf.raw.items()}
        assert not any("${" in v for v in resolved.values()), f"{path.name}: unresolved reference"
        if "file" in resolved and not cf.is_source:
            assert PurePosixPath(resolved["file"]).parent == PurePosixPath(staging)
        if cf.is_source:
            drop = PurePosixPath(resolved["file"]).parent
            assert any(PurePosixPath(t) == drop for _s, t, _m in _mounts(services["connect"])), \
                f"{path.name}: {drop} is not a volume of the connect service"
        assert cf.config.get("tasks.max") == "1"  # the file sink's tasks would share one file


# --- environment -------------------------------------------------------------------------------

def _config_module_env_names() -> set[str]:
    """STUDENTFLOW_* variables config.py reads besides the per-field ones."""
    return set(re.findall(r'"(STUDENTFLOW_[A-Z_]+)"', Path(config.__file__).read_text(encoding="utf-8")))


def test_studentflow_env_vars_are_real_settings(services):
    fields = {f"STUDENTFLOW_{f.name.upper()}" for f in config.FIELDS}
    known = fields | _config_module_env_names()
    assert "STUDENTFLOW_HOME" in known
    names = {k for svc in services.values() for k in _env(svc)} | set(_dockerfile_env())
    used = {n for n in names if n.startswith("STUDENTFLOW_")}
    assert used, "no STUDENTFLOW_* variable found"
    assert used <= known, f"not a studentflow setting: {sorted(used - known)}"


def test_app_environment_loads_as_valid_settings(services):
    env = _env(services["app"])
    settings = config.load(env=env)
    assert not settings.embedded_kafka and not settings.embedded_connect
    assert settings.staging_dir == Path(env["STUDENTFLOW_STAGING_DIR"])
    assert settings.warehouse == Path(env["STUDENTFLOW_WAREHOUSE"])


def test_app_points_at_the_compose_kafka_and_connect(services):
    props = _props(WORKER_PROPS)
    env = _env(services["app"])
    kafka_env = _env(services["kafka"])
    assert f"PLAINTEXT://{env['STUDENTFLOW_BOOTSTRAP_SERVERS']}" in kafka_env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert props["bootstrap.servers"] == env["STUDENTFLOW_BOOTSTRAP_SERVERS"]
    host, port = props["rest.advertised.host.name"], props["rest.advertised.port"]
    assert host in services and env["STUDENTFLOW_CONNECT_URL"] == f"http://{host}:{port}"


def test_app_attaches_to_the_spark_service_which_sees_its_state_folder(services):
    """The app's Spark work runs on the `spark` service (its own command is run for real in
    tests/integration/test_spark_server.py): the URL names that service and the port it serves
    on, both mount the state volume where STUDENTFLOW_STATE_DIR says (the increments' files the
    app cuts are read by the server), and the app starts only once the server answers."""
    env, spark = _env(services["app"]), services["spark"]
    cmd = spark["command"]
    host, port = env["STUDENTFLOW_SPARK_REMOTE"].removeprefix("sc://").split(":")
    assert host == "spark" and (spark.get("hostname") == "spark" or "spark" in services)
    assert cmd[cmd.index("--port") + 1] == port and cmd[cmd.index("--host") + 1] == "0.0.0.0"
    assert port in " ".join(spark["healthcheck"]["test"])
    for svc in ("app", "spark"):
        state = [t for s, t, _ in _mounts(services[svc]) if s == "state"]
        assert state == [_env(services[svc])["STUDENTFLOW_STATE_DIR"]], svc
    assert services["app"]["depends_on"]["spark"] == {"condition": "service_healthy"}


# --- ports, commands, dependencies ------------------------------------------------------------

def test_published_ports_are_unique_and_listened_on(services):
    host_ports = []
    for name, svc in services.items():
        for entry in svc.get("ports", []):
            host, _, container = str(entry).rpartition(":")
            host_ports.append(host)
            if name == "kafka":
                assert f"://:{container}" in _env(svc)["KAFKA_LISTENERS"]
            if name == "connect":
                assert _props(WORKER_PROPS)["listeners"].endswith(f":{container}")
    assert len(host_ports) == len(set(host_ports)), host_ports
    assert "8083" in host_ports


def test_kafka_is_a_single_kraft_node(services):
    env = _env(services["kafka"])
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    # the image's start script refuses KRaft mode without CLUSTER_ID: a base64url-encoded 16-byte UUID
    cluster_id = env["CLUSTER_ID"]
    assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16 and len(cluster_id) == 22
    node = env["KAFKA_NODE_ID"]
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"].startswith(f"{node}@kafka:")
    controller_port = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].rsplit(":", 1)[1]
    assert f"CONTROLLER://:{controller_port}" in env["KAFKA_LISTENERS"]
    for key in ("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"):
        assert env[key] == "1"
    listeners = {item.split("://")[0] for item in env["KAFKA_LISTENERS"].split(",")}
    protocol_map = dict(item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert listeners <= set(protocol_map)
    mounted = {t for _, t, _ in _mounts(services["kafka"])}
    assert env["KAFKA_LOG_DIRS"] in mounted, "the broker's data must live on a volume"


def test_connect_runs_distributed_mode_with_the_mounted_worker_file(services):
    command = services["connect"]["command"]
    assert command[0] == "/opt/kafka/bin/connect-distributed.sh"
    binds = {t: (REPO / s).resolve() for s, t, _ in _mounts(services["connect"]) if _is_bind(s)}
    assert binds.get(command[1]) == WORKER_PROPS


def test_worker_file_internal_topics_plugin_path_and_overrides(services):
    props = _props(WORKER_PROPS)
    for kind in ("config", "offset", "status"):
        assert props[f"{kind}.storage.replication.factor"] == "1"
        assert props[f"{kind}.storage.topic"]
    assert props["group.id"]
    assert props["connector.client.config.override.policy"] == "All"
    version = _image_tag(services["connect"]["image"])
    # the connect-file jar of THIS image (kafka-run-class.sh keeps it off the classpath)
    assert props["plugin.path"] == f"/opt/kafka/libs/connect-file-{version}.jar"
    assert props["value.converter"] == "org.apache.kafka.connect.storage.StringConverter"


def test_worker_file_mirrors_the_embedded_distributed_worker():
    from connect import runtime

    settings = config.load(env={})
    embedded = runtime.worker_properties(settings, bootstrap="x:1", rest_port=8083, mode="distributed")
    network = {"bootstrap.servers", "listeners", "rest.advertised.host.name", "rest.advertised.port"}
    # the embedded broker's short group session: compose runs a real broker, which refuses it
    broker = set(runtime.EMBEDDED_BROKER_CONSUMER) | set(runtime.EMBEDDED_BROKER_SESSION)
    props = _props(WORKER_PROPS)
    differ = {k: (v, props.get(k)) for k, v in embedded.items() if k not in network | broker and props.get(k) != v}
    assert not differ, f"docker worker file drifted from connect/runtime.py: {differ}"
    assert not broker & set(props)


def test_depends_on_targets_exist_and_healthchecks_back_service_healthy(services):
    for name, svc in services.items():
        for dep, spec in svc.get("depends_on", {}).items():
            assert dep in services and dep != name
            cond = spec["condition"]
            assert cond in ("service_started", "service_healthy", "service_completed_successfully")
            if cond == "service_healthy":
                assert services[dep].get("healthcheck", {}).get("test"), f"{dep} has no healthcheck"
            if cond == "service_completed_successfully":
                assert services[dep].get("restart") == "no", f"{dep} is a one-shot: restart must be 'no'"
    assert services["app"]["depends_on"]["connect-apply"]["condition"] == "service_completed_successfully"
    assert services["connect-apply"]["depends_on"]["connect"]["condition"] == "service_healthy"
    assert services["connect"]["depends_on"]["kafka"]["condition"] == "service_healthy"


def test_app_commands_are_real_cli_commands(services):
    from studentflow import cli

    parser = cli.build_parser()
    subcommands = next(a for a in parser._actions if a.dest == "command").choices
    assert services["app"]["command"][0] == "studentflow"
    assert services["app"]["command"][1] in subcommands, (
        f"`studentflow {services['app']['command'][1]}` is not a registered command")
    # the one-shot service runs a script of the repo, copied to /app and mounted nowhere else
    script = services["connect-apply"]["command"][0]
    rel = PurePosixPath(script).relative_to(APP_HOME)
    assert REPO / rel == APPLY_SCRIPT
    assert APPLY_SCRIPT.stat().st_mode & stat.S_IXUSR, "apply script must be executable"
    text = APPLY_SCRIPT.read_text(encoding="utf-8")
    assert "exec studentflow connect apply" in text
    connect_actions = parser.parse_args(["connect", "apply"])
    assert connect_actions.handler.__name__ == "_apply"


# --- Dockerfile --------------------------------------------------------------------------------

def test_dockerfile_base_packages_and_workdir():
    instructions = _dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim-bookworm")
    run = " ".join(rest for word, rest in instructions if word == "RUN")
    wanted = {"openjdk-17-jre-headless", "libxerial-sqlite-jdbc-java"}
    assert all(p in run for p in wanted)
    apt_txt = (REPO / "scripts" / "apt-packages.txt").read_text(encoding="utf-8")
    local = {line.split("#")[0].strip() for line in apt_txt.splitlines()} - {""}
    image_pkgs = set(re.search(r"--no-install-recommends\s+([^&]+)", run).group(1).split())
    assert image_pkgs <= local, f"image installs packages the local setup does not: {image_pkgs - local}"
    workdirs = [rest for word, rest in instructions if word == "WORKDIR"]
    assert workdirs == [str(APP_HOME)]
    assert _dockerfile_env()["STUDENTFLOW_HOME"] == str(APP_HOME)
    assert "pip install --no-deps -e ." in run  # editable: stages read files next to their code


def test_dockerfile_copy_sources_exist_and_are_not_dockerignored():
    ignored = [line.strip() for line in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
               if line.strip() and not line.startswith("#")]
    sources = []
    for word, rest in _dockerfile_instructions():
        if word in ("COPY", "ADD"):
            args = [a for a in rest.split() if not a.startswith("--")]
            assert "--from" not in rest
            sources += args[:-1]
    assert sources
    for src in sources:
        assert (REPO / src).exists(), f"Dockerfile copies {src}, which does not exist"
        assert src == "." or src not in ignored
    # what the image needs at run time is in the build context
    for needed in ("pyproject.toml", "connect/connectors", "dbt_project", "spark_jobs/warehouse.sql",
                   "docker/apply-connectors.sh", "studentflow"):
        assert (REPO / needed).exists()
        assert not any(needed == pat or needed.startswith(pat.rstrip("/") + "/") for pat in ignored), needed
    for local_state in (".venv", ".state", "data", ".git"):
        assert local_state in ignored
