"""Sub-collections that ConnectWise derives from other records, served from the store.

``/service/tickets/{id}/timeentries`` is not a table of its own: it lists the time entries
charged to that ticket. The sandbox answers such lists from the records they come from, so
they hold the real rows linked to the parent (and nothing else), and change when those records
change. Each view names its source collection and how a source record links to the parent:

- ticket time entries, activities, schedule entries, products, documents and all notes;
- campaign activities and opportunities;
- ``<record>/usages`` (how many records of each kind refer to this one) and
  ``<record>/usages/list`` (those records one by one), for every stored collection.

The rows are shaped as the operation's response model says (mostly reference objects).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cwm_gateway.sandbox.errors import label
from cwm_gateway.sandbox.resources import Catalog, Collection, make_reference

Doc = dict[str, Any]
#: (source record, parent id) -> whether the record belongs to the parent.
Link = Callable[[Mapping[str, Any], int], bool]

TIME_ENTRIES = "/time/entries"
ACTIVITIES = "/sales/activities"
SCHEDULE_ENTRIES = "/schedule/entries"
PRODUCTS = "/procurement/products"
OPPORTUNITIES = "/sales/opportunities"
TICKET_NOTES = "/service/tickets/{}/notes"
DOCUMENTS = "/system/documents"


def _ref_id(doc: Mapping[str, Any], name: str) -> Any:
    value = doc.get(name)
    return value.get("id") if isinstance(value, Mapping) else None


def _charged_to(kind: str) -> Link:
    return lambda doc, pid: doc.get("chargeToType") == kind and doc.get("chargeToId") == pid


def _refers(name: str) -> Link:
    return lambda doc, pid: _ref_id(doc, name) == pid


def _object_id(doc: Mapping[str, Any], pid: int) -> bool:
    return doc.get("objectId") == pid


@dataclass(frozen=True)
class LinkedView:
    """Records of ``source`` that link to the parent, as the response model's objects."""

    source: str
    link: Link


#: Sub-collection (normalized template) -> where its rows come from.
LINKED: dict[str, LinkedView] = {
    "/service/tickets/{}/timeentries": LinkedView(TIME_ENTRIES, _charged_to("ServiceTicket")),
    "/project/tickets/{}/timeentries": LinkedView(TIME_ENTRIES, _charged_to("ProjectTicket")),
    "/service/tickets/{}/activities": LinkedView(ACTIVITIES, _refers("ticket")),
    "/project/tickets/{}/activities": LinkedView(ACTIVITIES, _refers("ticket")),
    "/marketing/campaigns/{}/activities": LinkedView(ACTIVITIES, _refers("campaign")),
    "/marketing/campaigns/{}/opportunities": LinkedView(OPPORTUNITIES, _refers("campaign")),
    "/service/tickets/{}/scheduleentries": LinkedView(SCHEDULE_ENTRIES, _object_id),
    "/project/tickets/{}/scheduleentries": LinkedView(SCHEDULE_ENTRIES, _object_id),
    "/service/tickets/{}/products": LinkedView(PRODUCTS, _refers("ticket")),
    "/project/tickets/{}/products": LinkedView(PRODUCTS, _refers("ticket")),
}

#: Documents attached to a record: recordType as ConnectWise names it.
DOCUMENT_OWNERS = {
    "/service/tickets/{}/documents": "Ticket",
    "/project/tickets/{}/documents": "Ticket",
}

ALL_NOTES = "/service/tickets/{}/allNotes"


