"""The `alert` access type's Kafka side: `KafkaAlertProducer` (standard events, keyed by `dedupe_md5`) and
`KafkaRawDeadLetters` (raw rejected bodies), each an idempotent producer with `acks=all`.

`send` returns only once the broker acknowledged every message of the call; it waits at most `timeout`
seconds on its own messages' callbacks, which one poller thread per producer serves (concurrent request
threads each wake as soon as theirs are acknowledged).
`message.timeout.ms` is a little below `timeout`: librdkafka gives up on a message before the caller answers
503, so an unacknowledged message is not delivered later behind the caller's back (it re-sends). A fatal
producer error (possible with idempotence) replaces the producer. `security` is merged into the config; the
config is never logged.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from alarm_access.adapters.kafka.security import PLAINTEXT, KafkaSecurity
from alarm_access.kernel.errors import ConfigError, SourceUnavailable

logger = logging.getLogger("alarm_access.access.alert.kafka")
Headers = list[tuple[str, str | bytes | None]]
#: delivery errors after which the idempotent producer cannot go on (a broker that lost its producer state, e.g.
#: restarted without storage, fences it): the producer is replaced
_BROKEN = frozenset(getattr(KafkaError, name) for name in (
    "_FENCED", "_FATAL", "INVALID_PRODUCER_EPOCH", "PRODUCER_FENCED", "OUT_OF_ORDER_SEQUENCE_NUMBER",
    "UNKNOWN_PRODUCER_ID", "INVALID_PRODUCER_ID_MAPPING") if hasattr(KafkaError, name))


class _Pending:
    def __init__(self, count: int) -> None:
        self.remaining = count
        self.errors: list[str] = []
        self.broken = False
        self.done = threading.Event()
        self._lock = threading.Lock()
        if count == 0:
            self.done.set()

    def on_delivery(self, error: KafkaError | None, _message: Any) -> None:
        with self._lock:
            if error is not None:
                self.errors.append(error.str())
                self.broken = self.broken or error.fatal() or error.code() in _BROKEN
            self.remaining -= 1
            if self.remaining <= 0:
                self.done.set()


class _AckedProducer:
    def __init__(self, bootstrap: str, topic: str, timeout: float, security: KafkaSecurity) -> None:
        self.topic = topic
        self._timeout = timeout
        self._config: dict[str, Any] = {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 2,
            "socket.timeout.ms": int(max(timeout, 1.0) * 1000),
            "message.timeout.ms": int(max(timeout * 0.8, 0.5) * 1000),
            **security.librdkafka_config(),
        }
        self._security = security
        self._lock = threading.Lock()
        self._producer = self._make()
        self._stopping = threading.Event()
        self._poller = threading.Thread(target=self._poll_loop, name=f"kafka-poll-{topic}", daemon=True)
        self._poller.start()

    def _poll_loop(self) -> None:
        """One thread serves every delivery callback, so each request wakes as soon as its messages are acked."""
        while not self._stopping.is_set():
            producer = self._producer
            try:
                producer.poll(0.05)
            except KafkaException as exc:  # a fatal error is raised by poll() itself
                logger.warning("alert producer failed: %s", exc)
                self._replace(producer)

    def _make(self) -> Producer:
        try:
            return Producer(self._config)
        except KafkaException as exc:
            where = self._security.label if self._security.bootstrap else "the alert kafka cluster"
            raise ConfigError(f"{where}: producer refused its config: {self._security.scrub(str(exc))}") from None

    def produce_all(self, messages: Sequence[tuple[bytes | None, bytes, Headers | None]]) -> None:
        producer = self._producer
        pending = _Pending(len(messages))
        deadline = time.monotonic() + self._timeout
        try:
            for key, value, headers in messages:
                while True:
                    try:
                        producer.produce(self.topic, value=value, key=key, headers=headers,
                                         on_delivery=pending.on_delivery)
                        break
                    except BufferError:
                        if time.monotonic() > deadline:
                            raise SourceUnavailable(f"producer queue to {self.topic} stays full") from None
                        time.sleep(0.01)  # the poller drains the queue
        except KafkaException as exc:
            self._replace(producer)
            raise SourceUnavailable(f"produce to {self.topic} failed: {exc}") from exc
        pending.done.wait(max(deadline - time.monotonic(), 0.0))
        if not pending.done.is_set() or pending.errors:
            if pending.broken:
                self._replace(producer)
            raise SourceUnavailable(f"topic {self.topic}: {pending.remaining} of {len(messages)} unacknowledged, "
                                    f"{len(pending.errors)} failed ({'; '.join(pending.errors[:3])})")

    def _replace(self, broken: Producer) -> None:
        with self._lock:
            if self._producer is broken:
                logger.warning("alert producer fenced or failed fatally, replacing it")
                self._producer = self._make()
                with contextlib.suppress(KafkaException):  # its requests answer 503 and are resent
                    broken.flush(0)

    def close(self) -> None:
        self._stopping.set()
        self._poller.join(1.0)
        remaining = self._producer.flush(self._timeout)
        if remaining:
            logger.error("alert messages not acknowledged at close", extra={"ctx": {"count": remaining}})


class KafkaAlertProducer:
    """`ports.EventProducer`: standard events to the alert topic, keyed by `dedupe_md5`."""

    def __init__(self, bootstrap: str, topic: str, timeout: float, security: KafkaSecurity = PLAINTEXT) -> None:
        self._producer = _AckedProducer(bootstrap, topic, timeout, security)

    def send(self, events: Sequence[tuple[str, bytes]]) -> None:
        self._producer.produce_all([(key.encode(), value, None) for key, value in events])

    def close(self) -> None:
        self._producer.close()


class KafkaRawDeadLetters:
    """`ports.RawDeadLetters`: a rejected body as it came, headers `x-error-reason`, `x-error`,
    `x-integration`, `x-source`; key = the integration name."""

    def __init__(self, bootstrap: str, topic: str, timeout: float, security: KafkaSecurity = PLAINTEXT) -> None:
        self._producer = _AckedProducer(bootstrap, topic, timeout, security)

    def send(self, body: bytes, integration: str, source: str, reason: str, detail: str) -> None:
        headers: Headers = [("x-error-reason", reason.encode()), ("x-error", detail[:2000].encode("utf-8", "replace")),
                   ("x-integration", integration.encode()), ("x-source", source.encode())]
        self._producer.produce_all([(integration.encode(), body, headers)])

    def close(self) -> None:
        self._producer.close()
