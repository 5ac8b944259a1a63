from __future__ import annotations

from alarm_access.records.priority import PriorityMember, decide_priority

HIGH = PriorityMember(item_index=0, priority=10, group_key="pg", interval=60)
LOW = PriorityMember(item_index=1, priority=5, group_key="pg", interval=60)
ZERO = PriorityMember(item_index=2, priority=0, group_key="pg", interval=60)
NOW = 100_000


def test_higher_priority_claims_the_series_and_inhibits_lower_in_the_same_pull() -> None:
    decision = decide_priority([("md5a", (0, 1))], {0: HIGH, 1: LOW}, {}, NOW)
    assert decision.inhibited == {(0, 1)}
    (write,) = decision.writes
    assert write.group_key == "pg" and write.updates == {"md5a": f"10:{NOW}"} and write.deletions == ()


def test_fresh_higher_entry_inhibits_stale_one_does_not() -> None:
    fresh = {"pg": {"md5a": f"10:{NOW - 300}"}}
    assert decide_priority([("md5a", (1,))], {1: LOW}, fresh, NOW).inhibited == {(0, 1)}
    stale = {"pg": {"md5a": f"10:{NOW - 301}"}}
    decision = decide_priority([("md5a", (1,))], {1: LOW}, stale, NOW)
    assert decision.inhibited == frozenset()
    assert decision.writes[0].updates == {"md5a": f"5:{NOW}"}


def test_equal_priority_never_inhibits_and_zero_never_writes() -> None:
    state = {"pg": {"md5a": f"0:{NOW}"}}
    decision = decide_priority([("md5a", (2,))], {2: ZERO}, state, NOW)
    assert decision.inhibited == frozenset() and decision.writes[0].updates == {}


def test_not_retained_items_take_no_part() -> None:
    decision = decide_priority([("md5a", (1,))], {0: HIGH, 1: LOW}, {}, NOW)
    assert decision.inhibited == frozenset()


def test_cleanup_uses_each_priority_groups_own_interval() -> None:
    slow = PriorityMember(item_index=3, priority=1, group_key="slow", interval=600)
    state = {"pg": {"old": f"1:{NOW - 601}", "bad": "garbage"}, "slow": {"old": f"1:{NOW - 601}"}}
    decision = decide_priority([("x", (0, 3))], {0: HIGH, 3: slow}, state, NOW)
    deletions = {w.group_key: set(w.deletions) for w in decision.writes}
    assert deletions == {"pg": {"old", "bad"}, "slow": set()}
