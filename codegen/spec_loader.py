"""Load manage.json and normalize every ConnectWise quirk in one place.

Everything downstream (models, operations, registry, schema table) reads the
:class:`NormalizedSpec` this module returns and never looks at the raw file, so a new quirk
is handled here once.

Quirks handled:
- truncated route templates such as ``/system/members/{memberIdentifier:regex(^(types. |(``
  become ``/system/members/{memberIdentifier}``;
- ``{id}{id}`` collapses to ``{id}``; trailing slashes are dropped;
- path parameters declared ``in: path`` that do not appear in the URL become query parameters,
  and URL placeholders with no declared parameter get a required string parameter;
- dotted schema names (``Agreement.Adjustment``) get collision-free Python class names;
- vendor content types (``application/vnd.connectwise.com+json; version=...``) count as JSON;
- multipart bodies, untyped arrays (``items: {}``), 207 and ``default`` responses;
- ``Max length: N`` written in descriptions becomes a real ``maxLength`` for request validation;
- ``_info`` (the server's metadata: ``lastUpdated``, ``updatedBy``, links) is declared as a map of
  strings, but ConnectWise sends nulls in it (``"updatedBy": null``): its values are nullable;
- .NET type names in summaries (``ConnectWise.Apis.v3_0.v2015_3.Service.Ticket.Ticket``) are
  shortened to the type (``Ticket``).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codegen.naming import class_name_for, function_name_for
from codegen.risk import risk_class

HTTP_METHODS = ("get", "post", "put", "patch", "delete", "head", "options")
REF_PREFIX = "#/components/schemas/"
_TRUNCATED_TEMPLATE = re.compile(r"\{(\w+):.*$")
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_MAX_LENGTH = re.compile(r"Max length:\s*(\d+)", re.IGNORECASE)
_DOTNET_TYPE = re.compile(r"\bConnectWise(?:\.\w+)+\.(\w+)\b")


class SpecError(Exception):
    """The spec cannot be read or lacks something the generator needs."""


@dataclass(frozen=True)
class NormParam:
    name: str
    location: str  # "path" | "query"
    type: str
    format: str | None
    required: bool
    enum: tuple[str, ...] | None
    nullable: bool
    item_type: str | None = None


@dataclass(frozen=True)
class NormOperation:
    operation_id: str
    method: str
    path: str
    spec_path: str
    category: str
    tag: str
    summary: str
    path_params: tuple[NormParam, ...]
    query_params: tuple[NormParam, ...]
    body_model: str | None
    body_kind: str | None
    body_required: bool
    response_model: str | None
    response_is_list: bool
    response_kind: str | None  # "model" | "list" | "binary" | "scalar" | "any" | None (no body)
    success_status: int
    risk: str
    function: str
    is_list: bool


@dataclass
class NormalizedSpec:
    title: str
    version: str
    sha256: str
    counts: dict[str, int]
    schemas: dict[str, dict[str, Any]]
    """Spec schema name → schema with ``$ref`` values still naming spec schema names."""
    class_names: dict[str, str]
    operations: list[NormOperation] = field(default_factory=list)

    @property
    def categories(self) -> list[str]:
        return sorted({op.category for op in self.operations})


def read_spec_bytes(path: Path) -> bytes:
    """The spec file's bytes; raise :class:`SpecError` when it is not there."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise SpecError(
            f"spec file not found: {path}. Download manage.json from the ConnectWise developer "
            "portal (see spec/README.md) or pass --spec PATH."
        ) from None


def load_spec(path: Path) -> NormalizedSpec:
    """Read ``path`` and return the normalized spec; raise :class:`SpecError` with a clear reason."""
    raw_bytes = read_spec_bytes(path)
    try:
        raw = json.loads(raw_bytes)
    except json.JSONDecodeError as exc:
        raise SpecError(f"{path} is not valid JSON: {exc}") from None
    return normalize(raw, hashlib.sha256(raw_bytes).hexdigest())


