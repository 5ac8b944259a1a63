"""One consumed batch of event messages → anomalies and bad messages, each message isolated from the others.

`process_batch` never raises for one message's content: a malformed message, or one that trips an
unexpected error in a parser or filter, lands in `BatchResult.bad` with a reason and detail (the original
lost whole batches of up to 10000 events on one bad record, spec W8). `InvalidRatio` limits how much of the
stream may be bad before consumption stops (arroyo's dead-letter policy).
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from alarm_access.access.event.fanout import Candidate, fan_out_into
from alarm_access.access.event.kinds import EventKind
from alarm_access.access.event.parse import parse_message
from alarm_access.access.event.routing import Routing
from alarm_access.access.event.standardize import Anomaly, standardize
from alarm_access.kernel.errors import AccessError, InvalidRecord
from alarm_access.kernel.stream import StreamMessage
from alarm_access.logs import ctx

logger = logging.getLogger("alarm_access.access.event")

#: the invalid ratio is judged only once this many messages were seen
MIN_RATIO_SAMPLES = 100


class TooManyInvalid(AccessError):
    """The share of invalid messages passed the configured limit; the batch is not committed."""


@dataclass(frozen=True, slots=True)
class BadMessage:
    message: StreamMessage
    reason: str
    detail: str


@dataclass(slots=True)
class BatchResult:
    anomalies: list[Anomaly] = field(default_factory=list)
    bad: list[BadMessage] = field(default_factory=list)
    drops: Counter[str] = field(default_factory=Counter)
    events: Counter[int] = field(default_factory=Counter)
    ignored: int = 0


def process_batch(messages: Sequence[StreamMessage], routing: Routing, now: int,
                  enabled: Collection[EventKind]) -> BatchResult:
    """Parse, fan out and standardize every message; `events` counts flat events per data id."""
    result = BatchResult()
    for message in messages:
        try:
            events = parse_message(message.data_id, message.value, enabled)
            candidates: list[Candidate] = []
            drops: dict[str, int] = {}
            for event in events:
                fan_out_into(event, routing, now, candidates, drops)
            anomalies = [standardize(candidate, now) for candidate in candidates]
        except InvalidRecord as exc:
            result.bad.append(BadMessage(message, exc.reason, exc.detail))
            continue
        except Exception as exc:  # a bug must cost one message, not the batch; the traceback says where
            logger.exception("event message processing failed", extra=ctx(
                topic=message.topic, partition=message.partition, offset=message.offset))
            result.bad.append(BadMessage(message, "processing_error", f"{type(exc).__name__}: {exc}"))
            continue
        if not events:
            result.ignored += 1
        result.events[message.data_id] += len(events)
        if drops:
            result.drops.update(drops)
        result.anomalies.extend(anomalies)
    return result


class InvalidRatio:
    """Share of invalid messages over about the last `window` messages (whole batches are kept or dropped)."""

    def __init__(self, max_ratio: float, window: int) -> None:
        self._max_ratio = max_ratio
        self._window = max(window, 1)
        self._batches: deque[tuple[int, int]] = deque()
        self._total = 0
        self._invalid = 0

    def check(self, total: int, invalid: int) -> None:
        """Raise `TooManyInvalid` if accepting this batch puts the ratio over the limit (state unchanged)."""
        seen, bad = self._total + total, self._invalid + invalid
        if seen >= MIN_RATIO_SAMPLES and bad / seen > self._max_ratio:
            raise TooManyInvalid(f"{bad} of the last {seen} messages are invalid (limit {self._max_ratio:.0%}); "
                                 "consumption stops until this is resolved")

    def accept(self, total: int, invalid: int) -> None:
        self._batches.append((total, invalid))
        self._total += total
        self._invalid += invalid
        while len(self._batches) > 1 and self._total - self._batches[0][0] >= self._window:
            old_total, old_invalid = self._batches.popleft()
            self._total -= old_total
            self._invalid -= old_invalid
