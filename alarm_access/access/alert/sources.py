"""One pure parser per source format: raw body -> `Candidate`s (standard events + diff state), or `InvalidRecord`.

* `alertmanager`: webhook v4 (`version` "4"), a group snapshot; per alert `fingerprint`, `status`
  firing/resolved, `startsAt`, `endsAt` (firing: the zero time `0001-01-01T00:00:00Z`), `labels`, `annotations`,
  `generatorURL`; the group's `externalURL`, `groupKey`, `receiver`.
* `grafana`: webhook v1 (`version` "1"), the same snapshot shape plus `values`, `valueString`, `dashboardURL`,
  `panelURL`, `silenceURL`, `imageURL` per alert and `title`, `state`, `message`, `orgId` for the group.
* `standard`: the standard event JSON, one object or a list (field names as `standard.FIELDS`).
* `pagerduty`: an Events API v2 body (`event_action` trigger/resolve; acknowledge emits nothing).
* `mapped`: any JSON body, through the integration's declarative field mapping (`mapping`).

Mapping of the snapshot formats: `alert_name` = label `alertname` (Grafana: `__alert_rule_title__` / `title`
fallback), `description` = annotation `description`, else `summary`, else `message`; `severity` from label
`severity` (critical/fatal/error 1, warning 2, info/none/low 3, a digit as is); `target` = label `instance`,
`ip` its host part when that is an IPv4 address (then `target_type` HOST); labels -> `tags`; URLs -> `extra_info`.
`event_id` = `{fingerprint}.{startsAt}`, `time` = `endsAt` for a resolved alert, else `startsAt`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from alarm_access.access.alert.diff import FIRING, RESOLVED, AlertState, Candidate
from alarm_access.access.alert.integrations import Integration
from alarm_access.access.alert.mapping import mapped_candidates
from alarm_access.access.alert.standard import (
    ABNORMAL,
    FATAL,
    RECOVERED,
    REMIND,
    WARNING,
    host_ip,
    standard_event,
    tags_of,
)
from alarm_access.access.alert.timefmt import epoch
from alarm_access.kernel.errors import InvalidRecord
from alarm_access.kernel.hashing import count_md5

Parser = Callable[[bytes, Integration, int], list[Candidate]]

SEVERITY_WORDS = {"critical": FATAL, "fatal": FATAL, "error": FATAL, "high": FATAL, "page": FATAL,
                  "warning": WARNING, "warn": WARNING, "medium": WARNING,
                  "info": REMIND, "none": REMIND, "low": REMIND, "remind": REMIND}
_URLS = ("generatorURL", "dashboardURL", "panelURL", "silenceURL", "imageURL")


def load_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRecord("invalid_json", str(exc)[:200]) from None


def severity_of(value: Any) -> int:
    text = str(value or "").strip().lower()
    if text.isdigit():
        return int(text)
    return SEVERITY_WORDS.get(text, WARNING)


def _str_map(value: Any, field: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidRecord("invalid_alert", f"{field} is not an object")
    return {str(k): str(v) for k, v in value.items()}


def _snapshot(body: bytes, integration: Integration, now: int, version: str) -> list[Candidate]:
    doc = load_json(body)
    if not isinstance(doc, dict):
        raise InvalidRecord("not_an_object", "the webhook body must be a JSON object")
    if str(doc.get("version", "")) != version:
        raise InvalidRecord("unsupported_version", f"expected webhook version {version!r}, "
                                                   f"got {str(doc.get('version'))[:20]!r}")
    alerts = doc.get("alerts")
    if not isinstance(alerts, list):
        raise InvalidRecord("missing_alerts", "the body has no `alerts` list")
    return [_alert(alert, doc, integration, now, index) for index, alert in enumerate(alerts)]


def _alert(alert: Any, group: Mapping[str, Any], integration: Integration, now: int, index: int) -> Candidate:
    if not isinstance(alert, dict):
        raise InvalidRecord("invalid_alert", f"alerts[{index}] is not an object")
    labels = _str_map(alert.get("labels"), f"alerts[{index}].labels")
    annotations = _str_map(alert.get("annotations"), f"alerts[{index}].annotations")
    status = str(alert.get("status", "")).lower()
    if status not in (FIRING, RESOLVED):
        raise InvalidRecord("invalid_status", f"alerts[{index}].status must be firing or resolved")
    starts_at = epoch(alert.get("startsAt"), f"alerts[{index}].startsAt")
    ends_at = epoch(alert.get("endsAt"), f"alerts[{index}].endsAt")
    if starts_at is None:
        raise InvalidRecord("invalid_time", f"alerts[{index}].startsAt is missing")
    fingerprint = str(alert.get("fingerprint") or "") or count_md5(labels)[:16]
    name = labels.get("alertname") or labels.get("__alert_rule_title__") or str(group.get("title") or "")
    if not name:
        raise InvalidRecord("missing_alert_name", f"alerts[{index}] has no alertname label")
    instance = labels.get("instance", "")
    ip = host_ip(instance)
    extra: dict[str, Any] = {key: alert[key] for key in _URLS if alert.get(key)}
    extra.update({"fingerprint": fingerprint, "annotations": annotations, "starts_at": starts_at,
                  "ends_at": ends_at, "source": integration.source, "integration": integration.name})
    for key in ("externalURL", "groupKey", "receiver", "orgId"):
        if group.get(key) not in (None, ""):
            extra[key] = group[key]
    if isinstance(alert.get("values"), dict):
        extra["values"] = alert["values"]
    if alert.get("valueString"):
        extra["value_string"] = str(alert["valueString"])
    fields = {
        "event_id": f"{fingerprint}.{starts_at}",
        "alert_name": name,
        "description": annotations.get("description") or annotations.get("summary")
        or str(annotations.get("message") or group.get("message") or ""),
        "severity": severity_of(labels.get("severity")),
        "tags": tags_of(labels),
        "target_type": "HOST" if ip else "",
        "target": instance,
        "ip": ip,
        "status": RECOVERED if status == RESOLVED else ABNORMAL,
        "metric": [labels["__name__"]] if labels.get("__name__") else [],
        "category": labels.get("category", ""),
        "time": (ends_at or now) if status == RESOLVED else starts_at,
        "anomaly_time": starts_at,
        "extra_info": extra,
    }
    hashed: dict[str, Any] = {"labels": labels}
    if integration.diff_annotations:
        hashed["annotations"] = annotations
    state = AlertState(status, starts_at, ends_at, count_md5(hashed))
    return Candidate(standard_event(fields, integration, now), fingerprint, state)


def parse_alertmanager(body: bytes, integration: Integration, now: int) -> list[Candidate]:
    return _snapshot(body, integration, now, "4")


def parse_grafana(body: bytes, integration: Integration, now: int) -> list[Candidate]:
    return _snapshot(body, integration, now, "1")


def parse_standard(body: bytes, integration: Integration, now: int) -> list[Candidate]:
    doc = load_json(body)
    entries = doc if isinstance(doc, list) else [doc]
    if not entries:
        raise InvalidRecord("empty", "an empty list of events")
    candidates = []
    for index, raw in enumerate(entries):
        entry = raw
        if not isinstance(entry, dict):
            raise InvalidRecord("not_an_object", f"event [{index}] is not an object")
        if not entry.get("alert_name") and entry.get("strategy_id") in (None, ""):
            raise InvalidRecord("missing_alert_name", f"event [{index}] has neither alert_name nor strategy_id")
        if isinstance(entry.get("tags"), dict):
            entry = {**entry, "tags": tags_of(entry["tags"])}
        elif entry.get("tags") is not None and not isinstance(entry.get("tags"), list):
            raise InvalidRecord("invalid_tags", f"event [{index}].tags must be a list or an object")
        candidates.append(Candidate(standard_event(entry, integration, now)))
    return candidates


PAGERDUTY_SEVERITY = {"critical": FATAL, "error": FATAL, "warning": WARNING, "info": REMIND}


def parse_pagerduty(body: bytes, integration: Integration, now: int) -> list[Candidate]:
    """Events API v2. Identity is `dedup_key` (a trigger without one gets md5 of summary and source): the
    event's `target` is the payload's `source`, and the diff state is kept per `dedup_key`."""
    doc = load_json(body)
    if not isinstance(doc, dict):
        raise InvalidRecord("not_an_object", "the body must be a JSON object")
    action = str(doc.get("event_action", "")).lower()
    if action not in ("trigger", "acknowledge", "resolve"):
        raise InvalidRecord("invalid_action", "event_action must be trigger, acknowledge or resolve")
    payload = doc.get("payload")
    dedup_key = str(doc.get("dedup_key") or "")
    if action == "acknowledge":
        if not dedup_key:
            raise InvalidRecord("missing_dedup_key", f"{action} needs dedup_key")
        return []
    if action == "resolve":
        if not dedup_key:
            raise InvalidRecord("missing_dedup_key", f"{action} needs dedup_key")
        payload = payload if isinstance(payload, dict) else {}
    elif not isinstance(payload, dict) or not all(payload.get(k) for k in ("summary", "source", "severity")):
        raise InvalidRecord("invalid_payload", "a trigger needs payload.summary, payload.source, payload.severity")
    severity = str(payload.get("severity", "")).lower()
    if action == "trigger" and severity not in PAGERDUTY_SEVERITY:
        raise InvalidRecord("invalid_severity", "payload.severity must be critical, error, warning or info")
    dedup_key = dedup_key or count_md5({"summary": payload["summary"], "source": payload["source"]})
    when = epoch(payload.get("timestamp"), "payload.timestamp")
    details = payload.get("custom_details")
    extra: dict[str, Any] = {"dedup_key": dedup_key, "source": integration.source, "integration": integration.name,
                             "links": doc.get("links") or [], "images": doc.get("images") or []}
    if details is not None:
        extra["custom_details"] = details
    if doc.get("client_url"):
        extra["client_url"] = doc["client_url"]
    labels = {k: str(payload[k]) for k in ("component", "group", "class") if payload.get(k)}
    fields = {
        # the alert identity: `alert_name` is the dedup key's, so a resolve (which has no payload) matches
        "event_id": f"{dedup_key}.{action}",
        "alert_name": f"pagerduty:{dedup_key}",
        "description": str(payload.get("summary") or ""),
        "severity": PAGERDUTY_SEVERITY.get(severity, WARNING),
        "tags": tags_of(labels),
        "target": "",
        "status": RECOVERED if action == "resolve" else ABNORMAL,
        "category": str(payload.get("class") or ""),
        "time": when or now,
        "extra_info": {**extra, "summary": payload.get("summary"), "payload_source": payload.get("source")},
    }
    status = RESOLVED if action == "resolve" else FIRING
    state = AlertState(status, None, None, count_md5({"payload": json.dumps(payload, sort_keys=True)}))
    return [Candidate(standard_event(fields, integration, now), dedup_key, state)]


def parse_mapped(body: bytes, integration: Integration, now: int) -> list[Candidate]:
    return mapped_candidates(load_json(body), integration, now)


PARSERS: dict[str, Parser] = {
    "alertmanager": parse_alertmanager,
    "grafana": parse_grafana,
    "standard": parse_standard,
    "pagerduty": parse_pagerduty,
    "mapped": parse_mapped,
}
