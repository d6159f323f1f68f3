"""Ranking over the generated registry: words, intent, rules on a small catalog, and quality.

Quality is measured on the shared eval file (40 queries) and on a held-out set written
independently of it (below), so rules tuned for one set must also work on the other.
"""

from __future__ import annotations

import json

import pytest

from cwm_gateway import search as search_mod
from cwm_gateway.search import (
    Hit,
    SearchIndex,
    natural_language_search,
    search,
    singular,
    split_words,
)
from cwm_generated.registry import OPERATIONS
from cwm_generated.types import Operation, Param
from tests.conftest import EVAL_QUERIES

# Queries an MSP technician or dispatcher might type, with every acceptable answer.
HELD_OUT: list[tuple[str, tuple[str, ...]]] = [
    ("create a new ticket", ("POST /service/tickets",)),
    ("log time against a ticket", ("POST /time/entries",)),
    ("list all clients", ("GET /company/companies",)),
    ("how many tickets are there", ("GET /service/tickets/count",)),
    ("list technicians", ("GET /system/members",)),
    ("register a webhook", ("POST /system/callbacks",)),
    ("show webhooks", ("GET /system/callbacks",)),
    ("get a purchase order by id", ("GET /procurement/purchaseorders/{id}",)),
    ("PO line items", ("GET /procurement/purchaseorders/{parentId}/lineitems",)),
    ("update a contract", ("PATCH /finance/agreements/{id}", "PUT /finance/agreements/{id}")),
    ("remove an asset", ("DELETE /company/configurations/{id}",)),
    ("add a note to a service ticket", ("POST /service/tickets/{parentId}/notes",)),
    ("list schedule entries", ("GET /schedule/entries",)),
    ("book an appointment for a technician", ("POST /schedule/entries",)),
    ("get a time sheet", ("GET /time/sheets/{id}",)),
    ("show service boards", ("GET /service/boards",)),
    ("close a ticket", ("PATCH /service/tickets/{id}", "PUT /service/tickets/{id}")),
    ("notes on an opportunity", ("GET /sales/opportunities/{parentId}/notes",)),
    ("count companies", ("GET /company/companies/count",)),
    ("list work roles", ("GET /time/workRoles",)),
    ("search knowledge base articles", ("GET /service/knowledgeBaseArticles",)),
    ("delete a project", ("DELETE /project/projects/{id}",)),
    ("tasks on a ticket", ("GET /service/tickets/{parentId}/tasks",)),
    ("statuses of a service board", ("GET /service/boards/{parentId}/statuses",)),
    ("create an expense entry", ("POST /expense/entries",)),
    ("list invoices", ("GET /finance/invoices",)),
    ("edit a customer", ("PATCH /company/companies/{id}", "PUT /company/companies/{id}")),
    ("ticket sources", ("GET /service/sources",)),
    ("list warehouses", ("GET /procurement/warehouses",)),
    ("show an employee's details", ("GET /system/members/{id}",)),
    ("phone numbers and emails of a contact", ("GET /company/contacts/{parentId}/communications",)),
    ("additions on an agreement", ("GET /finance/agreements/{parentId}/additions",)),
    ("log a sales activity", ("POST /sales/activities",)),
    ("audit trail", ("GET /system/audittrail",)),
    ("sites of a client", ("GET /company/companies/{parentId}/sites",)),
    ("get ticket 4711", ("GET /service/tickets/{id}",)),
    ("delete webhook", ("DELETE /system/callbacks/{id}",)),
    ("find contacts", ("GET /company/contacts",)),
    ("create a project ticket", ("POST /project/tickets",)),
    ("approve a timesheet", ("POST /time/sheets/{id}/approve",)),
    ("reject timesheet", ("POST /time/sheets/{id}/reject",)),
    ("merge tickets", ("POST /service/tickets/{parentId}/merge",)),
    ("members of a sales team", ("GET /sales/salesTeams/{parentId}/members",)),
    ("new opportunity", ("POST /sales/opportunities",)),
    ("convert opportunity to agreement", ("POST /sales/opportunities/{id}/convertToAgreement",)),
    ("list ticket notes", ("GET /service/tickets/{parentId}/notes",)),
    (
        "update a ticket note",
        (
            "PATCH /service/tickets/{parentId}/notes/{id}",
            "PUT /service/tickets/{parentId}/notes/{id}",
        ),
    ),
    ("how many contacts do we have", ("GET /company/contacts/count",)),
    ("get invoice pdf", ("GET /finance/invoices/{id}/pdf",)),
    ("list SLAs", ("GET /service/SLAs",)),
    ("list project phases", ("GET /project/projects/{parentId}/phases",)),
    ("delete a contact", ("DELETE /company/contacts/{id}",)),
    ("security roles", ("GET /system/securityroles",)),
    ("list companies' configurations", ("GET /company/configurations",)),
    ("list catalog products", ("GET /procurement/catalog",)),
    ("upload a document", ("POST /system/documents",)),
    ("list locations", ("GET /system/locations",)),
    ("list departments", ("GET /system/departments",)),
    ("ticket stopwatch", ("GET /time/ticketstopwatches",)),
    ("create a callback", ("POST /system/callbacks",)),
    ("list GL accounts", ("GET /finance/glAccounts",)),
]


