"""The status model and its HTML: what the board keeps, what the page shows, escaping and the search filter."""

from __future__ import annotations

import json

from prometheus_client import CollectorRegistry, Counter, Gauge

from alarm_access.ring.membership import MemberInfo, MemberState, RingView
from alarm_access.status.collect import StatusSource, dead_letters, partitions, ring_members
from alarm_access.status.model import (
    FAILED,
    OK,
    GroupInfo,
    StatusBoard,
    StatusSnapshot,
    snapshot_from_dict,
    snapshot_to_dict,
)
from alarm_access.status.render import MAX_GROUP_ROWS, status_page

NOW = 1_780_000_000.0


def board_of(*infos: GroupInfo) -> StatusBoard:
    board = StatusBoard()
    board.set_groups(infos)
    return board


def snapshot(board: StatusBoard, **extra: object) -> StatusSnapshot:
    return StatusSnapshot("data", "process", NOW, True, board.groups(), board.ring(), **extra)  # type: ignore[arg-type]


def test_the_board_keeps_history_across_syncs_and_drops_groups_no_longer_served() -> None:
    board = board_of(GroupInfo("a", (11,), "bk_monitor:time_series", 60), GroupInfo("b", (12,), "custom:x", 60))
    board.record("a", OK, NOW - 5, pushed=4)
    board.record("a", OK, NOW - 1, pushed=2)
    board.record("b", FAILED, NOW - 3, detail="SourceUnavailable", error="SourceUnavailable: refused")
    board.record("b", OK, NOW - 1)
    board.record("gone", OK, NOW)  # not served: ignored
    board.set_groups([GroupInfo("a", (11, 13), "bk_monitor:time_series", 30)])
    (a,) = board.groups()
    assert (a.strategy_ids, a.interval, a.pushed_last, a.pushed_total, a.last_pull) == ((11, 13), 30, 2, 6, NOW - 1)
    board.set_groups([GroupInfo("b", (12,), "custom:x", 60)])
    (b,) = board.groups()
    assert b.outcome == "pending" and not b.last_error  # dropped and served again: a new row


def test_a_failure_stays_visible_after_a_later_success() -> None:
    board = board_of(GroupInfo("b", (12,), "custom:x", 60))
    board.record("b", FAILED, NOW - 3, detail="SourceUnavailable", error="SourceUnavailable: refused")
    board.record("b", OK, NOW - 1)
    (b,) = board.groups()
    assert not b.failing and (b.last_error, b.last_error_at) == ("SourceUnavailable: refused", NOW - 3)


def test_the_page_marks_failing_groups_escapes_everything_and_filters_by_strategy_id() -> None:
    board = board_of(GroupInfo("k1", (11,), "bk_monitor:time_series", 60),
                     GroupInfo("k2", (21, 22), "<script>alert(1)</script>", 60))
    board.record("k1", OK, NOW - 12, pushed=3)
    board.record("k2", FAILED, NOW - 2, detail="SourceUnavailable", error="refused <b>here</b>")
    page = status_page(snapshot(board))
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "refused &lt;b&gt;here&lt;/b&gt;" in page
    assert "2 groups, 1 failing" in page and page.count('class="failing"') == 1 and "FAILING" in page
    assert "(12 s ago)" in page and "3 / 3" in page
    filtered = status_page(snapshot(board), query="22")
    assert ">21, 22<" in filtered and ">11<" not in filtered and "1 match strategy id 22" in filtered
    assert 'value="22"' in filtered
    hostile = status_page(snapshot(board), query='"><script>x</script>')
    assert "<script>x</script>" not in hostile and "No group of a matching strategy." in hostile


def test_a_large_board_shows_the_first_rows_and_says_so() -> None:
    board = board_of(*(GroupInfo(f"k{n}", (n,), "bk_monitor:time_series", 60) for n in range(MAX_GROUP_ROWS + 5)))
    page = status_page(snapshot(board))
    assert page.count("<tr class=") == MAX_GROUP_ROWS and f"showing the first {MAX_GROUP_ROWS}" in page


def test_ring_shares_partitions_and_dead_letters_come_from_the_view_and_the_metrics() -> None:
    view = RingView(3, (MemberInfo("m1", MemberState.ACTIVE, 1.0, 0.5), MemberInfo("m2", MemberState.ACTIVE, 3.0, 2),
                        MemberInfo("m3", MemberState.JOINING, 1.0, 1)))
    members = ring_members(view, "m2")
    assert [(m.id, m.share, m.is_self) for m in members] == [("m1", 0.25, False), ("m2", 0.75, True),
                                                              ("m3", 0.0, False)]
    registry = CollectorRegistry()
    lag = Gauge("alarm_access_stream_consumer_lag_messages", "", ["access_type", "topic", "partition"],
                registry=registry)
    lag.labels("event", "t1", "2").set(7)
    Counter("alarm_access_event_dead_letters", "", ["reason"], registry=registry).labels("bad_json").inc(3)
    messages = Counter("alarm_access_stream_messages", "", ["access_type", "status"], registry=registry)
    messages.labels("real_time_data", "invalid").inc(2)
    messages.labels("real_time_data", "routed").inc(9)
    assert [(p.topic, p.partition, p.lag) for p in partitions(registry)] == [("t1", 2, 7)]
    assert [(d.access_type, d.reason, d.count) for d in dead_letters(registry)] == [
        ("event", "bad_json", 3), ("real_time_data", "invalid message", 2)]
    board = StatusBoard()
    board.set_ring(members)
    source = StatusSource("event", "process", lambda: True, board=board, registry=registry, clock=lambda: NOW)
    page = status_page(source.snapshot())
    assert "m2 (this process)" in page and "75%" in page and "bad_json" in page and ">7<" in page


def test_the_json_form_reads_back_as_the_same_snapshot() -> None:
    board = board_of(GroupInfo("k1", (11,), "bk_monitor:time_series", 60))
    board.record("k1", FAILED, NOW, detail="X", error="X: y")
    board.set_ring(ring_members(RingView(1, (MemberInfo("m1", MemberState.ACTIVE, 1.0, 0.0),)), "m1"))
    original = snapshot(board)
    assert snapshot_from_dict(json.loads(json.dumps(snapshot_to_dict(original)))) == original
