"""Ownership quality and speed of the hash ring (`alarm_access.ring.ownership`), one JSON line per configuration.

    .venv/bin/python -m bench.ring [--members 3,10,50] [--keys 10000,100000] [--original]

For each (members, keys): `moved_vs_ideal_join` / `moved_vs_ideal_leave` — keys that changed owner when one
member joins (leaves) over the ideal `keys/(N+1)` (`keys/N`); `max_mean` / `min_mean` — the largest and
smallest share over the mean share; `lookup_ns` — time of one owner lookup. Members are named like real ones
(`10.0.0.<i>/<pid>/<id>`). `--original` adds the same figures for the original's ring (spec launcher-and-ring
§2.4: 65536 vnodes, node and index concatenated without a separator) as `original_*`, measured in the same
run. The floor of `lookup_ns` is printed as `md5_ns` (one md5 of a short key). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import bisect
import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable, Sequence

from alarm_access.ring.ownership import Node, owner


def member_names(count: int) -> list[str]:
    return [f"10.0.{i // 250}.{i % 250 + 1}/4242/{i:06x}" for i in range(count)]


def original_ring(names: Sequence[str]) -> Callable[[str], str]:
    """The original's `HashRing` with all weights 1 (the only way it is used)."""

    def h(text: str) -> int:
        return int(hashlib.md5(text.encode(), usedforsecurity=False).hexdigest(), 16) % 2**32

    multiple = max(65536 // len(names), 1)
    by_hash = {}
    for name in names:
        for i in range(multiple):
            by_hash[h(f"{name}{i}")] = name
    ring = sorted(by_hash)

    def lookup(key: str) -> str:
        return by_hash[ring[bisect.bisect_left(ring, h(key)) % len(ring)]]

    return lookup


def quality(lookup_for: Callable[[Sequence[str]], Callable[[str], str]], members: int, keys: list[str]
            ) -> dict[str, float]:
    names = member_names(members + 1)
    base, joined, left = (lookup_for(names[:members]), lookup_for(names), lookup_for(names[1:members]))
    started = time.perf_counter()
    before = {key: base(key) for key in keys}
    lookup_ns = (time.perf_counter() - started) / len(keys) * 1e9
    moved_join = sum(1 for key in keys if joined(key) != before[key])
    moved_leave = sum(1 for key in keys if left(key) != before[key])
    shares = Counter(before.values())
    mean = len(keys) / members
    return {
        "moved_vs_ideal_join": round(moved_join / (len(keys) / (members + 1)), 3),
        "moved_vs_ideal_leave": round(moved_leave / (len(keys) / members), 3),
        "max_mean": round(max(shares.values()) / mean, 3),
        "min_mean": round(min(shares.get(name, 0) for name in names[:members]) / mean, 3),
        "lookup_ns": round(lookup_ns),
    }


def rendezvous(names: Sequence[str]) -> Callable[[str], str]:
    nodes = [Node(name) for name in names]

    def lookup(key: str) -> str:
        found = owner(key, nodes)
        assert found is not None
        return found

    return lookup


def md5_ns(samples: int = 100_000) -> float:
    started = time.perf_counter()
    for i in range(samples):
        hashlib.md5(f"member\x00{i}".encode(), usedforsecurity=False).digest()
    return (time.perf_counter() - started) / samples * 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", default="3,10,50")
    parser.add_argument("--keys", default="10000,100000")
    parser.add_argument("--original", action="store_true", help="also measure the original's ring")
    args = parser.parse_args()
    floor = round(md5_ns())
    for members in (int(m) for m in args.members.split(",")):
        for count in (int(k) for k in args.keys.split(",")):
            keys = [str(biz) for biz in range(1, count + 1)]
            line: dict[str, object] = {"members": members, "keys": count, **quality(rendezvous, members, keys),
                                       "md5_ns": floor}
            if args.original:
                line.update({f"original_{k}": v for k, v in quality(original_ring, members, keys).items()})
            print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
