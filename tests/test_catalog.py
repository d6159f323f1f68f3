"""Catalog navigation and endpoint details over the generated registry and schema table."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from pydantic import ValidationError

from cwm_gateway import catalog
from cwm_gateway.catalog import (
    CatalogLookupError,
    category_endpoints,
    endpoint_details,
    example_body,
    find_operation,
    list_categories,
)
from cwm_gateway.errors import CWMError
from cwm_gateway.patch import check_patch_ops
from cwm_generated.models import load_model
from cwm_generated.registry import CATEGORIES, OPERATIONS
from cwm_generated.schemas import SCHEMAS

# ---------------------------------------------------------------------------------------------
# list_categories


def test_categories_cover_every_module_and_operation() -> None:
    cats = list_categories()
    assert [c.name for c in cats] == sorted(CATEGORIES)
    assert sum(c.operation_count for c in cats) == len(OPERATIONS)
    by_module = Counter(op.category for op in OPERATIONS)
    for cat in cats:
        assert cat.operation_count == by_module[cat.name]
        assert sum(t.operation_count for t in cat.tags) == cat.operation_count


def test_category_tags_and_json_form() -> None:
    service = next(c for c in list_categories() if c.name == "service")
    tickets = next(t for t in service.tags if t.name == "Tickets")
    assert tickets.operation_count == sum(
        1 for op in OPERATIONS if op.category == "service" and op.tag == "Tickets"
    )
    data = json.loads(service.model_dump_json())
    assert data["name"] == "service"
    assert {"name": "Tickets", "operation_count": tickets.operation_count} in data["tags"]


# ---------------------------------------------------------------------------------------------
# category_endpoints


def test_module_listing_puts_top_level_resources_first() -> None:
    result = category_endpoints("service", max_results=20)
    assert result.kind == "module" and result.name == "service"
    assert result.total == sum(1 for op in OPERATIONS if op.category == "service")
    assert len(result.endpoints) == 20 and result.truncated
    assert all("{" not in e.path for e in result.endpoints[:10])


@pytest.mark.parametrize(
    ("name", "kind", "resolved"),
    [
        ("Tickets", "tag", "Tickets"),
        ("tickets", "tag", "Tickets"),
        ("ticket notes", "tag", "TicketNotes"),
        ("TimeEntry", "tag", "TimeEntries"),
        ("SERVICE", "module", "service"),
        ("/finance", "module", "finance"),
        # An exact tag spelling is the tag; lower case is the module of the same name.
        ("Configurations", "tag", "Configurations"),
        ("configurations", "module", "configurations"),
    ],
)
def test_category_names_are_forgiving(name: str, kind: str, resolved: str) -> None:
    result = category_endpoints(name, max_results=500)
    assert (result.kind, result.name) == (kind, resolved)
    if kind == "tag":
        assert all(e.tag == resolved for e in result.endpoints)
        assert result.total == sum(1 for op in OPERATIONS if op.tag == resolved)
    else:
        assert {e.path.split("/")[1] for e in result.endpoints} == {resolved}
    assert not result.truncated


@pytest.mark.parametrize(("typo", "suggestion"), [("servce", "service"), ("Tickts", "Tickets")])
def test_unknown_category_suggests(typo: str, suggestion: str) -> None:
    with pytest.raises(CatalogLookupError) as info:
        category_endpoints(typo)
    message = str(info.value)
    assert typo in message and f"'{suggestion}'" in message and "did you mean" in message


def test_bad_category_arguments() -> None:
    with pytest.raises(CatalogLookupError, match="empty"):
        category_endpoints("  ")
    with pytest.raises(CatalogLookupError, match="max_results"):
        category_endpoints("service", max_results=0)
    assert issubclass(CatalogLookupError, CWMError)


def test_listing_json_form() -> None:
    data = category_endpoints("TicketNotes", 2).model_dump(mode="json")
    assert data["truncated"] is True and len(data["endpoints"]) == 2
    assert {"method", "path", "summary", "operation_id", "risk", "tag", "category"} <= set(
        data["endpoints"][0]
    )


# ---------------------------------------------------------------------------------------------
# find_operation / endpoint_details: resolving


@pytest.mark.parametrize(
    ("path", "method", "expected"),
    [
        ("/service/tickets/{id}", "GET", "GET /service/tickets/{id}"),
        ("/service/tickets/123", "GET", "GET /service/tickets/{id}"),
        ("/service/tickets/123", "patch", "PATCH /service/tickets/{id}"),
        ("/service/tickets/count", "GET", "GET /service/tickets/count"),
        ("/service/tickets/5/notes/9", "DELETE", "DELETE /service/tickets/{parentId}/notes/{id}"),
        ("service/tickets/", "GET", "GET /service/tickets"),
        ("/SERVICE/Tickets/{id}", "GET", "GET /service/tickets/{id}"),
        (
            "https://na.myconnectwise.net/v4_6_release/apis/3.0/company/companies/7?fields=id",
            "GET",
            "GET /company/companies/{id}",
        ),
        # A site's own path prefix before another codebase's API prefix (paths.strip_url).
        (
            "https://cw.example.com/cw/V2025_1/apis/3.0/service/tickets/5#top",
            "GET",
            "GET /service/tickets/{id}",
        ),
        ("PUT /company/companies/{id}", "GET", "PUT /company/companies/{id}"),
        ("getServiceTicketsById", "GET", "GET /service/tickets/{id}"),
        ("deleteTimeEntriesById", "GET", "DELETE /time/entries/{id}"),
    ],
)
def test_find_operation(path: str, method: str, expected: str) -> None:
    op = find_operation(path, method)
    assert f"{op.method} {op.path}" == expected


@pytest.mark.parametrize(
    ("path", "method", "fragment"),
    [
        ("/service/tickets/{id}", "POST", "available methods: GET, PUT, PATCH, DELETE"),
        ("/service/tickets/1", "POST", "POST is not allowed"),
        ("/service/tikets/{id}", "GET", "/service/tickets/{id}"),
        ("/service/tikets/1", "GET", "did you mean"),
        ("/service/tickets/abc", "GET", "integer"),
        ("getServiceTicket", "GET", "getServiceTickets"),
        ("/service/tickets", "FETCH", "GET, POST, PUT, PATCH or DELETE"),
        ("", "GET", "empty"),
    ],
)
def test_find_operation_errors_are_actionable(path: str, method: str, fragment: str) -> None:
    with pytest.raises(CatalogLookupError) as info:
        find_operation(path, method)
    assert fragment in str(info.value)


# ---------------------------------------------------------------------------------------------
# endpoint_details: content


def test_details_of_a_list_operation() -> None:
    d = endpoint_details("/service/tickets")
    assert d["operation_id"] == "getServiceTickets"
    assert (d["method"], d["category"], d["tag"], d["risk"]) == (
        "GET",
        "service",
        "Tickets",
        "Read",
    )
    assert d["paged"] is True
    assert d["body"] is None and d["example_body"] is None
    names = [p["name"] for p in d["query_params"]]
    assert {"conditions", "orderBy", "page", "pageSize"} <= set(names)
    assert d["response"]["model"] == "Ticket" and d["response"]["is_list"] is True
    assert "summary" in d["response"]["fields"]
    assert d["other_methods"] == ["POST"]
    json.dumps(d)  # JSON-ready


def test_details_of_a_post_body() -> None:
    d = endpoint_details("/service/tickets", "POST")
    body = d["body"]
    assert body["kind"] == "model" and body["model"] == "Ticket" and body["required"] is True
    fields = {f["name"]: f for f in body["fields"]}
    assert fields["summary"]["required"] is True and fields["summary"]["max_length"] == 100
    assert fields["company"]["ref"] == "CompanyReference"
    assert fields["recordType"]["enum"] == ["ProjectIssue", "ProjectTicket", "ServiceTicket"]
    assert fields["recordType"]["nullable"] is True
    assert fields["id"].get("read_only", False) is SCHEMAS["Ticket"].fields["id"].read_only
    # Required fields come first.
    required = [f["required"] for f in body["fields"]]
    assert required == sorted(required, reverse=True)
    assert d["example_body"] == {"summary": "Example summary", "company": {"id": 1}}


def test_details_of_a_patch() -> None:
    d = endpoint_details("/service/tickets/5", "PATCH")
    assert d["path"] == "/service/tickets/{id}"
    assert d["path_params"] == [
        {"name": "id", "type": "integer", "required": True, "format": "int32"}
    ]
    assert d["body"]["kind"] == "patch"
    assert "summary" in {f["name"] for f in d["body"]["fields"]}
    assert d["example_body"] == [{"op": "replace", "path": "summary", "value": "Example summary"}]
    assert d["other_methods"] == ["GET", "PUT", "DELETE"]


def test_details_enum_query_param_and_member_identifier() -> None:
    with_enum = next(
        op for op in OPERATIONS if any(p.enum for p in op.query_params + op.path_params)
    )
    d = endpoint_details(with_enum.path, with_enum.method)
    params = d["query_params"] + d["path_params"]
    assert any(p.get("enum") for p in params)
    member = endpoint_details("/system/members/{memberIdentifier}")
    assert member["path_params"][0]["name"] == "memberIdentifier"


def test_example_bodies_are_minimal() -> None:
    for op in OPERATIONS:
        if op.body_kind == "model":
            example = example_body(op)
            required = {n for n, f in SCHEMAS[op.body_model].fields.items() if f.required}
            assert set(example) == required, op.operation_id


def test_every_example_body_validates_with_the_real_model() -> None:
    """The strong check: ~990 operations, each example accepted by its strict Pydantic model."""
    failures: list[str] = []
    checked = 0
    for op in OPERATIONS:
        if op.body_kind is None or op.body_model is None:
            continue
        example = example_body(op)
        model = load_model(op.body_model)
        items = example if op.body_kind in ("array", "patch") else [example]
        assert items, op.operation_id
        for item in items:
            checked += 1
            try:
                model.validate_request(item)
            except ValidationError as exc:
                failures.append(f"{op.method} {op.path}: {exc.errors()[:2]}")
    assert checked >= 990
    assert not failures, "\n".join(failures[:10])


def test_every_patch_example_passes_the_patch_checker() -> None:
    failures = []
    for op in OPERATIONS:
        if op.body_kind == "patch" and op.response_model in SCHEMAS:
            problems = check_patch_ops(example_body(op), op.response_model)
            if problems:
                failures.append(f"{op.operation_id}: {problems}")
    assert not failures, failures[:5]


def test_details_for_every_operation_are_json_ready() -> None:
    # Cheap enough for all 3,053 and catches any schema shape the details code does not expect.
    for op in OPERATIONS:
        d = endpoint_details(op.path, op.method)
        assert d["operation_id"] == op.operation_id
    assert catalog._views.cache_info().currsize == 1
