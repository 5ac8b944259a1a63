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
        if record_id in self._seen.get(time, _EMPTY):
            return False
        bucket = self._new.get(time)
        if bucket is None:
            self._new[time] = {record_id}
            return True
        if record_id in bucket:
            return False
        bucket.add(record_id)
        return True

    def additions(self, discarded_times: Collection[int] = ()) -> dict[int, frozenset[str]]:
        """Ids to add to the stored state per bucket, minus buckets the time-point limit discarded.

        Records dropped by record-level filters stay in: they were handled and must not come back.
        """
        return {t: frozenset(ids) for t, ids in self._new.items() if t not in discarded_times}
