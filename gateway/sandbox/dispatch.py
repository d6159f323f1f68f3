"""One sandbox instance: its store and parts, and the dispatch of an API request to them.

A request is authenticated, routed to its registry operation, and handed to the part that
serves the operation's binding (:mod:`~cwm_gateway.sandbox.resources`): stored collections
(:mod:`~.crud`), derived sub-collections (:mod:`~.views`), documents (:mod:`~.documents`) or
schema-valid samples (:mod:`~.samples`). Every list, whichever part serves it, goes through the
same validated list query, and every error is ConnectWise-shaped (:mod:`~.errors`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from cwm_gateway.paths import API_PREFIX
from cwm_gateway.sandbox import bodies, errors, samples
from cwm_gateway.sandbox.auth import SandboxCredentials
from cwm_gateway.sandbox.crud import Crud
from cwm_gateway.sandbox.documents import DOCUMENTS, Documents
from cwm_gateway.sandbox.errors import ApiError, json_response
from cwm_gateway.sandbox.faults import FaultPlan
from cwm_gateway.sandbox.query import check_query_types
from cwm_gateway.sandbox.references import References
from cwm_gateway.sandbox.requestlog import RequestLog
from cwm_gateway.sandbox.resources import Binding, Catalog, Collection
from cwm_gateway.sandbox.router import RouteError, Router, normalize_template
from cwm_gateway.sandbox.rules import Rules
from cwm_gateway.sandbox.store import Store
from cwm_gateway.sandbox.views import Views

#: Who the sandbox's API member is (``_info.updatedBy``, ``closedBy``, document owner).
UPDATED_BY = "sandbox-api"


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


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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
        self.log = RequestLog(self.settings.log_limit)

        self.references = References(
            self.catalog, SCHEMAS, self.store, self.seeded, API_PREFIX, self._fill
        )
        self.crud = Crud(
            self.store, SCHEMAS, self.seeded, Rules(self.references, UPDATED_BY), UPDATED_BY, _now
        )
        self.documents = Documents(self.store, self._record_exists, UPDATED_BY)
        self.views = Views(
            self.catalog, SCHEMAS, self.store, API_PREFIX, self._fill, self.documents.of_record
        )
        # List operations by normalized path, so a sample /count checks its list's parameters.
        self._list_schema = {
            normalize_template(op.path): op.response_model
            for op in OPERATIONS
            if op.method == "GET" and op.is_list
        }

    def _fill(self, coll: Collection, parent: str) -> None:
        self.crud.ensure_filled(coll, parent)

    def _record_exists(self, key: str, id_: int) -> bool:
        coll = self.catalog.collections.get(key)
        if coll is None:
            return False
        self._fill(coll, "")
        return self.store.get(coll.key, "", id_) is not None

    # --- request log ------------------------------------------------------------------------

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Requests that reached the server: method, path, query, status, operation_id."""
        return self.log.entries()

    def clear_requests(self) -> None:
        """Forget the logged requests."""
        self.log.clear()

    # --- API --------------------------------------------------------------------------------

    async def serve_api(self, request: Request) -> Response:
        """Authenticate, route, validate and answer one API request."""
        reason = self.credentials.check(request.headers)
        if reason is not None:
            return json_response({"code": "Unauthorized", "message": reason}, 401)
        rel = request.url.path[len(API_PREFIX) :] or "/"
        # IIS answers HEAD as GET without the body (the server drops the body).
        method = "GET" if request.method == "HEAD" else request.method
        try:
            match = self.router.match(method, rel)
        except RouteError as exc:
            if exc.status == 405:
                allowed = ", ".join(exc.allowed)
                return json_response(
                    {
                        "code": "MethodNotAllowed",
                        "message": f"The requested resource does not support http method "
                        f"'{request.method}'.",
                    },
                    405,
                    {"Allow": allowed},
                )
            return json_response(
                {"code": "NotFound", "message": "No HTTP resource was found that matches the "
                 "request URI."},
                404,
            )  # fmt: skip
        op = match.operation
        try:
            response = await self._dispatch(request, op, list(match.params.values()))
        except ApiError as exc:
            response = exc.response()
        response.headers["X-Sandbox-Operation"] = op.operation_id
        return response

    async def _dispatch(self, request: Request, op: Any, values: list[str]) -> Response:
        check_query_types(op, request.query_params)
        binding: Binding = self.catalog.binding(op)
        if op.operation_id == "postSystemDocuments":
            doc = await self.documents.upload(request, _now())
            return json_response(doc, op.success_status or 201)
        body = await bodies.read_json(request, op)
        coll = binding.collection
        if binding.kind == "sample" or coll is None:
            return self._derived_or_sample(request, op, values, body)
        crud = self.crud
        if binding.kind in ("list", "count", "create"):
            parent = crud.ensure_parent(coll, values[: coll.depth])
            crud.ensure_filled(coll, parent)
            if binding.kind == "create":
                return crud.create(op, coll, parent, values, body)
            rows = self.store.documents(coll.key, parent)
            if coll.key == DOCUMENTS:
                rows = self.documents.filter_params(rows, request.query_params)
            if binding.kind == "list":
                return crud.list_page(request, coll.item_schema, rows)
            query = crud.query(request, coll.item_schema)
            return json_response({"count": len(query.filter(rows))})
        parent, doc = crud.record(coll, values)
        if binding.kind == "get":
            return crud.get(request, coll, doc)
        if binding.kind == "delete":
            if coll.key == DOCUMENTS:
                self.store.delete_file(doc["id"])
            return crud.delete(op, coll, parent, doc)
        if binding.kind == "put":
            return crud.replace(op, coll, parent, doc, body)
        return crud.patch(op, coll, parent, doc, body)

    def _derived_or_sample(
        self, request: Request, op: Any, values: list[str], body: Any
    ) -> Response:
        key = normalize_template(op.path)
        if op.method == "GET" and op.response_kind == "binary" and key.startswith(DOCUMENTS):
            coll = self.catalog.collections[DOCUMENTS]
            _, doc = self.crud.record(coll, values[:1])
            return self.documents.download(doc)
        by_identifier = self._by_identifier(op, key)
        if by_identifier is not None:
            found, _ = self.references.find(by_identifier, "", {"identifier": values[-1]})
            if found is None:
                raise errors.api_error(
                    404, "NotFound", f"{errors.label(op.response_model)} {values[-1]} not found"
                )
            return self.crud.get(request, by_identifier, found)
        list_key = key.removesuffix("/count") if op.method == "GET" else None
        if list_key is not None and self.views.serves(list_key):
            owner = self.views.owner(list_key)
            n = owner.depth + 1 if owner is not None else len(values)
            if owner is not None:
                self.crud.record(owner, values[:n])  # 404 when the parent is missing
            schema = self._list_schema.get(list_key)
            rows = self.views.rows(list_key, schema, int(values[n - 1]))
            if key.endswith("/count"):
                query = self.crud.query(request, schema)
                return json_response({"count": len(query.filter(rows))})
            return self.crud.list_page(request, schema, rows)
        if op.method == "GET" and op.is_list:
            rows = [samples.sample(op.response_model, 1)] if op.response_model else []
            return self.crud.list_page(request, op.response_model, rows)
        if op.method == "GET" and key.endswith("/count"):
            self.crud.query(request, self._list_schema.get(list_key or ""))
        return samples.answer(op, values, self._checked_body(op, body))

    def _by_identifier(self, op: Any, key: str) -> Collection | None:
        """The stored collection ``op`` reads one record of by identifier
        (``GET /system/members/{memberIdentifier}``), if it is such an operation."""
        if op.method != "GET" or not key.endswith("/{}") or not op.path_params:
            return None
        if op.path_params[-1].type != "string" or len(op.path_params) != 1:
            return None
        coll = self.catalog.collections.get(key[:-3])
        fields = getattr(self.schemas.get(op.response_model or ""), "fields", {})
        if coll is None or coll.item_schema != op.response_model or "identifier" not in fields:
            return None
        return coll

    def _checked_body(self, op: Any, body: Any) -> Any:
        if body is None:
            return None
        if op.body_kind == "array":
            return bodies.validate_list(op.body_model, body)
        if op.body_kind == "model":
            return bodies.validate(op.body_model, body)
        if op.body_kind == "patch":
            return bodies.check_patch(body, op.response_model or "", self.schemas)
        return body

    # --- helpers for tests, demos and benchmarks --------------------------------------------

    def example_path(self, op: Any) -> str:
        """A concrete path (relative to the API base) that reaches ``op`` with existing ids."""
        binding: Binding = self.catalog.binding(op)
        coll = binding.collection
        by_identifier = self._by_identifier(op, normalize_template(op.path))
        if by_identifier is not None:
            self.crud.ensure_filled(by_identifier, "")
            some = self.store.documents(by_identifier.key, "")[0]
            return op.path.rsplit("/", 1)[0] + "/" + str(some["identifier"])
        if coll is None:
            owner = self.views.owner(normalize_template(op.path).removesuffix("/count"))
            if owner is not None:
                coll, binding = owner, Binding("get", owner)
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
            parent = self.crud.ensure_parent(coll, parents)
            self.crud.ensure_filled(coll, parent)
            found = self.store.any_item(coll.key)
            if found is None:
                return parents + ["1"]
        parent, id_ = found
        return ([p for p in parent.split("/") if p]) + [str(id_)]
