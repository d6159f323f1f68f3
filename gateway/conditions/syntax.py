"""Syntax of the conditions language: the AST, the parser and rendering back to text."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeAlias

from cwm_gateway.errors import CWMError

Value: TypeAlias = str | int | Decimal | bool | None | datetime

#: Operators of :class:`Compare`, as written in condition text (lower case).
COMPARE_OPS = ("=", "!=", "<", "<=", ">", ">=", "like", "not like", "contains", "not contains")

_MAX_DEPTH = 64
_FIELD_SEGMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class ConditionSyntaxError(CWMError):
    """Condition text that cannot be parsed.

    ``position`` is the 0-based character offset of the problem and ``expected`` says what
    would have been valid there.
    """

    def __init__(self, message: str, *, text: str, position: int, expected: str) -> None:
        self.text = text
        self.position = position
        self.expected = expected
        self.reason = message
        super().__init__(f"{message} at position {position}: {_excerpt(text, position)}")


def _excerpt(text: str, position: int) -> str:
    start = max(0, position - 20)
    end = min(len(text), position + 20)
    before = ("..." if start else "") + text[start:position]
    after = text[position:end] + ("..." if end < len(text) else "")
    return f"{before!r} >>> {after!r}" if after else f"{before!r} <<< end of text"


# --------------------------------------------------------------------------------------------
# AST


class Expr:
    """Base of condition expressions; combine with ``&`` (and), ``|`` (or) and ``~`` (not)."""

    __slots__ = ()

    def __and__(self, other: Expr) -> Expr:
        from cwm_gateway.conditions.builder import and_  # the builder depends on this module

        return and_(self, other)

    def __or__(self, other: Expr) -> Expr:
        from cwm_gateway.conditions.builder import or_  # the builder depends on this module

        return or_(self, other)

    def __invert__(self) -> Expr:
        from cwm_gateway.conditions.builder import not_  # the builder depends on this module

        return not_(self)

    def __str__(self) -> str:
        return to_text(self)


@dataclass(frozen=True, slots=True)
class Compare(Expr):
    """``field op value``; ``op`` is one of :data:`COMPARE_OPS`."""

    field: str
    op: str
    value: Value


@dataclass(frozen=True, slots=True)
class In(Expr):
    """``field in (v1, v2, ...)`` or, when ``negated``, ``field not in (...)``."""

    field: str
    values: tuple[Value, ...]
    negated: bool = False


@dataclass(frozen=True, slots=True)
class And(Expr):
    """All of ``items`` (at least two)."""

    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Or(Expr):
    """Any of ``items`` (at least two)."""

    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Not(Expr):
    """``not (item)``."""

    item: Expr


# --------------------------------------------------------------------------------------------
# Tokenizer

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>-?[0-9]+(?:\.[0-9]+)?(?![A-Za-z_]))
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:/[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<op><=|>=|!=|<>|==|=|<|>)
  | (?P<punct>[(),])
    """,
    re.VERBOSE,
)

_KEYWORDS = frozenset({"and", "or", "not", "like", "contains", "in", "true", "false", "null"})

_VALUE_EXPECTED = "a value (a quoted string, a number, a [date], true, false or null)"


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # name, kw, string, number, date, op, punct, end
    text: str
    value: Any
    pos: int


