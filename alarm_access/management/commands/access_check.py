"""`manage.py access_check`: what `data` would do with each strategy, and everything wrong with it.

    python manage.py access_check [--strategy-file F | --strategy-id N [N ...]] [--json] [--window SECONDS]

Strategies come from F (the original cached format, one object or a list) or from the database (all stored
ones, or those of `--strategy-id`). For each: the format is valid; every pulled item's queries can be run
exactly (expression, functions, query configs: `access.data.query`) and the query the source is sent (PromQL,
or the SQL table's metric and matchers); the source answers and how many series the item has in the last
`--window` seconds (default: 5 of the group's intervals); the target scope names hosts, topology nodes, service
instances and dynamic groups that exist (the topology of the database, `load_hosts`); and where `data` places
the item (group key, interval, slot offset, strategies sharing the group).

Prints one line per problem, `strategy N: <field>: <problem>`, and one summary line per strategy (with
`--json`: one JSON object per strategy instead). Exit status: 0 no problem; 1 some strategy has a problem; 2 bad
arguments or an unreadable file. No series in the window is reported, not counted as a problem (nodata may be
what the strategy watches for).
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from alarm_access.access.data.check import Problem, StrategyCheck, check_strategies, format_problem
from alarm_access.access.data.query import item_plan, query_item, storage_config
from alarm_access.adapters.tsdb.prometheus import PrometheusSource
from alarm_access.adapters.tsdb.promql import build_query, condition_groups, metric_name
from alarm_access.bootstrap import AdapterPorts
from alarm_access.formats import parse_strategy_documents
from alarm_access.kernel.config import AccessConfig
from alarm_access.kernel.errors import AccessError, ConfigError, InvalidStrategy
from alarm_access.kernel.model import Item, Strategy
from alarm_access.management.cli import EXIT_USAGE, OneLineErrorsMixin, read_json_file
from alarm_access.records.enrich import index_topology


class Command(OneLineErrorsMixin, BaseCommand):
    help = "Check strategies: format, queries, source, target scope, and where data access places them."

    def add_arguments(self, parser: CommandParser) -> None:
        source = parser.add_mutually_exclusive_group()
        source.add_argument("--strategy-file", help="strategies to check (original cached JSON), not stored ones")
        source.add_argument("--strategy-id", type=int, nargs="+", help="stored strategies to check (default: all)")
        parser.add_argument("--json", action="store_true", help="one JSON object per strategy")
        parser.add_argument("--window", type=int, default=0, help="seconds to look for series (default 5 intervals)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            config = AccessConfig.build(settings.ALARM_ACCESS, {"access_type": "data"})
        except ConfigError as exc:
            raise CommandError(str(exc), returncode=EXIT_USAGE) from None
        ports = AdapterPorts(config)
        try:
            checks = self._checks(ports, options)
        finally:
            ports.close()
        bad = [check for check in checks if not check.ok]
        for check in checks:
            self.stdout.write(json.dumps(dataclasses.asdict(check), ensure_ascii=False) if options["json"]
                              else _text(check))
        if bad:
            raise CommandError(f"{len(bad)} of {len(checks)} strategies have problems", returncode=1)

    def _checks(self, ports: AdapterPorts, options: dict[str, Any]) -> list[StrategyCheck]:
        path = options["strategy_file"]
        documents = read_json_file(path) if path else ports.strategy_documents()
        if isinstance(documents, dict):
            documents = [documents]
        if not isinstance(documents, list):
            raise CommandError(f"{path}: expected a strategy object or a list of them", returncode=EXIT_USAGE)
        if options["strategy_id"]:
            wanted = set(options["strategy_id"])
            documents = [d for d in documents if isinstance(d, dict) and d.get("id") in wanted]
            missing = wanted - {d.get("id") for d in documents}
            if missing:
                raise CommandError(f"no stored strategy {', '.join(map(str, sorted(missing)))}", returncode=EXIT_USAGE)
        strategies, errors = parse_strategy_documents(documents)
        bk_biz_ids = {s.bk_biz_id for s in strategies}
        index = index_topology(ports.strategies.load_topology(bk_biz_ids))
        checks = [_invalid(error) for error in errors] + check_strategies(strategies, index)
        by_id = {s.id: s for s in strategies}
        for check in checks:
            strategy = by_id.get(check.strategy_id) if check.strategy_id is not None else None
            if strategy is not None and not check.problems:
                _ask_source(check, strategy, ports, options["window"])
        return checks


def _invalid(error: InvalidStrategy) -> StrategyCheck:
    entry = error.entry.removeprefix("strategy ")
    return StrategyCheck(int(entry) if entry.isdigit() else None, error.entry, [format_problem(error)])


def _ask_source(check: StrategyCheck, strategy: Strategy, ports: AdapterPorts, window: int) -> None:
    """The query text of each placed item and the series its source has in the last window."""
    items = {item.id: (position, item) for position, item in enumerate(strategy.items)}
    now = int(time.time())
    for placement in check.placements:
        position, item = items[placement.item_id]
        source = ports.source_for(item.query_configs[0].source)
        detail = check.details[item.id] = {"queries": [_query_text(qc, source) for qc in _configs(item)]}
        span = window or 5 * placement.interval
        try:
            points = query_item(item_plan(item, f"strategy {strategy.id}", now=now), source, now - span, now)
        except AccessError as error:
            check.problems.append(Problem(f"items[{position}].query_configs", f"the source failed: {error}"))
            continue
        dims = item.query_configs[0].agg_dimension
        detail["series"] = len({tuple(p.get(d) for d in dims) for p in points})
        detail["window_s"] = span


def _configs(item: Item) -> list[Any]:
    return [storage_config(qc) for qc in item.query_configs]


def _query_text(qc: Any, source: Any) -> str:
    if isinstance(source, PrometheusSource):
        return build_query(qc)
    matchers = " or ".join(",".join(m.render() for m in group) or "(all)" for group in condition_groups(qc))
    return f"SQL table: metric {metric_name(qc)!r}, {qc.agg_method} per {qc.agg_interval} s, where {matchers}"


def _text(check: StrategyCheck) -> str:
    lines = [f"strategy {check.strategy_id if check.strategy_id is not None else check.name}: {p.field}: {p.message}"
             for p in check.problems]
    placed = "; ".join(
        f"item {p.item_id}: group {p.group_key} every {p.interval} s at +{p.offset} s"
        f" ({p.strategies_in_group} strategies), {check.details.get(p.item_id, {}).get('series', '?')} series"
        for p in check.placements)
    status = "ok" if check.ok else f"{len(check.problems)} problem(s)"
    lines.append(f"strategy {check.strategy_id} ({check.name}): {status}" + (f" — {placed}" if placed else "")
                 + "".join(f" — {note}" for note in check.notes))
    return "\n".join(lines)