def _rank(hits: list[Hit], expect: tuple[str, ...]) -> int | None:
    return next((i for i, h in enumerate(hits) if h.key in expect), None)


def _quality(cases: list[tuple[str, tuple[str, ...]]]) -> tuple[float, float, list[str]]:
    top1 = top5 = 0
    misses: list[str] = []
    for query, expect in cases:
        hits = search(query, 10)
        rank = _rank(hits, expect)
        top1 += rank == 0
        top5 += rank is not None and rank < 5
        if rank != 0:
            got = hits[0].key if hits else "nothing"
            misses.append(f"{query!r}: rank {rank}, top is {got}, want {expect[0]}")
    return top1 / len(cases), top5 / len(cases), misses


# ---------------------------------------------------------------------------------------------
# Words


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("TicketNote", ["ticket", "note"]),
        ("getServiceTicketsById", ["get", "service", "tickets", "by", "id"]),
        ("SLAs", ["slas"]),
        ("RMADispositions", ["rma", "dispositions"]),
        ("/service/tickets/{parentId}", ["service", "tickets", "parent", "id"]),
        ("Agreement.Adjustment", ["agreement", "adjustment"]),
    ],
)
def test_split_words(text: str, words: list[str]) -> None:
    assert split_words(text) == words


@pytest.mark.parametrize(
    ("plural", "single"),
    [
        ("tickets", "ticket"),
        ("entries", "entry"),
        ("companies", "company"),
        ("statuses", "status"),
        ("addresses", "address"),
        ("taxes", "tax"),
        ("batches", "batch"),
        ("status", "status"),
        ("slas", "sla"),
        ("ticket", "ticket"),
    ],
)
def test_singular(plural: str, single: str) -> None:
    assert singular(plural) == single


def test_run_together_words_are_split_against_the_catalog_vocabulary() -> None:
    index = search_mod.get_index()
    assert index.words("timeentries") == ("time", "entry")
    assert index.words("purchaseorderstatuses") == ("purchase", "order", "status")
    assert index.words("shipmentmethods") == ("shipment", "method")
    # A known word is left alone.
    assert index.words("tickets") == ("ticket",)


# ---------------------------------------------------------------------------------------------
# Query parsing


@pytest.mark.parametrize(
    ("query", "methods", "shape"),
    [
        ("create a ticket", {"POST"}, None),
        ("add a note", {"POST"}, None),
        ("update a company", {"PATCH", "PUT"}, "item"),
        ("close the ticket", {"PATCH", "PUT"}, "item"),
        ("assign a ticket to a technician", {"PATCH", "PUT"}, "item"),
        ("delete a contact", {"DELETE"}, None),
        ("list tickets", {"GET"}, "collection"),
        ("get ticket by id", {"GET"}, "item"),
        ("get a single contact", {"GET"}, "item"),
        ("how many tickets", set(), "count"),
        ("count companies", set(), "count"),
        ("ticket 4711", set(), "item"),
        ("tickets", set(), "collection"),
    ],
)
def test_intent(query: str, methods: set[str], shape: str | None) -> None:
    parsed = search_mod.get_index().parse(query)
    assert set(parsed.methods) == methods
    assert parsed.shape == shape


