"""Redis key names and TTLs of the `data` access hand-off (spec data-access §4.1-§4.2).

Every key is `f"{prefix}.{template}"`; the default prefix is the original deployment's `KEY_PREFIX`
(`bkmonitorv3.ee`), so an existing detect/nodata service keeps reading the same keys.
"""

from __future__ import annotations

from dataclasses import dataclass

from alarm_access.kernel.config import DEFAULT_KEY_PREFIX

DATA_TTL_FLOOR = 1800
NODATA_TTL_FLOOR = 600
SIGNAL_TTL = 1800
PRIORITY_TTL = 600
NOISE_TTL = 86400
RUN_HEARTBEAT_TTL = 3600
CHECKPOINT_TTL = 3600
#: LPUSH at most this many records per command
PUSH_CHUNK = 10_000


def data_ttl(interval: int) -> int:
    return max(DATA_TTL_FLOOR, 5 * interval)


def nodata_ttl(interval: int) -> int:
    return max(NODATA_TTL_FLOOR, 5 * interval)


def dedupe_ttl(interval: int) -> int:
    return 10 * interval


@dataclass(frozen=True, slots=True)
class RedisKeys:
    prefix: str = DEFAULT_KEY_PREFIX

    def _key(self, template: str) -> str:
        return f"{self.prefix}.{template}"

    def duplicate(self, group_key: str, time: int) -> str:
        """Set of record ids already pushed for one group and time bucket."""
        return self._key(f"access.data.duplicate.strategy_group_{group_key}.{time}")

    def data(self, strategy_id: int, item_id: int) -> str:
        """List of JSON records for detect."""
        return self._key(f"access.data.{strategy_id}.{item_id}")

    def nodata(self, strategy_id: int, item_id: int) -> str:
        return self._key(f"access.nodata.{strategy_id}.{item_id}")

    def signal(self) -> str:
        """List of strategy ids that got new data (detect's wake-up call)."""
        return self._key("access.data.signal")

    def priority(self, priority_group_key: str) -> str:
        return self._key(f"access.data.priority.{priority_group_key}")

    def noise_reduce(self, strategy_id: int, dimensions_md5: str) -> str:
        return self._key(f"access.noise_reduce.total.{strategy_id}.{dimensions_md5}")

    def checkpoint(self, group_key: str) -> str:
        """The newest time bucket already delivered for the group (epoch seconds)."""
        return self._key(f"checkpoint.strategy_group_{group_key}")

    def run_heartbeat(self, group_key: str) -> str:
        """When the group last ran; nodata checks it to tell "no data" from "access is down"."""
        return self._key(f"access.run.strategy_group_{group_key}")

    # --- protections and scale-out of the `data` access type (issue #4) ---------------------------------

    def lock(self, group_key: str) -> str:
        """The group's pull lock; its value is the fencing token of the holder."""
        return self._key(f"access.lock.{group_key}")

    def fence(self, group_key: str) -> str:
        """Counter handing out the group's fencing tokens (INCR per lock acquisition)."""
        return self._key(f"access.lock.fence.{group_key}")

    def last_end_time(self, group_key: str) -> str:
        """The window end a bk_data group re-uses after freshness gating (the original's ACCESS_END_TIME_KEY)."""
        return self._key(f"access.data.last_end_time.group_key_{group_key}")

    def slot_done(self, group_key: str) -> str:
        """The newest schedule slot of the group whose pull was delivered."""
        return self._key(f"access.data.slot_done.strategy_group_{group_key}")

    def token(self, group_key: str) -> str:
        return self._key(f"access.data.token.strategy_group_{group_key}")

    def source_slots(self, data_source_label: str, data_type_label: str) -> str:
        return self._key(f"access.data.source_slots.{data_source_label}.{data_type_label}")

    def circuit_breaking(self) -> str:
        return self._key("cache.circuit_breaking.access.data")

    def batch(self, group_key: str, batch_ts: int, index: int) -> str:
        """Payload of one batch sub-task (zlib-compressed JSON points); `batch_ts` is the round's token."""
        return self._key(f"access.batch.{group_key}.{batch_ts}.{index}")

    def batch_result(self, group_key: str, batch_ts: int) -> str:
        """State hash of one batch round (totals, done and failed counts, the checkpoint it leads to)."""
        return self._key(f"access.batch.result.{group_key}.{batch_ts}")

    def batch_round(self, group_key: str) -> str:
        """The token of the group's newest batch round, until the round is finalised."""
        return self._key(f"access.batch.round.{group_key}")

    def anomaly_list(self, strategy_id: int, item_id: int) -> str:
        return self._key(f"detect.anomaly.list.{strategy_id}.{item_id}")

    def anomaly_signal(self) -> str:
        return self._key("detect.anomaly.signal")

    def check_result(self, strategy_id: int, item_id: int, dimensions_md5: str, level: int) -> str:
        return self._key(f"detect.result.{strategy_id}.{item_id}.{dimensions_md5}.{level}")

    def last_checkpoint(self, strategy_id: int, item_id: int) -> str:
        return self._key(f"detect.last.checkpoint.{strategy_id}.{item_id}")

    def strategy_snapshot(self, strategy_id: int, update_time: int) -> str:
        return self._key(f"cache.strategy.snapshot.{strategy_id}.{update_time}")

    # --- hash ring (new keys: the original kept its ring in Consul) ------------------------------------------
    def ring_leases(self, ring: str) -> str:
        """Sorted set: member id -> lease expiry (ms, the Redis server's clock) of ring `{access type}.{cluster}`."""
        return self._key(f"access.ring.{ring}.leases")

    def ring_members(self, ring: str) -> str:
        """Hash: member id -> `{"state", "weight", "ttl_ms"}` JSON."""
        return self._key(f"access.ring.{ring}.members")

    def ring_epoch(self, ring: str) -> str:
        """Counter: increases on every membership change of the ring."""
        return self._key(f"access.ring.{ring}.epoch")

    # --- alert access (new keys: the original's alert access did nothing) -------------------------------------
    def alert_state(self, integration: str, fingerprint: str) -> str:
        """String: the last diff state (JSON) of one alert of a group-snapshot integration, with a TTL."""
        return self._key(f"access.alert.state.{integration}.{fingerprint}")

    def alert_lease(self, integration: str, fingerprint: str) -> str:
        """String: the token of the request holding one alert's state (load, produce, save), with a short TTL."""
        return self._key(f"access.alert.lease.{integration}.{fingerprint}")
