"""RFC 3339 timestamps as the senders write them (nanosecond fractions, `Z`), to epoch seconds."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from alarm_access.kernel.errors import InvalidRecord

#: Alertmanager's and Grafana's "not ended" (Go's zero time)
ZERO_TIME_PREFIX = "0001-01-01"
_FRACTION = re.compile(r"\.(\d+)")


def epoch(text: object, field: str) -> int | None:
    """Epoch seconds of an RFC 3339 string; None for empty or the zero time; `InvalidRecord` otherwise."""
    if text is None or text == "":
        return None
    if not isinstance(text, str):
        raise InvalidRecord("invalid_time", f"{field} is not a string")
    if text.startswith(ZERO_TIME_PREFIX):
        return None
    value = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), text.strip(), count=1)
    value = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidRecord("invalid_time", f"{field} {text[:40]!r} is not RFC 3339") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp())
