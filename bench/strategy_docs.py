"""A deployment's strategies in the original's cached JSON format (spec data-access §2.1), for `bench.strategies`.

`documents(count)` returns `count` strategy documents shaped like the ones an existing BlueKing Monitor
deployment caches (`tests/fixtures/strategies_v3.json`): every top-level, item and query-config key of that
format, with the sub-documents (`detects`, `notice`, `algorithms`, targets) the service passes through.

The mix follows how real deployments grow: businesses of very different sizes (Zipf weights), each
applying the same few dozen host/process/custom metrics with a handful of interval, dimension and condition
variants, and each strategy its own name, thresholds and target scope. So many strategies of a business run
the same query and share one strategy group, while the same metric in another business is another group.
A minority is not pulled by `data` (events, real-time) or disabled, as in a real cache. Deterministic for
a given `count` and `seed`.
"""

from __future__ import annotations

import random
from typing import Any

#: (result_table_id, metric_field, unit, scenario): the metrics strategies are written on
METRICS = tuple(
    (table, field, unit, scenario)
    for table, fields, unit, scenario in (
        ("system.cpu_summary", ("usage", "idle", "iowait", "user", "system"), "percent", "os"),
        ("system.cpu_load", ("load1", "load5", "load15"), "none", "os"),
        ("system.mem", ("pct_used", "free", "used"), "percent", "os"),
        ("system.disk", ("in_use", "free", "used"), "percent", "os"),
        ("system.io", ("util", "r_s", "w_s", "await"), "percent", "os"),
        ("system.net", ("speed_recv", "speed_sent", "speed_packets_recv"), "Bps", "os"),
        ("system.netstat", ("cur_tcp_estab", "cur_tcp_timewait"), "none", "os"),
        ("system.proc_port", ("proc_exists", "port_health"), "none", "host_process"),
        ("system.inode", ("in_use",), "percent", "os"),
        ("exporter_mysql.mysql_global_status", ("threads_connected", "slow_queries"), "none", "component"),
        ("exporter_redis.redis_info", ("used_memory", "connected_clients"), "bytes", "component"),
        ("custom_app.http_server", ("request_count", "error_rate", "latency_p99"), "ms", "application_check"),
    )
    for field in fields
)
#: (agg_interval, weight): most strategies run every minute
INTERVALS = ((60, 80), (300, 10), (120, 5), (10, 3), (600, 2))
#: agg_dimension variants (the first is the host default of the strategy editor)
DIMENSIONS = (
    ["bk_target_ip", "bk_target_cloud_id"],
    ["bk_target_ip", "bk_target_cloud_id", "device_name"],
    ["bk_target_ip", "bk_target_cloud_id", "bk_target_service_instance_id"],
)
CONDITIONS: tuple[list[dict[str, Any]], ...] = (
    [],
    [{"key": "device_name", "method": "neq", "value": ["lo"]}],
    [{"key": "device_name", "method": "include", "value": ["eth", "bond"]},
     {"key": "device_name", "method": "neq", "value": ["docker0"], "condition": "and"}],
)
METHODS = ("AVG", "MAX", "MIN", "SUM")


