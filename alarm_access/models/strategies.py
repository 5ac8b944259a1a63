"""Strategy tables: one row per strategy, per item (ordered) and per query config (ordered).

Columns hold the fields access queries or shows in the admin; sub-documents access passes through
(algorithms, detects, no-data, target, notice, actions) are JSON columns. Every level has an `extra` JSON
column holding the input keys the columns cannot reproduce exactly, so that storing a document and dumping
it again yields every key and value of the input (`alarm_access.adapters.orm` owns that mapping).
"""

from __future__ import annotations

from django.db import models


class Strategy(models.Model):
    """A strategy; the primary key is the strategy id of the original system."""

    id = models.BigIntegerField(primary_key=True)
    bk_biz_id = models.BigIntegerField(db_index=True)
    name = models.TextField(blank=True, default="")
    type = models.CharField(max_length=64, blank=True, default="")
    scenario = models.CharField(max_length=128, blank=True, default="")
    is_enabled = models.BooleanField(default=True, db_index=True)
    priority = models.IntegerField(null=True, blank=True)
    priority_group_key = models.CharField(max_length=255, blank=True, default="")
    #: epoch seconds, normalised from the int or "YYYY-MM-DD HH:MM:SS" form of the input
    update_time = models.BigIntegerField(default=0)
    labels = models.JSONField(default=list, blank=True)
    detects = models.JSONField(default=list, blank=True)
    notice = models.JSONField(default=dict, blank=True)
    actions = models.JSONField(default=list, blank=True)
    extra = models.JSONField(default=dict, blank=True)
    saved_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("id",)
        verbose_name_plural = "strategies"

    def __str__(self) -> str:
        return f"{self.id} {self.name}"


class StrategyItem(models.Model):
    """One item of a strategy. `item_id` is the original item id; `position` keeps the input order."""

    strategy = models.ForeignKey(Strategy, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveIntegerField()
    item_id = models.BigIntegerField()
    name = models.TextField(blank=True, default="")
    expression = models.TextField(blank=True, default="")
    functions = models.JSONField(default=list, blank=True)
    time_delay = models.IntegerField(default=0)
    algorithms = models.JSONField(default=list, blank=True)
    no_data_config = models.JSONField(default=dict, blank=True)
    #: null when the item has no `target` key of its own (older documents keep it at strategy level)
    target = models.JSONField(null=True, blank=True)
    update_time = models.BigIntegerField(default=0)
    extra = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ("strategy_id", "position")
        constraints = [
            models.UniqueConstraint(fields=("strategy", "position"), name="strategy_item_position_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.strategy_id}/{self.item_id} {self.name}"


class QueryConfig(models.Model):
    """One query config of an item, in input order. `qc_id` is the original id (absent in some exports)."""

    item = models.ForeignKey(StrategyItem, on_delete=models.CASCADE, related_name="query_configs")
    position = models.PositiveIntegerField()
    qc_id = models.BigIntegerField(null=True, blank=True)
    data_source_label = models.CharField(max_length=64)
    data_type_label = models.CharField(max_length=64)
    result_table_id = models.CharField(max_length=255, blank=True, default="", db_index=True)
    metric_field = models.TextField(blank=True, default="")
    metric_id = models.TextField(blank=True, default="")
    alias = models.TextField(blank=True, default="")
    agg_method = models.CharField(max_length=64, blank=True, default="AVG")
    agg_interval = models.IntegerField(default=60)
    agg_dimension = models.JSONField(default=list, blank=True)
    agg_condition = models.JSONField(default=list, blank=True)
    functions = models.JSONField(default=list, blank=True)
    time_field = models.TextField(blank=True, default="")
    promql = models.TextField(blank=True, default="")
    extra = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ("item_id", "position")
        constraints = [
            models.UniqueConstraint(fields=("item", "position"), name="query_config_position_unique"),
        ]
        indexes = [models.Index(fields=("data_source_label", "data_type_label"), name="qc_source_idx")]

    def __str__(self) -> str:
        return f"{self.data_source_label}/{self.data_type_label} {self.metric_id or self.result_table_id}"
