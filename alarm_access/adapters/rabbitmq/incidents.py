"""`RabbitIncidentSource`: the incident sync queue on RabbitMQ (kombu / py-amqp), at least once.

* Manual ack only (`ack` after the store committed), at most `prefetch` unacked messages, AMQP heartbeats
  (checked at every call), connect/read/write timeouts and publisher-confirm timeouts on every call. TLS and
  credentials come from the URL (`amqps://user:password@host:port/vhost`).
* The queue: a passive declare first; a queue that exists is used as it is (never redeclared with other
  arguments). A missing one is declared — when `declare` is on — durable, quorum, with `x-delivery-limit`
  and the dead-letter exchange `<dead letter queue>` (at-least-once dead-lettering, `reject-publish`
  overflow), so a message that crashes consumers `delivery_limit` times is dead-lettered by the broker.
* `dead_letter`: a copy goes to the dead-letter queue (declared durable quorum when missing) with
  `x-alarm-access-reason` / `-detail` / `-queue` headers, confirmed by the broker, and only then is the
  original acked: a message is never acked-and-lost, and never redelivered forever.
* A broker failure raises `SourceUnavailable` and drops the connection (its unacked messages go back to the
  queue); the next `receive` reconnects — the caller backs off in between.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

from kombu.connection import Connection
from kombu.entity import Queue
from kombu.message import Message
from kombu.messaging import Consumer

from alarm_access.access.incident.ports import Delivery
from alarm_access.kernel.errors import ConfigError, SourceUnavailable

logger = logging.getLogger("alarm_access.adapters.rabbitmq")

REASON_HEADER = "x-alarm-access-reason"
DETAIL_HEADER = "x-alarm-access-detail"
QUEUE_HEADER = "x-alarm-access-queue"


def quorum_arguments(dead_letter_exchange: str, dead_letter_queue: str, delivery_limit: int) -> dict[str, Any]:
    """The arguments of a sync queue we declare."""
    return {"x-queue-type": "quorum", "x-delivery-limit": delivery_limit,
            "x-dead-letter-exchange": dead_letter_exchange, "x-dead-letter-routing-key": dead_letter_queue,
            "x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish"}


class RabbitIncidentSource:
    def __init__(self, url: str, queue: str, *, dead_letter_queue: str, declare: bool = True,
                 delivery_limit: int = 5, prefetch: int = 50, heartbeat: int = 30, timeout: float = 5.0) -> None:
        self._url = url
        self._queue = queue
        self._dlq = dead_letter_queue
        self._declare = declare
        self._delivery_limit = delivery_limit
        self._prefetch = prefetch
        self._heartbeat = heartbeat
        self._timeout = timeout
        self._connection: Connection | None = None
        self._channel: Any = None
        self._publisher: Any = None
        self._consumer: Consumer | None = None
        self._buffer: deque[Message] = deque()
        self._unacked: dict[int, Message] = {}
        self._epoch = 0

    # --- connection ------------------------------------------------------------------------------------------
    def _connect(self) -> None:
        connection = Connection(
            self._url, heartbeat=self._heartbeat, connect_timeout=self._timeout,
            transport_options={"read_timeout": self._timeout, "write_timeout": self._timeout,
                               "confirm_publish": True})
        try:
            connection.connect()
            self._prepare_queues(connection)
            channel = connection.channel()
            channel.basic_qos(0, self._prefetch, False)
            consumer = Consumer(channel, queues=[Queue(self._queue, no_declare=True)],
                                      on_message=self._buffer.append, auto_declare=False, no_ack=False)
            consumer.consume()
            publisher = connection.channel()
        except ConfigError:
            connection.release()
            raise
        except (*connection.connection_errors, *connection.channel_errors, OSError) as exc:
            connection.release()
            raise SourceUnavailable(f"incident broker {connection.as_uri()}: {exc}") from exc
        self._connection, self._channel, self._consumer, self._publisher = connection, channel, consumer, publisher
        self._epoch += 1
        logger.info("incident queue consumer connected", extra={"ctx": {
            "broker": connection.as_uri(), "queue": self._queue, "prefetch": self._prefetch}})

    def _exists(self, connection: Connection, queue: str) -> bool:
        channel = connection.channel()
        try:
            channel.queue_declare(queue=queue, passive=True)
        except connection.channel_errors as exc:
            if getattr(exc, "code", None) == 404:
                return False
            raise
        finally:
            if channel.is_open:
                channel.close()
        return True

    def _prepare_queues(self, connection: Connection) -> None:
        exists = self._exists(connection, self._queue)
        if not exists and not self._declare:
            raise ConfigError(f"incident queue {self._queue!r} does not exist and declaring it is off "
                              "(ALARM_ACCESS_INCIDENT_DECLARE)")
        channel = connection.channel()
        try:
            if not self._exists(connection, self._dlq):
                channel.queue_declare(queue=self._dlq, durable=True, auto_delete=False,
                                      arguments={"x-queue-type": "quorum"})
            channel.exchange_declare(exchange=self._dlq, type="direct", durable=True, auto_delete=False)
            channel.queue_bind(queue=self._dlq, exchange=self._dlq, routing_key=self._dlq)
            if not exists:
                channel.queue_declare(queue=self._queue, durable=True, auto_delete=False,
                                      arguments=quorum_arguments(self._dlq, self._dlq, self._delivery_limit))
                logger.info("incident queue declared", extra={"ctx": {"queue": self._queue,
                                                                      "delivery_limit": self._delivery_limit}})
        finally:
            channel.close()

    def _drop(self, exc: BaseException) -> SourceUnavailable:
        """Forget the connection (the broker requeues what was not acked) and the messages it delivered."""
        connection, self._connection = self._connection, None
        self._buffer.clear()
        self._unacked.clear()
        if connection is not None:
            try:
                connection.release()
            except Exception:  # a connection that already failed may fail to close: nothing more to do
                logger.debug("releasing a failed broker connection failed", exc_info=True)
        return SourceUnavailable(f"incident broker failed: {exc!r}")

    def _errors(self) -> tuple[type[BaseException], ...]:
        assert self._connection is not None
        return (*self._connection.connection_errors, *self._connection.channel_errors, OSError)

    # --- IncidentSource -------------------------------------------------------------------------------------
    def receive(self, timeout: float) -> Delivery | None:
        if self._connection is None:
            self._connect()
        connection = self._connection
        assert connection is not None
        if not self._buffer:
            try:
                connection.heartbeat_check()
                connection.drain_events(timeout=timeout)
            except TimeoutError:
                return None
            except self._errors() as exc:
                raise self._drop(exc) from exc
        if not self._buffer:
            return None
        message = self._buffer.popleft()
        tag = int(message.delivery_tag)
        self._unacked[tag] = message
        headers = message.headers or {}
        return Delivery(body=bytes(message.body if isinstance(message.body, bytes) else str(message.body).encode()),
                        tag=tag, epoch=self._epoch, redelivered=bool(message.delivery_info.get("redelivered")),
                        delivery_count=int(headers.get("x-delivery-count") or 0))

    def _message(self, delivery: Delivery) -> Message:
        message = self._unacked.get(delivery.tag) if delivery.epoch == self._epoch else None
        if message is None or self._connection is None:
            raise SourceUnavailable(f"delivery {delivery.position} came on a connection that is gone")
        return message

    def ack(self, delivery: Delivery) -> None:
        message = self._message(delivery)
        try:
            message.ack()
        except self._errors() as exc:
            raise self._drop(exc) from exc
        del self._unacked[delivery.tag]

    def dead_letter(self, delivery: Delivery, reason: str, detail: str) -> None:
        message = self._message(delivery)
        headers = {**(message.headers or {}), REASON_HEADER: reason, DETAIL_HEADER: detail, QUEUE_HEADER: self._queue}
        properties = message.properties or {}
        try:
            self._publisher.basic_publish_confirm(
                self._publisher.prepare_message(
                    message.body, content_type=properties.get("content_type"),
                    content_encoding=properties.get("content_encoding"), headers=headers,
                    properties={"delivery_mode": 2}),
                exchange=self._dlq, routing_key=self._dlq, mandatory=True, confirm_timeout=self._timeout)
            message.ack()
        except self._errors() as exc:
            raise self._drop(exc) from exc
        del self._unacked[delivery.tag]

    def keepalive(self) -> None:
        """Heartbeats while a message is held. Frames are read too (into the prefetch-bounded buffer): py-amqp
        counts the broker's heartbeats only when it reads them, and without reading it would drop the connection
        after two heartbeat intervals — returning the held and prefetched messages to the queue, where every
        return counts toward its delivery limit, so a long database outage would dead-letter good messages."""
        if self._connection is None:
            return
        try:
            self._connection.heartbeat_check()
            self._connection.drain_events(timeout=0.05)
        except TimeoutError:
            return
        except self._errors() as exc:
            raise self._drop(exc) from exc

    def close(self) -> None:
        if self._connection is not None:
            self._drop(ConnectionAbortedError("closed"))
