"""The apply rules of incident access (spec §3.5-§3.6), as pure functions of (stored state, message).

`decide(stored, message)` says what one message does to its incident:

* `applied`: the message is newer than the stored version `(sync_time, update_time)` — or the incident is new
  (a create, or an update before its create: the original's fallback create) — and `Plan.incident` is the
  whole new row. The row is built from the message alone (AIOps sends the full incident in `incident_info`;
  `update_attributes` `to` values override it, and a status change sets or clears `end_time` as the original
  did), so the stored state is that of the newest message whatever the arrival order;
* `stale`: older than the stored version — the row and links are not changed, the message's history rows
  (snapshot, operations) are still recorded, so the history does not depend on arrival order either;
* `duplicate`: the stored version *is* the message's (a redelivery after the commit): nothing is written;
* `skipped`: a create in stage `stage_exp` with actions — the original hands the actions to the composite
  service and stores nothing; here the hand-off is a logged skip (docs/incident_access.md).

History rows carry deterministic ids (a hash of incident id, operation, from/to and time), and when two
messages produce the same operation id the row of the earlier `(operate_time, sync_time)` is kept
(`earliest`), so a redelivered or reordered message adds no second row and replaces none with a later one.

Alert links are derived, not accumulated (`links_of`): an incident's links are the alerts of its latest
snapshot plus those of the incidents merged into it; a merged incident has none (they moved to its target).
A link may name a target that is not stored yet. Pure: no I/O, no clock.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from alarm_access.access.incident.message import STATUS_ORDER, SyncMessage

#: a status change `to` -> the lifecycle operation recorded for it (merge is recorded as merge_to / merge)
LIFECYCLE = {"recovering": "observe", "recovered": "recover", "closed": "close", "abnormal": "reopen"}
#: incident fields an `update_attributes` entry may set
MUTABLE = frozenset({"incident_name", "incident_reason", "status", "level", "assignees", "handlers", "labels",
                     "begin_time", "end_time", "dimensions", "feedback"})


class Outcome(enum.StrEnum):
    APPLIED = "applied"
    STALE = "stale"
    DUPLICATE = "duplicate"
    SKIPPED = "skipped"
    #: `-H celery`: handed to a worker (the broker accepted the task); the worker's outcome is one of the above
    QUEUED = "queued"


@dataclass(frozen=True, slots=True)
class IncidentRow:
    incident_id: int
    document_id: str
    bk_biz_id: int
    create_time: int
    update_time: int
    version: tuple[int, int]
    status: str = "abnormal"
    incident_name: str = ""
    incident_reason: str = ""
    level: str = ""
    assignees: tuple[Any, ...] = ()
    handlers: tuple[Any, ...] = ()
    labels: tuple[Any, ...] = ()
    snapshot: Mapping[str, Any] = field(default_factory=dict)
    begin_time: int | None = None
    end_time: int | None = None
    latest_time: int | None = None
    dimensions: Mapping[str, Any] = field(default_factory=dict)
    extra_info: Mapping[str, Any] = field(default_factory=dict)
    feedback: Mapping[str, Any] = field(default_factory=dict)
    alert_count: int = 0
    #: the target incident when `status` is merged
    merged_into: int | None = None

    @property
    def status_order(self) -> int:
        return STATUS_ORDER.get(self.status, 0)

    @property
    def version_id(self) -> str:
        return version_id(self.incident_id, self.version)

    @property
    def alerts(self) -> tuple[int, ...]:
        return tuple(int(alert) for alert in self.snapshot.get("alerts", ()))


@dataclass(frozen=True, slots=True)
class SnapshotRow:
    snapshot_id: str
    incident_id: int
    bk_biz_ids: tuple[int, ...]
    status: str
    alerts: tuple[int, ...]
    events: tuple[Any, ...]
    create_time: int
    content: Mapping[str, Any]
    fpp_snapshot_id: str

    def as_document(self) -> dict[str, Any]:
        """The snapshot as embedded in its incident (the original's snapshot document)."""
        return {"id": self.snapshot_id, "incident_id": self.incident_id, "bk_biz_ids": list(self.bk_biz_ids),
                "status": self.status, "alerts": list(self.alerts), "events": list(self.events),
                "create_time": self.create_time, "content": dict(self.content),
                "fpp_snapshot_id": self.fpp_snapshot_id}


@dataclass(frozen=True, slots=True)
class OperationRow:
    operation_id: str
    incident_id: int
    operation_type: str
    operate_time: int
    #: the `sync_time` of the message that recorded it (decides between two rows of one id)
    sync_time: int
    extra_info: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Plan:
    outcome: Outcome
    #: the new incident row (applied only)
    incident: IncidentRow | None = None
    snapshot: SnapshotRow | None = None
    operations: tuple[OperationRow, ...] = ()
    #: applied to an incident that was not stored before
    created: bool = False


def digest(*parts: Any, size: int = 32) -> str:
    """A stable hex id of `parts` (JSON-encoded, so `1` and `"1"` differ)."""
    text = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:size]


