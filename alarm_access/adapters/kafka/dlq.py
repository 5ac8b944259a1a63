"""`ports.DeadLetterSink` over a confluent-kafka producer: bad event messages go to a dead-letter topic.

Each copy keeps the original value and carries headers `x-error-reason`, `x-error`, `x-original-topic`,
`x-original-partition`, `x-original-offset`, `x-data-id`; its key is `topic/partition/offset`, so a copy
produced twice (a batch replayed after a crash) is recognisable. `flush` must succeed before the offsets
of the batch are committed: a bad message is never committed without being dead-lettered.

`security` (`adapters.kafka.security.KafkaSecurity`, PLAINTEXT by default) is merged into the producer config;
nothing here logs the config. A config the client refuses raises `ConfigError` naming the cluster.

At construction (`check_topic`, on by default) the topic is looked up in the cluster's metadata and, when it is
missing, created (`AdminClient.create_topics`, broker defaults for partitions and replication); the outcome is
logged once — found, created, or missing and not creatable (an ERROR: the first bad message would then hold
the stream). The check never raises: an unreachable cluster is logged and left to the first produce.
"""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]  # re-exported, not in __all__

from alarm_access.adapters.kafka.security import PLAINTEXT, KafkaSecurity
from alarm_access.kernel.errors import ConfigError, SourceUnavailable
from alarm_access.kernel.stream import StreamMessage

logger = logging.getLogger("alarm_access.access.event.dlq")

#: headers are for people and tools: keep a runaway error text from bloating the topic
MAX_ERROR_TEXT = 2000


class KafkaDeadLetters:
    def __init__(self, bootstrap: str, topic: str, timeout: float, security: KafkaSecurity = PLAINTEXT, *,
                 check_topic: bool = True) -> None:
        self.topic = topic
        self._timeout = timeout
        self._failures: list[str] = []
        self._where = security.label if security.bootstrap else f"kafka cluster {bootstrap}"
        self._scrub = security.scrub
        #: the outcome of the start-up check: "exists", "created", "missing" or "unchecked"
        self.topic_state = "unchecked"
        client = {"bootstrap.servers": bootstrap, "socket.timeout.ms": int(max(timeout, 1.0) * 1000),
                  **security.librdkafka_config()}
        try:
            self._producer = Producer({
                **client,
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": 5,
                "message.timeout.ms": int(max(timeout * 3, 5.0) * 1000),
            })
        except KafkaException as exc:
            raise ConfigError(f"{self._where}: dead-letter producer refused its config: "
                              f"{security.scrub(str(exc))}") from None
        if check_topic:
            self.topic_state = self._check_topic(client)

    def _check_topic(self, client: dict[str, Any]) -> str:
        """Find the topic, create it if missing; log the outcome once (see the module doc)."""
        where = {"topic": self.topic, "cluster": self._where}
        try:
            admin = AdminClient(client)
            metadata = admin.list_topics(timeout=self._timeout)  # all topics: naming one could auto-create it
        except Exception as exc:  # an unreachable cluster: reported, never fatal
            logger.error("dead-letter topic %s could not be checked (%s: %s)", self.topic, type(exc).__name__,
                         self._scrub(str(exc)), extra={"ctx": where})
            return "unchecked"
        found = metadata.topics.get(self.topic)
        if found is not None and found.error is None:
            logger.info("dead-letter topic found", extra={"ctx": where})
            return "exists"
        try:
            future = admin.create_topics([NewTopic(self.topic)], request_timeout=self._timeout)[self.topic]
            future.result(timeout=self._timeout * 2)
        except KafkaException as exc:
            error = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
            if error is not None and error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                logger.info("dead-letter topic found", extra={"ctx": where})
                return "exists"
            logger.error("dead-letter topic %s is missing and could not be created (%s): the first invalid "
                         "message will hold the stream until it exists", self.topic, self._scrub(str(exc)),
                         extra={"ctx": where})
            return "missing"
        except Exception as exc:  # the creation did not answer in time
            logger.error("dead-letter topic %s is missing; its creation did not complete (%s: %s)", self.topic,
                         type(exc).__name__, self._scrub(str(exc)), extra={"ctx": where})
            return "missing"
        logger.warning("dead-letter topic was missing: created it", extra={"ctx": where})
        return "created"

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
