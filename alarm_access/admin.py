"""Admin pages for strategies, topology, incidents and data sources: browse, search and filter.

Strategies are meant to be loaded with `manage.py load_strategies`; edits made here are re-validated by
`alarm_access.adapters.orm.load_strategies`, which skips (and logs) a strategy that no longer parses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin

from alarm_access import models

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin, StackedInline
else:
    # django-stubs makes the admin classes generic for the type checker only; these runtime twins accept
    # (and ignore) the subscript, so annotations stay precise without django_stubs_ext at runtime.
    class ModelAdmin(admin.ModelAdmin):
        def __class_getitem__(cls, _params: Any) -> type:
            return cls

    class StackedInline(admin.StackedInline):
        def __class_getitem__(cls, _params: Any) -> type:
            return cls


class QueryConfigInline(StackedInline[models.QueryConfig, models.StrategyItem]):
    model = models.QueryConfig
    extra = 0


class StrategyItemInline(StackedInline[models.StrategyItem, models.Strategy]):
    model = models.StrategyItem
    extra = 0
    show_change_link = True


@admin.register(models.Strategy)
class StrategyAdmin(ModelAdmin[models.Strategy]):
    list_display = ("id", "name", "bk_biz_id", "scenario", "is_enabled", "priority", "update_time")
    list_filter = ("is_enabled", "scenario", "type")
    search_fields = ("=id", "name", "=bk_biz_id")
    inlines = (StrategyItemInline,)


@admin.register(models.StrategyItem)
class StrategyItemAdmin(ModelAdmin[models.StrategyItem]):
    list_display = ("strategy", "item_id", "name", "position", "time_delay")
    search_fields = ("=strategy__id", "=item_id", "name")
    inlines = (QueryConfigInline,)


@admin.register(models.QueryConfig)
class QueryConfigAdmin(ModelAdmin[models.QueryConfig]):
    list_display = (
        "item",
        "data_source_label",
        "data_type_label",
        "result_table_id",
        "metric_field",
        "agg_method",
        "agg_interval",
    )
    list_filter = ("data_source_label", "data_type_label", "agg_method", "agg_interval")
    search_fields = ("result_table_id", "metric_id", "metric_field")


@admin.register(models.Host)
class HostAdmin(ModelAdmin[models.Host]):
    list_display = ("bk_host_id", "ip", "cloud_id", "bk_biz_id", "agent_id", "state")
    list_filter = ("state", "cloud_id")
    search_fields = ("=bk_host_id", "ip", "agent_id", "=bk_biz_id")


@admin.register(models.ServiceInstance)
class ServiceInstanceAdmin(ModelAdmin[models.ServiceInstance]):
    list_display = ("service_instance_id", "bk_host_id", "bk_biz_id")
    search_fields = ("=service_instance_id", "=bk_host_id", "=bk_biz_id")


@admin.register(models.DynamicGroup)
class DynamicGroupAdmin(ModelAdmin[models.DynamicGroup]):
    list_display = ("dynamic_group_id", "bk_obj_id", "bk_biz_id")
    list_filter = ("bk_obj_id",)
    search_fields = ("dynamic_group_id", "=bk_biz_id")


@admin.register(models.Incident)
class IncidentAdmin(ModelAdmin[models.Incident]):
    list_display = ("incident_id", "incident_name", "status", "level", "bk_biz_id", "alert_count", "create_time")
    list_filter = ("status", "level")
    search_fields = ("=incident_id", "document_id", "incident_name", "=bk_biz_id")


@admin.register(models.IncidentSnapshot)
class IncidentSnapshotAdmin(ModelAdmin[models.IncidentSnapshot]):
    list_display = ("snapshot_id", "incident", "status", "create_time", "fpp_snapshot_id")
    list_filter = ("status",)
    search_fields = ("snapshot_id", "=incident__incident_id", "fpp_snapshot_id")


@admin.register(models.IncidentAlert)
class IncidentAlertAdmin(ModelAdmin[models.IncidentAlert]):
    list_display = ("alert_id", "incident", "version_id", "linked_at")
    search_fields = ("=alert_id", "=incident__incident_id", "version_id")


@admin.register(models.IncidentOperation)
class IncidentOperationAdmin(ModelAdmin[models.IncidentOperation]):
    list_display = ("incident", "operation_type", "operate_time")
    list_filter = ("operation_type",)
    search_fields = ("=incident__incident_id",)


@admin.register(models.KafkaTopic)
class KafkaTopicAdmin(ModelAdmin[models.KafkaTopic]):
    list_display = ("data_id", "cluster_name", "topic", "group_suffix", "bootstrap_servers")
    list_filter = ("cluster_name",)
    search_fields = ("=data_id", "topic", "cluster_name")


@admin.register(models.ResultTable)
class ResultTableAdmin(ModelAdmin[models.ResultTable]):
    list_display = ("table_id", "data_id", "dimensions")
    search_fields = ("table_id", "=data_id")


@admin.register(models.TsdbEndpoint)
class TsdbEndpointAdmin(ModelAdmin[models.TsdbEndpoint]):
    list_display = ("name", "kind", "data_source_label", "data_type_label", "is_slow", "url", "timeout_seconds")
    list_filter = ("kind", "data_source_label", "data_type_label", "is_slow")
    search_fields = ("name", "url")
