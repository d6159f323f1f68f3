"""Navigation and details over the generated registry, for the MCP discovery tools.

- :func:`list_categories` — modules (``service``, ``finance``...) with their tags and counts;
- :func:`category_endpoints` — the operations of one module or tag;
- :func:`endpoint_details` — everything needed to call one operation: parameters, body fields,
  response shape, sibling methods and a minimal example body that the real model accepts.

Everything is read from ``cwm_generated.registry`` and ``cwm_generated.schemas`` (plain data);
no Pydantic model is imported here.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from cwm_gateway import examples
from cwm_gateway.errors import CWMError, RequestValidationError
from cwm_gateway.paths import normalize_path, strip_url, template_operations
from cwm_gateway.results import Category, CategoryEndpointsResult, Endpoint, TagSummary
from cwm_gateway.validation import resolve

if TYPE_CHECKING:
    from cwm_gateway.search import Visible
    from cwm_generated.types import Field, Operation, Param, Schema

__all__ = [
    "CatalogLookupError",
    "category_endpoints",
    "endpoint_details",
    "example_body",
    "find_operation",
    "list_categories",
]

_METHOD_ORDER = {"GET": 0, "POST": 1, "PUT": 2, "PATCH": 3, "DELETE": 4}
_RESPONSE_FIELD_LIMIT = 30


class CatalogLookupError(CWMError, LookupError):
    """A category, tag or endpoint name did not match the catalog (the message suggests one)."""


# --------------------------------------------------------------------------------------------
# Result types
# --------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------
# Registry views (built once)
# --------------------------------------------------------------------------------------------


def _operations() -> tuple[Operation, ...]:
    from cwm_generated.registry import OPERATIONS

    return OPERATIONS


def _schemas() -> dict[str, Schema]:
    from cwm_generated.schemas import SCHEMAS

    return SCHEMAS


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0].strip() if text and text.strip() else ""


def _norm_name(name: str) -> str:
    """Case, spaces and punctuation folded: ``"ticket notes"`` ~ ``"TicketNotes"``."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _fold_plural(name: str) -> str:
    from cwm_gateway.search import singular

    return singular(_norm_name(name))


@dataclass(frozen=True)
class _Views:
    modules: dict[str, tuple[Operation, ...]]
    tags: dict[str, tuple[Operation, ...]]
    by_template: dict[str, dict[str, Operation]]
    """Template path (lower-case) -> method -> operation."""


@lru_cache(maxsize=1)
def _views() -> _Views:
    modules: dict[str, list[Operation]] = {}
    tags: dict[str, list[Operation]] = {}
    by_template: dict[str, dict[str, Operation]] = {}
    for op in _operations():
        modules.setdefault(op.category, []).append(op)
        tags.setdefault(op.tag, []).append(op)
        by_template.setdefault(op.path.lower(), {})[op.method] = op
    return _Views(
        {k: tuple(v) for k, v in modules.items()},
        {k: tuple(v) for k, v in tags.items()},
        by_template,
    )


def _listing_order(op: Operation) -> tuple[int, str, int]:
    # Top-level resources first (fewest path parameters), then by path, then CRUD order.
    return (op.path.count("{"), op.path.lower(), _METHOD_ORDER.get(op.method, 9))


# --------------------------------------------------------------------------------------------
# Categories
# --------------------------------------------------------------------------------------------


def list_categories(visible: Visible | None = None) -> list[Category]:
    """Every module with its operation count and its tags (with per-module counts), by name.

    ``visible`` (optional) returns False for operations the caller must not show (policy);
    a module with no visible operation is left out.
    """
    out: list[Category] = []
    for name, all_ops in sorted(_views().modules.items()):
        ops = [op for op in all_ops if visible(op)] if visible is not None else all_ops
        if not ops:
            continue
        counts = Counter(op.tag for op in ops)
        tags = [
            TagSummary(name=t, operation_count=n)
            for t, n in sorted(counts.items(), key=lambda kv: kv[0].lower())
        ]
        out.append(Category(name=name, operation_count=len(ops), tags=tags))
    return out


def category_endpoints(
    name: str, max_results: int = 20, visible: Visible | None = None
) -> CategoryEndpointsResult:
    """The operations of a module (``service``) or a tag (``Tickets``, ``ticket notes``).

    Names are matched case-insensitively; spaces and a trailing plural are forgiven. An exact
    tag spelling wins over a module of the same name (``Configurations`` is the tag,
    ``configurations`` the module). Unknown names raise :class:`CatalogLookupError` with
    did-you-mean suggestions.
    """
    if not isinstance(name, str) or not name.strip():
        raise CatalogLookupError(
            "category name is empty; give a module such as 'service' or a tag such as 'Tickets' "
            "(list_categories shows them all)"
        )
    if max_results < 1:
        raise CatalogLookupError(f"max_results must be at least 1, not {max_results}")
    views = _views()
    wanted = name.strip().strip("/")
    kind, key = _match_category(wanted, views)
    ops = views.modules[key] if kind == "module" else views.tags[key]
    if visible is not None:
        ops = tuple(op for op in ops if visible(op))
    ordered = sorted(ops, key=_listing_order)
    return CategoryEndpointsResult(
        name=key,
        kind=kind,
        total=len(ordered),
        truncated=len(ordered) > max_results,
        endpoints=[Endpoint.of(op) for op in ordered[:max_results]],
    )


