"""ConnectWise's ``conditions`` query language: parse, check, evaluate, build.

ConnectWise list endpoints filter with a small SQL-like language passed as text, e.g.
``status/name = "Open" and company/identifier like "Ab%"``. A mistake in it (a misspelt field,
an unquoted string, ``==``) only shows up as an opaque 400 from the server, so this module
checks the text against the generated field graph before anything is sent, and offers a builder
that produces correctly escaped text from Python values.

The AST is a handful of frozen dataclasses (:class:`Compare`, :class:`In`, :class:`And`,
:class:`Or`, :class:`Not`). Literal values are ``str``, ``int``, ``Decimal`` (non-integral
numbers, so they render exactly as written), ``bool``, ``None`` and ``datetime``.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, TypeAlias

from cwm_gateway.errors import CWMError, Problem

__all__ = [
    "And",
    "Compare",
    "Cond",
    "ConditionSyntaxError",
    "Expr",
    "In",
    "Not",
    "Or",
    "Value",
    "and_",
    "check_child_conditions",
    "check_custom_field_conditions",
    "check_field_paths",
    "check_fields",
    "check_order_by",
    "contains",
    "evaluate",
    "field_paths",
    "in_",
    "like",
    "not_",
    "or_",
    "parse",
    "to_text",
]

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
        return and_(self, other)

    def __or__(self, other: Expr) -> Expr:
        return or_(self, other)

    def __invert__(self) -> Expr:
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
        items = [self.parse_and()]
        while self.is_kw("or"):
            self.i += 1
            items.append(self.parse_and())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def parse_and(self) -> Expr:
        items = [self.parse_unary()]
        while self.is_kw("and"):
            self.i += 1
            items.append(self.parse_unary())
        return items[0] if len(items) == 1 else And(tuple(items))

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


# --------------------------------------------------------------------------------------------
# Field paths and checks against the schema graph


def field_paths(expr: Expr) -> list[str]:
    """Field paths used in ``expr``, in order of first appearance, without duplicates."""
    seen: dict[str, None] = {}
    stack = [expr]
    out: list[Expr] = []
    while stack:
        e = stack.pop()
        if isinstance(e, (Compare, In)):
            out.append(e)
        elif isinstance(e, (And, Or)):
            stack.extend(reversed(e.items))
        elif isinstance(e, Not):
            stack.append(e.item)
    for e in out:
        seen.setdefault(e.field)  # type: ignore[union-attr]
    return list(seen)


def _default_schemas() -> Mapping[str, Any]:
    from cwm_generated.schemas import SCHEMAS

    return SCHEMAS


# Field names whose children are free-form: metadata and user-defined custom fields.
_FREE_FORM = frozenset({"_info", "customFields"})
# ConnectWise also filters and sorts on these audit values at the top level of a record that
# has ``_info`` (e.g. ``lastUpdated > [2024-01-01T00:00:00Z]``), though the spec lists them only
# inside ``_info``.
_AUDIT_FIELDS = frozenset({"lastupdated", "dateentered", "enteredby", "updatedby"})


@dataclass(frozen=True, slots=True)
class _Resolution:
    ok: bool
    field: Any = None  # the leaf Field, when known
    schema: str | None = None  # the schema the leaf lives in
    problem: Problem | None = None


def _field_lookup(fields: Mapping[str, Any], name: str) -> tuple[str, Any] | None:
    f = fields.get(name)
    if f is not None:
        return name, f
    low = name.lower()
    for key, f in fields.items():
        if key.lower() == low:
            return key, f
    return None


def _close_names(name: str, choices: Iterable[str]) -> list[str]:
    choices = list(choices)
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in choices}
        close = [
            lowered[c] for c in difflib.get_close_matches(name.lower(), lowered, n=3, cutoff=0.6)
        ]
    return close


def _quote_alternatives(paths: list[str]) -> str:
    quoted = [f"'{p}'" for p in paths]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


def _some_fields(fields: Iterable[str], limit: int = 12) -> str:
    names = list(fields)
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} fields)" if len(names) > limit else "")


def resolve_field_path(
    path: str,
    schema_name: str,
    where: str,
    schemas: Mapping[str, Any] | None = None,
    hints: bool = True,
) -> _Resolution:
    """Follow ``path`` through the field graph from ``schema_name``."""
    schemas = _default_schemas() if schemas is None else schemas
    schema = schemas.get(schema_name)
    if schema is None:
        return _Resolution(True)
    segments = path.split("/")
    current = schema
    done: list[str] = []
    field = None
    for idx, seg in enumerate(segments):
        if current is None:
            return _Resolution(True)
        found = _field_lookup(current.fields, seg)
        if found is None:
            if seg in _FREE_FORM:
                return _Resolution(True)
            if not done and seg.lower() in _AUDIT_FIELDS and "_info" in current.fields:
                return _Resolution(True)
            prefix = "/".join(done) + "/" if done else ""
            inner = f" ('{seg}' is not a field of {current.name})" if done else ""
            hint_parts = []
            if hints:
                rest = "/".join(segments[idx + 1 :])
                close = [prefix + name for name in _close_names(seg, current.fields)]
                # Prefer corrections under which the rest of the path also resolves.
                full = [
                    f"{cand}/{rest}"
                    for cand in close
                    if rest
                    and resolve_field_path(f"{cand}/{rest}", schema_name, where, schemas, False).ok
                ]
                if full or close:
                    hint_parts.append(f"did you mean {_quote_alternatives(full or close)}?")
            if hints:
                hint_parts.append(f"fields of {current.name}: {_some_fields(current.fields)}")
            return _Resolution(
                False,
                problem=Problem(
                    where,
                    f"'{path}' is not a field of {schema.name}{inner}",
                    " ".join(hint_parts),
                ),
            )
        key, field = found
        done.append(key)
        if key in _FREE_FORM:
            return _Resolution(True, field=None)
        rest = segments[idx + 1 :]
        if field.ref is not None:
            current = schemas.get(field.ref)
            continue
        if rest and field.type not in ("object", "any"):
            return _Resolution(
                False,
                problem=Problem(
                    where,
                    f"'{path}' is not a field of {schema.name}: "
                    f"'{'/'.join(done)}' is a {field.type} and has no sub-fields",
                ),
            )
        current = None
    return _Resolution(True, field=field, schema=current.name if current is not None else None)


def _is_reference(field: Any) -> bool:
    return field is not None and field.ref is not None


def _problem_object_leaf(
    path: str, res: _Resolution, where: str, schemas: Mapping[str, Any], verb: str = "compare"
) -> Problem:
    sub = schemas.get(res.field.ref)
    names = list(sub.fields) if sub is not None else []
    examples = [f"{path}/{n}" for n in ("id", "name", "identifier") if n in names] or [
        f"{path}/{n}" for n in names[:2]
    ]
    return Problem(
        where,
        f"'{path}' is an object ({res.field.ref}), not a value",
        f"{verb} one of its fields, e.g. " + " or ".join(examples) if examples else None,
    )


def _value_problem(path: str, op: str, value: Value, field: Any, where: str) -> Problem | None:
    if value is None or field is None:
        return None
    ftype = field.type
    fmt = field.format or ""
    if op in ("like", "not like", "contains", "not contains"):
        if ftype != "string" or "date" in fmt:
            return Problem(where, f"'{op}' needs a text field, but '{path}' is a {ftype}")
        if not isinstance(value, str):
            return Problem(where, f"'{op}' needs a quoted string value for '{path}'")
        return None
    if ftype in ("integer", "number"):
        if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
            return Problem(where, f"'{path}' is a number; compare it with a number")
        if isinstance(value, str):
            try:
                Decimal(value)
            except InvalidOperation:
                return Problem(where, f"'{path}' is a number, not text", f"e.g. {path} = 5")
        return None
    if ftype == "boolean" and not isinstance(value, bool):
        return Problem(where, f"'{path}' is true/false", f"e.g. {path} = true")
    if ftype == "string" and "date" in fmt and not isinstance(value, datetime):
        return Problem(
            where,
            f"'{path}' is a date; dates go in square brackets",
            f"e.g. {path} > [2024-01-01T00:00:00Z]",
        )
    if ftype == "string" and isinstance(value, bool):
        return Problem(where, f"'{path}' is text; quote the value", f'e.g. {path} = "{value}"')
    if field.enum and isinstance(value, str):
        allowed = {e.lower() for e in field.enum}
        if value.lower() not in allowed and op in ("=", "!="):
            return Problem(
                where,
                f"{value!r} is not a value of '{path}'",
                "allowed: " + ", ".join(field.enum),
            )
    return None


def _leaves(expr: Expr) -> list[Compare | In]:
    out: list[Compare | In] = []
    stack = [expr]
    while stack:
        e = stack.pop()
        if isinstance(e, (Compare, In)):
            out.append(e)
        elif isinstance(e, (And, Or)):
            stack.extend(reversed(e.items))
        elif isinstance(e, Not):
            stack.append(e.item)
    return out


def _parse_for_check(text_or_expr: str | Expr, where: str) -> tuple[Expr | None, list[Problem]]:
    if isinstance(text_or_expr, Expr):
        return text_or_expr, []
    try:
        return parse(text_or_expr), []
    except ConditionSyntaxError as exc:
        return None, [Problem(where, str(exc), f"expected {exc.expected}")]


def check_field_paths(
    text_or_expr: str | Expr,
    schema_name: str,
    param: str = "conditions",
    *,
    schemas: Mapping[str, Any] | None = None,
) -> list[Problem]:
    """Problems with condition text (syntax, unknown fields, mistyped values).

    Every field path is resolved through the field graph starting at ``schema_name``. Returns an
    empty list when all is well or when ``schema_name`` is not a known schema (nothing to check
    against). ``param`` names the query parameter in :attr:`Problem.where`.
    """
    where = f"query.{param}"
    expr, problems = _parse_for_check(text_or_expr, where)
    if expr is None:
        return problems
    schemas = _default_schemas() if schemas is None else schemas
    if schema_name not in schemas:
        return problems
    seen: set[str] = set()
    for leaf in _leaves(expr):
        res = resolve_field_path(leaf.field, schema_name, where, schemas)
        if not res.ok:
            if leaf.field not in seen:
                problems.append(res.problem)  # type: ignore[arg-type]
                seen.add(leaf.field)
            continue
        if _is_reference(res.field) and schemas.get(res.field.ref) is not None:
            if leaf.field not in seen:
                problems.append(_problem_object_leaf(leaf.field, res, where, schemas))
                seen.add(leaf.field)
            continue
        if isinstance(leaf, Compare):
            values: tuple[tuple[str, Value], ...] = ((leaf.op, leaf.value),)
        else:
            values = tuple(("=", v) for v in leaf.values)
        for op, value in values:
            p = _value_problem(leaf.field, op, value, res.field, where)
            if p is not None:
                problems.append(p)
                break
    return problems


def check_child_conditions(
    text: str | Expr, schema_name: str, *, schemas: Mapping[str, Any] | None = None
) -> list[Problem]:
    """Problems with ``childConditions`` (conditions on child collections, same language)."""
    return check_field_paths(text, schema_name, "childConditions", schemas=schemas)


# Fields of CustomFieldValue, the item of every ``customFields`` array.
_CUSTOM_FIELD_NAMES = (
    "id",
    "caption",
    "type",
    "entryMethod",
    "numberOfDecimals",
    "value",
    "connectWiseId",
)


def check_custom_field_conditions(text: str | Expr) -> list[Problem]:
    """Problems with ``customFieldConditions``, e.g. ``caption = "Region" and value = "EU"``.

    Only the syntax is enforced; a field name is reported only when it looks like a typo of a
    custom field property (ConnectWise accepts more names than the spec lists).
    """
    where = "query.customFieldConditions"
    expr, problems = _parse_for_check(text, where)
    if expr is None:
        return problems
    known = {n.lower() for n in _CUSTOM_FIELD_NAMES}
    for path in field_paths(expr):
        if path.lower() in known:
            continue
        close = difflib.get_close_matches(path, _CUSTOM_FIELD_NAMES, n=1, cutoff=0.75)
        if close:
            problems.append(
                Problem(
                    where,
                    f"'{path}' is not a custom field property",
                    f"did you mean '{close[0]}'? properties: {', '.join(_CUSTOM_FIELD_NAMES)}",
                )
            )
    return problems


def _split_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",")]


def _check_path_syntax(item: str, where: str, what: str) -> Problem | None:
    if not item:
        return Problem(where, f"empty {what} in the comma-separated list")
    if not all(_FIELD_SEGMENT.match(seg) for seg in item.split("/")):
        return Problem(
            where,
            f"{item!r} is not a field path",
            "use names separated by '/', e.g. status/name",
        )
    return None


def check_order_by(
    text: str, schema_name: str, *, schemas: Mapping[str, Any] | None = None
) -> list[Problem]:
    """Problems with ``orderBy``: a comma list of ``path [asc|desc]``."""
    where = "query.orderBy"
    if not isinstance(text, str):
        return [Problem(where, f"must be text, not {type(text).__name__}", "e.g. 'id desc'")]
    schemas = _default_schemas() if schemas is None else schemas
    problems: list[Problem] = []
    for item in _split_list(text):
        words = item.split()
        if len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            problems.append(
                Problem(
                    where,
                    f"{item!r} is not 'field [asc|desc]'",
                    "e.g. 'dateEntered desc, id asc'",
                )
            )
            continue
        path = words[0] if words else ""
        p = _check_path_syntax(path, where, "sort field")
        if p is None and schema_name in schemas:
            res = resolve_field_path(path, schema_name, where, schemas)
            if not res.ok:
                p = res.problem
            elif _is_reference(res.field) and schemas.get(res.field.ref) is not None:
                p = _problem_object_leaf(path, res, where, schemas, "sort by")
        if p is not None:
            problems.append(p)
    return problems


def check_fields(
    text: str, schema_name: str, *, schemas: Mapping[str, Any] | None = None
) -> list[Problem]:
    """Problems with ``fields``: a comma list of field paths to return."""
    where = "query.fields"
    if not isinstance(text, str):
        return [Problem(where, f"must be text, not {type(text).__name__}", "e.g. 'id,summary'")]
    schemas = _default_schemas() if schemas is None else schemas
    problems: list[Problem] = []
    for item in _split_list(text):
        p = _check_path_syntax(item, where, "field")
        if p is None and schema_name in schemas:
            p = resolve_field_path(item, schema_name, where, schemas).problem
        if p is not None:
            problems.append(p)
    return problems


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
