"""Every Prometheus metric of alarm-access, declared once, on one registry (the table: docs/metrics.md).

Operator conventions: one prefix `alarm_access_`, base units (`_seconds`, `_bytes`), counters exposed as
`..._total` (prometheus_client appends `_total` to a Counter's name), time histograms ending in `_seconds`.
Label values are bounded: access type, status, reason, source label, exception class, queue — never a
strategy id or record id, and never a label that always holds the same value (the original's
`strategy_group_key="__total__"` / `strategy_id="__total__"` / `data_id="__total__"` are gone). docs/metrics.md
maps each metric to the BlueKing Monitor metric it replaces.

The process, platform and GC collectors are registered too (`process_cpu_seconds_total`,
`process_resident_memory_bytes`, `python_info`, `python_gc_*`). In a prefork Celery worker the metrics are
kept in prometheus_client's multiprocess files instead and served by the worker's main process (`tasks`);
every Gauge therefore names its `multiprocess_mode`.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)

REGISTRY = CollectorRegistry(auto_describe=True)

_LATENCY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


def add_runtime_collectors(registry: CollectorRegistry) -> None:
    """Register the process (`process_*`), platform (`python_info`) and GC (`python_gc_*`) collectors."""
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)


add_runtime_collectors(REGISTRY)

# --- process-wide ---------------------------------------------------------------------------------------
CYCLES = Counter(
    "alarm_access_cycles", "Service cycles run, by outcome.",
    ["access_type", "status"], registry=REGISTRY,
)
UP = Gauge(
    "alarm_access_up", "1 while the access service is running.",
    ["access_type"], multiprocess_mode="livemax", registry=REGISTRY,
)
READY = Gauge(
    "alarm_access_ready", "1 when the last cycle succeeded and dependencies answered.",
    ["access_type"], multiprocess_mode="livemin", registry=REGISTRY,
)
RECORDS_DROPPED = Counter(
    "alarm_access_records_dropped", "Points/records/messages dropped, by reason.",
    ["access_type", "reason"], registry=REGISTRY,
)
BACKPRESSURE = Counter(
    "alarm_access_backpressure", "Pushes refused because a destination queue was full.",
    ["access_type"], registry=REGISTRY,
)
PUSH_COUNT = Counter(
    "alarm_access_records_pushed", "Records pushed downstream (detect queues, anomaly lists), by access type.",
    ["access_type"], registry=REGISTRY,
)

# --- data access ---------------------------------------------------------------------------------------------
DATA_PROCESS_TIME = Histogram(
    "alarm_access_data_pull_duration_seconds", "Time of one group pull (query, pipeline, push).",
    buckets=_LATENCY_BUCKETS, registry=REGISTRY,
)
DATA_PROCESS_COUNT = Counter(
    "alarm_access_data_pulls", "Group pulls (a split pull once, when its round is finalised), by status and "
    "exception class.",
    ["status", "exception"], registry=REGISTRY,
)
DATA_PULL_COUNT = Counter(
    "alarm_access_data_records_pulled", "Records created from pulled points.", registry=REGISTRY,
)
SOURCE_QUERY_TIME = Histogram(
    "alarm_access_source_query_duration_seconds", "Time-series source query (query_range) time.",
    ["data_source_label", "data_type_label"], buckets=_LATENCY_BUCKETS, registry=REGISTRY,
)
SOURCE_ERRORS = Counter(
    "alarm_access_source_errors", "Failed source queries (never counted as 'no data').",
    ["data_source_label", "data_type_label"], registry=REGISTRY,
)
ITERATIONS_MISSED = Counter(
    "alarm_access_data_iterations_missed", "Group slots that were skipped or ran late, by reason.",
    ["reason"], registry=REGISTRY,
)
SLOT_LATENESS = Histogram(
    "alarm_access_data_slot_lateness_seconds", "Delay between a group's slot start and its pull start.",
    buckets=_LATENCY_BUCKETS, registry=REGISTRY,
)
GROUPS = Gauge(
    "alarm_access_data_strategy_groups", "Strategy groups this process schedules.",
    multiprocess_mode="livesum", registry=REGISTRY,
)

# --- event access --------------------------------------------------------------------------------------------
EVENT_MESSAGES = Counter(
    "alarm_access_event_messages", "Kafka event messages, by outcome (parsed|ignored|invalid).",
    ["status"], registry=REGISTRY,
)
EVENT_PULL_COUNT = Counter(
    "alarm_access_event_records_parsed", "Flat event records parsed from messages, by data id.",
    ["data_id"], registry=REGISTRY,
)
EVENT_PROCESS_TIME = Histogram(
    "alarm_access_event_batch_duration_seconds", "Time to process and push one consumed batch.",
    buckets=_LATENCY_BUCKETS, registry=REGISTRY,
)
STREAM_MESSAGES = Counter(
    "alarm_access_stream_messages", "Consumed messages of the Kafka-based access types, by outcome "
    "(real_time_data: routed, unrouted — no real-time strategy of its business —, invalid).",
    ["access_type", "status"], registry=REGISTRY,
)
STREAM_BATCH_TIME = Histogram(
    "alarm_access_stream_batch_duration_seconds", "Time to process and deliver one consumed batch.",
    ["access_type"], buckets=_LATENCY_BUCKETS, registry=REGISTRY,
)
STREAM_LAG = Gauge(
    "alarm_access_stream_consumer_lag_messages", "Messages not yet committed per assigned partition (the fetch's "
    "high watermark minus the committed offset), as this consumer sees it.",
    ["access_type", "topic", "partition"], multiprocess_mode="livemax", registry=REGISTRY,
)
STREAM_REBALANCES = Counter(
    "alarm_access_stream_rebalances", "Partition assignment changes seen by the consumers, by kind "
    "(assigned, revoked, lost).",
    ["access_type", "kind"], registry=REGISTRY,
)
STREAM_BATCHES = Counter(
    "alarm_access_stream_batches", "Consumed batches of the Kafka-based access types, by status and exception class.",
    ["access_type", "status", "exception"], registry=REGISTRY,
)
EVENT_DEAD_LETTERS = Counter(
    "alarm_access_event_dead_letters", "Invalid event messages written to the dead-letter topic, by reason.",
    ["reason"], registry=REGISTRY,
)
EVENT_LATENCY = Histogram(
    "alarm_access_event_latency_seconds", "Event time to anomaly pushed.",
    buckets=_LATENCY_BUCKETS, registry=REGISTRY,
)


# --- data access at scale: dispatch and protections (issue #4) ----------------------------------------------
DATA_PULLS_SKIPPED = Counter(
    "alarm_access_data_pulls_skipped",
    "Pull jobs not run or not delivered, by reason (stale_slot, stale_epoch, unknown_group, locked, fenced, "
    "bad_payload).",
    ["reason"], registry=REGISTRY,
)
TOKEN_FORBIDDEN = Counter(
    "alarm_access_data_token_forbidden", "Pulls refused because the group's query-time bucket was empty.",
    registry=REGISTRY,
)
CIRCUIT_BROKEN = Counter(
    "alarm_access_data_circuit_broken",
    "Groups (stage=group) or items (stage=item) cut by a circuit-breaking rule.",
    ["stage", "data_source_label", "data_type_label"], registry=REGISTRY,
)
SOURCE_LIMITED = Counter(
    "alarm_access_source_limited", "Pulls refused because every concurrent slot of their source was taken.",
    ["data_source_label", "data_type_label"], registry=REGISTRY,
)
TASKS_PUBLISHED = Counter(
    "alarm_access_celery_tasks_published", "Celery tasks published by the scheduler, by queue and status.",
    ["queue", "status"], registry=REGISTRY,
)
BATCH_SUBTASKS = Counter(
    "alarm_access_data_batch_subtasks",
    "Batch sub-tasks of split pulls, by status (published, done, duplicate, abandoned, failed, expired, missing, "
    "bad_payload).",
    ["status"], registry=REGISTRY,
)
INVALID_GROUPS = Counter(
    "alarm_access_data_invalid_groups", "Strategy group definitions left out because their queries cannot be "
    "run exactly (an unsupported function, an invalid expression); counted once per definition.",
    registry=REGISTRY,
)
PARTIAL_ANSWERS = Counter(
    "alarm_access_data_partial_answers", "Partial TSDB answers, by outcome (marked: records marked is_partial; "
    "failed: the pull of a double-check strategy failed, spec §3.13).",
    ["outcome"], registry=REGISTRY,
)
FRESHNESS_HOLDS = Counter(
    "alarm_access_data_freshness_holds", "bk_data pulls that held back buckets still being ingested (spec §3.12), "
    "by reason (fresh: the newest sample arrived within the threshold; future: its ingestion time is ahead of "
    "this clock by more than the threshold, a clock skew that holds the group back until it is fixed).",
    ["reason"], registry=REGISTRY,
)
PROCESS_OVERFLOW = Counter(
    "alarm_access_data_overflow_points", "Points of pulls larger than the batch threshold (split into batches).",
    registry=REGISTRY,
)
DETECT_PROCESS_TIME = Histogram(
    "alarm_access_inline_detect_duration_seconds", "Time of inline static-threshold detection of one group.",
    buckets=_LATENCY_BUCKETS, registry=REGISTRY,
)
INLINE_ANOMALIES = Counter(
    "alarm_access_inline_anomalies", "Anomalies written by inline static-threshold detection.", registry=REGISTRY,
)

# --- hash ring (--hash-ring 1) -----------------------------------------------------------------------------
RING_MEMBERS = Gauge(
    "alarm_access_ring_members", "Members of this process's ring, by state (joining, active, leaving).",
    ["access_type", "state"], multiprocess_mode="livemax", registry=REGISTRY,
)
RING_CHANGES = Counter(
    "alarm_access_ring_membership_changes", "Membership changes (new epochs) this process saw.",
    ["access_type"], registry=REGISTRY,
)
RING_HANDOVER_GAP = Histogram(
    "alarm_access_ring_handover_gap_seconds", "For a group this member took over: seconds since its last delivered "
    "pull beyond one interval (how long it went without an owner pulling it).",
    ["access_type"], buckets=_LATENCY_BUCKETS, registry=REGISTRY,
)
RING_OWNED_KEYS = Gauge(
    "alarm_access_ring_owned_keys", "Keys (business ids) this process owns in its ring.",
    ["access_type"], multiprocess_mode="livesum", registry=REGISTRY,
)

# --- incident access -----------------------------------------------------------------------------------------
INCIDENT_MESSAGES = Counter(
    "alarm_access_incident_messages", "Incident sync messages, by outcome (applied, stale, duplicate, skipped, queued, "
    "dead_lettered, retried — a store attempt that failed and will be retried).",
    ["outcome"], registry=REGISTRY,
)
INCIDENTS = Gauge(
    "alarm_access_incidents", "Stored incidents by status (abnormal, recovering, recovered, closed, merged), "
    "counted in the database every 30 s by the incident consumer.",
    ["status"], multiprocess_mode="livemax", registry=REGISTRY,
)
INCIDENT_API_CALLS = Counter(
    "alarm_access_incident_api_requests", "AIOps API calls of the incident consumer by call (snapshot, write_back) "
    "and outcome (ok, missing — no such snapshot, failed — retried with the message).",
    ["call", "outcome"], registry=REGISTRY,
)
INCIDENT_APPLY_TIME = Histogram(
    "alarm_access_incident_apply_duration_seconds", "Time to store one incident sync message (one transaction).",
    buckets=_LATENCY_BUCKETS, registry=REGISTRY,
)

# --- alert access (the label `integration` is bounded: the configured integrations) --------------------------
ALERT_REQUESTS = Counter(
    "alarm_access_alert_requests", "Alert webhook requests, by integration and HTTP status code answered.",
    ["integration", "code"], registry=REGISTRY,
)
ALERT_EVENTS = Counter(
    "alarm_access_alert_events", "Standard events produced (acknowledged by the broker), by integration.",
    ["integration"], registry=REGISTRY,
)
ALERT_SUPPRESSED = Counter(
    "alarm_access_alert_suppressed", "Alerts of group snapshots that produced no event, by integration and kind "
    "(repeat: unchanged; stale: older than the stored state).",
    ["integration", "kind"], registry=REGISTRY,
)
ALERT_REJECTED = Counter(
    "alarm_access_alert_rejected", "Alert requests refused, by integration and reason (a 400's parse reason, "
    "unauthorized, bad_signature, too_large, unavailable, ...).",
    ["integration", "reason"], registry=REGISTRY,
)
ALERT_PRODUCE_TIME = Histogram(
    "alarm_access_alert_produce_duration_seconds", "Time from parse to the broker's acknowledgement of every "
    "event of one alert request.", ["integration"], buckets=_LATENCY_BUCKETS, registry=REGISTRY,
)
