"""Stored collections: list, count, create, get, replace, patch and delete records.

Every write is validated against the item model, then completed by ConnectWise's rules and
reference resolution (:mod:`~cwm_gateway.sandbox.rules`), then stored. Nested collections
(``/service/tickets/{id}/notes``) belong to their parent record: a missing parent is a 404, and
the child's link field (``ticketId``) is set from the path.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from cwm_gateway.sandbox import bodies, errors, samples
from cwm_gateway.sandbox.errors import json_response
from cwm_gateway.sandbox.query import ListQuery, project_one
from cwm_gateway.sandbox.resources import Collection
from cwm_gateway.sandbox.rules import Rules

Doc = dict[str, Any]


@dataclass(eq=False, repr=False)
class Crud:
    """The record operations of the stored collections."""

    store: Any
    schemas: Any
    seeded: frozenset[str]
    rules: Rules
    updated_by: str
    now: Callable[[], str]

    # --- parents and first use --------------------------------------------------------------

    def ensure_parent(self, coll: Collection, values: list[str]) -> str:
        """The parent key for ``coll`` at these path values; 404 when a parent is missing."""
        for value in values:
            if not value.lstrip("-").isdigit():
                raise errors.api_error(404, "NotFound", f"{value} is not a valid id.")
        values = [str(int(v)) for v in values]
        parent = coll.parent
        if parent is not None:
            grand = self.ensure_parent(parent, values[: parent.depth])
            self.ensure_filled(parent, grand)
            pid = int(values[parent.depth])
            if self.store.get(parent.key, grand, pid) is None:
                raise errors.not_found(parent.item_schema, pid)
        return "/".join(values)

    def record(self, coll: Collection, values: list[str]) -> tuple[str, Doc]:
        """The record of ``coll`` at path values (parents then id), and its parent key."""
        parent = self.ensure_parent(coll, values[: coll.depth])
        self.ensure_filled(coll, parent)
        id_ = int(values[coll.depth])
        doc = self.store.get(coll.key, parent, id_)
        if doc is None:
            raise errors.not_found(coll.item_schema, id_)
        return parent, doc

    def ensure_filled(self, coll: Collection, parent: str) -> None:
        """Give a never-seeded collection a few sample records the first time it is used."""
        if coll.key in self.seeded or self.store.is_filled(coll.key, parent):
            return

        def make() -> list[Doc]:
            docs = []
            for _ in range(3):
                id_ = self.store.next_id(coll.key)
                doc = samples.sample(coll.item_schema, id_)
                doc["id"] = id_
                self.rules.complete_sample(coll.item_schema, doc)
                if coll.link_field:
                    doc[coll.link_field] = int(parent.rsplit("/", 1)[-1])
                docs.append(doc)
            return docs

        self.store.fill_once(coll.key, parent, make)

    # --- reads ------------------------------------------------------------------------------

    def list_page(self, request: Request, schema: str | None, rows: list[Doc]) -> Response:
        """One page of ``rows`` (records of ``schema``) after the request's list query."""
        query = self.query(request, schema)
        chunk, links = query.page_of(query.filter(rows), request.url)
        return json_response(chunk, 200, {"Link": ", ".join(links)} if links else None)

    def query(self, request: Request, schema: str | None) -> ListQuery:
        """The validated list parameters of ``request``."""
        forward = request.headers.get("pagination-type", "").lower() == "forward-only"
        return ListQuery.parse(request.query_params, schema, self.schemas, forward_only=forward)

    def get(self, request: Request, coll: Collection, doc: Doc) -> Response:
        """One record, ``fields`` applied."""
        fields = request.query_params.get("fields")
        if fields:
            return json_response(project_one(doc, fields, self.schemas, coll.item_schema))
        return json_response(doc)

    # --- writes -----------------------------------------------------------------------------

    def create(
        self, op: Any, coll: Collection, parent: str, values: list[str], body: Any
    ) -> Response:
        """A new record from ``body``."""
        doc = bodies.validate(op.body_model, body)
        doc.pop("id", None)
        if coll.link_field and values:
            doc[coll.link_field] = int(values[-1])
        now = self.now()
        self.rules.apply(coll.item_schema, doc, None, now)
        doc = {"id": self.store.next_id(coll.key), **doc}
        if self._has_info(coll):
            doc["_info"] = samples.info(self.updated_by, now)
        self.store.insert(coll.key, parent, doc)
        return json_response(doc, op.success_status or 201)

    def replace(self, op: Any, coll: Collection, parent: str, old: Doc, body: Any) -> Response:
        """PUT: the whole record from ``body``."""
        return self._store(op, coll, parent, old, bodies.validate(op.body_model, body))

    def patch(self, op: Any, coll: Collection, parent: str, old: Doc, body: Any) -> Response:
        """PATCH: JSON Patch ops applied to the record, then the result validated."""
        ops = bodies.check_patch(body, coll.item_schema, self.schemas)
        new = self._patched(coll, old, ops)
        return self._store(op, coll, parent, old, bodies.validate(coll.item_schema, new))

    def delete(self, op: Any, coll: Collection, parent: str, doc: Doc) -> Response:
        """Delete the record (and everything nested under it)."""
        self.store.delete(coll.key, parent, doc["id"])
        status = op.success_status or 204
        # A few DELETEs are documented to answer 200 with the deleted record.
        return Response(status_code=204) if status == 204 else json_response(doc, status)

    def _store(self, op: Any, coll: Collection, parent: str, old: Doc, new: Doc) -> Response:
        new["id"] = old["id"]
        if coll.link_field and old.get(coll.link_field) is not None:
            new[coll.link_field] = old[coll.link_field]
        now = self.now()
        self.rules.apply(coll.item_schema, new, old, now)
        if self._has_info(coll):
            new["_info"] = {**(old.get("_info") or {}), **samples.info(self.updated_by, now)}
        self.store.put(coll.key, parent, new)
        return json_response(new, op.success_status or 200)

    def _has_info(self, coll: Collection) -> bool:
        schema = self.schemas.get(coll.item_schema)
        return schema is not None and "_info" in schema.fields

    def _patched(self, coll: Collection, doc: Doc, ops: list[Doc]) -> Doc:
        fields = getattr(self.schemas.get(coll.item_schema), "fields", {})
        by_lower = {name.lower(): name for name in fields}
        new = copy.deepcopy(doc)
        new.pop("_info", None)
        for entry in ops:
            segs = [s for s in entry["path"].strip("/").split("/") if s]
            segs[0] = by_lower.get(segs[0].lower(), segs[0])
            head = fields.get(segs[0])
            if len(segs) == 2 and head is not None and head.ref and head.type != "array":
                # Replacing ``status/name`` names a different status: the old id must go, or
                # it would win over the new name when the reference is resolved.
                if entry["op"].lower() == "remove":
                    new.pop(segs[0], None)
                else:
                    new[segs[0]] = {segs[1]: entry.get("value")}
                continue
            target = new
            for seg in segs[:-1]:
                nxt = target.get(seg)
                if not isinstance(nxt, dict):
                    nxt = target[seg] = {}
                target = nxt
            if entry["op"].lower() == "remove":
                target.pop(segs[-1], None)
            else:
                target[segs[-1]] = entry.get("value")
        return new
