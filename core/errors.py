"""Errors users can act on: each carries what went wrong and what to do next."""
from __future__ import annotations


class StudentflowError(Exception):
    """An expected failure. The CLI prints it on one line and exits non-zero (no traceback)."""

    exit_code = 2

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} -> {self.hint}" if self.hint else self.message


class ConfigError(StudentflowError):
    """A setting is missing or invalid."""


class StackError(StudentflowError):
    """The embedded broker or Connect worker could not start, or is not running."""


class ConnectError(StudentflowError):
    """The Kafka Connect REST API refused a request or a connector failed."""


class DataError(StudentflowError):
    """Input data is missing, empty, or breaks an invariant (e.g. counts do not add up)."""
    exit_code = 1


class ConnectHTTPError(ConnectError):
    """The Connect REST API answered with an HTTP error status (``status``: 404, 409, 500 ...)."""

    def __init__(self, message: str, hint: str = "", *, status: int, method: str = "", path: str = "") -> None:
        super().__init__(message, hint)
        self.status = status
        self.method = method
        self.path = path


# --- what the world does: errors raised by librdkafka, sockets and HTTP ------------------------

_KAFKA_HINTS = (
    (("_SSL", "CERTIFICATE"), "check ssl_ca_location and the client certificate/key (`studentflow config`)"),
    (("_AUTHENTICATION", "SASL"), "check sasl_mechanism, sasl_username and sasl_password"),
    (("AUTHORIZATION",), "this client lacks an ACL on the cluster: ask its administrator"),
    (("_TIMED_OUT", "TIMED_OUT", "_TRANSPORT", "_ALL_BROKERS_DOWN", "BROKER_NOT_AVAILABLE", "_RESOLVE"),
     "is the broker up? `studentflow stack status` (embedded) or check bootstrap_servers, then retry"),
    (("UNKNOWN_TOPIC", "_UNKNOWN_PARTITION"), "produce events first (`studentflow produce`), or check the topic setting"),
)


def from_world(exc: BaseException) -> StudentflowError | None:
    """One actionable error for a failure the outside world caused (broker gone, HTTP timeout ...).

    Kafka client errors (confluent_kafka.KafkaException, recognised by name so this module imports
    nothing heavy), socket timeouts and refusals, and HTTP client errors become a ``StackError`` or
    ``ConnectError`` with a hint. Anything else (a bug) returns None and keeps its traceback.
    """
    import http.client
    import urllib.error

    if isinstance(exc, StudentflowError):
        return exc
    if type(exc).__name__ == "KafkaException" and type(exc).__module__.startswith("confluent_kafka"):
        err = exc.args[0] if exc.args else None
        name = err.name() if hasattr(err, "name") else ""
        text = err.str() if hasattr(err, "str") else str(err or exc)
        upper = f"{name} {text}".upper()
        hint = next((h for keys, h in _KAFKA_HINTS if any(k in upper for k in keys)),
                    "check the broker (`studentflow stack status`) and the Kafka settings (`studentflow config`)")
        return StackError(f"Kafka: {text}" + (f" ({name})" if name and name not in text else ""), hint)
    if isinstance(exc, urllib.error.HTTPError):
        return ConnectHTTPError(f"HTTP {exc.code} from {exc.url}: {exc.reason}", "", status=exc.code)
    if isinstance(exc, (urllib.error.URLError, http.client.HTTPException)):
        reason = getattr(exc, "reason", None) or exc
        return ConnectError(f"HTTP request failed: {reason}",
                            "is Kafka Connect up? `studentflow stack status`, or check STUDENTFLOW_CONNECT_URL")
    if isinstance(exc, TimeoutError):
        return StackError(f"timed out: {exc or 'no answer'}", "the broker or worker is slow or gone: "
                          "`studentflow stack status`, then retry")
    if isinstance(exc, ConnectionError):
        return StackError(f"connection failed: {exc}", "is the stack up? `studentflow stack status`")
    return None


class WarehouseNotReady(DataError):
    """The warehouse file, a table or a mart a stage reads does not exist yet: run the stage before
    it (exit code 2, for every reader: the gate, dbt's helpers, the report)."""

    exit_code = 2
