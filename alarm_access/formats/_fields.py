"""Typed reads of one JSON object that fail with an `InvalidStrategy` naming the entry and the field path.

Every parser in this package reads documents through `Fields`, so an error always says which document
("strategy 12", "host at index 3") and which field (``items[0].query_configs[1].agg_interval``) is wrong.
`None` counts as "absent" for optional fields: the original exporters write `null` for unset values.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, NoReturn, TypeVar

from alarm_access.kernel.errors import InvalidStrategy

H = TypeVar("H")


@functools.lru_cache(maxsize=4096)
def _first(value: Any) -> Any:
    return value


def shared(value: H) -> H:
    """`value`, or an equal one returned before: the many strategies that say the same (dimensions, labels,
    no-data options) hold one object. Only for immutable values whose equal ones are interchangeable (not
    `1` and `True`): tuples of strings, option dataclasses of validated fields. Bounded; pure."""
    result: H = _first(value)
    return result


def is_int(value: Any) -> bool:
    """True for JSON integers; `bool` is an `int` subclass in Python but never a valid id or count."""
    return isinstance(value, int) and not isinstance(value, bool)


class Fields:
    """A JSON object being parsed, with its entry name and its path inside the entry."""

    def __init__(self, doc: Any, entry: str, path: str = "") -> None:
        if not isinstance(doc, Mapping):
            raise InvalidStrategy(entry, path or "(document)", "must be an object")
        self.doc: Mapping[str, Any] = doc
        self.entry = entry
        self.path = path

    def name(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def fail(self, key: str, problem: str) -> NoReturn:
        raise InvalidStrategy(self.entry, self.name(key), problem)

    def get(self, key: str) -> Any:
        return self.doc.get(key)

    def integer(self, key: str, default: int | None = None, *, minimum: int | None = None) -> int:
        """An int; required when `default` is None. `minimum` bounds it from below (inclusive)."""
        value = self.doc.get(key)
        if value is None:
            if default is None:
                self.fail(key, "is required")
            return default
        if not is_int(value) or (minimum is not None and value < minimum):
            self.fail(key, _int_problem(minimum))
        return int(value)

    def optional_integer(self, key: str) -> int | None:
        value = self.doc.get(key)
        if value is None:
            return None
        if not is_int(value):
            self.fail(key, "must be an integer or null")
        return int(value)

    def text(self, key: str, default: str = "", *, required: bool = False) -> str:
        value = self.doc.get(key)
        if value is None:
            if required:
                self.fail(key, "is required")
            return default
        if not isinstance(value, str):
            self.fail(key, "must be a string")
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self.doc.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.fail(key, "must be true or false")
        return value

    def array(self, key: str, *, required: bool = False) -> list[Any]:
        value = self.doc.get(key)
        if value is None:
            if required:
                self.fail(key, "is required")
            return []
        if not isinstance(value, list):
            self.fail(key, "must be a list")
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        values = self.array(key)
        if not all(isinstance(v, str) for v in values):
            self.fail(key, "must be a list of strings")
        return shared(tuple(values))

    def integers(self, key: str) -> tuple[int, ...]:
        values = self.array(key)
        if not all(is_int(v) for v in values):
            self.fail(key, "must be a list of integers")
        return tuple(values)

    def objects(self, key: str, *, required: bool = False) -> list[Fields]:
        """The list under `key`, each element wrapped (and checked to be an object)."""
        values = self.array(key, required=required)
        return [Fields(v, self.entry, f"{self.name(key)}[{i}]") for i, v in enumerate(values)]

    def mappings(self, key: str) -> tuple[Mapping[str, Any], ...]:
        return tuple(f.doc for f in self.objects(key))

    def child(self, key: str) -> Fields:
        """The object under `key`; an absent or null one reads as empty."""
        value = self.doc.get(key)
        return Fields({} if value is None else value, self.entry, self.name(key))


def _int_problem(minimum: int | None) -> str:
    if minimum == 1:
        return "must be a positive integer"
    if minimum == 0:
        return "must be a non-negative integer"
    return "must be an integer" if minimum is None else f"must be an integer >= {minimum}"
