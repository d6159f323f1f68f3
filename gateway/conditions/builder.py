"""Build correctly escaped condition text from Python values."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from cwm_gateway.conditions.syntax import (
    _FIELD_SEGMENT,
    _KEYWORDS,
    And,
    Compare,
    Expr,
    In,
    Not,
    Or,
    Value,
)

# --------------------------------------------------------------------------------------------
# Builder


def _check_field(path: str) -> str:
    if not isinstance(path, str) or not all(_FIELD_SEGMENT.match(seg) for seg in path.split("/")):
        raise ValueError(
            f"{path!r} is not a field path; use names separated by '/', e.g. 'status/name'"
        )
    if path.lower() in _KEYWORDS:
        raise ValueError(f"{path!r} is a keyword of the conditions language, not a field")
    return path


def _coerce_value(value: Any) -> Value:
    if value is None or isinstance(value, (bool, str, int, Decimal)):
        if isinstance(value, Decimal) and not value.is_finite():
            raise ValueError(f"{value} cannot be used in conditions")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value} cannot be used in conditions")
        return int(value) if value.is_integer() and abs(value) < 1e15 else Decimal(repr(value))
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    raise TypeError(
        f"{type(value).__name__} is not a condition value; use str, int, float, Decimal, bool, "
        "None, date or datetime"
    )


def _flatten(kind: type[And] | type[Or], exprs: Iterable[Expr]) -> tuple[Expr, ...]:
    out: list[Expr] = []
    for e in exprs:
        if not isinstance(e, Expr):
            raise TypeError(f"expected a condition expression, got {type(e).__name__}")
        if isinstance(e, kind):
            out.extend(e.items)
        else:
            out.append(e)
    return tuple(out)


def and_(*exprs: Expr) -> Expr:
    """All of ``exprs``; nested ``and`` groups are flattened."""
    items = _flatten(And, exprs)
    if not items:
        raise ValueError("and_() needs at least one condition")
    return items[0] if len(items) == 1 else And(items)


def or_(*exprs: Expr) -> Expr:
    """Any of ``exprs``; nested ``or`` groups are flattened."""
    items = _flatten(Or, exprs)
    if not items:
        raise ValueError("or_() needs at least one condition")
    return items[0] if len(items) == 1 else Or(items)


def not_(expr: Expr) -> Expr:
    """``not (expr)``."""
    if not isinstance(expr, Expr):
        raise TypeError(f"expected a condition expression, got {type(expr).__name__}")
    return Not(expr)


def like(field: str, pattern: str) -> Compare:
    """``field like pattern`` (``%`` any run of characters, ``_`` one character)."""
    return Cond(field).like(pattern)


def contains(field: str, text: str) -> Compare:
    """``field contains text``."""
    return Cond(field).contains(text)


def in_(field: str, values: Iterable[Any]) -> In:
    """``field in (values...)``."""
    return Cond(field).in_(values)


class Cond:
    """A field reference that builds conditions with Python operators.

    >>> to_text((Cond("status/name") == "Open") & Cond("board/id").in_([1, 2]))
    'status/name = "Open" and board/id in (1, 2)'
    """

    __slots__ = ("field",)
    __hash__ = None  # type: ignore[assignment]  # == builds an expression, so no hashing

    def __init__(self, field: str) -> None:
        self.field = _check_field(field)

    def _cmp(self, op: str, value: Any) -> Compare:
        return Compare(self.field, op, _coerce_value(value))

    def __eq__(self, value: Any) -> Compare:  # type: ignore[override]
        return self._cmp("=", value)

    def __ne__(self, value: Any) -> Compare:  # type: ignore[override]
        return self._cmp("!=", value)

    def __lt__(self, value: Any) -> Compare:
        return self._cmp("<", value)

    def __le__(self, value: Any) -> Compare:
        return self._cmp("<=", value)

    def __gt__(self, value: Any) -> Compare:
        return self._cmp(">", value)

    def __ge__(self, value: Any) -> Compare:
        return self._cmp(">=", value)

    def _text(self, op: str, value: Any) -> Compare:
        if not isinstance(value, str):
            raise TypeError(f"{op} needs a string, got {type(value).__name__}")
        return Compare(self.field, op, value)

    def like(self, pattern: str) -> Compare:
        """``like`` with ``%``/``_`` wildcards."""
        return self._text("like", pattern)

    def not_like(self, pattern: str) -> Compare:
        """``not like``."""
        return self._text("not like", pattern)

    def contains(self, text: str) -> Compare:
        """``contains`` (substring)."""
        return self._text("contains", text)

    def not_contains(self, text: str) -> Compare:
        """``not contains``."""
        return self._text("not contains", text)

    def in_(self, values: Iterable[Any]) -> In:
        """``in (...)``; needs at least one value."""
        if isinstance(values, (str, bytes)):
            raise TypeError("in_() takes a list of values, not a single string")
        vals = tuple(_coerce_value(v) for v in values)
        if not vals:
            raise ValueError("in_() needs at least one value")
        return In(self.field, vals)

    def not_in(self, values: Iterable[Any]) -> In:
        """``not in (...)``."""
        return In(self.field, self.in_(values).values, negated=True)

    def is_null(self) -> Compare:
        """``field = null``."""
        return Compare(self.field, "=", None)

    def is_not_null(self) -> Compare:
        """``field != null``."""
        return Compare(self.field, "!=", None)

    def __repr__(self) -> str:
        return f"Cond({self.field!r})"
