"""Redis key names and TTLs of the `data` access hand-off (spec data-access §4.1-§4.2).

Every key is `f"{prefix}.{template}"`; the default prefix is the original deployment's `KEY_PREFIX`
(`bkmonitorv3.ee`), so an existing detect/nodata service keeps reading the same keys.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PREFIX = "bkmonitorv3.ee"

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
    prefix: str = DEFAULT_PREFIX

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
