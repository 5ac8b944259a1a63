"""Preview of the `incident` access type: the rows sync messages read from a file would write.

Contract of `preview_incident(preview)`: `preview.inputs` are `StreamMessage`s (the raw bodies; `offset` is
the message's position in the file), applied in file order to an empty store (`IncidentBook`, the rules the
service's store runs in its transaction). Lines, per message in order:

* `{"message": i, "rejected": reason, "detail"}` for a message the service dead-letters;
* `{"message": i, "incident_id", "sync_type", "outcome"}` (applied, stale, duplicate, skipped), then for
  what it writes `{"message": i, "incident": row}`, `{"message": i, "snapshot": row}` and one
  `{"message": i, "operation": row}` per operation row;

then `{"incident_id", "links": [alert ids]}` per incident with alert links after the last message.
Pure: no I/O, no clock; strategies and hosts are not used.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from alarm_access.access.incident.book import IncidentBook
from alarm_access.access.incident.message import parse_message
from alarm_access.formats.preview import Line, PreviewInput
from alarm_access.kernel.errors import InvalidRecord
from alarm_access.kernel.stream import StreamMessage


def _row(value: Any) -> dict[str, Any]:
    row = dataclasses.asdict(value)
    if "version" in row:
        row["version"] = list(row["version"])
        row["status_order"] = value.status_order
    return row


def preview_incident(preview: PreviewInput) -> list[Line]:
    book = IncidentBook()
    lines: list[Line] = []
    for index, entry in enumerate(preview.inputs):
        position = entry.offset if isinstance(entry, StreamMessage) else index
        raw = entry.value if isinstance(entry, StreamMessage) else entry
        try:
            message = parse_message(raw or b"")
        except InvalidRecord as exc:
            lines.append({"message": position, "rejected": exc.reason, "detail": exc.detail})
            continue
        plan = book.apply(message)
        lines.append({"message": position, "incident_id": message.incident_id, "sync_type": message.sync_type,
                      "outcome": plan.outcome.value})
        if plan.incident is not None:
            lines.append({"message": position, "incident": _row(plan.incident)})
        if plan.snapshot is not None:
            lines.append({"message": position, "snapshot": _row(plan.snapshot)})
        lines.extend({"message": position, "operation": _row(op)} for op in plan.operations)
    lines.extend({"incident_id": incident_id, "links": sorted(links)}
                 for incident_id, links in sorted(book.links.items()))
    return lines
