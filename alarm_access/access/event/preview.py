"""Preview of the `event` access type: the service's parsers, filters, fan-out and push decisions on messages.

Contract of `preview_event(preview)`:
* `preview.inputs` are `StreamMessage`s (raw Kafka values with the data id of their stream; `offset` is the
  message's position in the input file); `preview.strategies` are routed as the service routes them
  (`routing.build_routing`: enabled strategies whose first item's first query config is `bk_monitor`/`event`);
* every message goes through `parse.parse_message`, every flat event through `fanout.fan_out` and
  `standardize.standardize` with the clock `preview.now` (expiry, `anomaly_time`), and all anomalies of the
  run through `delivery.plan_delivery` with an empty Redis state (nothing delivered before, no priority
  entries, QoS off): duplicates inside the input and priority inhibition apply as in one pushed batch;
* the service's default event settings apply (`EventSettings()`: 30 min expiry, the original's disabled
  host states; every kind on, ping and agent events included) and snapshot keys carry the default key
  prefix; strategies the service cannot use (an item without algorithm, hence without level) are skipped;
* lines come in input order: by message, by event, event-level rejections first, then by strategy and
  item id. Per anomaly pushed:
  `{"strategy_id", "item_id", "record"}`, `record` being the JSON line as pushed (`data`, `anomaly`,
  `strategy_snapshot_key`). Per rejection `{"rejected": reason, "message": index, ...}`:
  - the message: `detail` (reasons of `parse.parse_message`: `not_json`, `missing_field`, ...), or
    `ignored` for a well-formed message access deliberately skips (GSE types 0, 1, 4, 5);
  - an event (`event` = kind, time, host, cloud id): `expired`, the kind filters' reasons, `unknown_host`,
    `ping_filtered`, `no_strategy`;
  - an event for one strategy (`strategy_id`, `item_id`): `host_disabled`, `out_of_scope`,
    `condition_mismatch`;
  - an anomaly (`strategy_id`, `item_id`, `anomaly_id`): `duplicate`, `inhibited`.
Pure: no I/O, no clock.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from alarm_access.access.event.delivery import DeliveryState, plan_delivery
from alarm_access.access.event.fanout import fan_out
from alarm_access.access.event.kinds import FlatEvent
from alarm_access.access.event.parse import parse_message
from alarm_access.access.event.routing import EventStrategy, Routing, build_routing
from alarm_access.access.event.standardize import Anomaly, standardize
from alarm_access.formats.preview import Line, PreviewInput
from alarm_access.kernel.errors import InvalidRecord
from alarm_access.kernel.settings import EventSettings
from alarm_access.kernel.stream import StreamMessage
from alarm_access.records.enrich import index_topology

#: `fan_out` drop reasons that concern one strategy, not the whole event
STRATEGY_REASONS = frozenset({"host_disabled", "out_of_scope", "condition_mismatch"})


@dataclass(frozen=True, slots=True)
class _Pending:
    """An anomaly whose fate (pushed, duplicate, inhibited) is known once the whole input is planned."""

    message: int
    anomaly: Anomaly


def describe(event: FlatEvent) -> dict[str, Any]:
    summary: dict[str, Any] = {"kind": event.kind.name.lower(), "time": event.time, "host": event.host,
                               "cloud_id": event.cloud_id}
    if event.agent_id:
        summary["agent_id"] = event.agent_id
    return summary


def _strategy_drops(event: FlatEvent, routing: Routing, now: int, index: int) -> list[Line]:
    """Per-strategy rejections, found by fanning the event out to each matching strategy alone."""
    lines: list[Line] = []
    routes: list[EventStrategy] = [route for routes in routing.by_biz.values() for route in routes
                                   if event.kind.metric_id in route.metric_ids]
    for route in sorted(routes, key=lambda r: (r.strategy.id, r.item.id)):
        alone = Routing({route.strategy.bk_biz_id: (route,)}, routing.topology, routing.disabled_states,
                        routing.expire_seconds)
        _, drops = fan_out(event, alone, now)
        lines.extend({"rejected": reason, "message": index, "event": describe(event),
                      "strategy_id": route.strategy.id, "item_id": route.item.id}
                     for reason in sorted(drops) if reason in STRATEGY_REASONS)
    return lines


def _strategy_order(entry: Line | _Pending) -> tuple[int, int]:
    if isinstance(entry, _Pending):
        return entry.anomaly.strategy_id, entry.anomaly.item_id
    return entry["strategy_id"], entry["item_id"]


def _message_entries(message: StreamMessage, routing: Routing, now: int) -> list[Line | _Pending]:
    """What one message yields; like `access.event.batch.process_batch`, a malformed part (or a bug)
    rejects the whole message and nothing else of it is kept."""
    index = message.offset
    try:
        events = parse_message(message.data_id, message.value)
        entries: list[Line | _Pending] = [] if events else [{"rejected": "ignored", "message": index}]
        for event in events:
            candidates, drops = fan_out(event, routing, now)
            entries.extend({"rejected": reason, "message": index, "event": describe(event)}
                           for reason in sorted(drops) if reason not in STRATEGY_REASONS)
            per_strategy: list[Line | _Pending] = [_Pending(index, standardize(c, now)) for c in candidates]
            if any(reason in STRATEGY_REASONS for reason in drops):
                per_strategy.extend(_strategy_drops(event, routing, now, index))
            entries.extend(sorted(per_strategy, key=_strategy_order))
    except InvalidRecord as exc:
        return [{"rejected": exc.reason, "message": index, "detail": exc.detail}]
    except Exception as exc:  # the service dead-letters such a message as a processing error, so do we
        return [{"rejected": "processing_error", "message": index, "detail": f"{type(exc).__name__}: {exc}"}]
    return entries


def _resolve(entries: Sequence[Line | _Pending], now: int) -> list[Line]:
    """Pending anomalies → record lines or `duplicate`/`inhibited` rejections, decided as one pushed batch."""
    anomalies = [entry.anomaly for entry in entries if isinstance(entry, _Pending)]
    plan = plan_delivery(anomalies, DeliveryState(), now, qos_threshold=0)
    pushed = {id(anomaly) for batch in plan.pushes.values() for anomaly in batch}
    seen: set[str] = set()
    lines: list[Line] = []
    for entry in entries:
        if not isinstance(entry, _Pending):
            lines.append(entry)
            continue
        anomaly = entry.anomaly
        if id(anomaly) in pushed:
            lines.append({"strategy_id": anomaly.strategy_id, "item_id": anomaly.item_id,
                          "record": json.loads(anomaly.line)})
        else:  # QoS is off: what the plan did not push is a duplicate or inhibited
            reason = "duplicate" if anomaly.delivery_key in seen else "inhibited"
            lines.append({"rejected": reason, "message": entry.message, "strategy_id": anomaly.strategy_id,
                          "item_id": anomaly.item_id, "anomaly_id": anomaly.anomaly_id})
        seen.add(anomaly.delivery_key)
    return lines


def preview_event(preview: PreviewInput) -> list[Line]:
    """Anomalies and rejections of `preview.inputs` (EventMessages) under `preview.strategies`."""
    settings = EventSettings()
    routing, _problems = build_routing(
        preview.strategies, index_topology(preview.topology), snapshot_key=preview.snapshot_key,
        disabled_states=settings.disabled_host_states, expire_seconds=settings.expire_seconds)
    entries: list[Line | _Pending] = []
    for message in preview.inputs:
        entries.extend(_message_entries(message, routing, preview.now))
    return _resolve(entries, preview.now)