def version_id(incident_id: int, version: tuple[int, int]) -> str:
    """The original's batch version id `"{ts}_{8 hex}"`, made deterministic from the message version."""
    return f"{version[0]}_{digest(incident_id, *version, size=8)}"


def document_id(create_time: int, incident_id: int) -> str:
    """The original's incident document id `"{create_time}{incident_id}"` that alerts reference."""
    return f"{create_time}{incident_id}"


def snapshot_of(message: SyncMessage) -> SnapshotRow:
    """The message's snapshot; its content is the one fetched from the AIOps API (`message.snapshot_content`),
    else the minimal one of spec §3.5 step 3."""
    content = dict(message.snapshot_content) if message.snapshot_content is not None else {
        "bk_biz_id": message.bk_biz_id, "incident_alerts": [{"id": alert} for alert in message.alerts],
        "rca_summary": {"bk_biz_ids": [message.bk_biz_id]}}
    snapshot_id = f"{message.rca_time}{digest(message.incident_id, *message.version, message.fpp_snapshot_id, size=8)}"
    return SnapshotRow(snapshot_id, message.incident_id, message.bk_biz_ids, message.status, message.alerts,
                       message.events, message.rca_time, content, message.fpp_snapshot_id)


def _merge_target(message: SyncMessage, status: str) -> tuple[int | None, dict[str, Any]]:
    merge_info = message.info.get("merge_info")
    if status != "merged" or not isinstance(merge_info, dict) or not merge_info:
        return None, {}
    enriched = dict(merge_info)
    for side in ("origin", "target"):
        created, ident = merge_info.get(f"{side}_created_at"), merge_info.get(f"{side}_incident_id")
        enriched[f"{side}_incident_doc_id"] = f"{created}{ident}" if created and ident else None
    target = merge_info.get("target_incident_id")
    try:
        return (int(target) if target is not None and not isinstance(target, bool) else None), enriched
    except (TypeError, ValueError):
        return None, enriched


def _seq(value: Any) -> tuple[Any, ...]:
    return tuple(value) if isinstance(value, list | tuple) else ()


