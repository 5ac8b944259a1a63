"""Sync messages of a small incident story, shared by the unit and end-to-end tests of incident access."""

from __future__ import annotations

import json
from typing import Any

T0 = 1720061828


def sync(sync_type: str, incident_id: int, at: int, *, status: str = "abnormal", alerts: tuple[int, ...] = (1, 2),
         attributes: dict[str, Any] | None = None, merge_into: int | None = None, **info: Any) -> dict[str, Any]:
    """A sync message of incident `incident_id` sent at `at` (sync_time = update_time = at)."""
    incident_info: dict[str, Any] = {
        "incident_name": f"incident {incident_id}", "incident_reason": "disk full", "status": status.upper(),
        "level": "ERROR", "labels": ["db"], "assignees": ["admin"], "handlers": ["admin"], "bk_biz_id": 2,
        "create_time": T0, "update_time": at, "begin_time": T0, "end_time": None, "dimensions": {},
        "extra_info": {}, "feedback": {}, "send_notice": True, "notice_config": {}, **info,
    }
    if merge_into is not None:
        incident_info["merge_info"] = {"origin_incident_id": incident_id, "origin_created_at": T0,
                                       "target_incident_id": merge_into, "target_created_at": T0}
    return {"sync_type": sync_type, "sync_time": at, "incident_id": incident_id, "incident_info": incident_info,
            "fpp_snapshot_id": "fpp:None", "scope": {"bk_biz_ids": [2], "alerts": list(alerts), "events": []},
            "rca_time": at, "update_attributes": attributes or {}}


def story() -> list[dict[str, Any]]:
    """A create, two updates of incident 100; incident 200 updated before it is created (and created late);
    incident 300 merged into 100."""
    return [
        sync("create", 100, T0),
        sync("create", 300, T0 + 1, alerts=(7,)),
        sync("update", 200, T0 + 5, alerts=(5,), status="recovering",
             attributes={"status": {"from": "abnormal", "to": "recovering"}}),
        sync("update", 100, T0 + 10, alerts=(1, 2, 3), attributes={"level": {"from": "WARN", "to": "ERROR"}}),
        sync("create", 200, T0 + 2, alerts=(5,)),
        sync("update", 300, T0 + 20, alerts=(7,), status="merged", merge_into=100,
             attributes={"status": {"from": "abnormal", "to": "merged"}}),
        sync("update", 100, T0 + 30, alerts=(1, 2, 3, 4), status="recovered",
             attributes={"status": {"from": "abnormal", "to": "recovered"}}),
    ]


def body(message: dict[str, Any]) -> bytes:
    return json.dumps(message).encode()
