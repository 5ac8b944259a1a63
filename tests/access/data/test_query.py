"""`access.data.query` on the in-memory source: what a pull sends to storage and how it joins the answers,
and what a pull does with a partial answer (spec §3.13)."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import pytest

from alarm_access.access.data.catalog import GroupCatalog
from alarm_access.access.data.pull import pull_group
from alarm_access.access.data.query import item_plan, query_item, storage_config
from alarm_access.adapters.memory.data import MemoryRecordSink, MemorySource
from alarm_access.kernel.errors import InvalidStrategy, SourceUnavailable
from alarm_access.kernel.model import AggCondition, Item, QueryConfig
from alarm_access.kernel.settings import DataSettings
from tests.factories import T0, group, host, index, item, qc, strategy

NOW = T0 + 180
DIMS = ("bk_target_ip", "bk_target_cloud_id")


def sample(alias: str, ip: str, t: int, value: float | None) -> dict[str, Any]:
    return {"bk_target_ip": ip, "bk_target_cloud_id": "0", "_time_": t, "_result_": value, alias: value}


def two_query_item(expression: str = "a + b", **fields: Any) -> Item:
    return Item(id=1, name="sum", expression=expression, query_configs=(
        qc(metric_field="used", alias="a"), qc(metric_field="free", alias="b")), **fields)


def by_alias(points: dict[str, list[dict[str, Any]]]) -> MemorySource:
    return MemorySource(lambda config: points[config.alias])


def test_an_expression_joins_every_query_config_on_dimensions_and_bucket() -> None:
    source = by_alias({
        "a": [sample("a", "10.0.0.1", T0, 1.0), sample("a", "10.0.0.2", T0, 2.0),
              sample("a", "10.0.0.1", T0 + 60, 3.0)],
        "b": [sample("b", "10.0.0.1", T0, 10.0), sample("b", "10.0.0.2", T0, 20.0)],
    })
    points = query_item(item_plan(two_query_item(), "s"), source, T0, T0 + 120)
    assert source.queries == 2
    got = {(p["bk_target_ip"], p["_time_"]): (p["a"], p.get("b"), p["_result_"]) for p in points}
    assert got == {("10.0.0.1", T0): (1.0, 10.0, 11.0), ("10.0.0.2", T0): (2.0, 20.0, 22.0),
                   ("10.0.0.1", T0 + 60): (3.0, None, None)}  # b missing: None, dropped by the pipeline
    assert [p["_time_"] for p in points] == sorted(p["_time_"] for p in points)


def test_a_zero_divisor_drops_the_bucket_and_counts_it() -> None:
    source = by_alias({"a": [sample("a", "127.0.0.1", T0, 5.0), sample("a", "127.0.0.1", T0 + 60, 6.0)],
                       "b": [sample("b", "127.0.0.1", T0, 0.0), sample("b", "127.0.0.1", T0 + 60, 2.0)]})
    g = group(strategy(1, two_query_item("a / b")))
    sink = MemoryRecordSink()
    report = pull_group(g, NOW, source=source, sink=sink, topology=index(host(1, "127.0.0.1")),
                        settings=DataSettings())
    assert [(r.time, r.value, r.values["a"], r.values["b"]) for r in sink.records(1, 1)] == [(T0 + 60, 3.0, 6.0, 2.0)]
    assert report.drops == {"none_value": 1}


def test_time_shift_reads_the_shifted_window_at_current_bucket_times() -> None:
    day = 86400
    shifted = qc(functions=({"id": "time_shift", "params": [{"id": "n", "value": "1d"}]},))
    source = MemorySource([sample("load5", "127.0.0.1", T0 - day, 7.0), sample("load5", "127.0.0.1", T0, 1.0)])
    points = query_item(item_plan(item(query=shifted), "s"), source, T0, T0 + 60)
    assert source.calls[0][1:] == (T0 - day, T0 + 60 - day)
    assert [(p["_time_"], p["_result_"], p["load5"]) for p in points] == [(T0, 7.0, 7.0)]


def test_pointwise_functions_of_the_query_and_of_the_item() -> None:
    source = MemorySource([sample("load5", "127.0.0.1", T0, -2.25)])
    plain = item(query=qc(functions=({"id": "abs", "params": []},)), functions=({"id": "sqrt", "params": []},))
    [point] = query_item(item_plan(plain, "s"), source, T0, T0 + 60)
    assert (point["load5"], point["_result_"]) == (2.25, 1.5)


def test_storage_config_sends_what_the_original_sends() -> None:
    assert storage_config(qc(agg_method="REAL_TIME")).agg_method == "AVG"
    assert storage_config(qc(metric_field="", alias="n")).agg_method == "COUNT"
    disk = storage_config(qc(result_table_id="system.disk", agg_condition=(
        AggCondition("mount_point", "eq", ("/",)), AggCondition("mount_point", "eq", ("/data",), "or"))))
    exclusion = AggCondition("fstype", "neq", ("iso9660", "tmpfs", "udf"))
    assert disk.agg_condition == (AggCondition("mount_point", "eq", ("/",)), exclusion,
                                  AggCondition("mount_point", "eq", ("/data",), "or"), exclusion)
    net = storage_config(qc(result_table_id="system.net"))
    assert net.agg_condition == (AggCondition("device_name", "neq", ("lo",)),)
    assert storage_config(qc()) == qc()


@pytest.mark.parametrize(("bad", "field"), [
    (two_query_item("a + c"), "expression"),
    (two_query_item("a +"), "expression"),
    (item(query=qc(functions=({"id": "rate", "params": [{"id": "window", "value": "2m"}]},))), "functions"),
    (two_query_item(functions=({"id": "topk", "params": [{"id": "k", "value": 3}]},)), "functions"),
    (Item(id=1, name="x", expression="a+b", query_configs=(qc(alias="a"), qc(alias="b", agg_dimension=()))),
     "query_configs"),
])
def test_what_cannot_be_run_exactly_is_an_invalid_strategy(bad: Item, field: str) -> None:
    with pytest.raises(InvalidStrategy, match=field):
        item_plan(bad, "strategy 9")


def test_the_catalog_leaves_out_and_names_a_group_it_cannot_run(caplog: pytest.LogCaptureFixture) -> None:
    bad = strategy(9, item(9, query=qc(metric_field="x", functions=({"id": "irate", "params": []},))))
    good = strategy(1, item(1))

    class Strategies:
        def load_strategies(self) -> list[Any]:
            return [bad, good]

    ports: Any = dataclasses.make_dataclass("Ports", ["strategies"])(Strategies())
    catalog = GroupCatalog(ports, topology=False)
    with caplog.at_level(logging.WARNING, "alarm_access.access.data"):
        catalog.refresh()
        catalog.refresh()
    assert [g.strategy_ids for g in catalog.groups.values()] == [(1,)]
    warnings = [r for r in caplog.records if "cannot be run" in r.getMessage()]
    assert len(warnings) == 1 and "irate" in warnings[0].__dict__["ctx"]["error"]


def partial_pull(double_check: tuple[int, ...]) -> tuple[MemoryRecordSink, Any]:
    source = MemorySource([sample("load5", "127.0.0.1", T0, 1.0)], partial=True)
    sink = MemoryRecordSink()
    settings = DataSettings(double_check_strategy_ids=double_check)
    g = group(strategy(1, item(1)), strategy(2, item(2)))
    try:
        report: Any = pull_group(g, NOW, source=source, sink=sink, topology=index(host(1, "127.0.0.1")),
                                 settings=settings)
    except SourceUnavailable as error:
        report = error
    return sink, report


def test_a_partial_answer_marks_the_records() -> None:
    sink, report = partial_pull(())
    assert [r.is_partial for r in sink.records(1, 1)] == [True] and report.pushed == {(1, 1): 1, (2, 2): 1}


def test_a_partial_answer_of_a_double_check_strategy_delivers_nothing() -> None:
    sink, error = partial_pull((2, 77))
    assert isinstance(error, SourceUnavailable) and "double-check strategies [2]" in str(error)
    assert sink.records(1, 1) == [] and sink.records(2, 2) == [] and sink.checkpoints == {} and sink.heartbeats == {}


def test_a_query_config_is_not_changed_by_the_plan() -> None:
    config: QueryConfig = qc(agg_method="REAL_TIME")
    item_plan(item(query=config), "s")
    assert config.agg_method == "REAL_TIME" and config.agg_dimension == DIMS
