"""The enabled `AlertIntegration` rows as the entries `access.alert.integrations.integrations_from` takes, and
the CMDB hosts the receiver enriches events with."""

from __future__ import annotations

from typing import Any

from django.db import DatabaseError, close_old_connections

from alarm_access.adapters.orm.topology import load_topology
from alarm_access.kernel.errors import SourceUnavailable
from alarm_access.kernel.model import Host
from alarm_access.models import AlertIntegration
from alarm_access.models.alerts import RECEIVER_FIELDS as FIELDS


def load_alert_integrations() -> list[dict[str, Any]]:
    close_old_connections()
    try:
        return list(AlertIntegration.objects.filter(is_enabled=True).order_by("name").values(*FIELDS))
    except DatabaseError as exc:
        raise SourceUnavailable(f"alert integrations lookup failed: {exc}") from exc


def load_hosts() -> list[Host]:
    """Every CMDB host (the alert receiver enriches events by `ip|cloud_id`)."""
    close_old_connections()
    try:
        return list(load_topology(None).hosts)
    except DatabaseError as exc:
        raise SourceUnavailable(f"host lookup failed: {exc}") from exc
