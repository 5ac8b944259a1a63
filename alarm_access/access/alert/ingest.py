"""The request flow of the receiver, over the ports, without HTTP or metrics (`service` adds both):

    integration? (404) → token (401) → signature (403) → rate limit (429/503) → parse (400 + raw body dead-lettered)
    → enrich from the CMDB host at the event's ip → lease the fingerprints (503) → load diff states (503)
    → diff → produce, acknowledged (503) → save states (fenced by the lease) → release → 202 {request_id, events}

The lease serialises requests that carry the same fingerprint (HA peers flushing one group at once): each one
diffs against the state the previous one saved, after that one's events were acknowledged, so the topic's
order of one alert's events is the order of its saved states and a resolve is never followed by an older
firing. States are saved only after the produce was acknowledged: a crash in between re-emits the events (same
`id`, so downstream can drop the copies) rather than losing them. A failed save after a good produce still
answers 202 (the events are safe; the next snapshot repeats them), as does a save refused because the lease
expired meanwhile (a stale state never overwrites a later holder's). The payload cap (413) is checked by the
server before the body is read.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from alarm_access.access.alert.auth import signature_ok, token_ok
from alarm_access.access.alert.diff import AlertState, Candidate, diff
from alarm_access.access.alert.integrations import Integration
from alarm_access.access.alert.ports import AlertStates, EventProducer, RawDeadLetters
from alarm_access.access.alert.ratelimit import TokenBucket, retry_after
from alarm_access.access.alert.sources import PARSERS
from alarm_access.access.alert.standard import with_host
from alarm_access.kernel.errors import InvalidRecord, SourceUnavailable
from alarm_access.kernel.model import Host

logger = logging.getLogger("alarm_access.access.alert")
#: senders of group snapshots, which do not retry a 429
SNAPSHOT_SOURCES = frozenset({"alertmanager", "grafana"})


@dataclass(frozen=True, slots=True)
class AlertRequest:
    source: str
    integration: str
    #: lower-case header names
    headers: Mapping[str, str]
    query_token: str
    body: bytes
    now: float
    request_id: str


@dataclass(frozen=True, slots=True)
class AlertResponse:
    status: int
    body: dict[str, Any]
    #: metric-safe reason of a refusal ("" for 202)
    reason: str = ""
    emitted: int = 0
    repeats: int = 0
    stale: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    #: seconds the produce took until acknowledged (None: nothing produced)
    produce_seconds: float | None = None
    #: extra response headers (`Retry-After`)
    headers: dict[str, str] = field(default_factory=dict)

    def payload(self) -> bytes:
        return json.dumps(self.body).encode() + b"\n"


def refuse(status: int, reason: str, detail: str, request_id: str) -> AlertResponse:
    return AlertResponse(status, {"request_id": request_id, "error": reason, "detail": detail}, reason)


class AlertIngestor:
    def __init__(self, integrations: Mapping[str, Integration], producer: EventProducer,
                 dead_letters: RawDeadLetters, states: AlertStates, *, signature_window: float = 300.0,
                 hosts: Callable[[], Mapping[str, Host]] | None = None) -> None:
        """`hosts`: the CMDB hosts by `"ip|cloud_id"` (a cached view; None: no enrichment)."""
        self._integrations = integrations
        self._producer = producer
        self._dead_letters = dead_letters
        self._states = states
        self._window = signature_window
        self._hosts = hosts
        self._buckets = {name: TokenBucket(i.rate_limit, i.rate_limit) for name, i in integrations.items()
                         if i.rate_limit > 0}

    def handle(self, request: AlertRequest) -> AlertResponse:
        rid = request.request_id
        integration = self._integrations.get(request.integration)
        if integration is None or integration.source != request.source:
            return refuse(404, "unknown_integration", "no such integration for this source", rid)
        if not token_ok(integration, request.headers, request.query_token):
            return refuse(401, "unauthorized", "missing or wrong token", rid)
        if not signature_ok(integration, request.headers, request.body, request.now, self._window):
            return refuse(403, "bad_signature", "missing, wrong or expired signature", rid)
        bucket = self._buckets.get(integration.name)
        wait = bucket.take(request.now) if bucket is not None else 0.0
        if wait:
            if integration.source in SNAPSHOT_SOURCES:  # Alertmanager and Grafana drop a 429: they retry a 503
                return refuse(503, "rate_limited", "over the integration's rate limit, retry later", rid)
            limited = refuse(429, "rate_limited", "over the integration's rate limit", rid)
            return dataclasses.replace(limited, headers={"Retry-After": retry_after(wait)})
        return self.ingest(integration, request.body, request.now, rid)

    def ingest(self, integration: Integration, body: bytes, now: float, rid: str) -> AlertResponse:
        """Parse `body` (the integration's source format), diff, produce and save the states — the part of
        `handle` after the sender was admitted, shared with the raw-payload streams (`access.alert.stream`).
        400: the body was dead-lettered; 503: nothing of it was acknowledged (retry it)."""
        try:
            candidates = PARSERS[integration.source](body, integration, int(now))
        except InvalidRecord as exc:
            return self._reject(body, integration, exc, rid)
        if self._hosts is not None:
            candidates = self._enrich(candidates)
        diffed = sorted({c.fingerprint for c in candidates if c.fingerprint is not None})
        try:
            with self._states.lease(integration.name, diffed) if diffed else nullcontext("") as lease:
                stored = self._states.load(integration.name, diffed) if diffed else {}
                result = diff(candidates, stored)
                started = time.perf_counter()
                if result.emit:
                    self._producer.send([(e["dedupe_md5"], json.dumps(e, ensure_ascii=False).encode())
                                         for e in result.emit])
                if result.states:
                    self._save(integration.name, result.states, lease, rid)
        except SourceUnavailable as exc:
            logger.warning("alert request not accepted: %s", exc, extra={"ctx": {"integration": integration.name,
                                                                                  "request_id": rid}})
            return refuse(503, "unavailable", "the event stream is unavailable, retry later", rid)
        answer = {"request_id": rid, "events": len(result.emit), "suppressed": result.repeats + result.stale}
        return AlertResponse(202, answer, "", len(result.emit), result.repeats, result.stale, result.emit,
                             time.perf_counter() - started if result.emit else None)

    def _save(self, integration: str, states: Mapping[str, AlertState], lease: str, rid: str) -> None:
        """Save after a good produce; a failure is logged only: the events are safe, the next snapshot re-emits."""
        try:
            saved = self._states.save(integration, states, lease)
        except SourceUnavailable as exc:
            logger.warning("alert states not saved (the next snapshot re-emits): %s", exc,
                           extra={"ctx": {"integration": integration, "request_id": rid}})
            return
        if not saved:
            logger.warning("alert states not saved: the lease expired before the save (the next snapshot "
                           "re-emits)", extra={"ctx": {"integration": integration, "request_id": rid}})

    def _enrich(self, candidates: list[Candidate]) -> list[Candidate]:
        assert self._hosts is not None
        hosts = self._hosts()
        if not hosts:
            return candidates
        return [dataclasses.replace(c, event=with_host(c.event, hosts.get(f"{c.event['ip']}|{c.event['bk_cloud_id']}")))
                if c.event.get("ip") else c for c in candidates]

    def _reject(self, body: bytes, integration: Integration, exc: InvalidRecord, rid: str) -> AlertResponse:
        try:
            self._dead_letters.send(body, integration.name, integration.source, exc.reason, exc.detail[:500])
        except SourceUnavailable as failure:
            logger.warning("dead-letter write failed: %s", failure)
            return refuse(503, "unavailable", "the dead-letter stream is unavailable, retry later", rid)
        return refuse(400, exc.reason, exc.detail[:500], rid)
