"""CMDB topology tables: hosts, service instances and dynamic groups, keyed by their CMDB ids.

Rows are upserted from CMDB exports (`manage.py load_hosts`); `topo_link` maps a module node to its chain
of `"obj|id"` nodes, e.g. `{"module|1": ["biz|2", "set|1", "module|1"]}`.
"""

from __future__ import annotations

from django.db import models


class Host(models.Model):
    bk_host_id = models.BigIntegerField(primary_key=True)
    ip = models.CharField(max_length=64, blank=True, default="")
    cloud_id = models.BigIntegerField(default=0)
    agent_id = models.CharField(max_length=128, blank=True, default="")
    bk_biz_id = models.BigIntegerField(db_index=True)
    state = models.CharField(max_length=64, blank=True, default="")
    topo_link = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ("bk_host_id",)
        # Enrichment and event access look hosts up by (ip, cloud) and by agent id (spec §3.3, §1.5).
        indexes = [
            models.Index(fields=("ip", "cloud_id"), name="host_ip_cloud_idx"),
            models.Index(fields=("agent_id",), name="host_agent_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.bk_host_id} {self.ip}|{self.cloud_id}"


class ServiceInstance(models.Model):
    """A service instance; `bk_host_id` is not a foreign key because CMDB exports arrive in any order."""

    service_instance_id = models.BigIntegerField(primary_key=True)
    bk_host_id = models.BigIntegerField(db_index=True)
    bk_biz_id = models.BigIntegerField(db_index=True)
    topo_link = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ("service_instance_id",)

    def __str__(self) -> str:
        return f"{self.service_instance_id} on host {self.bk_host_id}"


class DynamicGroup(models.Model):
    dynamic_group_id = models.CharField(max_length=128, primary_key=True)
    bk_obj_id = models.CharField(max_length=32)
    bk_inst_ids = models.JSONField(default=list, blank=True)
    bk_biz_id = models.BigIntegerField(default=0, db_index=True)

    class Meta:
        ordering = ("dynamic_group_id",)

    def __str__(self) -> str:
        return f"{self.dynamic_group_id} ({self.bk_obj_id})"
