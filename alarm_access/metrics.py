"""Every Prometheus metric of alarm-access, declared once, on one registry.

Names of metrics the original emitted are kept (spec data-access §6) so existing dashboards keep working;
new ones are prefixed `bkmonitor_access_`. Label values are bounded: access type, reason, source label,
status — never a strategy id or record id, so the series count stays small.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

_LATENCY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

# --- process-wide ---------------------------------------------------------------------------------------
CYCLES = Counter(
    "bkmonitor_access_cycles", "Service cycles run, by outcome.",
    ["access_type", "status"], registry=REGISTRY,
)
UP = Gauge("bkmonitor_access_up", "1 while the access service is running.", ["access_type"], registry=REGISTRY)
READY = Gauge(
    "bkmonitor_access_ready", "1 when the last cycle succeeded and dependencies answered.",
    ["access_type"], registry=REGISTRY,
)
RECORDS_DROPPED = Counter(
    "bkmonitor_access_records_dropped", "Points/records/messages dropped, by reason.",
    ["access_type", "reason"], registry=REGISTRY,
)
BACKPRESSURE = Counter(
    "bkmonitor_access_backpressure", "Pushes refused because a destination queue was full.",
    ["access_type"], registry=REGISTRY,
)

# --- data access (names of the original kept where they exist) ---------------------------------------------
DATA_PROCESS_TIME = Histogram(
    "bkmonitor_access_data_process_time", "Time of one group pull (query, pipeline, push).",
    ["strategy_group_key"], buckets=_LATENCY_BUCKETS, registry=REGISTRY,
)
DATA_PROCESS_COUNT = Counter(
    "bkmonitor_access_data_process_count", "Group pulls, by status and exception class.",
    ["strategy_group_key", "status", "exception"], registry=REGISTRY,
)
DATA_PULL_COUNT = Counter(
    "bkmonitor_access_data_process_pull_data_count", "Records created from pulled points.",
    ["strategy_group_key"], registry=REGISTRY,
)
PUSH_COUNT = Counter(
    "bkmonitor_access_process_push_data_count", "Records pushed downstream, by queue type (data|nodata).",
    ["strategy_id", "type"], registry=REGISTRY,
)
SOURCE_QUERY_TIME = Histogram(
    "bkmonitor_datasource_query_time", "Time-series source query time.",
    ["data_source_label", "data_type_label", "api"], buckets=_LATENCY_BUCKETS, registry=REGISTRY,
)
SOURCE_ERRORS = Counter(
    "bkmonitor_access_source_errors", "Failed source queries (never counted as 'no data').",
    ["data_source_label", "data_type_label"], registry=REGISTRY,
)
ITERATIONS_MISSED = Counter(
    "bkmonitor_access_iterations_missed", "Group slots that were skipped or ran late, by reason.",
    ["reason"], registry=REGISTRY,
)
SLOT_LATENESS = Histogram(
    "bkmonitor_access_slot_lateness_seconds", "Delay between a group's slot start and its pull start.",
    buckets=_LATENCY_BUCKETS, registry=REGISTRY,
)
GROUPS = Gauge("bkmonitor_access_strategy_groups", "Strategy groups this process schedules.", registry=REGISTRY)

# --- event access (names of the original kept where they exist, spec event-alert-incident §5) ----------------
EVENT_MESSAGES = Counter(
    "bkmonitor_access_event_messages", "Kafka event messages, by outcome (parsed|ignored|invalid).",
    ["status"], registry=REGISTRY,
)
EVENT_PULL_COUNT = Counter(
    "bkmonitor_access_event_process_pull_data_count", "Flat event records parsed from messages.",
    ["data_id"], registry=REGISTRY,
)
EVENT_PROCESS_TIME = Histogram(
    "bkmonitor_access_event_process_time", "Time to process and push one consumed batch.",
    ["data_id"], buckets=_LATENCY_BUCKETS, registry=REGISTRY,
)
EVENT_PROCESS_COUNT = Counter(
    "bkmonitor_access_event_process_count", "Consumed batches, by status and exception class.",
    ["data_id", "status", "exception"], registry=REGISTRY,
)
EVENT_DEAD_LETTERS = Counter(
    "bkmonitor_access_event_dead_letters", "Invalid event messages written to the dead-letter topic, by reason.",
    ["reason"], registry=REGISTRY,
)
EVENT_LATENCY = Histogram(
    "bkmonitor_access_event_latency_seconds", "Event time to anomaly pushed.",
    buckets=_LATENCY_BUCKETS, registry=REGISTRY,
)

# --- data access at scale: dispatch and protections (issue #4) ----------------------------------------------
DATA_PULLS_SKIPPED = Counter(
    "bkmonitor_access_data_pulls_skipped",
    "Pull jobs not run or not delivered, by reason (stale_slot, stale_epoch, unknown_group, locked, fenced).",
    ["reason"], registry=REGISTRY,
)
TOKEN_FORBIDDEN = Counter(
    "bkmonitor_access_token_forbidden_count", "Pulls refused because the group's query-time bucket was empty.",
    registry=REGISTRY,
)
CIRCUIT_BROKEN = Counter(
    "bkmonitor_access_circuit_breaking", "Groups (stage=group) or items (stage=item) cut by a circuit-breaking rule.",
    ["stage", "data_source_label", "data_type_label"], registry=REGISTRY,
)
SOURCE_LIMITED = Counter(
    "bkmonitor_access_source_limited", "Pulls refused because every concurrent slot of their source was taken.",
    ["data_source_label", "data_type_label"], registry=REGISTRY,
)
TASKS_PUBLISHED = Counter(
    "bkmonitor_access_celery_published", "Celery tasks published by the scheduler, by queue and status.",
    ["queue", "status"], registry=REGISTRY,
)
BATCH_SUBTASKS = Counter(
    "bkmonitor_access_data_batch_subtasks", "Batch sub-tasks of split pulls, by status (published, done, missing).",
    ["status"], registry=REGISTRY,
)
PROCESS_OVERFLOW = Counter(
    "bkmonitor_process_overflow", "Points of pulls larger than the batch threshold.", ["module"], registry=REGISTRY,
)
DETECT_PROCESS_TIME = Histogram(
    "bkmonitor_detect_process_time", "Time of inline static-threshold detection of one group.",
    ["strategy_id"], buckets=_LATENCY_BUCKETS, registry=REGISTRY,
)
INLINE_ANOMALIES = Counter(
    "bkmonitor_access_inline_anomalies", "Anomalies written by inline static-threshold detection.", registry=REGISTRY,
)