def normalize(raw: dict[str, Any], sha256: str = "") -> NormalizedSpec:
    """Normalize a parsed OpenAPI 3.0 document in ConnectWise's shape."""
    if not isinstance(raw, dict) or "paths" not in raw:
        raise SpecError("not an OpenAPI document: no 'paths' object")
    if not str(raw.get("openapi", "")).startswith("3."):
        raise SpecError(f"expected OpenAPI 3.x, found openapi={raw.get('openapi')!r}")
    info = raw.get("info") or {}
    raw_schemas = (raw.get("components") or {}).get("schemas") or {}
    schemas = {name: _normalize_schema(schema) for name, schema in sorted(raw_schemas.items())}
    _check_field_names(schemas)
    class_names = _assign_class_names(schemas)

    operations: list[NormOperation] = []
    tags: set[str] = set()
    seen_functions: dict[str, str] = {}
    for spec_path, item in raw["paths"].items():
        shared_params = item.get("parameters", [])
        for method in HTTP_METHODS:
            if method not in item:
                continue
            op = item[method]
            tags.update(op.get("tags") or [])
            norm = _normalize_operation(spec_path, method, op, shared_params)
            # operationIds are unique in ConnectWise's file, but a spec that repeats one must
            # still give distinct function names.
            fn = norm.function
            n = 2
            while fn in seen_functions:
                fn = f"{norm.function}_{n}"
                n += 1
            seen_functions[fn] = norm.operation_id
            if fn != norm.function:
                norm = dataclasses.replace(norm, function=fn)
            operations.append(norm)
    operations.sort(key=lambda o: (o.category, o.path, _METHOD_ORDER.get(o.method, 9), o.spec_path))
    counts = {
        "paths": len(raw["paths"]),
        "operations": len(operations),
        "tags": len(tags),
        "schemas": len(raw_schemas),
    }
    return NormalizedSpec(
        title=str(info.get("title", "")),
        version=str(info.get("version", "")),
        sha256=sha256,
        counts=counts,
        schemas=schemas,
        class_names=class_names,
        operations=operations,
    )


_METHOD_ORDER = {"GET": 0, "POST": 1, "PUT": 2, "PATCH": 3, "DELETE": 4}


def normalize_path(spec_path: str) -> str:
    """Repair a path template: truncated regex templates, ``{id}{id}``, trailing slashes."""
    path = _TRUNCATED_TEMPLATE.sub(r"{\1}", spec_path)
    path = re.sub(r"(\{\w+\})\1+", r"\1", path)
    if len(path) > 1:
        path = path.rstrip("/")
    return path if path.startswith("/") else "/" + path


def clean_summary(summary: str) -> str:
    """``Get List of ConnectWise.Apis.v3_0.v2015_3.Service.Ticket.Ticket`` → ``Get List of Ticket``."""
    return _DOTNET_TYPE.sub(r"\1", summary).strip()


def ref_name(ref: str) -> str:
    if not ref.startswith(REF_PREFIX):
        raise SpecError(f"unsupported $ref {ref!r}: only local component schemas are supported")
    return ref[len(REF_PREFIX) :]


def _normalize_schema(schema: dict[str, Any]) -> dict[str, Any]:
    schema = copy.deepcopy(schema)
    for name, prop in (schema.get("properties") or {}).items():
        _add_max_length(prop)
        _loosen_untyped_object(prop)
        if name == "_info":
            _nullable_values(prop)
    return schema


#: Methods every generated model has (``cwm_generated.models._base.CWModel``): a spec field of
#: the same name would shadow them.
MODEL_METHODS = frozenset({"validate_request", "request_body", "unknown_fields"})


def _check_field_names(schemas: dict[str, Any]) -> None:
    """Refuse what the generated models cannot represent faithfully."""
    for name, schema in schemas.items():
        seen: dict[str, str] = {}
        for field_name in schema.get("properties") or {}:
            if field_name in MODEL_METHODS:
                raise SpecError(f"{name}.{field_name} would shadow the model method of that name")
            # Responses fill a field from any letter case of its name (status.Sort → sort),
            # which needs field names that differ in more than letter case.
            other = seen.setdefault(field_name.lower(), field_name)
            if other != field_name:
                raise SpecError(
                    f"{name} has fields {other!r} and {field_name!r}, which differ only in "
                    "letter case; give one a distinct name here in spec_loader"
                )


def _nullable_values(prop: dict[str, Any]) -> None:
    values = prop.get("additionalProperties")
    if isinstance(values, dict) and "$ref" not in values and "anyOf" not in values:
        # (datamodel-code-generator ignores ``nullable`` inside additionalProperties.)
        prop["additionalProperties"] = {"anyOf": [values, {"type": "null"}]}


def _loosen_untyped_object(prop: dict[str, Any]) -> None:
    # ``type: object`` with no properties means "any JSON value" in ConnectWise's file (e.g.
    # PatchOperation.value carries strings, numbers and objects alike).
    if (
        prop.get("type") == "object"
        and "properties" not in prop
        and "additionalProperties" not in prop
    ):
        del prop["type"]


def _add_max_length(prop: dict[str, Any]) -> None:
    if prop.get("type") != "string" or "maxLength" in prop or prop.get("enum"):
        return
    if prop.get("format") in ("date-time", "date", "uuid", "byte", "binary"):
        return
    match = _MAX_LENGTH.search(prop.get("description") or "")
    if match:
        prop["maxLength"] = int(match.group(1))


def _assign_class_names(schemas: dict[str, Any]) -> dict[str, str]:
    taken = {name for name in schemas if "." not in name}
    result: dict[str, str] = {}
    for name in sorted(schemas):
        if "." not in name:
            result[name] = class_name_for(name)
            continue
        base = class_name_for(name)
        candidate, n = base, 2
        while candidate in taken:
            candidate = f"{base}{n}"
            n += 1
        taken.add(candidate)
        result[name] = candidate
    return result


