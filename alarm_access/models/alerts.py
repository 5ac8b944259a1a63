"""Integrations of the `alert` access type: who may POST alerts to `/v1/alerts/{source}/{name}` and how their
events are labelled (`alarm_access.access.alert.integrations`; the receiver reads the enabled rows at start,
together with `ALARM_ACCESS_ALERT_INTEGRATIONS`). `clean` (run by the admin) applies the receiver's own rules, so
a row the receiver would refuse at start (a bad JMESPath expression in `mapping`, say) cannot be saved there."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models

from alarm_access.access.alert.integrations import integrations_from
from alarm_access.kernel.errors import ConfigError

#: the source formats `alarm_access.access.alert.sources` parses (its tests check they agree)
ALERT_SOURCES = ("alertmanager", "grafana", "standard", "pagerduty", "mapped")
#: the columns the receiver reads (`adapters.orm.alert_integrations`), named as its integration entries' fields
RECEIVER_FIELDS = ("name", "source", "bk_biz_id", "plugin_id", "token", "secret", "dedupe_keys", "diff_annotations",
                   "rate_limit", "mapping")


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
    mapping = models.JSONField(default=dict, blank=True,
                               help_text="source mapped: JMESPath expressions {alerts, alert_name, target, ip, "
                               "description, event_id, time, tags, severity, severity_map, status, status_map, "
                               "dedupe_keys, required} (docs/alert_access.md)")
    is_enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return f"{self.name} ({self.source})"

    def clean(self) -> None:
        """`ValidationError` (on `mapping` when it is the culprit) for what `integrations_from` refuses."""
        try:
            integrations_from([{name: getattr(self, name) for name in RECEIVER_FIELDS}], "this integration")
        except ConfigError as exc:
            message = str(exc)
            raise ValidationError({"mapping": message} if "mapping" in message else message) from None
