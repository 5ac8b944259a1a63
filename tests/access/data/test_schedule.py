"""The scheduler and the query window are pure: these tests drive them with explicit ticks."""

from __future__ import annotations

from alarm_access.access.data.schedule import Schedule, query_window, slot_start, stable_offset


def test_offsets_are_stable_and_spread() -> None:
    keys = [f"group-{i}" for i in range(600)]
    offsets = [stable_offset(k, 60) for k in keys]
    assert offsets == [stable_offset(k, 60) for k in keys]
    assert all(0 <= o < 60 for o in offsets)
    # spread: no second of the minute holds more than 5% of the groups
    assert max(offsets.count(s) for s in range(60)) < 30


def test_slot_start_contains_tick() -> None:
    for tick in range(1000, 1200, 7):
        start = slot_start(tick, 60, 17)
        assert start <= tick < start + 60
        assert start % 60 == 17


def test_new_group_is_due_at_once_then_once_per_slot() -> None:
    schedule = Schedule()
    schedule.sync({"a": 60}, tick=10_000)
    first = schedule.pop_due(10_000)
    assert [d.key for d in first] == ["a"]
    assert schedule.pop_due(10_000) == []
    next_at = schedule.next_due()
    assert next_at == first[0].slot + 60
    assert schedule.pop_due(next_at - 1) == []
    again = schedule.pop_due(next_at)
    assert [(d.key, d.slot, d.lateness, d.skipped) for d in again] == [("a", next_at, 0, 0)]


def test_skipped_slots_are_reported_and_only_latest_runs() -> None:
    schedule = Schedule(late_after=5)
    schedule.sync({"a": 60}, tick=0)
    schedule.pop_due(0)
    due = schedule.pop_due(60 * 4 + 30 + stable_offset("a", 60))
    assert len(due) == 1
    assert due[0].skipped == 4  # slots at offset+0, +60, +120, +180 never ran
    assert due[0].lateness == 30
    assert schedule.is_late(due[0])


def test_sync_by_diff_keeps_unchanged_groups_state() -> None:
    schedule = Schedule()
    schedule.sync({"a": 60, "b": 60}, tick=0)
    schedule.pop_due(0)
    changed, removed = schedule.sync({"a": 60, "c": 300}, tick=5)
    assert changed == {"c"}
    assert removed == {"b"}
    # a keeps its next slot (not due again at tick 5); c is new and due at once
    assert [d.key for d in schedule.pop_due(5)] == ["c"]
    assert len(schedule) == 2


def test_interval_change_reschedules() -> None:
    schedule = Schedule()
    schedule.sync({"a": 60}, tick=0)
    schedule.pop_due(0)
    changed, _ = schedule.sync({"a": 120}, tick=1)
    assert changed == {"a"}
    due = schedule.pop_due(1)
    assert [(d.key, d.interval) for d in due] == [("a", 120)]
    # the stale 60 s entry left in the heap never fires
    assert all(d.interval == 120 for d in schedule.pop_due(10_000))


def test_window_from_checkpoint_with_overlap_and_delay() -> None:
    window = query_window(checkpoint=6000, now=6125, interval=60, delay=10)
    assert window is not None
    assert (window.start, window.end) == (5940, 6060)


def test_window_without_checkpoint_looks_back_but_not_before_update() -> None:
    now = 100_000
    window = query_window(checkpoint=0, now=now, interval=60, delay=10)
    assert window is not None and window.start == (now - 1800) - (now - 1800) % 60 - 60
    recent = query_window(checkpoint=0, now=now, interval=60, delay=10, min_update_time=now - 300)
    assert recent is not None and recent.start == (now - 300) - (now - 300) % 60 - 60


def test_window_after_an_outage_reaches_now() -> None:
    # 20 closed buckets since the checkpoint: all are pulled; the pipeline's time-point limit bounds delivery
    window = query_window(checkpoint=60_000, now=61_215, interval=60, delay=10)
    assert window is not None
    assert (window.start, window.end) == (59_940, 61_200)


def test_window_empty_when_nothing_closed() -> None:
    assert query_window(checkpoint=6060, now=6065, interval=60, delay=10) is None


def test_long_interval_looks_back_five_intervals() -> None:
    window = query_window(checkpoint=0, now=1_000_000, interval=600, delay=10)
    assert window is not None
    assert window.start <= 1_000_000 - 3000 - 600


def test_a_group_removed_and_added_again_runs_each_slot_once_and_never_reports_negative_skips() -> None:
    schedule = Schedule()
    schedule.sync({"g": 60}, tick=1000)
    first = schedule.pop_due(1000 + 60 * 5)  # the current slot, and several skipped
    schedule.sync({}, tick=1400)  # ownership moved away (hash ring) ...
    schedule.sync({"g": 60}, tick=1410)  # ... and back, before the old heap item was dropped
    later = [slot for tick in range(1410, 1410 + 180, 10) for slot in schedule.pop_due(tick)]
    assert first and all(slot.skipped >= 0 for slot in first + later)
    assert len({slot.slot for slot in later}) == len(later)  # no slot twice
