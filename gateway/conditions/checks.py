"""Check condition, orderBy and fields text against the generated field graph."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from cwm_gateway.conditions.syntax import (
    _FIELD_SEGMENT,
    And,
    Compare,
    ConditionSyntaxError,
    Expr,
    In,
    Not,
    Or,
    Value,
    parse,
)
from cwm_gateway.errors import Problem

# --------------------------------------------------------------------------------------------
# Field paths and checks against the schema graph


def field_paths(expr: Expr) -> list[str]:
    """Field paths used in ``expr``, in order of first appearance, without duplicates."""
    return list(dict.fromkeys(leaf.field for leaf in _leaves(expr)))


def _default_schemas() -> Mapping[str, Any]:
    from cwm_generated.schemas import SCHEMAS

    return SCHEMAS


# Field names whose children are free-form: metadata and user-defined custom fields.
_FREE_FORM = frozenset({"_info", "customFields"})
# ConnectWise also filters and sorts on these audit values at the top level of a record that
# has ``_info`` (e.g. ``lastUpdated > [2024-01-01T00:00:00Z]``), though the spec lists them only
# inside ``_info``.
_AUDIT_NAMES = ("lastUpdated", "dateEntered", "enteredBy", "updatedBy")
_AUDIT_FIELDS = frozenset(name.lower() for name in _AUDIT_NAMES)


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
                choices = list(current.fields)
                if not done and "_info" in current.fields:
                    choices += _AUDIT_NAMES  # accepted at the top level, so also suggested
                close = [prefix + name for name in _close_names(seg, choices)]
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


def _check_path_list(
    text: str,
    where: str,
    example: str,
    check_item: Callable[[str, Mapping[str, Any]], Problem | None],
    schemas: Mapping[str, Any] | None,
) -> list[Problem]:
    """Problems with a comma list (``orderBy``, ``fields``): ``check_item`` judges each item."""
    if not isinstance(text, str):
        return [Problem(where, f"must be text, not {type(text).__name__}", f"e.g. {example!r}")]
    schemas = _default_schemas() if schemas is None else schemas
    problems = [check_item(item, schemas) for item in _split_list(text)]
    return [p for p in problems if p is not None]


def check_order_by(
    text: str, schema_name: str, *, schemas: Mapping[str, Any] | None = None
) -> list[Problem]:
    """Problems with ``orderBy``: a comma list of ``path [asc|desc]``."""
    where = "query.orderBy"

    def check_item(item: str, schemas: Mapping[str, Any]) -> Problem | None:
        words = item.split()
        if len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            return Problem(
                where, f"{item!r} is not 'field [asc|desc]'", "e.g. 'dateEntered desc, id asc'"
            )
        path = words[0] if words else ""
        p = _check_path_syntax(path, where, "sort field")
        if p is None and schema_name in schemas:
            res = resolve_field_path(path, schema_name, where, schemas)
            if not res.ok:
                p = res.problem
            elif _is_reference(res.field) and schemas.get(res.field.ref) is not None:
                p = _problem_object_leaf(path, res, where, schemas, "sort by")
        return p

    return _check_path_list(text, where, "id desc", check_item, schemas)


def check_fields(
    text: str, schema_name: str, *, schemas: Mapping[str, Any] | None = None
) -> list[Problem]:
    """Problems with ``fields``: a comma list of field paths to return."""
    where = "query.fields"

    def check_item(item: str, schemas: Mapping[str, Any]) -> Problem | None:
        p = _check_path_syntax(item, where, "field")
        if p is None and schema_name in schemas:
            p = resolve_field_path(item, schema_name, where, schemas).problem
        return p

    return _check_path_list(text, where, "id,summary", check_item, schemas)
