"""Parse CMDB host, service-instance and dynamic-group documents into the `Topology` value types.

Field names follow the original CMDB cache: host `bk_host_id, bk_host_innerip, bk_cloud_id, bk_agent_id,
bk_biz_id, bk_state, topo_link`; service instance `service_instance_id, bk_host_id, bk_biz_id, topo_link`;
dynamic group `dynamic_group_id, bk_obj_id, bk_inst_ids[, bk_biz_id]`. `topo_link` maps a module node to its
chain of `"obj|id"` nodes, e.g. `{"module|1": ["biz|2", "set|1", "module|1"]}`.

Single-entry parsers raise `InvalidStrategy`; `parse_topology_document` collects one error per invalid entry
and returns every valid one, so one bad host never blocks the others.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from alarm_access.formats._fields import Fields, is_int
from alarm_access.kernel.errors import InvalidStrategy
from alarm_access.kernel.model import DynamicGroup, Host, ServiceInstance, Topology

T = TypeVar("T")
_SECTIONS = ("hosts", "service_instances", "dynamic_groups")


def parse_host(doc: Any, index: int | None = None) -> Host:
    host = Fields(doc, _entry_name("host", doc, "bk_host_id", index))
    return Host(
        bk_host_id=host.integer("bk_host_id"),
        ip=host.text("bk_host_innerip"),
        cloud_id=host.integer("bk_cloud_id", 0, minimum=0),
        bk_biz_id=host.integer("bk_biz_id"),
        agent_id=host.text("bk_agent_id"),
        state=host.text("bk_state"),
        topo_link=_topo_link(host),
    )


def parse_service_instance(doc: Any, index: int | None = None) -> ServiceInstance:
    instance = Fields(doc, _entry_name("service instance", doc, "service_instance_id", index))
    return ServiceInstance(
        service_instance_id=instance.integer("service_instance_id"),
        bk_host_id=instance.integer("bk_host_id"),
        bk_biz_id=instance.integer("bk_biz_id"),
        topo_link=_topo_link(instance),
    )


def parse_dynamic_group(doc: Any, index: int | None = None) -> DynamicGroup:
    group = Fields(doc, _entry_name("dynamic group", doc, "dynamic_group_id", index))
    group_id = group.text("dynamic_group_id", required=True)
    if not group_id:
        group.fail("dynamic_group_id", "must not be empty")
    return DynamicGroup(
        dynamic_group_id=group_id,
        bk_obj_id=group.text("bk_obj_id", required=True),
        bk_inst_ids=group.integers("bk_inst_ids"),
        bk_biz_id=group.integer("bk_biz_id", 0),
    )


def parse_topology_document(doc: Any) -> tuple[Topology, list[InvalidStrategy]]:
    """A list of hosts, or `{"hosts": [...], "service_instances": [...], "dynamic_groups": [...]}`.

    Every section is optional in the object form. Returns the valid entries and one error per invalid one.
    """
    if isinstance(doc, list):
        doc = {"hosts": doc}
    if not isinstance(doc, Mapping):
        problem = "must be a list of hosts or an object with hosts/service_instances/dynamic_groups"
        return Topology(), [InvalidStrategy("topology", "(document)", problem)]
    errors: list[InvalidStrategy] = []
    unknown = sorted(set(doc) - set(_SECTIONS))
    if unknown:
        errors.append(InvalidStrategy("topology", ", ".join(unknown), f"is not one of {', '.join(_SECTIONS)}"))
    topology = Topology(
        hosts=_parse_all(doc, "hosts", parse_host, errors),
        service_instances=_parse_all(doc, "service_instances", parse_service_instance, errors),
        dynamic_groups=_parse_all(doc, "dynamic_groups", parse_dynamic_group, errors),
    )
    return topology, errors


def _parse_all(
    doc: Mapping[str, Any],
    section: str,
    parse: Callable[[Any, int | None], T],
    errors: list[InvalidStrategy],
) -> tuple[T, ...]:
    entries = doc.get(section) or []
    if not isinstance(entries, list):
        errors.append(InvalidStrategy("topology", section, "must be a list"))
        return ()
    parsed: list[T] = []
    for index, entry in enumerate(entries):
        try:
            parsed.append(parse(entry, index))
        except InvalidStrategy as error:
            errors.append(error)
    return tuple(parsed)


def _entry_name(kind: str, doc: Any, id_key: str, index: int | None) -> str:
    entry_id = doc.get(id_key) if isinstance(doc, Mapping) else None
    if is_int(entry_id) or (isinstance(entry_id, str) and entry_id):
        return f"{kind} {entry_id}"
    return kind if index is None else f"{kind} at index {index}"


def _topo_link(owner: Fields) -> dict[str, tuple[str, ...]]:
    link = owner.child("topo_link")
    chains: dict[str, tuple[str, ...]] = {}
    for node, chain in link.doc.items():
        if not isinstance(chain, list) or not all(isinstance(n, str) and "|" in n for n in chain):
            link.fail(str(node), 'must be a list of "obj|id" node strings')
        chains[str(node)] = tuple(chain)
    return chains
