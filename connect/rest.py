"""A small client for the Kafka Connect REST API (standard library only).

Connectors are code: one JSON file per connector (``{"name": ..., "config": {...}}``) in
connect/connectors/. Values use Kafka's standard config providers (``${env:VAR}``,
``${file:path:key}``), resolved by the worker itself (``config.providers`` in its properties),
so a file is posted as it is: by ``studentflow connect apply``, curl or the Confluent CLI alike.
``ConnectorFile.config`` is the file as the worker will see it (resolved here with the
environment studentflow gives the embedded worker); ``ConnectorFile.raw`` is what is posted.
"""
from __future__ import annotations

import base64
import http.client
import json
import re
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from studentflow.core.config import Settings
from connect import properties
from studentflow.core.errors import ConnectError, ConnectHTTPError, ExitCode

CONNECTORS_DIR = Path(__file__).resolve().parent / "connectors"
# Kafka's own ConfigTransformer pattern: ${provider:[path:]key}
PROVIDER_REF = re.compile(r"\$\{([^}]*?):(([^}]*?):)?([^}]*?)\}")
_OLD_PLACEHOLDER = re.compile(r"\$\{([a-z_]+)\}")


class RestClient:
    """Kafka Connect REST calls; basic auth and a private CA for a secured Connect cluster."""

    def __init__(self, base_url: str, timeout: float = 15.0, *, username: str = "", password: str = "",
                 ca_file: str = "") -> None:
        self.base = base_url.rstrip("/")
        self.timeout = timeout
        self.headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if username:
            token = base64.b64encode(f"{username}:{password}".encode()).decode()
            self.headers["Authorization"] = f"Basic {token}"
        self.context = ssl.create_default_context(cafile=ca_file) if ca_file else None

    def request(self, method: str, path: str, body: Any = None, ok_missing: bool = False,
                rebalance_wait: float = 15.0) -> Any:
        """One REST call. A 409 while a distributed worker rebalances is retried for ``rebalance_wait`` s."""
        deadline = time.monotonic() + rebalance_wait
        while True:
            try:
                return self._request(method, path, body, ok_missing)
            except ConnectHTTPError as exc:
                if exc.status != 409 or "rebalanc" not in exc.message.lower() or time.monotonic() > deadline:
                    raise
            time.sleep(0.5)

    def _request(self, method: str, path: str, body: Any, ok_missing: bool) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=self.headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout, context=self.context) as resp:
                raw = resp.read()
                return json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            if ok_missing and exc.code == 404:
                return None
            try:
                message = json.loads(exc.read() or b"{}").get("message", "")
            except ValueError:
                message = ""
            raise ConnectHTTPError(f"{method} {path} failed with HTTP {exc.code}: {message or exc.reason}",
                                   _hint_for(exc.code, message), status=exc.code, method=method, path=path) from None
        except (TimeoutError, http.client.HTTPException) as exc:
            # The worker accepted the connection but did not answer in time (or hung up mid-answer).
            raise ConnectError(f"Kafka Connect at {self.base} did not answer {method} {path} within "
                               f"{self.timeout:.0f}s: {exc or type(exc).__name__}",
                               "the worker may be overloaded or stuck: see the worker log (`studentflow stack status`), "
                               "then retry") from None
        except (urllib.error.URLError, ConnectionError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, TimeoutError):
                raise ConnectError(f"Kafka Connect at {self.base} did not answer {method} {path} within "
                                   f"{self.timeout:.0f}s", "see the worker log (`studentflow stack status`), "
                                   "then retry") from None
            raise ConnectError(f"cannot reach Kafka Connect at {self.base}: {reason}",
                               "start it with `studentflow stack up` or check STUDENTFLOW_CONNECT_URL") from None
        except ValueError as exc:  # a body that is not JSON: not a Connect REST API
            raise ConnectError(f"{method} {path}: {self.base} answered something that is not JSON ({exc})",
                               "check STUDENTFLOW_CONNECT_URL points at a Kafka Connect REST API") from None

    def ready(self) -> bool:
        try:
            return "version" in (self.request("GET", "/") or {})
        except ConnectError:
            return False


def client(settings: Settings, url: str | None = None) -> RestClient:
    """A client for the configured Connect cluster (or the embedded worker), with its credentials."""
    if url is None:
        from studentflow.core.endpoints import connect_url
        url = connect_url(settings)
    return RestClient(url, username=settings.connect_username, password=settings.connect_password,
                      ca_file=settings.connect_ca_location)


def _hint_for(code: int, message: str = "") -> str:
    if code == 409 and "already exists" in message:
        return "`studentflow connect apply` updates a connector in place; or `connect delete NAME` first"
    return {401: "set STUDENTFLOW_CONNECT_USERNAME / STUDENTFLOW_CONNECT_PASSWORD for this Connect cluster",
            403: "this Connect user may not do that",
            404: "check the connector name (`studentflow connect status` lists them)",
            409: "the worker is rebalancing; retry in a few seconds",
            500: "see the Connect worker log (`studentflow stack status` shows where)"}.get(
        code, "see the Connect worker log (`studentflow stack status` shows where), then retry" if code >= 500 else "")


