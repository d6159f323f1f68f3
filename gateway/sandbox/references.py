"""References between records, resolved the way ConnectWise resolves them.

A reference in a request body (``"company": {...}``) names a record by ``id`` or, where
ConnectWise accepts it, by its ``identifier`` (companies, members, departments, catalog items:
records that have one) or else by its ``name`` (boards, priorities, work roles, statuses...).
An ``id`` wins when both are given. References that depend on a service board (a ticket's
status, type, subtype, item) are looked up among *that board's* records: status "Closed" on a
ticket means the Closed status of the ticket's board. A reference that resolves is stored and
returned in ConnectWise's full form (id, name/identifier, ``_info`` href); one that does not is
a 400 ``InvalidObject`` naming the field, e.g. "Service Status 17 not found for Service Board 2".

Only collections with seeded data are checked: a collection that holds generated samples says
nothing about which records "exist", so references into it are kept as sent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cwm_gateway.sandbox import errors
from cwm_gateway.sandbox.resources import Catalog, Collection, make_reference

#: References that live under a service board, and the board collection they live in.
BOARD_SCOPED = {
    "ServiceStatusReference": "/service/boards/{}/statuses",
    "ServiceTypeReference": "/service/boards/{}/types",
    "ServiceSubTypeReference": "/service/boards/{}/subtypes",
    "ServiceItemReference": "/service/boards/{}/items",
}

#: How ConnectWise names some records in its messages.
_LABELS = {
    "BoardReference": "Service Board",
    "ProjectBoardReference": "Project Board",
    "ServiceStatusReference": "Service Status",
    "ServiceTypeReference": "Service Type",
    "SystemLocationReference": "Location",
    "SystemDepartmentReference": "Department",
}


def label(ref_schema: str) -> str:
    """The record's name in ConnectWise's messages: ``PriorityReference`` -> ``Priority``."""
    return _LABELS.get(ref_schema) or errors.label(ref_schema.removesuffix("Reference"))


@dataclass(eq=False, repr=False)
class References:
    """Resolves the reference fields of a document against the store."""

    catalog: Catalog
    schemas: Mapping[str, Any]
    store: Any
    seeded: frozenset[str]
    api_prefix: str
    ensure_filled: Callable[[Collection, str], None]

    def resolve(self, doc: dict[str, Any], schema_name: str) -> None:
        """Replace every resolvable reference of ``doc`` in place; 400 on the first misses."""
        schema = self.schemas.get(schema_name)
        if schema is None:
            return
        problems: list[dict[str, str]] = []
        # Board-scoped references need the board first.
        names = sorted(schema.fields, key=lambda n: schema.fields[n].ref in BOARD_SCOPED)
        for name in names:
            f = schema.fields[name]
            value = doc.get(name)
            if f.ref is None or f.type == "array" or not isinstance(value, dict):
                continue
            if f.ref in BOARD_SCOPED:
                problem = self._resolve_on_board(doc, name, f.ref, schema_name)
            else:
                problem = self._resolve_top(doc, name, f.ref, schema_name)
            if problem is not None:
                problems.append(problem)
        if problems:
            raise errors.invalid_object(schema_name, problems)

    # --- lookups ----------------------------------------------------------------------------

    def _resolve_top(
        self, doc: dict[str, Any], name: str, ref: str, schema_name: str
    ) -> dict[str, str] | None:
        target = self.catalog.ref_targets.get(ref)
        if target is None or target.key not in self.seeded:
            return None
        self.ensure_filled(target, "")
        value = doc[name]
        found, key = self.find(target, "", value)
        if found is None:
            shown = value.get(key) if key else None
            if shown is None:
                return _requires_id(name, schema_name)
            return errors.field_error(
                "NotFound", f"{label(ref)} {shown} not found", schema_name, f"{name}/{key}"
            )
        doc[name] = make_reference(
            self.schemas, ref, found, f"{self.api_prefix}{target.key}/{found['id']}"
        )
        return None

    def _resolve_on_board(
        self, doc: dict[str, Any], name: str, ref: str, schema_name: str
    ) -> dict[str, str] | None:
        key_template = BOARD_SCOPED[ref]
        coll = self.catalog.collections.get(key_template)
        board = doc.get("board")
        if coll is None or coll.key not in self.seeded or not isinstance(board, dict):
            return None
        board_id = board.get("id")
        if not isinstance(board_id, int):
            return None  # the board itself did not resolve; that error is reported already
        parent = str(board_id)
        value = doc[name]
        found, key = self.find(coll, parent, value)
        if found is None:
            shown = value.get(key) if key else None
            if shown is None:
                return _requires_id(name, schema_name)
            return errors.field_error(
                "NotFound",
                f"{label(ref)} {shown} not found for Service Board {board_id}",
                schema_name,
                f"{name}/{key or 'id'}",
            )
        href = f"{self.api_prefix}{key_template.replace('{}', parent)}/{found['id']}"
        doc[name] = make_reference(self.schemas, ref, found, href)
        return None

    def find(
        self, coll: Collection, parent: str, value: Mapping[str, Any]
    ) -> tuple[dict[str, Any] | None, str | None]:
        """The record ``value`` names in ``coll`` at ``parent``, and the key it was named by.

        By ``id``; else by ``identifier`` for records that have one, else by ``name``
        (case-insensitive, as SQL Server compares).
        """
        if value.get("id") is not None:
            id_ = value["id"]
            doc = self.store.get(coll.key, parent, id_) if isinstance(id_, int) else None
            return doc, "id"
        fields = getattr(self.schemas.get(coll.item_schema), "fields", {})
        key = "identifier" if "identifier" in fields else "name" if "name" in fields else None
        wanted = value.get(key) if key else None
        if not isinstance(wanted, str):
            return None, key or "id"
        low = wanted.lower()
        for doc in self.store.documents(coll.key, parent):
            if str(doc.get(key, "")).lower() == low:
                return doc, key
        return None, key


def _requires_id(name: str, schema_name: str) -> dict[str, str]:
    return errors.field_error(
        "NullObject", f"The {name} field requires an id.", schema_name, f"{name}/id"
    )
