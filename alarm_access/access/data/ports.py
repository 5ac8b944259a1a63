"""Ports of the `data` access type: time-series sources, the record sink, pull guards and batch rounds.

Adapters: `adapters.tsdb` (sources), `adapters.redis` (sink, guards, batch store), `adapters.celery` (the
Celery dispatcher); fakes in `adapters.memory`. Keep a port's contract in its docstring.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from alarm_access.kernel.model import QueryConfig, StrategyGroup
from alarm_access.kernel.ports import Ports

if TYPE_CHECKING:
    from alarm_access.access.data.jobs import BatchJob, Dispatcher, Fence, RoundState
    from alarm_access.records.anomaly import AnomalyWrites
    from alarm_access.records.result import PullResult


class SeriesPoints(list[dict[str, Any]]):
    """The points of one query, marked `is_partial` when the source answered with part of the data only
    (VictoriaMetrics `isPartial`: some storage node did not answer).

    `local_times` maps a point time (`_time_`) to the newest ingestion time, in epoch seconds (UTC), of the
    samples behind that time's points — the original's `MAX(localTime)`, which bk_data reports in its
    servers' local wall time and the original shifts by `BKDATA_LOCAL_TIMEZONE_OFFSET`; a source of this
    port converts to epoch seconds itself. A time whose samples carry no ingestion time is absent. None:
    the source cannot tell (Prometheus-compatible APIs). Read by bk_data freshness gating (`freshness`)."""

    __slots__ = ("is_partial", "local_times")

    def __init__(self, points: Iterable[dict[str, Any]] = (), *, is_partial: bool = False,
                 local_times: dict[int, int] | None = None) -> None:
        super().__init__(points)
        self.is_partial = is_partial
        self.local_times = local_times


class TimeSeriesSource(Protocol):
    """Pulls aggregated time series for one query config (spec data-access §1.6, §2.4).

    Every implementation follows the rules of `alarm_access.adapters.tsdb.promql` (metric naming, condition semantics,
    buckets), so the same query config gives the same points from any backend.
    """

    def query(self, qc: QueryConfig, start: int, end: int) -> list[dict[str, Any]]:
        """Raw points of the buckets of `[start, end)` (epoch seconds), ordered by `_time_`.

        A bucket is `[T, T + qc.agg_interval)` with `T` aligned to the interval in UTC; the window covers the
        buckets starting in `[floor(start), floor(end))` (`promql.bucket_bounds`). Each point is
        ``{<dim>: value, ..., "_time_": T, "_result_": value, <qc.alias or qc.metric_field>: value}`` with one
        key per `qc.agg_dimension` (None when the series lacks the label); a value that is NaN or infinite
        is None. Only buckets that hold samples produce points. A partial answer is returned as
        `SeriesPoints(..., is_partial=True)` (what a pull does with it: spec §3.13, `pull.pull_group`).

        Raises `SourceUnavailable` on any transport error, timeout, HTTP/database error or malformed answer:
        a failure NEVER returns `[]`; `[]` means "no data". Raises `InvalidStrategy` when the query config
        cannot be expressed (unknown `agg_method`, condition method, invalid label name).
        """
        ...

    def close(self) -> None:
        """Release connections; the source is not used afterwards. Safe to call twice."""
        ...


class RecordSink(Protocol):
    """Where a `data` pull reads its state from and delivers its result (spec data-access §4.2-§4.3).

    Every method raises `SourceUnavailable` when the store fails; `deliver` raises `Backpressure` when a
    destination queue is full. In both cases nothing of the delivery was written.
    """

    def read_checkpoint(self, group: StrategyGroup) -> int:
        """The newest bucket already delivered for the group (0 when none is stored)."""
        ...

    def read_seen(self, group: StrategyGroup, times: Iterable[int]) -> dict[int, set[str]]:
        """Record ids already delivered, per time bucket."""
        ...

    def last_runs(self, group_keys: Iterable[str]) -> dict[str, int]:
        """When each group's last successful pull was delivered (its run heartbeat); absent: none known."""
        ...

    def read_priority(self, priority_group_keys: Iterable[str]) -> dict[str, dict[str, str]]:
        ...

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
        """Atomically write the result's records and signal, its dedupe state, the checkpoint and the run
        heartbeat: after a crash either all of them are written or none.

        With `fence`, the transaction also checks that the group lock still holds `fence.token` and that no
        newer-or-equal slot was delivered (else `dispatch.FencedOut`, nothing written), records `fence.slot`
        as delivered and never moves the stored checkpoint back. `anomalies` (inline static thresholds) are
        written in the same transaction, in the detect service's output format. With `batch` (a sub-task
        of a split pull, `fence` required) the batch's payload must still be stored (else `FencedOut`): the
        transaction consumes it and counts the batch done in its round instead of writing the checkpoint,
        heartbeat and slot mark (`BatchStore.finalise` does, once every batch is done). With `final=False`
        (a batch of a pull delivered in batches by this process, `access.data.bounded`) the records and
        their dedupe state are written, fenced as usual, but not the checkpoint, heartbeat and slot mark:
        the pull's last delivery, a final one, writes them."""
        ...


