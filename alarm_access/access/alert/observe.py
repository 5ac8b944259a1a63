"""The metrics and the refusal log line of one handled alert payload, from the HTTP receiver or a stream."""

from __future__ import annotations

import logging

from alarm_access import metrics
from alarm_access.access.alert.ingest import AlertResponse
from alarm_access.logs import ctx

logger = logging.getLogger("alarm_access.access.alert")


def record_response(label: str, response: AlertResponse, *, position: str = "") -> None:
    """Count `response` for integration `label` (requests by status, rejections, events, suppressed repeats,
    produce latency); a refusal is logged once, with the stream position when it came from a stream."""
    metrics.ALERT_REQUESTS.labels(label, str(response.status)).inc()
    if response.reason:
        metrics.ALERT_REJECTED.labels(label, response.reason).inc()
    if response.emitted:
        metrics.ALERT_EVENTS.labels(label).inc(response.emitted)
    if response.repeats:
        metrics.ALERT_SUPPRESSED.labels(label, "repeat").inc(response.repeats)
    if response.stale:
        metrics.ALERT_SUPPRESSED.labels(label, "stale").inc(response.stale)
    if response.produce_seconds is not None:
        metrics.ALERT_PRODUCE_TIME.labels(label).observe(response.produce_seconds)
    if response.status >= 400:
        logger.info("alert request refused", extra=ctx(integration=label, status=response.status,
                                                       reason=response.reason, position=position or "-",
                                                       request_id=response.body.get("request_id")))