def _match_category(wanted: str, views: _Views) -> tuple[str, str]:
    if wanted in views.tags:
        return "tag", wanted
    lowered = wanted.lower()
    if lowered in views.modules:
        return "module", lowered
    for tag in views.tags:
        if tag.lower() == lowered:
            return "tag", tag
    norm, folded = _norm_name(wanted), _fold_plural(wanted)
    for module in views.modules:
        if folded == _fold_plural(module):
            return "module", module
    for tag in views.tags:
        if norm == _norm_name(tag) or folded == _fold_plural(tag):
            return "tag", tag

    names = {m: m for m in views.modules}
    names.update({_norm_name(t): t for t in views.tags})
    close = difflib.get_close_matches(norm, list(names), n=4, cutoff=0.6)
    suggestions = [names[c] for c in close]
    hint = f"did you mean {', '.join(repr(s) for s in suggestions)}? " if suggestions else ""
    raise CatalogLookupError(
        f"no module or tag named {wanted!r}; {hint}modules are "
        f"{', '.join(sorted(views.modules))} (list_categories shows every tag)"
    )


# --------------------------------------------------------------------------------------------
# Resolving a path
# --------------------------------------------------------------------------------------------


def _clean_path(path: str) -> str:
    """A pasted URL, template or concrete path in the one canonical spelling of ``paths``.

    Details look-ups are forgiving about what is pasted (a whole URL with its query), so the
    URL parts are dropped here before the shared normalizer sees the path.
    """
    try:
        return normalize_path(strip_url(path))
    except RequestValidationError as exc:
        raise CatalogLookupError("; ".join(str(p) for p in exc.problems)) from None


def _resolve_concrete(method: str, path: str, visible: Visible | None) -> Operation:
    """Resolve a concrete path with :func:`cwm_gateway.validation.resolve`, the one resolver of
    the gateway (it also checks parameter values)."""
    try:
        return resolve(method, path, visible).operation
    except RequestValidationError as exc:
        problems = "; ".join(str(p) for p in exc.problems) or str(exc)
        raise CatalogLookupError(problems) from None


def find_operation(path: str, method: str = "GET", visible: Visible | None = None) -> Operation:
    """The operation for ``method`` on a template or concrete path.

    Also accepts an operationId (``getServiceTicketsById``), ``"GET /service/tickets/1"`` and
    full URLs (``https://host/v4_6_release/apis/3.0/service/tickets/1``). Raises
    :class:`CatalogLookupError` with suggestions when nothing matches. With ``visible`` (the
    policy's predicate) a hidden operation gets exactly the answer of one that does not exist.
    """
    if not isinstance(path, str) or not path.strip():
        raise CatalogLookupError("path is empty; give one such as '/service/tickets/{id}'")
    if not isinstance(method, str) or not method.strip():
        raise CatalogLookupError("method is empty; use GET, POST, PUT, PATCH or DELETE")
    text = path.strip()
    verb, _, rest = text.partition(" ")
    if verb.upper() in _METHOD_ORDER and rest.strip():
        method, text = verb, rest.strip()
    method = method.strip().upper()
    if method not in _METHOD_ORDER:
        raise CatalogLookupError(
            f"method {method!r} is not one ConnectWise uses; use GET, POST, PUT, PATCH or DELETE"
        )

    if "/" not in text:
        from cwm_generated.registry import BY_ID

        op = BY_ID.get(text)
        if op is not None and (visible is None or visible(op)):
            return op
        ids = [i for i, o in BY_ID.items() if visible is None or visible(o)]
        close = difflib.get_close_matches(text, ids, n=3, cutoff=0.75)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise CatalogLookupError(
            f"{text!r} is neither a path (starting with '/') nor a known operationId{hint}"
        )

    views = _views()
    clean = _clean_path(text)
    methods = template_operations(clean) if "{" in clean else views.by_template.get(clean.lower())
    if methods is not None and visible is not None:
        methods = {m: op for m, op in methods.items() if visible(op)} or None
    if methods is None:
        if "{" in clean:
            raise CatalogLookupError(_unknown_path_message(clean, views, visible))
        return _resolve_concrete(method, clean, visible)
    if method not in methods:
        available = ", ".join(sorted(methods, key=_METHOD_ORDER.__getitem__))
        template = next(iter(methods.values())).path
        raise CatalogLookupError(
            f"{method} is not available on {template}; available methods: {available}"
        )
    return methods[method]


