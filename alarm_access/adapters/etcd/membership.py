"""`ring.membership.Membership` on etcd v3: one lease per member, the epoch kept by compare-and-swap.

Keys, under `{prefix}/ring/{ring}/`:

- `members/{member}`: the member's record `{"state", "ttl", "weight"}` (JSON), attached to the member's own
  lease (TTL = the member's ttl, rounded up to whole seconds — etcd's unit). A heartbeat keeps the lease
  alive and rewrites the record only when it changed (a txn comparing the stored value and lease), so a
  plain renewal writes nothing. When a lease is not renewed, etcd deletes the record itself.
- `seen`: the membership that the current epoch stands for (`{member: record}`, JSON).
- `epoch`: the epoch, an integer counter.

Why `seen`: etcd deletes an expired member silently, so nobody is told that the membership changed. Every
call therefore reads the live records, `seen` and `epoch` in one txn (one revision) and, when the live set
differs from `seen` — a new member, a changed state/weight/ttl, an expired or removed member — writes
`seen = live` and `epoch + 1` in a txn that succeeds only if `epoch` still holds the value it read (a
create-revision-0 compare when it does not exist yet). A loser re-reads in the same txn and finds either
the winner's epoch (nothing left to do) or a newer difference (bumps again). `epoch` and `seen` change only
together, so an epoch number stands for exactly one membership: every member that returns epoch N returns
the same members, states and weights, and the epoch moves exactly on membership changes (two members that
notice the same expiry bump it once). The view returned is the live set of the read that matched `seen` or
the one just written as `seen`.

`lease_age` is `granted TTL - remaining TTL` of the member's lease (one `LeaseTimeToLive` per member and
call): whole seconds, rounded down, because etcd reports whole seconds.

What etcd adds to the contract: a lease never lives less than etcd's minimum TTL (`ceil(1.5 * election
timeout)`, 2 s with the default 1 s; one second at least) and an expired lease is revoked by the leader's
expiry loop, so a dead member can outlive its TTL by up to ~0.5 s; after a leader change etcd renews every
lease once, so a dead member may linger up to one more TTL. `epoch` and `seen` carry no lease (two small
keys per ring, kept for good, so an epoch never goes back). Every call is bounded by `timeout` (each HTTP
request gets what is left of it) and raises `SourceUnavailable` on any failure. One instance serialises its
calls (a lock): share it between the members of one process, as the tests do.
"""

from __future__ import annotations

import base64
import json
import math
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from etcd3gw.client import Etcd3Client
from etcd3gw.exceptions import Etcd3Exception

from alarm_access.kernel.errors import ConfigError, SourceUnavailable
from alarm_access.ring.membership import MemberInfo, MemberState, RingView

#: compare-and-swap rounds on `epoch` per call before giving up (each round means another member bumped it)
SETTLE_ATTEMPTS = 8

_Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class _Lease:
    id: str
    ttl: int


