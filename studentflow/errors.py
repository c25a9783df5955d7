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
