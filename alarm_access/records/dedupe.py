"""Record-id de-duplication per time bucket (spec data-access §3.1), without the original's bugs.

* In-pull duplicates are caught too (§9.3): the original only consulted the state loaded before the pull.
* Nothing is written here: the ids to remember are returned (`additions`) and the caller commits them
  only after the push succeeded (§9.2), so a failed push is retried instead of lost.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from collections.abc import Set as AbstractSet

_EMPTY: frozenset[str] = frozenset()


class Deduper:
    """Answers "is this record new?" for one pull; `seen` is the stored state per time bucket."""

    __slots__ = ("_new", "_seen")

    def __init__(self, seen: Mapping[int, AbstractSet[str]]) -> None:
        self._seen = seen
        self._new: dict[int, set[str]] = {}

    def is_new(self, record_id: str, time: int) -> bool:
        """True the first time `record_id` is offered in bucket `time` and it was not seen before."""
        seen, new = self.bucket(time)
        if record_id in seen or record_id in new:
            return False
        new.add(record_id)
        return True

    def bucket(self, time: int) -> tuple[AbstractSet[str], set[str]]:
        """The stored ids of bucket `time` and the set of its new ids, which the caller adds a new id to
        (the hot loop's form of `is_new`, for a run of records of one bucket)."""
        new = self._new.get(time)
        if new is None:
            new = self._new[time] = set()
        return self._seen.get(time, _EMPTY), new

    def additions(self, discarded_times: Collection[int] = ()) -> dict[int, frozenset[str]]:
        """Ids to add to the stored state per bucket, minus buckets the time-point limit discarded.

        Records dropped by record-level filters stay in: they were handled and must not come back.
        """
        return {t: frozenset(ids) for t, ids in self._new.items() if ids and t not in discarded_times}
