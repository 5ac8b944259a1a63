"""Per-kind rules: kind filters, condition dimensions, output dimensions and messages (spec §1.6-§1.7).

`facets(event)` says what one flat event contributes to an anomaly: the dimensions conditions are matched
against, the dimensions and `dimension_fields` added to the host ones, and the message. It returns `[]` when
the kind's own filter discards the event (`kind_filter` names the reason).

Decisions on the original's conflicts (spec §8.5):
- W13: a disk read-only event yields one facet per non-ignored `ro` entry, each with that entry's
  `position`/`type`/`fs` as both condition and output dimensions (the original matched the concatenation
  of all entries but emitted the first). With one entry, as collectors send, the output is the original's.

Identity (spec §1.5, §1.7): the original's md5 (`record_id`, `anomaly_id`, check-result keys, last checkpoint,
priority and QoS identities) is `count_md5` of the record's raw dimensions, i.e. the host dimensions built at
resolution; every kind's `clean_dimensions` adds its own dimensions to a COPY for the output, so they are not
part of the md5 — except corefile and OOM, whose `clean_dimensions` mutate the raw dimensions before the
record id is computed. `Facet.identity` holds the output dimensions the md5 covers on top of the host ones:
empty for every kind but those two.
- W12: of what corefile and OOM add, `__additional_dimensions` (documented downstream as "not part of
  dedupe") and OOM's volatile kernel `message` are kept out of `identity`; the rest (corefile's
  `executable_path`/`executable`/`signal`, OOM's `oom_memcg`/`task_memcg`/`task`/`constraint`) are in, as in
  the original.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from alarm_access.access.event.kinds import EventKind, FlatEvent
from alarm_access.kernel.errors import InvalidRecord

FILE_SYSTEM_TYPE_IGNORE = frozenset({"iso9660", "tmpfs", "udf"})
DISK_FILTER_REGEXES = tuple(re.compile(p) for p in (r"/?dev/loop.*", r"/?dev/sr.*", r".*?\.iso$"))
#: the three, matched at once (`re.match` of an alternation tries each branch at the start, as `any` did)
_DISK_FILTER = re.compile("|".join(f"(?:{regex.pattern})" for regex in DISK_FILTER_REGEXES))
ADDITIONAL = "__additional_dimensions"
_OOM_OPTIONAL = ("oom_memcg", "task_memcg", "task", "constraint")


#: not frozen: a frozen dataclass's `__init__` costs 6x (`object.__setattr__` per field) and one is built per event;
#: treat it as immutable all the same
@dataclass(slots=True)
class Facet:
    filter_dimensions: Mapping[str, Any]
    dimensions: Mapping[str, Any]
    fields: tuple[str, ...]
    message: str
    #: the output dimensions the record's md5 covers besides the host ones (see the module doc)
    identity: Mapping[str, Any] = field(default_factory=dict)


def agent_version(agent_id: str) -> str:
    """`v2` for an Agent 2.0 id (non-empty, no `cloud:ip` colon), else `v1`."""
    return "v2" if agent_id and ":" not in agent_id else "v1"


def kind_filter(event: FlatEvent) -> str | None:
    """The reason the kind's own filter discards `event` (DiskFullFilter, DiskReadonlyFilter), else None."""
    if event.kind is EventKind.DISK_FULL:
        free = _free_percent(event.extra)
        if 0 <= free <= 100:
            if str(event.extra.get("fstype") or "").lower() in FILE_SYSTEM_TYPE_IGNORE:
                return "disk_full_ignored_fstype"
            device = str(event.extra["file_system"])
            if _DISK_FILTER.match(device):
                return "disk_full_ignored_device"
    elif event.kind is EventKind.DISK_READONLY and not _kept_ro_entries(event.extra):
        return "disk_readonly_ignored_fstype"
    return None


