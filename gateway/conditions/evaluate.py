"""Evaluate a condition against a record (the sandbox filters with it)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from cwm_gateway.conditions.syntax import (
    And,
    Compare,
    Expr,
    In,
    Not,
    Or,
    Value,
    parse,
)

# --------------------------------------------------------------------------------------------
# Evaluation (sandbox)

_MISSING: Any = object()


def _lookup(record: Any, path: str) -> list[Any]:
    """Values at ``path``; arrays on the way fan out (a child condition matches any child)."""
    current = [record]
    for seg in path.split("/"):
        nxt: list[Any] = []
        low = seg.lower()
        for item in current:
            if isinstance(item, list):
                items = item
            else:
                items = [item]
            for obj in items:
                if not isinstance(obj, Mapping):
                    continue
                if seg in obj:
                    nxt.append(obj[seg])
                    continue
                for key, val in obj.items():
                    if isinstance(key, str) and key.lower() == low:
                        nxt.append(val)
                        break
        current = nxt
    flat: list[Any] = []
    for v in current:
        if isinstance(v, list):
            flat.extend(v)
        else:
            flat.append(v)
    return flat


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        dt = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    else:
        return None
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def _as_number(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, Decimal)):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            d = Decimal(value.strip())
        except InvalidOperation:
            return None
        return d if d.is_finite() else None
    return None


def _norm_pair(left: Any, right: Value) -> tuple[Any, Any] | None:
    """Bring a record value and a literal to one comparable type, or None if they cannot be."""
    if isinstance(right, datetime):
        dl = _as_datetime(left)
        return (dl, _as_datetime(right)) if dl is not None else None
    if isinstance(right, bool) or isinstance(left, bool):

        def as_bool(v: Any) -> bool | None:
            if isinstance(v, bool):
                return v
            if isinstance(v, str) and v.strip().lower() in ("true", "false"):
                return v.strip().lower() == "true"
            if isinstance(v, int):
                return v != 0
            return None

        bl, br = as_bool(left), as_bool(right)
        return (bl, br) if bl is not None and br is not None else None
    if isinstance(right, (int, Decimal)) or (
        isinstance(left, (int, float, Decimal)) and not isinstance(left, bool)
    ):
        nl, nr = _as_number(left), _as_number(right)
        if nl is not None and nr is not None:
            return nl, nr
    if isinstance(left, (str, int, float, Decimal)) and isinstance(right, str):
        # SQL Server's default collation: case-insensitive, trailing spaces ignored.
        return str(left).rstrip(" ").casefold(), right.rstrip(" ").casefold()
    if isinstance(left, str) and isinstance(right, (int, Decimal)):
        return left.casefold(), str(right).casefold()
    return None


@lru_cache(maxsize=512)
def _like_regex(pattern: str) -> re.Pattern[str]:
    parts = []
    for ch in pattern:
        if ch == "%":
            parts.append(".*")
        elif ch == "_":
            parts.append(".")
        else:
            parts.append(re.escape(ch))
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


def _compare_one(left: Any, op: str, right: Value) -> bool | None:
    """Three-valued comparison of one record value with a literal (None = unknown)."""
    if right is None:
        if op == "=":
            return left is None
        if op == "!=":
            return left is not None
        return None
    if left is None:
        return None
    if op in ("like", "not like", "contains", "not contains"):
        if isinstance(left, (dict, list)):
            return None
        text = left if isinstance(left, str) else _render_plain(left)
        pattern = right if isinstance(right, str) else _render_plain(right)
        if op.endswith("like"):
            hit = _like_regex(pattern).fullmatch(text) is not None
        else:
            hit = pattern.casefold() in text.casefold()
        return not hit if op.startswith("not") else hit
    pair = _norm_pair(left, right)
    if pair is None:
        # Values of unrelated types are simply different (SQL would fail to convert).
        return {"=": False, "!=": True}.get(op)
    a, b = pair
    try:
        if op == "=":
            return bool(a == b)
        if op == "!=":
            return bool(a != b)
        if op == "<":
            return bool(a < b)
        if op == "<=":
            return bool(a <= b)
        if op == ">":
            return bool(a > b)
        if op == ">=":
            return bool(a >= b)
    except TypeError:
        return None
    raise ValueError(f"unknown operator {op!r}")


def _render_plain(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _any3(results: Iterable[bool | None]) -> bool | None:
    unknown = False
    for r in results:
        if r is True:
            return True
        if r is None:
            unknown = True
    return None if unknown else False


def _eval(expr: Expr, record: Mapping[str, Any]) -> bool | None:
    if isinstance(expr, Compare):
        values = _lookup(record, expr.field) or [None]
        if expr.op in ("!=", "not like", "not contains") and len(values) > 1:
            # Over a child collection "not" means no child matches the positive form.
            positive = {"!=": "=", "not like": "like", "not contains": "contains"}[expr.op]
            hit = _any3(_compare_one(v, positive, expr.value) for v in values)
            return None if hit is None else not hit
        return _any3(_compare_one(v, expr.op, expr.value) for v in values)
    if isinstance(expr, In):
        values = _lookup(record, expr.field) or [None]
        hit = _any3(_compare_one(v, "=", lit) for v in values for lit in expr.values)
        if not expr.negated:
            return hit
        return None if hit is None else not hit
    if isinstance(expr, Not):
        inner = _eval(expr.item, record)
        return None if inner is None else not inner
    if isinstance(expr, And):
        unknown = False
        for item in expr.items:
            r = _eval(item, record)
            if r is False:
                return False
            if r is None:
                unknown = True
        return None if unknown else True
    if isinstance(expr, Or):
        return _any3(_eval(item, record) for item in expr.items)
    raise TypeError(f"not a condition expression: {type(expr).__name__}")


def evaluate(expr: Expr | str, record: Mapping[str, Any]) -> bool:
    """Whether ``record`` (a JSON object) matches ``expr``, as ConnectWise's SQL would decide.

    Strings compare case-insensitively, numbers numerically, dates as datetimes (naive ones as
    UTC). ``null`` follows SQL: ``field = null`` matches a missing or null field, any other
    comparison with null is unknown, and unknown does not match (also under ``not``).
    A path through an array matches when any element matches.
    """
    if isinstance(expr, str):
        expr = parse(expr)
    return _eval(expr, record) is True
