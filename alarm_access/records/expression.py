"""The arithmetic of an item's `expression` over its query configs' aliases (spec data-access §1.6).

The grammar, a small recursive-descent parser (never `eval`)::

    expression := term (("+" | "-") term)*
    term       := unary (("*" | "/") unary)*
    unary      := "-" unary | "+" unary | atom
    atom       := NUMBER | NAME | "(" expression ")"

Names are the query configs' aliases, matched without regard to case (the original lowercases both the
expression and every alias before the unified query evaluates it). Evaluation follows the original's
unified query: a missing operand (the series has no point of that alias in the bucket) or a division by
zero makes the bucket's value None, which the pipeline then drops as `none_value`.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

#: one compiled (sub)expression: the value of a bucket from the aliases' values there
Node = Callable[[Mapping[str, float | None]], float | None]

_TOKEN = re.compile(r"\s*(?:(?P<number>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)"
                    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>[-+*/()]))")


class ExpressionError(ValueError):
    """The expression is not in the grammar, or names an alias the item does not have."""


@dataclass(frozen=True, slots=True)
class Expression:
    """A parsed expression: `names` (lowercase) it reads, `evaluate` of one bucket's values by name."""

    text: str
    names: frozenset[str]
    evaluate: Node


def _divide(left: float, right: float) -> float | None:
    return None if right == 0 else left / right


_BINARY: Mapping[str, Callable[[float, float], float | None]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": _divide,
}


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        position, text = 0, text.rstrip()
        while position < len(text):
            match = _TOKEN.match(text, position)
            if match is None or match.end() == position:
                raise ExpressionError(f"unexpected {text[position:].strip()[:10]!r} at position {position}")
            kind = match.lastgroup or "op"
            self.tokens.append((kind, match.group(kind)))
            position = match.end()
        self.at = 0
        self.names: set[str] = set()

    def peek(self) -> str | None:
        return self.tokens[self.at][1] if self.at < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        if self.at >= len(self.tokens):
            raise ExpressionError("unexpected end of the expression")
        self.at += 1
        return self.tokens[self.at - 1]

    def expression(self) -> Node:
        node = self.term()
        while self.peek() in ("+", "-"):
            node = _binary(_BINARY[self.take()[1]], node, self.term())
        return node

    def term(self) -> Node:
        node = self.unary()
        while self.peek() in ("*", "/"):
            node = _binary(_BINARY[self.take()[1]], node, self.unary())
        return node

    def unary(self) -> Node:
        if self.peek() in ("-", "+"):
            sign = self.take()[1]
            inner = self.unary()
            return inner if sign == "+" else _binary(operator.sub, lambda _: 0.0, inner)
        return self.atom()

    def atom(self) -> Node:
        kind, text = self.take()
        if kind == "number":
            number = float(text)
            return lambda _: number
        if kind == "name":
            name = text.lower()
            self.names.add(name)
            return lambda values: values.get(name)
        if text == "(":
            node = self.expression()
            if self.peek() != ")":
                raise ExpressionError("a '(' is not closed")
            self.take()
            return node
        raise ExpressionError(f"unexpected {text!r}")


def _binary(apply: Callable[[float, float], float | None], left: Node, right: Node) -> Node:
    def node(values: Mapping[str, float | None]) -> float | None:
        a, b = left(values), right(values)
        return None if a is None or b is None else apply(a, b)

    return node


def parse_expression(text: str, aliases: frozenset[str]) -> Expression:
    """Parse `text` over `aliases` (lowercase); raises `ExpressionError` naming what is wrong."""
    parser = _Parser(text)
    if not parser.tokens:
        raise ExpressionError("is empty")
    node = parser.expression()
    if parser.peek() is not None:
        raise ExpressionError(f"unexpected {parser.peek()!r} after a complete expression")
    unknown = parser.names - aliases
    if unknown:
        raise ExpressionError(f"names {', '.join(sorted(unknown))}, not an alias of the item's query configs "
                              f"({', '.join(sorted(aliases)) or 'none'})")
    return Expression(text, frozenset(parser.names), node)
