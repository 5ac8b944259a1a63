"""Database reads of the event access type: where the event topics are, and the strategy documents.

`event_topic_routes` maps the active data ids to Kafka topics from `KafkaTopic` rows (the data-source
model), falling back to the `data_id:topic` list of the settings on `KAFKA_BOOTSTRAP` when no row exists.
Unlike the original (spec W6/W7), brokers come from the row, and a data id without a topic is logged and
skipped instead of stopping all ingestion. Database errors surface as `SourceUnavailable`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError, close_old_connections

from alarm_access.adapters.orm import strategy_documents
from alarm_access.kernel.errors import ConfigError, SourceUnavailable
from alarm_access.logs import ctx
from alarm_access.models import KafkaTopic

logger = logging.getLogger("alarm_access.access.event")


@dataclass(frozen=True, slots=True)
class TopicRoute:
    data_id: int
    bootstrap: str
    topic: str


def event_topic_routes(data_ids: Sequence[int], fallback_bootstrap: str,
                       fallback_topics: Sequence[tuple[int, str]]) -> list[TopicRoute]:
    """Topic of every active data id: the `KafkaTopic` rows, else the fallback list; `ConfigError` if none."""
    close_old_connections()
    try:
        rows = list(KafkaTopic.objects.filter(data_id__in=list(data_ids)))
    except DatabaseError as exc:
        raise SourceUnavailable(f"event topic lookup failed: {exc}") from exc
    routes = [TopicRoute(row.data_id, row.bootstrap_servers, row.topic) for row in rows]
    if not routes and fallback_bootstrap:
        routes = [TopicRoute(data_id, fallback_bootstrap, topic) for data_id, topic in fallback_topics
                  if data_id in data_ids]
    missing = sorted(set(data_ids) - {route.data_id for route in routes})
    if missing:
        logger.warning("event data ids without a topic are not consumed", extra=ctx(data_ids=missing))
    if not routes:
        raise ConfigError("no event topic configured: add KafkaTopic rows for data ids "
                          f"{', '.join(map(str, data_ids))} or set KAFKA_BOOTSTRAP and ALARM_ACCESS_EVENT_TOPICS")
    return routes


def load_strategy_documents() -> list[dict[str, Any]]:
    close_old_connections()
    try:
        return strategy_documents()
    except DatabaseError as exc:
        raise SourceUnavailable(f"strategy database failed: {exc}") from exc
