"""`kernel.stream.MessageStream` over confluent-kafka: batch consume, commit after push, cooperative rebalancing.

Offsets: auto-commit and auto offset store are off. `done(messages)` records `offset + 1` per partition;
`maybe_commit` commits them synchronously every `commit_every_messages` messages or `commit_every_seconds`
seconds; `on_revoke` commits the revoked partitions' done offsets before they move to another member (the
callback runs inside a `consume` of `poll`: what earlier polls returned was pushed and marked done; messages
of a revoked partition this poll took before the callback are returned, pushed, and their offsets never
committed — the new owner reads them again, deliveries being idempotent), and `on_lost` forgets them. Done
offsets of partitions no longer assigned are never committed: a late batch must not move back the new
owner's position.

Failures: every call is bounded (`consume` by its timeout, the metadata probe and socket operations by
`timeout`). librdkafka retries a lost broker by itself and reports it through `error_cb`; once every broker
is down, `poll` probes the cluster and raises `SourceUnavailable` naming it until it answers again.

Security: `security` (`adapters.kafka.security.KafkaSecurity`, PLAINTEXT by default) is merged into the client
config, under `options`. Log lines name the bootstrap, group and topics only, never the config; librdkafka's
own config dump (`debug=conf`) redacts `sasl.password` and `ssl.key.password` itself. A config the client
refuses (a missing certificate file, a bad option) raises `ConfigError` naming the cluster.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from alarm_access import metrics
from alarm_access.adapters.kafka.lag import LagObserver
from alarm_access.adapters.kafka.security import PLAINTEXT, KafkaSecurity
from alarm_access.kernel.errors import ConfigError, SourceUnavailable
from alarm_access.kernel.stream import StreamMessage
from alarm_access.logs import ctx

logger = logging.getLogger("alarm_access.adapters.kafka")

Partition = tuple[str, int]
ERROR_LOG_INTERVAL = 30.0


class KafkaStream:
    def __init__(
        self,
        *,
        bootstrap: str,
        group_id: str,
        topics: Mapping[str, int],
        timeout: float,
        options: Mapping[str, Any],
        commit_every_messages: int,
        commit_every_seconds: float,
        join_timeout: float,
        access_type: str,
        security: KafkaSecurity = PLAINTEXT,
    ) -> None:
        self.bootstrap = bootstrap
        self._access_type = access_type
        self._lag = LagObserver(access_type)
        #: the last committed offset per partition: `done` never moves a partition back behind it
        self._committed: dict[Partition, int] = {}
        self._topics = dict(topics)
        self._timeout = timeout
        self._commit_every = (max(commit_every_messages, 1), commit_every_seconds)
        self._join_deadline = time.monotonic() + join_timeout
        self._done: dict[Partition, int] = {}
        self._uncommitted = 0
        self._last_commit = time.monotonic()
        self._assigned: set[Partition] = set()
        self._all_down: str | None = None
        self._paused = False
        self._closed = False
        self._error_logged: dict[int, float] = {}
        config = {
            "bootstrap.servers": bootstrap,
            "group.id": group_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "partition.assignment.strategy": "cooperative-sticky",
            "socket.timeout.ms": int(max(timeout, 1.0) * 1000),
            # a fetch waits at most 100 ms for data (librdkafka: 500 ms); `options` sets each access type's own
            "fetch.wait.max.ms": 100,
            "error_cb": self._on_error,
            # librdkafka's own log lines go through our formatter instead of raw stderr; below CRIT they repeat
            # what error_cb reports (rate-limited) once per reconnect attempt
            "logger": logging.getLogger("alarm_access.kafka.librdkafka"),
            "log_level": 2,
            "reconnect.backoff.ms": 500,
            "reconnect.backoff.max.ms": 10000,
            **security.librdkafka_config(),
            **options,
        }
        try:
            self._consumer = Consumer(config)
        except KafkaException as exc:
            where = security.label if security.bootstrap else f"kafka cluster {bootstrap}"
            raise ConfigError(f"{where}: kafka consumer refused its config: "
                              f"{security.scrub(str(exc))}") from None
        self._consumer.subscribe(list(self._topics), on_assign=self._on_assign, on_revoke=self._on_revoke,
                                 on_lost=self._on_lost)
        logger.info("kafka consumer subscribed", extra=ctx(bootstrap=bootstrap, group=group_id,
                                                           topics=",".join(self._topics)))

    # --- rebalance and error callbacks (run inside consume) -------------------------------------------------
    def _on_assign(self, _consumer: Any, partitions: list[Any]) -> None:
        self._assigned.update((p.topic, p.partition) for p in partitions)
        metrics.STREAM_REBALANCES.labels(self._access_type, "assigned").inc()
        logger.info("kafka consumer assigned partitions", extra=ctx(
            added=",".join(f"{p.topic}/{p.partition}" for p in partitions) or "-", total=len(self._assigned)))
        if partitions:
            # librdkafka keeps a partition's pause across a loss and a new assignment: one paused while the
            # stream held a batch, lost, and assigned again after `resume` would never be fetched again
            (self._consumer.pause if self._paused else self._consumer.resume)(partitions)

    def _on_revoke(self, _consumer: Any, partitions: list[Any]) -> None:
        revoked = {(p.topic, p.partition) for p in partitions}
        metrics.STREAM_REBALANCES.labels(self._access_type, "revoked").inc()
        try:
            self._commit(revoked)
        except SourceUnavailable as exc:
            logger.warning("commit on revoke failed; these messages will be replayed: %s", exc)
        self._forget(revoked)
        logger.info("kafka consumer revoked partitions", extra=ctx(
            removed=",".join(f"{t}/{p}" for t, p in sorted(revoked)) or "-"))

    def _on_lost(self, _consumer: Any, partitions: list[Any]) -> None:
        lost = {(p.topic, p.partition) for p in partitions}
        metrics.STREAM_REBALANCES.labels(self._access_type, "lost").inc()
        self._forget(lost)
        logger.warning("kafka consumer lost partitions; uncommitted messages will be replayed",
                       extra=ctx(lost=",".join(f"{t}/{p}" for t, p in sorted(lost))))

    def _forget(self, partitions: set[Partition]) -> None:
        self._assigned -= partitions
        for key in partitions:
            self._done.pop(key, None)
            self._committed.pop(key, None)

    def _on_error(self, error: KafkaError) -> None:
        if error.code() == KafkaError._ALL_BROKERS_DOWN or error.fatal():
            self._all_down = error.str()
        # a down broker reports every reconnect attempt: log each kind of error at most every 30 s
        now = time.monotonic()
        if now - self._error_logged.get(error.code(), -ERROR_LOG_INTERVAL) >= ERROR_LOG_INTERVAL:
            self._error_logged[error.code()] = now
            logger.warning("kafka client error: %s", error.str(), extra=ctx(bootstrap=self.bootstrap))

    # --- the stream ------------------------------------------------------------------------------------------
    def poll(self, max_messages: int, timeout: float) -> list[StreamMessage]:
        if self._all_down is not None:
            self._probe()
        try:
            batch = self._fetch(max_messages, timeout)
        except KafkaException as exc:
            raise SourceUnavailable(f"kafka consume from {self.bootstrap} failed: {exc}") from exc
        messages: list[StreamMessage] = []
        append, data_ids = messages.append, self._topics
        for message in batch:
            error = message.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    logger.warning("kafka consume error: %s", error.str(),
                                   extra=ctx(topic=message.topic(), partition=message.partition()))
                continue
            # topic, partition and offset are only None on error events, skipped above
            topic = message.topic() or ""
            append(StreamMessage(topic, message.partition() or 0, message.offset() or 0, message.value(),
                                 data_ids.get(topic, 0)))
        if not self._assigned and time.monotonic() > self._join_deadline:
            logger.warning("no partition assigned yet; the group join is taking longer than the join timeout",
                           extra=ctx(bootstrap=self.bootstrap))
            self._join_deadline = time.monotonic() + 60
        self._lag.observe(self._consumer, self._assigned, self._committed)
        return messages

    def _fetch(self, max_messages: int, timeout: float) -> list[Any]:
        """What was prefetched (up to `max_messages`); when nothing was, wait up to `timeout` for the first
        message and take it with whatever arrived with it. A batch never waits to fill up: `consume(n, t)`
        returns only at `n` messages or after `t`, so at moderate rates every message waited most of `t`."""
        batch: list[Any] = self._consumer.consume(num_messages=max_messages, timeout=0)
        if batch or timeout <= 0:
            return batch
        batch = self._consumer.consume(num_messages=1, timeout=timeout)
        if batch and max_messages > 1:
            try:
                batch += self._consumer.consume(num_messages=max_messages - 1, timeout=0)
            except KafkaException as exc:  # the first message is in hand: deliver it, the error comes back next poll
                logger.warning("kafka consume failed after the first message of a batch: %s", exc,
                               extra=ctx(bootstrap=self.bootstrap))
        return batch

    def _probe(self) -> None:
        try:
            self._consumer.list_topics(timeout=self._timeout)
        except KafkaException as exc:
            raise SourceUnavailable(f"kafka at {self.bootstrap} unreachable ({self._all_down}): {exc}") from exc
        self._all_down = None

    def done(self, messages: Iterable[StreamMessage]) -> None:
        done, committed, assigned = self._done, self._committed, self._assigned
        marked = 0
        for message in messages:  # per message: plain comparisons, no `max()` call
            key = (message.topic, message.partition)
            offset = message.offset + 1
            if offset > done.get(key, -1) and key in assigned and offset > committed.get(key, -1):
                done[key] = offset
                marked += 1
        self._uncommitted += marked

    def maybe_commit(self, now: float) -> None:
        every_messages, every_seconds = self._commit_every
        if self._uncommitted >= every_messages or (
                self._uncommitted and time.monotonic() - self._last_commit >= every_seconds):
            self._commit(None)

    def _commit(self, partitions: set[Partition] | None) -> None:
        offsets = [TopicPartition(topic, partition, offset) for (topic, partition), offset in self._done.items()
                   if partitions is None or (topic, partition) in partitions]
        if not offsets:
            return
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            raise SourceUnavailable(f"kafka commit to {self.bootstrap} failed: {exc}") from exc
        for tp in offsets:
            self._committed[(tp.topic, tp.partition)] = tp.offset
            if self._done.get((tp.topic, tp.partition)) == tp.offset:
                del self._done[(tp.topic, tp.partition)]
        if partitions is None:
            self._uncommitted = 0
            self._last_commit = time.monotonic()

    def pause(self) -> None:
        if not self._paused:
            self._paused = True
            self._consumer.pause([TopicPartition(t, p) for t, p in self._assigned])

    def resume(self) -> None:
        if self._paused:
            self._paused = False
            self._consumer.resume([TopicPartition(t, p) for t, p in self._assigned])

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._commit(None)
        except SourceUnavailable as exc:
            logger.warning("final commit failed; uncommitted messages will be replayed: %s", exc)
        finally:
            self._lag.forget()
            self._consumer.close()
