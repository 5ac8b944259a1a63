"""`ports.DeadLetterSink` over a confluent-kafka producer: bad event messages go to a dead-letter topic.

Each copy keeps the original value and carries headers `x-error-reason`, `x-error`, `x-original-topic`,
`x-original-partition`, `x-original-offset`, `x-data-id`; its key is `topic/partition/offset`, so a copy
produced twice (a batch replayed after a crash) is recognisable. `flush` must succeed before the offsets
of the batch are committed: a bad message is never committed without being dead-lettered.

`security` (`adapters.kafka.security.KafkaSecurity`, PLAINTEXT by default) is merged into the producer config;
nothing here logs the config. A config the client refuses raises `ConfigError` naming the cluster.
"""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from alarm_access.adapters.kafka.security import PLAINTEXT, KafkaSecurity
from alarm_access.kernel.errors import ConfigError, SourceUnavailable
from alarm_access.kernel.stream import StreamMessage

logger = logging.getLogger("alarm_access.access.event.dlq")

#: headers are for people and tools: keep a runaway error text from bloating the topic
MAX_ERROR_TEXT = 2000


class KafkaDeadLetters:
    def __init__(self, bootstrap: str, topic: str, timeout: float, security: KafkaSecurity = PLAINTEXT) -> None:
        self.topic = topic
        self._timeout = timeout
        self._failures: list[str] = []
        try:
            self._producer = Producer({
                "bootstrap.servers": bootstrap,
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": 5,
                "socket.timeout.ms": int(max(timeout, 1.0) * 1000),
                "message.timeout.ms": int(max(timeout * 3, 5.0) * 1000),
                **security.librdkafka_config(),
            })
        except KafkaException as exc:
            where = security.label if security.bootstrap else f"kafka cluster {bootstrap}"
            raise ConfigError(f"{where}: dead-letter producer refused its config: "
                              f"{security.scrub(str(exc))}") from None

    def _on_delivery(self, error: KafkaError | None, _message: Any) -> None:
        if error is not None:
            self._failures.append(error.str())

    def send(self, message: StreamMessage, reason: str, detail: str) -> None:
        headers: list[tuple[str, str | bytes | None]] = [
            ("x-error-reason", reason.encode()),
            ("x-error", detail[:MAX_ERROR_TEXT].encode("utf-8", "replace")),
            ("x-original-topic", message.topic.encode()),
            ("x-original-partition", str(message.partition).encode()),
            ("x-original-offset", str(message.offset).encode()),
            ("x-data-id", str(message.data_id).encode()),
        ]
        key = f"{message.topic}/{message.partition}/{message.offset}".encode()
        for _ in range(2):
            try:
                self._producer.produce(self.topic, value=message.value, key=key, headers=headers,
                                       on_delivery=self._on_delivery)
                return
            except BufferError:
                self._producer.poll(self._timeout)  # the local queue is full: let deliveries drain once
            except KafkaException as exc:
                raise SourceUnavailable(f"dead-letter produce to {self.topic} failed: {exc}") from exc
        raise SourceUnavailable(f"dead-letter queue to {self.topic} stays full")

    def flush(self) -> None:
        remaining = self._producer.flush(self._timeout)
        failures, self._failures = self._failures, []
        if remaining or failures:
            raise SourceUnavailable(f"dead-letter topic {self.topic}: {remaining} copies unacknowledged, "
                                    f"{len(failures)} failed ({'; '.join(failures[:3])})")

    def close(self) -> None:
        remaining = self._producer.flush(self._timeout)
        if remaining:
            logger.error("dead-letter copies not acknowledged at close", extra={"ctx": {"count": remaining}})
