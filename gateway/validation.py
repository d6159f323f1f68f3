"""Resolve a concrete API path to its operation and validate a whole request before sending.

:func:`resolve` maps ``GET /service/tickets/123/notes`` to the operation whose template is
``/service/tickets/{parentId}/notes`` using a segment trie built once, on first use.
:func:`build_request` then checks everything that can be checked locally (query parameters,
conditions, the body against the generated Pydantic model) and raises one
:class:`~cwm_gateway.errors.RequestValidationError` that lists every problem found, so a caller
(often an agent) can fix them all in one go.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, NamedTuple, NoReturn
from urllib.parse import quote, unquote

from cwm_gateway.conditions import (
    check_custom_field_conditions,
    check_field_paths,
    check_fields,
    check_order_by,
)
from cwm_gateway.errors import Problem, RequestValidationError
from cwm_gateway.patch import check_patch_ops
from cwm_generated.types import Operation, Param, RequestSpec

__all__ = ["Resolved", "build_request", "resolve"]

#: Prefix of every ConnectWise REST URL; callers may include it or not.
_API_PREFIX = re.compile(r"/?v\d+(?:_\d+)*(?:_release)?/apis/3\.0(?=/|$)", re.IGNORECASE)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_PARAM_SEGMENT = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_INTEGER = re.compile(r"[+-]?[0-9]+\Z")
_INT32_MAX = 2**31 - 1
_FORBIDDEN_ESCAPES = re.compile(r"%(?:2e|2f|5c|00)", re.IGNORECASE)
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


class Resolved(NamedTuple):
    """The operation a concrete path resolves to, and the path parameter values (decoded)."""

    operation: Operation
    path_values: dict[str, str]


def _fail(where: str, message: str, hint: str | None = None, op_id: str | None = None) -> NoReturn:
    raise RequestValidationError([Problem(where, message, hint)], op_id)


# --------------------------------------------------------------------------------------------
# The segment trie


class _Node:
    __slots__ = ("literals", "patterns", "param", "ops")

    def __init__(self) -> None:
        self.literals: dict[str, _Node] = {}
        # Segments with a parameter inside a word (e.g. "types{id}"), a quirk of the spec.
        self.patterns: list[tuple[re.Pattern[str], str, _Node]] = []
        self.param: _Node | None = None
        # method -> candidate operations; several only when templates differ in param names
        self.ops: dict[str, list[Operation]] = {}


class _Index(NamedTuple):
    root: _Node
    templates: tuple[str, ...]
    shapes: dict[str, str]  # template with params blanked -> template, for did-you-mean


def _specificity(op: Operation) -> int:
    # Integer path parameters are more selective than strings: try them first.
    return -sum(1 for p in op.path_params if p.type == "integer")


@lru_cache(maxsize=1)
def _index() -> _Index:
    from cwm_generated.registry import OPERATIONS

    root = _Node()
    for op in OPERATIONS:
        node = root
        for seg in op.path.strip("/").split("/"):
            if _PARAM_SEGMENT.fullmatch(seg):
                if node.param is None:
                    node.param = _Node()
                node = node.param
            elif "{" in seg:
                regex = _pattern_for(seg)
                for pattern, _, child in node.patterns:
                    if pattern is regex:
                        node = child
                        break
                else:
                    child = _Node()
                    node.patterns.append((regex, seg, child))
                    node = child
            else:
                node = node.literals.setdefault(seg.lower(), _Node())
        node.ops.setdefault(op.method, []).append(op)
    _sort(root)
    templates = tuple(sorted({op.path for op in OPERATIONS}))
    shapes = {_PARAM_SEGMENT.sub("{}", t): t for t in templates}
    return _Index(root, templates, shapes)


def _sort(node: _Node) -> None:
    for ops in node.ops.values():
        ops.sort(key=_specificity)
    for child in node.literals.values():
        _sort(child)
    for _, _, child in node.patterns:
        _sort(child)
    if node.param is not None:
        _sort(node.param)


def _leaves(node: _Node, segs: list[str], i: int, out: list[_Node]) -> None:
    """All nodes matching ``segs`` in preference order: literal, then pattern, then parameter."""
    if i == len(segs):
        if node.ops:
            out.append(node)
        return
    seg = segs[i]
    child = node.literals.get(seg.lower())
    if child is not None:
        _leaves(child, segs, i + 1, out)
    for pattern, _, pchild in node.patterns:
        if pattern.match(seg):
            _leaves(pchild, segs, i + 1, out)
    if node.param is not None:
        _leaves(node.param, segs, i + 1, out)


# --------------------------------------------------------------------------------------------
# resolve()


def _clean_segments(path: str) -> list[str]:
    """Split a caller's path into decoded segments, refusing anything that is not a plain path."""
    if not isinstance(path, str):
        _fail("path", f"must be text, not {type(path).__name__}", "e.g. /service/tickets/123")
    if not path.strip():
        _fail("path", "is empty", "e.g. /service/tickets")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in path):
        _fail("path", "contains control characters", "pass a plain path like /service/tickets/123")
    if path.startswith("//") or "://" in path or _SCHEME.match(path):
        _fail(
            "path",
            "must be a path relative to the API, not a URL",
            "e.g. /service/tickets/123; the host comes from the configuration",
        )
    if "?" in path or "#" in path:
        _fail(
            "path",
            "must not contain a query string",
            "pass query parameters separately as params, e.g. {'conditions': 'id > 5'}",
        )
    if "\\" in path:
        _fail("path", "must not contain backslashes", "separate segments with '/'")
    if _FORBIDDEN_ESCAPES.search(path):
        _fail(
            "path",
            "must not contain encoded dots, slashes or NUL (%2e, %2f, %5c, %00)",
            "pass the plain path; path parameters are encoded for you",
        )
    path = path.strip()
    m = _API_PREFIX.match(path)
    if m is not None:
        path = path[m.end() :]
    segs = path.strip("/").split("/")
    if segs == [""]:
        _fail("path", "names no resource", "e.g. /service/tickets")
    out: list[str] = []
    for seg in segs:
        if seg == "":
            _fail("path", "contains an empty segment ('//')", "e.g. /service/tickets/123/notes")
        try:
            value = unquote(seg, errors="strict") if "%" in seg else seg
        except UnicodeDecodeError:
            _fail("path", f"segment {seg!r} has percent-escapes that are not UTF-8")
        if value in (".", ".."):
            _fail("path", "must not contain '.' or '..' segments", "give the resource path itself")
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
            _fail("path", "contains encoded control characters")
        out.append(value)
    return out


