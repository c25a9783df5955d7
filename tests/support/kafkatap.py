"""A loopback tap in front of the embedded broker: what each Kafka client sends, seen on the wire.

The broker is the real embedded one, started to advertise the tap's port so every client connection
(bootstrap and after metadata) goes through the tap. The tap reads each request's header (API key,
client.id) and, for CreateTopics, the replication factor asked for; it forwards everything else
unchanged. ``refuse_replication`` makes it answer a CreateTopics asking for that factor itself with
INVALID_REPLICATION_FACTOR, as a managed cluster with min.insync/default replication 3 does: the
embedded broker has no setting that refuses a factor, so the tap plays that part of the cluster.
"""
from __future__ import annotations

import socket
import struct
import threading
from dataclasses import dataclass, field
from pathlib import Path

from studentflow.core import procs

CREATE_TOPICS = 19
INVALID_REPLICATION_FACTOR = 38


@dataclass
class Seen:
    clients: dict[int, set[str]] = field(default_factory=dict)   # API key -> client ids
    created: list[tuple[str, int, str]] = field(default_factory=list)  # (topic, replication factor, client id)
    refused: list[tuple[str, int]] = field(default_factory=list)

    def client_ids(self) -> set[str]:
        return set().union(*self.clients.values()) if self.clients else set()


def _uvarint(buf: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, i
        shift += 7


def _create_topic_request(body: bytes, version: int) -> tuple[str, int]:
    """(first topic name, its replication factor) of a CreateTopics request body (header removed)."""
    if version >= 5:    # flexible: compact array and string
        _, i = _uvarint(body, 0)
        n, i = _uvarint(body, i)
        name = body[i:i + n - 1].decode()
        i += n - 1
    else:
        i = 4
        (n,) = struct.unpack_from(">h", body, i)
        name = body[i + 2:i + 2 + n].decode()
        i += 2 + n
    (rf,) = struct.unpack_from(">h", body, i + 4)
    return name, rf


def _refusal(version: int, correlation: int, topic: str, rf: int) -> bytes:
    """A CreateTopics response refusing ``topic`` with INVALID_REPLICATION_FACTOR."""
    msg = f"Replication factor must be 3 on this cluster, not {rf}".encode()
    name = topic.encode()
    if version >= 5:
        out = struct.pack(">i", correlation) + b"\x00" + struct.pack(">i", 0) + b"\x02"
        out += bytes([len(name) + 1]) + name + (b"\x00" * 16 if version >= 7 else b"")
        out += struct.pack(">h", INVALID_REPLICATION_FACTOR) + bytes([len(msg) + 1]) + msg
        out += struct.pack(">ih", -1, -1) + b"\x00" + b"\x00" + b"\x00"
    else:
        out = struct.pack(">i", correlation) + (struct.pack(">i", 0) if version >= 2 else b"")
        out += struct.pack(">i", 1) + struct.pack(">h", len(name)) + name + struct.pack(">h", INVALID_REPLICATION_FACTOR)
        if version >= 1:
            out += struct.pack(">h", len(msg)) + msg
    return struct.pack(">i", len(out)) + out


def _read_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError
        buf += chunk
    return buf


class Tap:
    """Listens on 127.0.0.1:``port`` and forwards to the broker at 127.0.0.1:``upstream``."""

    def __init__(self, port: int, upstream: int, refuse_replication: int | None = None):
        self.port, self.upstream, self.refuse = port, upstream, refuse_replication
        self.seen = Seen()
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", port))
        self._socks: list[socket.socket] = []
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            try:
                broker = socket.create_connection(("127.0.0.1", self.upstream))
            except OSError:
                client.close()
                continue
            self._socks += [client, broker]
            conn = _Conn(self, client, broker)
            threading.Thread(target=conn.requests, daemon=True).start()
            threading.Thread(target=conn.responses, daemon=True).start()

    def record(self, api: int, version: int, client_id: str, body: bytes) -> tuple[str, int] | None:
        """Note the request; returns (topic, factor) when it is to be refused."""
        with self._lock:
            self.seen.clients.setdefault(api, set()).add(client_id)
            if api != CREATE_TOPICS:
                return None
            topic, rf = _create_topic_request(body, version)
            if self.refuse is not None and rf == self.refuse:
                self.seen.refused.append((topic, rf))
                return topic, rf
            self.seen.created.append((topic, rf, client_id))
            return None

    def stop(self) -> None:
        self._stopped = True
        self._server.close()
        for s in self._socks:
            try:
                s.close()
            except OSError:
                pass


class _Conn:
    """One client connection: requests in order, each answered in order (refusals included)."""

    def __init__(self, tap: Tap, client: socket.socket, broker: socket.socket):
        self.tap, self.client, self.broker = tap, client, broker
        self.pending = 0
        self.cv = threading.Condition()

    def requests(self) -> None:
        try:
            while True:
                size = _read_exact(self.client, 4)
                frame = _read_exact(self.client, struct.unpack(">i", size)[0])
                api, version, correlation, n = struct.unpack_from(">hhih", frame, 0)
                client_id = frame[10:10 + n].decode() if n >= 0 else ""
                header_end = 10 + max(n, 0)
                flexible = api == CREATE_TOPICS and version >= 5
                if flexible:
                    _, header_end = _uvarint(frame, header_end)   # no tagged fields are sent in practice
                refused = self.tap.record(api, version, client_id, frame[header_end:])
                with self.cv:
                    if refused:   # answer in order: after every response still due on this connection
                        self.cv.wait_for(lambda: self.pending == 0, timeout=30)
                        self.client.sendall(_refusal(version, correlation, *refused))
                        continue
                    self.pending += 1
                self.broker.sendall(size + frame)
        except (ConnectionError, OSError, struct.error):
            self._close()

    def responses(self) -> None:
        try:
            while True:
                size = _read_exact(self.broker, 4)
                frame = _read_exact(self.broker, struct.unpack(">i", size)[0])
                with self.cv:
                    self.client.sendall(size + frame)
                    self.pending -= 1
                    self.cv.notify_all()
        except (ConnectionError, OSError, struct.error):
            self._close()

    def _close(self) -> None:
        for s in (self.client, self.broker):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def start_tapped_broker(folder: Path, refuse_replication: int | None = None):
    """The embedded broker behind a tap; returns (tap, bootstrap, broker process). Stop both."""
    from studentflow import broker

    folder.mkdir(parents=True, exist_ok=True)
    bport, tport = procs.free_port(), procs.free_port()
    proc = broker.start(bport, folder / "broker.log", tie_to_parent=True, advertised_port=tport)
    tap = None
    try:
        broker.wait_ready(f"127.0.0.1:{bport}", proc, folder / "broker.log")   # the broker itself answers
        tap = Tap(tport, bport, refuse_replication)
        broker.wait_ready(f"127.0.0.1:{tport}", proc, folder / "broker.log")   # and through the tap
    except BaseException:
        if tap is not None:
            tap.stop()
        procs.stop_pid(proc.pid)
        raise
    return tap, f"127.0.0.1:{tport}", proc
