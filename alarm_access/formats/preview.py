"""What every access-type previewer shares: its input, its output lines, their order, the dedupe state.

A previewer is a pure function `PreviewInput -> list[Line]`: it runs the access type's pipeline on values
parsed from files and returns what the service would push and what it would drop, writing nothing.

Output lines (JSON objects, one per line on stdout):
* `{"strategy_id", "item_id", "record"}`: one record as it would be pushed for that item;
* `{"dropped": reason, "point", ...}`: one dropped input, with `strategy_id`/`item_id` when only that item
  dropped it, `strategy_ids` when the whole strategy group dropped it, neither when no group took it.

Dedupe state document: `{"<epoch time>": ["<record_id>", ...], ...}`, the record ids the service already
pushed per time bucket (the content of its dedupe sets), applied to every strategy group.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from alarm_access.kernel.model import Strategy, Topology
from alarm_access.kernel.ports import SnapshotKey

#: One output line, a JSON object.
Line = dict[str, Any]


class PreviewError(ValueError):
    """The inputs cannot be previewed at all (e.g. no strategy of the access type); a one-line reason."""


@dataclass(frozen=True, slots=True)
class PreviewInput:
    """Parsed inputs of one preview. `inputs` are the raw entries of the input file (not yet validated:
    the previewer reports a malformed entry as a dropped line and goes on)."""

    strategies: Sequence[Strategy]
    inputs: Sequence[Any]
    now: int
    #: names the strategy snapshot keys in the anomalies (the default key prefix's)
    snapshot_key: SnapshotKey
    topology: Topology = field(default_factory=Topology)
    seen_record_ids: Mapping[int, frozenset[str]] = field(default_factory=dict)


Previewer = Callable[[PreviewInput], list[Line]]


def parse_dedupe_state(doc: Any) -> dict[int, frozenset[str]]:
    """The dedupe state document as `{time: record ids}`; `ValueError` naming the first bad key or value."""
    if not isinstance(doc, Mapping):
        raise ValueError('expected an object {"<epoch time>": ["<record_id>", ...]}')
    state: dict[int, frozenset[str]] = {}
    for key, ids in doc.items():
        if not (isinstance(key, str) and key.isascii() and key.isdigit()):
            raise ValueError(f"key {key!r} is not an epoch time in seconds")
        if not isinstance(ids, list) or not all(isinstance(record_id, str) for record_id in ids):
            raise ValueError(f"value of {key!r} must be a list of record id strings")
        state[int(key)] = frozenset(ids)
    return state


def time_of(entry: Any) -> int:
    """The epoch time an input entry carries (`_time_`, else `time`), 0 when it has none."""
    if not isinstance(entry, Mapping):
        return 0
    value = entry.get("_time_") or entry.get("time")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _order(line: Line) -> tuple[int, int, int, int, int, str]:
    strategy_ids = line.get("strategy_ids") or [line.get("strategy_id")]
    strategy_id, item_id = strategy_ids[0], line.get("item_id", 0)
    time = line["record"]["time"] if "record" in line else time_of(line["point"])
    canonical = json.dumps(line, sort_keys=True, ensure_ascii=False, default=str)
    if strategy_id is None:  # taken by no strategy: after every strategy's lines
        return (1, 0, 0, time, 0, canonical)
    return (0, strategy_id, item_id, time, 0 if "record" in line else 1, canonical)


def ordered(lines: list[Line]) -> list[Line]:
    """`lines` sorted by strategy id, item id and time, records before drops.

    A group-level drop sorts under its group's lowest strategy id, before the items; drops that no
    strategy took (`invalid_point`, `no_group`) come last. Ties break on the line's canonical JSON.
    """
    return sorted(lines, key=_order)