class EndTimeHolds(Protocol):
    """The window end a bk_data group re-uses after freshness gating (spec §3.12, §1.5): the original's
    `access.data.last_end_time.group_key_{SGK}`. Every method raises `SourceUnavailable` on a store error."""

    def take_end_time(self, group_key: str) -> int | None:
        """The held window end of the group (None when none is held, or it is not a positive integer); the
        hold is deleted in the same step, whatever its value."""
        ...

    def hold_end_time(self, group_key: str, until: int, ttl: int) -> None:
        """Hold `until` as the group's next window end for `ttl` seconds (replacing any held one)."""
        ...


class PullGuards(EndTimeHolds, Protocol):
    """Cross-process protections of a `data` pull; every method raises `SourceUnavailable` on a store error."""

    def lock(self, group_key: str, slot: int, ttl: float, *, take_over: bool = False) -> Fence | None:
        """The group lock with a new fencing token for `ttl` seconds, or None when another pull holds it.
        With `take_over` the lock is taken even when held: the previous holder is fenced out at delivery."""
        ...

    def unlock(self, fence: Fence) -> None:
        """Release the lock if `fence` still holds it."""
        ...

    def tokens_left(self, group_key: str, budget: int) -> int:
        """Query-time tokens left in the group's bucket (spec data-access §3.7)."""
        ...

    def spend_tokens(self, group_key: str, budget: int, seconds: float) -> int:
        """Charge a pull of `seconds` to the group's bucket; returns the tokens left."""
        ...

    def take_source_slot(self, source: tuple[str, str], limit: int, lease: float) -> str | None:
        """One of `limit` concurrent pulls of `source` (a holder id), or None when every slot is taken."""
        ...

    def give_source_slot(self, source: tuple[str, str], holder: str) -> None: ...

    def breaker_rules(self) -> list[Any]:
        """The configured circuit-breaking rules (spec data-access §3.10), `[]` when none."""
        ...


class BatchStore(Protocol):
    """Payloads and state of batch rounds (a `data` pull split into sub-tasks, `access.data.batch`).

    A round is named by the parent's fencing token. Every method raises `SourceUnavailable` on a store error.
    """

    def start_round(self, fence: Fence, *, ttl: int, checkpoint: int, now: int,
                    batches: Sequence[Sequence[Mapping[str, Any]]]) -> None:
        """Extend the group lock held by `fence` to `ttl` seconds and store the round and its payloads
        (payloads live `ttl` seconds). `FencedOut` when the lock was lost or the slot is already done."""
        ...

    def load(self, job: BatchJob) -> list[dict[str, Any]] | None:
        """The batch's points; None when its payload is gone (delivered, or expired)."""
        ...

    def round_state(self, group_key: str, token: int) -> RoundState | None:
        """The round's state; None when it expired."""
        ...

    def previous_round(self, group_key: str) -> RoundState | None:
        """The group's newest round that was not finalised, if its state still exists."""
        ...

    def forget_round(self, group_key: str, token: int) -> None: ...

    def fail(self, group_key: str, token: int, reason: str, batches: int) -> None:
        """Mark the round failed (never finalised), drop the payloads of its `batches` batches and release
        the group lock if the round holds it."""
        ...

    def finalise(self, group_key: str, token: int) -> tuple[str, int]:
        """Once, when every batch is done and none failed: store the checkpoint (never back), the run
        heartbeat and the slot mark, release the lock. Returns (outcome, checkpoint stored)."""
        ...


class DataPorts(Ports, Protocol):
    """The ports of the `data` access type (implemented by `bootstrap.AdapterPorts`)."""

    @property
    def record_sink(self) -> RecordSink: ...

    def source_for(self, source: tuple[str, str]) -> TimeSeriesSource:
        """The time-series source serving `(data_source_label, data_type_label)`."""
        ...

    @property
    def guards(self) -> PullGuards: ...

    def celery_dispatcher(self) -> Dispatcher:
        """Publishes pull jobs to the Celery broker; `ConfigError` when no broker URL is configured."""
        ...

    def strategy_documents(self, strategy_ids: Collection[int] | None = None) -> list[dict[str, Any]]:
        """Every stored strategy (only those of `strategy_ids` when given) in the original cached JSON format
        (the strategy snapshot content)."""
        ...
