"""The sandbox ASGI application: a local stand-in for ConnectWise Manage.

Every registry operation is served under ``/v4_6_release/apis/3.0``. Collections with stored
resources (see :mod:`cwm_gateway.sandbox.resources`) read and write the SQLite store; every
other operation answers a schema-valid sample. Requests are authenticated, routed and
validated the way ConnectWise does it, and answered with ConnectWise's error shapes.

Outside the API prefix: ``GET /login/companyinfo/{company}`` (codebase discovery) and the
loopback-only admin endpoints under ``/__sandbox/`` (request log, fault plan).
"""

from __future__ import annotations

import asyncio
import copy
import json
import math
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cwm_gateway.patch import check_patch_ops
from cwm_gateway.sandbox import query, samples
from cwm_gateway.sandbox.auth import SandboxCredentials
from cwm_gateway.sandbox.faults import FAULT_HEADER, FaultPlan, FaultSpecError, parse_faults
from cwm_gateway.sandbox.resources import Binding, Catalog, Collection, make_reference
from cwm_gateway.sandbox.router import RouteError, Router
from cwm_gateway.sandbox.store import Store

API_PREFIX = "/v4_6_release/apis/3.0"
CODEBASE = "v4_6_release/"
VERSION_CODE = "v2025.1"
VERSION_NUMBER = "v4.6.2025.1"
ADMIN_PREFIX = "/__sandbox"
_LOOPBACK = {"127.0.0.1", "::1", "localhost", "testclient"}
_UPDATED_BY = "sandbox-api"


@dataclass
class SandboxSettings:
    """How a sandbox app is built. All fields have working defaults."""

    credentials: SandboxCredentials = field(default_factory=SandboxCredentials)
    db: str | None = None
    """SQLite file that keeps data across restarts; ``None`` or ``":memory:"`` for memory."""
    seed: int = 4242
    """Random seed of the generated MSP data set."""
    faults: str | None = None
    """Fault spec armed at start (see :mod:`cwm_gateway.sandbox.faults`)."""
    fault_count: int | None = None
    """Apply :attr:`faults` to this many API requests only (None: to every request)."""
    log_limit: int = 10_000
    company_name: str = "Sandbox MSP"


class DropConnection(Exception):
    """Raised to make the server close the connection mid-response (``drop`` fault)."""


class _ApiError(Exception):
    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None):
        super().__init__(body.get("message"))
        self.status = status
        self.body = body
        self.headers = headers or {}


def _error(status: int, code: str, message: str, errors: list | None = None, **headers: str):
    body: dict[str, Any] = {"code": code, "message": message}
    if errors is not None:
        body["errors"] = errors
    return _ApiError(status, body, dict(headers))


