"""Structured log lines, built on structlog, from plain stdlib `logging` calls with `extra=ctx(...)`.

Call sites use the stdlib only: `logger.info("group pulled", extra=ctx(sgk=..., strategy_id=...))`.
`formatter()` is a `logging.Formatter` (a `structlog.stdlib.ProcessorFormatter`) that renders each record
as exactly ONE line with these fields, in this order:

    ts        ISO-8601 UTC with milliseconds and `Z` (`2026-01-02T03:04:05.678Z`), from `record.created`
    level     the stdlib level name (`INFO`, `ERROR`, ...)
    logger    the logger name
    msg       the message (`%`-args applied); never carries a traceback
    ...       every key of `record.ctx`, top level (one named like a field here gets a `ctx_` prefix)
    exception the formatted traceback, when the record has `exc_info` (`stack_info` likewise)

`ALARM_ACCESS_LOG_FORMAT` picks the rendering (`log_format` validates it; settings reject anything else):

* `logfmt` (default): `key=value` pairs joined by one space. A value is quoted when it is empty or holds a
  space, `=`, `"`, `\\` or any non-printable character; a quoted value is a JSON string literal (`\\"`,
  `\\\\`, `\\n`, `\\t`, `\\uXXXX`, ...), so newlines, tracebacks and line separators never break the line.
  structlog's `LogfmtRenderer` is not used: it leaves `\\r`, U+2028 and other line breaks raw, and does not
  quote a value whose only special character is a newline or backslash (`a\\nb` is then ambiguous).
* `json`: one JSON object per line (structlog's `JSONRenderer`, stdlib `json`, non-JSON values as `str`).

Every access log line that concerns a strategy, group or topic carries it as context, so one grep finds
all lines of one strategy group (`sgk=...`) or one partition (`topic=... partition=...`).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Mapping
from typing import Any

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

FORMATS = ("logfmt", "json")
_RESERVED = ("ts", "level", "logger", "msg", "exception", "exc_info", "stack_info", "_record", "_from_structlog")
_BAD_KEY = re.compile(r'[^\w.:/-]')


def log_format(value: str | None) -> str:
    """The format named by `ALARM_ACCESS_LOG_FORMAT` (unset or empty: `logfmt`); ValueError if unknown."""
    name = (value or "").strip().lower() or "logfmt"
    if name not in FORMATS:
        raise ValueError(f"ALARM_ACCESS_LOG_FORMAT must be logfmt or json, got {value!r}")
    return name


def _fields(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """foreign_pre_chain: a stdlib record -> ts, level, logger, msg, its `record.ctx` keys, then the rest."""
    record: logging.LogRecord = event["_record"]
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
    out: EventDict = {"ts": f"{stamp}.{int(record.msecs):03d}Z", "level": record.levelname,
                      "logger": record.name, "msg": event.pop("event")}
    context = getattr(record, "ctx", None) or {}
    for key, value in (context.items() if isinstance(context, Mapping) else [("ctx", context)]):
        out[f"ctx_{key}" if key in _RESERVED else str(key)] = value
    out.update(event)  # exc_info, stack_info and structlog's _record/_from_structlog (removed later)
    return out


def _logfmt_value(value: Any) -> str:
    text = ("true" if value else "false") if isinstance(value, bool) else "" if value is None else str(value)
    if text and not any(c in ' ="\\' or not c.isprintable() for c in text):
        return text
    quoted = json.dumps(text, ensure_ascii=False)  # escapes ", \ and every control character below U+0020
    return "".join(c if c.isprintable() else json.dumps(c)[1:-1] for c in quoted)  # U+2028, U+0085, ...


def _logfmt(_: WrappedLogger, __: str, event: EventDict) -> str:
    return " ".join(f"{_BAD_KEY.sub('_', str(key)) or '_'}={_logfmt_value(value)}" for key, value in event.items())


def _json_line(obj: Any, **kw: Any) -> str:
    # ensure_ascii=False keeps Chinese readable; U+2028/U+2029/U+0085 stay escaped so the line stays one line
    return json.dumps(obj, ensure_ascii=False, **kw).translate(
        {0x2028: "\\u2028", 0x2029: "\\u2029", 0x85: "\\u0085"})


def formatter(kind: str = "logfmt") -> structlog.stdlib.ProcessorFormatter:
    """The stdlib formatter of LOGGING: `{"()": "alarm_access.logs.formatter", "kind": "logfmt" | "json"}`."""
    renderer: Processor = (_logfmt if log_format(kind) == "logfmt"
                           else structlog.processors.JSONRenderer(serializer=_json_line, default=str))
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[_fields],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, renderer],
    )


def ctx(**fields: Any) -> dict[str, Any]:
    """`logger.info("msg", extra=ctx(sgk=..., strategy_id=...))` — context for one log line."""
    return {"ctx": fields}
