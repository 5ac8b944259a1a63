"""Host/topology enrichment of record dimensions (spec data-access §3.3) and the topology index.

Deviation (spec §9.16): the original left `bk_host_id` an int on the IP path and `bk_target_cloud_id` of
the raw type on the service-instance path, and emitted `bk_topo_node` in random order. Here `bk_host_id`
and `bk_target_cloud_id` are always strings and `bk_topo_node` is in the deterministic first-seen order of
`model.topo_nodes_of`. (`bk_topo_node` is a tuple shared between records of one host; a list on the wire.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from alarm_access.kernel.model import Host, Topology


@dataclass(frozen=True, slots=True)
class TopologyIndex:
    """Lookups over one `Topology`, built once per run with `index_topology`.

    Keys are strings so that `12` and `"12"` (as dimension values come) find the same host.
    `*_patch` values are the dimensions enrichment sets for that host / service instance.
    """

    hosts_by_id: Mapping[str, Host]
    hosts_by_agent: Mapping[str, Host]
    hosts_by_address: Mapping[str, Host]
    host_patch: Mapping[str, Mapping[str, Any]]
    instance_patch: Mapping[str, Mapping[str, Any]]
    dynamic_group_hosts: Mapping[str, tuple[str, ...]]

    def host_by_address(self, ip: Any, cloud: Any) -> Host | None:
        return self.hosts_by_address.get(f"{ip}|{cloud}")


def index_topology(topology: Topology) -> TopologyIndex:
    """Index `topology` by host id, agent id, `"ip|cloud"`, service instance id and dynamic group id."""
    by_id = {str(h.bk_host_id): h for h in topology.hosts}
    host_patch = {
        key: {"bk_target_ip": h.ip, "bk_target_cloud_id": str(h.cloud_id), "bk_topo_node": h.topo_nodes}
        for key, h in by_id.items()
    }
    instance_patch = {}
    for instance in topology.service_instances:
        host = by_id.get(str(instance.bk_host_id))
        if host is not None:
            instance_patch[str(instance.service_instance_id)] = {
                "bk_target_ip": host.ip,
                "bk_target_cloud_id": str(host.cloud_id),
                "bk_topo_node": instance.topo_nodes,
            }
    return TopologyIndex(
        hosts_by_id=by_id,
        hosts_by_agent={h.agent_id: h for h in topology.hosts if h.agent_id},
        hosts_by_address={f"{h.ip}|{h.cloud_id}": h for h in topology.hosts},
        host_patch=host_patch,
        instance_patch=instance_patch,
        dynamic_group_hosts={
            group.dynamic_group_id: tuple(str(i) for i in group.bk_inst_ids)
            for group in topology.dynamic_groups
            if group.bk_obj_id == "host"
        },
    )


def enrich(dims: dict[str, Any], index: TopologyIndex) -> None:
    """Add host/topology dimensions to `dims` in place; the first lookup that finds an object wins.

    1. by `bk_host_id`, else by `bk_agent_id` → ip, cloud, topo nodes, and `bk_host_id` if the key is absent;
    2. by `bk_target_service_instance_id` or `service_instance_id` → ip, cloud, topo nodes;
    3. by (`bk_target_ip` or `ip`, `bk_target_cloud_id` or `bk_cloud_id` or "0") → cloud, topo nodes and
       `bk_host_id` if absent (`bk_target_ip` is not rewritten on this path).
    """
    host: Host | None = None
    host_id = dims.get("bk_host_id")
    if host_id:
        host = index.hosts_by_id.get(str(host_id))
    else:
        agent_id = dims.get("bk_agent_id")
        if agent_id:
            host = index.hosts_by_agent.get(str(agent_id))
    if host is not None:
        key = str(host.bk_host_id)
        dims.update(index.host_patch[key])
        dims.setdefault("bk_host_id", key)
        return

    instance_id = dims.get("bk_target_service_instance_id") or dims.get("service_instance_id")
    if instance_id:
        patch = index.instance_patch.get(str(instance_id))
        if patch is not None:
            dims.update(patch)
            return

    ip = dims.get("bk_target_ip") or dims.get("ip")
    if ip is None:
        return
    cloud = dims.get("bk_target_cloud_id", "0") or dims.get("bk_cloud_id", "0")
    host = index.host_by_address(ip, cloud)
    if host is None:
        return
    key = str(host.bk_host_id)
    dims["bk_target_cloud_id"] = str(cloud)
    dims["bk_topo_node"] = index.host_patch[key]["bk_topo_node"]
    dims.setdefault("bk_host_id", key)
