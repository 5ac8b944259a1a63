"""Target scopes and `agg_condition` lists of the original strategy JSON, with cache-time normalisation.

The original strategy cache rewrites IP targets before anything reads them (spec data-access §2.1
"Cache-time normalisation"): the condition field `ip` becomes `bk_target_ip`, and in the values the keys
`ip` / `bk_cloud_id` become `bk_target_ip` / `bk_target_cloud_id`. We do the same at parse time, so every
consumer sees one spelling whichever version of the document was loaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from alarm_access.formats._fields import Fields
from alarm_access.kernel.errors import InvalidStrategy
from alarm_access.kernel.model import AggCondition, Target, TargetCondition

_FIELD_RENAMES = {"ip": "bk_target_ip"}
_VALUE_KEY_RENAMES = {"ip": "bk_target_ip", "bk_cloud_id": "bk_target_cloud_id"}
_CONNECTORS = ("and", "or")


def parse_target(owner: Fields, key: str = "target") -> Target:
    """`owner[key]` as OR-groups of AND-conditions; absent/null → `()`, `[[]]` → `((),)` (both: no target)."""
    groups: list[tuple[TargetCondition, ...]] = []
    for g, group in enumerate(owner.array(key)):
        group_path = f"{owner.name(key)}[{g}]"
        if not isinstance(group, list):
            raise InvalidStrategy(owner.entry, group_path, "must be a list of conditions (target is a list of lists)")
        conditions = [_target_condition(Fields(c, owner.entry, f"{group_path}[{i}]")) for i, c in enumerate(group)]
        groups.append(tuple(conditions))
    return tuple(groups)


def _target_condition(cond: Fields) -> TargetCondition:
    field = cond.text("field", required=True)
    values = [_normalise_value(v) for v in cond.array("value")]
    return TargetCondition(
        field=_FIELD_RENAMES.get(field, field),
        method=cond.text("method", "eq"),
        values=tuple(values),
    )


def _normalise_value(value: Any) -> Any:
    if not isinstance(value, Mapping) or not value.keys() & _VALUE_KEY_RENAMES.keys():
        return value  # as it is (loaded strategies share equal values, `adapters.orm`)
    renamed = {_VALUE_KEY_RENAMES.get(k, k): v for k, v in value.items()}
    # An already-normalised key wins over its legacy spelling when a document carries both.
    renamed.update({k: v for k, v in value.items() if k in _VALUE_KEY_RENAMES.values()})
    return renamed


def parse_agg_conditions(qc: Fields) -> tuple[AggCondition, ...]:
    """`agg_condition` entries; the first may omit `condition`, and a scalar `value` is one value."""
    conditions = []
    for cond in qc.objects("agg_condition"):
        value = cond.get("value")
        values: tuple[Any, ...] = tuple(value) if isinstance(value, list) else (() if value is None else (value,))
        connector = cond.text("condition", "and").lower()
        if connector not in _CONNECTORS:
            cond.fail("condition", "must be 'and' or 'or'")
        conditions.append(
            AggCondition(
                key=cond.text("key", required=True),
                method=cond.text("method", required=True),
                values=values,
                connector=connector,
            )
        )
    return tuple(conditions)
