"""Integrations of the `alert` access type: who may POST alerts to `/v1/alerts/{source}/{name}` and how their
events are labelled (`alarm_access.access.alert.integrations`; the receiver reads the enabled rows at start,
together with `ALARM_ACCESS_ALERT_INTEGRATIONS`)."""

from __future__ import annotations

from django.db import models

#: the source formats `alarm_access.access.alert.sources` parses (its tests check they agree)
ALERT_SOURCES = ("alertmanager", "grafana", "standard", "pagerduty")


class AlertIntegration(models.Model):
    name = models.CharField(max_length=64, unique=True, help_text="the last path segment; [A-Za-z0-9_.-]")
    source = models.CharField(max_length=16, choices=[(s, s) for s in ALERT_SOURCES])
    bk_biz_id = models.BigIntegerField(default=0, help_text="business of events that name none")
    plugin_id = models.CharField(max_length=128, blank=True, default="", help_text="empty: {source}.{name}")
    token = models.CharField(max_length=255, blank=True, default="",
                             help_text="Authorization: Bearer <token> or ?token=; empty: no token check")
    secret = models.CharField(max_length=255, blank=True, default="",
                              help_text="HMAC-SHA256 signature secret (Grafana's scheme); empty: unsigned")
    dedupe_keys = models.JSONField(default=list, blank=True,
                                   help_text='extra identity keys: field names or "tags.<key>"')
    diff_annotations = models.BooleanField(default=False, help_text="a changed annotation is a new event")
    rate_limit = models.FloatField(default=0.0, help_text="requests per second before 429 (API-style sources) "
                                   "or 503 (Alertmanager, Grafana); 0: no limit")
    is_enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return f"{self.name} ({self.source})"
