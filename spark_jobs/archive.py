"""`python -m spark_jobs.archive`: build the Spark Connect server's class archive (run by `make setup`).

A server started with ``-XX:AOTCacheOutput`` (JDK 25) or ``-XX:ArchiveClassesAtExit`` (JDK 17)
serves a warm-up normalize, then stops: at exit its JVM writes what it loaded (on JDK 25 also
what it linked and its methods' profiles) into ``settings.paths.spark_archive``; later servers map
it, start sooner and compile sooner. Never committed: it belongs to this machine's Java and jars.
"""
from __future__ import annotations

from pathlib import Path

from studentflow.core import config
from studentflow.core.config import Settings


def build_archive(settings: Settings) -> Path:
    from spark_jobs import server
    from spark_jobs.job import warm_up
    from spark_jobs.session import class_data_training, connect

    target = settings.paths.spark_archive
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".tmp")
    partial.unlink(missing_ok=True)
    proc, url = server.start(settings, tie_to_parent=True, java_options=class_data_training(settings, partial))
    try:
        server.wait_ready(url, proc, settings)
        spark = connect(url)
        try:
            warm_up(settings, spark)
        finally:
            spark.stop()
    finally:
        server.stop_pid(proc.pid, timeout=180)   # SIGTERM: a normal JVM exit, which writes the archive (seconds)
    if not partial.is_file() or partial.stat().st_size == 0:
        raise SystemExit(f"the JVM wrote no class archive (see {settings.paths.spark_log})")
    partial.replace(target)
    return target


if __name__ == "__main__":
    print(f"[setup] Spark class archive: {build_archive(config.load())}")
