"""Raw third-party payloads from Kafka topics and Redis lists, one per integration, into the same ingest as the
HTTP receiver (`AlertIngestor.ingest`: parse, diff, produce, save).

Each message is one payload as its sender would have POSTed it (an Alertmanager webhook body, a Grafana one, a
standard event or a list of them, ...), in the format of the integration its topic or list is routed to
(`ALARM_ACCESS_ALERT_KAFKA_SOURCES` / `_REDIS_SOURCES`: `integration:topic` entries). There is no token or
signature: whoever can write the topic or the list is trusted, as for `event`.

The consume loop is `streaming.StreamAccess`: a batch is marked done (Kafka: committed by policy; Redis: removed
from its processing list) only after every payload of it was produced and acknowledged or dead-lettered. A
payload the broker did not acknowledge (503 on HTTP) fails the batch: it is held and retried, nothing of it is
committed; the payloads before it in the batch are then ingested again, which emits nothing new for the
snapshot formats (their diff states were saved) and the same event `id`s otherwise (downstream drops them).
Under `-H celery` the consumer publishes each batch as one task (`stream_tasks`) and a worker runs this
delivery.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from alarm_access.access.alert.ingest import AlertIngestor
from alarm_access.access.alert.integrations import Integration
from alarm_access.access.alert.observe import record_response
from alarm_access.kernel.errors import ConfigError, SourceUnavailable
from alarm_access.kernel.settings import ALERT_PREFIX, AlertSettings
from alarm_access.kernel.stream import StreamMessage


def stream_routes(settings: AlertSettings, integrations: Mapping[str, Integration]) -> dict[str, Integration]:
    """Topic or list key → its integration; `ConfigError` naming an entry whose integration does not exist or a
    topic/key routed twice."""
    routes: dict[str, Integration] = {}
    for setting, entries in (("KAFKA_SOURCES", settings.kafka_sources), ("REDIS_SOURCES", settings.redis_sources)):
        for name, source in entries:
            integration = integrations.get(name)
            if integration is None:
                raise ConfigError(f"{ALERT_PREFIX}{setting}: no integration {name!r} (known: "
                                  f"{', '.join(sorted(integrations)) or 'none'})")
            if source in routes:
                raise ConfigError(f"{ALERT_PREFIX}{setting}: {source!r} is routed twice")
            routes[source] = integration
    return routes


class AlertStreamDelivery:
    """A `streaming.Delivery`: each message of a batch through `AlertIngestor.ingest`, in order."""

    def __init__(self, ingestor: AlertIngestor, routes: Mapping[str, Integration]) -> None:
        self._ingestor = ingestor
        self._routes = routes

    @property
    def ready(self) -> bool:
        return True

    def refresh(self, now: float) -> bool:
        """Nothing to reload: integrations are read at start, as by the receiver."""
        return True

    def deliver(self, messages: Sequence[StreamMessage]) -> None:
        for message in messages:
            integration = self._routes.get(message.topic)
            if integration is None:  # a task published by a consumer with other routes: retried, never dropped
                raise SourceUnavailable(f"alert {message.position}: no integration is routed to {message.topic!r}")
            response = self._ingestor.ingest(integration, message.value or b"", time.time(), message.position)
            record_response(integration.name, response, position=message.position)
            if response.status >= 500:
                raise SourceUnavailable(f"alert {message.position}: {response.body.get('detail')}")