@dataclass
class ConnectorFile:
    path: Path
    name: str
    config: dict[str, str]  # as the worker will see it (providers resolved)
    raw: dict[str, str]     # as written in the file: what is posted

    @property
    def connector_class(self) -> str:
        return self.config.get("connector.class", "")

    @property
    def is_source(self) -> bool:
        return "topics" not in self.raw and "topics.regex" not in self.raw


def resolve(value: str, env: dict[str, str]) -> str:
    """A value as a worker with ``config.providers=env,file`` and this environment resolves it."""
    def sub(m: re.Match) -> str:
        provider, path, key = m.group(1), m.group(3), m.group(4)
        if provider == "env" and not path:
            if key not in env:
                raise ConnectError(f"${{env:{key}}}: the worker gets no variable {key}",
                                   f"use one of {', '.join(sorted(env))}, or give the worker {key}")
            return env[key]
        if provider == "file" and path:
            props = _read_properties(Path(path))
            return props.get(key, m.group(0))
        return m.group(0)  # another provider: left to the worker
    return PROVIDER_REF.sub(sub, value)


def _read_properties(path: Path) -> dict[str, str]:
    """PATH as the worker's FileConfigProvider reads it (java.util.Properties, UTF-8); an
    unreadable file resolves nothing here (the worker reports it)."""
    try:
        return properties.load(path)
    except OSError:
        return {}
    except UnicodeDecodeError as exc:
        raise ConnectError(f"${{file:{path}:...}}: {path} is not UTF-8 ({exc.reason} at byte {exc.start})",
                           "save it as UTF-8 (the worker reads it so), or write non-ASCII as \\uXXXX") from None
    except properties.PropertiesError as exc:
        raise ConnectError(f"${{file:{path}:...}}: {path}, {exc}",
                           "write the character as \\u and four hex digits, or \\\\ for a backslash") from None


def load_connector_file(path: Path, settings: Settings) -> ConnectorFile:
    from connect.runtime import worker_env

    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConnectError(f"connector file {path} does not exist", "list connect/connectors/") from None
    except ValueError as exc:
        raise ConnectError(f"connector file {path} is not valid JSON: {exc}", "fix the file") from None
    if not isinstance(doc, dict) or "name" not in doc or not isinstance(doc.get("config"), dict):
        raise ConnectError(f"connector file {path} must be {{\"name\": ..., \"config\": {{...}}}}", "fix the file")
    raw = {k: str(v) for k, v in doc["config"].items()}
    raw.setdefault("name", doc["name"])
    for key, value in raw.items():
        old = _OLD_PLACEHOLDER.search(value)
        if old:
            raise ConnectError(f"{Path(path).name}: {key} uses the placeholder {old.group(0)}, which no worker resolves",
                               f"use Kafka's config providers, e.g. ${{env:STUDENTFLOW_{old.group(1).upper()}}}")
    env = worker_env(settings)
    return ConnectorFile(Path(path), doc["name"], {k: resolve(v, env) for k, v in raw.items()}, raw)


def connector_files(paths: list[str] | None, settings: Settings) -> list[ConnectorFile]:
    chosen = [Path(p) for p in paths] if paths else sorted(CONNECTORS_DIR.glob("*.json"))
    if not chosen:
        raise ConnectError(f"no connector files in {CONNECTORS_DIR}", "add one {name, config} JSON file per connector")
    return [load_connector_file(p, settings) for p in chosen]


def apply(client: RestClient, cf: ConnectorFile) -> str:
    """Create or update a connector idempotently. Returns 'created', 'updated' or 'unchanged'."""
    current = client.request("GET", f"/connectors/{cf.name}/config", ok_missing=True)
    if current is not None and current == cf.raw:
        return "unchanged"
    client.request("PUT", f"/connectors/{cf.name}/config", cf.raw)
    return "created" if current is None else "updated"


def validate(client: RestClient, cf: ConnectorFile) -> list[tuple[str, str]]:
    """(field, message) for every error the worker finds in the config."""
    if not cf.connector_class:
        return [("connector.class", "missing")]
    plugin = cf.connector_class.rsplit(".", 1)[-1]
    try:
        result = client.request("PUT", f"/connector-plugins/{plugin}/config/validate", cf.raw)
    except ConnectHTTPError as exc:
        if exc.status in (400, 404, 500):
            installed = sorted(p["class"] for p in client.request("GET", "/connector-plugins") or [])
            return [("connector.class", f"unknown connector class {cf.connector_class!r}; installed: {', '.join(installed)}")]
        raise
    errors = []
    for item in result.get("configs", []):
        value = item.get("value", {})
        for err in value.get("errors", []):
            errors.append((value.get("name", "?"), err))
    return errors


class ConnectorInvalid(ConnectError):
    """A connector file the worker refused field by field (``errors``: [(field, message)])."""

    exit_code = ExitCode.FAILED   # the worker answered: the file's fields are wrong (a failed check)

    def __init__(self, cf: ConnectorFile, errors: list[tuple[str, str]]) -> None:
        super().__init__(f"connector {cf.name} is invalid: " + "; ".join(f"{k}: {v}" for k, v in errors),
                         f"fix {cf.path.name} (`studentflow connect validate`)")
        self.connector_file = cf
        self.errors = errors