class EtcdMembership:
    """The leases of ring `ring` (`{access type}.{cluster}`) under `prefix`, on the etcd at `endpoint_url`
    (`http://host:port`, the client URL; its v3 JSON gateway answers under `/v3/`)."""

    def __init__(self, endpoint_url: str, prefix: str, ring: str, timeout: float) -> None:
        parts = urlsplit(endpoint_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"etcd URL must be http(s)://host:port, got {endpoint_url!r}")
        try:
            port = parts.port or 2379
        except ValueError:
            raise ConfigError(f"etcd URL has an invalid port: {endpoint_url!r}") from None
        self._client = Etcd3Client(host=parts.hostname, port=port, protocol=parts.scheme, timeout=timeout,
                                   api_path="/v3/")
        self._timeout = timeout
        root = f"{prefix}/ring/{ring}"
        self._root = root
        self._members = f"{root}/members/"
        self._epoch = f"{root}/epoch"
        self._seen = f"{root}/seen"
        self._leases: dict[str, _Lease] = {}
        self._lock = threading.Lock()

    def heartbeat(self, member: str, state: MemberState, weight: float, ttl: float) -> RingView:
        record = json.dumps({"state": state.value, "ttl": float(ttl), "weight": float(weight)}, sort_keys=True)
        lease_ttl = max(1, math.ceil(ttl))
        key = _b64(self._members + member)
        with self._lock, self._call(f"ring heartbeat {self._root}") as call:
            lost = False
            for _ in range(2):
                lease, stale, expired = self._renew(call, member, lease_ttl)
                lost = lost or expired
                try:
                    reply = call.txn(
                        [{"key": key, "result": "EQUAL", "target": "VALUE", "value": _b64(record)},
                         {"key": key, "result": "EQUAL", "target": "LEASE", "lease": lease.id}],
                        self._reads(),
                        [{"request_put": {"key": key, "value": _b64(record), "lease": lease.id}}, *self._reads()])
                except Etcd3Exception as exc:
                    if not _lease_gone(exc):
                        raise
                    self._leases.pop(member, None)  # expired between keep-alive and put: take a new one
                    lost = True
                    continue
                if stale is not None:  # the ttl changed: the record is on the new lease now
                    call.revoke(stale.id)
                # an own lease that expired is a change (the member was gone) even if nobody noticed it
                return self._settle(call, _ranges(reply)[-3:], changed=lost)
            raise SourceUnavailable(f"etcd ring heartbeat {self._root}: lease {member!r} expired twice in a row")

    def leave(self, member: str) -> None:
        key = _b64(self._members + member)
        with self._lock, self._call(f"ring leave {self._root}") as call:
            held = self._leases.pop(member, None)
            reply = call.txn([], [{"request_delete_range": {"key": key, "prev_kv": True}}, *self._reads()], [])
            deleted = reply["responses"][0].get("response_delete_range", {}).get("prev_kvs", [])
            leases = {kv["lease"] for kv in deleted if kv.get("lease")} | ({held.id} if held else set())
            for lease_id in leases:  # one lease per member: nothing else is attached to it
                call.revoke(lease_id)
            self._settle(call, _ranges(reply)[-3:], ages=False)

    def view(self) -> RingView:
        with self._lock, self._call(f"ring view {self._root}") as call:
            return self._settle(call, _ranges(call.txn([], self._reads(), [])))

    def close(self) -> None:
        self._client.session.close()

    # -- internals -----------------------------------------------------------------------------------------

    @contextmanager
    def _call(self, operation: str) -> Iterator[_Call]:
        """One port call: a deadline for all its requests; every failure re-raised as `SourceUnavailable`."""
        try:
            yield _Call(self._client, time.monotonic() + self._timeout, operation)
        except Etcd3Exception as exc:
            raise SourceUnavailable(f"etcd {operation} failed: {exc} {exc.detail_text or ''}".strip()) from exc
        except (OSError, ValueError, KeyError, TypeError) as exc:  # requests' errors are OSErrors; bad JSON
            raise SourceUnavailable(f"etcd {operation} failed: {type(exc).__name__}: {exc}") from exc

    def _renew(self, call: _Call, member: str, ttl: int) -> tuple[_Lease, _Lease | None, bool]:
        """The member's live lease of `ttl` seconds (kept alive, or a new one), the lease it replaces (to
        revoke), and whether the held lease had expired."""
        held = self._leases.get(member)
        expired = False
        if held is not None and held.ttl == ttl:
            alive = call.post("/lease/keepalive", {"ID": held.id})
            if int(alive.get("result", {}).get("TTL", 0)) > 0:
                return held, None, False
            held, expired = None, True  # etcd answers only once it has revoked it: the record is gone
        granted = call.post("/lease/grant", {"TTL": ttl, "ID": 0})
        lease = _Lease(str(granted["ID"]), ttl)
        self._leases[member] = lease
        return lease, held, expired

    def _reads(self) -> list[_Json]:
        """The live records, `epoch` and `seen`: read together, they are one revision."""
        return [{"request_range": {"key": _b64(self._members), "range_end": _b64(_prefix_end(self._members))}},
                {"request_range": {"key": _b64(self._epoch)}},
                {"request_range": {"key": _b64(self._seen)}}]

    def _settle(self, call: _Call, reads: Sequence[_Json], *, ages: bool = True, changed: bool = False) -> RingView:
        """Bring `epoch`/`seen` up to the live records of `reads` (see the module docstring); the view.
        `changed`: bump the epoch even if the live records equal `seen` — unless another member bumps it
        first (a bump after the caller's write covers the change)."""
        for _ in range(SETTLE_ATTEMPTS):
            live_kvs = reads[0].get("kvs", [])
            live = {_unb64(kv["key"]).removeprefix(self._members): _unb64(kv.get("value", "")) for kv in live_kvs}
            epoch_kv, seen_kv = _first(reads[1]), _first(reads[2])
            epoch = int(_unb64(epoch_kv.get("value", ""))) if epoch_kv else 0
            seen = json.loads(_unb64(seen_kv.get("value", ""))) if seen_kv else {}
            if live == seen and not changed:
                break
            unchanged = ({"key": _b64(self._epoch), "result": "EQUAL", "target": "VALUE", "value": _b64(str(epoch))}
                         if epoch_kv else
                         {"key": _b64(self._epoch), "result": "EQUAL", "target": "CREATE", "create_revision": 0})
            snapshot = json.dumps(live, sort_keys=True)
            reply = call.txn([unchanged],
                             [{"request_put": {"key": _b64(self._epoch), "value": _b64(str(epoch + 1))}},
                              {"request_put": {"key": _b64(self._seen), "value": _b64(snapshot)}}],
                             self._reads())
            if reply.get("succeeded"):
                epoch += 1
                break
            reads, changed = _ranges(reply), False  # another member moved the epoch first: look again
        else:
            raise SourceUnavailable(f"etcd ring {self._root}: epoch still contended after {SETTLE_ATTEMPTS} rounds")
        members = []
        for kv in live_kvs:
            member = _unb64(kv["key"]).removeprefix(self._members)
            record = json.loads(live[member])
            age = call.lease_age(str(kv["lease"])) if ages and kv.get("lease") else 0.0
            members.append(MemberInfo(member, MemberState(record.get("state", "joining")),
                                      float(record.get("weight", 1.0)), age))
        return RingView(epoch, tuple(sorted(members, key=lambda m: m.id)))


