"""The Spark Connect server's command line and where clients attach, without starting a JVM."""
from __future__ import annotations

from pathlib import Path

from studentflow.core import config
from spark_jobs import server
from studentflow import stack


def _conf(cmd: list[str]) -> dict[str, str]:
    return dict(cmd[i + 1].split("=", 1) for i, arg in enumerate(cmd) if arg == "--conf")


def test_the_server_binds_loopback_and_keeps_its_files_in_the_state_folder(tmp_path):
    s = config.load(env={}, state_dir=str(tmp_path / "state"), spark_master="local[2]", spark_memory="3g")
    cmd = server.server_command(s, 15123)
    conf = _conf(cmd)
    assert cmd[cmd.index("--class") + 1] == server.SERVER_CLASS and cmd[-1] == "spark-internal"
    assert cmd[cmd.index("--master") + 1] == "local[2]" and cmd[cmd.index("--driver-memory") + 1] == "3g"
    assert conf["spark.connect.grpc.binding.address"] == "127.0.0.1"
    assert conf["spark.connect.grpc.binding.port"] == "15123"
    for key in ("spark.local.dir", "spark.sql.warehouse.dir"):
        assert Path(conf[key]).is_relative_to(tmp_path / "state")
    # Spark's scratch outside spark.local.dir (Connect artifacts, native libraries) too, not /tmp
    assert f"-Djava.io.tmpdir={s.paths.spark_tmp}" in conf["spark.driver.extraJavaOptions"].split()
    assert s.paths.spark_log.is_relative_to(tmp_path / "state")


def test_a_jvm_option_with_a_space_is_one_quoted_token_for_sparks_launcher(tmp_path):
    from spark_jobs.session import java_option

    assert java_option("-Djava.io.tmpdir=/srv/state") == "-Djava.io.tmpdir=/srv/state"
    # the launcher reads "..." as one token, \" and \\ inside it as a quote and a backslash
    assert java_option('-Dp=/a b/"c"\\d') == '"-Dp=/a b/\\"c\\"\\\\d"'
    s = config.load(env={}, state_dir=str(tmp_path / "My state"))
    options = _conf(server.server_command(s, 15123))["spark.driver.extraJavaOptions"]
    assert f'"-Djava.io.tmpdir={s.paths.spark_tmp}"' in options


def test_the_class_archive_is_mapped_when_built_and_the_quick_jit_only_when_asked(tmp_path):
    from spark_jobs.session import class_data_sharing

    s = config.load(env={}, state_dir=str(tmp_path / "state"), setup_dir=str(tmp_path / "setup"))
    opts = lambda **kw: _conf(server.server_command(s, 1, **kw))["spark.driver.extraJavaOptions"]  # noqa: E731
    assert "Archive" not in opts() and "AOTCache" not in opts() and "TieredStopAtLevel" not in opts()
    s.paths.spark_archive.parent.mkdir(parents=True)
    s.paths.spark_archive.write_bytes(b"x")
    mapped = class_data_sharing(s)   # -XX:AOTCache on the JDK 25 setup installs (tests/unit/test_spark_jvm.py)
    assert str(s.paths.spark_archive) in mapped and mapped in opts()
    assert "-XX:TieredStopAtLevel=1" in opts(quick_jit=True)
    training = opts(java_options="-XX:AOTCacheOutput=/dev/null")
    assert "AOTCacheOutput" in training and mapped not in training
    # setup builds it once for the machine: a server of any state folder maps the same archive
    elsewhere = config.load(env={}, state_dir=str(tmp_path / "other-state"), setup_dir=str(tmp_path / "setup"))
    assert mapped in _conf(server.server_command(elsewhere, 1))["spark.driver.extraJavaOptions"]


def test_a_remote_endpoint_starts_nothing_and_is_not_watched(tmp_path):
    s = config.load(env={}, state_dir=str(tmp_path / "state"), spark_remote="sc://spark.example:15002")
    got = server.ensure(s, keep=True, progress=lambda m: (_ for _ in ()).throw(AssertionError(m)))
    assert (got.url, got.pid, got.owned) == ("sc://spark.example:15002", 0, False)
    assert not (tmp_path / "state").exists()          # no process, no state file, no log
    st = stack.status(s)
    assert st["spark"] == {"remote": "sc://spark.example:15002"} and not st["running"]
