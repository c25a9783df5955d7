"""bench.cpu: a command's CPU seconds, by role, over every process it keeps busy."""
from __future__ import annotations

import sys

from bench import cpu

_BURN = "import time\nend = time.process_time() + {s}\nwhile time.process_time() < end: pass\nraise SystemExit({code})"


def test_a_child_that_burns_cpu_is_counted_and_its_exit_code_kept():
    out = cpu.measure([sys.executable, "-c", _BURN.format(s=0.4, code=3)], interval=0.05)
    assert out["exit_code"] == 3
    assert 0.3 <= out["cpu_s_by_role"]["other python"] < 5, out
    assert out["machine_busy_cpu_s"] >= 0.3 and out["wall_s"] >= 0.3


def test_roles_from_command_lines():
    roles = {
        "java -cp x org.apache.spark.sql.connect.service.SparkConnectServer": "spark server",
        "java -cp x org.apache.kafka.connect.cli.ConnectStandalone a.properties": "connect worker",
        "/x/tansu broker --listener-url tcp://127.0.0.1:1": "broker",
        "/v/bin/python /v/bin/studentflow run --count 10": "studentflow",
        "/v/bin/python -c from multiprocessing.spawn import spawn_main": "checker (child)",
        "/v/bin/python -m studentflow.pipeline.quality_service --port 5": "quality worker",
        # a checkout named after the project does not make every process in it "studentflow"
        "/home/u/studentflow/.venv/bin/python /home/u/studentflow/.venv/bin/dbt build": "dbt",
        "/home/u/studentflow/.venv/bin/python -m bench.follow": "other python",
        "sleep 3": "other",
    }
    assert {cmd: cpu.role(cmd) for cmd in roles} == roles


def test_main_prints_the_roles_and_returns_the_exit_code(capsys, tmp_path):
    code = cpu.main(["--interval", "0.05", "--json", str(tmp_path / "c.json"), "--",
                     sys.executable, "-c", _BURN.format(s=0.2, code=0)])
    printed = capsys.readouterr().out
    assert code == 0 and "other python" in printed and "machine busy" in printed
    assert (tmp_path / "c.json").read_text().startswith("{")