def test_ambiguous_verbs_are_nouns_unless_leading() -> None:
    index = search_mod.get_index()
    assert index.parse("log time on a ticket").methods == {"POST": 1.0}
    changelog = index.parse("ticket change history log")
    assert changelog.methods == {}
    assert "log" in changelog.labels and "change" in changelog.labels
    # "open" after "how many" is an adjective, not "open a ticket".
    assert index.parse("how many open tickets").methods == {}


@pytest.mark.parametrize(
    ("query", "concept"),
    [
        ("list clients", "company"),
        ("customer contacts", "company"),
        ("list technicians", "member"),
        ("employee skills", "member"),
        ("delete a webhook", "callback"),
        ("update a contract", "agreement"),
        ("list assets", "configuration"),
        ("submit a timesheet", "sheet"),
        ("PO line items", "purchase"),
    ],
)
def test_msp_vocabulary_maps_to_connectwise_words(query: str, concept: str) -> None:
    assert concept in search_mod.get_index().parse(query).labels


# ---------------------------------------------------------------------------------------------
# Ranking rules on a small hand-made catalog (independent of the registry)


def _op(method: str, path: str, tag: str, summary: str, model: str | None = None) -> Operation:
    params = tuple(
        Param(seg[1:-1], seg[1:-1], "path", "integer", "int32", True, None, False)
        for seg in path.split("/")
        if seg.startswith("{")
    )
    item = path.endswith("}")
    return Operation(
        operation_id=f"{method.lower()}{path.replace('/', '_')}",
        method=method,
        path=path,
        spec_path=path,
        category=path.split("/")[1],
        tag=tag,
        summary=summary,
        path_params=params,
        query_params=(),
        body_model=model if method in ("POST", "PUT") else None,
        body_kind="model" if method in ("POST", "PUT") else None,
        body_required=method in ("POST", "PUT"),
        response_model=model,
        response_is_list=method == "GET" and not item,
        success_status=200,
        risk="Read" if method == "GET" else "Write",
        function="f",
        is_list=method == "GET" and not item,
        response_kind=("list" if method == "GET" and not item else "model"),
    )


SMALL = SearchIndex(
    [
        _op("GET", "/service/tickets", "Tickets", "Get List of Ticket", "Ticket"),
        _op("POST", "/service/tickets", "Tickets", "Post Ticket", "Ticket"),
        _op("GET", "/service/tickets/{id}", "Tickets", "Get Ticket", "Ticket"),
        _op("PATCH", "/service/tickets/{id}", "Tickets", "Patch Ticket", "Ticket"),
        _op("DELETE", "/service/tickets/{id}", "Tickets", "Delete Ticket"),
        _op("GET", "/service/tickets/count", "Tickets", "Get Count of Ticket"),
        _op("GET", "/service/tickets/{parentId}/notes", "TicketNotes", "Get List of TicketNote"),
        _op("POST", "/service/tickets/{parentId}/notes", "TicketNotes", "Post TicketNote"),
        _op("GET", "/company/companies", "Companies", "Get List of Company", "Company"),
        _op("GET", "/company/companies/{id}", "Companies", "Get Company", "Company"),
        _op("GET", "/system/members", "Members", "Get List of Member", "Member"),
        _op("GET", "/time/entries", "TimeEntries", "Get List of TimeEntry", "TimeEntry"),
        _op("POST", "/time/entries", "TimeEntries", "Post TimeEntry", "TimeEntry"),
    ]
)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("tickets", "GET /service/tickets"),
        ("ticket notes", "GET /service/tickets/{parentId}/notes"),
        ("add a note to a ticket", "POST /service/tickets/{parentId}/notes"),
        ("create a ticket", "POST /service/tickets"),
        ("get a ticket by id", "GET /service/tickets/{id}"),
        ("change a ticket", "PATCH /service/tickets/{id}"),
        ("remove a ticket", "DELETE /service/tickets/{id}"),
        ("how many tickets", "GET /service/tickets/count"),
        ("list customers", "GET /company/companies"),
        ("client 42", "GET /company/companies/{id}"),
        ("list technicians", "GET /system/members"),
        ("log time", "POST /time/entries"),
        ("timeentries", "GET /time/entries"),
    ],
)
def test_rules_on_small_catalog(query: str, expected: str) -> None:
    hits = SMALL.search(query, 3)
    assert hits, f"no hit for {query!r}"
    assert hits[0].key == expected, [h.key for h in hits]


