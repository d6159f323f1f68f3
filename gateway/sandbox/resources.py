"""Which operations are backed by stored resources, derived from the registry alone.

A *collection* is a path whose GET returns a paged list and which has item operations at
``<path>/{id}`` or a POST that creates the list's item schema. Its operations bind to list,
count, create, get, put, patch and delete; everything else (actions, reports, ``/info``,
``/usages``) binds to ``sample``. A collection nested under an item of another collection
(``/service/tickets/{}/notes``) belongs to that item.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cwm_gateway.sandbox.router import normalize_template

#: References whose schema name does not follow ``<ItemSchema>Reference``.
_EXTRA_REF_TARGETS = {
    "SystemLocationReference": "/system/locations",
    "SystemDepartmentReference": "/system/departments",
    "ProjectBoardReference": "/service/boards",
}


@dataclass(frozen=True)
class Collection:
    """A stored resource collection."""

    key: str
    """Normalized template of the list path, e.g. ``/service/tickets/{}/notes``."""
    item_schema: str
    parent: Collection | None
    """The collection whose item owns this one, when nested."""
    depth: int
    """Number of path parameters in :attr:`key` (values making up the parent key)."""
    link_field: str | None
    """Field of the item holding its parent's id, e.g. ``ticketId`` on a ticket note."""


@dataclass(frozen=True)
class Binding:
    """How the sandbox serves one operation."""

    kind: str
    """``list``, ``count``, ``create``, ``get``, ``put``, ``patch``, ``delete`` or ``sample``."""
    collection: Collection | None = None


SAMPLE = Binding("sample")


class Catalog:
    """Collections and per-operation bindings for a set of registry operations."""

    def __init__(self, operations: Iterable[Any], schemas: Mapping[str, Any]) -> None:
        ops = list(operations)
        by_key: dict[tuple[str, str], list[Any]] = {}
        for op in ops:
            by_key.setdefault((normalize_template(op.path), op.method.upper()), []).append(op)
        item_keys = {key[0] for key in by_key}

        found: dict[str, str] = {}
        for op in ops:
            key = normalize_template(op.path)
            if op.method.upper() != "GET" or not op.is_list or not op.response_model:
                continue
            if not all(p.type == "integer" for p in op.path_params):
                continue
            id_field = getattr(schemas.get(op.response_model), "fields", {}).get("id")
            if id_field is None or id_field.type != "integer":
                continue  # records without an integer id cannot be addressed one by one
            creates = any(o.body_model == op.response_model for o in by_key.get((key, "POST"), []))
            if creates or key + "/{}" in item_keys:
                found.setdefault(key, op.response_model)

        self.collections: dict[str, Collection] = {}
        for key in sorted(found, key=lambda k: k.count("{}")):
            parent = self._parent_of(key)
            link = None
            if parent is not None:
                name = parent.item_schema.split(".")[-1]
                candidate = name[:1].lower() + name[1:] + "Id"
                fields = getattr(schemas.get(found[key]), "fields", {})
                link = candidate if candidate in fields else None
            self.collections[key] = Collection(key, found[key], parent, key.count("{}"), link)

        self.bindings: dict[str, Binding] = {op.operation_id: self._bind(op) for op in ops}

        self.ref_targets: dict[str, Collection] = {}
        for coll in self.collections.values():
            if coll.depth == 0:
                ref = coll.item_schema.split(".")[-1] + "Reference"
                if ref in schemas:
                    self.ref_targets.setdefault(ref, coll)
        for ref, key in _EXTRA_REF_TARGETS.items():
            if key in self.collections and ref in schemas:
                self.ref_targets.setdefault(ref, self.collections[key])

    def _parent_of(self, key: str) -> Collection | None:
        segs = key.split("/")
        for i in range(len(segs) - 1, 0, -1):
            if segs[i] == "{}":
                return self.collections.get("/".join(segs[:i]))
        return None

    def binding(self, op: Any) -> Binding:
        """How ``op`` is served."""
        return self.bindings.get(op.operation_id, SAMPLE)

    def _bind(self, op: Any) -> Binding:
        if not all(p.type == "integer" for p in op.path_params):
            return SAMPLE
        key = normalize_template(op.path)
        method = op.method.upper()
        coll = self.collections.get(key)
        if coll is not None:
            if method == "GET" and op.is_list:
                return Binding("list", coll)
            if method == "POST" and op.body_kind == "model" and op.body_model == coll.item_schema:
                return Binding("create", coll)
            return SAMPLE
        if key.endswith("/count") and method == "GET":
            coll = self.collections.get(key[: -len("/count")])
            return Binding("count", coll) if coll else SAMPLE
        if key.endswith("/{}"):
            coll = self.collections.get(key[:-3])
            if coll is None:
                return SAMPLE
            if method == "GET" and not op.is_list and op.response_model == coll.item_schema:
                return Binding("get", coll)
            if method == "PUT" and op.body_model == coll.item_schema:
                return Binding("put", coll)
            if (
                method == "PATCH"
                and op.body_kind == "patch"
                and op.response_model
                in (
                    None,
                    coll.item_schema,
                )
            ):
                return Binding("patch", coll)
            if method == "DELETE":
                return Binding("delete", coll)
        return SAMPLE


_PY_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


def make_reference(
    schemas: Mapping[str, Any], ref_schema: str, doc: Mapping[str, Any], href: str | None = None
) -> dict[str, Any]:
    """A ConnectWise reference object to ``doc`` (``{"id", "name"/"identifier", "_info"}``).

    Only fields of the reference schema are filled, and only with values of the right type
    (``AgreementReference.type`` is text while an agreement's ``type`` is an object).
    """
    fields = schemas[ref_schema].fields
    out: dict[str, Any] = {}
    for name, f in fields.items():
        if name == "_info":
            continue
        value = doc.get(name)
        if value is None and name == "name" and "firstName" in doc:
            value = f"{doc.get('firstName', '')} {doc.get('lastName', '')}".strip()
        if value is None and name == "sort":
            value = doc.get("sortOrder")
        allowed = _PY_TYPES.get(f.type)
        if value is None or allowed is None or not isinstance(value, allowed):
            continue
        if f.type in ("integer", "number") and isinstance(value, bool):
            continue
        out[name] = value
    if href and "_info" in fields:
        key = ref_schema.removesuffix("Reference")
        out["_info"] = {key[:1].lower() + key[1:] + "_href": href}
    return out
