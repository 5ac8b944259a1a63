"""Priority inhibition between strategies watching the same series (spec data-access §3.4), as a decision.

State: per `priority_group_key` a hash `dims_md5 → "priority:timestamp"`. For a record, the retained items
that take part are checked highest priority first; an item is inhibited when the series holds a fresher
entry (younger than 5 x the item's interval) of a strictly higher priority. Otherwise the item claims the
series (priority 0 never writes: it can never inhibit anyone).

Deviation (spec §9.8): the original cleaned every priority hash with the interval of the group's first item.
Here each priority group is cleaned (entries older than 10 x interval) with its own interval: the largest
interval among this strategy group's items of that priority group, so no live entry is deleted early.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from alarm_access.kernel.model import StrategyGroup


@dataclass(frozen=True, slots=True)
class PriorityMember:
    """An item (by index in `group.items`) that takes part in priority inhibition."""

    item_index: int
    priority: int
    group_key: str
    interval: int


@dataclass(frozen=True, slots=True)
class PriorityWrite:
    """Changes to the hash of one priority group. The sink also refreshes the key's TTL."""

    group_key: str
    updates: Mapping[str, str]
    deletions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PriorityDecision:
    #: `(record position, item index)` pairs that must not receive the record
    inhibited: frozenset[tuple[int, int]]
    writes: tuple[PriorityWrite, ...]


def priority_members(group: StrategyGroup) -> dict[int, PriorityMember]:
    """Items of strategies with a priority and a priority group key, by item index."""
    return {
        index: PriorityMember(index, strategy.priority, strategy.priority_group_key, strategy.items[0].min_interval)
        for index, (strategy, _) in enumerate(group.items)
        if strategy.priority is not None and strategy.priority_group_key
    }


def priority_group_keys(group: StrategyGroup) -> tuple[str, ...]:
    """The priority hashes a run of `group` may read (load them before calling `decide_priority`)."""
    return tuple(dict.fromkeys(member.group_key for member in priority_members(group).values()))


def _parse(entry: str) -> tuple[int, float] | None:
    try:
        priority, stamp = entry.split(":")
        return int(priority), float(stamp)
    except ValueError:
        return None


def decide_priority(
    candidates: Sequence[tuple[str, Sequence[int]]],
    members: Mapping[int, PriorityMember],
    state: Mapping[str, Mapping[str, str]],
    now: int,
) -> PriorityDecision:
    """Inhibitions and hash writes for `candidates`: per record, its dims md5 and retained item indices.

    `state` is the current content of each priority hash (missing group → empty). Unparseable entries
    count as absent and are deleted.
    """
    caches: dict[str, dict[str, str]] = {}
    updates: dict[str, dict[str, str]] = {}
    inhibited: set[tuple[int, int]] = set()
    for position, (dims_md5, retained) in enumerate(candidates):
        taking_part = sorted((members[i] for i in retained if i in members), key=lambda m: m.priority, reverse=True)
        for member in taking_part:
            cache = caches.get(member.group_key)
            if cache is None:
                cache = caches[member.group_key] = dict(state.get(member.group_key, {}))
                updates[member.group_key] = {}
            current = _parse(cache.get(dims_md5, ""))
            if current is not None:
                priority, stamp = current
                if stamp + 5 * member.interval >= now and priority > member.priority:
                    inhibited.add((position, member.item_index))
                    continue
            if member.priority:
                cache[dims_md5] = updates[member.group_key][dims_md5] = f"{member.priority}:{now}"
    writes = []
    for group_key, cache in caches.items():
        interval = max(m.interval for m in members.values() if m.group_key == group_key)
        stale = []
        for field, entry in cache.items():
            parsed = _parse(entry)
            if parsed is None or parsed[1] + 10 * interval < now:
                stale.append(field)
        writes.append(PriorityWrite(group_key, updates[group_key], tuple(stale)))
    return PriorityDecision(frozenset(inhibited), tuple(writes))