def _resource_name(schema: str) -> str:
    name = schema.split(".")[-1]
    return name[:1].lower() + name[1:]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _json(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(body, status, headers=dict(headers or {}), media_type="application/json")


class Sandbox:
    """State and request handling of one sandbox instance (store, routes, faults, log)."""

    def __init__(self, settings: SandboxSettings | None = None) -> None:
        from cwm_gateway.sandbox import seed
        from cwm_generated.registry import OPERATIONS
        from cwm_generated.schemas import SCHEMAS

        self.settings = settings or SandboxSettings()
        self.credentials = self.settings.credentials
        self.schemas = SCHEMAS
        self.operations = OPERATIONS
        self.router = Router(OPERATIONS)
        self.catalog = Catalog(OPERATIONS, SCHEMAS)
        db = self.settings.db
        self.store = Store(None if db in (None, ":memory:") else db)
        self.seeded = seed.ensure_seeded(self.store, self.catalog, SCHEMAS, self.settings.seed)
        self.faults = FaultPlan()
        if self.settings.faults:
            self.faults.add(self.settings.faults, self.settings.fault_count)
        self._log: deque[dict[str, Any]] = deque(maxlen=self.settings.log_limit)
        self._log_lock = threading.Lock()

    # --- request log --------------------------------------------------------------------------

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Requests that reached the server: method, path, query, status, operation_id."""
        with self._log_lock:
            return [dict(entry) for entry in self._log]

    def clear_requests(self) -> None:
        """Forget the logged requests."""
        with self._log_lock:
            self._log.clear()

    def _log_entry(self, scope: Mapping[str, Any]) -> dict[str, Any]:
        entry = {
            "method": scope["method"],
            "path": scope["path"],
            "query": scope.get("query_string", b"").decode("latin-1"),
            "status": None,
            "operation_id": None,
        }
        with self._log_lock:
            self._log.append(entry)
        return entry

    # --- ASGI entry ---------------------------------------------------------------------------

    async def asgi(self, scope: Any, receive: Any, send: Any, inner: Any) -> None:
        """Log, inject faults, then hand over to the Starlette app ``inner``."""
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(ADMIN_PREFIX):
            await inner(scope, receive, send)
            return
        entry = self._log_entry(scope)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            faults = parse_faults(headers[FAULT_HEADER]) if FAULT_HEADER in headers else []
        except FaultSpecError as exc:
            entry["status"] = 400
            await _json({"code": "InvalidFault", "message": str(exc)}, 400)(scope, receive, send)
            return
        if path.startswith(API_PREFIX):
            faults += self.faults.take()
        terminal = None
        for fault in faults:
            if fault.kind == "latency":
                await asyncio.sleep(fault.latency_s)
            elif terminal is None:
                terminal = fault
        if terminal is not None:
            await self._fault_response(terminal, entry, scope, receive, send)
            return

        async def send_logged(message: Any) -> None:
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
                for key, value in message.get("headers", ()):
                    if key.lower() == b"x-sandbox-operation":
                        entry["operation_id"] = value.decode()
            await send(message)

        await inner(scope, receive, send_logged)

    async def _fault_response(self, fault: Any, entry: dict, scope: Any, receive: Any, send: Any):
        if fault.kind == "drop":
            entry["status"] = 0
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"64")],
                }
            )
            await send({"type": "http.response.body", "body": b'{"id": ', "more_body": True})
            raise DropConnection("sandbox fault: drop")
        if fault.kind == "malformed-json":
            entry["status"] = 200
            body = b'{"id": 1, "name": "Truncated respo'
            await Response(body, 200, media_type="application/json")(scope, receive, send)
            return
        status = fault.status or 500
        entry["status"] = status
        messages = {
            429: ("TooManyRequests", "Request rate limit exceeded. Try again later."),
            500: ("UnexpectedError", "An unexpected error has occurred."),
            502: ("BadGateway", "Bad gateway."),
            503: ("ServiceUnavailable", "The service is temporarily unavailable."),
            504: ("GatewayTimeout", "The server did not answer in time."),
        }
        code, message = messages.get(status, ("Error", f"Sandbox fault {status}."))
        headers = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = f"{fault.retry_after:g}"
        await _json({"code": code, "message": message}, status, headers)(scope, receive, send)

    # --- API ----------------------------------------------------------------------------------

    async def serve_api(self, request: Request) -> Response:
        """Authenticate, route, validate and answer one API request."""
        reason = self.credentials.check(request.headers)
        if reason is not None:
            return _json({"code": "Unauthorized", "message": reason}, 401)
        rel = request.url.path[len(API_PREFIX) :] or "/"
        try:
            match = self.router.match(request.method, rel)
        except RouteError as exc:
            if exc.status == 405:
                return _json(
                    {
                        "code": "MethodNotAllowed",
                        "message": f"The requested resource does not support http method "
                        f"'{request.method}'. Allowed: {', '.join(exc.allowed)}.",
                    },
                    405,
                    {"Allow": ", ".join(exc.allowed)},
                )
            return _json(
                {"code": "NotFound", "message": f"No resource matches {request.method} {rel}."},
                404,
            )
        op = match.operation
        try:
            response = await self._dispatch(request, op, list(match.params.values()))
        except _ApiError as exc:
            response = _json(exc.body, exc.status, exc.headers)
        response.headers["X-Sandbox-Operation"] = op.operation_id
        return response

    async def _dispatch(self, request: Request, op: Any, values: list[str]) -> Response:
        binding = self.catalog.binding(op)
        body = await self._read_body(request, op)
        kind = binding.kind
        if kind == "sample":
            return self._sample(request, op, values, body)
        coll = binding.collection
        assert coll is not None
        if kind in ("list", "count", "create"):
            parent = self.ensure_parent(coll, values[: coll.depth])
            self.ensure_filled(coll, parent)
            if kind == "list":
                return self._list(request, coll, parent)
            if kind == "count":
                return _json({"count": len(self._filtered(request, coll, parent))})
            return self._create(request, op, coll, parent, values, body)
        parent = self.ensure_parent(coll, values[: coll.depth])
        self.ensure_filled(coll, parent)
        id_ = int(values[coll.depth])
        doc = self.store.get(coll.key, parent, id_)
        if doc is None:
            raise self._not_found(coll, id_)
        if kind == "get":
            fields = request.query_params.get("fields")
            if fields:
                self._problems(query.check_fields(fields, coll.item_schema), "fields")
                return _json(query.project(doc, fields.split(",")))
            return _json(doc)
        if kind == "delete":
            self.store.delete(coll.key, parent, id_)
            status = op.success_status or 204
            # A few DELETEs are documented to answer 200 with the deleted record.
            return Response(status_code=204) if status == 204 else _json(doc, status)
        if kind == "put":
            new = self._validate(op.body_model, body)
        else:
            new = self._patched(coll, doc, body)
        new["id"] = id_
        if coll.link_field and doc.get(coll.link_field) is not None:
            new[coll.link_field] = doc[coll.link_field]
        self._resolve_refs(request, new, coll.item_schema)
        if self._has_info(coll):
            new["_info"] = {**(doc.get("_info") or {}), **samples.info(_UPDATED_BY, _now())}
        self.store.put(coll.key, parent, new)
        return _json(new, op.success_status or 200)

    # --- collections --------------------------------------------------------------------------

    def _has_info(self, coll: Collection) -> bool:
        schema = self.schemas.get(coll.item_schema)
        return schema is not None and "_info" in schema.fields

    def _not_found(self, coll: Collection, id_: int) -> _ApiError:
        name = coll.item_schema.split(".")[-1]
        return _error(404, "NotFound", f"{name} with id {id_} was not found.")

    def ensure_parent(self, coll: Collection, values: list[str]) -> str:
        """The parent key for ``coll`` at these path values; 404 when a parent is missing."""
        for value in values:
            if not value.lstrip("-").isdigit():
                raise _error(404, "NotFound", f"{value!r} is not a record id.")
        values = [str(int(v)) for v in values]
        parent = coll.parent
        if parent is not None:
            grand = self.ensure_parent(parent, values[: parent.depth])
            self.ensure_filled(parent, grand)
            pid = int(values[parent.depth])
            if self.store.get(parent.key, grand, pid) is None:
                raise self._not_found(parent, pid)
        return "/".join(values)

    def ensure_filled(self, coll: Collection, parent: str) -> None:
        """Give a never-seeded collection a few sample records the first time it is used."""
        if coll.key in self.seeded or self.store.is_filled(coll.key, parent):
            return

        def make() -> list[dict[str, Any]]:
            docs = []
            for _ in range(3):
                id_ = self.store.next_id(coll.key)
                doc = samples.sample(coll.item_schema, id_)
                doc["id"] = id_
                if coll.link_field:
                    doc[coll.link_field] = int(parent.rsplit("/", 1)[-1])
                docs.append(doc)
            return docs

        self.store.fill_once(coll.key, parent, make)

    def _filtered(self, request: Request, coll: Collection, parent: str) -> list[dict[str, Any]]:
        docs = self.store.list(coll.key, parent)
        params = request.query_params
        for name in ("conditions", "childConditions", "customFieldConditions"):
            text = params.get(name)
            if not text:
                continue
            self._problems(query.check_conditions(text, coll.item_schema, name), name)
            keep = query.matcher(text, custom_fields=name == "customFieldConditions")
            docs = [d for d in docs if keep(d)]
        return docs

    def _list(self, request: Request, coll: Collection, parent: str) -> Response:
        params = request.query_params
        docs = self._filtered(request, coll, parent)
        page_size = self._int_param(params, "pageSize", query.DEFAULT_PAGE_SIZE)
        page_size = min(page_size, query.MAX_PAGE_SIZE)
        order_by = params.get("orderBy")
        links: list[str] = []
        forward = "pageId" in params or (
            request.headers.get("pagination-type", "").lower() == "forward-only"
        )
        if forward:
            if order_by and order_by.split()[0].lower() != "id":
                raise _error(
                    400,
                    "InvalidObject",
                    "Forward-only paging (pageId) returns records in id order; "
                    "drop orderBy or use 'id asc'.",
                    [self._err("InvalidField", "orderBy must be 'id'", coll, "orderBy")],
                )
            after = self._int_param(params, "pageId", 0, minimum=0)
            rest = [d for d in docs if d["id"] > after]
            chunk = rest[:page_size]
            if len(rest) > len(chunk):
                url = request.url.remove_query_params("page").include_query_params(
                    pageId=chunk[-1]["id"], pageSize=page_size
                )
                links.append(f'<{url}>; rel="next"')
        else:
            if order_by:
                self._problems(query.check_order_by(order_by, coll.item_schema), "orderBy")
                docs = query.order(docs, order_by)
            page = self._int_param(params, "page", 1)
            last = max(1, math.ceil(len(docs) / page_size))
            chunk = docs[(page - 1) * page_size : page * page_size]

            def url(p: int) -> str:
                return str(request.url.include_query_params(page=p, pageSize=page_size))

            if page > 1:
                links.append(f'<{url(1)}>; rel="first"')
                links.append(f'<{url(min(page - 1, last))}>; rel="prev"')
            if page < last:
                links.append(f'<{url(page + 1)}>; rel="next"')
                links.append(f'<{url(last)}>; rel="last"')
        fields = params.get("fields")
        if fields:
            self._problems(query.check_fields(fields, coll.item_schema), "fields")
            paths = fields.split(",")
            chunk = [query.project(d, paths) for d in chunk]
        headers = {"Link": ", ".join(links)} if links else {}
        return _json(chunk, 200, headers)

    def _create(
        self,
        request: Request,
        op: Any,
        coll: Collection,
        parent: str,
        values: list[str],
        body: Any,
    ) -> Response:
        doc = self._validate(op.body_model, body)
        doc.pop("id", None)
        doc = {"id": self.store.next_id(coll.key), **doc}
        if coll.link_field and values:
            doc[coll.link_field] = int(values[-1])
        self._resolve_refs(request, doc, coll.item_schema)
        if self._has_info(coll):
            doc["_info"] = samples.info(_UPDATED_BY, _now())
        self.store.insert(coll.key, parent, doc)
        return _json(doc, op.success_status or 201)

    def _patched(self, coll: Collection, doc: dict[str, Any], body: Any) -> dict[str, Any]:
        problems = check_patch_ops(body, coll.item_schema)
        if problems:
            raise self._invalid(coll.item_schema, problems)
        new = copy.deepcopy(doc)
        for entry in body:
            segs = [s for s in entry["path"].strip("/").split("/") if s]
            target = new
            for seg in segs[:-1]:
                nxt = target.get(seg)
                if not isinstance(nxt, dict):
                    nxt = target[seg] = {}
                target = nxt
            if entry["op"] == "remove":
                target.pop(segs[-1], None)
            else:
                target[segs[-1]] = entry.get("value")
        if isinstance(new.get("_info"), dict):
            new.pop("_info")
        return self._validate(coll.item_schema, new)

    # --- references -----------------------------------------------------------------------------

    def _resolve_refs(self, request: Request, doc: dict[str, Any], schema_name: str) -> None:
        schema = self.schemas.get(schema_name)
        if schema is None:
            return
        errors = []
        for name, f in schema.fields.items():
            value = doc.get(name)
            target = self.catalog.ref_targets.get(f.ref or "")
            # Only seeded collections hold real data; sample-filled ones are left as sent.
            if target is None or target.key not in self.seeded:
                continue
            if f.type == "array" or not isinstance(value, dict):
                continue
            self.ensure_filled(target, "")
            found = self._find_ref(target, value)
            if found is None:
                shown = value.get("id", value.get("identifier", value.get("name")))
                label = target.item_schema.split(".")[-1]
                errors.append(
                    self._err("NotFound", f"{label} {shown} not found", schema_name, f"{name}/id")
                )
                continue
            href = f"{API_PREFIX}{target.key}/{found['id']}"
            doc[name] = make_reference(self.schemas, f.ref, found, href)
        if errors:
            raise _error(
                400, "InvalidObject", f"{_resource_name(schema_name)} object is invalid", errors
            )

    def _find_ref(self, target: Collection, value: Mapping[str, Any]) -> dict[str, Any] | None:
        if isinstance(value.get("id"), int):
            return self.store.get(target.key, "", value["id"])
        for key in ("identifier", "name"):
            wanted = value.get(key)
            if isinstance(wanted, str):
                for doc in self.store.list(target.key, ""):
                    if str(doc.get(key, "")).lower() == wanted.lower():
                        return doc
        return None

    # --- samples --------------------------------------------------------------------------------

    def _sample(self, request: Request, op: Any, values: list[str], body: Any) -> Response:
        if op.body_kind in ("model", "array") and body is not None:
            if op.body_kind == "array":
                self._validate_list(op.body_model, body)
            else:
                body = self._validate(op.body_model, body)
        elif op.body_kind == "patch" and body is not None:
            problems = check_patch_ops(body, op.response_model or "")
            if problems:
                raise self._invalid(op.response_model or "patch", problems)
        status = op.success_status or 200
        if status == 204:
            return Response(status_code=204)
        if op.response_kind == "binary":
            # ConnectWise streams files (invoice PDFs, images) as raw bytes.
            return Response(samples.binary(op.path), status, media_type="application/octet-stream")
        if op.response_is_list:
            data: Any = [samples.sample(op.response_model, 1)]
        else:
            data = samples.sample(op.response_model, 1)
            if isinstance(body, dict) and op.body_model == op.response_model:
                data.update(body)
            if isinstance(data, dict) and "id" in data and op.path_params:
                last = values[-1] if values else ""
                if last.isdigit() and op.path_params[-1].name in ("id", "parentId"):
                    data["id"] = int(last)
        return _json(data, status)

    # --- validation -----------------------------------------------------------------------------

    async def _read_body(self, request: Request, op: Any) -> Any:
        if op.body_kind is None or op.body_kind == "multipart":
            return None
        raw = await request.body()
        resource = _resource_name(op.body_model or "request")
        if not raw.strip():
            if op.body_required:
                raise _error(
                    400,
                    "InvalidObject",
                    f"{resource} object is required: send it as a JSON request body.",
                    [self._err("NullObject", "The request body is required.", resource, "")],
                )
            return None
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise _error(
                400,
                "InvalidObject",
                f"The request body is not valid JSON ({exc}).",
                [self._err("InvalidObject", "Malformed JSON body.", resource, "")],
            ) from None

    def _validate(self, schema_name: str | None, body: Any) -> dict[str, Any]:
        from cwm_generated.models import load_model

        if not schema_name:
            return dict(body) if isinstance(body, dict) else {}
        resource = _resource_name(schema_name)
        if not isinstance(body, dict):
            raise _error(
                400,
                "InvalidObject",
                f"{resource} object is invalid: expected a JSON object, got {type(body).__name__}.",
                [self._err("InvalidObject", "Expected a JSON object.", resource, "")],
            )
        model = load_model(schema_name)
        try:
            instance = model.model_validate(body)
        except ValidationError as exc:
            raise _error(
                400,
                "InvalidObject",
                f"{resource} object is invalid",
                [self._pydantic_error(e, schema_name) for e in exc.errors()],
            ) from None
        return instance.model_dump(mode="json", by_alias=True, exclude_none=True)

    def _validate_list(self, schema_name: str | None, body: Any) -> list[dict[str, Any]]:
        if not isinstance(body, list):
            resource = _resource_name(schema_name or "request")
            raise _error(
                400,
                "InvalidObject",
                f"Expected a JSON array of {resource} objects.",
                [self._err("InvalidObject", "Expected a JSON array.", resource, "")],
            )
        out, errors = [], []
        for i, item in enumerate(body):
            try:
                out.append(self._validate(schema_name, item))
            except _ApiError as exc:
                for err in exc.body.get("errors", []):
                    errors.append({**err, "field": f"{i}/{err['field']}".rstrip("/")})
        if errors:
            raise _error(400, "InvalidObject", "One or more objects are invalid", errors)
        return out

    def _pydantic_error(self, err: Mapping[str, Any], schema_name: str) -> dict[str, str]:
        field_path = "/".join(str(p) for p in err["loc"])
        kind = err["type"]
        if kind == "missing":
            code, message = "NullObject", f"The {field_path} field is required."
        elif kind == "extra_forbidden":
            code = "InvalidField"
            message = f"'{field_path}' is not a field of {schema_name}."
        elif kind == "string_too_long":
            limit = err.get("ctx", {}).get("max_length")
            code = "MaxLengthField"
            message = f"The field {field_path} must be a string with a maximum length of {limit}."
        else:
            code, message = "InvalidField", f"The field {field_path} is invalid: {err['msg']}."
        return self._err(code, message, schema_name, field_path)

    @staticmethod
    def _err(code: str, message: str, resource: Any, field_path: str) -> dict[str, str]:
        name = resource.item_schema if isinstance(resource, Collection) else str(resource)
        return {
            "code": code,
            "message": message,
            "resource": _resource_name(name),
            "field": field_path,
        }

    def _invalid(self, schema_name: str, problems: list[Any]) -> _ApiError:
        errors = [
            self._err("InvalidField", str(p), schema_name, p.where.removeprefix("body"))
            for p in problems
        ]
        return _error(
            400, "InvalidObject", f"{_resource_name(schema_name)} object is invalid", errors
        )

    def _problems(self, problems: list[Any], param: str) -> None:
        if problems:
            errors = [
                {"code": "InvalidField", "message": str(p), "resource": param, "field": param}
                for p in problems
            ]
            raise _error(
                400, "InvalidObject", f"The {param} parameter is invalid: {problems[0]}", errors
            )

    @staticmethod
    def _int_param(params: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
        raw = params.get(name)
        if raw in (None, ""):
            return default
        try:
            value = int(raw)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise _error(
                400,
                "InvalidObject",
                f"{name} must be a whole number of at least {minimum}, not {raw!r}.",
                [
                    {
                        "code": "InvalidField",
                        "message": f"Invalid {name}.",
                        "resource": name,
                        "field": name,
                    }
                ],
            )
        return value

    # --- helpers for tests, demos and benchmarks ------------------------------------------------

    def example_path(self, op: Any) -> str:
        """A concrete path (relative to the API base) that reaches ``op`` with existing ids."""
        binding: Binding = self.catalog.binding(op)
        coll = binding.collection
        values: list[str] = []
        if coll is not None:
            if binding.kind in ("list", "count", "create"):
                values = self._existing(coll.parent) if coll.parent else ["1"] * coll.depth
            else:
                values = self._existing(coll)
        segs, i = [], 0
        types = {p.name: p.type for p in op.path_params}
        for seg in op.path.split("/"):
            if seg.startswith("{") and seg.endswith("}"):
                if i < len(values):
                    segs.append(values[i])
                else:
                    segs.append("1" if types.get(seg[1:-1]) == "integer" else "sample")
                i += 1
            else:
                segs.append(seg)
        return "/".join(segs)

    def _existing(self, coll: Collection) -> list[str]:
        """Path values (parents then id) of some existing record of ``coll``."""
        found = self.store.any_item(coll.key)
        if found is None:
            parents = self._existing(coll.parent) if coll.parent else ["1"] * coll.depth
            parent = self.ensure_parent(coll, parents)
            self.ensure_filled(coll, parent)
            found = self.store.any_item(coll.key)
            if found is None:
                return parents + ["1"]
        parent, id_ = found
        return ([p for p in parent.split("/") if p]) + [str(id_)]


def _loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    return host in _LOOPBACK or host.startswith("127.")


def create_app(settings: SandboxSettings | None = None) -> Any:
    """Build the sandbox ASGI app. ``app.state.sandbox`` (and ``app.sandbox``) is the
    :class:`Sandbox` behind it, for tests that read the request log or the store."""
    sandbox = Sandbox(settings)

    async def api(request: Request) -> Response:
        return await sandbox.serve_api(request)

    async def company_info(request: Request) -> Response:
        company = request.path_params["company"]
        if company.lower() != sandbox.credentials.company.lower():
            return _json({"code": "NotFound", "message": f"Company {company!r} not found."}, 404)
        return _json(
            {
                "CompanyName": sandbox.settings.company_name,
                "Codebase": CODEBASE,
                "VersionCode": VERSION_CODE,
                "VersionNumber": VERSION_NUMBER,
                "CompanyID": sandbox.credentials.company,
                "IsCloud": False,
                "SiteUrl": request.url.netloc,
                "AllowAnonymousAccess": False,
            }
        )

    def admin(handler: Any) -> Any:
        async def guarded(request: Request) -> Response:
            if not _loopback(request):
                return _json(
                    {"code": "Forbidden", "message": "Admin endpoints are loopback only."}, 403
                )
            return await handler(request)

        return guarded

    async def requests_log(request: Request) -> Response:
        if request.method == "DELETE":
            sandbox.clear_requests()
            return Response(status_code=204)
        return _json({"requests": sandbox.requests})

    async def faults(request: Request) -> Response:
        if request.method == "DELETE":
            sandbox.faults.clear()
            return Response(status_code=204)
        if request.method == "POST":
            try:
                data = json.loads(await request.body() or b"{}")
                sandbox.faults.add(str(data["fault"]), data.get("count"))
            except (ValueError, KeyError, TypeError, FaultSpecError) as exc:
                return _json(
                    {
                        "code": "InvalidFault",
                        "message": f'Send {{"fault": "503", "count": 2}}: {exc}',
                    },
                    400,
                )
        return _json({"faults": sandbox.faults.describe()})

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    routes = [
        Route("/login/companyinfo/{company}", company_info, methods=["GET"]),
        Route(ADMIN_PREFIX + "/requests", admin(requests_log), methods=["GET", "DELETE"]),
        Route(ADMIN_PREFIX + "/faults", admin(faults), methods=["GET", "POST", "DELETE"]),
        Route(API_PREFIX + "/{rest:path}", api, methods=methods),
        Route(API_PREFIX, api, methods=methods),
    ]
    inner = Starlette(routes=routes)
    inner.state.sandbox = sandbox

    class SandboxASGI:
        """Outer ASGI layer: request log and fault injection around the Starlette app."""

        def __init__(self) -> None:
            self.sandbox = sandbox
            self.state = inner.state

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            await sandbox.asgi(scope, receive, send, inner)

    return SandboxASGI()
