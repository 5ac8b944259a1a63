"""Group-snapshot diffing: Alertmanager and Grafana resend the whole group on every flush and every
`repeat_interval`; only transitions become events.

State per integration and fingerprint: `AlertState(status, starts_at, ends_at, label_hash)`. For each observed
alert, in payload order (a fingerprint seen twice in one payload is judged against the first):

* no state: emit (firing or resolved);
* firing after firing: emit when `starts_at` is newer (a new episode) or the label hash changed; older
  `starts_at`: stale (an HA peer's late copy); else a repeat;
* firing after resolved: emit only for a newer `starts_at` (a re-fire); else stale (a late firing copy);
* resolved after firing: stale when its `starts_at` is older than the firing one's, else emit;
* resolved after resolved: emit only for a newer `starts_at` (an episode whose firing we missed); else a repeat.

`starts_at` None (PagerDuty resolves carry none) never counts as older. Pure: the caller loads and saves states.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

FIRING, RESOLVED = "firing", "resolved"


@dataclass(frozen=True, slots=True)
class AlertState:
    status: str
    starts_at: int | None
    ends_at: int | None
    label_hash: str

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "starts_at": self.starts_at, "ends_at": self.ends_at,
                "label_hash": self.label_hash}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> AlertState:
        return cls(str(doc["status"]), doc.get("starts_at"), doc.get("ends_at"), str(doc.get("label_hash", "")))


@dataclass(frozen=True, slots=True)
class Candidate:
    """One alert of a payload: its standard event and what the diff compares (`fingerprint` None: not diffed)."""

    event: dict[str, Any]
    fingerprint: str | None = None
    state: AlertState | None = None


@dataclass(frozen=True, slots=True)
class DiffResult:
    emit: list[dict[str, Any]] = field(default_factory=list)
    #: the state to store per fingerprint, after the emitted events were produced
    states: dict[str, AlertState] = field(default_factory=dict)
    repeats: int = 0
    stale: int = 0


def _older(a: int | None, b: int | None) -> bool:
    return a is not None and b is not None and a < b


def _newer(a: int | None, b: int | None) -> bool:
    return a is not None and (b is None or a > b)


def judge(new: AlertState, old: AlertState | None) -> str:
    """`emit`, `repeat` or `stale` for alert state `new` against the stored `old` (module docstring)."""
    if old is None:
        return "emit"
    if new.status == FIRING:
        if old.status == FIRING:
            if _older(new.starts_at, old.starts_at):
                return "stale"
            if _newer(new.starts_at, old.starts_at) or new.label_hash != old.label_hash:
                return "emit"
            return "repeat"
        return "emit" if _newer(new.starts_at, old.starts_at) or new.starts_at is None else "stale"
    if old.status == FIRING:
        return "stale" if _older(new.starts_at, old.starts_at) else "emit"
    return "emit" if _newer(new.starts_at, old.starts_at) else "repeat"


def diff(candidates: Sequence[Candidate], stored: Mapping[str, AlertState]) -> DiffResult:
    """The events to emit for `candidates` given the `stored` states (candidates without fingerprint: always)."""
    result = DiffResult()
    current = dict(stored)
    repeats = stale = 0
    for candidate in candidates:
        if candidate.fingerprint is None or candidate.state is None:
            result.emit.append(candidate.event)
            continue
        verdict = judge(candidate.state, current.get(candidate.fingerprint))
        if verdict == "emit":
            result.emit.append(candidate.event)
            current[candidate.fingerprint] = result.states[candidate.fingerprint] = candidate.state
        elif verdict == "stale":
            stale += 1
        else:
            repeats += 1
    return DiffResult(result.emit, result.states, repeats, stale)
