"""Database reads and writes of `real_time_data`: the Kafka topic and dimensions of each result table.

A `ResultTable` row names the data id whose `KafkaTopic` row carries the table's points. A table without a
row, or whose data id has no topic, is logged and left out (its real-time strategies are named by the
routing as not consumed); the others go on. Database errors surface as `SourceUnavailable`.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from typing import Any

from django.db import DatabaseError, close_old_connections

from alarm_access.access.real_time_data.routing import TableTopic
from alarm_access.kernel.errors import SourceUnavailable
from alarm_access.logs import ctx
from alarm_access.models import KafkaTopic, ResultTable

logger = logging.getLogger("alarm_access.access.real_time_data")


def result_table_topics(table_ids: Collection[str]) -> list[TableTopic]:
    close_old_connections()
    try:
        tables = list(ResultTable.objects.filter(table_id__in=list(table_ids)))
        topics = {row.data_id: row for row in KafkaTopic.objects.filter(data_id__in=[t.data_id for t in tables])}
    except DatabaseError as exc:
        raise SourceUnavailable(f"result table lookup failed: {exc}") from exc
    found = []
    for table in tables:
        topic = topics.get(table.data_id)
        if topic is None:
            logger.warning("result table has no Kafka topic", extra=ctx(table=table.table_id, data_id=table.data_id))
            continue
        found.append(TableTopic(table.table_id, topic.bootstrap_servers, topic.topic,
                                tuple(str(d) for d in table.dimensions or ())))
    return found


def save_sources(document: Mapping[str, Any]) -> tuple[int, int, list[ValueError]]:
    """Upsert the `kafka_topics` (by data id) and `result_tables` (by table id) of `document`; returns the
    counts saved and one error per rejected entry (naming it and the field)."""
    errors: list[ValueError] = []
    topics = tables = 0
    for index, entry in enumerate(document.get("kafka_topics") or ()):
        try:
            data_id = int(entry["data_id"])
            values = {"cluster_name": str(entry.get("cluster_name") or "default"),
                      "bootstrap_servers": _text(entry, "bootstrap_servers"), "topic": _text(entry, "topic")}
        except (KeyError, TypeError, ValueError) as exc:
            errors.append(ValueError(f"kafka_topics[{index}]: {exc}"))
            continue
        KafkaTopic.objects.update_or_create(data_id=data_id, defaults=values)
        topics += 1
    for index, entry in enumerate(document.get("result_tables") or ()):
        try:
            dimensions = entry.get("dimensions") or []
            if not isinstance(dimensions, list) or not all(isinstance(d, str) for d in dimensions):
                raise ValueError("dimensions must be a list of field names")
            table_id, data_id = _text(entry, "table_id"), int(entry["data_id"])
        except (KeyError, TypeError, ValueError) as exc:
            errors.append(ValueError(f"result_tables[{index}]: {exc}"))
            continue
        ResultTable.objects.update_or_create(table_id=table_id, defaults={"data_id": data_id,
                                                                          "dimensions": dimensions})
        tables += 1
    return topics, tables, errors


def _text(entry: Mapping[str, Any], name: str) -> str:
    value = entry.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string")
    return value.strip()
