"""Opt-in pytest plugin: the machine's busy CPU-seconds while each test ran, to find what the suite
spends its CPU on. The suite's processes are not all the test's children (the shared Spark server,
the quality worker, a stack's services), so this reads /proc/stat's busy time around each test
(setup, call and teardown): run it without workers, on an otherwise quiet machine::

    python -m pytest -n 0 -p tests.support.cpu_per_test [--cpu-json F] [tests ...]

The terminal summary lists the test files by CPU-seconds (and their tests' wall seconds); ``--cpu-json``
also writes every test's figures. Work a session fixture does before the first test (the shared
server's start) counts for no test.
"""
from __future__ import annotations

import json
import os
import time
from collections import defaultdict
from pathlib import Path

import pytest

SHOWN = 25   # files listed in the summary
REPO_ROOT = Path(__file__).resolve().parents[2]


def busy_seconds() -> float:
    """CPU-seconds the whole machine has been busy since boot (every CPU: user, nice, system, irq)."""
    with open("/proc/stat") as f:
        ticks = [int(x) for x in f.readline().split()[1:]]
    idle = ticks[3] + ticks[4]                       # idle, iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def by_file(per_test: dict[str, tuple[float, float]]) -> list[tuple[str, float, float, int]]:
    """(file, CPU-seconds, wall seconds, tests), the costliest file first."""
    files: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0])
    for nodeid, (cpu, wall) in per_test.items():
        f = files[nodeid.split("::", 1)[0]]
        f[0] += cpu
        f[1] += wall
        f[2] += 1
    return sorted(((name, cpu, wall, int(n)) for name, (cpu, wall, n) in files.items()), key=lambda r: -r[1])


class CpuPerTest:
    def __init__(self, json_path: str | None) -> None:
        self.json_path = json_path
        self.per_test: dict[str, tuple[float, float]] = {}

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        cpu, wall = busy_seconds(), time.monotonic()
        yield
        self.per_test[item.nodeid] = (round(busy_seconds() - cpu, 2), round(time.monotonic() - wall, 2))

    def pytest_terminal_summary(self, terminalreporter) -> None:
        rows = by_file(self.per_test)
        total = sum(cpu for cpu, _ in self.per_test.values())
        tr = terminalreporter
        tr.section("busy CPU-seconds by test file (tests.support.cpu_per_test)")
        tr.write_line(f"{len(self.per_test)} tests: {total:,.0f} CPU-s, "
                      f"{sum(w for _, w in self.per_test.values()):,.0f} s of tests")
        for name, cpu, wall, n in rows[:SHOWN]:
            tr.write_line(f"{cpu:8.1f} CPU-s {cpu / total:6.1%} {wall:8.1f} s {n:4d} tests  {name}" if total else name)
        if self.json_path:
            Path(self.json_path).write_text(json.dumps({"tests": self.per_test, "files": rows}, indent=1))
            tr.write_line(f"per test: {self.json_path}")


def pytest_addoption(parser) -> None:
    parser.addoption("--cpu-json", default=None, help="tests.support.cpu_per_test: also write every test's figures here")


def pytest_configure(config) -> None:
    if getattr(config.option, "numprocesses", 0):
        raise pytest.UsageError("tests.support.cpu_per_test reads the whole machine's CPU around each test: "
                                "run it without workers (-n 0)")
    config.pluginmanager.register(CpuPerTest(config.getoption("--cpu-json")), "cpu-per-test")