class _Call:
    """The requests of one port call, each with what is left of the call's timeout."""

    def __init__(self, client: Etcd3Client, deadline: float, operation: str) -> None:
        self._client = client
        self._deadline = deadline
        self._operation = operation

    def post(self, path: str, body: Mapping[str, Any]) -> _Json:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise SourceUnavailable(f"etcd {self._operation}: timed out")
        self._client.timeout = left  # the client is used under the membership's lock only
        reply = self._client.post(self._client.get_url(path), json=body)
        if not isinstance(reply, dict):
            raise ValueError(f"reply to {path} is not an object: {reply!r}")
        return reply

    def txn(self, compare: list[_Json], success: list[_Json], failure: list[_Json]) -> _Json:
        return self.post("/kv/txn", {"compare": compare, "success": success, "failure": failure})

    def revoke(self, lease_id: str) -> None:
        """Revoke a lease (and delete what is attached to it); one that is gone already is fine."""
        try:
            self.post("/kv/lease/revoke", {"ID": lease_id})
        except Etcd3Exception as exc:
            if not _lease_gone(exc):
                raise

    def lease_age(self, lease_id: str) -> float:
        """Seconds since the lease's last keep-alive, rounded down (etcd's remaining TTL is whole seconds,
        rounded down, and absent when 0; -1 when the lease is gone)."""
        reply = self.post("/kv/lease/timetolive", {"ID": lease_id})
        granted, remaining = int(reply.get("grantedTTL", 0)), int(reply.get("TTL", 0))
        if remaining < 0:
            return float(granted)
        return float(max(0, granted - remaining - 1))


def _ranges(reply: Mapping[str, Any]) -> list[_Json]:
    """The range responses of a txn reply, in order."""
    return [item["response_range"] for item in reply.get("responses", []) if "response_range" in item]


def _first(range_reply: Mapping[str, Any]) -> _Json | None:
    kvs = range_reply.get("kvs", [])
    return dict(kvs[0]) if kvs else None


def _lease_gone(exc: Etcd3Exception) -> bool:
    return "lease not found" in (exc.detail_text or "")


def _prefix_end(prefix: str) -> str:
    """The range end of all keys starting with `prefix` (its last character plus one; '/' becomes '0')."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _unb64(text: str) -> str:
    return base64.b64decode(text).decode("utf-8")