def _param_from_spec(p: dict[str, Any], location: str, required: bool) -> NormParam:
    schema = p.get("schema") or {}
    ptype = schema.get("type") or ("object" if "$ref" in schema else "string")
    enum = tuple(str(v) for v in schema["enum"]) if schema.get("enum") else None
    item_type = (schema.get("items") or {}).get("type") if ptype == "array" else None
    return NormParam(
        name=p["name"],
        location=location,
        type=ptype,
        format=schema.get("format"),
        required=required,
        enum=enum,
        nullable=bool(schema.get("nullable", False)),
        item_type=item_type,
    )


def _normalize_operation(
    spec_path: str, method: str, op: dict[str, Any], shared: list[dict[str, Any]]
) -> NormOperation:
    path = normalize_path(spec_path)
    placeholders = _PLACEHOLDER.findall(path)
    declared = {(p["name"], p["in"]): p for p in [*shared, *(op.get("parameters") or [])]}
    path_params: list[NormParam] = []
    query_params: list[NormParam] = []
    for (name, location), p in declared.items():
        if location == "path":
            if name in placeholders:
                path_params.append(_param_from_spec(p, "path", True))
            else:
                # Declared in the path but absent from the URL: the only way to send it is the
                # query. OpenAPI forces path parameters to be required, which says nothing about
                # the query (e.g. the six alternative ids of GET /procurement/rmaTags/default).
                query_params.append(_param_from_spec(p, "query", False))
        elif location == "query":
            query_params.append(_param_from_spec(p, "query", bool(p.get("required", False))))
        # Header parameters (clientId) are the transport's concern, not the operation's.
    have = {p.name for p in path_params}
    for name in placeholders:
        if name not in have:
            path_params.append(NormParam(name, "path", "string", None, True, None, False))
    order = {name: i for i, name in enumerate(placeholders)}
    path_params.sort(key=lambda p: order[p.name])

    body_model, body_kind, body_required = _request_body(op)
    response_model, response_kind, status = _response(op)
    upper = method.upper()
    is_list = (
        upper == "GET"
        and response_kind == "list"
        and any(p.name == "pageSize" for p in query_params)
    )
    tags = op.get("tags") or ["Untagged"]
    operation_id = op.get("operationId") or f"{method}{path}"
    category = path.strip("/").split("/")[0] or "root"
    return NormOperation(
        operation_id=operation_id,
        method=upper,
        path=path,
        spec_path=spec_path,
        category=category,
        tag=tags[0],
        summary=clean_summary(op.get("summary") or ""),
        path_params=tuple(path_params),
        query_params=tuple(query_params),
        body_model=body_model,
        body_kind=body_kind,
        body_required=body_required,
        response_model=response_model,
        response_is_list=response_kind == "list",
        response_kind=response_kind,
        success_status=status,
        risk=risk_class(upper, path),
        function=function_name_for(operation_id),
        is_list=is_list,
    )


def _is_json(content_type: str) -> bool:
    ct = content_type.split(";")[0].strip().lower()
    return ct == "application/json" or ct.endswith("+json") or ct == "text/json"


def _request_body(op: dict[str, Any]) -> tuple[str | None, str | None, bool]:
    body = op.get("requestBody")
    if not body:
        return None, None, False
    required = bool(body.get("required", False))
    content = body.get("content") or {}
    for ct, media in sorted(content.items()):
        if ct.startswith("multipart/"):
            schema = media.get("schema") or {}
            model = ref_name(schema["$ref"]) if "$ref" in schema else None
            return model, "multipart", required
    for ct, media in sorted(content.items()):
        if not _is_json(ct):
            continue
        schema = media.get("schema") or {}
        if "$ref" in schema:
            return ref_name(schema["$ref"]), "model", required
        if schema.get("type") == "array":
            items = schema.get("items") or {}
            if "$ref" in items:
                name = ref_name(items["$ref"])
                return name, ("patch" if name == "PatchOperation" else "array"), required
            return None, "array", required
        return None, "any", required
    return None, "any", required


def _response(op: dict[str, Any]) -> tuple[str | None, str | None, int]:
    responses = op.get("responses") or {}
    codes = sorted(c for c in responses if c.isdigit() and c.startswith("2"))
    key = codes[0] if codes else ("default" if "default" in responses else None)
    status = int(key) if key and key.isdigit() else 200
    if key is None:
        return None, None, status
    content = responses[key].get("content") or {}
    for ct, media in sorted(content.items()):
        if not _is_json(ct):
            continue
        schema = media.get("schema") or {}
        if "$ref" in schema:
            return ref_name(schema["$ref"]), "model", status
        if schema.get("type") == "array":
            items = schema.get("items") or {}
            if "$ref" in items:
                return ref_name(items["$ref"]), "list", status
            return None, "list", status
        if schema.get("type") == "string" and schema.get("format") == "binary":
            return None, "binary", status
        if schema.get("type") in ("string", "integer", "number", "boolean"):
            return None, "scalar", status
        return None, "any", status
    return None, None, status
