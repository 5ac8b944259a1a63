"""What `manage.py hash_ring` prints: members, their shares, and what a join or leave would move (pure)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from alarm_access.ring.membership import RingView
from alarm_access.ring.ownership import Node, assign, moved


def ring_report(view: RingView, keys: Sequence[str], *, key: str | None = None, join: int = 0,
                leave: int = 0) -> dict[str, Any]:
    """The ring's members (state, lease age, weight, owned keys), the owner of `key`, and how many keys a
    join of `join` members or a leave of the first `leave` active members (by id) would move."""
    nodes = list(view.nodes)
    owners = assign(keys, nodes)
    counts = Counter(owners.values())
    report: dict[str, Any] = {
        "epoch": view.epoch,
        "keys": len(keys),
        "members": [{"id": m.id, "state": m.state.value, "lease_age_s": round(m.lease_age, 1), "weight": m.weight,
                     "owned_keys": counts.get(m.id, 0)} for m in view.members],
    }
    if key is not None:
        report["key"] = {"key": key, "owner": owners.get(key)}
    if join:
        joined = assign(keys, [*nodes, *(Node(f"simulated-{i}") for i in range(join))])
        report["simulate_join"] = {"members": join, "moved": moved(owners, joined),
                                   "ideal": round(len(keys) * join / (len(nodes) + join)) if keys else 0}
    if leave:
        remaining = sorted(nodes, key=lambda n: n.id)[leave:]
        left = assign(keys, remaining)
        gone = len(nodes) - len(remaining)
        report["simulate_leave"] = {"members": gone, "moved": moved(owners, left),
                                    "ideal": round(len(keys) * gone / len(nodes)) if nodes else 0}
    return report
