"""The CLI's grammar: exit codes defined once and listed where users look (--help, README), one
meaning per flag name, --json on the commands that report, usage errors apart from setup errors.

The commands run as real processes (`python -m studentflow.cli`); none needs a broker or a JVM.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from studentflow.core import config, procs
from studentflow.core.errors import EXIT_MEANINGS, ExitCode, exit_codes_markdown
from studentflow import cli

REPO = Path(__file__).resolve().parents[2]
# Commands that report but get --json from elsewhere, or never end (docs serve runs until Ctrl-C).
NO_JSON = {"validate", "docs serve"}


def _leaves() -> dict[str, argparse.ArgumentParser]:
    """'command' or 'command action' -> its parser, for every command line the CLI has."""
    sub = next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return {line: parser for _name, line, parser in cli.leaves(sub)}


# What each command declares at its registration (studentflow/cli/<group>.py, add_command):
# the command lines whose checks can fail (exit 1), and those that take the project lock.
CAN_FAIL = {"run", "normalize", "transform", "validate", "report", "produce", "docs build", "stack status",
            "connect apply", "connect validate", "connect status", "connect lag"}
LOCKED = {"run", "normalize", "transform", "validate", "report", "stack up", "stack down", "docs build",
          "connect apply", "connect delete", "connect pause", "connect resume", "connect stop", "connect restart",
          "connect offsets"}


def _listed_codes(help_text: str) -> dict[int, str]:
    """code -> meaning (joined lines) from the "exit codes:" block of a help text."""
    block = help_text.split("exit codes:\n", 1)[1]
    codes: dict[int, str] = {}
    last = None
    for line in block.splitlines():
        m = re.match(r"^  (\d+)\s+(.*)$", line)
        if m:
            last = int(m.group(1))
            codes[last] = m.group(2).strip()
        elif line.startswith("       ") and last is not None:
            codes[last] += " " + line.strip()
        else:
            break
    return codes


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STUDENTFLOW_")}
    env.update(STUDENTFLOW_DATA_DIR=str(tmp_path / "data"), STUDENTFLOW_STATE_DIR=str(tmp_path / "state"), **extra)
    return env


def _sf(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "studentflow.cli", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def test_top_level_help_lists_every_exit_code_with_its_meaning():
    listed = _listed_codes(cli.build_parser().format_help())
    assert listed == {int(c): EXIT_MEANINGS[c] for c in ExitCode}
    assert ExitCode.USAGE == 2   # argparse's own usage errors: the one code no other failure may take
    assert len({int(c) for c in ExitCode}) == len(ExitCode)


def test_readme_exit_code_table_is_the_one_in_code():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- exit-codes:start", 1)[1].split("-->", 1)[1].split("<!-- exit-codes:end -->", 1)[0]
    assert block.strip() == exit_codes_markdown()
    rows = dict(re.findall(r"^\| `(\d+)` \| (.*) \|$", block, re.M))
    assert {int(k): v for k, v in rows.items()} == {int(c): EXIT_MEANINGS[c] for c in ExitCode}


def test_every_command_help_lists_the_codes_it_can_return():
    for line, parser in _leaves().items():
        listed = _listed_codes(parser.format_help())
        assert set(listed) <= {int(c) for c in ExitCode}, line
        assert {0, 2, 4, 130} <= set(listed), line
        assert all(listed[c] == EXIT_MEANINGS[ExitCode(c)] for c in listed), line
        args = cli.build_parser().parse_args(_minimal_argv(line, parser))
        assert (ExitCode.BUSY in listed) == (cli.locked_command(args) is not None or line == "connect offsets"), line
        assert (ExitCode.BUSY in listed) == (line in LOCKED), line
        assert (ExitCode.FAILED in listed) == (line in CAN_FAIL), line


def test_every_command_declares_its_handler_lock_and_exit_codes():
    for line, parser in _leaves().items():
        assert callable(parser.get_default("handler")), line
        assert parser.get_default("lock") is not None and parser.get_default("can_fail") is not None, line
    assert set(_leaves()) >= LOCKED | CAN_FAIL


def _minimal_argv(line: str, parser: argparse.ArgumentParser) -> list[str]:
    """The command line plus a value for each required positional (so it parses)."""
    positional = [a for a in parser._actions if not a.option_strings and a.nargs not in ("*", "?")
                  and not isinstance(a, argparse._SubParsersAction)]
    return line.split() + ["x"] * len(positional)


def test_every_reporting_command_has_json():
    without = {line for line, p in _leaves().items()
               if not any("--json" in a.option_strings for a in p._actions)}
    assert without <= NO_JSON, sorted(without - NO_JSON)


def test_no_wait_has_one_meaning_and_the_lock_flag_its_own_name():
    owners = {line for line, p in _leaves().items() if any("--no-wait" in a.option_strings for a in p._actions)}
    assert owners == {"connect apply"}
    top = cli.build_parser()
    flags = {s: a for a in top._actions for s in a.option_strings}
    assert "--fail-if-busy" in flags and "deprecated" in flags["--no-wait"].help
    assert not any("--fail-if-busy" in a.option_strings for p in _leaves().values() for a in p._actions)
    assert top.parse_args(["--no-wait", "config"]).old_no_wait   # the old spelling parses for one release


def test_usage_errors_exit_2_and_setup_errors_exit_4(tmp_path):
    env = _env(tmp_path)
    for argv in (("--bogus", "config"), ("connect",), ("run", "--count", "-1"), ("produce", "--count", "-3"),
                 ("produce", "--kinds", "no_such_kind"), ("produce", "--json", "--dry-run"), ("produce", "--timeout", "0"),
                 ()):
        res = _sf(env, *argv)
        assert res.returncode == ExitCode.USAGE, (argv, res.stderr)
        assert "Traceback" not in res.stderr
    url = f"http://127.0.0.1:{procs.free_port()}"   # nothing listens there
    res = _sf(_env(tmp_path, STUDENTFLOW_CONNECT_URL=url), "connect", "status")
    assert res.returncode == ExitCode.SETUP, res.stderr
    assert f"cannot reach Kafka Connect at {url}" in res.stderr and "Traceback" not in res.stderr
    res = _sf(_env(tmp_path, STUDENTFLOW_AGE_MIN="old"), "config")   # an invalid setting
    assert res.returncode == ExitCode.SETUP, res.stderr
    res = _sf(env, "report")                                           # a stage not run before
    assert res.returncode == ExitCode.SETUP and "studentflow transform" in res.stderr


def test_config_json_is_the_settings_with_secrets_masked(tmp_path):
    res = _sf(_env(tmp_path, STUDENTFLOW_SASL_PASSWORD="s3cr3t-pw", STUDENTFLOW_AGE_MAX="77"), "config", "--json")
    assert res.returncode == 0, res.stderr
    assert len(res.stdout.strip().splitlines()) == 1
    got = json.loads(res.stdout)
    assert set(got) == set(config.load(env={}).redacted())
    assert got["age_max"] == 77 and got["sasl_password"] == "********" and "s3cr3t-pw" not in res.stdout
    assert got["data_dir"] == str(tmp_path / "data")


def test_produce_list_kinds_json_matches_the_text_listing(tmp_path):
    env = _env(tmp_path)
    text = _sf(env, "produce", "--list-kinds")
    as_json = _sf(env, "produce", "--list-kinds", "--json")
    assert text.returncode == as_json.returncode == 0
    kinds = json.loads(as_json.stdout)["kinds"]
    assert [k["kind"] for k in kinds] == [line.split()[0] for line in text.stdout.splitlines()]
    assert any(k["hostile"] for k in kinds) and any(k["verdict"] == "clean" for k in kinds)


def test_config_formats_exclude_each_other(tmp_path):
    res = _sf(_env(tmp_path), "config", "--json", "--markdown")
    assert res.returncode == ExitCode.USAGE and "not allowed with" in res.stderr


def test_rate_caps_sending_and_generate_rate_generates():
    owners = {line for line, p in _leaves().items() if any("--rate" in a.option_strings for a in p._actions)}
    assert owners == {"produce", "run"}
    for line in owners:
        rate = next(a for a in _leaves()[line]._actions if "--rate" in a.option_strings)
        assert "most" in rate.help or "cap" in rate.help, (line, rate.help)
    owners = {line for line, p in _leaves().items()
              if any("--generate-rate" in a.option_strings for a in p._actions)}
    assert owners == {"run"}


def test_generate_rate_is_for_follow_and_the_old_follow_rate_still_works(tmp_path, capsys):
    from studentflow.cli import run as run_cmd

    res = _sf(_env(tmp_path), "run", "--generate-rate", "100")
    assert res.returncode == ExitCode.USAGE and "--follow" in res.stderr and "Traceback" not in res.stderr
    args = cli.build_parser().parse_args(["run", "--follow", "--rate", "300"])
    run_cmd._check(args)
    assert args.generate_rate == 300 and "deprecated" in capsys.readouterr().err
    args = cli.build_parser().parse_args(["run", "--rate", "300"])
    run_cmd._check(args)
    assert args.generate_rate == 0 and args.rate == 300


def _sf_closed_stdout(env: dict, *args: str) -> subprocess.CompletedProcess:
    """The command with standard output a pipe whose reader has already gone (`... | head`)."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run([sys.executable, "-m", "studentflow.cli", *args], env=env, cwd=REPO, stdout=write,
                              stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write)


def test_a_closed_stdout_ends_quietly(tmp_path):
    for buffered in ("1", ""):   # written at once (PYTHONUNBUFFERED), or at the end
        env = {k: v for k, v in _env(tmp_path).items() if k != "PYTHONUNBUFFERED"}
        if buffered:
            env["PYTHONUNBUFFERED"] = buffered
        for argv in (("produce", "--list-kinds"), ("config",), ("config", "--json"), ("--help",),
                     ("produce", "--dry-run", "--count", "50")):
            res = _sf_closed_stdout(env, *argv)
            assert res.returncode == ExitCode.OK, (argv, res.stderr)
            assert res.stderr == "", (argv, res.stderr)
    env = {k: v for k, v in _env(tmp_path).items() if k != "PYTHONUNBUFFERED"}
    res = _sf_closed_stdout(env, "stack", "status")   # ran to its end: its own exit code stands
    assert res.returncode == ExitCode.FAILED and res.stderr == "", res.stderr