@dataclass(eq=False, repr=False)
class Views:
    """Rows of derived sub-collections, read from the store."""

    catalog: Catalog
    schemas: Mapping[str, Any]
    store: Any
    api_prefix: str
    fill: Callable[[Collection, str], None]
    documents: Callable[[str, int], list[Doc]]
    # Which (collection, field) pairs refer to records of each collection, for usages.
    _referrers: dict[str, list[tuple[Collection, str]]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        for coll in self.catalog.collections.values():
            fields = getattr(self.schemas.get(coll.item_schema), "fields", {})
            for name, f in fields.items():
                target = self.catalog.ref_targets.get(f.ref or "")
                if target is not None:
                    self._referrers.setdefault(target.key, []).append((coll, name))

    def serves(self, key: str) -> bool:
        """Whether the list at normalized template ``key`` is derived here."""
        return (
            key in LINKED
            or key in DOCUMENT_OWNERS
            or key == ALL_NOTES
            or self._usage_owner(key) is not None
        )

    def owner(self, key: str) -> Collection | None:
        """The stored collection whose item owns the sub-collection ``key``, if any."""
        usage = self._usage_owner(key)
        if usage is not None:
            return usage[0]
        head = key.rsplit("/{}/", 1)[0] if "/{}/" in key else None
        return self.catalog.collections.get(head) if head else None

    def rows(self, key: str, response_model: str | None, parent_id: int) -> list[Doc]:
        """The rows of sub-collection ``key`` under the record ``parent_id``."""
        if key in LINKED:
            view = LINKED[key]
            source = self.catalog.collections.get(view.source)
            if source is None:
                return []
            self.fill(source, "")
            docs = [d for d in self.store.documents(source.key, "") if view.link(d, parent_id)]
            return [self._shape(response_model, source, d) for d in docs]
        if key in DOCUMENT_OWNERS:
            docs = self.documents(DOCUMENT_OWNERS[key], parent_id)
            source = self.catalog.collections.get(DOCUMENTS)
            return [self._shape(response_model, source, d) for d in docs]
        if key == ALL_NOTES:
            return self._all_notes(parent_id)
        usage = self._usage_owner(key)
        if usage is not None:
            coll, listed = usage
            return self._usages(coll, parent_id, listed)
        return []

    # --- shaping ----------------------------------------------------------------------------

    def _href(self, coll: Collection | None, doc: Mapping[str, Any]) -> str | None:
        if coll is None or coll.depth:
            return None
        return f"{self.api_prefix}{coll.key}/{doc['id']}"

    def _shape(self, model: str | None, source: Collection | None, doc: Doc) -> Doc:
        if model and model.endswith("Reference") and model in self.schemas:
            return make_reference(self.schemas, model, doc, self._href(source, doc))
        return dict(doc)

    def _all_notes(self, ticket_id: int) -> list[Doc]:
        ticket_ref = {"id": ticket_id}
        rows: list[Doc] = []
        notes = self.catalog.collections.get(TICKET_NOTES)
        if notes is not None:
            self.fill(notes, str(ticket_id))
            for note in self.store.documents(notes.key, str(ticket_id)):
                rows.append(
                    _drop_none(
                        {
                            "id": note["id"],
                            "noteType": "TicketNote",
                            "ticket": ticket_ref,
                            "text": note.get("text"),
                            "detailDescriptionFlag": note.get("detailDescriptionFlag"),
                            "internalAnalysisFlag": note.get("internalAnalysisFlag"),
                            "resolutionFlag": note.get("resolutionFlag"),
                            "issueFlag": note.get("issueFlag"),
                            "member": note.get("member"),
                            "contact": note.get("contact"),
                            "_info": note.get("_info"),
                        }
                    )
                )
        entries = self.catalog.collections.get(TIME_ENTRIES)
        if entries is not None:
            linked = LINKED["/service/tickets/{}/timeentries"].link
            for entry in self.store.documents(entries.key, ""):
                if linked(entry, ticket_id) and entry.get("notes"):
                    rows.append(
                        _drop_none(
                            {
                                "id": entry["id"],
                                "noteType": "TimeEntryNote",
                                "ticket": ticket_ref,
                                "text": entry.get("notes"),
                                "detailDescriptionFlag": entry.get("addToDetailDescriptionFlag"),
                                "internalAnalysisFlag": entry.get("addToInternalAnalysisFlag"),
                                "resolutionFlag": entry.get("addToResolutionFlag"),
                                "timeStart": entry.get("timeStart"),
                                "timeEnd": entry.get("timeEnd"),
                                "member": entry.get("member"),
                                "_info": entry.get("_info"),
                            }
                        )
                    )
        return rows

    # --- usages -----------------------------------------------------------------------------

    def _usage_owner(self, key: str) -> tuple[Collection, bool] | None:
        for suffix, listed in (("/{}/usages", False), ("/{}/usages/list", True)):
            if key.endswith(suffix):
                coll = self.catalog.collections.get(key[: -len(suffix)])
                if coll is not None:
                    return coll, listed
        return None

    def _usages(self, coll: Collection, record_id: int, listed: bool) -> list[Doc]:
        rows: list[Doc] = []
        for referrer, name in self._referrers.get(coll.key, ()):
            if referrer.depth:
                continue  # nested records are counted through their parents
            users = [
                d
                for d in self.store.documents(referrer.key, "")
                if _refers_to(d.get(name), record_id)
            ]
            if not users:
                continue
            kind = label(referrer.item_schema)
            if listed:
                rows.extend(
                    {
                        "type": kind,
                        "typeKey": referrer.item_schema,
                        "id": d["id"],
                        "description": _describe(d),
                        "hyperlink": f"{self.api_prefix}{referrer.key}/{d['id']}",
                    }
                    for d in users
                )
            else:
                rows.append(
                    {
                        "type": kind,
                        "typeKey": referrer.item_schema,
                        "count": len(users),
                        "description": f"{kind} ({name})",
                        "hyperlink": f"{self.api_prefix}{referrer.key}",
                    }
                )
        for i, row in enumerate(rows, 1):
            row.setdefault("id", i)
        return rows


def _refers_to(value: Any, record_id: int) -> bool:
    items: Iterable[Any] = value if isinstance(value, list) else (value,)
    return any(isinstance(v, Mapping) and v.get("id") == record_id for v in items)


def _describe(doc: Mapping[str, Any]) -> str:
    for key in ("summary", "name", "identifier", "description"):
        if isinstance(doc.get(key), str):
            return doc[key]
    first, last = doc.get("firstName"), doc.get("lastName")
    return f"{first or ''} {last or ''}".strip() or f"#{doc.get('id')}"


def _drop_none(doc: Doc) -> Doc:
    return {k: v for k, v in doc.items() if v is not None}
