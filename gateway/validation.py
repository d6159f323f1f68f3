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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, NamedTuple

from cwm_gateway.conditions import (
    check_custom_field_conditions,
    check_field_paths,
    check_fields,
    check_order_by,
)
from cwm_gateway.errors import Problem, RequestValidationError, json_kind
from cwm_gateway.patch import canonical_patch_ops, check_patch_ops
from cwm_gateway.paths import Route, concrete_path, route
from cwm_generated.types import Operation, Param, RequestSpec

if TYPE_CHECKING:
    from cwm_gateway.paths import Visible

__all__ = ["CanonicalRequest", "Resolved", "build_request", "canonical_request", "resolve"]

_INTEGER = re.compile(r"[+-]?[0-9]+\Z")

#: A concrete path resolved to its operation (see :func:`cwm_gateway.paths.route`).
Resolved = Route


def resolve(method: str, path: str, visible: Visible | None = None) -> Route:
    """The operation for ``method`` on the concrete ``path``: :func:`cwm_gateway.paths.route`."""
    return route(method, path, visible)


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


def _translate(
    errors: Sequence[Mapping[str, Any]], prefix: str, schema_name: str | None
) -> list[Problem]:
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
        return [Problem(prefix, f"must be a {schema_name} object, not {json_kind(value)}")]
    try:
        model = load_model(schema_name)
    except (KeyError, LookupError):
        return []  # no model generated for this schema: nothing to check against
    try:
        # Strict: unknown fields are errors here (the models keep them when parsing answers).
        model.validate_request(value)
    except ValidationError as exc:
        return _translate(exc.errors(include_url=False, include_input=False), prefix, schema_name)
    return []


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
        problems = check_patch_ops(body, op.response_model or "")
        if problems:
            return body, problems
        return canonical_patch_ops(body, op.response_model or ""), []
    if op.body_kind == "array":
        if not isinstance(body, list):
            return body, [
                Problem("body", f"must be a list of {op.body_model} objects, not {json_kind(body)}")
            ]
        problems: list[Problem] = []
        for i, item in enumerate(body):
            problems.extend(_validate_model(op.body_model or "", item, f"body[{i}]"))
        return body, problems
    if op.body_kind == "multipart":
        if not isinstance(body, Mapping):
            return body, [
                Problem("body", f"must be an object of form fields, not {json_kind(body)}")
            ]
        return body, []
    if op.body_model is None:
        return body, []
    return body, _validate_model(op.body_model, body, "body")


def build_request(
    method: str,
    path: str,
    params: Mapping[str, Any] | None = None,
    body: Any = None,
    *,
    visible: Visible | None = None,
    route: Route | None = None,
) -> RequestSpec[Any]:
    """Resolve and fully validate a request; nothing is sent.

    Raises one :class:`RequestValidationError` listing every problem: unknown or mistyped query
    parameters, out-of-range paging, bad ``conditions``/``childConditions``/``orderBy``/
    ``fields`` (checked against the operation's response schema), and a missing, unexpected or
    invalid body (checked with the generated Pydantic model, or as patch operations for PATCH).

    Returns a :class:`RequestSpec` with the concrete, URL-quoted path, the parameters under
    their wire names (coerced: ``"25"`` becomes ``25``) and the body as JSON-ready data, as the
    caller wrote it (no defaults added).

    ``route`` is :func:`resolve`'s answer for ``method path`` when the caller has it already
    (the path is then not routed again).
    """
    op, values = route if route is not None else resolve(method, path, visible)
    problems: list[Problem] = []
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        problems.append(Problem("query", f"params must be an object, not {json_kind(params)}"))
        params = {}
    out_params, param_problems = _check_params(op, params)
    problems.extend(param_problems)
    payload, body_problems = _check_body(op, body)
    problems.extend(body_problems)
    if problems:
        raise RequestValidationError(problems, op.operation_id)
    return RequestSpec(op, concrete_path(op, values), out_params, payload)


# --------------------------------------------------------------------------------------------
# The canonical request: what the policy judges, the person approves, the audit records and
# ConnectWise receives.

#: Flags whose setting to true retires a record without a DELETE (a soft delete).
_SOFT_DELETE_FLAGS = frozenset({"deletedFlag", "inactiveFlag"})
#: Action segments that remove or absorb a record as surely as a DELETE does.
_DESTRUCTIVE_ACTIONS = frozenset({"merge"})


