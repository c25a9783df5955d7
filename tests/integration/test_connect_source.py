"""A source through Connect: Apache's FileStreamSourceConnector streams a drop file into the topic.

End to end with the real worker: drop file (CSV with French headers, JSON lines) -> source
connector -> topic -> staging sink -> staging file, every line untouched (the header line too:
the Spark stage recognises and counts it). Appended lines follow; a replaced file is re-read
after an offsets reset.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.support.stackutil import force_down, sf, stack_env, stack_session

pytestmark = pytest.mark.slow
SOURCE = "students-drop-source"


@pytest.fixture()
def env(tmp_path: Path):
    with stack_session(tmp_path, up=True, STUDENTFLOW_DROP_FILE=str(tmp_path / "data" / "drop" / "students.txt")) as e:
        yield e


def _staged(tmp_path: Path, n: int, timeout: float = 60) -> list[str]:
    path = tmp_path / "data" / "staging" / "students.raw.txt"
    deadline = time.monotonic() + timeout
    lines: list[str] = []
    while time.monotonic() < deadline:
        lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        if len(lines) >= n:
            break
        time.sleep(0.3)
    return lines


def test_drop_file_streams_through_connect_into_staging(env, tmp_path):
    applied = sf(env, "connect", "apply", check=True).stdout
    assert f"{SOURCE}: created" in applied and "students-staging-sink: created" in applied
    drop = tmp_path / "data" / "drop" / "students.txt"
    assert drop.parent.is_dir()  # `connect apply` made the folder the source watches
    csv_lines = ["prénom,nom,age,filière", "Alice,Dupont,22,Informatique", "Élodie,Moreau,19,  chimie  ",
                 "Bob,Martin,age:19,Physique"]
    drop.write_text("\n".join(csv_lines) + "\n", encoding="utf-8")
    assert sorted(_staged(tmp_path, 4)) == sorted(csv_lines)

    # Appended lines (JSON lines, English CSV header) follow; what was read is not read again.
    more = [json.dumps({"first_name": "Inès", "last_name": "Petit", "age": 23, "major": "Biologie"},
                       ensure_ascii=False), "first_name,last_name,age,major", "Hugo,Simon,21,Economie"]
    with drop.open("a", encoding="utf-8") as fh:
        fh.write("\n".join(more) + "\n")
    assert sorted(_staged(tmp_path, 7)) == sorted(csv_lines + more)

    # The source's offset: the file name and the position in characters (not bytes) read so far,
    # committed every offset.flush.interval.ms (1 s).
    chars = len(drop.read_text(encoding="utf-8"))
    deadline = time.monotonic() + 20
    while True:
        offsets = json.loads(sf(env, "connect", "offsets", SOURCE, "--json", check=True).stdout)["offsets"]
        if (offsets and offsets[0]["offset"]["position"] == chars) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert offsets[0]["partition"] == {"filename": str(drop)}
    assert offsets[0]["offset"]["position"] == chars

    lag = sf(env, "connect", "lag", SOURCE)
    assert lag.returncode != 0 and "source connector" in lag.stderr
    assert "total lag 0" in sf(env, "connect", "lag", check=True).stdout  # the default is the sink

    # A replaced file: reset the source's offsets (stopped), resume, and it is read from the start.
    drop.write_text("Jules,Leroy,24,Philosophie\n", encoding="utf-8")
    sf(env, "connect", "offsets", SOURCE, "--reset", "--stop", check=True)
    sf(env, "connect", "resume", SOURCE, check=True)
    assert _staged(tmp_path, 8)[-1] == "Jules,Leroy,24,Philosophie"
