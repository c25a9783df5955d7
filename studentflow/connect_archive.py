"""`python -m studentflow.connect_archive`: build the Connect worker's class-data archive (run by `make setup`).

A worker on a throwaway broker starts, runs the connectors of connect/connectors/ and sinks a few
events, in a JVM that records the classes it loaded into ``settings.paths.connect_archive`` as it
exits; later workers map that archive and answer on REST sooner, with less CPU while the Spark
JVM starts beside them (connect/runtime.py says what was measured).
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

from connect import rest, runtime
from studentflow.core import config, procs
from studentflow.core.contract import STAGING_FILE
from studentflow.core.errors import StackError
from studentflow.core.kafka import ensure_topic
from studentflow import broker
from studentflow.stack import CONNECT_READY_TIMEOUT


def build_archive() -> Path:
    with tempfile.TemporaryDirectory(prefix="sf-connect-cds-") as tmp:
        root = Path(tmp)
        settings = config.load(data_dir=str(root), state_dir=str(root / "state"), staging_dir=str(root / "staging"),
                               warehouse=str(root / "w.db"), drop_file=str(root / "drop" / "students.txt"))
        archive = settings.paths.connect_archive
        partial = archive.with_name(archive.name + ".tmp")
        partial.unlink(missing_ok=True)
        port = procs.free_port()
        bootstrap = f"127.0.0.1:{port}"
        brk = broker.start(port, root / "broker.log", tie_to_parent=True)
        try:
            broker.wait_ready(bootstrap, brk, root / "broker.log")
            conf = {"bootstrap.servers": bootstrap}
            ensure_topic(conf, settings.topic, settings.topic_partitions)
            rest_port = procs.free_port()
            worker = runtime.start_worker(settings, bootstrap=bootstrap, rest_port=rest_port, mode="standalone",
                                          log_path=root / "connect.log", tie_to_parent=True, archive_at_exit=partial)
            try:
                client = rest.RestClient(f"http://127.0.0.1:{rest_port}", timeout=5)
                procs.wait_until(client.ready, timeout=CONNECT_READY_TIMEOUT, what="Kafka Connect worker", proc=worker,
                                 log_path=root / "connect.out", interval=0.2)
                rest.apply_all(client, rest.connector_files(None, settings))
                _sink_a_few(conf, settings)
            finally:
                worker.terminate()          # SIGTERM: the JVM writes the archive as it exits
                worker.wait(timeout=300)
        finally:
            procs.stop_pid(brk.pid, timeout=2)
        if not partial.is_file() or partial.stat().st_size == 0:
            raise StackError("the Connect worker wrote no class-data archive", f"see {root / 'connect.out'}")
        partial.replace(archive)
    return archive


def _sink_a_few(conf: dict, settings: config.Settings, count: int = 100) -> None:
    from confluent_kafka import Producer

    producer = Producer({**conf, "acks": "all"})
    for i in range(count):
        producer.produce(settings.topic, value=('{"event_id":"00000000-0000-4000-8000-%012d","first_name":"Léa",'
                                                '"last_name":"Martin","age":21,"major":"Chimie"}' % i).encode())
    producer.flush(30)
    staged = settings.staging_dir / STAGING_FILE
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if staged.is_file() and staged.read_bytes().count(b"\n") >= count:
            return
        time.sleep(0.2)
    raise StackError("the Connect sink staged nothing while building the class-data archive",
                     f"see {settings.state_dir}")


if __name__ == "__main__":
    print(f"[setup] Connect class-data archive: {build_archive()}")
