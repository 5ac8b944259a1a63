"""The registry of access types: one entry per `--access-type`, kept as data.

`REGISTRY[access_type].build(config, ports)` makes the service that `run_access` supervises, for either
`--handler-type` and either `--hash-ring` (`data` shares its groups over the ring; the stream types share
their partitions or queue through the broker either way, README "Access types"); `preview` is the dry run
of `manage.py access_preview`. A new access type is one package under `alarm_access.access` plus one entry
here; `tests/access/test_registry.py` holds the registry to covering every `AccessType`.

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
    """One access type: `build` makes its service (run by `runtime.Supervisor`) from the configuration and
    the adapters; `preview` is its `manage.py access_preview` dry run."""

    build: Callable[[AccessConfig, Ports], Service]
    preview: Previewer


REGISTRY: dict[AccessType, HandlerSpec] = {
    AccessType.DATA: HandlerSpec(build=build_data_service, preview=preview_data),
    AccessType.REAL_TIME_DATA: HandlerSpec(build=build_real_time_service, preview=preview_real_time),
    AccessType.EVENT: HandlerSpec(build=build_event_service, preview=preview_event),
    AccessType.ALERT: HandlerSpec(build=build_alert_service, preview=preview_alert),
    AccessType.INCIDENT: HandlerSpec(build=build_incident_service, preview=preview_incident),
}


#: `manage.py access_preview --access-type` values
PREVIEWERS: dict[str, Previewer] = {kind.value: spec.preview for kind, spec in REGISTRY.items()}
