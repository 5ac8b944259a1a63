"""The `real_time_data` access service: points of real-time strategies from Kafka → records in detect's queues.

The consume loop is `streaming.StreamAccess` (poll → deliver → done → commit; hold and pause on failure),
shared with `event`. What is particular here is which topics are consumed: `Subscriptions` keeps one
consumer per Kafka cluster, all in one consumer group (`{KAFKA_GROUP_PREFIX}.access.real_time_data.{cluster}`,
cooperative-sticky), so processes of this access type share the partitions and Kafka moves a dead member's
partitions to the others — no leader, no hand-made assignment (the original's, spec §4.4 and §9.12). After
every strategy refresh the subscriptions follow the routes by diff: a consumer is opened for a new cluster,
closed (committing what was done) for a cluster no strategy reads any more, and reopened on the new topic set
when a cluster's topics changed; clusters whose topics did not change keep their consumer.

With `-H celery` a consumed batch becomes one task (as for `event`); the workers run the same handler. The
consumer still needs the routes to know what to subscribe, so it loads them itself.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import cast

from alarm_access.access.real_time_data.handle import ACCESS_TYPE, RealTimeHandler
from alarm_access.access.real_time_data.ports import RealTimePorts
from alarm_access.kernel.config import AccessConfig, HandlerType
from alarm_access.kernel.ports import Ports
from alarm_access.kernel.stream import MessageStream
from alarm_access.logs import ctx
from alarm_access.runtime import LoopLimits, LoopService, Service
from alarm_access.stream_tasks import PublisherPorts, PublishingDelivery
from alarm_access.streaming import Delivery, Polling, StreamAccess

logger = logging.getLogger("alarm_access.access.real_time_data")


class Subscriptions:
    """The consumers of this process, one per cluster, kept in line with the handler's routes. Not thread-safe:
    the service loop calls `streams` (once per cycle) and `close`."""

    def __init__(self, ports: RealTimePorts, routes_of: RealTimeHandler) -> None:
        self._ports = ports
        self._handler = routes_of
        self._streams: dict[str, tuple[frozenset[str], MessageStream]] = {}

    def streams(self) -> Sequence[MessageStream]:
        routes = self._handler.routes
        if routes is not None:
            self._sync(routes.subscriptions)
        return [stream for _, stream in self._streams.values()]

    def _sync(self, wanted: Mapping[str, frozenset[str]]) -> None:
        for bootstrap in [b for b in self._streams if self._streams[b][0] != wanted.get(b)]:
            topics, stream = self._streams.pop(bootstrap)
            logger.info("real-time subscription closed",
                        extra=ctx(bootstrap=bootstrap, topics=",".join(sorted(topics))))
            stream.close()
        for bootstrap, topics in wanted.items():
            if bootstrap not in self._streams and topics:
                self._streams[bootstrap] = (topics, self._ports.real_time_stream(bootstrap, sorted(topics)))

    def close(self) -> None:
        """Close every consumer (each commits what was delivered), then every other port."""
        try:
            while self._streams:
                _, (_, stream) = self._streams.popitem()
                stream.close()
        finally:
            self._ports.close()


def build_real_time_service(config: AccessConfig, ports: Ports) -> Service:
    """The supervised `real_time_data` service. `ports` must implement `RealTimePorts` (and `PublisherPorts`
    for `-H celery`); bootstrap's `AdapterPorts` does."""
    real_time_ports = cast("RealTimePorts", ports)
    handler = RealTimeHandler(config, real_time_ports)
    subscriptions = Subscriptions(real_time_ports, handler)
    delivery: Delivery = handler
    if config.handler_type == HandlerType.CELERY:
        delivery = PublishingDelivery(ACCESS_TYPE, cast("PublisherPorts", ports).stream_publisher(), routing=handler)
    settings = config.real_time
    access = StreamAccess(ACCESS_TYPE, subscriptions.streams, delivery,
                          Polling(settings.batch_size, settings.poll_timeout), subscriptions.close)
    limits = LoopLimits(once=config.once, max_cycles=config.max_cycles, max_uptime=config.max_uptime,
                        min_interval=0.0)
    return LoopService(config.access_type.value, access.cycle, access.close, limits)
