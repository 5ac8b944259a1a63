"""ORM adapter: lossless strategy round trips, item replacement, efficient loading, topology upserts."""

from __future__ import annotations

import copy
import logging
from typing import Any

import pytest
from pytest_django import DjangoAssertNumQueries

from alarm_access import models as db
from alarm_access.adapters.orm import (
    load_strategies,
    load_topology,
    save_strategy_document,
    save_topology,
    strategy_documents,
)
from alarm_access.adapters.orm.repository import OrmStrategyRepository
from alarm_access.formats import parse_strategy, parse_topology_document
from alarm_access.kernel.clusters import Cluster, parse_rules
from alarm_access.kernel.errors import InvalidStrategy
from alarm_access.kernel.model import Host, Topology
from tests.fixtures import load_json, missing_from

pytestmark = pytest.mark.django_db


def _save_all(docs: list[dict[str, Any]]) -> None:
    for doc in docs:
        save_strategy_document(doc)


def test_round_trip_preserves_every_field_of_the_v3_fixture() -> None:
    docs = load_json("strategies_v3.json")
    _save_all(docs)

    dumped = strategy_documents()

    assert missing_from(docs, dumped) == []


def test_round_trip_preserves_representations_the_columns_normalise() -> None:
    docs = [d for d in load_json("strategies_mixed.json") if d.get("id") in (7, 11)]
    docs[0]["extra_top"] = {"nested": [1, 2.0, None]}
    docs[0]["priority_group_key"] = None  # read as "" by the parser; the column alone would dump ""
    docs[0]["items"][0]["update_time"] = "2024-07-04 03:17:08"
    docs[0]["items"][0]["query_configs"][0]["id"] = "qc-7"  # not an int: cannot live in qc_id
    _save_all(docs)

    dumped = strategy_documents()

    assert missing_from(docs, dumped) == []
    assert dumped[0]["update_time"] == "2019-09-21 05:41:31" and dumped[0]["priority_group_key"] is None
    assert dumped[0]["target"][0][0]["field"] == "ip"  # stored as given; normalised when parsed
    assert "target" not in dumped[0]["items"][0]  # the item still inherits the strategy-level target
    assert [parse_strategy(d) for d in dumped] == [parse_strategy(d) for d in docs]


def test_saving_again_replaces_items_and_query_configs() -> None:
    doc = load_json("strategies_v3.json")[1]
    save_strategy_document(doc)
    smaller = copy.deepcopy(doc)
    smaller["items"] = smaller["items"][1:]
    smaller["name"] = "renamed"

    save_strategy_document(smaller)

    (dumped,) = strategy_documents()
    assert dumped["name"] == "renamed" and [i["id"] for i in dumped["items"]] == [421]
    assert db.StrategyItem.objects.count() == 1 and db.QueryConfig.objects.count() == 1


def test_invalid_document_writes_nothing_and_keeps_the_stored_version() -> None:
    doc = load_json("strategies_v3.json")[0]
    save_strategy_document(doc)
    broken = copy.deepcopy(doc)
    broken["items"][0]["query_configs"][0]["agg_interval"] = -60

    with pytest.raises(InvalidStrategy):
        save_strategy_document(broken)

    assert strategy_documents()[0]["items"][0]["query_configs"][0]["agg_interval"] == 60


def test_load_strategies_filters_disabled_and_orders_by_id() -> None:
    _save_all(load_json("strategies_v3.json")[::-1])

    assert [s.id for s in load_strategies()] == [1]
    assert [s.id for s in load_strategies(enabled_only=False)] == [1, 42]
    assert load_strategies(enabled_only=False)[1] == parse_strategy(load_json("strategies_v3.json")[1])


def test_load_strategies_runs_a_constant_number_of_queries(django_assert_num_queries: DjangoAssertNumQueries) -> None:
    template = load_json("strategies_v3.json")[1]
    for strategy_id in range(100, 120):
        _save_all([{**copy.deepcopy(template), "id": strategy_id, "is_enabled": True}])

    with django_assert_num_queries(3):  # strategies, items, query configs
        strategies = load_strategies()

    assert len(strategies) == 20 and all(len(s.items[0].query_configs) == 2 for s in strategies)


