"""`AccessConfig`: the frozen, validated configuration, built once at the entry point.

`AccessConfig.build(raw_settings, options)` is the only place that interprets `settings.ALARM_ACCESS` and the
command-line options; everything below the entry point receives the resulting object. Invalid values raise
`ConfigError` with a one-line message naming the setting.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alarm_access.kernel.errors import ConfigError
from alarm_access.kernel.sections import parse_section


class AccessType(enum.StrEnum):
    DATA = "data"
    REAL_TIME_DATA = "real_time_data"
    EVENT = "event"
    ALERT = "alert"
    INCIDENT = "incident"


class HandlerType(enum.StrEnum):
    PROCESS = "process"
    CELERY = "celery"


#: Prefix of every Redis key (the original's `KEY_PREFIX`), unless `ALARM_ACCESS_KEY_PREFIX` says otherwise.
DEFAULT_KEY_PREFIX = "bkmonitorv3.ee"
#: The original's "host disabled" operating states (spec data-access §3.2).
DEFAULT_DISABLED_HOST_STATES = ("备用机", "测试中", "故障中")
#: environment-variable prefixes of the settings sections (`alarm_access_project.settings` collects them)
DATA_PREFIX = "ALARM_ACCESS_DATA_"
EVENT_PREFIX = "ALARM_ACCESS_EVENT_"


@dataclass(frozen=True, slots=True)
class DataSettings:
    """Knobs of the `data` access type (spec data-access Appendix A; defaults are the original's)."""

    time_delay: int = 10
    overlap_intervals: int = 1
    max_lookback: int = 1800
    max_time_points: int = 10
    queue_max_len: int = 5_000_000
    disabled_host_states: tuple[str, ...] = DEFAULT_DISABLED_HOST_STATES
    refresh_interval: int = 60
    # --- scale and protections (env ALARM_ACCESS_DATA_<NAME>) ---
    #: evaluate static thresholds in access when every item of a group is one (ACCESS_DETECT_MERGE_ENABLED)
    inline_threshold: bool = True
    #: when non-empty, only these strategies are detected inline (ACCESS_DETECT_MERGE_STRATEGY_IDS)
    inline_strategy_ids: tuple[int, ...] = ()
    #: seconds a group lock lives; a pull that outlives it is fenced out at delivery
    lock_ttl: int = 180
    #: query seconds per group per 10 minutes (ACCESS_TIME_PER_WINDOW)
    token_budget: int = 30
    #: concurrent pulls per (data_source_label, data_type_label) across all workers; 0 = unlimited
    source_concurrency: int = 4
    #: "dsl:dtl" sources whose pulls go to the QoS queue (QOS_DATASOURCE_LABELS)
    qos_sources: tuple[str, ...] = ()
    #: split a pull of more points than this into batch sub-tasks (-H celery); 0 = never
    batch_threshold: int = 0
    batch_size: int = 50_000
    #: seconds a batch round may take (its lock and payloads live this long; at most 5 dedupe intervals)
    batch_wait: int = 300
    #: Redis-broker visibility timeout: an unacknowledged task is redelivered after it
    celery_visibility_timeout: int = 3600
    #: "dsl:dtl=url" Prometheus-compatible query APIs of single sources (others use TSDB_URL)
    source_urls: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        """Cross-field checks; `qos_sources` and `source_urls` parse here, once (`ConfigError` naming an entry)."""
        _ = self.qos_source_labels, self.source_url_map
        if self.lock_ttl <= 0 or self.batch_size <= 0 or self.token_budget <= 0:
            raise ConfigError(f"{DATA_PREFIX}LOCK_TTL, {DATA_PREFIX}BATCH_SIZE and {DATA_PREFIX}TOKEN_BUDGET "
                              "must be > 0")

    @property
    def qos_source_labels(self) -> frozenset[tuple[str, str]]:
        """`qos_sources` as `(data_source_label, data_type_label)` pairs."""
        return frozenset(_source(entry, f"{DATA_PREFIX}QOS_SOURCES") for entry in self.qos_sources)

    @property
    def source_url_map(self) -> dict[tuple[str, str], str]:
        """`source_urls` as `(data_source_label, data_type_label) -> query API URL`."""
        setting = f"{DATA_PREFIX}SOURCE_URLS"
        urls: dict[tuple[str, str], str] = {}
        for entry in self.source_urls:
            source, sep, url = entry.partition("=")
            if not sep or not url.strip().startswith(("http://", "https://")):
                raise ConfigError(f"{setting}: {entry!r} is not data_source_label:data_type_label=http(s)://...")
            urls[_source(source, setting)] = url.strip()
        return urls


@dataclass(frozen=True, slots=True)
class EventSettings:
    """Knobs of the `event` access type, from `ALARM_ACCESS["EVENT"]` (env `ALARM_ACCESS_EVENT_<NAME>`).

    `topics` is the fallback `data_id:topic` list used on `kafka_bootstrap` when no `KafkaTopic` row exists.
    Offsets are committed after the anomalies of a batch are pushed, every `commit_every_messages` messages
    or `commit_every_seconds` seconds, whichever comes first.
    """

    topics: tuple[tuple[int, str], ...] = ()
    data_ids: tuple[int, ...] = (1000, 1100000, 1100008)
    disabled_data_ids: tuple[int, ...] = ()
    cluster: str = "default"
    batch_size: int = 1000
    poll_timeout: float = 0.5
    commit_every_messages: int = 5000
    commit_every_seconds: float = 2.0
    session_timeout_ms: int = 10000
    heartbeat_interval_ms: int = 3000
    join_timeout: float = 30.0
    offset_reset: str = "latest"
    dlq_topic: str = "alarm_access_event_dlq"
    max_invalid_ratio: float = 0.5
    invalid_window: int = 1000
    expire_seconds: int = 1800
    qos_enabled: bool = False
    qos_threshold: int = 3
    qos_window: int = 300
    queue_max_len: int = 1_000_000
    refresh_interval: int = 60
    enable_ping: bool = True
    enable_agent: bool = True
    disabled_host_states: tuple[str, ...] = DEFAULT_DISABLED_HOST_STATES

    def __post_init__(self) -> None:
        if self.offset_reset not in ("earliest", "latest"):
            raise ConfigError(f"{EVENT_PREFIX}OFFSET_RESET must be earliest or latest, got {self.offset_reset!r}")
        if not 0 < self.max_invalid_ratio <= 1:
            raise ConfigError(f"{EVENT_PREFIX}MAX_INVALID_RATIO must be in (0, 1]")

    @property
    def active_data_ids(self) -> tuple[int, ...]:
        return tuple(i for i in self.data_ids if i not in self.disabled_data_ids)


@dataclass(frozen=True, slots=True)
class AccessConfig:
    access_type: AccessType
    handler_type: HandlerType = HandlerType.PROCESS
    service_type: str = "access"
    hash_ring: bool = False
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
        return cls(
            access_type=access_type,
            handler_type=handler_type,
            hash_ring=hash_ring == "1",
            once=bool(options.get("once", False)),
            max_cycles=_positive_or_none(options.get("max_cycles"), "--max-cycles"),
            max_uptime=_positive_or_none(options.get("max_uptime"), "--max-uptime"),
            min_interval=_number(options.get("min_interval", 1.0), "--min-interval", minimum=0.0),
            metrics_port=_port(options.get("metrics_port") or raw.get("METRICS_PORT", 0)),
            redis_url=_redis_url(str(raw.get("REDIS_URL", ""))),
            key_prefix=_non_empty(raw.get("KEY_PREFIX", DEFAULT_KEY_PREFIX), "ALARM_ACCESS_KEY_PREFIX"),
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
    if number < minimum:
        raise ConfigError(f"{name} must be >= {minimum:g}, got {value!r}")
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


def _source(entry: str, setting: str) -> tuple[str, str]:
    """`"dsl:dtl"` -> `(dsl, dtl)`, or `ConfigError` naming the entry."""
    dsl, sep, dtl = entry.partition(":")
    if not sep or not dsl.strip() or not dtl.strip():
        raise ConfigError(f"{setting}: {entry!r} is not data_source_label:data_type_label")
    return dsl.strip(), dtl.strip()


def _positive_or_none(value: Any, name: str) -> Any:
    if value is None:
        return None
    number = _number(value, name, minimum=0.0)
    if number <= 0:
        raise ConfigError(f"{name} must be > 0, got {value!r}")
    return int(number) if float(number).is_integer() else number


def _non_empty(value: Any, name: str) -> str:
    text = str(value or "").strip()
    if not text:
        raise ConfigError(f"{name} must not be empty")
    return text
