"""`OrmIncidentStore`: the incident store (`access.incident.ports.IncidentStore`) on the project database.

One message is one transaction: the incident row is locked (`SELECT ... FOR UPDATE`), `rules.decide` says
what the message does, and the rows it writes — the incident, its snapshot, its operations (deterministic
ids; of two rows of one id the earlier is kept) and the alert links of the incidents it affects — are written
before the commit. Nothing is half-written: a failure rolls everything back.

Errors: a database that cannot be reached, a lost connection or a conflicting concurrent insert raise
`SourceUnavailable` (nothing was written; retry); a value the columns cannot hold raises
`InvalidRecord("rejected")` (dead-letter the message).
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import DatabaseError, DataError, close_old_connections, connection, transaction
from django.db.models import Count

from alarm_access.access.incident.message import SyncMessage
from alarm_access.access.incident.rules import (
    IncidentRow,
    OperationRow,
    Outcome,
    SnapshotRow,
    affected,
    decide,
    earliest,
    links_of,
)
from alarm_access.kernel.errors import InvalidRecord, SourceUnavailable
from alarm_access.models import Incident, IncidentAlert, IncidentOperation, IncidentSnapshot

logger = logging.getLogger("alarm_access.adapters.orm.incidents")


def to_row(model: Incident) -> IncidentRow:
    """The stored incident as the value the rules work on."""
    return IncidentRow(
        incident_id=model.incident_id, document_id=model.document_id, bk_biz_id=model.bk_biz_id,
        create_time=model.create_time, update_time=model.update_time,
        version=(model.version_sync_time, model.version_update_time), status=model.status,
        incident_name=model.incident_name, incident_reason=model.incident_reason, level=model.level,
        assignees=tuple(model.assignees or ()), handlers=tuple(model.handlers or ()), labels=tuple(model.labels or ()),
        snapshot=model.snapshot or {}, begin_time=model.begin_time, end_time=model.end_time,
        latest_time=model.latest_time, dimensions=model.dimensions or {}, extra_info=model.extra_info or {},
        feedback=model.feedback or {}, alert_count=model.alert_count, merged_into=model.merged_into,
    )


def _incident_model(row: IncidentRow) -> Incident:
    return Incident(
        incident_id=row.incident_id, document_id=row.document_id, incident_name=row.incident_name,
        incident_reason=row.incident_reason, status=row.status, status_order=row.status_order, level=row.level,
        bk_biz_id=row.bk_biz_id, assignees=list(row.assignees), handlers=list(row.handlers), labels=list(row.labels),
        snapshot=dict(row.snapshot), create_time=row.create_time, update_time=row.update_time,
        begin_time=row.begin_time, end_time=row.end_time, latest_time=row.latest_time,
        dimensions=dict(row.dimensions), extra_info=dict(row.extra_info), feedback=dict(row.feedback),
        alert_count=row.alert_count, version_sync_time=row.version[0], version_update_time=row.version[1],
        merged_into=row.merged_into,
    )


def _snapshot_model(row: SnapshotRow) -> IncidentSnapshot:
    return IncidentSnapshot(
        snapshot_id=row.snapshot_id, incident_id=row.incident_id, bk_biz_ids=list(row.bk_biz_ids), status=row.status,
        alerts=list(row.alerts), events=list(row.events), create_time=row.create_time, content=dict(row.content),
        fpp_snapshot_id=row.fpp_snapshot_id,
    )


def _operation_row(model: IncidentOperation) -> OperationRow:
    return OperationRow(model.operation_id or "", model.incident_id, model.operation_type, model.operate_time,
                        model.sync_time, model.extra_info or {})


def _operation_fields(row: OperationRow) -> dict[str, Any]:
    return {"incident_id": row.incident_id, "operation_type": row.operation_type, "operate_time": row.operate_time,
            "sync_time": row.sync_time, "extra_info": dict(row.extra_info)}


class OrmIncidentStore:
    def apply(self, message: SyncMessage) -> Outcome:
        close_old_connections()
        try:
            with transaction.atomic():
                return self._apply(message)
        except DataError as exc:
            raise InvalidRecord("rejected", f"incident {message.incident_id}: {exc}") from exc
        except DatabaseError as exc:  # OperationalError, InterfaceError, IntegrityError (a concurrent insert)
            self._drop_connection()
            raise SourceUnavailable(f"incident database failed: {exc}") from exc

    def count_by_status(self) -> dict[str, int]:
        """`IncidentCensus`: one GROUP BY over the incident table."""
        close_old_connections()
        try:
            rows = Incident.objects.values_list("status").annotate(count=Count("incident_id")).order_by()
            return {str(status): int(count) for status, count in rows}
        except DatabaseError as exc:
            self._drop_connection()
            raise SourceUnavailable(f"incident database failed: {exc}") from exc

    @staticmethod
    def _drop_connection() -> None:
        try:
            connection.close()
        except DatabaseError:
            logger.debug("closing a failed database connection failed", exc_info=True)

    def _apply(self, message: SyncMessage) -> Outcome:
        current = Incident.objects.select_for_update().filter(pk=message.incident_id).first()
        stored = to_row(current) if current is not None else None
        plan = decide(stored, message)
        if plan.outcome in (Outcome.DUPLICATE, Outcome.SKIPPED):
            return plan.outcome
        if plan.incident is not None:
            _incident_model(plan.incident).save(force_insert=current is None)
        if plan.snapshot is not None:
            IncidentSnapshot.objects.bulk_create([_snapshot_model(plan.snapshot)], ignore_conflicts=True)
        self._write_operations(plan.operations)
        if plan.incident is not None:
            for incident_id in affected(stored, plan.incident):
                self._relink(incident_id)
        return plan.outcome

    @staticmethod
    def _write_operations(rows: tuple[OperationRow, ...]) -> None:
        if not rows:
            return
        ids = [row.operation_id for row in rows]
        existing = {model.operation_id: model
                    for model in IncidentOperation.objects.select_for_update().filter(operation_id__in=ids)}
        new: dict[str, OperationRow] = {}
        for row in rows:
            model = existing.get(row.operation_id)
            if model is None:
                new[row.operation_id] = earliest(new[row.operation_id], row) if row.operation_id in new else row
                continue
            old = _operation_row(model)
            if earliest(old, row) is not old:
                IncidentOperation.objects.filter(pk=model.pk).update(**_operation_fields(row))
        IncidentOperation.objects.bulk_create(
            [IncidentOperation(operation_id=row.operation_id, **_operation_fields(row)) for row in new.values()])

    @staticmethod
    def _relink(incident_id: int) -> None:
        """Make the stored links of `incident_id` the ones `rules.links_of` derives from the stored rows."""
        target = Incident.objects.filter(pk=incident_id).first()
        merged_in = [to_row(model) for model in Incident.objects.filter(merged_into=incident_id)]
        wanted = links_of(incident_id, to_row(target) if target is not None else None, merged_in)
        existing = {link.alert_id: link for link in IncidentAlert.objects.filter(incident_id=incident_id)}
        gone = [link.pk for alert_id, link in existing.items() if alert_id not in wanted]
        if gone:
            IncidentAlert.objects.filter(pk__in=gone).delete()
        for alert_id, version in wanted.items():
            link = existing.get(alert_id)
            if link is not None and link.version_id != version:
                IncidentAlert.objects.filter(pk=link.pk).update(version_id=version)
        IncidentAlert.objects.bulk_create([IncidentAlert(incident_id=incident_id, alert_id=alert_id, version_id=version)
                                           for alert_id, version in wanted.items() if alert_id not in existing])

    def close(self) -> None:
        self._drop_connection()
