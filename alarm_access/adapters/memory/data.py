"""Fakes of the `data` access type's ports: `MemorySource` (a `TimeSeriesSource`) and `MemoryRecordSink`
(a `RecordSink`), both in memory, for in-process tests of `pull_group` and the handlers.

`MemoryRecordSink` is held by `tests/adapters/memory/test_record_sink_contract.py` to the same assertions
as `RedisSink`; `MemorySource` follows the bucket rules of `adapters.tsdb.promql` (as the real sources do).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from alarm_access.access.data.jobs import BatchJob, Fence, FencedOut, refuse_final_replay
from alarm_access.access.data.ports import SeriesPoints
from alarm_access.adapters.tsdb.promql import bucket_bounds
from alarm_access.kernel.errors import Backpressure, InvalidStrategy, SourceUnavailable
from alarm_access.kernel.model import QueryConfig, Record, StrategyGroup
from alarm_access.records.anomaly import AnomalyWrites
from alarm_access.records.noise import NoiseWrite
from alarm_access.records.result import ItemKey, PullResult

#: canned points: the same for every query config, or chosen per query config
CannedPoints = Iterable[Mapping[str, Any]] | Callable[[QueryConfig], Iterable[Mapping[str, Any]]]


class MemorySource:
    """A `TimeSeriesSource` answering from canned raw points.

    `points` is a list of raw points (used for every query config) or a callable giving the points of a
    query config. `query` returns copies of the points whose `_time_` starts a bucket of the window, i.e.
    lies in `promql.bucket_bounds(start, end, qc.agg_interval)`, ordered by `_time_` (stable otherwise).
    The points are taken as given: they should already be in the port's point format.

    While `partial` is set every answer is marked partial (`SeriesPoints.is_partial`). `local_times` (point
    time -> ingestion time, None: unknown) is answered for the window's buckets (`SeriesPoints.local_times`).
    While `fail_with` is set every query raises: a `SourceUnavailable` or `InvalidStrategy` as is, any
    other exception wrapped in `SourceUnavailable` (the port's "a failure never returns []"). `queries`
    counts every call to `query` (failed ones included), `calls` lists their arguments. `close` is
    idempotent; querying a closed source is a bug of the caller and raises `RuntimeError`.
    """

    def __init__(self, points: CannedPoints = (), *, fail_with: Exception | None = None,
                 partial: bool = False, local_times: Mapping[int, int] | None = None) -> None:
        self._points: Callable[[QueryConfig], Iterable[Mapping[str, Any]]]
        if callable(points):
            self._points = points
        else:
            canned = [dict(p) for p in points]
            self._points = lambda _qc: canned
        self.fail_with = fail_with
        self.partial = partial
        self.local_times = local_times
        self.queries = 0
        self.calls: list[tuple[QueryConfig, int, int]] = []
        self.closed = False

    def query(self, qc: QueryConfig, start: int, end: int) -> list[dict[str, Any]]:
        if self.closed:
            raise RuntimeError("MemorySource queried after close()")
        self.queries += 1
        self.calls.append((qc, start, end))
        if self.fail_with is not None:
            if isinstance(self.fail_with, SourceUnavailable | InvalidStrategy):
                raise self.fail_with
            raise SourceUnavailable(f"memory source failed: {self.fail_with!r}") from self.fail_with
        first, stop = bucket_bounds(start, end, qc.agg_interval)
        selected = [dict(p) for p in self._points(qc) if first <= p["_time_"] < stop]
        local_times = None if self.local_times is None else {
            t: local for t, local in self.local_times.items() if first <= t < stop}
        return SeriesPoints(sorted(selected, key=lambda p: int(p["_time_"])), is_partial=self.partial,
                            local_times=local_times)

    def close(self) -> None:
        self.closed = True


class MemoryRecordSink:
    """A `RecordSink` keeping the `data` hand-off state in dictionaries, with `RedisSink`'s semantics.

    Kept per group key: the checkpoint, the run heartbeat, the newest delivered slot and the dedupe sets
    per bucket; per `(strategy_id, item_id)`: the detect and nodata queues (records in delivery order,
    i.e. the reverse of the Redis list, whose tail detect reads first); the signal list, the priority
    hashes and the (advisory) noise writes. TTLs are not modelled: nothing expires.

    `deliver` is all-or-nothing: every check runs before the first write, and the writes themselves cannot
    fail. It raises, writing nothing:
    - the exception in `fail_next_deliver`, once (then the attribute is cleared) — to simulate a store
      failure (`SourceUnavailable`) or a full queue (`Backpressure`) at a chosen delivery;
    - `Backpressure` when a destination queue already holds more than `max_queue_length` records (the
      same rule as `RedisSink.check_capacity`);
    - with `fence`: `FencedOut` when the group's current token (set by `set_fence`, the stand-in for
      `PullGuards.lock`) is not `fence.token`, or a slot >= `fence.slot` was already delivered. A fenced
      delivery stores `max(stored, checkpoint)` and marks `fence.slot` done; an unfenced one stores the
      checkpoint as given when > 0 (as `RedisSink` does); with `final=False` neither the checkpoint nor
      the heartbeat nor the slot mark is written (one batch of a pull delivered in batches);
    - `NotImplementedError` for `anomalies` (inline thresholds) and `batch` (split pulls): not supported.

    `fail_reads`, while set, makes every read raise it (a store failure before the pipeline ran).
    """

    def __init__(self, *, max_queue_length: int = 5_000_000) -> None:
        self.max_queue_length = max_queue_length
        self.fail_next_deliver: Exception | None = None
        self.fail_reads: Exception | None = None
        self.deliveries = 0
        self.checkpoints: dict[str, int] = {}
        self.heartbeats: dict[str, int] = {}
        self.slots_done: dict[str, int] = {}
        self.fence_tokens: dict[str, int] = {}
        self.seen: dict[tuple[str, int], set[str]] = {}
        self.data: dict[ItemKey, list[Record]] = {}
        self.nodata: dict[ItemKey, list[Record]] = {}
        self.signal: list[int] = []
        self.priority: dict[str, dict[str, str]] = {}
        self.noise: list[NoiseWrite] = []

    # --- test helpers -----------------------------------------------------------------------------------

    def set_fence(self, group_key: str, token: int) -> None:
        """Make `token` the group's current fencing token (what `PullGuards.lock` hands out)."""
        self.fence_tokens[group_key] = token

    def records(self, strategy_id: int, item_id: int) -> list[Record]:
        """The detect queue `access.data.{strategy_id}.{item_id}`, oldest record first."""
        return list(self.data.get((strategy_id, item_id), ()))

    def state(self) -> dict[str, Any]:
        """A copy of everything a delivery can write, for "nothing changed" assertions."""
        return {
            "checkpoints": dict(self.checkpoints),
            "heartbeats": dict(self.heartbeats),
            "slots_done": dict(self.slots_done),
            "seen": {key: set(ids) for key, ids in self.seen.items()},
            "data": {key: [r.record_id for r in rs] for key, rs in self.data.items()},
            "nodata": {key: [r.record_id for r in rs] for key, rs in self.nodata.items()},
            "signal": list(self.signal),
            "priority": {key: dict(fields) for key, fields in self.priority.items()},
            "noise": list(self.noise),
        }

    # --- RecordSink -------------------------------------------------------------------------------------

    def _check_reads(self) -> None:
        if self.fail_reads is not None:
            raise self.fail_reads

    def read_checkpoint(self, group: StrategyGroup) -> int:
        self._check_reads()
        return self.checkpoints.get(group.key, 0)

    def last_runs(self, group_keys: Iterable[str]) -> dict[str, int]:
        self._check_reads()
        return {key: self.heartbeats[key] for key in group_keys if key in self.heartbeats}

    def read_seen(self, group: StrategyGroup, times: Iterable[int]) -> dict[int, set[str]]:
        self._check_reads()
        return {t: set(self.seen.get((group.key, t), ())) for t in sorted(set(times))}

    def read_priority(self, priority_group_keys: Iterable[str]) -> dict[str, dict[str, str]]:
        self._check_reads()
        return {name: dict(self.priority.get(name, {})) for name in dict.fromkeys(priority_group_keys)}

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
        if anomalies is not None:
            raise NotImplementedError("MemoryRecordSink does not write inline-threshold anomalies")
        if batch is not None:
            raise NotImplementedError("MemoryRecordSink does not deliver batch sub-tasks")
        refuse_final_replay(fence, final=final)
        if self.fail_next_deliver is not None:
            failure, self.fail_next_deliver = self.fail_next_deliver, None
            raise failure
        self._check_capacity(result)
        if fence is not None:
            checkpoint = self._check_fence(fence, checkpoint)
        # From here on nothing can fail: the delivery is written entirely.
        self._write(result, group)
        if not final:  # one batch of a pull delivered in batches: the final delivery writes the rest
            return
        if checkpoint > 0:
            self.checkpoints[group.key] = checkpoint
        self.heartbeats[group.key] = now
        if fence is not None:
            self.slots_done[group.key] = fence.slot

    def _check_capacity(self, result: PullResult) -> None:
        """`Backpressure` naming the first destination list over `max_queue_length` (nothing written)."""
        for name, queues, items in (("data", self.data, result.data), ("nodata", self.nodata, result.nodata)):
            for strategy_id, item_id in items:
                length = len(queues.get((strategy_id, item_id), ()))
                if length > self.max_queue_length:
                    raise Backpressure(f"access.{name}.{strategy_id}.{item_id} holds {length} records "
                                       f"(limit {self.max_queue_length})")

    def _write(self, result: PullResult, group: StrategyGroup) -> None:
        """Apply what every delivery writes: records, priority, signal, dedupe state, noise counts."""
        for item, records in result.data.items():
            self.data.setdefault(item, []).extend(records)
        for item, records in result.nodata.items():
            self.nodata.setdefault(item, []).extend(records)
        for write in result.priority_writes:
            fields = self.priority.setdefault(write.group_key, {})
            fields.update(write.updates)
            for name in write.deletions:
                fields.pop(name, None)
        self.signal.extend(result.signal)
        for time, record_ids in result.dedupe_additions.items():
            if record_ids:
                self.seen.setdefault((group.key, time), set()).update(record_ids)
        self.noise.extend(result.noise_writes)
        self.deliveries += 1

    def _check_fence(self, fence: Fence, checkpoint: int) -> int:
        """Refuse a stale delivery (`FencedOut`); the checkpoint to store (never back)."""
        token = self.fence_tokens.get(fence.group_key)
        if token != fence.token:
            raise FencedOut(f"group {fence.group_key}: lock token {fence.token} superseded by {token or '-'}")
        done = self.slots_done.get(fence.group_key)
        if done is not None and done >= fence.slot:
            raise FencedOut(f"group {fence.group_key}: slot {fence.slot} already done (newest {done})")
        return max(checkpoint, self.checkpoints.get(fence.group_key, 0))
