"""The declarative field mapping of the `mapped` source: any JSON body into standard events, without code.

A mapping is a JSON object of JMESPath expressions (https://jmespath.org, the language BlueKing's FTA plugins
write their normalization in), compiled once per integration by `compile_mapping` (`ConfigError` naming the
field for a bad expression, an unknown function or key, a bad map) and evaluated by `mapped_candidates` on
each alert object of a payload:

* `alerts` (optional): selects the list of alert objects from the payload; default: the payload when it is a
  list, else `[payload]`;
* `alert_name` (required), `target`, `ip` (default: `target` when it is an IPv4 address, optionally with a
  port; then `target_type` is HOST), `description`, `event_id`, `time` (epoch seconds, milliseconds above
  1e11, or an RFC 3339 string), `tags` (an object, or a list of `{key, value}`);
* `severity` + `severity_map` (`{value: 1|2|3}`, case-insensitive; an unmapped value is read as a number,
  else 2) and `status` + `status_map` (`{value: ABNORMAL|RECOVERED|CLOSED}`; unmapped: the value itself,
  anything else ABNORMAL);
* `dedupe_keys` (`{name: expression}`): each value becomes the tag `name` and part of the alert's identity
  (`tags.<name>` joins the integration's `dedupe_keys`);
* `required` (list of field names): fields that must not be empty besides `alert_name`.

The events follow the `standard` rules (`standard_event`: `id`, `dedupe_md5`, defaults); `extra_info` carries
the alert object as `origin_alarm`. Mapped events are not diffed (like `standard`). Any bad alert rejects the
whole body with an `InvalidRecord` reason: `missing_alerts`, `empty`, `not_an_object`, `missing_<field>`,
`invalid_tags`, `invalid_time`, `mapping_error` (an expression failed on this alert, e.g. a type error).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jmespath
from jmespath.exceptions import JMESPathError
from jmespath.functions import Functions

from alarm_access.access.alert.diff import Candidate
from alarm_access.access.alert.standard import (
    STATUSES,
    dedupe_md5,
    host_ip,
    normalize_severity,
    standard_event,
    tags_of,
)
from alarm_access.access.alert.timefmt import epoch
from alarm_access.kernel.errors import ConfigError, InvalidRecord

if TYPE_CHECKING:  # integrations.py compiles mappings: a runtime import would be circular
    from alarm_access.access.alert.integrations import Integration

#: fields a mapping may set with an expression, in evaluation order
FIELDS = ("alert_name", "target", "ip", "description", "event_id", "time", "tags", "severity", "status")
KEYS = frozenset({*FIELDS, "alerts", "severity_map", "status_map", "dedupe_keys", "required"})
_KNOWN_FUNCTIONS = frozenset(Functions().FUNCTION_TABLE)
_TAG_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
#: a number above it is epoch milliseconds, not seconds (1e11 s is the year 5138)
_MILLIS = 1e11


@dataclass(frozen=True, slots=True, repr=False)
class FieldMapping:
    """A compiled mapping (module docstring); `document` is the mapping as configured."""

    #: field -> compiled expression (`jmespath.parser.ParsedResult`, untyped)
    expressions: Mapping[str, Any]
    alerts: Any | None
    dedupe: tuple[tuple[str, Any], ...]
    #: lower-cased configured value -> severity / status
    severity_map: Mapping[str, int]
    status_map: Mapping[str, str]
    required: tuple[str, ...]
    document: Mapping[str, Any]

    def __repr__(self) -> str:
        return f"FieldMapping({dict(self.document)!r})"


def _functions(node: Mapping[str, Any]) -> set[str]:
    names = {str(node["value"])} if node.get("type") == "function_expression" else set()
    for child in node.get("children") or []:
        if isinstance(child, Mapping):
            names |= _functions(child)
    return names


def _compile(expression: Any, where: str) -> Any:
    if not isinstance(expression, str) or not expression.strip():
        raise ConfigError(f"{where} must be a non-empty JMESPath expression string")
    try:
        compiled = jmespath.compile(expression)
    except JMESPathError as exc:
        detail = " ".join(str(exc).split())
        raise ConfigError(f"{where}: {expression!r} is not a JMESPath expression ({detail})") from None
    unknown = sorted(_functions(compiled.parsed) - _KNOWN_FUNCTIONS)
    if unknown:
        raise ConfigError(f"{where}: {expression!r} calls unknown function(s) {', '.join(unknown)}")
    return compiled


def _value_map(doc: Any, where: str, allowed: Mapping[str, Any]) -> dict[str, Any]:
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConfigError(f"{where} must be an object of value -> {' | '.join(map(str, allowed))}")
    found: dict[str, Any] = {}
    for key, value in doc.items():
        target = allowed.get(str(value).strip().upper())
        if target is None or isinstance(value, bool):
            raise ConfigError(f"{where}[{key!r}]: {value!r} is not one of {', '.join(map(str, allowed))}")
        found[str(key).strip().lower()] = target
    return found


def compile_mapping(doc: Any, where: str = "mapping") -> FieldMapping:
    """`doc` compiled, or `ConfigError` naming the bad field (`where.field`)."""
    if not isinstance(doc, dict):
        raise ConfigError(f"{where} must be an object of JMESPath expressions")
    unknown = sorted(set(doc) - KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(unknown)} (known: {', '.join(sorted(KEYS))})")
    if "alert_name" not in doc:
        raise ConfigError(f"{where}.alert_name is required")
    expressions = {name: _compile(doc[name], f"{where}.{name}") for name in FIELDS if name in doc}
    dedupe_doc = doc.get("dedupe_keys") or {}
    if not isinstance(dedupe_doc, dict) or not all(_TAG_NAME.match(str(name)) for name in dedupe_doc):
        raise ConfigError(f"{where}.dedupe_keys must be an object of tag name ({_TAG_NAME.pattern}) -> expression")
    required = doc.get("required") or []
    if not isinstance(required, list) or not set(required) <= set(expressions):
        raise ConfigError(f"{where}.required must be a list of mapped field names ({', '.join(expressions)})")
    return FieldMapping(
        expressions=expressions,
        alerts=_compile(doc["alerts"], f"{where}.alerts") if doc.get("alerts") is not None else None,
        dedupe=tuple((str(name), _compile(expr, f"{where}.dedupe_keys.{name}")) for name, expr in dedupe_doc.items()),
        severity_map=_value_map(doc.get("severity_map"), f"{where}.severity_map", {"1": 1, "2": 2, "3": 3}),
        status_map=_value_map(doc.get("status_map"), f"{where}.status_map", {s: s for s in sorted(STATUSES)}),
        required=tuple(dict.fromkeys(["alert_name", *required])),
        document=dict(doc))


def _search(expression: Any, alert: Any, where: str) -> Any:
    try:
        return expression.search(alert)
    except JMESPathError as exc:
        raise InvalidRecord("mapping_error", f"{where}: {' '.join(str(exc).split())}"[:300]) from None


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)


def _time(value: Any, where: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InvalidRecord("invalid_time", f"{where} is a boolean")
    if isinstance(value, int | float) or (isinstance(value, str) and re.fullmatch(r"\d+(\.\d+)?", value)):
        number = float(value)
        return int(number / 1000 if number > _MILLIS else number)
    return epoch(value, where)


def _tags(value: Any, where: str) -> list[dict[str, str]]:
    if value is None:
        return []
    if isinstance(value, dict):
        return tags_of(value)
    if isinstance(value, list) and all(isinstance(t, dict) and "key" in t for t in value):
        return [{"key": str(t["key"]), "value": _text(t.get("value"))} for t in value]
    raise InvalidRecord("invalid_tags", f"{where} must be an object or a list of {{key, value}}")


def _alerts(doc: Any, mapping: FieldMapping) -> list[Any]:
    if mapping.alerts is None:
        return doc if isinstance(doc, list) else [doc]
    alerts = _search(mapping.alerts, doc, "alerts")
    if alerts is None:
        raise InvalidRecord("missing_alerts", f"alerts ({mapping.document['alerts']!r}) selects nothing")
    return alerts if isinstance(alerts, list) else [alerts]


def _mapped(level: Any, table: Mapping[str, Any]) -> Any:
    return None if level is None else table.get(_text(level).strip().lower())


def mapped_candidates(doc: Any, integration: Integration, now: int) -> list[Candidate]:
    """The standard events of payload `doc` (parsed JSON) under `integration.mapping` (module docstring)."""
    mapping = integration.mapping
    assert mapping is not None, "a `mapped` Integration always has a mapping (Integration.__post_init__)"
    alerts = _alerts(doc, mapping)
    if not alerts:
        raise InvalidRecord("empty", "no alert objects in the payload")
    candidates = []
    for index, alert in enumerate(alerts):
        if not isinstance(alert, dict):
            raise InvalidRecord("not_an_object", f"alerts[{index}] is not an object")
        values: dict[str, Any] = {}
        for name in mapping.required:  # first: an empty required field is named, not a later expression's failure
            values[name] = _search(mapping.expressions[name], alert, f"alerts[{index}].{name}")
            if values[name] in (None, "", [], {}):
                expression = mapping.document.get(name, "")
                raise InvalidRecord(f"missing_{name}", f"alerts[{index}]: {name} ({expression!r}) is empty")
        values.update({name: _search(expr, alert, f"alerts[{index}].{name}")
                       for name, expr in mapping.expressions.items() if name not in values})
        tags = _tags(values.get("tags"), f"alerts[{index}].tags")
        for name, expr in mapping.dedupe:
            tags = [t for t in tags if t["key"] != name] + [
                {"key": name, "value": _text(_search(expr, alert, f"alerts[{index}].dedupe_keys.{name}"))}]
        target = _text(values.get("target"))
        ip = _text(values.get("ip")) or host_ip(target)
        severity = _mapped(values.get("severity"), mapping.severity_map)
        fields = {
            "alert_name": _text(values["alert_name"]), "target": target, "ip": ip,
            "target_type": "HOST" if ip else "", "description": _text(values.get("description")),
            "event_id": _text(values.get("event_id")), "time": _time(values.get("time"), f"alerts[{index}].time"),
            "tags": tags,
            "severity": severity if severity is not None else normalize_severity(values.get("severity")),
            "status": _mapped(values.get("status"), mapping.status_map) or values.get("status"),
            "extra_info": {"source": integration.source, "integration": integration.name, "origin_alarm": alert},
        }
        event = standard_event(fields, integration, now)
        if mapping.dedupe:
            keys = [*integration.dedupe_keys, *(f"tags.{name}" for name, _ in mapping.dedupe)]
            event["dedupe_keys"], event["dedupe_md5"] = dedupe_md5(event, keys)
        candidates.append(Candidate(event))
    return candidates