@dataclass(frozen=True)
class CanonicalRequest:
    """One validated request in its one canonical spelling, made once per call.

    ``spec`` is exactly what is sent. ``operation`` is the registry's operation as this request
    exercises it: its ``risk`` is raised to ``Destructive`` for soft deletes (``deletedFlag`` or
    ``inactiveFlag`` set true) and merges, whatever the operation's static class.
    """

    spec: RequestSpec[Any]
    operation: Operation

    @property
    def method(self) -> str:
        return self.operation.method

    @property
    def path(self) -> str:
        """The concrete path as sent: the template's spelling, values filled in."""
        return self.spec.path

    @property
    def template(self) -> str:
        return self.operation.path

    @property
    def operation_id(self) -> str:
        return self.operation.operation_id

    @property
    def category(self) -> str:
        return self.operation.category

    @property
    def tag(self) -> str:
        return self.operation.tag

    @property
    def risk(self) -> str:
        return self.operation.risk

    @property
    def risks(self) -> tuple[str, ...]:
        """The operation's risk class, then the request's runtime ones (``CustomerVisible``:
        decided from the values sent, see ``cwm_gateway.policy.visibility``)."""
        from cwm_gateway.policy.visibility import CUSTOMER_VISIBLE, customer_visible

        visible = customer_visible(self.spec.operation, self.spec.body)
        return (self.risk, CUSTOMER_VISIBLE) if visible else (self.risk,)

    @property
    def params(self) -> Mapping[str, Any]:
        return self.spec.params

    @property
    def body(self) -> Any:
        return self.spec.body

    @property
    def fields(self) -> tuple[str, ...]:
        """Top-level fields a write sets (PATCH op paths' first segment, body keys)."""
        return _touched_fields(self.spec.body, self.operation.body_kind)

    def arguments(self) -> dict[str, Any]:
        """The upstream tools' arguments in canonical form (what policy ``args.*`` sees)."""
        return {
            "method": self.method,
            "path": self.path,
            "params": dict(self.params),
            "data": self.body,
        }

    def as_dict(self) -> dict[str, Any]:
        """Plain data for ``request.*`` policy conditions and the approval fingerprint."""
        return {
            "method": self.method,
            "path": self.path,
            "template": self.template,
            "operation_id": self.operation_id,
            "category": self.category,
            "tag": self.tag,
            "risk": self.risk,
            "risks": list(self.risks),
            "params": dict(self.params),
            "body": self.body,
            "fields": list(self.fields),
        }


def _touched_fields(body: Any, body_kind: str | None) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    if body_kind == "patch" and isinstance(body, list):
        for op in body:
            if isinstance(op, Mapping) and isinstance(op.get("path"), str):
                seen[op["path"].split("/", 1)[0]] = None
    elif isinstance(body, Mapping):
        seen.update(dict.fromkeys(str(k) for k in body))
    elif isinstance(body, list):
        for item in body:
            if isinstance(item, Mapping):
                seen.update(dict.fromkeys(str(k) for k in item))
    return tuple(seen)


def _effective_risk(op: Operation, body: Any) -> str:
    if op.risk == "Destructive":
        return op.risk
    last = op.path.rstrip("/").rsplit("/", 1)[-1].lower()
    if op.method == "POST" and last in _DESTRUCTIVE_ACTIONS:
        return "Destructive"
    if op.body_kind == "patch" and isinstance(body, list):
        for entry in body:
            if (
                isinstance(entry, Mapping)
                and entry.get("op") in ("add", "replace")
                and entry.get("path") in _SOFT_DELETE_FLAGS
                and entry.get("value") is True
            ):
                return "Destructive"
    elif op.method in ("PUT", "POST") and isinstance(body, Mapping):
        if any(body.get(flag) is True for flag in _SOFT_DELETE_FLAGS) and op.method == "PUT":
            return "Destructive"
    return op.risk


def canonical_request(
    method: str,
    path: str,
    params: Mapping[str, Any] | None = None,
    body: Any = None,
    *,
    visible: Visible | None = None,
    route: Route | None = None,
) -> CanonicalRequest:
    """:func:`build_request`, then the request's effective operation (see CanonicalRequest)."""
    spec = build_request(method, path, params, body, visible=visible, route=route)
    op = spec.operation
    risk = _effective_risk(op, spec.body)
    return CanonicalRequest(spec, op if risk == op.risk else op._replace(risk=risk))
