"""A small client for the Kafka Connect REST API (standard library only).

Connectors are code: one JSON file per connector (``{"name": ..., "config": {...}}``) in
connect/connectors/. Placeholders ``${setting_name}`` in config values are filled from
Settings at apply time, so files stay free of machine paths.
"""
from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studentflow.config import Settings
from studentflow.errors import ConnectError

CONNECTORS_DIR = Path(__file__).resolve().parent / "connectors"
_PLACEHOLDER = re.compile(r"\$\{([a-z_]+)\}")


class RestClient:
    def __init__(self, base_url: str, timeout: float = 15.0) -> None:
        self.base = base_url.rstrip("/")
        self.timeout = timeout

    def request(self, method: str, path: str, body: Any = None, ok_missing: bool = False) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json", "Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
                return json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            if ok_missing and exc.code == 404:
                return None
            try:
                message = json.loads(exc.read() or b"{}").get("message", "")
            except ValueError:
                message = ""
            raise ConnectError(f"{method} {path} failed with HTTP {exc.code}: {message or exc.reason}",
                               _hint_for(exc.code)) from None
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ConnectError(f"cannot reach Kafka Connect at {self.base}: {reason}",
                               "start it with `studentflow stack up` or check STUDENTFLOW_CONNECT_URL") from None

    def ready(self) -> bool:
        try:
            return "version" in (self.request("GET", "/") or {})
        except ConnectError:
            return False


def _hint_for(code: int) -> str:
    return {404: "check the connector name (`studentflow connect status` lists them)",
            409: "the worker is rebalancing; retry in a few seconds",
            500: "see the Connect worker log (`studentflow stack status` shows where)"}.get(code, "")


@dataclass
class ConnectorFile:
    path: Path
    name: str
    config: dict[str, str]

    @property
    def connector_class(self) -> str:
        return self.config.get("connector.class", "")


def fill_placeholders(value: str, settings: Settings) -> str:
    def sub(m: re.Match) -> str:
        key = m.group(1)
        if not hasattr(settings, key):
            raise ConnectError(f"unknown placeholder ${{{key}}}", "use a setting name from `studentflow config`")
        return str(getattr(settings, key))
    return _PLACEHOLDER.sub(sub, value)


def load_connector_file(path: Path, settings: Settings) -> ConnectorFile:
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConnectError(f"connector file {path} does not exist", "list connect/connectors/") from None
    except ValueError as exc:
        raise ConnectError(f"connector file {path} is not valid JSON: {exc}", "fix the file") from None
    if not isinstance(doc, dict) or "name" not in doc or not isinstance(doc.get("config"), dict):
        raise ConnectError(f"connector file {path} must be {{\"name\": ..., \"config\": {{...}}}}", "fix the file")
    config = {k: fill_placeholders(str(v), settings) for k, v in doc["config"].items()}
    config.setdefault("name", doc["name"])
    return ConnectorFile(Path(path), doc["name"], config)


def connector_files(paths: list[str] | None, settings: Settings) -> list[ConnectorFile]:
    chosen = [Path(p) for p in paths] if paths else sorted(CONNECTORS_DIR.glob("*.json"))
    if not chosen:
        raise ConnectError(f"no connector files in {CONNECTORS_DIR}", "add one {name, config} JSON file per connector")
    return [load_connector_file(p, settings) for p in chosen]


def apply(client: RestClient, cf: ConnectorFile) -> str:
    """Create or update a connector idempotently. Returns 'created', 'updated' or 'unchanged'."""
    current = client.request("GET", f"/connectors/{cf.name}/config", ok_missing=True)
    if current is not None and current == cf.config:
        return "unchanged"
    client.request("PUT", f"/connectors/{cf.name}/config", cf.config)
    return "created" if current is None else "updated"


def validate(client: RestClient, cf: ConnectorFile) -> list[tuple[str, str]]:
    """(field, message) for every error the worker finds in the config."""
    if not cf.connector_class:
        return [("connector.class", "missing")]
    plugin = cf.connector_class.rsplit(".", 1)[-1]
    try:
        result = client.request("PUT", f"/connector-plugins/{plugin}/config/validate", cf.config)
    except ConnectError as exc:
        if "HTTP 404" in exc.message or "HTTP 400" in exc.message or "HTTP 500" in exc.message:
            installed = sorted(p["class"] for p in client.request("GET", "/connector-plugins") or [])
            return [("connector.class", f"unknown connector class {cf.connector_class!r}; installed: {', '.join(installed)}")]
        raise
    errors = []
    for item in result.get("configs", []):
        value = item.get("value", {})
        for err in value.get("errors", []):
            errors.append((value.get("name", "?"), err))
    return errors


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
        time.sleep(0.25)
    raise ConnectError(f"connector {name} not RUNNING after {timeout:.0f}s (last: {last})",
                       "see the worker log (`studentflow stack status`)")
