"""Dry runs of the access types: what the service would push and drop for inputs read from files.

`PREVIEWERS` maps an access type to its previewer (`base.Previewer`); adding an access type to
`manage.py access_preview` is writing one previewer and adding it here.
"""

from alarm_access.preview.base import Line, Previewer, PreviewError, PreviewInput, parse_dedupe_state
from alarm_access.preview.data import preview_data
from alarm_access.preview.event import preview_event

PREVIEWERS: dict[str, Previewer] = {"data": preview_data, "event": preview_event}

__all__ = ["PREVIEWERS", "Line", "PreviewError", "PreviewInput", "Previewer", "parse_dedupe_state"]
