"""`agg_condition` matching on record dimensions (spec data-access §3.2, RangeFilter step 2).

Conditions split into OR groups at every `connector == "or"`; within a group all must hold. A condition on
a field the record does not have is satisfied. Values compare as strings (`eq`, `neq`, `include`,
`exclude`, `reg`, `nreg`) or floats (`gt`, `gte`, `lt`, `lte`); a list-valued dimension matches `eq` when
any element does. Methods this matcher does not know are skipped (never silently drop data on them).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from alarm_access.kernel.model import REAL_TIME_METHOD, AggCondition, QueryConfig

_Test = Callable[[list[str]], bool]


#: Condition methods that some sources cannot push down into the query (they post-filter in access).
ADVANCED_METHODS = frozenset({"reg", "nreg", "include", "exclude"})

#: Sources whose query layer evaluates advanced conditions itself (`UnifyQueryDataSources`).
NATIVE_ADVANCED_SOURCES = frozenset({("bk_monitor", "time_series"), ("custom", "time_series"), ("bk_apm", "event")})


def has_advanced_condition(qc: QueryConfig) -> bool:
    """Whether a condition of `qc` uses a method that some sources cannot push down."""
    return any(cond.method in ADVANCED_METHODS for cond in qc.agg_condition)


def _strings(value: Any) -> list[str]:
    if isinstance(value, list | tuple | set | frozenset):
        return [str(v) for v in value]
    return [str(value)]


def _floats(values: Sequence[str]) -> list[float] | None:
    try:
        return [float(v) for v in values]
    except ValueError:
        return None


def _compare(method: str, wanted: list[str]) -> _Test | None:
    """A test over the record's string values for one condition, or `None` for an unknown method."""
    wanted_set = frozenset(wanted)
    if method in ("eq", "neq"):
        negate = method == "neq"
        return lambda got: bool(wanted_set.intersection(got)) != negate
    if method in ("include", "exclude"):
        negate = method == "exclude"
        return lambda got: bool(got and any(w in got[0] for w in wanted)) != negate
    if method in ("reg", "nreg"):
        negate = method == "nreg"
        try:
            patterns = [re.compile(w) for w in wanted]
        except re.error:
            return lambda got: negate  # an invalid pattern never matches, as in the original
        return lambda got: bool(got and any(p.search(got[0]) for p in patterns)) != negate
    bounds = _floats(wanted)
    if method not in ("gt", "gte", "lt", "lte") or not bounds:
        return None
    high, low = max(bounds), min(bounds)

    def numeric(got: list[str]) -> bool:
        numbers = _floats(got)
        if not numbers:
            return False
        if method in ("gt", "lte"):
            return (min(numbers) > high) == (method == "gt")
        return (max(numbers) < low) == (method == "lt")

    return numeric


class ConditionMatcher:
    """Compiled `agg_condition` of one item; `matches_conditions(dims)` answers the RangeFilter step."""

    __slots__ = ("_groups",)

    def __init__(self, groups: tuple[tuple[tuple[str, _Test], ...], ...]) -> None:
        self._groups = groups

    def matches_conditions(self, dims: Mapping[str, Any]) -> bool:
        for group in self._groups:
            for field, test in group:
                if field in dims and not test(_strings(dims[field])):
                    break
            else:
                return True
        return False


def compile_conditions(conditions: Sequence[AggCondition]) -> ConditionMatcher:
    groups: list[list[tuple[str, _Test]]] = [[]]
    for index, cond in enumerate(conditions):
        if index and cond.connector.lower() == "or":
            groups.append([])
        test = _compare(cond.method.lower(), _strings(list(cond.values)))
        if test is not None:
            groups[-1].append((cond.key, test))
    return ConditionMatcher(tuple(tuple(group) for group in groups))


def post_filter_matcher(qc: QueryConfig) -> ConditionMatcher | None:
    """The matcher access must apply itself for an item whose first query config is `qc`.

    Real-time items always match their conditions here (nothing queried them). Others only when the
    source cannot evaluate advanced methods and some condition uses one: the group query then ran without
    conditions (see `grouping.query_params`).
    """
    if not qc.agg_condition:
        return None
    if qc.agg_method.upper() != REAL_TIME_METHOD and (
        qc.source in NATIVE_ADVANCED_SOURCES or not any(c.method in ADVANCED_METHODS for c in qc.agg_condition)
    ):
        return None
    return compile_conditions(qc.agg_condition)
