from __future__ import annotations

from typing import Any

from alarm_access.kernel.model import ServiceInstance, Topology
from alarm_access.records.enrich import enrich, index_topology
from tests.factories import host, index

HOST = host(12, "10.0.0.1", cloud=3)
NODES = ("module|6", "set|5", "biz|2")


def test_host_id_path_sets_strings_and_keeps_given_host_id() -> None:
    dims = {"bk_host_id": 12}
    enrich(dims, index(HOST))
    assert dims == {"bk_host_id": 12, "bk_target_ip": "10.0.0.1", "bk_target_cloud_id": "3", "bk_topo_node": NODES}


def test_agent_path_adds_host_id_as_string() -> None:
    dims = {"bk_agent_id": "agent-12"}
    enrich(dims, index(HOST))
    assert dims["bk_host_id"] == "12" and dims["bk_target_cloud_id"] == "3"


def test_ip_path_normalises_types() -> None:
    dims = {"bk_target_ip": "10.0.0.1", "bk_target_cloud_id": 3}
    enrich(dims, index(HOST))
    assert dims == {"bk_target_ip": "10.0.0.1", "bk_target_cloud_id": "3", "bk_topo_node": NODES, "bk_host_id": "12"}


def test_service_instance_path() -> None:
    instance = ServiceInstance(99, 12, 2, topo_link={"module|7": ("module|7", "set|5", "biz|2")})
    topo = index_topology(Topology(hosts=(HOST,), service_instances=(instance,)))
    dims: dict[str, Any] = {"bk_target_service_instance_id": "99"}
    enrich(dims, topo)
    assert dims["bk_topo_node"] == ("module|7", "set|5", "biz|2")
    assert dims["bk_target_cloud_id"] == "3" and "bk_host_id" not in dims


def test_unknown_host_leaves_dims_alone() -> None:
    dims = {"bk_target_ip": "10.9.9.9", "bk_target_cloud_id": "0"}
    enrich(dims, index(HOST))
    assert dims == {"bk_target_ip": "10.9.9.9", "bk_target_cloud_id": "0"}
