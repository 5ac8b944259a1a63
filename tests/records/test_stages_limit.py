from __future__ import annotations

from alarm_access.records.dedupe import Deduper
from alarm_access.records.limit import limit_time_points


def test_limit_keeps_the_earliest_buckets() -> None:
    times = [t * 60 for t in range(12, 0, -1)] * 2
    limit = limit_time_points(times, 10, lambda t: t)
    assert limit.last_time_point == 600
    assert limit.discarded_times == {660, 720}
    assert len(limit.kept) == 20 and max(limit.kept) == 600


def test_limit_does_not_fire_at_or_below_the_maximum() -> None:
    limit = limit_time_points([60, 120], 2, lambda t: t)
    assert (limit.kept, limit.last_time_point, limit.discarded_times) == ([60, 120], None, frozenset())
    assert limit_time_points([1, 2, 3], 0, lambda t: t).kept == [1, 2, 3]


def test_dedupe_catches_stored_and_in_pull_duplicates() -> None:
    deduper = Deduper({60: {"a.60"}})
    assert not deduper.is_new("a.60", 60)
    assert deduper.is_new("b.60", 60)
    assert not deduper.is_new("b.60", 60)
    assert deduper.is_new("b.120", 120)
    assert deduper.additions() == {60: {"b.60"}, 120: {"b.120"}}
    assert deduper.additions(discarded_times={120}) == {60: {"b.60"}}