def test_the_documents_of_some_strategies_are_those_of_the_whole_dump() -> None:
    _save_all(load_json("strategies_v3.json"))
    everything = strategy_documents()

    assert strategy_documents([42]) == [everything[1]]
    assert strategy_documents([42, 7, 1]) == everything  # ordered by id; an unknown id is no document
    assert strategy_documents([]) == []


def test_loaded_strategies_share_equal_sub_documents_and_dumped_documents_do_not() -> None:
    template = load_json("strategies_v3.json")[1]
    _save_all([{**copy.deepcopy(template), "id": strategy_id, "is_enabled": True} for strategy_id in (100, 101)])

    first, second = load_strategies()
    assert first.items[0].algorithms[0].config is second.items[0].algorithms[0].config
    assert first.items[0].target[0][0].values[0] is second.items[0].target[0][0].values[0]
    assert first.items[0].query_configs[0].agg_dimension is second.items[0].query_configs[0].agg_dimension
    mine, other = strategy_documents()
    mine["items"][0]["algorithms"][0]["config"][0].append({"threshold": 1, "method": "lt"})
    assert other["items"][0]["algorithms"][0]["config"] == [[{"threshold": 80, "method": "gte"}]]


def test_load_strategies_skips_a_row_that_no_longer_parses(caplog: pytest.LogCaptureFixture) -> None:
    _save_all(load_json("strategies_v3.json"))
    db.Strategy.objects.filter(id=42).update(is_enabled=True)
    db.QueryConfig.objects.filter(item__strategy_id=1).update(agg_interval=0)  # e.g. a bad admin edit

    with caplog.at_level(logging.WARNING, logger="alarm_access.adapters.orm.strategies"):
        strategies = load_strategies()

    assert [s.id for s in strategies] == [42]
    assert any(getattr(r, "ctx", {}).get("strategy_id") == 1 for r in caplog.records)


def test_topology_round_trip_and_business_filter() -> None:
    topology, _ = parse_topology_document(load_json("hosts.json"))
    save_topology(topology)

    assert load_topology() == topology
    only_biz_3 = load_topology([3])
    assert [h.bk_host_id for h in only_biz_3.hosts] == [3]
    assert [s.service_instance_id for s in only_biz_3.service_instances] == [12]
    assert only_biz_3.dynamic_groups == ()


def test_save_topology_upserts_and_last_duplicate_wins() -> None:
    save_topology(Topology(hosts=(Host(1, "10.0.0.1", 0, 2, state="old"),)))

    save_topology(Topology(hosts=(Host(1, "10.0.0.1", 0, 2, state="dup"), Host(1, "10.0.0.9", 3, 4, "agent", "new"))))

    assert load_topology().hosts == (Host(1, "10.0.0.9", 3, 4, "agent", "new"),)
    assert db.Host.objects.filter(ip="10.0.0.9", cloud_id=3).exists()


@pytest.mark.django_db(transaction=True)  # the repository drops stale connections, as a long-running service does
def test_the_repository_loads_only_the_strategies_of_this_cluster_s_businesses() -> None:
    documents = copy.deepcopy(load_json("strategies_v3.json")[:1])
    other = copy.deepcopy(documents[0])
    other.update(id=77, bk_biz_id=9)
    _save_all([*documents, other])
    rules = parse_rules([{"cluster_name": "nine", "target_type": "biz", "matcher_type": "condition",
                          "matcher_config": [{"method": "eq", "value": [9]}]}])
    assert [s.id for s in OrmStrategyRepository(serves=Cluster("nine", rules).serves).load_strategies()] == [77]
    assert [s.id for s in OrmStrategyRepository(serves=Cluster("default", rules).serves).load_strategies()] == [1]
