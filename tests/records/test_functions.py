"""`records.functions`: the original's time-shift parser and the point-wise functions."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from alarm_access.records.functions import UnsupportedFunction, compile_functions, time_offset


@pytest.mark.parametrize(("value", "expected"), [
    ("1d", -86400), ("-2h", 7200), ("0.5h", -1800), ("1w", -604800), ("30m", -1800), ("10s", -10),
    ("", 0), ("yesterday", 0), ("d1", 0), (3600, 3600), (True, 0), ("1hour", 0), ("2dy", -1), ("9" * 400 + "d", -1),
])
def test_time_offset_as_the_original(value: object, expected: int) -> None:
    assert time_offset(value) == expected


def test_calendar_offsets_count_back_from_now() -> None:
    now = datetime(2026, 3, 31, 12, tzinfo=UTC).timestamp()
    assert time_offset("1M", now) == int(datetime(2026, 2, 28, 12, tzinfo=UTC).timestamp() - now)
    assert time_offset("1y", now) == int(datetime(2025, 3, 31, 12, tzinfo=UTC).timestamp() - now)


def shift(n: str) -> dict[str, object]:
    return {"id": "time_shift", "params": [{"id": "n", "value": n}]}


def test_compiled_functions_shift_and_apply_in_order() -> None:
    functions = compile_functions([shift("1d"), {"id": "abs", "params": []}, {"id": "sqrt", "params": []}])
    assert functions.offset == -86400
    assert functions.apply(-16.0) == 4.0
    assert compile_functions([{"id": "ln"}]).apply(-1.0) is None
    assert compile_functions([{"id": "log10"}]).apply(0.0) == -math.inf
    assert compile_functions([{"id": "round"}]).apply(2.5) == 3.0
    assert compile_functions([{"id": "sgn"}]).apply(-0.2) == -1.0
    assert compile_functions([]).apply(None) is None


@pytest.mark.parametrize("function", [{"id": "rate", "params": [{"id": "window", "value": "2m"}]},
                                      {"id": "topk", "params": [{"id": "k", "value": 5}]}, {"id": None},
                                      {"id": "abs", "params": "x"}])
def test_what_cannot_be_applied_exactly_is_refused(function: dict[str, object]) -> None:
    with pytest.raises(UnsupportedFunction):
        compile_functions([function])
