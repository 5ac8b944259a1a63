"""`records.expression`: the grammar, case-insensitive names, None for a missing operand or a zero divisor."""

from __future__ import annotations

import pytest

from alarm_access.records.expression import ExpressionError, parse_expression

AB = frozenset({"a", "b"})


@pytest.mark.parametrize(("text", "values", "expected"), [
    ("a + b", {"a": 1.5, "b": 2.0}, 3.5),
    ("a - b * 2", {"a": 10.0, "b": 3.0}, 4.0),
    ("(a - b) * 2", {"a": 10.0, "b": 3.0}, 14.0),
    ("a / b * 100", {"a": 1.0, "b": 4.0}, 25.0),
    ("-a + +b", {"a": 1.0, "b": 4.0}, 3.0),
    ("A + B", {"a": 1.0, "b": 4.0}, 5.0),
    ("a * 1e2 + .5", {"a": 2.0, "b": 0.0}, 200.5),
    ("a - b - 1", {"a": 5.0, "b": 1.0}, 3.0),  # left-associative
    ("a / b / 2", {"a": 8.0, "b": 2.0}, 2.0),
    ("a / b", {"a": 1.0, "b": 0.0}, None),
    ("a + b", {"a": 1.0}, None),
    ("a + b", {"a": 1.0, "b": None}, None),
])
def test_evaluation(text: str, values: dict[str, float | None], expected: float | None) -> None:
    assert parse_expression(text, AB).evaluate(values) == expected


def test_names_are_lowercase() -> None:
    assert parse_expression("A * b", AB).names == {"a", "b"}


@pytest.mark.parametrize(("text", "problem"), [
    ("", "empty"), ("a +", "end"), ("(a + b", "not closed"), ("a b", "after a complete"),
    ("a + c", "not an alias"), ("__import__('os')", "unexpected"), ("os", "not an alias"),
    ("a ** b", "unexpected"), ("a % b", "unexpected"),
])
def test_errors_name_the_problem(text: str, problem: str) -> None:
    with pytest.raises(ExpressionError, match=problem):
        parse_expression(text, AB)
