"""Data-source registry: Kafka topics per data id and TSDB endpoints per (data source, data type) label.

`TsdbEndpoint` rows are looked up by the query config's `(data_source_label, data_type_label)`; an endpoint
with `is_slow` set serves the strategy groups that QoS moved to the slow lane (spec data-access §3.9).
"""

from __future__ import annotations

from django.db import models


class KafkaTopic(models.Model):
    """Where the points or events of one data id are published."""

    data_id = models.BigIntegerField(unique=True)
    cluster_name = models.CharField(max_length=128)
    bootstrap_servers = models.CharField(max_length=1024, help_text="comma-separated host:port list")
    topic = models.CharField(max_length=255)
    group_suffix = models.CharField(max_length=128, blank=True, default="")

    class Meta:
        ordering = ("data_id",)

    def __str__(self) -> str:
        return f"{self.data_id} → {self.cluster_name}/{self.topic}"


class TsdbKind(models.TextChoices):
    PROMETHEUS = "prometheus"
    SQL = "sql"


class TsdbEndpoint(models.Model):
    """A time-series query endpoint serving one (data_source_label, data_type_label) pair, fast or slow lane."""

    name = models.CharField(max_length=128, unique=True)
    kind = models.CharField(max_length=16, choices=TsdbKind.choices)
    url = models.CharField(max_length=1024)
    timeout_seconds = models.FloatField(default=5.0)
    data_source_label = models.CharField(max_length=64)
    data_type_label = models.CharField(max_length=64)
    is_slow = models.BooleanField(default=False, help_text="serves the QoS slow lane")

    class Meta:
        ordering = ("data_source_label", "data_type_label", "is_slow")
        constraints = [
            models.UniqueConstraint(
                fields=("data_source_label", "data_type_label", "is_slow"), name="tsdb_endpoint_source_unique"
            ),
            models.CheckConstraint(condition=models.Q(timeout_seconds__gt=0), name="tsdb_timeout_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind}) for {self.data_source_label}/{self.data_type_label}"
