"""Database reads of the event access type: where the event topics are, and the strategy documents.

`event_topic_routes` maps the active data ids to Kafka topics from `KafkaTopic` rows (the data-source
model), falling back to the `data_id:topic` list of the settings on `KAFKA_BOOTSTRAP` when no row exists.
Unlike the original (spec W6/W7), brokers come from the row, and a data id without a topic is logged and
skipped instead of stopping all ingestion. Database errors surface as `SourceUnavailable`.

Each route carries the `KafkaSecurity` of its cluster (`adapters.kafka.security.security_for`: the row's
security fields, then `KAFKA_<CLUSTER>_*`, then `KAFKA_*` of `env`, the process environment by default).
`cluster_security(bootstrap)` gives it for any client that knows only a bootstrap (dead letters, real-time
consumers): the rows with that `bootstrap_servers`, else `KAFKA_*` only (the `KAFKA_BOOTSTRAP` cluster has no
name). Invalid settings, or rows of one bootstrap that disagree on them, raise `ConfigError`. A route's
`repr()` shows the password as `***`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError, close_old_connections

from alarm_access.adapters.kafka.security import MODEL_SETTINGS, PLAINTEXT, KafkaSecurity, security_for
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
    security: KafkaSecurity = PLAINTEXT


def row_security(row: KafkaTopic, env: Mapping[str, str]) -> KafkaSecurity:
    """The security of a row's cluster: its own fields over the environment `env`."""
    return security_for(row.cluster_name, row.bootstrap_servers, env,
                        {name: getattr(row, name) for name in MODEL_SETTINGS})


def cluster_security(bootstrap: str, env: Mapping[str, str] | None = None) -> KafkaSecurity:
    """The security of the cluster at `bootstrap` (compared as written): that of its `KafkaTopic` rows, which
    must agree, else the `KAFKA_*` defaults of `env` (the process environment by default)."""
    env = os.environ if env is None else env
    close_old_connections()
    try:
        rows = list(KafkaTopic.objects.filter(bootstrap_servers=bootstrap))
    except DatabaseError as exc:
        raise SourceUnavailable(f"kafka cluster lookup failed: {exc}") from exc
    if not rows:
        return security_for("", bootstrap, env)
    routes = [TopicRoute(row.data_id, row.bootstrap_servers, row.topic, row_security(row, env)) for row in rows]
    _check_one_security_per_bootstrap(routes)
    return routes[0].security


def event_topic_routes(data_ids: Sequence[int], fallback_bootstrap: str,
                       fallback_topics: Sequence[tuple[int, str]],
                       env: Mapping[str, str] | None = None) -> list[TopicRoute]:
    """Topic of every active data id: the `KafkaTopic` rows, else the fallback list; `ConfigError` if none."""
    env = os.environ if env is None else env
    close_old_connections()
    try:
        rows = list(KafkaTopic.objects.filter(data_id__in=list(data_ids)))
    except DatabaseError as exc:
        raise SourceUnavailable(f"event topic lookup failed: {exc}") from exc
    routes = [TopicRoute(row.data_id, row.bootstrap_servers, row.topic, row_security(row, env)) for row in rows]
    if not routes and fallback_bootstrap:
        security = cluster_security(fallback_bootstrap, env)
        routes = [TopicRoute(data_id, fallback_bootstrap, topic, security) for data_id, topic in fallback_topics
                  if data_id in data_ids]
    _check_one_security_per_bootstrap(routes)
    missing = sorted(set(data_ids) - {route.data_id for route in routes})
    if missing:
        logger.warning("event data ids without a topic are not consumed", extra=ctx(data_ids=missing))
    if not routes:
        raise ConfigError("no event topic configured: add KafkaTopic rows for data ids "
                          f"{', '.join(map(str, data_ids))} or set KAFKA_BOOTSTRAP and ALARM_ACCESS_EVENT_TOPICS")
    return routes


def _check_one_security_per_bootstrap(routes: Sequence[TopicRoute]) -> None:
    """One consumer serves each bootstrap: its rows must not ask for different security settings."""
    first: dict[str, TopicRoute] = {}
    for route in routes:
        seen = first.setdefault(route.bootstrap, route)
        if seen.security != route.security:
            raise ConfigError(f"{route.security.label}: KafkaTopic rows of data ids {seen.data_id} and "
                              f"{route.data_id} disagree on the security settings of bootstrap {route.bootstrap}")


def load_strategy_documents(strategy_ids: Collection[int] | None = None) -> list[dict[str, Any]]:
    """`orm.strategy_documents(strategy_ids)`; a database error is `SourceUnavailable`."""
    close_old_connections()
    try:
        return strategy_documents(strategy_ids)
    except DatabaseError as exc:
        raise SourceUnavailable(f"strategy database failed: {exc}") from exc
