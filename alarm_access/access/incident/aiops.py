"""The AIOps API around the incident store: the analysis snapshot fetched before a message is stored, the
stored incident's people, labels and end time written back after.

`ApiLinkedStore` is the store the incident service (and a `-H celery` worker) uses when
ALARM_ACCESS_INCIDENT_API_URL is set (`store_for`); without it the minimal snapshot of spec §3.5 step 3 is
stored and nothing is written back, as before.

* Fetch: a message with an `fpp_snapshot_id` other than `fpp:None` gets the snapshot content of
  `get_incident_snapshot`. An API that cannot be reached (or answers 5xx) raises `SourceUnavailable`: the
  message is held unacked and retried, as when the database is down — never stored with a wrong snapshot. An
  API that answers that it has no such snapshot: the minimal content is stored, logged and counted.
* Write-back (`update_incident_detail`): after a message was `applied` — and again when a redelivered one is
  a `duplicate` — `assignees`, `handlers`, `labels` and, when the message changed the status, `end_time`, as
  of the stored row (`rules.incident_of`, built from the message alone). A failed write-back raises
  `SourceUnavailable` after the commit: the message is retried, comes back a `duplicate` and is written back
  then, so a write-back is never lost (it is idempotent). Stale and skipped messages write nothing back.
  The original also wrote `bkmonitor_received_time` for BKFara creates; that is not done here.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from alarm_access import metrics
from alarm_access.access.incident.message import NO_SNAPSHOT, SyncMessage
from alarm_access.access.incident.ports import IncidentApi, IncidentPorts, IncidentStore
from alarm_access.access.incident.rules import Outcome, incident_of, snapshot_of
from alarm_access.kernel.errors import SourceUnavailable
from alarm_access.logs import ctx

logger = logging.getLogger("alarm_access.access.incident")


def write_back_fields(message: SyncMessage) -> dict[str, Any]:
    """What `update_incident_detail` is sent for a stored `message` (pure)."""
    row = incident_of(message, snapshot_of(message))
    fields: dict[str, Any] = {"assignees": list(row.assignees), "handlers": list(row.handlers),
                              "labels": list(row.labels)}
    before, _ = message.update_attributes.get("status", (None, None))
    if before:
        fields["end_time"] = row.end_time
    return fields


class ApiLinkedStore:
    """`IncidentStore` that fetches snapshots from and writes incidents back to the AIOps API."""

    def __init__(self, store: IncidentStore, api: IncidentApi) -> None:
        self._store = store
        self._api = api

    def apply(self, message: SyncMessage) -> Outcome:
        if message.fpp_snapshot_id != NO_SNAPSHOT and message.snapshot_content is None:
            message = self._with_snapshot(message)
        outcome = self._store.apply(message)
        if outcome in (Outcome.APPLIED, Outcome.DUPLICATE):
            self._call("write_back", lambda: self._api.write_back(message.incident_id, write_back_fields(message)))
        return outcome

    def _with_snapshot(self, message: SyncMessage) -> SyncMessage:
        content = self._call("snapshot", lambda: self._api.snapshot(message.fpp_snapshot_id))
        if content is None:
            metrics.INCIDENT_API_CALLS.labels("snapshot", "missing").inc()
            logger.warning("the AIOps API has no snapshot %s; the minimal snapshot is stored", message.fpp_snapshot_id,
                           extra=ctx(incident_id=message.incident_id))
            return message
        return dataclasses.replace(message, snapshot_content=content)

    @staticmethod
    def _call(call: str, request: Any) -> Any:
        try:
            answer = request()
        except SourceUnavailable:
            metrics.INCIDENT_API_CALLS.labels(call, "failed").inc()
            raise
        metrics.INCIDENT_API_CALLS.labels(call, "ok").inc()
        return answer

    def close(self) -> None:
        try:
            self._store.close()
        finally:
            self._api.close()


def store_for(ports: IncidentPorts) -> IncidentStore:
    """The incident store, linked to the AIOps API when one is configured."""
    store: IncidentStore = ports.incident_store()
    api = ports.incident_api()
    return store if api is None else ApiLinkedStore(store, api)