def _unknown_path_message(path: str, views: _Views, visible: Visible | None = None) -> str:
    templates = {
        op.path.lower(): op.path
        for ms in views.by_template.values()
        for op in ms.values()
        if visible is None or visible(op)
    }
    close = difflib.get_close_matches(path.lower(), list(templates), n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(templates[c] for c in close)}? " if close else ""
    return (
        f"no ConnectWise endpoint matches {path!r}; {hint}"
        "(search_api_endpoints finds endpoints by words)"
    )


# --------------------------------------------------------------------------------------------
# Details
# --------------------------------------------------------------------------------------------


def _param_dict(p: Param) -> dict[str, Any]:
    out: dict[str, Any] = {"name": p.name, "type": p.type, "required": p.required}
    if p.format:
        out["format"] = p.format
    if p.enum:
        out["enum"] = list(p.enum)
    return out


def _field_dict(name: str, f: Field) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "type": f.type, "required": f.required}
    if f.ref:
        out["ref"] = f.ref
    if f.format:
        out["format"] = f.format
    if f.enum:
        out["enum"] = list(f.enum)
    if f.nullable:
        out["nullable"] = True
    if f.max_length is not None:
        out["max_length"] = f.max_length
    if f.read_only:
        out["read_only"] = True
    return out


def _fields_list(schema: Schema) -> list[dict[str, Any]]:
    items = sorted(schema.fields.items(), key=lambda kv: not kv[1].required)
    return [_field_dict(n, f) for n, f in items]


def endpoint_details(path: str, method: str = "GET") -> dict[str, Any]:
    """Everything needed to call one operation, as JSON-ready data.

    ``path`` may be a template (``/service/tickets/{id}``), a concrete path
    (``/service/tickets/123``), a full URL or an operationId. Keys: ``operation_id``, ``method``,
    ``path``, ``summary``, ``category``, ``tag``, ``risk``, ``function``, ``paged``,
    ``path_params``, ``query_params``, ``body`` (model, kind, required, fields; for PATCH the
    patchable fields of the resource), ``response`` (model, is_list, status, top fields),
    ``other_methods`` and ``example_body``.
    """
    op = find_operation(path, method)
    schemas = _schemas()
    views = _views()

    body: dict[str, Any] | None = None
    if op.body_kind is not None:
        body = {"kind": op.body_kind, "model": op.body_model, "required": op.body_required}
        if op.body_kind == "patch":
            body["description"] = (
                "a list of {op, path, value}; op is add, replace or remove, path a field of "
                f"{op.response_model or 'the resource'} (nested fields with '/')"
            )
            resource = schemas.get(op.response_model or "")
            body["fields"] = _fields_list(resource) if resource else []
        else:
            schema = schemas.get(op.body_model or "")
            body["fields"] = _fields_list(schema) if schema else []
            if op.body_kind == "array":
                body["description"] = f"a JSON array of {op.body_model} objects"
            elif op.body_kind == "multipart":
                body["description"] = "multipart form data; send the file itself as 'file'"

    response: dict[str, Any] | None = None
    if op.response_model or op.success_status:
        response = {
            "model": op.response_model,
            "is_list": op.response_is_list,
            "kind": op.response_kind,
            "status": op.success_status,
        }
        resp_schema = schemas.get(op.response_model or "")
        if resp_schema is not None:
            names = list(resp_schema.fields)
            response["fields"] = names[:_RESPONSE_FIELD_LIMIT]
            if len(names) > _RESPONSE_FIELD_LIMIT:
                response["more_fields"] = len(names) - _RESPONSE_FIELD_LIMIT

    siblings = views.by_template.get(op.path.lower(), {})
    others = sorted((m for m in siblings if m != op.method), key=_METHOD_ORDER.__getitem__)

    return {
        "operation_id": op.operation_id,
        "method": op.method,
        "path": op.path,
        "summary": _first_line(op.summary),
        "category": op.category,
        "tag": op.tag,
        "risk": op.risk,
        "function": op.function,
        "paged": op.is_list,
        "path_params": [_param_dict(p) for p in op.path_params],
        "query_params": [_param_dict(p) for p in op.query_params],
        "body": body,
        "response": response,
        "other_methods": others,
        "example_body": example_body(op),
    }


# --------------------------------------------------------------------------------------------
# Example bodies
# --------------------------------------------------------------------------------------------

# Fields a PATCH example prefers to change, most natural first.
_PATCH_PREFERRED = ("summary", "name", "description", "notes", "title", "identifier")


