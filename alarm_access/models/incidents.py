"""Incident tables: the relational home of what the original writes to Elasticsearch (spec
event-alert-incident §3.4): incidents, their snapshots, the incident-alert links and lifecycle operations.

Times are epoch seconds (BigInteger), as in the sync messages, so stored values compare with message
values without time-zone conversions. `document_id` keeps the original document id `"{create_time}{id}"`
that alerts reference.
"""

from __future__ import annotations

from django.db import models


class IncidentStatus(models.TextChoices):
    """Incident status; `status_order` is the position in this enum (spec §3.2)."""

    ABNORMAL = "abnormal"
    RECOVERING = "recovering"
    RECOVERED = "recovered"
    CLOSED = "closed"
    MERGED = "merged"


class Incident(models.Model):
    incident_id = models.BigIntegerField(primary_key=True)
    document_id = models.CharField(max_length=64, unique=True)
    incident_name = models.TextField(blank=True, default="")
    incident_reason = models.TextField(blank=True, default="")
    status = models.CharField(max_length=16, choices=IncidentStatus.choices, default=IncidentStatus.ABNORMAL)
    status_order = models.PositiveSmallIntegerField(default=0)
    level = models.CharField(max_length=16, blank=True, default="")
    bk_biz_id = models.BigIntegerField(db_index=True)
    assignees = models.JSONField(default=list, blank=True)
    handlers = models.JSONField(default=list, blank=True)
    labels = models.JSONField(default=list, blank=True)
    #: the latest snapshot document, embedded as the original does
    snapshot = models.JSONField(default=dict, blank=True)
    create_time = models.BigIntegerField()
    update_time = models.BigIntegerField()
    begin_time = models.BigIntegerField(null=True, blank=True)
    end_time = models.BigIntegerField(null=True, blank=True)
    latest_time = models.BigIntegerField(null=True, blank=True)
    dimensions = models.JSONField(default=dict, blank=True)
    extra_info = models.JSONField(default=dict, blank=True)
    feedback = models.JSONField(default=dict, blank=True)
    alert_count = models.PositiveIntegerField(default=0)
    #: the version `(sync_time, incident_info.update_time)` of the last applied sync message
    version_sync_time = models.BigIntegerField(default=0)
    version_update_time = models.BigIntegerField(default=0)
    #: the target incident of a merged incident (its alert links moved there)
    merged_into = models.BigIntegerField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ("-create_time", "incident_id")
        indexes = [models.Index(fields=("status", "bk_biz_id"), name="incident_status_biz_idx")]

    def __str__(self) -> str:
        return f"{self.incident_id} {self.incident_name}"


class IncidentSnapshot(models.Model):
    """One analysis snapshot; `snapshot_id` is the original `"{create_time}{8 hex}"` id."""

    snapshot_id = models.CharField(max_length=64, primary_key=True)
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="snapshots")
    bk_biz_ids = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=16, choices=IncidentStatus.choices, default=IncidentStatus.ABNORMAL)
    alerts = models.JSONField(default=list, blank=True)
    events = models.JSONField(default=list, blank=True)
    #: the message's `rca_time`
    create_time = models.BigIntegerField()
    content = models.JSONField(default=dict, blank=True)
    fpp_snapshot_id = models.CharField(max_length=128, blank=True, default="fpp:None")

    class Meta:
        ordering = ("-create_time",)

    def __str__(self) -> str:
        return self.snapshot_id


class IncidentAlert(models.Model):
    """An alert linked to an incident; `version_id` tags the message version that linked it.

    The link may name a merge target that is not stored yet (no database constraint on the incident)."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="alert_links", db_constraint=False)
    alert_id = models.BigIntegerField(db_index=True)
    version_id = models.CharField(max_length=64, blank=True, default="")
    linked_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("incident_id", "alert_id")
        constraints = [models.UniqueConstraint(fields=("incident", "alert_id"), name="incident_alert_unique")]

    def __str__(self) -> str:
        return f"alert {self.alert_id} in incident {self.incident_id}"


class IncidentOperation(models.Model):
    """One lifecycle operation (create, observe, recover, reopen, update, merge, alert trigger/recover/...).

    `operation_id` is deterministic (a hash of incident, operation, from/to and time: a redelivered message adds
    no second row); a target's `merge` row may precede the target itself (no database constraint)."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="operations", db_constraint=False)
    operation_id = models.CharField(max_length=64, unique=True, null=True, blank=True)
    operation_type = models.CharField(max_length=32)
    operate_time = models.BigIntegerField()
    #: the `sync_time` of the message that recorded it
    sync_time = models.BigIntegerField(default=0)
    extra_info = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ("incident_id", "operate_time", "id")

    def __str__(self) -> str:
        return f"{self.operation_type} of incident {self.incident_id}"
