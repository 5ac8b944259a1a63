"""Hosts, service instances and dynamic groups: upsert from `Topology` values and load them back."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any, TypeVar

from django.db import connections, router, transaction
from django.db.models import Model, QuerySet

from alarm_access import models as db
from alarm_access.kernel.model import DynamicGroup, Host, ServiceInstance, Topology

M = TypeVar("M", bound=Model)


def save_topology(topology: Topology) -> None:
    """Insert or update (by CMDB id) every host, service instance and dynamic group, in one transaction.

    Entries absent from `topology` are left alone: CMDB exports may cover only some businesses.
    """
    with transaction.atomic():
        _upsert(db.Host, [_host_row(h) for h in topology.hosts])
        _upsert(db.ServiceInstance, [_instance_row(s) for s in topology.service_instances])
        _upsert(db.DynamicGroup, [_group_row(g) for g in topology.dynamic_groups])


def load_topology(bk_biz_ids: Collection[int] | None = None) -> Topology:
    """The stored topology, ordered by id; restricted to the given businesses when `bk_biz_ids` is given."""
    return Topology(
        hosts=tuple(_host(row) for row in _of_businesses(db.Host.objects.all(), bk_biz_ids)),
        service_instances=tuple(_instance(row) for row in _of_businesses(db.ServiceInstance.objects.all(), bk_biz_ids)),
        dynamic_groups=tuple(_group(row) for row in _of_businesses(db.DynamicGroup.objects.all(), bk_biz_ids)),
    )


def _of_businesses(rows: QuerySet[M], bk_biz_ids: Collection[int] | None) -> QuerySet[M]:
    rows = rows.order_by("pk")
    return rows if bk_biz_ids is None else rows.filter(bk_biz_id__in=list(bk_biz_ids))


def _upsert(model: type[M], rows: Iterable[M]) -> None:
    # One row per key, the last one winning: PostgreSQL refuses to update a row twice in one statement.
    unique = {row.pk: row for row in rows}
    if not unique:
        return
    features = connections[router.db_for_write(model)].features
    model._default_manager.bulk_create(
        list(unique.values()),
        batch_size=500,
        update_conflicts=True,
        # MySQL's ON DUPLICATE KEY has no conflict target; the others require one.
        unique_fields=[model._meta.pk.name] if features.supports_update_conflicts_with_target else None,
        update_fields=[f.name for f in model._meta.concrete_fields if not f.primary_key],
    )


def _link(topo_link: Mapping[str, tuple[str, ...]]) -> dict[str, list[str]]:
    return {node: list(chain) for node, chain in topo_link.items()}


def _chains(topo_link: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    return {str(node): tuple(chain) for node, chain in topo_link.items()}


def _host_row(host: Host) -> db.Host:
    return db.Host(
        bk_host_id=host.bk_host_id,
        ip=host.ip,
        cloud_id=host.cloud_id,
        agent_id=host.agent_id,
        bk_biz_id=host.bk_biz_id,
        state=host.state,
        topo_link=_link(host.topo_link),
    )


def _host(row: db.Host) -> Host:
    return Host(
        bk_host_id=row.bk_host_id,
        ip=row.ip,
        cloud_id=row.cloud_id,
        bk_biz_id=row.bk_biz_id,
        agent_id=row.agent_id,
        state=row.state,
        topo_link=_chains(row.topo_link),
    )


def _instance_row(instance: ServiceInstance) -> db.ServiceInstance:
    return db.ServiceInstance(
        service_instance_id=instance.service_instance_id,
        bk_host_id=instance.bk_host_id,
        bk_biz_id=instance.bk_biz_id,
        topo_link=_link(instance.topo_link),
    )


def _instance(row: db.ServiceInstance) -> ServiceInstance:
    return ServiceInstance(
        service_instance_id=row.service_instance_id,
        bk_host_id=row.bk_host_id,
        bk_biz_id=row.bk_biz_id,
        topo_link=_chains(row.topo_link),
    )


def _group_row(group: DynamicGroup) -> db.DynamicGroup:
    return db.DynamicGroup(
        dynamic_group_id=group.dynamic_group_id,
        bk_obj_id=group.bk_obj_id,
        bk_inst_ids=list(group.bk_inst_ids),
        bk_biz_id=group.bk_biz_id,
    )


def _group(row: db.DynamicGroup) -> DynamicGroup:
    return DynamicGroup(
        dynamic_group_id=row.dynamic_group_id,
        bk_obj_id=row.bk_obj_id,
        bk_inst_ids=tuple(row.bk_inst_ids),
        bk_biz_id=row.bk_biz_id,
    )
