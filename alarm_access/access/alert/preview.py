"""Preview of the `alert` access type: the standard events webhook bodies read from a file would produce.

Contract of `preview_alert(preview)`: `preview.inputs` are `StreamMessage`s whose `topic` is the source format
(`alertmanager`, `grafana`, `standard`, `pagerduty`; not `mapped`) and whose value is one raw request body; they are
handled in order by an integration `preview` of that source (business 0), the diff state carried from one
body to the next (so a repeated snapshot shows as suppressed). Lines, per body:

* `{"message": i, "rejected": reason, "detail"}` for a body the receiver answers 400 (and dead-letters);
* `{"message": i, "event": standard event}` per event it would produce;
* `{"message": i, "suppressed": {"repeats": n, "stale": m}}` when alerts of a snapshot produce nothing.

Pure: `preview.now` is the ingest time; strategies and hosts are not used.
"""

from __future__ import annotations

from alarm_access.access.alert.diff import AlertState, diff
from alarm_access.access.alert.integrations import SOURCES, Integration
from alarm_access.access.alert.sources import PARSERS
from alarm_access.formats.preview import Line, PreviewError, PreviewInput
from alarm_access.kernel.errors import InvalidRecord
from alarm_access.kernel.stream import StreamMessage


def preview_alert(preview: PreviewInput) -> list[Line]:
    lines: list[Line] = []
    states: dict[tuple[str, str], dict[str, AlertState]] = {}
    for index, entry in enumerate(preview.inputs):
        if not isinstance(entry, StreamMessage) or entry.topic not in SOURCES:
            raise PreviewError(f"input {index} is not a body of a known source ({', '.join(SOURCES)})")
        source = entry.topic
        if source == "mapped":  # its parser is the integration's own mapping, which a body file does not carry
            raise PreviewError(f"input {index}: the mapped source needs an integration's field mapping; "
                               "preview covers the fixed formats only")
        integration = Integration("preview", source)
        try:
            candidates = PARSERS[source](entry.value or b"", integration, preview.now)
        except InvalidRecord as exc:
            lines.append({"message": index, "rejected": exc.reason, "detail": exc.detail})
            continue
        stored = states.setdefault((source, integration.name), {})
        result = diff(candidates, stored)
        stored.update(result.states)
        lines.extend({"message": index, "event": event} for event in result.emit)
        if result.repeats or result.stale:
            lines.append({"message": index, "suppressed": {"repeats": result.repeats, "stale": result.stale}})
    return lines
