"""The catalog keeps the JSON of exactly the strategies a pull may write an inline-anomaly snapshot of."""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from alarm_access.access.data.catalog import GroupCatalog
from alarm_access.kernel.model import Algorithm, Strategy, Topology
from alarm_access.kernel.settings import DataSettings
from tests.factories import item, qc, strategy

THRESHOLD = (Algorithm("Threshold", 1, [[{"method": "gte", "threshold": 90}]]),)
#: 1: a static threshold (detected inline); 2: another algorithm (sent to detect); 3: a threshold on a
#: converted unit (sent to detect); 4: a threshold whose group shares a query with strategy 2
STRATEGIES = [
    strategy(1, item(1, query=qc(metric_field="load1"), algorithms=THRESHOLD)),
    strategy(2, item(2, algorithms=(Algorithm("AdvancedRingRatio", 1, {"ceil": 10}),))),
    strategy(3, item(3, query=qc(metric_field="load15", extra={"unit": "percent"}), algorithms=THRESHOLD)),
    strategy(4, item(4, algorithms=THRESHOLD)),
]


class Ports:
    """The two reads of the catalog: strategies (and topology) and strategy documents, recorded."""

    def __init__(self) -> None:
        self.asked: list[set[int] | None] = []
        self.strategies = self

    def load_strategies(self) -> list[Strategy]:
        return list(STRATEGIES)

    def load_topology(self, bk_biz_ids: Collection[int]) -> Topology:
        return Topology()

    def strategy_documents(self, strategy_ids: Collection[int] | None = None) -> list[dict[str, Any]]:
        self.asked.append(None if strategy_ids is None else set(strategy_ids))
        return [{"id": s.id, "name": s.name} for s in STRATEGIES if strategy_ids is None or s.id in strategy_ids]


def refreshed(settings: DataSettings) -> tuple[GroupCatalog, Ports]:
    ports = Ports()
    fake: Any = ports
    catalog = GroupCatalog(fake, settings=settings)
    catalog.refresh()
    return catalog, ports


def test_only_strategies_with_an_item_detected_inline_are_read_and_kept() -> None:
    catalog, ports = refreshed(DataSettings())

    assert sorted(group.strategy_ids for group in catalog.groups.values()) == [(1,), (2, 4), (3,)]
    # 4 shares its group with 2 (not inline as a whole), but a batch of that group's items may be 4's alone
    assert ports.asked == [{1, 4}]
    assert {k: json.loads(v) for k, v in catalog.documents.items()} == {1: {"id": 1, "name": "s1"},
                                                                          4: {"id": 4, "name": "s4"}}


def test_the_grey_list_narrows_what_is_kept() -> None:
    catalog, ports = refreshed(DataSettings(inline_strategy_ids=(4, 2)))

    assert ports.asked == [{4}] and set(catalog.documents) == {4}


def test_without_inline_thresholds_no_document_is_read() -> None:
    catalog, ports = refreshed(DataSettings(inline_threshold=False))

    assert ports.asked == [] and catalog.documents == {}