def example_body(op: Operation) -> Any:
    """A minimal body the operation's model accepts (None when the operation takes no body).

    Built from the schema's required fields: references as ``{"id": 1}``, enums as their first
    value, strings cut to their max length. Array bodies get one such item; PATCH bodies a
    one-entry op list that replaces a simple writable field of the resource.
    """
    schemas = _schemas()
    if op.body_kind is None:
        return None
    if op.body_kind == "patch":
        return [_example_patch_op(schemas.get(op.response_model or ""), schemas)]
    schema = schemas.get(op.body_model or "")
    if schema is None:
        return {} if op.body_kind != "array" else []
    item = examples.minimal_object(schema, schemas)
    return [item] if op.body_kind == "array" else item


def _example_patch_op(resource: Schema | None, schemas: dict[str, Schema]) -> dict[str, Any]:
    def writable(n: str, f: Field) -> bool:
        return not f.read_only and n != "id" and not n.startswith("_")

    fields = [(n, f) for n, f in resource.fields.items() if writable(n, f)] if resource else []
    scalars = [(n, f) for n, f in fields if f.type in ("string", "integer", "number", "boolean")]
    # Some resources only link records (type associations, tax levels): replace a reference.
    references = [
        (n, f)
        for n, f in fields
        if f.type == "object" and f.ref in schemas and "id" in schemas[f.ref].fields
    ]
    candidates = scalars or references
    if not candidates:
        return {"op": "replace", "path": "name", "value": "New name"}
    by_name = dict(candidates)
    chosen = next((n for n in _PATCH_PREFERRED if n in by_name), candidates[0][0])
    return {
        "op": "replace",
        "path": chosen,
        "value": examples.minimal_value(chosen, by_name[chosen], schemas),
    }


# --------------------------------------------------------------------------------------------
# Compact descriptions (one line per parameter and field), for the details tool
# --------------------------------------------------------------------------------------------

#: What the common query parameters mean (the spec leaves their descriptions empty).
QUERY_PARAM_HELP = {
    "conditions": 'filter, e.g. status/name="New" and closedFlag=false (cwm://guides/conditions)',
    "childConditions": 'filter on child lists, e.g. communicationItems/value like "%@acme.com"',
    "customFieldConditions": 'filter on custom fields, e.g. caption="Region" and value="East"',
    "orderBy": "sort, e.g. id desc or priority/sort asc",
    "fields": "fields to return, e.g. id,summary,company/name (default: the compact set)",
    "page": "page number, from 1",
    "pageSize": "items per page, 1-1000 (ConnectWise default 25)",
    "pageId": "forward-only paging cursor (an id from the previous page's last item)",
}


def param_line(p: Param, op: Operation) -> str:
    """``name: type, required — meaning`` for one path or query parameter."""
    kind = f"{p.type} ({p.format})" if p.format and p.format not in ("int32", "int64") else p.type
    parts = [f"{p.name}: {kind}"]
    if p.required:
        parts.append("required")
    if p.enum:
        parts.append("one of " + "|".join(p.enum))
    line = ", ".join(parts)
    meaning = QUERY_PARAM_HELP.get(p.name) if p.location == "query" else _path_param_help(p, op)
    return f"{line} — {meaning}" if meaning else line


def _path_param_help(p: Param, op: Operation) -> str | None:
    # /service/tickets/{parentId}/notes/{id}: each parameter is the id of the segment before it.
    segments = op.path.strip("/").split("/")
    marker = "{" + p.name + "}"
    if marker in segments:
        at = segments.index(marker)
        if at > 0 and not segments[at - 1].startswith("{"):
            return f"id in {segments[at - 1]}"
    return None


def field_line(name: str, f: Field) -> str:
    """``name: type, required, read-only, max 100, one of A|B`` for one schema field."""
    if f.type == "object" and f.ref:
        kind = f.ref
    elif f.type == "array" and f.ref:
        kind = f"array of {f.ref}"
    elif f.format in ("date", "date-time"):
        kind = f"{f.type} ({f.format})"
    else:
        kind = f.type
    parts = [f"{name}: {kind}"]
    if f.required:
        parts.append("required")
    if f.read_only:
        parts.append("read-only")
    if f.max_length is not None:
        parts.append(f"max {f.max_length}")
    if f.enum:
        parts.append("one of " + "|".join(f.enum))
    return ", ".join(parts)


def field_lines(schema: Schema | None, field_filter: str | None = None) -> tuple[list[str], int]:
    """One line per field (required first) whose name contains ``field_filter``; and the total."""
    if schema is None:
        return [], 0
    wanted = (field_filter or "").lower()
    items = sorted(schema.fields.items(), key=lambda kv: not kv[1].required)
    lines = [field_line(n, f) for n, f in items if wanted in n.lower()]
    return lines, len(items)


def schema_of(model: str | None) -> Schema | None:
    """The field table of a spec schema, or None."""
    return _schemas().get(model or "")
