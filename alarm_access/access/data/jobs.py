"""Dispatchers: where a due pull of the `data` access type runs — in this process, or on Celery workers.

ARCHITECTURE principle 3: choosing in-process or Celery is one `Dispatcher` argument. The scheduler
(`access.data.service.DataAccess`) turns every due slot into a `PullJob` and hands it to its dispatcher;
`InlineDispatcher` runs it at once with the same `PullRunner.run` a Celery task calls, so both modes
execute one code path (`access.data.runner`).

A `PullJob` is plain JSON (Celery runs with the JSON serializer only, never pickle) and identifies one
unit of work by `(group_key, slot, epoch)`: `slot` is the start of the group's schedule slot, `epoch` the
group's definition version (the newest `update_time` of its strategies/items), `now` the scheduler's clock
when the slot was dispatched. The query window is computed from `now`, so the same job gives the same
window wherever and whenever it runs.

A `BatchJob` is one sub-task of a pull that was split into batches (`access.data.batch`): it names the
round (the parent's fencing token), its batch and the items the parent pulled for.

`Fence` is what a pull holds while it runs: the fencing token of the group lock plus its slot. The sink
checks it inside the delivery transaction and raises `FencedOut` when another pull took the group over
(a newer token) or the slot was already delivered, so a stale worker can neither push twice nor move a
checkpoint back. A replay (`access.data.replay`) holds a fence of `REPLAY_SLOT`: only its token is checked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from alarm_access.kernel.errors import AccessError, InvalidRecord

#: Celery queues of the original (spec launcher-and-ring §4.2)
QUEUE = "celery_service"
QOS_QUEUE = "celery_service_qos"
BATCH_QUEUE = "celery_service_batch"
#: the slot of an `access_replay --push` fence: later than any scheduled slot, so a delivery under it is
#: refused only for a superseded token (a replay delivers with `final=False`: it never marks a slot done)
REPLAY_SLOT = 2**62


def refuse_final_replay(fence: Fence | None, *, final: bool) -> None:
    """`ValueError` for a final delivery under a replay fence: it would mark slot `REPLAY_SLOT` done, and
    every live pull of the group would then be fenced out until the mark expired (every sink calls this)."""
    if final and fence is not None and fence.slot == REPLAY_SLOT:
        raise ValueError(f"group {fence.group_key}: a replay fence delivers with final=False only")


class FencedOut(AccessError):
    """A delivery was refused: the group lock passed to a newer holder, or the slot was already delivered."""


@dataclass(frozen=True, slots=True)
class PullJob:
    group_key: str
    slot: int
    now: int
    interval: int
    epoch: int
    qos: bool = False

    @property
    def queue(self) -> str:
        return QOS_QUEUE if self.qos else QUEUE

    @property
    def task_id(self) -> str:
        """Deterministic: a job published twice (scheduler restart, publish retry) has one identity."""
        return f"access.data.{self.group_key}.{self.slot}.{self.epoch}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> PullJob:
        """Validate a task payload; `InvalidRecord` names what is wrong (the task is then rejected)."""
        try:
            job = cls(
                group_key=str(doc["group_key"]),
                slot=_int(doc["slot"]),
                now=_int(doc["now"]),
                interval=_int(doc["interval"]),
                epoch=_int(doc["epoch"]),
                qos=bool(doc.get("qos", False)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidRecord("bad_task_payload", f"{exc!r} in {dict(doc)!r}") from None
        if not job.group_key or job.interval <= 0:
            raise InvalidRecord("bad_task_payload", f"empty group key or interval in {dict(doc)!r}")
        return job


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"expected an integer, got {value!r}")
    return int(value)


@dataclass(frozen=True, slots=True)
class BatchJob:
    """Batch `index` (1-based) of `total` of the round `token` of `group_key` (see `access.data.batch`)."""

    group_key: str
    epoch: int
    slot: int
    now: int
    token: int
    index: int
    total: int
    items: tuple[tuple[int, int], ...]

    @property
    def task_id(self) -> str:
        return f"access.batch.{self.group_key}.{self.token}.{self.index}"

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "items": [list(item) for item in self.items]}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> BatchJob:
        """Validate a sub-task payload; `InvalidRecord` names what is wrong."""
        try:
            job = cls(
                group_key=str(doc["group_key"]),
                epoch=_int(doc["epoch"]),
                slot=_int(doc["slot"]),
                now=_int(doc["now"]),
                token=_int(doc["token"]),
                index=_int(doc["index"]),
                total=_int(doc["total"]),
                items=tuple((_int(sid), _int(iid)) for sid, iid in doc["items"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidRecord("bad_task_payload", f"{exc!r} in {dict(doc)!r}") from None
        if not job.group_key or not job.items or not 1 <= job.index <= job.total:
            raise InvalidRecord("bad_task_payload", f"empty group/items or index out of range in {dict(doc)!r}")
        return job


@dataclass(frozen=True, slots=True)
class RoundState:
    """What the store knows of one batch round: `done` holds the indexes of the delivered batches,
    `failure` the first failure reported (empty when none), `finalised` whether the checkpoint moved."""

    token: int
    total: int
    done: frozenset[int]
    failed: int
    failure: str
    finalised: bool

    @property
    def complete(self) -> bool:
        return len(self.done) >= self.total > 0


@dataclass(frozen=True, slots=True)
class Fence:
    """The lock token held by one pull of `group_key` for `slot` (see the module docstring)."""

    group_key: str
    token: int
    slot: int


class Dispatcher(Protocol):
    def submit(self, job: PullJob) -> bool:
        """Run or queue `job`. False when it failed (inline: the pull failed; celery: publishing failed)."""
        ...

    def close(self) -> None:
        """Release the broker connection (if any). Safe to call twice."""
        ...


class InlineDispatcher:
    """`-H process`: the job runs now, in the calling thread."""

    def __init__(self, run: Callable[[PullJob], bool]) -> None:
        self._run = run

    def submit(self, job: PullJob) -> bool:
        return self._run(job)

    def close(self) -> None:
        """Nothing to release."""
