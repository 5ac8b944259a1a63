"""`hash_ring`'s report: members with their shares, a key's owner, and what a join or leave would move."""

from __future__ import annotations

from alarm_access.ring.membership import MemberInfo, MemberState, RingView
from alarm_access.ring.report import ring_report

VIEW = RingView(7, (MemberInfo("a", MemberState.ACTIVE, 1.0, 0.5), MemberInfo("b", MemberState.ACTIVE, 1.0, 1.0),
                    MemberInfo("c", MemberState.JOINING, 1.0, 0.1)))
KEYS = [str(i) for i in range(3000)]


def test_only_active_members_own_and_the_simulations_move_about_the_ideal() -> None:
    report = ring_report(VIEW, KEYS, key="42", join=1, leave=1)
    owned = {m["id"]: m["owned_keys"] for m in report["members"]}
    assert owned["c"] == 0 and owned["a"] + owned["b"] == len(KEYS)
    assert report["key"]["owner"] in {"a", "b"} and report["epoch"] == 7
    assert report["simulate_join"]["ideal"] == 1000 and 850 < report["simulate_join"]["moved"] < 1150
    assert report["simulate_leave"] == {"members": 1, "moved": owned["a"], "ideal": 1500}
