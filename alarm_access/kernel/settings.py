"""The settings sections of `AccessConfig`: one frozen dataclass per access type, parsed by
`kernel.sections.parse_section` from `ALARM_ACCESS["<SECTION>"]` (env `ALARM_ACCESS_<SECTION>_<NAME>`).

Cross-field checks live in `__post_init__`, so a section built in code is validated like one from the
environment. Defaults are the original's (spec data-access Appendix A, event-alert-incident §7).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from alarm_access.kernel.errors import ConfigError

#: environment-variable prefixes of the settings sections (`alarm_access_project.settings` collects them)
DATA_PREFIX = "ALARM_ACCESS_DATA_"
EVENT_PREFIX = "ALARM_ACCESS_EVENT_"
REAL_TIME_PREFIX = "ALARM_ACCESS_REAL_TIME_"
INCIDENT_PREFIX = "ALARM_ACCESS_INCIDENT_"
ALERT_PREFIX = "ALARM_ACCESS_ALERT_"
#: The original's "host disabled" operating states (spec data-access §3.2).
DEFAULT_DISABLED_HOST_STATES = ("备用机", "测试中", "故障中")


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
    #: --hash-ring 1: a business with more strategy groups than this is shared group by group (0: never)
    ring_split_groups: int = 500
    #: strategies whose group's pull fails on a partial TSDB answer instead of delivering it marked
    #: `is_partial` (DOUBLE_CHECK_SUM_STRATEGY_IDS, spec §3.13)
    double_check_strategy_ids: tuple[int, ...] = ()
    #: bk_data: a bucket whose samples were ingested this many seconds before the pull or later is held
    #: back, with every later one, until a later pull (BKDATA_LOCAL_TIME_THRESHOLD, spec §3.12)
    bkdata_local_time_threshold: int = 10

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
class ConsumerSettings:
    """What every Kafka-consuming access type configures the same way (its own env prefix each).

    The consumer group is `{KAFKA_GROUP_PREFIX}.access.<type>.{cluster}`. Offsets are committed after a
    batch was delivered, every `commit_every_messages` messages or `commit_every_seconds` seconds, whichever
    comes first. Bad messages go to `dlq_topic`. `fetch_wait_max_ms` is librdkafka's `fetch.wait.max.ms`:
    how long the broker may hold a fetch that has less than `fetch.min.bytes` (1) to return.
    """

    cluster: str = "default"
    batch_size: int = 1000
    poll_timeout: float = 0.5
    commit_every_messages: int = 5000
    commit_every_seconds: float = 2.0
    fetch_wait_max_ms: int = 100
    session_timeout_ms: int = 10000
    heartbeat_interval_ms: int = 3000
    join_timeout: float = 30.0
    offset_reset: str = "latest"
    dlq_topic: str = ""
    refresh_interval: int = 60
    disabled_host_states: tuple[str, ...] = DEFAULT_DISABLED_HOST_STATES
    #: the environment-variable prefix of the section, for messages
    PREFIX: ClassVar[str] = ""

    def __post_init__(self) -> None:
        if self.offset_reset not in ("earliest", "latest"):
            raise ConfigError(f"{self.PREFIX}OFFSET_RESET must be earliest or latest, got {self.offset_reset!r}")
        if not self.dlq_topic:
            raise ConfigError(f"{self.PREFIX}DLQ_TOPIC must not be empty")
        if self.fetch_wait_max_ms < 1:  # 0 is accepted by librdkafka and makes an idle consumer fetch non-stop
            raise ConfigError(f"{self.PREFIX}FETCH_WAIT_MAX_MS must be at least 1, got {self.fetch_wait_max_ms}")


@dataclass(frozen=True, slots=True)
class EventSettings(ConsumerSettings):
    """Knobs of the `event` access type, from `ALARM_ACCESS["EVENT"]` (env `ALARM_ACCESS_EVENT_<NAME>`).

    `topics` is the fallback `data_id:topic` list used on `kafka_bootstrap` when no `KafkaTopic` row exists.
    """

    topics: tuple[tuple[int, str], ...] = ()
    data_ids: tuple[int, ...] = (1000, 1100000, 1100008)
    disabled_data_ids: tuple[int, ...] = ()
    dlq_topic: str = "alarm_access_event_dlq"
    #: a broker that answers a fetch only when its wait is over (tansu) adds up to this to every event's latency;
    #: Kafka answers as soon as a byte is there, so on Kafka it only sets how often an idle consumer asks
    fetch_wait_max_ms: int = 25
    PREFIX: ClassVar[str] = EVENT_PREFIX
    max_invalid_ratio: float = 0.5
    invalid_window: int = 1000
    expire_seconds: int = 1800
    qos_enabled: bool = False
    qos_threshold: int = 3
    qos_window: int = 300
    queue_max_len: int = 1_000_000
    enable_ping: bool = True
    enable_agent: bool = True

    def __post_init__(self) -> None:
        ConsumerSettings.__post_init__(self)  # zero-argument super() does not work in slotted dataclasses
        if not 0 < self.max_invalid_ratio <= 1:
            raise ConfigError(f"{EVENT_PREFIX}MAX_INVALID_RATIO must be in (0, 1]")

    @property
    def active_data_ids(self) -> tuple[int, ...]:
        return tuple(i for i in self.data_ids if i not in self.disabled_data_ids)


@dataclass(frozen=True, slots=True)
class RealTimeSettings(ConsumerSettings):
    """Knobs of the `real_time_data` access type, from `ALARM_ACCESS["REAL_TIME"]` (env
    `ALARM_ACCESS_REAL_TIME_<NAME>`). A batch is at most `batch_size` messages (the original polled 5000)."""

    batch_size: int = 5000
    dlq_topic: str = "alarm_access_real_time_dlq"
    PREFIX: ClassVar[str] = REAL_TIME_PREFIX


@dataclass(frozen=True, slots=True)
class IncidentSettings:
    """Knobs of the `incident` access type, from `ALARM_ACCESS["INCIDENT"]` (env `ALARM_ACCESS_INCIDENT_<NAME>`;
    `broker_url` and `sync_queue` also from the original's `BK_DATA_AIOPS_INCIDENT_BROKER_URL` and
    `BK_DATA_AIOPS_INCIDENT_SYNC_QUEUE`, with the original's defaults).

    When the queue does not exist and `declare` is on, it is declared durable, quorum, with `delivery_limit`
    and a dead-letter exchange routing to `dead_letter_queue` (default `<sync_queue>.dead_letter`); a queue
    that exists is used as it is. A message is handled at most `prefetch` at a time (unacked); a store that
    is down is retried after `retry_backoff` seconds, doubling up to `retry_backoff_max`.

    With `source` `kafka` the messages come from `kafka_topic` on KAFKA_BOOTSTRAP_SERVERS instead (consumer
    group `{KAFKA_GROUP_PREFIX}.access.incident.{cluster}`, offsets committed after the store, bad messages to
    `kafka_dlq_topic`); the RabbitMQ settings are then unused.

    `api_url` (off when empty) links the store to the AIOps incident API: snapshot fetch and write-back
    (`access.incident.aiops`), `api_retries` retries per call, `api_authorization` sent as the BlueKing API
    gateway's `X-Bkapi-Authorization` header."""

    source: str = "rabbitmq"
    kafka_topic: str = ""
    kafka_dlq_topic: str = "alarm_access_incident_dlq"
    kafka_offset_reset: str = "earliest"
    api_url: str = ""
    api_retries: int = 2
    api_authorization: str = field(default="", repr=False)
    broker_url: str = "amqp://127.0.0.1:5672/aiops_incident"
    sync_queue: str = "aiops_incident"
    declare: bool = True
    delivery_limit: int = 5
    dead_letter_queue: str = ""
    prefetch: int = 50
    heartbeat: int = 30
    poll_timeout: float = 0.5
    batch_size: int = 100
    retry_backoff: float = 0.5
    retry_backoff_max: float = 10.0

    def __post_init__(self) -> None:
        if self.source not in ("rabbitmq", "kafka"):
            raise ConfigError(f"{INCIDENT_PREFIX}SOURCE must be rabbitmq or kafka, got {self.source!r}")
        if self.source == "kafka" and not (self.kafka_topic and self.kafka_dlq_topic):
            raise ConfigError(f"{INCIDENT_PREFIX}KAFKA_TOPIC and KAFKA_DLQ_TOPIC must be set with SOURCE=kafka")
        if self.api_url and not self.api_url.startswith(("http://", "https://")):
            raise ConfigError(f"{INCIDENT_PREFIX}API_URL must be an http:// or https:// URL")
        if self.api_retries < 0:
            raise ConfigError(f"{INCIDENT_PREFIX}API_RETRIES must be >= 0")
        if self.kafka_offset_reset not in ("earliest", "latest"):
            raise ConfigError(f"{INCIDENT_PREFIX}KAFKA_OFFSET_RESET must be earliest or latest")
        if not self.broker_url.startswith(("amqp://", "amqps://", "pyamqp://")):
            raise ConfigError(f"{INCIDENT_PREFIX}BROKER_URL must be an amqp:// or amqps:// URL")
        if not self.sync_queue:
            raise ConfigError(f"{INCIDENT_PREFIX}SYNC_QUEUE must not be empty")
        if self.prefetch <= 0 or self.batch_size <= 0 or self.delivery_limit <= 0:
            raise ConfigError(f"{INCIDENT_PREFIX}PREFETCH, BATCH_SIZE and DELIVERY_LIMIT must be > 0")
        if self.retry_backoff <= 0 or self.retry_backoff_max < self.retry_backoff:
            raise ConfigError(f"{INCIDENT_PREFIX}RETRY_BACKOFF must be > 0 and <= RETRY_BACKOFF_MAX")

    @property
    def dead_letter_name(self) -> str:
        return self.dead_letter_queue or f"{self.sync_queue}.dead_letter"


@dataclass(frozen=True, slots=True)
class AlertSettings(ConsumerSettings):
    """Knobs of the `alert` access type, from `ALARM_ACCESS["ALERT"]` (env `ALARM_ACCESS_ALERT_<NAME>`).

    The receiver listens on `addr`:`port` (`POST /v1/alerts/{source}/{integration}`); `integrations` is a JSON
    list (`access.alert.integrations`, parsed when the service is built); events go to `topic` on
    KAFKA_BOOTSTRAP_SERVERS, rejected bodies to `dlq_topic`; `produce_timeout` bounds every produce (a request
    not acknowledged within it answers 503). Diff states live `state_ttl` seconds in Redis.

    Raw payloads are also read from `kafka_sources` (`integration:topic` entries, on KAFKA_BOOTSTRAP_SERVERS,
    consumer group `{KAFKA_GROUP_PREFIX}.access.alert.{cluster}`, the `ConsumerSettings` knobs) and
    `redis_sources` (`integration:list key` entries, on REDIS_URL): `access.alert.stream`."""

    dlq_topic: str = "alarm_access_alert_dlq"
    offset_reset: str = "earliest"
    PREFIX: ClassVar[str] = ALERT_PREFIX
    kafka_sources: tuple[tuple[str, str], ...] = ()
    redis_sources: tuple[tuple[str, str], ...] = ()
    port: int = 10206
    addr: str = "0.0.0.0"
    integrations: str = ""
    topic: str = "alarm_access_alert_events"
    max_body_bytes: int = 512 * 1024
    produce_timeout: float = 5.0
    state_ttl: int = 7 * 86400
    signature_window: int = 300
    #: requests handled at once; more answer 503 (Alertmanager and Grafana do not retry a 429)
    max_in_flight: int = 64
    #: seconds between reloads of the CMDB hosts events are enriched with (by ip); 0: no enrichment
    host_refresh: int = 60

    def __post_init__(self) -> None:
        ConsumerSettings.__post_init__(self)  # zero-argument super() does not work in slotted dataclasses
        if not 0 < self.port <= 65535:
            raise ConfigError(f"{ALERT_PREFIX}PORT must be a port (1-65535)")
        if not self.topic or not self.dlq_topic:
            raise ConfigError(f"{ALERT_PREFIX}TOPIC and {ALERT_PREFIX}DLQ_TOPIC must not be empty")
        if min(self.max_body_bytes, self.produce_timeout, self.state_ttl, self.max_in_flight) <= 0:
            raise ConfigError(f"{ALERT_PREFIX}MAX_BODY_BYTES, PRODUCE_TIMEOUT, STATE_TTL and MAX_IN_FLIGHT must be > 0")


def _source(entry: str, setting: str) -> tuple[str, str]:
    """`"dsl:dtl"` -> `(dsl, dtl)`, or `ConfigError` naming the entry."""
    dsl, sep, dtl = entry.partition(":")
    if not sep or not dsl.strip() or not dtl.strip():
        raise ConfigError(f"{setting}: {entry!r} is not data_source_label:data_type_label")
    return dsl.strip(), dtl.strip()
