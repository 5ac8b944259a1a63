"""Query and item `functions` of the original's data path: `time_shift` and the point-wise arithmetic.

A function is `{"id": name, "params": [{"id": param, "value": v}, ...]}`. Supported:

* `time_shift` (param `n`, e.g. `1d`, `-2h`, `0.5h`, `1w`, `1M`, `1y`): parsed as the original's
  `parse_time_compare_abbreviation` — the offset in seconds is *negative* for a look-back (`1d` → -86400),
  an unparsable value is 0 (no shift), `M`/`y` are calendar months/years back from now. The storage window
  is moved by the offset and each bucket time moved back by it, so past data appears at current times;
* `abs`, `ceil`, `floor`, `round`, `ln`, `log2`, `log10`, `sgn`, `sqrt`: applied to each value, as PromQL
  does (a value out of the function's domain — `ln` of a negative — is None and its bucket is dropped).

Every other function of the original (`rate`, `increase`, `delta`, `topk`, `histogram_quantile`, ...) needs
the raw samples inside each bucket, which the sources' aggregated buckets no longer hold: such a strategy is
invalid here (`UnsupportedFunction`, named at load) rather than run with wrong values.
"""

from __future__ import annotations

import calendar
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_ABBREVIATION = re.compile(r"^[-+]?[0-9]*\.?[0-9]+[smhdwMy]")


def _sgn(value: float) -> float:
    return math.copysign(1.0, value) if value else 0.0


def _log(base: float | None) -> Callable[[float], float | None]:
    def log(value: float) -> float | None:
        if value < 0:
            return None
        if value == 0:
            return -math.inf
        return math.log(value) if base is None else math.log(value, base)

    return log


POINTWISE: Mapping[str, Callable[[float], float | None]] = {
    "abs": abs,
    "ceil": lambda v: float(math.ceil(v)),
    "floor": lambda v: float(math.floor(v)),
    "round": lambda v: float(math.floor(v + 0.5)),  # PromQL rounds half up
    "ln": _log(None),
    "log2": _log(2),
    "log10": _log(10),
    "sgn": _sgn,
    "sqrt": lambda v: math.sqrt(v) if v >= 0 else None,
}


class UnsupportedFunction(ValueError):
    """A function this implementation cannot apply exactly, or a malformed function entry."""


def time_offset(value: Any, now: float | None = None) -> int:
    """The original's offset in seconds of a `time_shift` value (negative: the past; 0 when unparsable)."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int | float):
        return int(value)
    text = str(value).strip()
    if not text or not _ABBREVIATION.match(text):
        return 0
    unit, amount = text[-1], text[:-1]
    if unit in _UNITS:
        try:
            return -int(float(amount) * _UNITS[unit])
        except (ValueError, OverflowError):
            return -1
    if unit not in "My":  # e.g. "1hour": the original's pattern matches a prefix; its parse then fails
        return 0
    try:
        months = int(float(amount)) * (1 if unit == "M" else 12)
    except (ValueError, OverflowError):
        return -1
    current = datetime.fromtimestamp(time_now() if now is None else now, UTC)
    return int((_months_back(current, months) - current).total_seconds())


def time_now() -> float:
    return datetime.now(UTC).timestamp()


def _months_back(moment: datetime, months: int) -> datetime:
    total = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(total, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


@dataclass(frozen=True, slots=True)
class Functions:
    """The compiled `functions` of a query config or an item: one time offset and the point-wise steps."""

    offset: int = 0
    steps: tuple[Callable[[float], float | None], ...] = ()

    def apply(self, value: float | None) -> float | None:
        for step in self.steps:
            if value is None:
                return None
            value = step(value)
        return value


NO_FUNCTIONS = Functions()


def compile_functions(functions: Sequence[Mapping[str, Any]], *, now: float | None = None) -> Functions:
    """Compile `functions` in order; raises `UnsupportedFunction` naming the first it cannot apply."""
    offset, steps = 0, []
    for function in functions:
        name = function.get("id")
        params = function.get("params") or []
        if not isinstance(params, list) or not all(isinstance(p, Mapping) for p in params):
            raise UnsupportedFunction(f"function {name!r}: params must be a list of {{id, value}} objects")
        if name == "time_shift":
            values = {p.get("id"): p.get("value") for p in params}
            offset += time_offset(values.get("n", ""), now)
        elif name in POINTWISE:
            steps.append(POINTWISE[str(name)])
        else:
            raise UnsupportedFunction(f"function {name!r} is not supported (supported: time_shift, "
                                      f"{', '.join(POINTWISE)})")
    return Functions(offset, tuple(steps)) if offset or steps else NO_FUNCTIONS
