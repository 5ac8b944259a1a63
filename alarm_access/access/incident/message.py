"""AIOps incident sync message (spec event-alert-incident §3.2) → a validated, typed `SyncMessage`.

`parse_message(body)` is the one entry point. It raises `InvalidRecord` with a short, metric-safe reason for
anything the service must dead-letter instead of storing:

    not_utf8, not_json, not_object          the body is not a JSON object
    unknown_sync_type                       `sync_type` is not create/update (the original acked and ignored it)
    missing_field, bad_field                a required field is absent or of the wrong type

Required: `sync_type`, `sync_time`, `incident_id`, `incident_info` with `bk_biz_id`, `create_time`,
`update_time`; a create also needs `rca_time` and `scope` (as the original, which failed on them after
parsing and lost the message). An update without `rca_time` uses `incident_info.update_time` for its snapshot.

The control fields `send_notice` and `notice_config` are taken out of `incident_info` (kept on the message,
never stored); `scope_id` / `task_id` (in `incident_info`, else top level) are the BKFara "process info".
Statuses are lower-cased, as the original did. Pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from alarm_access.kernel.errors import InvalidRecord

SYNC_TYPES = ("create", "update")
#: status -> status_order (spec §3.2)
STATUS_ORDER = {"abnormal": 0, "recovering": 1, "recovered": 2, "closed": 3, "merged": 4}
#: the `fpp_snapshot_id` meaning "no analysis snapshot to fetch"
NO_SNAPSHOT = "fpp:None"
_CONTROL_FIELDS = ("send_notice", "notice_config")
_PROCESS_FIELDS = ("scope_id", "task_id")


@dataclass(frozen=True, slots=True)
class SyncMessage:
    sync_type: str
    sync_time: int
    incident_id: int
    #: `incident_info` without control fields, status lower-cased
    info: Mapping[str, Any]
    rca_time: int
    bk_biz_ids: tuple[int, ...]
    alerts: tuple[int, ...]
    events: tuple[Any, ...]
    fpp_snapshot_id: str = NO_SNAPSHOT
    #: attribute -> (from, to); statuses lower-cased
    update_attributes: Mapping[str, tuple[Any, Any]] = field(default_factory=dict)
    incident_stage: str = ""
    incident_actions: tuple[Any, ...] = ()
    notice_source: str = ""
    process_info: Mapping[str, Any] = field(default_factory=dict)
    send_notice: bool = False
    #: the analysis snapshot fetched from the AIOps API for `fpp_snapshot_id` (None: the minimal content is used)
    snapshot_content: Mapping[str, Any] | None = None
    #: the message as received (what `-H celery` hands to a worker, which parses it again)
    body: bytes = field(default=b"", compare=False, repr=False)

    @property
    def version(self) -> tuple[int, int]:
        """The order of messages of one incident: `(sync_time, incident_info.update_time)`."""
        return self.sync_time, self.update_time

    @property
    def bk_biz_id(self) -> int:
        return int(self.info["bk_biz_id"])

    @property
    def create_time(self) -> int:
        return int(self.info["create_time"])

    @property
    def update_time(self) -> int:
        return int(self.info["update_time"])

    @property
    def status(self) -> str:
        status = self.info.get("status")
        return status if isinstance(status, str) and status else "abnormal"


def decode(body: bytes | str) -> Mapping[str, Any]:
    """The JSON object of a message body."""
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidRecord("not_utf8", str(exc)) from None
    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise InvalidRecord("not_json", str(exc)) from None
    if not isinstance(doc, dict):
        raise InvalidRecord("not_object", f"expected a JSON object, got {type(doc).__name__}")
    return doc


def _int(doc: Mapping[str, Any], name: str, where: str = "") -> int:
    if doc.get(name) is None:
        raise InvalidRecord("missing_field", f"{where}{name} is required")
    value = doc[name]
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidRecord("bad_field", f"{where}{name} must be an integer, got {value!r}")
    try:
        return int(value)
    except ValueError:
        raise InvalidRecord("bad_field", f"{where}{name} must be an integer, got {value!r}") from None


def _ints(values: Any, where: str) -> tuple[int, ...]:
    if values is None:
        return ()
    if not isinstance(values, list):
        raise InvalidRecord("bad_field", f"{where} must be a list, got {type(values).__name__}")
    try:
        return tuple(int(v) for v in values if not isinstance(v, bool))
    except (TypeError, ValueError):
        raise InvalidRecord("bad_field", f"{where} must be a list of integers") from None


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) and value.lower() in STATUS_ORDER else value


def _attributes(raw: Any) -> dict[str, tuple[Any, Any]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
        raise InvalidRecord("bad_field", 'update_attributes must be {"<attr>": {"from": x, "to": y}}')
    attributes = {str(name): (change.get("from"), change.get("to")) for name, change in raw.items()}
    if "status" in attributes:
        before, after = attributes["status"]
        attributes["status"] = (_lower(before), _lower(after))
    return attributes


def parse_message(body: bytes | str) -> SyncMessage:
    """The validated message of `body`; `InvalidRecord(reason)` otherwise."""
    doc = decode(body)
    sync_type = doc.get("sync_type")
    if sync_type not in SYNC_TYPES:
        raise InvalidRecord("unknown_sync_type", f"sync_type {sync_type!r} is not one of {', '.join(SYNC_TYPES)}")
    sync_time, incident_id = _int(doc, "sync_time"), _int(doc, "incident_id")
    raw_info = doc.get("incident_info")
    if not isinstance(raw_info, dict):
        raise InvalidRecord("missing_field" if raw_info is None else "bad_field", "incident_info must be an object")
    info = {key: value for key, value in raw_info.items() if key not in _CONTROL_FIELDS}
    for name in ("bk_biz_id", "create_time", "update_time"):
        info[name] = _int(raw_info, name, "incident_info.")
    if "status" in info:
        if not isinstance(info["status"], str) or _lower(info["status"]) not in STATUS_ORDER:
            raise InvalidRecord("bad_field", f"incident_info.status {info['status']!r} is not a known status")
        info["status"] = _lower(info["status"])
    for name in ("assignees", "handlers", "labels"):
        if info.get(name) is not None and not isinstance(info[name], list):
            raise InvalidRecord("bad_field", f"incident_info.{name} must be a list")
    scope = doc.get("scope")
    if sync_type == "create" and scope is None:
        raise InvalidRecord("missing_field", "scope is required")
    if scope is not None and not isinstance(scope, dict):
        raise InvalidRecord("bad_field", "scope must be an object")
    scope = scope or {}
    rca_time = _int(doc, "rca_time") if sync_type == "create" or doc.get("rca_time") is not None \
        else info["update_time"]
    fpp = doc.get("fpp_snapshot_id") or NO_SNAPSHOT
    actions = doc.get("incident_actions") or []
    events = scope.get("events") or []
    if not isinstance(actions, list) or not isinstance(events, list):
        raise InvalidRecord("bad_field", "incident_actions and scope.events must be lists")
    process = {name: raw_info.get(name, doc.get(name)) for name in _PROCESS_FIELDS
               if raw_info.get(name, doc.get(name)) is not None}
    return SyncMessage(
        sync_type=sync_type, sync_time=sync_time, incident_id=incident_id, info=info, rca_time=rca_time,
        bk_biz_ids=_ints(scope.get("bk_biz_ids"), "scope.bk_biz_ids") or (info["bk_biz_id"],),
        alerts=tuple(dict.fromkeys(_ints(scope.get("alerts"), "scope.alerts"))), events=tuple(events),
        fpp_snapshot_id=str(fpp), update_attributes=_attributes(doc.get("update_attributes")),
        incident_stage=str(doc.get("incident_stage") or ""), incident_actions=tuple(actions),
        notice_source=str(doc.get("notice_source") or ""), process_info=process,
        send_notice=bool(raw_info.get("send_notice", False)),
        body=body.encode() if isinstance(body, str) else bytes(body),
    )
