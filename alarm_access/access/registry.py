"""The registry of access types: one entry per `--access-type`, kept as data.

`REGISTRY[access_type].build(config, ports)` makes the service that `run_access` supervises, for either
`--handler-type` and either `--hash-ring` (every access type supports all four); `preview` is the dry run
of `manage.py access_preview`. A new access type is one package under `alarm_access.access` plus one entry
here, with both handlers and both ring modes: `tests/access/test_registry.py` holds every entry to that.

The registry is a module of its own, not `alarm_access.access.__init__`: importing an access type's pure
core module must not import every service.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from alarm_access.access.alert.preview import preview_alert
from alarm_access.access.alert.service import build_alert_service
from alarm_access.access.data.preview import preview_data
from alarm_access.access.data.service import build_data_service
from alarm_access.access.event.preview import preview_event
from alarm_access.access.event.service import build_event_service
from alarm_access.access.incident.preview import preview_incident
from alarm_access.access.incident.service import build_incident_service
from alarm_access.access.real_time_data.preview import preview_real_time
from alarm_access.access.real_time_data.service import build_real_time_service
from alarm_access.formats.preview import Previewer
from alarm_access.kernel.config import AccessConfig, AccessType
from alarm_access.kernel.ports import Ports
from alarm_access.runtime import Service


@dataclass(frozen=True, slots=True)
class HandlerSpec:
    summary: str
    build: Callable[[AccessConfig, Ports], Service]
    preview: Previewer


REGISTRY: dict[AccessType, HandlerSpec] = {
    AccessType.DATA: HandlerSpec(
        "pull time series of every strategy group on its interval and push records to detect",
        build=build_data_service,
        preview=preview_data,
    ),
    AccessType.REAL_TIME_DATA: HandlerSpec(
        "consume metric points of real-time strategies from Kafka and push records to detect",
        build=build_real_time_service,
        preview=preview_real_time,
    ),
    AccessType.EVENT: HandlerSpec(
        "consume agent/system events from Kafka and push anomalies",
        build=build_event_service,
        preview=preview_event,
    ),
    AccessType.ALERT: HandlerSpec(
        "receive third-party alerts over HTTP, Kafka or Redis lists and produce BlueKing standard events to Kafka",
        build=build_alert_service,
        preview=preview_alert,
    ),
    AccessType.INCIDENT: HandlerSpec(
        "consume AIOps incident sync messages from RabbitMQ and store them idempotently, in version order",
        build=build_incident_service,
        preview=preview_incident,
    ),
}


#: `manage.py access_preview --access-type` values
PREVIEWERS: dict[str, Previewer] = {kind.value: spec.preview for kind, spec in REGISTRY.items()}
