"""Admin pages for strategies, topology, incidents and data sources: browse, search and filter.

Strategies are meant to be loaded with `manage.py load_strategies`; edits made here are re-validated by
`alarm_access.adapters.orm.load_strategies`, which skips (and logs) a strategy that no longer parses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin

from alarm_access import models

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin, StackedInline
    from django.db.models import Field, QuerySet
    from django.http import HttpRequest
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
    """The SASL password is never listed nor sent back to the browser: its input is empty on every edit, and
    saving it empty keeps the stored password; the action "Clear the SASL password" removes it."""

    list_display = ("data_id", "cluster_name", "topic", "group_suffix", "bootstrap_servers", "security_protocol",
                    "sasl_mechanism", "sasl_username")
    list_filter = ("cluster_name", "security_protocol")
    search_fields = ("=data_id", "topic", "cluster_name")
    actions = ("clear_sasl_password",)

    def formfield_for_dbfield(self, db_field: Field[Any, Any], request: HttpRequest,
                              **kwargs: Any) -> forms.Field | None:
        if db_field.name == "sasl_password":
            kwargs["widget"] = forms.PasswordInput(render_value=False)
            kwargs["help_text"] = ("never shown; leave empty to keep the stored password. Stored in clear: "
                                   "prefer KAFKA_<CLUSTER>_SASL_PASSWORD")
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: models.KafkaTopic, form: Any, change: Any) -> None:
        if change and not obj.sasl_password:
            stored = models.KafkaTopic.objects.filter(pk=obj.pk).values_list("sasl_password", flat=True).first()
            obj.sasl_password = stored
        super().save_model(request, obj, form, change)

    @admin.action(description="Clear the SASL password")
    def clear_sasl_password(self, request: HttpRequest, queryset: QuerySet[models.KafkaTopic]) -> None:
        cleared = queryset.update(sasl_password=None)
        self.message_user(request, f"SASL password cleared on {cleared} topic(s).")


@admin.register(models.ResultTable)
class ResultTableAdmin(ModelAdmin[models.ResultTable]):
    list_display = ("table_id", "data_id", "dimensions")
    search_fields = ("table_id", "=data_id")


@admin.register(models.TsdbEndpoint)
class TsdbEndpointAdmin(ModelAdmin[models.TsdbEndpoint]):
    list_display = ("name", "kind", "data_source_label", "data_type_label", "is_slow", "url", "timeout_seconds")
    list_filter = ("kind", "data_source_label", "data_type_label", "is_slow")
    search_fields = ("name", "url")


@admin.register(models.AlertIntegration)
class AlertIntegrationAdmin(ModelAdmin[models.AlertIntegration]):
    """Token and secret are never listed nor sent back to the browser; saving one empty keeps the stored value
    (the action "Clear token and secret" removes both). The receiver reads the rows at start."""

    list_display = ("name", "source", "bk_biz_id", "plugin_id", "is_enabled")
    list_filter = ("source", "is_enabled")
    search_fields = ("name", "=bk_biz_id", "plugin_id")
    actions = ("clear_credentials",)
    _SECRETS = ("token", "secret")

    def formfield_for_dbfield(self, db_field: Field[Any, Any], request: HttpRequest,
                              **kwargs: Any) -> forms.Field | None:
        if db_field.name in self._SECRETS:
            kwargs["widget"] = forms.PasswordInput(render_value=False)
            kwargs["help_text"] = "never shown; leave empty to keep the stored value"
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: models.AlertIntegration, form: Any, change: Any) -> None:
        if change:
            stored = models.AlertIntegration.objects.filter(pk=obj.pk).values(*self._SECRETS).first() or {}
            for name in self._SECRETS:
                if not getattr(obj, name):
                    setattr(obj, name, stored.get(name, ""))
        super().save_model(request, obj, form, change)

    @admin.action(description="Clear token and secret")
    def clear_credentials(self, request: HttpRequest, queryset: QuerySet[models.AlertIntegration]) -> None:
        cleared = queryset.update(token="", secret="")
        self.message_user(request, f"token and secret cleared on {cleared} integration(s).")