def facets(event: FlatEvent) -> list[Facet]:
    """What `event` contributes to its anomalies (one facet, or one per `ro` entry); raises `InvalidRecord`."""
    title, extra, kind = event.title, event.extra, event.kind
    if kind is EventKind.AGENT:
        version = agent_version(event.agent_id or "")
        return [Facet({"agent_version": version}, {}, (), title or "GSE AGENT 失联")]
    if kind is EventKind.PING:
        return [Facet({}, {}, (), title or "Ping不可达")]
    if kind is EventKind.CUSTOM_STRING:
        return [Facet({}, {}, (), title)]
    if kind is EventKind.DISK_FULL:
        dims = {name: extra.get(name, "") for name in ("disk", "file_system", "fstype")}
        message = f"磁盘({extra.get('disk')})剩余空间只有{extra.get('free')}%"
        return [Facet(dims, dims, ("file_system", "fstype", "disk"), title or message)]
    if kind is EventKind.DISK_READONLY:
        return [_readonly(entry, title) for entry in _kept_ro_entries(extra)]
    if kind is EventKind.COREFILE:
        return [_corefile(extra, title)]
    if kind is EventKind.OOM:
        return [_oom(extra, title)]
    return [_process(event)]


def _free_percent(extra: Mapping[str, Any]) -> float:
    if "free" not in extra or "file_system" not in extra:
        raise InvalidRecord("missing_field", "disk full event without extra.free or extra.file_system")
    try:
        return float(extra["free"])
    except (TypeError, ValueError):
        raise InvalidRecord("bad_field", f"extra.free {extra['free']!r} is not a number") from None


def _kept_ro_entries(extra: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    entries = extra.get("ro") or []
    if not isinstance(entries, list):
        raise InvalidRecord("bad_field", "extra.ro is not a list")
    return [
        entry for entry in entries
        if isinstance(entry, Mapping) and str(entry.get("type") or "").lower() not in FILE_SYSTEM_TYPE_IGNORE
    ]


def _readonly(entry: Mapping[str, Any], title: str) -> Facet:
    # collectors misspell `position` as `positoin`
    position = entry.get("position") or entry.get("positoin") or ""
    dims = {"position": position, "type": entry.get("type") or "", "fs": entry.get("fs") or ""}
    message = f"磁盘({dims['fs']}-{dims['type']}({position}))只读告警"
    return Facet(dims, dims, ("position", "type", "fs"), title or message)


def _corefile(extra: Mapping[str, Any], title: str) -> Facet:
    path = extra.get("corefile") or ""
    names = ("executable_path", "executable", "signal")
    filter_dims = {"corefile": path, **{name: extra.get(name) or "" for name in names}}
    dims: dict[str, Any] = {name: filter_dims[name] for name in names if filter_dims[name]}
    if path:
        dims[ADDITIONAL] = {"corefile": path}
    executable, signal = filter_dims["executable"], filter_dims["signal"]
    if executable and signal:
        message = f"{executable}进程因为{signal}异常信号产生corefile：{path}"  # noqa: RUF001 (the original text)
    elif executable:
        message = f"{executable}进程产生corefile：{path}"  # noqa: RUF001 (the original text)
    elif signal:
        message = f"进程因为{signal}异常信号产生corefile：{path}"  # noqa: RUF001 (the original text)
    else:
        message = f"产生corefile：{path}"  # noqa: RUF001 (the original text)
    identity = {name: value for name, value in dims.items() if name != ADDITIONAL}
    return Facet(filter_dims, dims, names, title or message, identity)


def _oom(extra: Mapping[str, Any], title: str) -> Facet:
    process = extra.get("process") or ""
    filter_dims = {"process": process, "message": extra.get("message") or ""}
    filter_dims.update({name: extra[name] for name in _OOM_OPTIONAL if name in extra})
    dims: dict[str, Any] = {k: v for k, v in filter_dims.items() if k != "process" and v}
    dims[ADDITIONAL] = {"process": process}
    message = f"发现OOM异常事件发生（进程:{process}），共OOM次数{extra.get('total')}次, 信息:{filter_dims['message']}"  # noqa: RUF001 (the original text)
    identity = {name: value for name, value in dims.items() if name not in (ADDITIONAL, "message")}
    return Facet(filter_dims, dims, (), title or message, identity)


def _process(event: FlatEvent) -> Facet:
    dims = event.dimensions
    filter_dims = {
        "event_name": dims.get("event_name", ""),
        "process_index": dims.get("process_index", ""),
        "process_group_id": dims.get("process_group_id", ""),
        "process_name": dims.get("process_name", ""),
        "agent_version": agent_version(event.agent_id or ""),
    }
    return Facet(filter_dims, filter_dims, ("process_group_id", "process_name"), event.title)