def _path_values(op: Operation, segs: list[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for tseg, seg in zip(op.path.strip("/").split("/"), segs, strict=True):
        m = _PARAM_SEGMENT.fullmatch(tseg)
        if m is not None:
            values[m.group(1)] = seg
        elif "{" in tseg:
            m = _pattern_for(tseg).match(seg)
            if m is not None:
                values.update(m.groupdict())
    return values


@lru_cache(maxsize=64)
def _pattern_for(tseg: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[A-Za-z_][A-Za-z0-9_]*\})", tseg)
    return re.compile(
        "".join(
            f"(?P<{p[1:-1]}>.+?)" if _PARAM_SEGMENT.fullmatch(p) else re.escape(p)
            for p in parts
            if p
        )
        + r"\Z",
        re.IGNORECASE,
    )


def _param_problems(op: Operation, values: dict[str, str]) -> list[Problem]:
    problems = []
    for p in op.path_params:
        value = values.get(p.name)
        if value is None:
            continue
        if p.type == "integer":
            if not _INTEGER.match(value):
                problems.append(
                    Problem(
                        f"path.{p.name}",
                        f"{value!r} is not an integer",
                        f"{op.path} takes a numeric {p.name}",
                    )
                )
            elif not 0 <= int(value) <= _INT32_MAX:
                problems.append(
                    Problem(f"path.{p.name}", f"{value} is out of range", f"0..{_INT32_MAX}")
                )
    return problems


def _did_you_mean_paths(segs: list[str]) -> str | None:
    idx = _index()
    shape = "/" + "/".join("{}" if _INTEGER.match(s) else s for s in segs)
    lowered = {k.lower(): v for k, v in idx.shapes.items()}
    close = difflib.get_close_matches(shape.lower(), list(lowered), n=3, cutoff=0.75)
    if not close:
        return None
    return "did you mean " + ", ".join(lowered[c] for c in close) + "?"


def resolve(method: str, path: str) -> Resolved:
    """The operation for ``method`` on the concrete ``path`` and its path parameter values.

    ``path`` is relative to the API (``/service/tickets/123/notes``), with or without the
    ``/v4_6_release/apis/3.0`` prefix and leading/trailing slashes. Literal segments win over
    parameters. Raises :class:`RequestValidationError` for anything else: URLs, query strings,
    traversal, unknown paths (with did-you-mean), methods the path does not allow.
    """
    if not isinstance(method, str) or method.upper() not in _METHODS:
        _fail(
            "method",
            f"{method!r} is not an HTTP method of this API",
            "one of: " + ", ".join(_METHODS),
        )
    method = method.upper()
    segs = _clean_segments(path)
    leaves: list[_Node] = []
    _leaves(_index().root, segs, 0, leaves)
    if not leaves:
        shown = "/" + "/".join(segs)
        _fail("path", f"no operation matches {shown}", _did_you_mean_paths(segs))
    first_problems: list[Problem] | None = None
    first_op: Operation | None = None
    for node in leaves:
        for op in node.ops.get(method, ()):
            values = _path_values(op, segs)
            problems = _param_problems(op, values)
            if not problems:
                return Resolved(op, values)
            if first_problems is None:
                first_problems, first_op = problems, op
    node = leaves[0]
    # The best match (literals first) decides: a method it lacks is the error to report, even
    # when a parameter template further down would take the method but not the value.
    if first_problems is not None and method in node.ops:
        raise RequestValidationError(first_problems, first_op.operation_id if first_op else None)
    template = next(iter(node.ops.values()))[0].path
    allowed = sorted(node.ops)
    _fail("method", f"{method} is not allowed on {template}", "allowed: " + ", ".join(allowed))


# --------------------------------------------------------------------------------------------
# build_request()


class _OpInfo(NamedTuple):
    by_name: dict[str, Param]  # wire name, lower-cased wire name and py_name -> Param
    names: tuple[str, ...]


_OP_INFO: dict[str, _OpInfo] = {}


def _op_info(op: Operation) -> _OpInfo:
    info = _OP_INFO.get(op.operation_id)
    if info is None:
        info = _OP_INFO[op.operation_id] = _make_op_info(op)
    return info


def _make_op_info(op: Operation) -> _OpInfo:
    by_name: dict[str, Param] = {}
    for p in op.query_params:
        by_name[p.name] = p
        by_name.setdefault(p.name.lower(), p)
        by_name.setdefault(p.py_name, p)
    return _OpInfo(by_name, tuple(p.name for p in op.query_params))


def _coerce(p: Param, value: Any) -> tuple[Any, Problem | None]:
    where = f"query.{p.name}"
    t = p.type
    if t == "integer":
        if isinstance(value, bool):
            return value, Problem(where, f"{value!r} is not an integer")
        if isinstance(value, int):
            return value, None
        if isinstance(value, float) and value.is_integer():
            return int(value), None
        if isinstance(value, str) and _INTEGER.match(value.strip()):
            return int(value.strip()), None
        return value, Problem(where, f"{value!r} is not an integer", f"e.g. {p.name}=25")
    if t == "number":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value, None
        if isinstance(value, str):
            try:
                return float(value), None
            except ValueError:
                pass
        return value, Problem(where, f"{value!r} is not a number")
    if t == "boolean":
        if isinstance(value, bool):
            return value, None
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true", None
        return value, Problem(where, f"{value!r} is not true or false")
    if t == "string":
        if p.name in ("fields", "orderBy") and isinstance(value, (list, tuple)):
            # A list of field names is the natural Python spelling of these comma lists.
            if all(isinstance(v, str) for v in value):
                value = ",".join(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            return value, Problem(where, f"must be text, not {type(value).__name__}")
        if p.enum:
            for allowed in p.enum:
                if allowed.lower() == value.lower():
                    return allowed, None
            return value, Problem(
                where,
                f"{value!r} is not one of the allowed values",
                "allowed: " + ", ".join(p.enum),
            )
        return value, None
    return value, None  # arrays and objects: serialized by the transport as given


@lru_cache(maxsize=512)
def _cached_checks(param: str, text: str, schema: str | None) -> tuple[Problem, ...]:
    if param == "customFieldConditions":
        return tuple(check_custom_field_conditions(text))
    if schema is None:
        # Nothing to resolve fields against; still catch syntax errors.
        if param in ("conditions", "childConditions"):
            return tuple(check_field_paths(text, "", param, schemas={}))
        return ()
    if param in ("conditions", "childConditions"):
        return tuple(check_field_paths(text, schema, param))
    if param == "orderBy":
        return tuple(check_order_by(text, schema))
    if param == "fields":
        return tuple(check_fields(text, schema))
    return ()


@lru_cache(maxsize=1)
def _get_by_path() -> dict[str, Operation]:
    from cwm_generated.registry import OPERATIONS

    return {op.path: op for op in OPERATIONS if op.method == "GET"}


def _filter_schema(op: Operation) -> str | None:
    """The schema that conditions/orderBy/fields of ``op`` refer to.

    A ``.../count`` operation answers ``{"count": n}`` but filters the records of its list
    operation, so its conditions are checked against the list's item schema.
    """
    if op.path.endswith("/count"):
        listing = _get_by_path().get(op.path[: -len("/count")])
        if listing is not None and listing.response_model:
            return listing.response_model
    return op.response_model


_TEXT_CHECKED = frozenset(
    {"conditions", "childConditions", "customFieldConditions", "orderBy", "fields"}
)


def _check_params(op: Operation, params: Mapping[str, Any]) -> tuple[dict[str, Any], list[Problem]]:
    info = _op_info(op)
    out: dict[str, Any] = {}
    problems: list[Problem] = []
    for key, value in params.items():
        if value is None:
            continue
        p = info.by_name.get(key) if isinstance(key, str) else None
        if p is None and isinstance(key, str):
            p = info.by_name.get(key.lower())
        if p is None:
            if not info.names:
                problems.append(
                    Problem(
                        f"query.{key}", "unknown parameter", f"{op.path} takes no query parameters"
                    )
                )
                continue
            close = difflib.get_close_matches(str(key), info.names, n=2, cutoff=0.6)
            hint = (f"did you mean {' or '.join(repr(c) for c in close)}? " if close else "") + (
                "valid: " + ", ".join(info.names)
            )
            problems.append(Problem(f"query.{key}", "unknown parameter", hint))
            continue
        if p.name in out:
            problems.append(Problem(f"query.{p.name}", f"given twice (as {key!r} too)"))
            continue
        value, problem = _coerce(p, value)
        if problem is not None:
            problems.append(problem)
            continue
        if p.name == "pageSize" and not 1 <= value <= 1000:
            problems.append(Problem("query.pageSize", f"{value} is out of range", "1..1000"))
        elif p.name == "page" and value < 1:
            problems.append(Problem("query.page", f"{value} is out of range", "pages start at 1"))
        elif p.name in _TEXT_CHECKED and isinstance(value, str):
            problems.extend(_cached_checks(p.name, value, _filter_schema(op)))
        out[p.name] = value
    # The registry marks a query parameter required only where the spec really requires it
    # (codegen drops the forced "required" of path parameters that moved to the query).
    for p in op.query_params:
        if (
            p.required
            and p.name not in out
            and not any(pr.where == f"query.{p.name}" for pr in problems)
        ):
            problems.append(
                Problem(f"query.{p.name}", "required parameter missing", f"type: {p.type}")
            )
    return out, problems


def _loc_to_where(prefix: str, loc: tuple[Any, ...]) -> str:
    where = prefix
    for part in loc:
        where += f"[{part}]" if isinstance(part, int) else f".{part}"
    return where


def _schema_at(schema_name: str | None, loc: tuple[Any, ...]) -> Any:
    """The field-graph Schema at ``loc`` (a Pydantic error location), or None."""
    from cwm_generated.schemas import SCHEMAS

    schema = SCHEMAS.get(schema_name) if schema_name else None
    for part in loc:
        if schema is None:
            return None
        if isinstance(part, int):
            continue
        field = schema.fields.get(part)
        if field is None or field.ref is None:
            return None
        schema = SCHEMAS.get(field.ref)
    return schema


def _required_hint(schema_name: str | None) -> str | None:
    from cwm_generated.schemas import SCHEMAS

    schema = SCHEMAS.get(schema_name) if schema_name else None
    if schema is None:
        return None
    required = [n for n, f in schema.fields.items() if f.required]
    return f"{schema_name} requires: " + ", ".join(required) if required else None


def _translate(errors: list[dict[str, Any]], prefix: str, schema_name: str | None) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[str] = set()
    for err in errors:
        loc = tuple(err.get("loc", ()))
        kind = err.get("type", "")
        where = _loc_to_where(prefix, loc)
        if where in seen:
            continue  # unions report one error per member: keep the first
        seen.add(where)
        if kind == "missing":
            problems.append(Problem(where, "field required"))
        elif kind == "extra_forbidden":
            parent = _schema_at(schema_name, loc[:-1])
            hint = None
            if parent is not None:
                close = difflib.get_close_matches(
                    str(loc[-1]), list(parent.fields), n=2, cutoff=0.6
                )
                hint = (
                    f"did you mean {' or '.join(repr(c) for c in close)}?"
                    if close
                    else f"fields of {parent.name}: " + ", ".join(list(parent.fields)[:15])
                )
            problems.append(Problem(where, "unknown field", hint))
        else:
            msg = str(err.get("msg", "invalid value"))
            problems.append(Problem(where, msg[:1].lower() + msg[1:]))
    return problems


def _validate_model(schema_name: str, value: Any, prefix: str) -> list[Problem]:
    from pydantic import ValidationError

    from cwm_generated.models import load_model

    if not isinstance(value, Mapping):
        return [Problem(prefix, f"must be a {schema_name} object, not {_kind(value)}")]
    try:
        model = load_model(schema_name)
    except (KeyError, LookupError):
        return []  # no model generated for this schema: nothing to check against
    try:
        model.model_validate(value)
    except ValidationError as exc:
        return _translate(exc.errors(include_url=False, include_input=False), prefix, schema_name)
    return []


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, str):
        return "text"
    return f"a {type(value).__name__}"


def _check_body(op: Operation, body: Any) -> tuple[Any, list[Problem]]:
    if body is None:
        if op.body_required:
            what = {"patch": "a list of patch operations", "array": f"a list of {op.body_model}"}
            return None, [
                Problem(
                    "body",
                    f"required: {op.method} {op.path} takes {what.get(op.body_kind or '', op.body_model)}",
                    _required_hint(op.body_model) if op.body_kind == "model" else None,
                )
            ]
        return None, []
    if op.body_kind is None:
        return body, [Problem("body", f"{op.method} {op.path} takes no body", "leave body out")]
    from pydantic import BaseModel
    from pydantic_core import to_jsonable_python

    if isinstance(body, BaseModel):
        body = body.model_dump(mode="json", by_alias=True, exclude_none=True)
    elif isinstance(body, list):
        body = [
            b.model_dump(mode="json", by_alias=True, exclude_none=True)
            if isinstance(b, BaseModel)
            else b
            for b in body
        ]
    try:
        body = to_jsonable_python(body)
    except Exception as exc:  # pydantic_core raises its own error type for unserializable data
        return body, [Problem("body", "is not JSON data", str(exc).splitlines()[0])]
    if op.body_kind == "patch":
        return body, check_patch_ops(body, op.response_model or "")
    if op.body_kind == "array":
        if not isinstance(body, list):
            return body, [
                Problem("body", f"must be a list of {op.body_model} objects, not {_kind(body)}")
            ]
        problems: list[Problem] = []
        for i, item in enumerate(body):
            problems.extend(_validate_model(op.body_model or "", item, f"body[{i}]"))
        return body, problems
    if op.body_kind == "multipart":
        if not isinstance(body, Mapping):
            return body, [Problem("body", f"must be an object of form fields, not {_kind(body)}")]
        return body, []
    if op.body_model is None:
        return body, []
    return body, _validate_model(op.body_model, body, "body")


def build_request(
    method: str,
    path: str,
    params: Mapping[str, Any] | None = None,
    body: Any = None,
) -> RequestSpec[Any]:
    """Resolve and fully validate a request; nothing is sent.

    Raises one :class:`RequestValidationError` listing every problem: unknown or mistyped query
    parameters, out-of-range paging, bad ``conditions``/``childConditions``/``orderBy``/
    ``fields`` (checked against the operation's response schema), and a missing, unexpected or
    invalid body (checked with the generated Pydantic model, or as patch operations for PATCH).

    Returns a :class:`RequestSpec` with the concrete, URL-quoted path, the parameters under
    their wire names (coerced: ``"25"`` becomes ``25``) and the body as JSON-ready data, as the
    caller wrote it (no defaults added).
    """
    op, values = resolve(method, path)
    problems: list[Problem] = []
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        problems.append(Problem("query", f"params must be an object, not {_kind(params)}"))
        params = {}
    out_params, param_problems = _check_params(op, params)
    problems.extend(param_problems)
    payload, body_problems = _check_body(op, body)
    problems.extend(body_problems)
    if problems:
        raise RequestValidationError(problems, op.operation_id)
    concrete = op.path
    for p in op.path_params:
        if p.name in values:
            value = values[p.name]
            if p.type == "integer":
                value = str(int(value))
            concrete = concrete.replace("{" + p.name + "}", quote(value, safe=""))
    return RequestSpec(op, concrete, out_params, payload)
