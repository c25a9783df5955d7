"""`python -m spark_jobs.archive`: build the Spark Connect server's class-data archive (run by `make setup`).

A server started with ``-XX:ArchiveClassesAtExit`` serves a warm-up normalize, then stops: at exit
its JVM writes the classes it loaded into ``settings.paths.spark_archive``; later servers
map that archive and start sooner. Never committed: it belongs to this machine's Java.
"""
from __future__ import annotations

from pathlib import Path

from studentflow.core import config
from studentflow.core.config import Settings


def build_archive(settings: Settings) -> Path:
    from spark_jobs import server
    from spark_jobs.job import warm_up
    from spark_jobs.session import connect

    target = settings.paths.spark_archive
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".tmp")
    partial.unlink(missing_ok=True)
    proc, url = server.start(settings, tie_to_parent=True,
                             java_options=f"-XX:ArchiveClassesAtExit={partial} -Xlog:cds=off")
    try:
        server.wait_ready(url, proc, settings)
        spark = connect(url)
        try:
            warm_up(settings, spark)
        finally:
            spark.stop()
    finally:
        server.stop_pid(proc.pid, timeout=120)   # SIGTERM: a normal JVM exit, which writes the archive (seconds)
    if not partial.is_file() or partial.stat().st_size == 0:
        raise SystemExit(f"the JVM wrote no class-data archive (see {settings.paths.spark_log})")
    partial.replace(target)
    return target


if __name__ == "__main__":
    print(f"[setup] Spark class-data archive: {build_archive(config.load())}")
