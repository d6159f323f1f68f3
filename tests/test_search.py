"""Ranking over the generated registry: words, intent, rules on a small catalog, and quality.

Quality is measured on four sets, so rules tuned for one must also work on the others:
- the shared eval file (40 queries);
- ``REGRESSION`` below (61 queries written with the first version of the ranking);
- ``tests/data/search_heldout.jsonl`` (129 queries in the voice of MSP dispatchers, technicians,
  account managers and finance staff, written before the spec-driven ranking was tuned). Both
  halves have been tuned on by now (``dev`` first, ``test`` with the field-edit rules);
- ``tests/data/search_unseen.jsonl`` (127 queries written before the field-edit rules): never
  tuned on until the generalization session (#9), tuned on from then (phrasal verbs, lookup
  tables, the no-results fallback were measured on it). It is no longer a measure of unseen
  queries: the blind set (written by another session, never read here) is;
- ``tests/data/search_dev2.jsonl`` (54 queries written after the unseen set, mostly "change a
  record's field" and child-record forms, on other intents than the unseen set's): tuned on;
- ``tests/data/search_dev3.jsonl`` (62 queries in MSP staff voice, written before the #9
  generalization changes and measured first: 14/62 first, 24/62 in the top 5): tuned on;
- ``tests/data/search_dev4.jsonl`` (52 queries in MSP staff voice, written before the purchase,
  payment, print and weekday words, participles and plural verbs, and measured first: 25/52
  first, 35/52 in the top 5): tuned on.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cwm_gateway import search as search_mod
from cwm_gateway.results import Endpoint, SearchResult
from cwm_gateway.search import (
    Hit,
    SearchIndex,
    Vocabulary,
    load_vocabulary,
    natural_language_search,
    rank,
    search,
    singular,
    split_words,
)
from cwm_generated.registry import OPERATIONS
from cwm_generated.schemas import SCHEMAS
from cwm_generated.types import Field, Operation, Param, Schema
from tests.conftest import EVAL_QUERIES, ROOT

HELD_OUT_FILE = ROOT / "tests" / "data" / "search_heldout.jsonl"
UNSEEN_FILE = ROOT / "tests" / "data" / "search_unseen.jsonl"
DEV2_FILE = ROOT / "tests" / "data" / "search_dev2.jsonl"
DEV3_FILE = ROOT / "tests" / "data" / "search_dev3.jsonl"
DEV4_FILE = ROOT / "tests" / "data" / "search_dev4.jsonl"
# Floors (natural-language search): the numbers measured when tuning ended, less about one query.
# Held-out test half: 57/63 in the top 5, 55/63 first (before the field-edit rules 51 and 39;
# before the spec-driven ranking 46 and 36). Dev half: 62/66 and 56/66 (before: 62, 53).
TEST_TOP5, TEST_TOP1 = 0.90, 0.85
DEV_TOP5, DEV_TOP1 = 0.92, 0.82
# Second dev set: 52/54 and 47/54 (when written: 52 and 43).
DEV2_TOP5, DEV2_TOP1 = 0.94, 0.85
# Unseen set: 109/127 in the top 5, 91/127 first (before phrasal verbs, lookup tables, main
# records and the fallback: 94 and 74; before the field-edit rules: 85 and 65).
UNSEEN_TOP5, UNSEEN_TOP1 = 0.84, 0.70
# Third dev set: 41/62 and 30/62 (when written: 24 and 14).
DEV3_TOP5, DEV3_TOP1 = 0.64, 0.46
# Fourth dev set: 46/52 and 33/52 (when written: 35 and 25).
DEV4_TOP5, DEV4_TOP1 = 0.86, 0.61

# Queries an MSP technician or dispatcher might type, with every acceptable answer.
REGRESSION: list[tuple[str, tuple[str, ...]]] = [
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


def _quality(
    cases: list[tuple[str, tuple[str, ...]]], natural: bool = False
) -> tuple[float, float, list[str]]:
    top1 = top5 = 0
    misses: list[str] = []
    for query, expect in cases:
        hits = rank(query, 10, natural=natural)
        pos = _rank(hits, expect)
        top1 += pos == 0
        top5 += pos is not None and pos < 5
        if pos != 0:
            got = hits[0].key if hits else "nothing"
            misses.append(f"{query!r}: rank {pos}, top is {got}, want {expect[0]}")
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
    endpoint = hit.endpoint()
    assert isinstance(endpoint, Endpoint)
    assert endpoint.method == "POST" and endpoint.path == "/service/tickets/{parentId}/notes"
    assert endpoint.summary == "Post TicketNote" and endpoint.why == hit.why
    assert endpoint.score == hit.score and endpoint.risk == "Write"


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
    first = [h.key for h in rank("list notes", 10)]
    assert first == [h.key for h in rank("list notes", 10)]
    assert len(first) == 10


# ---------------------------------------------------------------------------------------------
# What the spec says about records: schema field names


def _schema(name: str, *fields: str) -> Schema:
    f = Field("string", None, None, False, True, None, None, False)
    return Schema(name, name, "x", {n: f for n in fields})


FIELDS = SearchIndex(
    [
        _op("GET", "/company/configurations", "Configurations", "Get List of Config", "Config"),
        _op("GET", "/company/companies", "Companies", "Get List of Company", "Company"),
        _op("GET", "/procurement/products", "Products", "Get List of ProductItem", "ProductItem"),
        _op("GET", "/service/tickets", "Tickets", "Get List of Ticket", "Ticket"),
        _op("GET", "/project/projects", "Projects", "Get List of Project", "Project"),
    ],
    schemas={
        "Config": _schema("Config", "id", "name", "serialNumber", "warrantyExpirationDate"),
        "Company": _schema("Company", "id", "name", "phoneNumber", "userDefinedField1"),
        "ProductItem": _schema("ProductItem", "id", "catalogItem", "ticket", "project", "price"),
        "Ticket": _schema("Ticket", "id", "summary", "company", "_info"),
        "Project": _schema("Project", "id", "name", "company"),
    },
)


def test_field_names_say_what_a_record_holds() -> None:
    assert FIELDS.search("warranty expiration", 1)[0].key == "GET /company/configurations"
    assert FIELDS.search("phone number", 1)[0].key == "GET /company/companies"
    hit = FIELDS.search("products on tickets and projects", 1)[0]
    assert hit.key == "GET /procurement/products"
    assert "fields ticket, project" in hit.why
    # A name match still beats a field match: "tickets" are tickets, not products on tickets.
    assert FIELDS.search("tickets", 1)[0].key == "GET /service/tickets"


def test_noise_in_field_names_is_not_indexed() -> None:
    # userDefinedField1 and _info say nothing about a company.
    assert FIELDS.search("user defined", 5) == []
    assert FIELDS.search("info", 5) == []


def test_an_index_without_schemas_has_no_field_words() -> None:
    assert SMALL.search("serial number", 5) == []


def _record(name: str, *fields: str, **refs: str) -> Schema:
    plain = Field("string", None, None, False, True, None, None, False)
    table = {n: plain for n in fields}
    table.update(
        {n: Field("object", None, ref, False, True, None, None, False) for n, ref in refs.items()}
    )
    return Schema(name, name, "x", table)


EDITS = SearchIndex(
    [
        _op("GET", "/service/tickets", "Tickets", "Get List of Ticket", "Ticket"),
        _op("PATCH", "/service/tickets/{id}", "Tickets", "Patch Ticket", "Ticket"),
        _op("GET", "/service/priorities", "Priorities", "Get List of Priority", "Priority"),
        _op("PATCH", "/service/priorities/{id}", "Priorities", "Patch Priority", "Priority"),
        _op("PATCH", "/service/boards/{id}", "Boards", "Patch Board", "Board"),
        _op("GET", "/system/members", "Members", "Get List of Member", "Member"),
        _op("PATCH", "/system/members/{id}", "Members", "Patch Member", "Member"),
        _op("PATCH", "/company/configurations/{id}", "Configurations", "Patch Config", "Config"),
        _op(
            "PATCH",
            "/company/configurations/statuses/{id}",
            "ConfigurationStatuses",
            "Patch ConfigurationStatus",
            "ConfigurationStatus",
        ),
        _op("GET", "/sales/opportunities", "Opportunities", "Get List of Opportunity", "Opp"),
        # Statuses are many, as in the registry (which is what makes "status" a common word).
        _op("GET", "/service/boards/{parentId}/statuses", "Statuses", "Get List of Status"),
        _op("GET", "/project/statuses", "ProjectStatuses", "Get List of ProjectStatus"),
        _op("GET", "/sales/opportunities/statuses", "OppStatuses", "Get List of OppStatus"),
    ],
    schemas={
        "Ticket": _record(
            "Ticket",
            "id",
            "summary",
            priority="PriorityReference",
            board="BoardReference",
            owner="MemberReference",
        ),
        "Priority": _record("Priority", "id", "name", "color"),
        # The other way round too: a board names tickets, a member names a ticket filter.
        "Board": _record("Board", "id", "name", "autoAssignTicketOwnerFlag"),
        "Member": _record("Member", "id", "name", "defaultTicketFilter"),
        "Config": _record("Config", "id", "name", status="ConfigurationStatusReference"),
        "ConfigurationStatus": _record("ConfigurationStatus", "id", "description"),
        "Opp": _record(
            "Opp",
            "id",
            "name",
            primarySalesRep="MemberReference",
            secondarySalesRep="MemberReference",
        ),
    },
)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # The query's first noun is the record; a later one is its field.
        ("change a ticket's priority to emergency", "PATCH /service/tickets/{id}"),
        ("move a ticket to another board", "PATCH /service/tickets/{id}"),
        # owner refers to a member: a technician is something a ticket holds.
        ("reassign a ticket to a technician", "PATCH /service/tickets/{id}"),
        # "the X of/on/for a Y": Y owns the field X.
        ("change the status of a configuration", "PATCH /company/configurations/{id}"),
        ("change the priority on a ticket", "PATCH /service/tickets/{id}"),
        # Without a record named first, names decide as before.
        ("rename a priority", "PATCH /service/priorities/{id}"),
        # A path is no record-and-field phrase.
        ("PATCH /service/priorities/{id}", "PATCH /service/priorities/{id}"),
    ],
)
def test_a_field_of_the_named_record_edits_that_record(query: str, expected: str) -> None:
    hits = EDITS.search(query, 3, intent_weight=1.25)
    assert hits and hits[0].key == expected, [h.key for h in hits]


def test_role_words_come_from_what_fields_refer_to() -> None:
    # primarySalesRep and secondarySalesRep refer to members: a rep is a member.
    assert EDITS._roles.get("rep") == ("member",)
    assert "member" in EDITS.parse("list sales reps").concepts[-1]
    # Words the catalog names itself are never roles.
    assert "ticket" not in EDITS._roles and "priority" not in EDITS._roles


def test_not_followed_by_a_word_is_the_catalogs_un_word() -> None:
    parsed = search_mod.get_index().parse("expenses not yet posted to the GL")
    assert "unposted" in parsed.labels and "post" not in parsed.labels
    assert rank("expenses not yet posted to the GL", 1)[0].key == (
        "GET /finance/accounting/unpostedexpenses"
    )
    # Without an un- word, "not" is just a stopword.
    labels = search_mod.get_index().parse("tickets not closed").labels
    assert labels[0] == "ticket" and not any(w.startswith("un") for w in labels)


def test_turn_into_asks_for_the_convert_action() -> None:
    parsed = search_mod.get_index().parse("turn an opportunity into a project")
    assert parsed.methods == {"POST": 1.0} and "convert" in parsed.labels
    assert rank("turn an opportunity into a project", 1, natural=True)[0].key == (
        "POST /sales/opportunities/{id}/convertToProject"
    )


def test_an_unknown_first_word_before_a_verb_is_a_verb() -> None:
    index = search_mod.get_index()
    parsed = index.parse("onboard a new client company")
    assert parsed.methods == {"POST": 1.0} and parsed.labels == ("company",)
    assert rank("onboard a new client company", 1, natural=True)[0].key == "POST /company/companies"
    # Not before a verb, an unknown word changes nothing.
    assert index.parse("Contoso tickets").labels == ("ticket",)


def test_examples_after_like_add_but_are_not_asked_for() -> None:
    parsed = search_mod.get_index().parse("ticket sources like email or phone")
    assert parsed.labels == ("ticket", "source")
    assert parsed.extras
    assert rank("ticket sources like email or phone", 1)[0].key == "GET /service/sources"


def test_a_stopword_that_starts_a_catalog_name_is_kept() -> None:
    index = search_mod.get_index()
    assert index.parse("api members").labels == ("api", "member")
    assert rank("api members", 1)[0].key == "GET /system/apiMembers"
    # Elsewhere "api" says nothing.
    assert index.parse("get tickets via the api").labels == ("ticket",)


def test_a_question_reads() -> None:
    index = search_mod.get_index()
    # A question's later verbs are no command; without a verb, reading wins.
    assert index.parse("what did the customer write on the ticket").methods == {}
    assert index.parse("write a note on the ticket").methods == {"POST": 1.0}
    # Without a verb, the reads of a resource come before its writes.
    assert [h.operation.method for h in rank("company holidays", 3, natural=True)] == ["GET"] * 3
    keys = [h.key for h in rank("PTO accruals for staff", 3, natural=True)]
    assert "GET /time/accruals" in keys


def test_a_verb_that_is_also_a_name_adds_to_it() -> None:
    assert rank("link two related tickets together", 1, natural=True)[0].key == (
        "POST /service/ticketLinks"
    )


# ---------------------------------------------------------------------------------------------
# Word forms and phrasing


def test_verb_forms_fold_onto_catalog_words() -> None:
    index = search_mod.get_index()
    assert "change" in index.parse("who changed this ticket").labels
    assert "log" not in index.parse("fix a time entry I logged yesterday").labels
    # A run-together word splits into the catalog's words, without its stopwords.
    assert "hand" in index.parse("inventory onhand").labels
    assert "on" not in index.parse("inventory onhand").labels


def test_serial_number_of_is_not_a_count() -> None:
    index = search_mod.get_index()
    assert index.parse("the serial number of a firewall").shape != "count"
    assert index.parse("the number of open tickets").shape == "count"


def test_phrases_look_past_numbers() -> None:
    parsed = search_mod.get_index().parse("log 2 hours on ticket 5521")
    assert parsed.methods == {"POST": 1.0}
    assert {"time", "entry", "ticket"} <= set(parsed.labels)


def test_a_number_after_the_parent_of_a_plural_names_the_parent() -> None:
    index = search_mod.get_index()
    assert index.parse("get ticket 4711").shape == "item"
    assert index.parse("all the notes on ticket 4711").shape == "collection"
    # Labels such as P1 are not ids.
    assert index.parse("priorities like P1").shape == "collection"
    # A qualifier's number names the record the head noun belongs to.
    assert index.parse("time logged against ticket 5530").shape != "item"
    assert rank("time logged against ticket 5530", 1, natural=True)[0].key == (
        "GET /service/tickets/{parentId}/timeentries"
    )


def test_a_word_the_query_says_is_its_own_concept() -> None:
    parsed = search_mod.get_index().parse("who is the primary contact for a company")
    assert "contact" in parsed.labels
    assert rank("who is the primary contact for a company", 1)[0].key == "GET /company/contacts"
    # The user's own word stays an alternative of its synonym: GL accounts are not companies.
    assert rank("list GL accounts", 1)[0].key == "GET /finance/glAccounts"


def test_a_word_no_operation_is_named_by_may_start_one() -> None:
    parsed = search_mod.get_index().parse("carriers we can ship with")
    assert any("shipment" in alts for alts in parsed.concepts)


def test_the_specs_actions_are_verbs_where_a_verb_stands() -> None:
    index = search_mod.get_index()
    # POST-only paths under an item name actions; the word stays a concept.
    parsed = index.parse("approve a timesheet")
    assert parsed.methods == {"POST": 1.0} and "approve" in parsed.labels
    assert rank("apply a template to a project", 1)[0].key.startswith(
        "POST /project/projects/{parentId}/applyTemplate"
    )
    assert rank("apply a payment to an invoice", 1)[0].key == (
        "POST /finance/invoices/{parentId}/payments"
    )
    # Not first, an action word is the noun of its path, and no method is implied.
    assert index.parse("expense reports I still have to submit").methods == {}
    # A word that names something readable is no action (POST .../{id}/invoice, GET invoices).
    actions = {w for w, (_, _, implied) in index._verbs.items() if implied == (w,)}
    assert {"approve", "submit", "merge", "copy", "apply"} <= actions
    assert "invoice" not in actions


def test_phrasal_verbs_read_as_the_verb_they_mean() -> None:
    index = search_mod.get_index()
    assert "submit" in index.parse("hand in this week's time sheet").labels
    assert "approve" in index.parse("sign off on an expense report").labels
    # The particle may follow the verb's object...
    assert index.parse("take Jordan off the project team").methods == {"DELETE": 1.0}
    assert "submit" in index.parse("send my expense report in for approval").labels
    # ...but not past a relation word: this "in" is no particle.
    assert "submit" not in index.parse("send the invoice to the client in May").labels
    assert index.parse("jot down a note about a client's renewal").methods == {"POST": 1.0}
    assert rank("call off Friday's site visit", 1, natural=True)[0].key.startswith(
        "DELETE /schedule/entries/{id}"
    )


def test_contractions_are_expanded() -> None:
    index = search_mod.get_index()
    # "aren't posted" is "are not posted": the catalog's "unposted".
    assert "unposted" in index.parse("expenses that aren't posted yet").labels
    assert "unposted" in index.parse("expenses that arent posted yet").labels
    # "won't" is no "won" (a field of opportunities); "we're" adds nothing.
    assert "won" not in index.parse("the tech won't be in tomorrow").labels
    assert index.parse("we're onboarding a new client").methods == {"POST": 1.0}


def test_a_query_with_meaningful_words_never_gives_nothing() -> None:
    # "call" is a stopword ("which endpoint do I call"), but a noun when nothing else is said.
    hits = rank("log a call with a prospect", 3, natural=True)
    assert hits and hits[0].key == "POST /sales/activities"
    assert rank("the", 3) == []


def test_lookup_tables_answer_when_their_word_is_said() -> None:
    # ExpenseType is what ExpenseEntry.type refers to, and small: a lookup table of entries.
    index = search_mod.get_index()
    words = {index.operations[i].path: w for w, ops in index._lookups.items() for i in ops}
    assert words["/expense/types"] == {"type"}
    assert "/expense/entries" not in words
    # Company is referred to by contacts but is no smaller; holiday lists hold holidays.
    assert "/company/companies" not in words and "/schedule/holidayLists" not in words
    assert rank("list expenses", 1, natural=True)[0].key == "GET /expense/entries"
    assert rank("expense types", 1, natural=True)[0].key == "GET /expense/types"
    assert rank("what kinds of expenses are there", 1, natural=True)[0].key == "GET /expense/types"
    # To change "a company's status" is to edit the company; in the plural, the status table.
    assert rank("change a company's status to inactive", 1, natural=True)[0].key == (
        "PATCH /company/companies/{id}"
    )
    assert rank("rename the company statuses", 1, natural=True)[0].key == (
        "PATCH /company/companies/statuses/{id}"
    )
    assert (
        rank("add a company status", 1, natural=True)[0].key == "POST /company/companies/statuses"
    )


def test_a_modules_main_record_answers_for_the_module() -> None:
    # Of a module's top-level tables, the one referring to the most lookup tables.
    _, mains = SearchIndex._lookup_paths(OPERATIONS, SCHEMAS)
    assert {"/schedule/entries", "/expense/entries", "/service/tickets", "/time/entries"} <= mains
    assert "/schedule/types" not in mains and "/company/contacts" not in mains
    assert rank("what is on the schedule for tomorrow", 1, natural=True)[0].key == (
        "GET /schedule/entries"
    )


def test_everyday_words_for_purchases_payments_and_printing() -> None:
    # To order or buy something is to raise a purchase order; "orders" after a noun are orders.
    assert rank("order parts for the new server build", 1, natural=True)[0].key == (
        "POST /procurement/purchaseorders"
    )
    assert rank("buy two replacement monitors", 1, natural=True)[0].key == (
        "POST /procurement/purchaseorders"
    )
    assert rank("sales orders that still need to ship", 1, natural=True)[0].key == (
        "GET /sales/orders"
    )
    assert rank("print the invoice", 1, natural=True)[0].key == "GET /finance/invoices/{id}/pdf"
    assert {"payment": 0.8} in search_mod.get_index().parse("the client paid the invoice").concepts
    # A category of something is a kind of it: "expense categories" are expense types.
    assert rank("what categories of expenses can I claim", 1, natural=True)[0].key == (
        "GET /expense/types"
    )
    # Weekdays and months say when, not what (Calendar has mondayStartTime...).
    assert "friday" not in search_mod.get_index().parse("move Friday's onsite").labels


def test_participles_plural_verbs_and_hours() -> None:
    index = search_mod.get_index()
    # The -ed form of a verb that implies its object names the object: booked -> schedule entry.
    assert {"schedule", "entry"} <= set(index.parse("what does Raj have booked").labels)
    assert rank("which techs are booked on the email migration ticket", 1, natural=True)[0].key == (
        "GET /service/tickets/{parentId}/scheduleentries"
    )
    # A verb said in the plural after the first word is a noun: "Outlook fixes" edit nothing.
    assert index.parse("search the knowledge base for Outlook fixes").methods == {}
    assert index.parse("fix the hours on a time entry").methods["PATCH"] == 1.0
    # "how many hours" is an amount of time, not a count of records.
    assert index.parse("how many hours were billed on ticket 9921").shape != "count"
    assert index.parse("how many tickets are open").shape == "count"


def test_a_verb_followed_by_its_own_object_is_a_noun() -> None:
    index = search_mod.get_index()
    assert index.parse("schedule a technician").methods == {"POST": 1.0}
    assert index.parse("schedule entries on a ticket").methods == {}


# ---------------------------------------------------------------------------------------------
# The vocabulary is data


def test_vocabulary_is_package_data_loaded_once() -> None:
    vocab = load_vocabulary()
    assert load_vocabulary() is vocab
    assert vocab.synonyms["technician"] == ("member",)
    assert vocab.verbs["create"][0] == {"POST": 1.0}
    assert vocab.verbs["schedule"][2] == ("schedule", "entry")
    assert ("work", "order") in vocab.phrases
    assert search_mod.get_index().vocabulary is vocab


def test_vocabulary_words_are_normalised() -> None:
    # Queries are lower-cased and singular before lookup: a table entry in any other form
    # would never match.
    vocab = load_vocabulary()
    for word in [*vocab.synonyms, *vocab.verbs, *vocab.alternatives]:
        assert word == word.lower() and singular(word) == word, word
    for first, second in vocab.phrases:
        assert singular(first) == first and singular(second) == second, (first, second)


def test_another_vocabulary_changes_the_ranking() -> None:
    data = json.loads((ROOT / "gateway" / "search_vocabulary.json").read_text(encoding="utf-8"))
    data["synonyms"]["punter"] = ["company"]
    custom = SearchIndex(SMALL.operations, vocabulary=Vocabulary.from_dict(data))
    assert custom.search("list punters", 1)[0].key == "GET /company/companies"
    assert SMALL.search("list punters", 1) == []


# ---------------------------------------------------------------------------------------------
# The registry


def test_index_covers_every_operation() -> None:
    index = search_mod.get_index()
    assert index.operations == OPERATIONS
    assert search_mod.get_index() is index  # built once
    assert len(index.operations) == len(OPERATIONS) > 3000


def test_search_returns_the_tool_result_model() -> None:
    result = search("create a ticket", 3)
    assert isinstance(result, SearchResult)
    assert len(result.results) == 3
    first = result.results[0]
    assert (first.method, first.path) == ("POST", "/service/tickets")
    assert first.why and first.score is not None
    assert search("the of a", 3).results == []


def test_exact_paths_and_operation_ids_find_themselves() -> None:
    assert rank("/service/tickets/{id}", 1)[0].key == "GET /service/tickets/{id}"
    assert rank("PATCH /company/contacts/{id}", 1)[0].key == "PATCH /company/contacts/{id}"
    assert rank("getServiceTicketsById", 1)[0].operation.operation_id == "getServiceTicketsById"


def test_natural_language_search_weighs_intent() -> None:
    hits = rank("I want to delete the time entry", 3, natural=True)
    assert hits[0].key == "DELETE /time/entries/{id}"
    assert rank("I want to delete the time entry", 3)[0].key == hits[0].key
    result = natural_language_search("I want to delete the time entry", 3)
    assert [(e.method, e.path) for e in result.results] == [
        (h.operation.method, h.operation.path) for h in hits
    ]


def test_registry_visible_filter() -> None:
    hits = rank("delete a company", 5, visible=lambda op: op.method != "DELETE")
    assert hits and all(h.operation.method != "DELETE" for h in hits)


def test_every_schema_named_by_an_operation_exists() -> None:
    # Field words come from SCHEMAS by the operation's model name; a renamed table would
    # silently drop them.
    names = {m for op in OPERATIONS for m in (op.body_model, op.response_model) if m}
    assert names <= set(SCHEMAS)


# ---------------------------------------------------------------------------------------------
# Quality floors (numbers measured when the floors were set; see the module docstring)


def _held_out(split: str) -> list[tuple[str, tuple[str, ...]]]:
    rows = [json.loads(line) for line in HELD_OUT_FILE.read_text().splitlines() if line.strip()]
    return [(r["q"], tuple(r["expect"])) for r in rows if r["split"] == split]


@pytest.mark.skipif(not EVAL_QUERIES.exists(), reason=f"eval file not found at {EVAL_QUERIES}")
@pytest.mark.parametrize("natural", [False, True], ids=["search", "natural"])
def test_quality_on_shared_eval_file(natural: bool) -> None:
    cases = [
        (e["q"], tuple(e["expect"]))
        for e in map(json.loads, EVAL_QUERIES.read_text().splitlines())
        if e
    ]
    assert len(cases) >= 40
    top1, top5, misses = _quality(cases, natural)
    assert top5 >= 0.975, misses
    assert top1 >= 0.95, misses


def test_held_out_set_is_sound() -> None:
    keys = {f"{op.method} {op.path}" for op in OPERATIONS}
    rows = [json.loads(line) for line in HELD_OUT_FILE.read_text().splitlines() if line.strip()]
    assert len(rows) >= 80
    assert {r["split"] for r in rows} == {"dev", "test"}
    assert len({r["q"] for r in rows}) == len(rows), "duplicate queries"
    for r in rows:
        # Every expected answer must exist, or the set tests nothing.
        assert r["expect"] and all(e in keys for e in r["expect"]), r["q"]
    if EVAL_QUERIES.exists():
        shared = {json.loads(line)["q"].lower() for line in EVAL_QUERIES.read_text().splitlines()}
        assert not shared & {r["q"].lower() for r in rows}, "held-out queries must be unseen"


def _unseen() -> list[dict]:
    return [json.loads(line) for line in UNSEEN_FILE.read_text().splitlines() if line.strip()]


def test_unseen_set_is_sound() -> None:
    keys = {f"{op.method} {op.path}" for op in OPERATIONS}
    rows = _unseen()
    assert len(rows) >= 80
    assert {r["split"] for r in rows} == {"unseen"}
    assert len({r["q"].lower() for r in rows}) == len(rows), "duplicate queries"
    for r in rows:
        assert r["expect"] and all(e in keys for e in r["expect"]), r["q"]
    held_out = {json.loads(line)["q"].lower() for line in HELD_OUT_FILE.read_text().splitlines()}
    assert not held_out & {r["q"].lower() for r in rows}, "unseen queries must be new"
    if EVAL_QUERIES.exists():
        shared = {json.loads(line)["q"].lower() for line in EVAL_QUERIES.read_text().splitlines()}
        assert not shared & {r["q"].lower() for r in rows}, "unseen queries must be new"


def test_quality_on_unseen_set() -> None:
    cases = [(r["q"], tuple(r["expect"])) for r in _unseen()]
    top1, top5, misses = _quality(cases, natural=True)
    assert top5 >= UNSEEN_TOP5, misses
    assert top1 >= UNSEEN_TOP1, misses


def _dev_set_is_sound_and_meets_its_floor(
    path: Path, split: str, earlier: tuple[Path, ...], top5_floor: float, top1_floor: float
) -> None:
    """A dev set: at least 50 distinct queries whose answers exist, none from the sets written
    before it, and its quality at or above its floors."""
    keys = {f"{op.method} {op.path}" for op in OPERATIONS}
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    assert len(rows) >= 50 and {r["split"] for r in rows} == {split}
    assert len({r["q"].lower() for r in rows}) == len(rows), "duplicate queries"
    for r in rows:
        assert r["expect"] and all(e in keys for e in r["expect"]), r["q"]
    others = {
        json.loads(line)["q"].lower()
        for other in earlier
        for line in other.read_text().splitlines()
        if line.strip()
    }
    assert not others & {r["q"].lower() for r in rows}, f"{split} queries must be new"
    top1, top5, misses = _quality([(r["q"], tuple(r["expect"])) for r in rows], natural=True)
    assert top5 >= top5_floor, misses
    assert top1 >= top1_floor, misses


def test_second_dev_set_is_sound_and_meets_its_floor() -> None:
    _dev_set_is_sound_and_meets_its_floor(DEV2_FILE, "dev2", (UNSEEN_FILE,), DEV2_TOP5, DEV2_TOP1)


def test_third_dev_set_is_sound_and_meets_its_floor() -> None:
    earlier = (UNSEEN_FILE, HELD_OUT_FILE, DEV2_FILE)
    _dev_set_is_sound_and_meets_its_floor(DEV3_FILE, "dev3", earlier, DEV3_TOP5, DEV3_TOP1)


def test_fourth_dev_set_is_sound_and_meets_its_floor() -> None:
    earlier = (UNSEEN_FILE, HELD_OUT_FILE, DEV2_FILE, DEV3_FILE)
    _dev_set_is_sound_and_meets_its_floor(DEV4_FILE, "dev4", earlier, DEV4_TOP5, DEV4_TOP1)


def test_quality_on_held_out_test_half() -> None:
    top1, top5, misses = _quality(_held_out("test"), natural=True)
    assert top5 >= TEST_TOP5, misses
    assert top1 >= TEST_TOP1, misses


def test_quality_on_held_out_dev_half() -> None:
    top1, top5, misses = _quality(_held_out("dev"), natural=True)
    assert top5 >= DEV_TOP5, misses
    assert top1 >= DEV_TOP1, misses


def test_quality_on_regression_queries() -> None:
    keys = {f"{op.method} {op.path}" for op in OPERATIONS}
    for query, expect in REGRESSION:
        assert any(e in keys for e in expect), query
    top1, top5, misses = _quality(REGRESSION)
    assert top5 >= 0.98, misses
    assert top1 >= 0.95, misses


# Blind set: written by a separate session that never read the ranking code or ran the search on
# these queries before they landed, so nobody tunes on it. Its floor is added by the lead later.
BLIND_FILE = ROOT / "tests" / "data" / "search_blind.jsonl"


def test_blind_set_is_sound() -> None:
    keys = {f"{op.method} {op.path}" for op in OPERATIONS}
    rows = [json.loads(line) for line in BLIND_FILE.read_text().splitlines() if line.strip()]
    assert len(rows) >= 140
    assert {r["split"] for r in rows} == {"blind"}
    blind = {r["q"].lower() for r in rows}
    assert len(blind) == len(rows), "duplicate queries"
    for r in rows:
        # Every expected answer must exist, or the query tests nothing.
        assert r["expect"] and all(e in keys for e in r["expect"]), f"row {rows.index(r) + 1}"
    # Every other query set, the ones written after this one included (dev3, ...).
    others = sorted(p for p in BLIND_FILE.parent.glob("search_*.jsonl") if p != BLIND_FILE)
    others += [EVAL_QUERIES] if EVAL_QUERIES.exists() else []
    for path in others:
        seen = {json.loads(line)["q"].lower() for line in path.read_text().splitlines() if line}
        # Counted, never listed: a failure here must not show anyone the blind queries.
        shared = len(seen & blind)
        assert shared == 0, f"{shared} queries of {path.name} are blind queries; rewrite them"
    shared = len({q.lower() for q, _ in REGRESSION} & blind)
    assert shared == 0, f"{shared} REGRESSION queries are blind queries; rewrite them"


#: Measured 129/170 at rank 1 and 152/170 in the top 5 when this floor was set (the stop that
#: wrote the set); the floors sit a little below so that noise-free regressions still fail.
BLIND_TOP1, BLIND_TOP5 = 0.74, 0.87


def test_quality_on_blind_set() -> None:
    rows = [json.loads(line) for line in BLIND_FILE.read_text().splitlines() if line.strip()]
    top1, top5, _ = _quality([(r["q"], tuple(r["expect"])) for r in rows], natural=True)
    # Numbers only, never the misses: nobody may tune on this set.
    assert top5 >= BLIND_TOP5, f"blind set top-5 {top5:.1%} is below {BLIND_TOP5:.0%}"
    assert top1 >= BLIND_TOP1, f"blind set top-1 {top1:.1%} is below {BLIND_TOP1:.0%}"