def apply_all(client: RestClient, files: list[ConnectorFile], *, make_folders: bool = True, wait: bool = True,
              timeout: float = 60.0, on_applied: Callable[[ConnectorFile, str, dict | None], None] | None = None,
              ) -> list[str]:
    """Validate, apply (idempotent PUT) and wait for RUNNING, file by file: the one sequence the
    `connect apply` command and `studentflow run` share. Raises :class:`ConnectorInvalid` on the
    first file the worker refuses. Returns "NAME created|updated[, RUNNING]" per file."""
    done = []
    for cf in files:
        if make_folders and cf.config.get("file"):   # the file connectors do not create folders
            Path(cf.config["file"]).parent.mkdir(parents=True, exist_ok=True)
        errors = validate(client, cf)
        if errors:
            raise ConnectorInvalid(cf, errors)
        outcome = apply(client, cf)
        st = wait_running(client, cf.name, timeout=timeout) if wait else None
        if on_applied:
            on_applied(cf, outcome, st)
        done.append(f"{cf.name} {outcome}" + (", RUNNING" if wait else ""))
    return done


def status(client: RestClient, name: str) -> dict:
    return client.request("GET", f"/connectors/{name}/status")


def wait_running(client: RestClient, name: str, timeout: float = 60.0) -> dict:
    """Poll /status until the connector and all its tasks are RUNNING; fail on FAILED."""
    deadline = time.monotonic() + timeout
    last: dict = {}
    while time.monotonic() < deadline:
        last = client.request("GET", f"/connectors/{name}/status", ok_missing=True) or {}
        tasks = last.get("tasks", [])
        states = [last.get("connector", {}).get("state")] + [t.get("state") for t in tasks]
        if "FAILED" in states:
            trace = next((t.get("trace", "") for t in tasks if t.get("state") == "FAILED"),
                         last.get("connector", {}).get("trace", ""))
            first = (trace or "").strip().splitlines()[:1]
            raise ConnectError(f"connector {name} FAILED: {first[0] if first else 'no trace'}",
                               f"`studentflow connect status {name}` shows the trace; fix and `connect restart {name}`")
        if tasks and all(s == "RUNNING" for s in states):
            return last
        time.sleep(0.1)
    raise ConnectError(f"connector {name} not RUNNING after {timeout:.0f}s (last: {last})",
                       "see the worker log (`studentflow stack status`)")


def connector_state(client: RestClient, name: str) -> str:
    st = client.request("GET", f"/connectors/{name}/status", ok_missing=True)
    if st is None:
        raise ConnectError(f"connector {name} does not exist", "`studentflow connect status` lists connectors")
    return st.get("connector", {}).get("state", "")


def wait_state(client: RestClient, name: str, wanted: str, timeout: float = 30.0) -> None:
    """Poll until the connector (and every task still listed) reports ``wanted``."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        st = client.request("GET", f"/connectors/{name}/status", ok_missing=True) or {}
        states = [st.get("connector", {}).get("state")] + [t.get("state") for t in st.get("tasks", [])]
        last = ", ".join(str(s) for s in states)
        if all(s == wanted for s in states):
            return
        time.sleep(0.25)
    raise ConnectError(f"connector {name} not {wanted} after {timeout:.0f}s (states: {last})",
                       "see the worker log (`studentflow stack status`)")


def pause(client: RestClient, name: str) -> None:
    client.request("PUT", f"/connectors/{name}/pause")


def resume(client: RestClient, name: str) -> None:
    client.request("PUT", f"/connectors/{name}/resume")


def stop(client: RestClient, name: str) -> None:
    """PUT /stop (Kafka 3.5+): tasks shut down, config kept; offsets can then be changed."""
    client.request("PUT", f"/connectors/{name}/stop")


def offsets(client: RestClient, name: str) -> list[dict]:
    """GET /connectors/{name}/offsets (Kafka 3.5+): [{"partition": {...}, "offset": {...}}, ...]."""
    return (client.request("GET", f"/connectors/{name}/offsets") or {}).get("offsets", [])


def _require_stopped(client: RestClient, name: str) -> None:
    state = connector_state(client, name)
    if state != "STOPPED":
        raise ConnectError(f"connector {name} is {state}: offsets can only be changed while it is STOPPED",
                           f"`studentflow connect stop {name}` first (or add --stop)")


def reset_offsets(client: RestClient, name: str) -> str:
    """DELETE /connectors/{name}/offsets (Kafka 3.6+); the connector must be STOPPED."""
    _require_stopped(client, name)
    return (client.request("DELETE", f"/connectors/{name}/offsets") or {}).get("message", "")


def alter_offsets(client: RestClient, name: str, new: list[dict]) -> str:
    """PATCH /connectors/{name}/offsets with {"offsets": [...]} (Kafka 3.6+); STOPPED only."""
    _require_stopped(client, name)
    return (client.request("PATCH", f"/connectors/{name}/offsets", {"offsets": new}) or {}).get("message", "")