def _tokenize(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch in "\"'":
            value, i2 = _read_string(text, i)
            toks.append(_Tok("string", text[i:i2], value, i))
            i = i2
            continue
        if ch == "[":
            end = text.find("]", i + 1)
            if end < 0:
                raise ConditionSyntaxError(
                    "unterminated date (missing ']')",
                    text=text,
                    position=i,
                    expected="a date like [2024-01-01T00:00:00Z]",
                )
            toks.append(_Tok("date", text[i : end + 1], _read_date(text, i, end), i))
            i = end + 1
            continue
        m = _TOKEN.match(text, i)
        if m is None:
            hint = ""
            if text.startswith("&&", i) or text.startswith("||", i):
                hint = " (use 'and' / 'or')"
            raise ConditionSyntaxError(
                f"unexpected character {ch!r}{hint}",
                text=text,
                position=i,
                expected="a field path, an operator, a value or a parenthesis",
            )
        kind = m.lastgroup
        tok_text = m.group()
        if kind == "number":
            toks.append(_Tok("number", tok_text, _read_number(text, i, tok_text), i))
        elif kind == "name":
            low = tok_text.lower()
            if low in _KEYWORDS:
                toks.append(_Tok("kw", tok_text, low, i))
            else:
                toks.append(_Tok("name", tok_text, tok_text, i))
        elif kind == "op":
            if tok_text == "==":
                raise ConditionSyntaxError(
                    "'==' is not an operator (use '=')", text=text, position=i, expected="'='"
                )
            if tok_text == "<>":
                raise ConditionSyntaxError(
                    "'<>' is not an operator (use '!=')", text=text, position=i, expected="'!='"
                )
            toks.append(_Tok("op", tok_text, tok_text, i))
        elif kind == "punct":
            toks.append(_Tok("punct", tok_text, tok_text, i))
        i = m.end()
    toks.append(_Tok("end", "", None, n))
    return toks


def _read_string(text: str, start: int) -> tuple[str, int]:
    quote = text[start]
    out: list[str] = []
    i = start + 1
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n and text[i + 1] in "\\\"'":
            out.append(text[i + 1])
            i += 2
            continue
        if ch == quote:
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    raise ConditionSyntaxError(
        f"unterminated string (missing closing {quote})",
        text=text,
        position=start,
        expected=f"a closing {quote}",
    )


def _read_date(text: str, start: int, end: int) -> datetime:
    raw = text[start + 1 : end].strip()
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise ConditionSyntaxError(
            f"{raw!r} is not a date",
            text=text,
            position=start,
            expected="an ISO 8601 date like [2024-01-01T00:00:00Z]",
        ) from None
    return value


def _read_number(text: str, pos: int, raw: str) -> int | Decimal:
    try:
        if "." in raw:
            return Decimal(raw)
        return int(raw)
    except (ValueError, InvalidOperation):  # int() refuses > 4300 digits
        raise ConditionSyntaxError(
            "number too long", text=text, position=pos, expected="a shorter number"
        ) from None


# --------------------------------------------------------------------------------------------
# Parser


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokenize(text)
        self.i = 0
        self.depth = 0

    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def fail(self, expected: str, tok: _Tok | None = None, extra: str = "") -> ConditionSyntaxError:
        tok = tok or self.tok
        found = "end of text" if tok.kind == "end" else repr(tok.text)
        return ConditionSyntaxError(
            f"expected {expected}, found {found}{extra}",
            text=self.text,
            position=tok.pos,
            expected=expected,
        )

    def is_kw(self, *words: str) -> bool:
        return self.tok.kind == "kw" and self.tok.value in words

    def parse(self) -> Expr:
        if self.tok.kind == "end":
            raise self.fail('a condition such as status/name = "Open"')
        expr = self.parse_or()
        if self.tok.kind != "end":
            raise self.fail("'and', 'or' or the end of the conditions")
        return expr

    def parse_or(self) -> Expr:
        return self.parse_chain("or", self.parse_and, Or)

    def parse_and(self) -> Expr:
        return self.parse_chain("and", self.parse_unary, And)

    def parse_chain(
        self, keyword: str, parse_item: Callable[[], Expr], node: Callable[[tuple[Expr, ...]], Expr]
    ) -> Expr:
        """``item (keyword item)*``: a single item as it is, several joined in ``node``."""
        items = [parse_item()]
        while self.is_kw(keyword):
            self.i += 1
            items.append(parse_item())
        return items[0] if len(items) == 1 else node(tuple(items))

    def parse_unary(self) -> Expr:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise self.fail("less deeply nested conditions", extra=f" (nesting over {_MAX_DEPTH})")
        try:
            if self.is_kw("not"):
                self.i += 1
                return Not(self.parse_unary())
            if self.tok.kind == "punct" and self.tok.value == "(":
                self.i += 1
                inner = self.parse_or()
                if not (self.tok.kind == "punct" and self.tok.value == ")"):
                    raise self.fail("')'")
                self.i += 1
                return inner
            return self.parse_comparison()
        finally:
            self.depth -= 1

    def parse_comparison(self) -> Expr:
        tok = self.tok
        if tok.kind != "name":
            extra = ""
            if tok.kind == "kw":
                extra = f" ({tok.text!r} is a keyword, not a field)"
            raise self.fail("a field path such as status/name, 'not' or '('", extra=extra)
        field = tok.value
        self.i += 1
        op_tok = self.tok
        if op_tok.kind == "op":
            self.i += 1
            return Compare(field, op_tok.value, self.parse_value())
        if op_tok.kind == "kw":
            word = op_tok.value
            if word in ("like", "contains"):
                self.i += 1
                return Compare(field, word, self.parse_value())
            if word == "in":
                self.i += 1
                return In(field, self.parse_list())
            if word == "not":
                self.i += 1
                nxt = self.tok
                if nxt.kind == "kw" and nxt.value in ("like", "contains"):
                    self.i += 1
                    return Compare(field, f"not {nxt.value}", self.parse_value())
                if nxt.kind == "kw" and nxt.value == "in":
                    self.i += 1
                    return In(field, self.parse_list(), negated=True)
                raise self.fail("'like', 'contains' or 'in' after 'not'")
        raise self.fail(
            "an operator (=, !=, <, <=, >, >=, like, contains, in, not like, not contains, not in)"
        )

    def parse_value(self) -> Value:
        tok = self.tok
        if tok.kind in ("string", "number", "date"):
            self.i += 1
            return tok.value  # type: ignore[no-any-return]
        if tok.kind == "kw" and tok.value in ("true", "false", "null"):
            self.i += 1
            return {"true": True, "false": False, "null": None}[tok.value]
        extra = ""
        if tok.kind == "name":
            extra = f' (quote strings: "{tok.text}")'
        raise self.fail(_VALUE_EXPECTED, extra=extra)

    def parse_list(self) -> tuple[Value, ...]:
        if not (self.tok.kind == "punct" and self.tok.value == "("):
            raise self.fail("'(' to start the list of values, e.g. in (1, 2)")
        self.i += 1
        values = [self.parse_value()]
        while self.tok.kind == "punct" and self.tok.value == ",":
            self.i += 1
            values.append(self.parse_value())
        if not (self.tok.kind == "punct" and self.tok.value == ")"):
            raise self.fail("',' or ')' in the list of values")
        self.i += 1
        return tuple(values)


def parse(text: str) -> Expr:
    """Parse condition text into an expression tree.

    Raises :class:`ConditionSyntaxError` (and nothing else) when the text is not valid.
    """
    if not isinstance(text, str):
        raise ConditionSyntaxError(
            f"conditions must be text, not {type(text).__name__}",
            text=repr(text),
            position=0,
            expected="a string",
        )
    return _Parser(text).parse()


# --------------------------------------------------------------------------------------------
# Rendering


def _render_value(value: Value) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        text = format(value, "f")
        return text if "." in text else text + ".0"
    if isinstance(value, datetime):
        text = value.isoformat()
        if text.endswith("+00:00"):
            text = text[:-6] + "Z"
        return f"[{text}]"
    raise TypeError(f"cannot render {type(value).__name__} as a condition value")


def _render(expr: Expr, parent: str) -> str:
    if isinstance(expr, Compare):
        return f"{expr.field} {expr.op} {_render_value(expr.value)}"
    if isinstance(expr, In):
        values = ", ".join(_render_value(v) for v in expr.values)
        return f"{expr.field} {'not in' if expr.negated else 'in'} ({values})"
    if isinstance(expr, Not):
        return f"not ({_render(expr.item, 'not')})"
    if isinstance(expr, And):
        text = " and ".join(_render(item, "and") for item in expr.items)
        # A nested And keeps its parentheses so that the tree round-trips exactly.
        return f"({text})" if parent == "and" else text
    if isinstance(expr, Or):
        text = " or ".join(_render(item, "or") for item in expr.items)
        return f"({text})" if parent in ("and", "or") else text
    raise TypeError(f"not a condition expression: {type(expr).__name__}")


def to_text(expr: Expr) -> str:
    """Render an expression as condition text; ``parse(to_text(e)) == e``."""
    return _render(expr, "")
