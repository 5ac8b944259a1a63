"""`parse_section`: one typed parser for every settings section (`ALARM_ACCESS["DATA"]`, `["EVENT"]`, ...).

A section is a frozen dataclass whose field types say how its string values parse; there is no per-class
`from_raw`. Supported field types and their text form:

    bool                    1/0, true/false, yes/no
    int, float              a number >= 0
    str                     the text, stripped
    tuple[X, ...]           comma-separated X values (empty entries ignored)
    tuple[A, B]             "a:b" (the last part may contain ':' — it is split at most once per field)

Unknown names are refused (a typo cannot pass silently) and a value that does not parse is a `ConfigError`
naming the environment variable, e.g. `ALARM_ACCESS_EVENT_BATCH_SIZE: invalid value 'ten'`. Cross-field
checks stay in the dataclass's `__post_init__`, so a section built in code is validated the same way.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from alarm_access.kernel.errors import ConfigError

Section = TypeVar("Section")

_TRUE = ("1", "true", "yes")
_FALSE = ("0", "false", "no")


def parse_section(cls: type[Section], raw: Mapping[str, Any], prefix: str,
                  aliases: Mapping[str, str] | None = None) -> Section:
    """Build `cls` from `raw` (upper-case field name -> text); `aliases` maps other accepted names to fields.

    Empty values keep the field's default. `prefix` is the environment-variable prefix used in messages."""
    names = {field.name.upper(): field.name for field in dataclasses.fields(cls)  # type: ignore[arg-type]
             if field.init}
    names.update({alias: field for alias, field in (aliases or {}).items()})
    unknown = sorted(set(raw) - set(names))
    if unknown:
        raise ConfigError(f"unknown setting(s) {', '.join(prefix + name for name in unknown)}")
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for key, text in raw.items():
        if text is None or str(text).strip() == "":
            continue
        name = names[key]
        values[name] = parse_value(str(text).strip(), hints[name], f"{prefix}{key}")
    return cls(**values)


def parse_value(text: str, kind: Any, setting: str) -> Any:
    """`text` parsed as type `kind` (see the module docstring); `ConfigError` naming `setting` otherwise."""
    try:
        return _parse(text, kind)
    except ValueError:
        raise ConfigError(f"{setting}: invalid value {text!r}") from None


def _parse(text: str, kind: Any) -> Any:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return tuple(_parse(part.strip(), args[0]) for part in text.split(",") if part.strip())
    if origin is tuple:
        parts = text.split(":", len(args) - 1)
        if len(parts) != len(args) or not all(part.strip() for part in parts):
            raise ValueError(text)
        return tuple(_parse(part.strip(), arg) for part, arg in zip(parts, args, strict=True))
    if kind is bool:
        if text.lower() not in (*_TRUE, *_FALSE):
            raise ValueError(text)
        return text.lower() in _TRUE
    if kind is int or kind is float:
        number = kind(text)
        if number < 0 or not math.isfinite(number):
            raise ValueError(text)
        return number
    if kind is str:
        return text
    raise TypeError(f"unsupported settings field type {kind!r}")
