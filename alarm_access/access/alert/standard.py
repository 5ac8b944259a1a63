"""The BlueKing standard event: what the alert builder downstream consumes from Kafka (docs/alert_access.md).

`standard_event(fields, integration, now)` fills every field, normalizes `status` and `severity`, and computes
the two ids:

* `id` = `count_md5({"plugin_id", "event_id", "status", "time"})` — delivery idempotency: the same alert
  transition produced twice has the same id;
* `dedupe_md5` = `count_md5({key: value})` over `alert_name` (its strategy id when the name is empty),
  `target_type`, `target`, `bk_biz_id` and the integration's `dedupe_keys` (a top-level field name, or
  `tags.<key>` for a tag value) — the alert's identity, the Kafka key. `dedupe_keys[]` lists the keys used.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from alarm_access.kernel.hashing import count_md5
from alarm_access.kernel.model import Host

if TYPE_CHECKING:  # integrations -> mapping -> standard: a runtime import would be circular
    from alarm_access.access.alert.integrations import Integration

ABNORMAL, RECOVERED, CLOSED = "ABNORMAL", "RECOVERED", "CLOSED"
STATUSES = frozenset({ABNORMAL, RECOVERED, CLOSED})
#: 1 fatal, 2 warning, 3 remind
FATAL, WARNING, REMIND = 1, 2, 3
BASE_DEDUPE_KEYS = ("alert_name", "target_type", "target", "bk_biz_id")

FIELDS: tuple[str, ...] = (
    "id", "event_id", "plugin_id", "strategy_id", "alert_name", "description", "severity", "data_type", "tags",
    "target_type", "target", "assignee", "status", "metric", "category", "dedupe_keys", "dedupe_md5", "time",
    "anomaly_time", "bk_ingest_time", "bk_clean_time", "bk_biz_id", "ip", "bk_cloud_id", "bk_host_id",
    "bk_topo_node", "extra_info",
)


def normalize_status(value: Any) -> str:
    """ABNORMAL, RECOVERED or CLOSED (case-insensitive); anything else is ABNORMAL."""
    text = str(value or "").strip().upper()
    return text if text in STATUSES else ABNORMAL


def normalize_severity(value: Any) -> int:
    """An int clamped to 1..3; not a number: 2 (warning)."""
    try:
        number = int(float(value))
    except (TypeError, ValueError):
        return WARNING
    return min(max(number, FATAL), REMIND)


def tags_of(labels: Mapping[str, Any]) -> list[dict[str, str]]:
    """Labels as BlueKing tags `[{key, value}]`, sorted by key."""
    return [{"key": str(key), "value": str(value)} for key, value in sorted(labels.items())]


def host_ip(instance: str) -> str:
    """The IPv4 address of `instance` (`ip` or `ip:port`), else ""."""
    host = instance.rsplit(":", 1)[0] if instance.count(":") == 1 else instance
    try:
        return str(ipaddress.IPv4Address(host))
    except ValueError:
        return ""


def _int_or_none(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def _dedupe_value(event: Mapping[str, Any], key: str) -> Any:
    if key.startswith("tags."):
        wanted = key.removeprefix("tags.")
        return next((tag.get("value") for tag in event.get("tags") or [] if tag.get("key") == wanted), "")
    value = event.get(key)
    return "" if value is None else value


def dedupe_md5(event: Mapping[str, Any], extra_keys: Sequence[str] = ()) -> tuple[list[str], str]:
    """The keys used and the alert identity digest of `event` (module docstring)."""
    keys = list(BASE_DEDUPE_KEYS) + [key for key in extra_keys if key not in BASE_DEDUPE_KEYS]
    values = {key: _dedupe_value(event, key) for key in keys}
    if not values["alert_name"]:
        values["alert_name"] = "" if event.get("strategy_id") is None else str(event["strategy_id"])
    return keys, count_md5(values)


def event_id_digest(plugin_id: str, event_id: str, status: str, time: int) -> str:
    return count_md5({"plugin_id": plugin_id, "event_id": event_id, "status": status, "time": time})


def standard_event(fields: Mapping[str, Any], integration: Integration, now: int) -> dict[str, Any]:
    """Every standard-event field from `fields` (a parser's output), normalized, with `id` and `dedupe_md5`."""
    time = _int_or_none(fields.get("time")) or now
    status = normalize_status(fields.get("status"))
    tags = fields.get("tags") or []
    event: dict[str, Any] = {
        "event_id": str(fields.get("event_id") or ""),
        "plugin_id": str(fields.get("plugin_id") or integration.plugin_id),
        "strategy_id": _int_or_none(fields.get("strategy_id")),
        "alert_name": str(fields.get("alert_name") or ""),
        "description": str(fields.get("description") or ""),
        "severity": normalize_severity(fields.get("severity")),
        "data_type": str(fields.get("data_type") or "event"),
        "tags": [{"key": str(t.get("key")), "value": str(t.get("value"))} for t in tags if isinstance(t, Mapping)],
        "target_type": str(fields.get("target_type") or ""),
        "target": str(fields.get("target") or ""),
        "assignee": [str(a) for a in fields.get("assignee") or []],
        "status": status,
        "metric": [str(m) for m in fields.get("metric") or []],
        "category": str(fields.get("category") or ""),
        "time": time,
        "anomaly_time": _int_or_none(fields.get("anomaly_time")) or time,
        "bk_ingest_time": now,
        "bk_clean_time": now,
        "bk_biz_id": _int_or_none(fields.get("bk_biz_id")) or integration.bk_biz_id,
        "ip": str(fields.get("ip") or ""),
        "bk_cloud_id": _int_or_none(fields.get("bk_cloud_id")) or 0,
        "bk_host_id": _int_or_none(fields.get("bk_host_id")),
        "bk_topo_node": [str(n) for n in fields.get("bk_topo_node") or []],
        "extra_info": dict(fields.get("extra_info") or {}),
    }
    if not event["event_id"]:
        event["event_id"] = count_md5({key: event[key] for key in ("alert_name", "target", "status", "time")})
    event["dedupe_keys"], event["dedupe_md5"] = dedupe_md5(event, integration.dedupe_keys)
    event["id"] = event_id_digest(event["plugin_id"], event["event_id"], status, time)
    return {name: event[name] for name in FIELDS}


def with_host(event: dict[str, Any], host: Host | None) -> dict[str, Any]:
    """`event` enriched from the CMDB host at its `ip` (and `bk_cloud_id`): the host's business (which wins over
    the integration's default), `bk_host_id`, `bk_cloud_id`, `bk_topo_node`; `dedupe_md5` recomputed over the
    event's own `dedupe_keys` (a mapped event's may go beyond its integration's). No host: `event` unchanged."""
    if host is None:
        return event
    enriched = {**event, "bk_biz_id": host.bk_biz_id, "bk_host_id": host.bk_host_id, "bk_cloud_id": host.cloud_id,
                "bk_topo_node": list(host.topo_nodes)}
    enriched["dedupe_keys"], enriched["dedupe_md5"] = dedupe_md5(enriched, event["dedupe_keys"])
    return enriched
