"""Rendezvous ownership: deterministic, order-free, balanced, weighted, and a join/leave moves only what must."""

from __future__ import annotations

from collections import Counter

from alarm_access.ring.ownership import Node, assign, moved, owned_by, owner, ownership_key

KEYS = [str(i) for i in range(20000)]


def test_every_member_computes_the_same_owner_in_any_order() -> None:
    nodes = [Node(f"10.0.0.{i}/1") for i in range(5)]
    assert assign(KEYS[:500], nodes) == assign(KEYS[:500], list(reversed(nodes)))
    assert owner("1", []) is None and owner("1", [Node("a", 0)]) is None


def test_shares_are_balanced_and_follow_the_weights() -> None:
    nodes = [Node(f"m{i}") for i in range(10)]
    counts = Counter(assign(KEYS, nodes).values())
    mean = len(KEYS) / 10
    assert max(counts.values()) / mean <= 1.10 and min(counts.values()) / mean >= 0.90
    weighted = Counter(assign(KEYS, [Node("light", 1.0), Node("heavy", 3.0)]).values())
    assert 2.7 < weighted["heavy"] / weighted["light"] < 3.3


def test_a_join_or_a_leave_moves_about_the_ideal_share_only() -> None:
    nodes = [Node(f"m{i}") for i in range(10)]
    before = assign(KEYS, nodes)
    joined = assign(KEYS, [*nodes, Node("m10")])
    assert moved(before, joined) <= 1.15 * len(KEYS) / 11
    assert all(joined[k] == "m10" for k in KEYS if joined[k] != before[k])  # keys only move to the newcomer
    left = assign(KEYS, nodes[1:])
    assert moved(before, left) == sum(1 for k in KEYS if before[k] == "m0")  # only the leaver's keys move


def test_prefix_ids_do_not_collide_as_in_the_original() -> None:
    # the original concatenated node and index without a separator: "10.0.0.1" + "1x" == "10.0.0.11" + "x"
    counts = Counter(assign(KEYS, [Node("10.0.0.1"), Node("10.0.0.11")]).values())
    assert abs(counts["10.0.0.1"] - counts["10.0.0.11"]) < 0.05 * len(KEYS)
    assert owned_by("10.0.0.1", KEYS[:100], [Node("10.0.0.1")]) == frozenset(KEYS[:100])


def test_a_business_with_more_groups_than_the_split_size_is_shared_group_by_group() -> None:
    assert ownership_key(2, "g1", groups_of_biz=10, split_above=500) == "2"
    assert ownership_key(2, "g1", groups_of_biz=501, split_above=500) == "2/g1"
    assert ownership_key(2, "g1", groups_of_biz=10_000, split_above=0) == "2"  # 0: never split
    nodes = [Node("a"), Node("b"), Node("c")]
    big = Counter(owner(ownership_key(7, f"g{i}", 900, 500), nodes) for i in range(900))
    small = {owner(ownership_key(8, f"g{i}", 30, 500), nodes) for i in range(30)}
    assert len(big) == 3 and min(big.values()) > 200  # the huge business is spread over every member
    assert len(small) == 1  # a normal one stays with one member
