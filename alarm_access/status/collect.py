"""Collecting a `StatusSnapshot`: the process's `StatusBoard` plus what the metrics registry already knows.

`BOARD` is the board of this process, as `metrics.REGISTRY` is its registry: the service that `run_access`
builds writes to it (`data`: groups, outcomes, next slots, ring members), `/status` reads it. The Kafka
partitions and their lag come from `alarm_access_stream_consumer_lag_messages` (the gauge holds exactly the
partitions assigned to this process's consumers), the dead-letter counts from the counters of the messages
each access type writes to its dead-letter topic — since this process started.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from alarm_access.metrics import REGISTRY
from alarm_access.ring.membership import MemberState, RingView
from alarm_access.status.model import DeadLetterCount, MemberStatus, PartitionLag, StatusBoard, StatusSnapshot

BOARD = StatusBoard()

#: sample name -> (label that must match, its value) and how a sample reads as a dead-letter count:
#: (access type or the label naming it, the label naming the reason or a fixed reason)
_DEAD_LETTER_SAMPLES: dict[str, tuple[tuple[str, str] | None, str, str]] = {
    "alarm_access_event_dead_letters_total": (None, "event", "label:reason"),
    "alarm_access_stream_messages_total": (("status", "invalid"), "label:access_type", "invalid message"),
    "alarm_access_incident_messages_total": (("outcome", "dead_lettered"), "incident", "dead_lettered"),
}


def ring_members(view: RingView, self_id: str) -> tuple[MemberStatus, ...]:
    """The members of `view` with their share of the keys: weight over the active weights (rendezvous
    hashing gives each active member that share on average; joining and leaving members own nothing)."""
    total = sum(m.weight for m in view.members if m.state == MemberState.ACTIVE)
    return tuple(sorted((
        MemberStatus(m.id, m.state.value, m.weight,
                     m.weight / total if total and m.state == MemberState.ACTIVE else 0.0,
                     m.lease_age, m.id == self_id)
        for m in view.members), key=lambda m: m.id))


def _samples(registry: CollectorRegistry) -> Iterator[tuple[str, dict[str, str], float]]:
    for family in registry.collect():
        for sample in family.samples:
            yield sample.name, sample.labels, sample.value


def partitions(registry: CollectorRegistry = REGISTRY) -> tuple[PartitionLag, ...]:
    rows = [PartitionLag(labels["access_type"], labels["topic"], int(labels["partition"]), int(value))
            for name, labels, value in _samples(registry) if name == "alarm_access_stream_consumer_lag_messages"]
    return tuple(sorted(rows, key=lambda p: (p.access_type, p.topic, p.partition)))


def dead_letters(registry: CollectorRegistry = REGISTRY) -> tuple[DeadLetterCount, ...]:
    rows: list[DeadLetterCount] = []
    for name, labels, value in _samples(registry):
        rule = _DEAD_LETTER_SAMPLES.get(name)
        if rule is None or value <= 0:
            continue
        match, access, reason = rule
        if match is not None and labels.get(match[0]) != match[1]:
            continue
        rows.append(DeadLetterCount(_pick(access, labels), _pick(reason, labels), int(value)))
    return tuple(sorted(rows, key=lambda d: (d.access_type, d.reason)))


def _pick(spec: str, labels: dict[str, str]) -> str:
    return labels.get(spec.removeprefix("label:"), "") if spec.startswith("label:") else spec


@dataclass(frozen=True, slots=True)
class StatusSource:
    """What `/status` asks for each page: the board's rows and the metrics, read at that moment."""

    access_type: str
    handler: str
    is_ready: Callable[[], bool]
    board: StatusBoard = BOARD
    registry: CollectorRegistry = REGISTRY
    clock: Callable[[], float] = time.time

    def snapshot(self) -> StatusSnapshot:
        return StatusSnapshot(
            access_type=self.access_type, handler=self.handler, generated_at=self.clock(),
            ready=self.is_ready(), groups=self.board.groups(), ring=self.board.ring(),
            partitions=partitions(self.registry), dead_letters=dead_letters(self.registry),
        )
