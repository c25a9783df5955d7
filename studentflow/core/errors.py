"""Errors users can act on: each carries what went wrong and what to do next.

The command's exit codes are defined here, once (``ExitCode``); help texts, the README and the
errors below all take them from this module (a test compares them).
"""
from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """What a `studentflow` command's exit status means (argparse's own usage errors are 2)."""

    OK = 0
    FAILED = 1        # the command ran and a check failed: data, quality gate, delivery, connector, stack down
    USAGE = 2         # bad command line: unknown option, missing argument, an option value out of range
    BUSY = 3          # another state-changing command holds the project lock (with --fail-if-busy)
    SETUP = 4         # setup or connection: a setting, the stack, Kafka, Connect, a stage not run before
    INTERRUPTED = 130  # Ctrl-C or SIGTERM (128 + SIGINT)


EXIT_MEANINGS = {
    ExitCode.OK: "success",
    ExitCode.FAILED: "a check failed: data-quality gate or dbt test, bad input data, undelivered messages, "
                     "an invalid or FAILED connector, the sink still behind after `connect lag --wait`, "
                     "`stack status` of a stack that is not running",
    ExitCode.USAGE: "usage error: unknown command or option, missing argument, an option value out of range",
    ExitCode.BUSY: "busy: another state-changing command holds the project lock (with --fail-if-busy)",
    ExitCode.SETUP: "setup or connection error: an invalid setting; the stack, Kafka or Kafka Connect "
                    "unreachable or refusing; the warehouse or a table missing (run the stage before)",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C or SIGTERM)",
}


def exit_codes_help(codes=tuple(ExitCode), width: int = 100) -> str:
    """The "exit codes:" block of a --help epilog, listing ``codes`` (default: all)."""
    import textwrap

    lines = ["exit codes:"]
    for code in sorted(set(ExitCode(c) for c in codes)):
        lines += textwrap.wrap(EXIT_MEANINGS[code], width, initial_indent=f"  {int(code):<4} ",
                               subsequent_indent=" " * 7)
    return "\n".join(lines) + "\n"


def exit_codes_markdown() -> str:
    """The README's exit-code table (a test keeps the README's copy equal to this)."""
    rows = [f"| `{int(c)}` | {EXIT_MEANINGS[c]} |" for c in ExitCode]
    return "\n".join(["| exit code | meaning |", "|---|---|", *rows])


class StudentflowError(Exception):
    """An expected failure. The CLI prints it on one line and exits non-zero (no traceback)."""

    exit_code = ExitCode.SETUP

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
    exit_code = ExitCode.FAILED


class UsageError(StudentflowError):
    """An option's value is out of range or options contradict each other (argparse's exit code)."""
    exit_code = ExitCode.USAGE


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
    it (``ExitCode.SETUP``, for every reader: the gate, dbt's helpers, the report)."""

    exit_code = ExitCode.SETUP
