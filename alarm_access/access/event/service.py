"""The `event` access service: Kafka event messages → anomalies in the trigger queues, at least once.

The consume loop (poll → deliver → done → commit, holding and pausing on failure) is `streaming.StreamAccess`,
shared with `real_time_data`. The delivery is the one choice between `-H process` and `-H celery`:
`EventHandler` (parse/fan out/push anomalies idempotently/dead-letter bad messages, in this process) or
`stream_tasks.PublishingDelivery` (publish the batch as one task; workers run the same `EventHandler`).
"""

from __future__ import annotations

from typing import cast

from alarm_access.access.event.batch import TooManyInvalid
from alarm_access.access.event.handle import EventHandler
from alarm_access.access.event.ports import EventPorts
from alarm_access.kernel.config import AccessConfig, HandlerType
from alarm_access.kernel.ports import Ports
from alarm_access.runtime import LoopLimits, LoopService, Service
from alarm_access.stream_tasks import PublisherPorts, PublishingDelivery
from alarm_access.streaming import Delivery, Polling, StreamAccess


def build_event_service(config: AccessConfig, ports: Ports) -> Service:
    """The supervised `event` service. `ports` must implement `EventPorts` (and `PublisherPorts` for
    `-H celery`); bootstrap's `AdapterPorts` does.

    Topics are resolved here, so a deployment without any event topic fails at start (`ConfigError`).
    """
    delivery: Delivery
    if config.handler_type == HandlerType.CELERY:
        delivery = PublishingDelivery("event", cast("PublisherPorts", ports).stream_publisher())
    else:
        delivery = EventHandler(config, cast("EventPorts", ports))
    event_ports = cast("EventPorts", ports)
    streams = event_ports.event_streams()
    access = StreamAccess(config.access_type.value, lambda: streams, delivery,
                          Polling(config.event.batch_size, config.event.poll_timeout), event_ports.close)
    # batches follow each other without a pause; an idle poll waits `poll_timeout` inside the cycle
    limits = LoopLimits(once=config.once, max_cycles=config.max_cycles, max_uptime=config.max_uptime,
                        min_interval=0.0)
    return LoopService(config.access_type.value, access.cycle, access.close, limits)


__all__ = ["TooManyInvalid", "build_event_service"]
