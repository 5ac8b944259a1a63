"""What a batch of anomalies writes to Redis, decided from the state read before (spec §1.8-§1.9), pure.

`plan_delivery(anomalies, state, now, qos_threshold)` applies, in order:
1. dedupe — an anomaly whose `delivery_key` was already delivered (in `state.delivered` or earlier in the
   batch) is dropped: a batch replayed after a crash between push and offset commit pushes nothing twice
   (spec W20). The key is the anomaly id plus the md5 of the line's dimensions, value and message, not the
   anomaly id alone: with the original's ids two distinct anomalies may share one (two disks full on one
   host in the same second) and both must reach detect;
2. priority inhibition over the new anomalies, highest strategy priority first (`records.priority` rules);
3. QoS, when `state.qos_counts` is not None: the count of an identity (`count_md5([biz, strategy, item,
   target ip, level])`) over the current QoS window; above `qos_threshold` the anomaly is dropped;
4. for each survivor: its line on `detect.anomaly.list.{sid}.{iid}`, a check-result entry, and the
   last-checkpoint field when newer than the stored one.
Every anomaly decided here (pushed, inhibited or dropped by QoS) is marked delivered, so a replay decides
nothing again. Deviation (W19): inhibited anomalies leave no check-result or checkpoint behind, and the
checkpoint never moves backwards.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from alarm_access.access.event.standardize import Anomaly
from alarm_access.kernel.hashing import count_md5
from alarm_access.records.priority import PriorityMember, PriorityWrite, decide_priority

#: delivery keys are remembered in one set per 10 minutes of event time
DEDUPE_BUCKET = 600

StrategyItem = tuple[int, int]


def dedupe_bucket(time: int) -> int:
    return time - time % DEDUPE_BUCKET


def checkpoint_field(anomaly: Anomaly) -> str:
    return f"detect.result.{anomaly.md5}.{anomaly.level}"


def qos_field(anomaly: Anomaly) -> str:
    return _qos_identity(anomaly.bk_biz_id, anomaly.strategy_id, anomaly.item_id, anomaly.target_ip, anomaly.level)


@functools.lru_cache(maxsize=1 << 14)
def _qos_identity(biz_id: int, strategy_id: int, item_id: int, target_ip: str, level: int) -> str:
    """`count_md5` of the identity, memoised: a batch repeats a handful of hosts and strategies."""
    return count_md5([biz_id, strategy_id, item_id, target_ip, level])


@dataclass(frozen=True, slots=True)
class DeliveryState:
    delivered: frozenset[str] = frozenset()
    priority: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    checkpoints: Mapping[StrategyItem, Mapping[str, int]] = field(default_factory=dict)
    qos_counts: Mapping[str, int] | None = None


@dataclass(slots=True)
class DeliveryPlan:
    pushes: dict[StrategyItem, list[Anomaly]] = field(default_factory=dict)
    checkpoints: dict[StrategyItem, dict[str, int]] = field(default_factory=dict)
    priority_writes: tuple[PriorityWrite, ...] = ()
    qos_increments: Counter[str] = field(default_factory=Counter)
    delivered: dict[int, list[str]] = field(default_factory=dict)
    drops: Counter[str] = field(default_factory=Counter)

    @property
    def pushed(self) -> int:
        return sum(len(lines) for lines in self.pushes.values())


def _priority(new: Sequence[Anomaly], state: DeliveryState, now: int) -> tuple[set[int], tuple[PriorityWrite, ...]]:
    """Positions in `new` that are inhibited, and the priority hash writes."""
    slots: dict[StrategyItem, int] = {}
    members: dict[int, PriorityMember] = {}
    for anomaly in new:
        if anomaly.priority is not None and anomaly.priority_group_key:
            key = (anomaly.strategy_id, anomaly.item_id)
            index = slots.setdefault(key, len(slots))
            members[index] = PriorityMember(index, anomaly.priority, anomaly.priority_group_key, anomaly.interval)
    if not members:
        return set(), ()
    # the original decides records from the highest strategy priority down
    order = sorted(range(len(new)), key=lambda i: -(new[i].priority or 0))
    candidates = [(new[i].md5, [slots[k]] if (k := (new[i].strategy_id, new[i].item_id)) in slots else [])
                  for i in order]
    decision = decide_priority(candidates, members, state.priority, now)
    return {order[position] for position, _ in decision.inhibited}, decision.writes


def plan_delivery(anomalies: Sequence[Anomaly], state: DeliveryState, now: int, qos_threshold: int) -> DeliveryPlan:
    plan = DeliveryPlan()
    seen = set(state.delivered)
    new: list[Anomaly] = []
    delivered = plan.delivered
    for anomaly in anomalies:
        delivery_key = anomaly.delivery_key
        if delivery_key in seen:
            plan.drops["duplicate"] += 1
            continue
        seen.add(delivery_key)
        new.append(anomaly)
        time = anomaly.time
        bucket = time - time % DEDUPE_BUCKET  # `dedupe_bucket`, inline: once per anomaly
        keys = delivered.get(bucket)
        if keys is None:
            keys = delivered[bucket] = []
        keys.append(delivery_key)
    inhibited, plan.priority_writes = _priority(new, state, now)
    # a batch's anomalies come in runs of one strategy item: its list and checkpoints are looked up once a run
    key: StrategyItem | None = None
    pushed: list[Anomaly] = []
    updates: dict[str, int] = {}
    stored: Mapping[str, int] = {}
    for position, anomaly in enumerate(new):
        if inhibited and position in inhibited:
            plan.drops["inhibited"] += 1
            continue
        if state.qos_counts is not None:
            identity = qos_field(anomaly)
            plan.qos_increments[identity] += 1
            if state.qos_counts.get(identity, 0) + plan.qos_increments[identity] > qos_threshold:
                plan.drops["qos"] += 1
                continue
        if key is None or key[0] != anomaly.strategy_id or key[1] != anomaly.item_id:
            key = (anomaly.strategy_id, anomaly.item_id)
            pushed = plan.pushes.setdefault(key, [])
            updates = plan.checkpoints.setdefault(key, {})
            stored = state.checkpoints.get(key, {})
        pushed.append(anomaly)
        name = checkpoint_field(anomaly)
        if anomaly.time > max(stored.get(name, 0), updates.get(name, 0)):
            updates[name] = anomaly.time
    return plan
