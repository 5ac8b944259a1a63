"""Fakes of batch rounds (a pull split into sub-tasks, `access.data.batch`): `MemoryBatchStore` (a `BatchStore`
with the semantics of `adapters.redis.batches.RedisBatchStore`) and `MemoryBatchSink` (a `MemoryRecordSink`
that also delivers batches, as `RedisSink.deliver(batch=...)` does).

In Redis a round touches keys of three adapters: the group lock (`RedisGuards`), the checkpoint, heartbeat
and slot mark (`RedisSink`) and its own payloads and state. Here the store works on the `MemoryGuards` and
the `MemoryBatchSink` it is given. Held by `tests/adapters/memory/test_batch_store_contract.py` to the same
assertions as the Redis adapters; expiry follows the injected clock.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from alarm_access.access.data.jobs import BatchJob, Fence, FencedOut, RoundState
from alarm_access.adapters.memory.data import MemoryRecordSink
from alarm_access.adapters.memory.expiry import ExpiringDict
from alarm_access.adapters.memory.guards import MemoryGuards
from alarm_access.kernel.errors import AccessError, SourceUnavailable
from alarm_access.kernel.model import StrategyGroup
from alarm_access.records.anomaly import AnomalyWrites
from alarm_access.records.result import PullResult

Round = tuple[str, int]


class MemoryBatchStore:
    """A `BatchStore` keeping payloads (JSON text, so `load` gives what a JSON round trip gives), round
    states (string fields, as the Redis hash) and the newest unfinished round per group, each with the
    TTLs of `RedisBatchStore`: payloads `ttl`, state and newest-round mark `2 * ttl` seconds.

    Contracts as the Redis scripts: `start_round` is `FencedOut` (writing nothing) unless the lock holds
    `fence.token` and the sink's slot mark is < `fence.slot`; it extends the lock to `ttl`, replaces the
    round's state and stores the payloads (after the state: a point that is not JSON raises `TypeError`
    with the round started and no payload stored). `fail` counts the failure, keeps the first reason,
    drops the payloads of batches `1..batches` and releases the lock if the round holds it. `finalise`
    answers `gone` / `finalised_before` / `failed` / `pending` / `finalised`; only the last writes: the
    sink's checkpoint (max of stored and round's, when > 0), heartbeat (`now` of the round) and slot mark
    (max), then releases the lock and the newest-round mark if they still name the round. The sink's keys
    have no TTL here (`MemoryRecordSink` does not model them). While `fail_with` is set, every port method
    raises it.
    """

    def __init__(self, guards: MemoryGuards, sink: MemoryBatchSink, *, clock: Callable[[], float] = time.time) -> None:
        self.guards, self.sink = guards, sink
        self.fail_with: AccessError | None = None
        self._payloads: ExpiringDict[tuple[str, int, int], str] = ExpiringDict(clock)
        self._states: ExpiringDict[Round, dict[str, str]] = ExpiringDict(clock)
        self._newest: ExpiringDict[str, int] = ExpiringDict(clock)
        sink.store = self

    def _check(self) -> None:
        if self.fail_with is not None:
            raise self.fail_with

    def start_round(self, fence: Fence, *, ttl: int, checkpoint: int, now: int,
                    batches: Sequence[Sequence[Mapping[str, Any]]]) -> None:
        self._check()
        group, token = fence.group_key, fence.token
        answer = "ok"
        if self.guards.lock_token(group) != token:
            answer = "lock_lost"
        elif self.sink.slots_done.get(group, -1) >= fence.slot:
            answer = "slot_done"
        if answer != "ok":
            raise FencedOut(f"group {group}: batch round {token} not started ({answer})")
        self.guards.extend_lock(group, ttl * 1000)
        self._states.delete((group, token))
        if ttl <= 0:  # Redis: EXPIRE <= 0 deletes the state, then SET ... EX fails the script
            raise SourceUnavailable(f"memory start of batch round {token} of group {group} failed: invalid "
                                    f"expire time {ttl}")
        self._states.set((group, token), {"total": str(len(batches)), "checkpoint": str(checkpoint),
                                          "now": str(now), "slot": str(fence.slot), "token": str(token),
                                          "done": "0", "pushed": "0", "failed": "0"}, 2 * ttl * 1000)
        self._newest.set(group, token, 2 * ttl * 1000)
        bodies = [json.dumps(list(points), separators=(",", ":")) for points in batches]
        for index, body in enumerate(bodies, 1):
            self._payloads.set((group, token, index), body, ttl * 1000)

    def load(self, job: BatchJob) -> list[dict[str, Any]] | None:
        self._check()
        body = self._payloads.get((job.group_key, job.token, job.index))
        if body is None:
            return None
        points: list[dict[str, Any]] = json.loads(body)
        return points

    def round_state(self, group_key: str, token: int) -> RoundState | None:
        self._check()
        raw = self._states.get((group_key, token)) or {}
        if "total" not in raw:
            return None
        done = frozenset(int(name[5:]) for name in raw if name.startswith("done."))
        return RoundState(token, int(raw["total"]), done, int(raw.get("failed", 0)), raw.get("failure", ""),
                          "finalised" in raw)

    def previous_round(self, group_key: str) -> RoundState | None:
        self._check()
        token = self._newest.get(group_key)
        return None if token is None else self.round_state(group_key, token)

    def forget_round(self, group_key: str, token: int) -> None:
        self._check()
        if self._newest.get(group_key) == token:
            self._newest.delete(group_key)

    def fail(self, group_key: str, token: int, reason: str, batches: int) -> None:
        self._check()
        state = self._states.get((group_key, token))
        if state is not None:
            state["failed"] = str(int(state.get("failed", "0")) + 1)
            state.setdefault("failure", reason)
        self.guards.release_lock(group_key, token)
        for index in range(1, batches + 1):
            self._payloads.delete((group_key, token, index))

    def finalise(self, group_key: str, token: int) -> tuple[str, int]:
        self._check()
        st = self._states.get((group_key, token)) or {}
        if "total" not in st:
            return "gone", 0
        if "finalised" in st:
            return "finalised_before", 0
        if int(st["failed"]) > 0:
            return "failed", 0
        if int(st["done"]) < int(st["total"]):
            return "pending", 0
        sink = self.sink
        checkpoint = max(int(st["checkpoint"]), sink.checkpoints.get(group_key, 0))
        if checkpoint > 0:
            sink.checkpoints[group_key] = checkpoint
        sink.heartbeats[group_key] = int(st["now"])
        sink.slots_done[group_key] = max(int(st["slot"]), sink.slots_done.get(group_key, 0))
        st["finalised"] = "1"
        self.guards.release_lock(group_key, int(st["token"]))
        if self._newest.get(group_key) == int(st["token"]):
            self._newest.delete(group_key)
        return "finalised", checkpoint

    # --- the store side of a batch delivery (`MemoryBatchSink.deliver`) ---------------------------------

    def payload_exists(self, job: BatchJob) -> bool:
        return self._payloads.get((job.group_key, job.token, job.index)) is not None

    def count_delivered(self, job: BatchJob, pushed: int) -> None:
        """Consume the payload and count the batch done (a state that expired is recreated without TTL and
        without `total`, as HSET/HINCRBY do: the round then reads as gone)."""
        self._payloads.delete((job.group_key, job.token, job.index))
        state = self._states.get((job.group_key, job.token))
        if state is None:
            state = {}
            self._states.set((job.group_key, job.token), state, None)
        state[f"done.{job.index}"] = str(pushed)
        state["done"] = str(int(state.get("done", "0")) + 1)
        state["pushed"] = str(int(state.get("pushed", "0")) + pushed)


class MemoryBatchSink(MemoryRecordSink):
    """A `MemoryRecordSink` that also delivers a batch sub-task (`deliver(..., fence=..., batch=...)`) once a
    `MemoryBatchStore` is attached (the store attaches itself; without one a batch is `NotImplementedError`).

    A batch delivery raises, writing nothing: `fail_next_deliver` (once), `Backpressure` (a full queue),
    `FencedOut` when the payload is gone (a twin delivered it, or it expired), the fence holds an older token
    or the slot is done — the checks of `RedisSink`, in its order. Otherwise it writes what a delivery
    writes except the checkpoint, heartbeat and slot mark, consumes the payload and counts the batch done
    with its pushed-record count. `fence` is required with `batch` (`ValueError`); `anomalies` are not
    supported (`NotImplementedError`).
    """

    def __init__(self, *, max_queue_length: int = 5_000_000) -> None:
        super().__init__(max_queue_length=max_queue_length)
        self.store: MemoryBatchStore | None = None

    def deliver(
        self,
        result: PullResult,
        group: StrategyGroup,
        *,
        checkpoint: int,
        now: int,
        fence: Fence | None = None,
        anomalies: AnomalyWrites | None = None,
        batch: BatchJob | None = None,
        final: bool = True,
    ) -> None:
        if batch is None:
            super().deliver(result, group, checkpoint=checkpoint, now=now, fence=fence, anomalies=anomalies,
                            final=final)
            return
        if self.store is None:
            raise NotImplementedError("no MemoryBatchStore attached: batch sub-tasks cannot be delivered")
        if fence is None:
            raise ValueError("a batch delivery needs the round's fence")
        if anomalies is not None:
            raise NotImplementedError("MemoryBatchSink does not write inline-threshold anomalies")
        if self.fail_next_deliver is not None:
            failure, self.fail_next_deliver = self.fail_next_deliver, None
            raise failure
        self._check_capacity(result)
        if not self.store.payload_exists(batch):
            raise FencedOut(f"group {fence.group_key}: batch payload {batch.task_id} already consumed or expired")
        self._check_fence(fence, checkpoint)
        # From here on nothing can fail.
        self._write(result, group)
        self.store.count_delivered(batch, sum(len(records) for records in result.data.values()))
