"""Integrations: who may send alerts, in which format, for which business (setting `ALARM_ACCESS_ALERT_INTEGRATIONS`,
a JSON list of `{name, source, bk_biz_id, plugin_id, token, secret, dedupe_keys, diff_annotations,
rate_limit, mapping}`). `mapping` (source `mapped` only, required there) is compiled here, once per integration
(`mapping.compile_mapping`): a bad expression rejects the integration with a `ConfigError` naming it.

`Integration.__repr__` hides the token and the secret, so a logged integration leaks neither.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from alarm_access.access.alert.mapping import FieldMapping, compile_mapping
from alarm_access.kernel.errors import ConfigError

SOURCES = ("alertmanager", "grafana", "standard", "pagerduty", "mapped")
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True, slots=True)
class Integration:
    name: str
    source: str
    bk_biz_id: int = 0
    plugin_id: str = ""
    token: str = field(default="", repr=False)
    secret: str = field(default="", repr=False)
    dedupe_keys: tuple[str, ...] = ()
    #: a changed annotation (not only a changed label) is a transition worth an event
    diff_annotations: bool = False
    #: requests per second (bursts of as many, at least 1) before 429 (API-style sources) or 503 (snapshot
    #: senders, which drop 429s); 0: no limit
    rate_limit: float = 0.0
    #: the compiled field mapping of a `mapped` integration (None for every other source)
    mapping: FieldMapping | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ConfigError(f"alert integration name {self.name!r} must match {_NAME.pattern}")
        if self.source not in SOURCES:
            raise ConfigError(f"alert integration {self.name!r}: source must be one of {', '.join(SOURCES)}, "
                              f"got {self.source!r}")
        if (self.source == "mapped") != (self.mapping is not None):
            raise ConfigError(f"alert integration {self.name!r}: a field mapping is required by the mapped source "
                              "and applies to it only")
        if not self.plugin_id:
            object.__setattr__(self, "plugin_id", f"{self.source}.{self.name}")


def parse_integrations(text: str, setting: str = "ALARM_ACCESS_ALERT_INTEGRATIONS") -> dict[str, Integration]:
    """The integrations of `text` by name; `ConfigError` naming the entry otherwise (never the token)."""
    if not text.strip():
        return {}
    try:
        entries = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{setting} is not JSON: {exc}") from None
    if not isinstance(entries, list):
        raise ConfigError(f"{setting} must be a JSON list of integration objects")
    return integrations_from(entries, setting)


def integrations_from(entries: list[Any], where: str, known: Mapping[str, Integration] | None = None
                      ) -> dict[str, Integration]:
    """`known` plus the integrations of `entries` (objects with the setting's fields, e.g. the model's rows),
    by name; `ConfigError` for an invalid entry or a name defined twice (in `known` too)."""
    found: dict[str, Integration] = dict(known or {})
    for index, entry in enumerate(entries):
        integration = _integration(entry, f"{where}[{index}]")
        if integration.name in found:
            raise ConfigError(f"{where}: integration {integration.name!r} is defined twice")
        found[integration.name] = integration
    return found


def _integration(entry: Any, where: str) -> Integration:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} must be an object")
    known = {"name", "source", "bk_biz_id", "plugin_id", "token", "secret", "dedupe_keys", "diff_annotations",
             "rate_limit", "mapping"}
    unknown = sorted(set(entry) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(unknown)}")
    mapping = entry.get("mapping")
    if mapping:  # compiled once, here; an error names the integration and the field
        mapping = compile_mapping(mapping, f"{where} ({str(entry.get('name'))[:64]}).mapping")
    try:
        keys = entry.get("dedupe_keys") or []
        if not isinstance(keys, list):
            raise TypeError("dedupe_keys")
        return Integration(
            name=str(entry.get("name", "")), source=str(entry.get("source", "")),
            bk_biz_id=int(entry.get("bk_biz_id") or 0), plugin_id=str(entry.get("plugin_id") or ""),
            token=str(entry.get("token") or ""), secret=str(entry.get("secret") or ""),
            dedupe_keys=tuple(str(key) for key in keys), diff_annotations=bool(entry.get("diff_annotations")),
            rate_limit=max(float(entry.get("rate_limit") or 0.0), 0.0),
            mapping=mapping or None)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: invalid value ({exc})") from None