def documents(count: int, seed: int = 11) -> list[dict[str, Any]]:
    """`count` strategy documents (ids 1..count), described in the module docstring."""
    rng = random.Random(seed)
    businesses = max(1, count // 200)
    weights = [1.0 / (rank + 1) for rank in range(businesses)]
    bizs = rng.choices(range(2, businesses + 2), weights=weights, k=count)
    return [_strategy(rng, sid, biz) for sid, biz in enumerate(bizs, start=1)]


def _strategy(rng: random.Random, sid: int, biz: int) -> dict[str, Any]:
    roll = rng.random()
    if roll < 0.03:  # event strategies (agent lost, disk full): the `event` access type's
        items = [_event_item(sid)]
    elif roll < 0.10:  # two metrics in one strategy (the original groups only the first; we group both)
        items = [_metric_item(rng, sid * 10 + n, biz) for n in range(2)]
    elif roll < 0.13:  # an expression over two query configs
        items = [_expression_item(rng, sid * 10, biz)]
    else:
        items = [_metric_item(rng, sid * 10, biz)]
    scenario = next(item.pop("_scenario") for item in items)
    update_time = 1_700_000_000 + rng.randrange(10_000_000)
    return {
        "id": sid, "type": "monitor", "bk_biz_id": biz, "scenario": scenario, "name": f"strategy {sid}",
        "labels": [f"/team-{sid % 17}/"] if sid % 3 else [], "is_enabled": rng.random() >= 0.05,
        "update_time": update_time, "priority": None if sid % 4 else rng.randrange(10_001),
        "priority_group_key": "" if sid % 4 else f"{biz:x}{sid % 5}", "source": "bkmonitorv3", "invalid_type": "",
        "items": [{**item, "update_time": update_time} for item in items],
        "detects": [{"level": 2, "expression": "", "connector": "and",
                     "trigger_config": {"count": rng.choice((1, 3, 5)), "check_window": 5,
                                        "uptime": {"calendars": [], "time_ranges": [{"start": "00:00",
                                                                                     "end": "23:59"}]}},
                     "recovery_config": {"check_window": 5, "status_setter": "recovery"}}],
        "notice": {"id": sid, "config_id": sid, "user_groups": [biz, biz + 1],
                   "options": {"converge_config": {"need_biz_converge": True},
                               "noise_reduce_config": {"is_enabled": sid % 10 == 0, "dimensions": ["bk_target_ip"],
                                                       "count": 10},
                               "start_time": "00:00:00", "end_time": "23:59:59"},
                   "config": {"interval_notify_mode": "standard", "notify_interval": 7200}},
        "actions": [],
    }  # fmt: skip


def _qc(rng: random.Random, qc_id: int, biz: int, alias: str = "a") -> dict[str, Any]:
    table, field, unit, scenario = METRICS[rng.randrange(len(METRICS))]
    interval = rng.choices([i for i, _ in INTERVALS], weights=[w for _, w in INTERVALS])[0]
    # Most strategies keep the editor's defaults: those share groups within a business.
    dims, conds, method = 0, 0, "AVG"
    if rng.random() >= 0.8:
        dims, conds, method = rng.randrange(len(DIMENSIONS)), rng.randrange(len(CONDITIONS)), rng.choice(METHODS)
    source = "bk_monitor" if not table.startswith("custom_") else "custom"
    result_table = table if source == "bk_monitor" else f"{biz}_{table}"
    return {
        "id": qc_id, "alias": alias, "metric_field": field, "agg_method": method,
        "agg_interval": interval, "agg_dimension": list(DIMENSIONS[dims]), "agg_condition": list(CONDITIONS[conds]),
        "functions": [], "result_table_id": result_table, "unit": unit, "unit_conversion": 1.0,
        "data_source_label": source, "data_type_label": "time_series",
        "metric_id": f"{source}.{result_table}.{field}", "_scenario": scenario,
    }  # fmt: skip


def _item(item_id: int, name: str, qcs: list[dict[str, Any]], expression: str, rng: random.Random) -> dict[str, Any]:
    scenario = qcs[0].pop("_scenario")
    for qc in qcs[1:]:
        qc.pop("_scenario")
    threshold = rng.choice((70, 80, 90, 95))
    return {
        "id": item_id, "name": name, "expression": expression, "functions": [], "time_delay": 0,
        "no_data_config": {"is_enabled": item_id % 7 == 0, "continuous": 5, "level": 2,
                           "agg_dimension": ["bk_target_ip", "bk_target_cloud_id"]},
        "target": _target(rng),
        "algorithms": [{"id": item_id, "type": "Threshold", "level": 2, "unit_prefix": "%",
                        "config": [[{"threshold": threshold, "method": "gte"}]]}],
        "query_configs": qcs, "_scenario": scenario,
    }  # fmt: skip


def _metric_item(rng: random.Random, item_id: int, biz: int) -> dict[str, Any]:
    qc = _qc(rng, item_id * 10, biz)
    if rng.random() < 0.03:  # the real-time variant of a host metric: `real_time_data` pulls it, not `data`
        qc["agg_method"] = "REAL_TIME"
    return _item(item_id, str(qc["metric_field"]), [qc], "", rng)


def _expression_item(rng: random.Random, item_id: int, biz: int) -> dict[str, Any]:
    first, second = _qc(rng, item_id * 10, biz, "a"), _qc(rng, item_id * 10 + 1, biz, "b")
    second.update(agg_interval=first["agg_interval"], agg_dimension=first["agg_dimension"])
    return _item(item_id, "a / b", [first, second], rng.choice(("a + b", "a / b * 100")), rng)


def _event_item(sid: int) -> dict[str, Any]:
    qc = {"id": sid * 100, "metric_field": "agent-gse", "agg_method": "COUNT", "agg_interval": 60,
          "agg_dimension": ["bk_target_ip", "bk_target_cloud_id"], "agg_condition": [],
          "result_table_id": "system.event", "data_source_label": "bk_monitor", "data_type_label": "event",
          "metric_id": "bk_monitor.agent-gse", "_scenario": "os"}  # fmt: skip
    return _item(sid * 10, "Agent lost", [qc], "", random.Random(sid))


def _target(rng: random.Random) -> list[list[dict[str, Any]]]:
    """The scope: a business-wide `[[]]`, some topology nodes, or a few hosts (never part of the group key)."""
    roll = rng.random()
    if roll < 0.4:
        return [[]]
    if roll < 0.8:
        nodes = [{"bk_obj_id": rng.choice(("set", "module")), "bk_inst_id": rng.randrange(1, 500)}
                 for _ in range(rng.randrange(1, 4))]
        return [[{"field": "host_topo_node", "method": "eq", "value": nodes}]]
    hosts = [{"ip": f"10.0.{rng.randrange(256)}.{rng.randrange(256)}", "bk_cloud_id": 0}
             for _ in range(rng.randrange(1, 6))]
    return [[{"field": "ip", "method": "eq", "value": hosts}]]
