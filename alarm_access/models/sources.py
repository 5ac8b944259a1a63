"""Data-source registry: Kafka topics per data id, result tables, and TSDB endpoints per (data source, data type)
label.

`ResultTable` is the metadata of one time-series table (`system.cpu_summary`): the data id whose Kafka topic
carries its points (a `KafkaTopic` row) and its dimension fields. `real_time_data` consumes the topics of the
tables its strategies query; the table's dimensions are the group-by of their records (spec data-access §4.4).

`TsdbEndpoint` rows are looked up by the query config's `(data_source_label, data_type_label)`; an endpoint
with `is_slow` set serves the strategy groups that QoS moved to the slow lane (spec data-access §3.9).
"""

from __future__ import annotations

from django.db import models

#: the values `alarm_access.adapters.kafka.security` accepts (its tests check they agree)
KAFKA_SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
KAFKA_SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


class KafkaTopic(models.Model):
    """Where the points or events of one data id are published, and how its cluster is reached.

    The security fields are optional: an empty one falls back to the environment (`KAFKA_<CLUSTER>_*`, then
    `KAFKA_*`; precedence in `alarm_access.adapters.kafka.security`). Rows of one cluster should agree.
    """

    data_id = models.BigIntegerField(unique=True)
    cluster_name = models.CharField(max_length=128)
    bootstrap_servers = models.CharField(max_length=1024, help_text="comma-separated host:port list")
    topic = models.CharField(max_length=255)
    group_suffix = models.CharField(max_length=128, blank=True, default="")
    security_protocol = models.CharField(max_length=16, null=True, blank=True,
                                         choices=[(p, p) for p in KAFKA_SECURITY_PROTOCOLS],
                                         help_text="empty: KAFKA_<CLUSTER>_SECURITY_PROTOCOL, KAFKA_SECURITY_PROTOCOL "
                                                   "or PLAINTEXT")
    sasl_mechanism = models.CharField(max_length=16, null=True, blank=True,
                                      choices=[(m, m) for m in KAFKA_SASL_MECHANISMS],
                                      help_text="SASL protocols only; empty: from the environment, else PLAIN")
    sasl_username = models.CharField(max_length=255, null=True, blank=True)
    sasl_password = models.CharField(max_length=255, null=True, blank=True,
                                     help_text="stored in clear: prefer KAFKA_<CLUSTER>_SASL_PASSWORD")
    ssl_ca_location = models.CharField(max_length=1024, null=True, blank=True, help_text="CA bundle file (PEM)")
    ssl_certificate_location = models.CharField(max_length=1024, null=True, blank=True,
                                                help_text="client certificate file (PEM), with ssl_key_location")
    ssl_key_location = models.CharField(max_length=1024, null=True, blank=True,
                                        help_text="client private key file (PEM); its password: "
                                                  "KAFKA_<CLUSTER>_SSL_KEY_PASSWORD")

    class Meta:
        ordering = ("data_id",)

    def __str__(self) -> str:
        return f"{self.data_id} → {self.cluster_name}/{self.topic}"


class ResultTable(models.Model):
    """A time-series result table: where its points are published (`data_id` → `KafkaTopic`) and its dimensions."""

    table_id = models.CharField(max_length=255, unique=True, help_text="e.g. system.cpu_summary")
    data_id = models.BigIntegerField(db_index=True, help_text="the data id whose KafkaTopic carries the points")
    dimensions = models.JSONField(default=list, blank=True, help_text="dimension field names, in table order")

    class Meta:
        ordering = ("table_id",)

    def __str__(self) -> str:
        return f"{self.table_id} (data id {self.data_id})"


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
