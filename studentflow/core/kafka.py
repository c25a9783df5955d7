"""Kafka admin helpers every stage shares: a quiet client logger, reachability, the topic.

``preflight`` reaches the cluster and makes sure the topic exists (the producer calls it before
sending); ``ensure_topic`` is the same for a cluster already known to answer (the stack, after
starting the embedded broker). Both create the topic through one function, ``create_topic``.
confluent_kafka is imported inside the functions: importing this module stays cheap.
"""
from __future__ import annotations

import logging
import time

from studentflow.core.errors import StackError

# Client errors that do not heal by waiting: a certificate or a credential problem.
CLIENT_ERRORS_THAT_STOP = ("_SSL", "_AUTHENTICATION", "SASL_AUTHENTICATION_FAILED", "TOPIC_AUTHORIZATION_FAILED",
                           "CLUSTER_AUTHORIZATION_FAILED")


def quiet_logger(name: str = "studentflow.librdkafka") -> logging.Logger:
    """A logger that swallows librdkafka's own connection chatter (errors are reported by us)."""
    log = logging.getLogger(name)
    if not log.handlers:
        log.addHandler(logging.NullHandler())
        log.propagate = False
    return log


def is_ready(bootstrap: str, client_conf: dict | None = None, timeout: float = 2) -> bool:
    """True when a broker answers a metadata request at ``bootstrap``."""
    from confluent_kafka.admin import AdminClient

    conf = {**(client_conf or {}), "bootstrap.servers": bootstrap, "logger": quiet_logger()}
    return bool(AdminClient(conf).list_topics(timeout=timeout).brokers)


def create_topic(admin, topic: str, partitions: int, timeout: float, replication: int) -> bool:
    """Create ``topic`` with ``admin``: ``replication`` copies (-1: the cluster's default.replication.factor;
    ``Settings.topic_replication``). False if it already existed."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import NewTopic

    fut = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=replication)],
                              request_timeout=timeout)[topic]
    try:
        fut.result(timeout=timeout)
    except KafkaException as exc:
        if "TOPIC_ALREADY_EXISTS" in str(exc):
            return False
        err = exc.args[0] if exc.args else exc
        if "REPLICATION_FACTOR" in str(exc):
            raise StackError(f"the cluster refuses topic {topic} with replication factor {replication}: "
                             f"{getattr(err, 'str', lambda: err)()}",
                             "set replication_factor (STUDENTFLOW_REPLICATION_FACTOR) to what the cluster requires, "
                             "or -1 for its default") from None
        raise StackError(f"topic {topic} does not exist and cannot be created: {getattr(err, 'str', lambda: err)()}",
                         "create it on the cluster, or grant this client CREATE on it (check ACLs)") from None
    except Exception as exc:   # concurrent.futures.TimeoutError
        raise StackError(f"creating topic {topic} did not finish: {exc!r}", "check the cluster") from None
    return True


def ensure_topic(client_conf: dict, topic: str, partitions: int, timeout: float = 15, *, replication: int = 1) -> bool:
    """Create ``topic`` if it does not exist. Returns True if it was created."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    admin = AdminClient(client_conf)
    try:
        md = admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        raise StackError(f"cannot reach Kafka at {client_conf.get('bootstrap.servers')}: {exc}",
                         "check bootstrap_servers and security settings (`studentflow config`)") from None
    if topic in md.topics and not md.topics[topic].error:
        return False
    return create_topic(admin, topic, partitions, timeout, replication)


def reach(conf: dict, timeout: float = 10.0, *, what: str = "Kafka", hint: str = ""):
    """The cluster's metadata through ``conf``'s brokers, tried until ``timeout`` (a certificate or
    credential error stops at once: it does not heal by waiting). Returns (admin client, metadata);
    one StackError line with the most telling client error and a hint if no broker answered."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    seen: list[tuple[str, str]] = []
    quiet = logging.getLogger("studentflow.kafka.preflight")
    quiet.handlers[:] = [logging.NullHandler()]
    quiet.propagate = False
    admin = AdminClient({**conf, "error_cb": lambda e: seen.append((e.name(), e.str())), "logger": quiet})
    where = f"{conf.get('bootstrap.servers')} ({conf.get('security.protocol', 'PLAINTEXT')})"
    deadline = time.monotonic() + timeout
    md = None
    while time.monotonic() < deadline:
        try:
            md = admin.list_topics(timeout=min(1.0, max(0.1, deadline - time.monotonic())))
            if md.brokers:
                break
        except KafkaException:
            pass
        if any(code in CLIENT_ERRORS_THAT_STOP for code, _ in seen):
            break   # a certificate or credential problem does not heal by waiting
        admin.poll(0.1)
    else:
        md = None
    if md is None or not md.brokers:
        admin.poll(0)
        raise StackError(f"cannot reach {what} at {where}: {best_error(seen) or f'no answer within {timeout:.0f} s'}",
                         _hint(seen, hint))
    return admin, md


def preflight(conf: dict, topic: str, partitions: int, timeout: float = 10.0, *, replication: int = 1) -> None:
    """Reach the cluster and make sure ``topic`` exists; one clear error line if not."""
    admin, md = reach(conf, timeout)
    if topic in md.topics and not md.topics[topic].error:
        return
    create_topic(admin, topic, partitions, timeout, replication)


def best_error(seen: list[tuple[str, str]]) -> str:
    """The most telling client error: certificate/authentication first, then the last transport error."""
    for code, text in seen:
        if code in CLIENT_ERRORS_THAT_STOP:
            return short(text)
    telling = [text for code, text in seen if code != "_ALL_BROKERS_DOWN"] or [text for _, text in seen]
    return short(telling[-1]) if telling else ""


def short(text: str) -> str:
    """A librdkafka error without its broker prefix and state suffix."""
    # "ssl://127.0.0.1:1234/bootstrap: SSL handshake failed: ... (after 3ms in state SSL_HANDSHAKE)"
    text = text.split("/bootstrap: ", 1)[-1]
    if " (after " in text:
        text = text[:text.rindex(" (after ")]
    return " ".join(text.split())


def _hint(seen: list[tuple[str, str]], otherwise: str = "") -> str:
    codes = {code for code, _ in seen}
    text = " ".join(short(t) for _, t in seen).lower()
    if "_SSL" in codes or "certificate" in text:
        return "check ssl_ca_location (the CA that signed the broker certificate) and the client certificate/key"
    if codes & {"_AUTHENTICATION", "SASL_AUTHENTICATION_FAILED"} or "sasl" in text:
        return "check sasl_mechanism, sasl_username and sasl_password"
    return otherwise or "check bootstrap_servers and security_protocol (`studentflow config`), or run `studentflow stack up`"