def test_main_resource_beats_its_children_unless_named() -> None:
    keys = [h.key for h in SMALL.search("ticket", 10)]
    assert keys.index("GET /service/tickets") < keys.index("GET /service/tickets/{parentId}/notes")
    assert keys.index("GET /service/tickets") < keys.index("GET /service/tickets/count")


def test_hits_explain_themselves() -> None:
    hit = SMALL.search("add a note to a client's ticket", 1)[0]
    assert "note" in hit.matched and "ticket" in hit.matched
    assert "POST" in hit.why
    assert isinstance(hit.score, float)
    data = hit.to_dict()
    assert data["method"] == "POST" and data["path"] == "/service/tickets/{parentId}/notes"
    assert data["matched"] == list(hit.matched) and data["summary"] == "Post TicketNote"


def test_visible_predicate_hides_operations() -> None:
    hidden = {"POST /service/tickets"}
    hits = SMALL.search(
        "create a ticket", 5, visible=lambda op: f"{op.method} {op.path}" not in hidden
    )
    assert hits and all(h.key not in hidden for h in hits)
    assert len(SMALL.search("ticket", 5, visible=lambda op: False)) == 0


def test_max_results_and_empty_queries() -> None:
    assert len(SMALL.search("ticket", 2)) == 2
    assert SMALL.search("ticket", 0) == []
    assert SMALL.search("", 5) == []
    assert SMALL.search("   ", 5) == []
    assert SMALL.search("the of a", 5) == []
    assert SMALL.search("xyzzy plugh", 5) == []


def test_bad_arguments_are_reported() -> None:
    with pytest.raises(TypeError, match="query must be text"):
        SMALL.search(None, 5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_results"):
        SMALL.search("ticket", -1)
    # Absurdly long input is cut, not choked on.
    assert SMALL.search("ticket " * 5000, 1)[0].key == "GET /service/tickets"


def test_ranking_is_deterministic() -> None:
    first = [h.key for h in search("list notes", 10)]
    assert first == [h.key for h in search("list notes", 10)]
    assert len(first) == 10


# ---------------------------------------------------------------------------------------------
# The registry


def test_index_covers_every_operation() -> None:
    index = search_mod.get_index()
    assert index.operations == OPERATIONS
    assert search_mod.get_index() is index  # built once
    assert len(index.operations) == 3053


def test_exact_paths_and_operation_ids_find_themselves() -> None:
    assert search("/service/tickets/{id}", 1)[0].key == "GET /service/tickets/{id}"
    assert search("PATCH /company/contacts/{id}", 1)[0].key == "PATCH /company/contacts/{id}"
    assert search("getServiceTicketsById", 1)[0].operation.operation_id == "getServiceTicketsById"


def test_natural_language_search_weighs_intent() -> None:
    hits = natural_language_search("I want to delete the time entry", 3)
    assert hits[0].key == "DELETE /time/entries/{id}"
    plain = search("I want to delete the time entry", 3)
    assert plain[0].key == hits[0].key


def test_registry_visible_filter() -> None:
    hits = search("delete a company", 5, visible=lambda op: op.method != "DELETE")
    assert hits and all(h.operation.method != "DELETE" for h in hits)


@pytest.mark.skipif(not EVAL_QUERIES.exists(), reason=f"eval file not found at {EVAL_QUERIES}")
def test_quality_on_shared_eval_file() -> None:
    cases = [
        (e["q"], tuple(e["expect"]))
        for e in map(json.loads, EVAL_QUERIES.read_text().splitlines())
        if e
    ]
    assert len(cases) >= 40
    top1, top5, misses = _quality(cases)
    assert top5 >= 0.90, misses
    assert top1 >= 0.70, misses


def test_quality_on_held_out_queries() -> None:
    # Every expected answer must exist, or the set tests nothing.
    keys = {f"{op.method} {op.path}" for op in OPERATIONS}
    for query, expect in HELD_OUT:
        assert any(e in keys for e in expect), query
    top1, top5, misses = _quality(HELD_OUT)
    assert top5 >= 0.90, misses
    assert top1 >= 0.80, misses