def _map(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


def _opt_int(value: Any) -> int | None:
    try:
        return None if value is None or isinstance(value, bool) else int(value)
    except (TypeError, ValueError):
        return None


def incident_of(message: SyncMessage, snapshot: SnapshotRow) -> IncidentRow:
    """The whole incident row as of `message` (see the module docstring)."""
    info = dict(message.info)
    for name, (_, after) in message.update_attributes.items():
        if name in MUTABLE:
            info[name] = after
    status = str(info["status"]) if info.get("status") in STATUS_ORDER else "abnormal"
    end_time = _opt_int(info.get("end_time"))
    before, after = message.update_attributes.get("status", (None, None))
    if before:
        if after in ("recovering", "recovered", "merged"):
            end_time = message.update_time
        elif after == "abnormal":
            end_time = None
    extra = _map(info.get("extra_info"))
    if message.notice_source == "bkfara":
        extra.update({"notice_source": "bkfara", **message.process_info})
    target, merge_info = _merge_target(message, status)
    if merge_info:
        extra["merge_info"] = merge_info
    extra["version_id"] = version_id(message.incident_id, message.version)
    return IncidentRow(
        incident_id=message.incident_id, document_id=document_id(message.create_time, message.incident_id),
        bk_biz_id=message.bk_biz_id, create_time=message.create_time, update_time=message.update_time,
        version=message.version, status=status, incident_name=str(info.get("incident_name") or ""),
        incident_reason=str(info.get("incident_reason") or ""), level=str(info.get("level") or ""),
        assignees=_seq(info.get("assignees")), handlers=_seq(info.get("handlers")), labels=_seq(info.get("labels")),
        snapshot=snapshot.as_document(), begin_time=_opt_int(info.get("begin_time")), end_time=end_time,
        latest_time=_opt_int(info.get("latest_time")), dimensions=_map(info.get("dimensions")), extra_info=extra,
        feedback=_map(info.get("feedback")), alert_count=len(message.alerts), merged_into=target,
    )


def _operation(message: SyncMessage, incident_id: int, kind: str, time: int, key: Sequence[Any], *,
               extra: Mapping[str, Any]) -> OperationRow:
    return OperationRow(digest(incident_id, kind, *key), incident_id, kind, time, message.sync_time, dict(extra))


def operations_of(message: SyncMessage, incident: IncidentRow, creates: bool) -> list[OperationRow]:
    """The history rows of `message`, from the message alone (so they do not depend on arrival order)."""
    ident, at = message.incident_id, message.update_time
    rows: list[OperationRow] = []
    if creates:
        rows.append(_operation(message, ident, "create", message.create_time, (), extra={
            "alert_count": len(message.alerts), "assignees": list(incident.assignees),
            "send_notice": message.send_notice}))
    if incident.snapshot.get("status") == "abnormal":
        rows.extend(_operation(message, ident, "alert_trigger", at, (alert,), extra={"alert_id": alert})
                    for alert in message.alerts)
    for name, (before, after) in sorted(message.update_attributes.items()):
        if not before:
            continue
        rows.append(_operation(message, ident, "update", at, (name, before, after, at),
                               extra={"attribute": name, "from": before, "to": after}))
        if name == "status" and after in LIFECYCLE:
            rows.append(_operation(message, ident, LIFECYCLE[after], at, (before, after, at),
                                   extra={"from": before, "to": after}))
    if incident.merged_into is not None:
        target = incident.merged_into
        rows.append(_operation(message, ident, "merge_to", at, (target,), extra={"target_incident_id": target}))
        rows.append(_operation(message, target, "merge", at, (ident,), extra={"origin_incident_id": ident}))
    return rows


def decide(stored: IncidentRow | None, message: SyncMessage) -> Plan:
    """What `message` does given the stored row of its incident (None: not stored)."""
    if message.incident_stage == "stage_exp" and message.incident_actions and (
            message.sync_type == "create" or stored is None):
        return Plan(Outcome.SKIPPED)
    if stored is not None and message.version == stored.version:
        return Plan(Outcome.DUPLICATE)
    snapshot = snapshot_of(message)
    incident = incident_of(message, snapshot)
    creates = stored is None or message.sync_type == "create"
    operations = tuple(operations_of(message, incident, creates))
    if stored is not None and message.version < stored.version:
        return Plan(Outcome.STALE, snapshot=snapshot, operations=operations)
    return Plan(Outcome.APPLIED, incident=incident, snapshot=snapshot, operations=operations,
                created=stored is None)


def earliest(old: OperationRow, new: OperationRow) -> OperationRow:
    """Of two rows with one operation id, the one recorded by the earlier message (ties: a stable order)."""
    def key(row: OperationRow) -> tuple[int, int, str]:
        return row.operate_time, row.sync_time, json.dumps(row.extra_info, sort_keys=True, default=str)
    return old if key(old) <= key(new) else new


def links_of(incident_id: int, row: IncidentRow | None, merged_in: Iterable[IncidentRow]) -> dict[int, str]:
    """`alert_id -> version_id` of the links of `incident_id`: its latest snapshot's alerts, then the alerts of
    the incidents merged into it; none when it is merged itself (or neither exists)."""
    if row is not None and row.status == "merged" and row.merged_into is not None:
        return {}
    links: dict[int, str] = {}
    for source in sorted(merged_in, key=lambda r: r.incident_id):
        if source.status == "merged" and source.merged_into == incident_id:
            links.update(dict.fromkeys(source.alerts, source.version_id))
    if row is not None:
        links.update(dict.fromkeys(row.alerts, row.version_id))
    return links


def affected(stored: IncidentRow | None, new: IncidentRow) -> list[int]:
    """The incidents whose links an applied row may change: itself and its old and new merge targets."""
    ids = {new.incident_id, new.merged_into, stored.merged_into if stored else None}
    return sorted(i for i in ids if i is not None)
