"""Who owns a key: weighted rendezvous (highest-random-weight) hashing over the active members.

Every member scores every key, `score = -weight / ln(u)` with `u` a uniform value in (0, 1) drawn from
`md5(member "\\0" key)`, and the highest score owns the key. Unlike the original's ring (spec launcher-and-ring
§2.4: node and index concatenated without a separator, a vnode count that depends on the member count), a join
or a leave moves only the keys that must move — the ideal 1/(N+1) resp. 1/N — and every member's share is
proportional to its weight. The separator makes `10.0.0.1` and `10.0.0.11` distinct. Deterministic: every
process computes the same owners from the same member list, in any order.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

_SCALE = float(2**64)


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    weight: float = 1.0


def _score(node: Node, key: str) -> float:
    digest = hashlib.md5(f"{node.id}\x00{key}".encode(), usedforsecurity=False).digest()
    uniform = (int.from_bytes(digest[:8], "big") + 0.5) / _SCALE  # never 0 nor 1
    return -node.weight / math.log(uniform)


def owner(key: str, nodes: Sequence[Node]) -> str | None:
    """The id of the node owning `key`; None when there is no node of positive weight. Ties (practically
    impossible) go to the smaller id, so the answer never depends on the order of `nodes`."""
    best_score, best_id = -1.0, None
    for node in nodes:
        if node.weight <= 0:
            continue
        score = _score(node, key)
        if score > best_score or (score == best_score and best_id is not None and node.id < best_id):
            best_score, best_id = score, node.id
    return best_id


def assign(keys: Iterable[str], nodes: Sequence[Node]) -> dict[str, str]:
    """`key -> owner id` for every key (keys are left out when there is no node)."""
    owners = {}
    for key in keys:
        found = owner(key, nodes)
        if found is not None:
            owners[key] = found
    return owners


def owned_by(member: str, keys: Iterable[str], nodes: Sequence[Node]) -> frozenset[str]:
    return frozenset(key for key in keys if owner(key, nodes) == member)


def moved(before: Mapping[str, str], after: Mapping[str, str]) -> int:
    """How many keys changed owner between two assignments (a key that appeared or vanished counts)."""
    return sum(1 for key in before.keys() | after.keys() if before.get(key) != after.get(key))


def ownership_key(bk_biz_id: int, group_key: str, groups_of_biz: int, split_above: int) -> str:
    """The ring key of a strategy group: its business (`"2"`), or, for a business with more than `split_above`
    groups, the group itself (`"2/<group key>"`) so that one huge business is shared too (0: never split)."""
    if split_above and groups_of_biz > split_above:
        return f"{bk_biz_id}/{group_key}"
    return str(bk_biz_id)
