"""`AccessConfig`: the frozen, validated configuration, built once at the entry point.

`AccessConfig.build(raw_settings, options)` is the only place that interprets `settings.ALARM_ACCESS` and the
command-line options; everything below the entry point receives the resulting object. Invalid values raise
`ConfigError` with a one-line message naming the setting.
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alarm_access.kernel.clusters import Cluster, cluster_name, parse_rules
from alarm_access.kernel.errors import ConfigError
from alarm_access.kernel.sections import parse_section
from alarm_access.kernel.settings import (
    ALERT_PREFIX,
    DATA_PREFIX,
    EVENT_PREFIX,
    INCIDENT_PREFIX,
    REAL_TIME_PREFIX,
    AlertSettings,
    DataSettings,
    EventSettings,
    IncidentSettings,
    RealTimeSettings,
)


class AccessType(enum.StrEnum):
    DATA = "data"
    REAL_TIME_DATA = "real_time_data"
    EVENT = "event"
    ALERT = "alert"
    INCIDENT = "incident"


class HandlerType(enum.StrEnum):
    PROCESS = "process"
    CELERY = "celery"


class RingStore(enum.StrEnum):
    """Where `--hash-ring 1` keeps its membership (`ALARM_ACCESS_RING_STORE`)."""

    REDIS = "redis"
    ETCD = "etcd"


#: Prefix of every Redis key (the original's `KEY_PREFIX`), unless `ALARM_ACCESS_KEY_PREFIX` says otherwise.
DEFAULT_KEY_PREFIX = "bkmonitorv3.ee"


@dataclass(frozen=True, slots=True)
class AccessConfig:
    access_type: AccessType
    handler_type: HandlerType = HandlerType.PROCESS
    service_type: str = "access"
    hash_ring: bool = False
    #: `--session-ttl`: seconds a ring member's lease lives without a heartbeat (renewed every third of it)
    session_ttl: float = 60.0
    #: `ALARM_ACCESS_RING_STORE`: the ring's membership store; `ALARM_ACCESS_ETCD_URL`: etcd's client URL
    ring_store: RingStore = RingStore.REDIS
    etcd_url: str = ""
    #: `ALARM_ACCESS_RING_WEIGHT`: this member's share relative to the others (a bigger host takes more keys)
    ring_weight: float = 1.0
    #: the deployment cluster (ALARM_BACKEND_CLUSTER_NAME / _ROUTING_RULES): which businesses are served
    cluster: Cluster = field(default_factory=Cluster)
    once: bool = False
    max_cycles: int | None = None
    max_uptime: float | None = None
    min_interval: float = 1.0
    metrics_port: int = 0
    redis_url: str = ""
    key_prefix: str = DEFAULT_KEY_PREFIX
    kafka_bootstrap: str = ""
    #: consumer groups are `{kafka_group_prefix}.access.<type>.<cluster>` (KAFKA_GROUP_PREFIX)
    kafka_group_prefix: str = "alarm-access"
    celery_broker_url: str = ""
    tsdb_url: str = ""
    network_timeout: float = 5.0
    drain_timeout: float = 20.0
    var_dir: Path = Path("var")
    data: DataSettings = field(default_factory=DataSettings)
    event: EventSettings = field(default_factory=EventSettings)
    real_time: RealTimeSettings = field(default_factory=RealTimeSettings)
    incident: IncidentSettings = field(default_factory=IncidentSettings)
    alert: AlertSettings = field(default_factory=AlertSettings)

    @classmethod
    def build(cls, raw: Mapping[str, Any], options: Mapping[str, Any]) -> AccessConfig:
        """Validate settings (`raw`, the ALARM_ACCESS dict) and parsed options into one frozen config."""
        access_type = _choice(AccessType, options.get("access_type"), "--access-type")
        handler_type = _choice(HandlerType, options.get("handler_type") or "process", "--handler-type")
        if options.get("service_type", "access") != "access":
            raise ConfigError(f"--service-type must be 'access', got {options.get('service_type')!r}")
        hash_ring = str(options.get("hash_ring", "0"))
        if hash_ring not in ("0", "1"):
            raise ConfigError(f"--hash-ring must be 0 or 1, got {hash_ring!r}")
        rules = _json_list(raw.get("CLUSTER_ROUTING_RULES"), "ALARM_BACKEND_CLUSTER_ROUTING_RULES")
        cluster = Cluster(cluster_name(str(raw.get("CLUSTER_NAME", ""))), parse_rules(rules))
        key_prefix = _non_empty(raw.get("KEY_PREFIX", DEFAULT_KEY_PREFIX), "ALARM_ACCESS_KEY_PREFIX")
        ring_store = _choice(RingStore, raw.get("RING_STORE") or "redis", "ALARM_ACCESS_RING_STORE")
        etcd_url = str(raw.get("ETCD_URL", ""))
        if ring_store == RingStore.ETCD and not etcd_url.startswith(("http://", "https://")):
            raise ConfigError("ALARM_ACCESS_ETCD_URL must be http(s)://host:port with ALARM_ACCESS_RING_STORE=etcd, "
                              f"got {etcd_url!r}")
        return cls(
            access_type=access_type,
            handler_type=handler_type,
            hash_ring=hash_ring == "1",
            session_ttl=_number(options.get("session_ttl", 60), "--session-ttl", minimum=1.0),
            ring_store=ring_store,
            etcd_url=etcd_url,
            ring_weight=_number(raw.get("RING_WEIGHT", 1), "ALARM_ACCESS_RING_WEIGHT", minimum=0.01),
            cluster=cluster,
            once=bool(options.get("once", False)),
            max_cycles=_positive_or_none(options.get("max_cycles"), "--max-cycles"),
            max_uptime=_positive_or_none(options.get("max_uptime"), "--max-uptime"),
            min_interval=_number(options.get("min_interval", 1.0), "--min-interval", minimum=0.0),
            metrics_port=_port(options.get("metrics_port") or raw.get("METRICS_PORT", 0)),
            redis_url=_redis_url(str(raw.get("REDIS_URL", ""))),
            # a non-default cluster prefixes its keys with its name, as the original (spec launcher-and-ring §2.10)
            key_prefix=key_prefix if cluster.is_default else f"{key_prefix}.{cluster.name}",
            kafka_bootstrap=str(raw.get("KAFKA_BOOTSTRAP", "")),
            kafka_group_prefix=_non_empty(raw.get("KAFKA_GROUP_PREFIX", "alarm-access"), "KAFKA_GROUP_PREFIX"),
            celery_broker_url=str(raw.get("CELERY_BROKER_URL", "")),
            tsdb_url=str(raw.get("TSDB_URL", "")),
            network_timeout=_number(raw.get("NETWORK_TIMEOUT", 5), "ALARM_ACCESS_NETWORK_TIMEOUT", 0.1),
            drain_timeout=_number(raw.get("DRAIN_TIMEOUT", 20), "ALARM_ACCESS_DRAIN_TIMEOUT", 0.0),
            var_dir=Path(str(raw.get("VAR_DIR", "var"))),
            data=parse_section(DataSettings, raw.get("DATA", {}), DATA_PREFIX),
            event=parse_section(EventSettings, raw.get("EVENT", {}), EVENT_PREFIX,
                                aliases={"DISABLE_DATA_IDS": "disabled_data_ids"}),
            real_time=parse_section(RealTimeSettings, raw.get("REAL_TIME", {}), REAL_TIME_PREFIX),
            incident=parse_section(IncidentSettings, raw.get("INCIDENT", {}), INCIDENT_PREFIX),
            alert=parse_section(AlertSettings, raw.get("ALERT", {}), ALERT_PREFIX),
        )


def _choice(kind: type[enum.StrEnum], value: Any, name: str) -> Any:
    if value is None:
        raise ConfigError(f"{name} is required (one of {', '.join(m.value for m in kind)})")
    try:
        return kind(value)
    except ValueError:
        raise ConfigError(
            f"{name} must be one of {', '.join(m.value for m in kind)}, got {value!r}"
        ) from None


def _number(value: Any, name: str, minimum: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number) or number < minimum:
        raise ConfigError(f"{name} must be a finite number >= {minimum:g}, got {value!r}")
    return number


def _redis_url(url: str) -> str:
    """`REDIS_URL` as redis-py accepts it (empty: the embedded server), else `ConfigError` at start — not a
    failure of every pull later."""
    if url and not url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"REDIS_URL must start with redis://, rediss:// or unix://, got {url!r}")
    return url


def _port(value: Any) -> int:
    number = _number(value, "--metrics-port / ALARM_ACCESS_METRICS_PORT", minimum=0.0)
    if number > 65535 or not number.is_integer():
        raise ConfigError(f"--metrics-port / ALARM_ACCESS_METRICS_PORT must be a port (0-65535), got {value!r}")
    return int(number)


def _positive_or_none(value: Any, name: str) -> Any:
    if value is None:
        return None
    number = _number(value, name, minimum=0.0)
    if number <= 0:
        raise ConfigError(f"{name} must be > 0, got {value!r}")
    return int(number) if float(number).is_integer() else number


def _json_list(value: Any, name: str) -> list[Any]:
    if value in (None, ""):
        return []
    try:
        parsed = json.loads(value) if isinstance(value, str) else value
    except ValueError as exc:
        raise ConfigError(f"{name} is not JSON: {exc}") from None
    if not isinstance(parsed, list) or not all(isinstance(rule, dict) for rule in parsed):
        raise ConfigError(f"{name} must be a JSON list of rule objects")
    return parsed


def _non_empty(value: Any, name: str) -> str:
    text = str(value or "").strip()
    if not text:
        raise ConfigError(f"{name} must not be empty")
    return text
