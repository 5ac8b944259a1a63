"""Structured log lines: `ts level logger msg key=value ...`, context passed with `extra={"ctx": {...}}`.

Every access log line that concerns a strategy, group or topic carries it as context, so one grep finds
all lines of one strategy group (`sgk=...`) or one partition (`topic=... partition=...`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any


def _render(value: Any) -> str:
    text = str(value)
    return f'"{text}"' if (" " in text or not text) else text


class KeyValueFormatter(logging.Formatter):
    """Formats a record as one line; `record.ctx` (a mapping) becomes trailing `key=value` pairs."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        parts = [f"{stamp}.{int(record.msecs):03d}Z", record.levelname, record.name, record.getMessage()]
        ctx: Mapping[str, Any] = getattr(record, "ctx", None) or {}
        parts.extend(f"{key}={_render(value)}" for key, value in ctx.items())
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def ctx(**fields: Any) -> dict[str, Any]:
    """`logger.info("msg", extra=ctx(sgk=..., strategy_id=...))` — context for one log line."""
    return {"ctx": fields}
