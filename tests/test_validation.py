"""Tests for cwm_gateway.validation against the real generated registry."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cwm_gateway.errors import RequestValidationError
from cwm_gateway.validation import Resolved, build_request, resolve
from cwm_generated.registry import BY_ID, OPERATIONS


def problems_of(call):
    with pytest.raises(RequestValidationError) as info:
        call()
    return info.value.problems


def one_problem(call):
    problems = problems_of(call)
    assert len(problems) == 1, problems
    return problems[0]


# ------------------------------------------------------------------------------------ resolve


@pytest.mark.parametrize(
    "path",
    [
        "/service/tickets/123/notes",
        "service/tickets/123/notes/",
        "/v4_6_release/apis/3.0/service/tickets/123/notes",
        "v4_6_release/apis/3.0/service/tickets/123/notes/",
        "/Service/Tickets/123/NOTES",  # ConnectWise routes ignore case
    ],
)
def test_resolve_concrete_path_forms(path):
    r = resolve("get", path)
    assert isinstance(r, Resolved)
    assert r.operation.path == "/service/tickets/{parentId}/notes"
    assert r.operation.method == "GET"
    assert r.path_values == {"parentId": "123"}


def test_literal_segments_win_over_parameters():
    assert resolve("GET", "/service/tickets/count").operation.operation_id == (
        "getServiceTicketsCount"
    )
    assert resolve("GET", "/service/tickets/42").operation.operation_id == "getServiceTicketsById"


def test_integer_and_string_templates_at_the_same_place():
    assert resolve("GET", "/system/members/12").operation.operation_id == "getSystemMembersById"
    r = resolve("GET", "/system/members/jdoe")
    assert r.operation.path == "/system/members/{memberIdentifier}"
    assert r.path_values == {"memberIdentifier": "jdoe"}


def test_integer_path_params_must_be_integers():
    p = one_problem(lambda: resolve("GET", "/service/tickets/abc"))
    assert p.where == "path.id"
    assert "'abc' is not an integer" in p.message
    p = one_problem(lambda: resolve("GET", "/service/tickets/99999999999"))
    assert "out of range" in p.message


def test_unknown_path_suggests_close_templates():
    p = one_problem(lambda: resolve("GET", "/service/ticket/123/note"))
    assert p.where == "path"
    assert p.message == "no operation matches /service/ticket/123/note"
    assert "/service/tickets/{parentId}/notes" in p.hint


def test_wrong_method_lists_allowed_methods():
    p = one_problem(lambda: resolve("POST", "/service/tickets/5"))
    assert p.where == "method"
    assert p.message == "POST is not allowed on /service/tickets/{id}"
    assert p.hint == "allowed: DELETE, GET, PATCH, PUT"
    p = one_problem(lambda: resolve("DELETE", "/service/tickets/count"))
    assert p.message == "DELETE is not allowed on /service/tickets/count"
    assert p.hint == "allowed: GET"
    p = one_problem(lambda: resolve("FETCH", "/service/tickets"))
    assert p.where == "method"


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("https://evil.example/service/tickets", "not a URL"),
        ("//evil.example/service/tickets", "not a URL"),
        ("javascript:alert(1)", "not a URL"),
        ("/service/tickets?conditions=id=1", "query string"),
        ("/service/tickets#x", "query string"),
        ("/service/../system/members", "'..'"),
        ("/service/./tickets", "'.'"),
        ("/service/%2e%2e/system/members", "encoded"),
        ("/service/%2E%2E/system", "encoded"),
        ("/system/members/a%2fb", "encoded"),
        ("/system/members/a%00", "encoded"),
        ("/service/tickets\n", "control characters"),
        ("/system/members/a%0ab", "control characters"),
        ("/service\\tickets", "backslashes"),
        ("/service//tickets", "empty segment"),
        ("", "empty"),
        ("/", "names no resource"),
        ("/v4_6_release/apis/3.0/", "names no resource"),
        ("/system/members/%ff", "not UTF-8"),
    ],
)
def test_refused_paths(path, fragment):
    p = one_problem(lambda: resolve("GET", path))
    assert p.where == "path"
    assert fragment in str(p)


def test_non_text_path():
    assert one_problem(lambda: resolve("GET", None)).where == "path"  # type: ignore[arg-type]


def _fill(template: str) -> str:
    return re.sub(r"\{([^}]+)\}", lambda m: "7", template)


def test_every_operation_resolves_from_its_own_template():
    for op in OPERATIONS:
        filled = op.path
        for p in op.path_params:
            filled = filled.replace("{" + p.name + "}", "7" if p.type == "integer" else "x7")
        r = resolve(op.method, filled)
        assert r.operation.path == op.path, (op.operation_id, r.operation.operation_id)
        assert r.operation.method == op.method


@settings(max_examples=300)
@given(st.text(max_size=40), st.sampled_from(["GET", "POST", "PATCH", "get", "BREW"]))
def test_resolve_raises_only_validation_errors(path, method):
    try:
        resolve(method, path)
    except RequestValidationError as exc:
        assert exc.problems


@settings(max_examples=200)
@given(
    st.lists(
        st.sampled_from(["service", "tickets", "7", "notes", "count", "%2e", "..", "x", "", "%20"]),
        max_size=5,
    )
)
def test_resolve_segment_soup(parts):
    try:
        r = resolve("GET", "/".join(parts))
    except RequestValidationError:
        return
    assert r.operation.method == "GET"


# ------------------------------------------------------------------------------ build_request


def test_list_request_with_coerced_params():
    spec = build_request(
        "GET",
        "/service/tickets",
        {
            "conditions": 'status/name = "Open" and board/id = 5',
            "pageSize": "25",
            "page": 2,
            "orderBy": "id desc",
            "fields": "id,summary,status/name",
            "childConditions": None,  # None means "not given"
        },
    )
    assert spec.operation.operation_id == "getServiceTickets"
    assert spec.path == "/service/tickets"
    assert spec.params == {
        "conditions": 'status/name = "Open" and board/id = 5',
        "pageSize": 25,
        "page": 2,
        "orderBy": "id desc",
        "fields": "id,summary,status/name",
    }
    assert spec.body is None


def test_count_conditions_are_checked_against_the_listed_records():
    spec = build_request("GET", "/service/tickets/count", {"conditions": 'status/name = "Open"'})
    assert spec.operation.operation_id == "getServiceTicketsCount"
    p = one_problem(
        lambda: build_request("GET", "/service/tickets/count", {"conditions": "statuss/name = 1"})
    )
    assert "not a field of Ticket" in p.message


def test_field_lists_are_joined():
    spec = build_request(
        "GET", "/service/tickets", {"fields": ["id", "summary"], "orderBy": ["id"]}
    )
    assert spec.params == {"fields": "id,summary", "orderBy": "id"}
    p = one_problem(lambda: build_request("GET", "/service/tickets", {"fields": ["id", "sumary"]}))
    assert "'summary'" in p.hint


def test_python_and_case_variant_param_names_map_to_wire_names():
    spec = build_request("GET", "/service/tickets", {"page_size": 10, "ORDERBY": "id"})
    assert spec.params == {"pageSize": 10, "orderBy": "id"}


def test_all_query_problems_in_one_error():
    with pytest.raises(RequestValidationError) as info:
        build_request(
            "GET",
            "/service/tickets",
            {
                "conditions": 'statuss/name = "Open"',
                "pageSize": 2000,
                "page": 0,
                "pageId": "abc",
                "ordreBy": "id",
                "orderBy": "summry desc",
                "fields": "id,sumary",
                "childConditions": "id ==",
                "customFieldConditions": "captoin = 'x'",
            },
        )
    err = info.value
    assert err.operation_id == "getServiceTickets"
    by_where = {p.where: p for p in err.problems}
    assert len(err.problems) == 9, err.problems
    assert "did you mean 'status/name'" in by_where["query.conditions"].hint
    assert by_where["query.pageSize"].hint == "1..1000"
    assert "out of range" in by_where["query.page"].message
    assert "'abc' is not an integer" in by_where["query.pageId"].message
    assert by_where["query.ordreBy"].message == "unknown parameter"
    assert "did you mean 'orderBy'?" in by_where["query.ordreBy"].hint
    assert "valid: conditions" in by_where["query.ordreBy"].hint
    assert "'summary'" in by_where["query.orderBy"].hint
    assert "'summary'" in by_where["query.fields"].hint
    assert "use '='" in by_where["query.childConditions"].message
    assert "'caption'" in by_where["query.customFieldConditions"].hint
    text = str(err)
    assert text.startswith("Request for getServiceTickets is invalid; nothing was sent:")
    assert err.to_dict()["problems"][0]["where"]


def test_params_on_an_operation_without_query_params():
    p = one_problem(lambda: build_request("DELETE", "/service/tickets/5", {"force": True}))
    assert p.where == "query.force"
    assert "takes no query parameters" in p.hint


def test_enum_boolean_and_required_query_params():
    spec = build_request("GET", "/system/audittrail", {"type": "ticket", "id": "5"})
    assert spec.params == {"type": "Ticket", "id": 5}
    p = one_problem(lambda: build_request("GET", "/system/audittrail", {"type": "Tickets"}))
    assert "allowed: None, Ticket" in p.hint
    spec = build_request("GET", "/company/contacts/3/image", {"useDefaultFlag": "TRUE"})
    assert spec.params == {"useDefaultFlag": True}
    # Marked required only because the spec declared it in the path: not enforced.
    assert build_request("GET", "/company/contacts/3/image").params == {}
    p = one_problem(
        lambda: build_request("GET", "/company/contacts/3/image", {"useDefaultFlag": 1})
    )
    assert "not true or false" in p.message


def test_params_must_be_a_mapping():
    p = one_problem(lambda: build_request("GET", "/service/tickets", ["page", 1]))  # type: ignore[arg-type]
    assert p.where == "query"


def test_path_values_are_quoted_and_normalized():
    spec = build_request("GET", "/system/members/j%20doe")
    assert spec.path == "/system/members/j%20doe"
    spec = build_request("GET", "/system/members/a b")
    assert spec.path == "/system/members/a%20b"
    spec = build_request("GET", "/service/tickets/0042/notes")
    assert spec.path == "/service/tickets/42/notes"


def test_post_ticket_requires_summary_and_company():
    problems = problems_of(lambda: build_request("POST", "/service/tickets", body={}))
    assert {(p.where, p.message) for p in problems} == {
        ("body.summary", "field required"),
        ("body.company", "field required"),
    }


def test_missing_body_names_required_fields():
    p = one_problem(lambda: build_request("POST", "/service/tickets"))
    assert p.where == "body"
    assert "Ticket requires: summary, company" in p.hint


def test_unknown_body_fields_get_did_you_mean_at_any_depth():
    problems = problems_of(
        lambda: build_request(
            "POST",
            "/service/tickets",
            body={"summry": "x", "summary": "x", "company": {"identifer": "Acme"}},
        )
    )
    by_where = {p.where: p for p in problems}
    assert by_where["body.summry"].message == "unknown field"
    assert by_where["body.summry"].hint == "did you mean 'summary'?"
    assert by_where["body.company.identifer"].hint == "did you mean 'identifier'?"


def test_body_value_errors_are_translated():
    problems = problems_of(
        lambda: build_request(
            "POST",
            "/service/tickets",
            body={"summary": "x" * 101, "company": {"id": 1}, "severity": "Urgent"},
        )
    )
    by_where = {p.where: p for p in problems}
    assert set(by_where) == {"body.summary", "body.severity"}
    assert "100 characters" in by_where["body.summary"].message
    assert "'Low'" in by_where["body.severity"].message


def test_valid_body_is_returned_as_sent():
    body = {"summary": "Printer", "company": {"id": 1}, "board": {"name": "Help"}}
    spec = build_request("POST", "/service/tickets", body=body)
    assert spec.body == body
    assert spec.params == {}


def test_model_instance_body_is_dumped():
    from cwm_generated.models import load_model

    ticket = load_model("Ticket").model_validate({"summary": "x", "company": {"id": 1}})
    spec = build_request("POST", "/service/tickets", body=ticket)
    assert spec.body == {"summary": "x", "company": {"id": 1}}


def test_body_where_none_is_taken():
    p = one_problem(lambda: build_request("GET", "/service/tickets/5", body={"x": 1}))
    assert (p.where, p.message) == ("body", "GET /service/tickets/{id} takes no body")


def test_body_of_the_wrong_shape():
    p = one_problem(lambda: build_request("POST", "/service/tickets", body=[{"summary": "x"}]))
    assert p.message == "must be a Ticket object, not an array"


def test_array_bodies_are_validated_item_by_item():
    op = BY_ID["postProcurementPurchaseordersByParentIdLineitemsBulk"]
    path = op.path.replace("{parentId}", "3")
    problems = problems_of(lambda: build_request("POST", path, body=[{}, {"bogus": 1}]))
    assert problems
    assert all(p.where.startswith(("body[0]", "body[1]")) for p in problems)
    assert any(p.where == "body[1].bogus" for p in problems)
    p = one_problem(lambda: build_request("POST", path, body={"x": 1}))
    assert "must be a list of PurchaseOrderLineItem" in p.message


def test_patch_bodies_are_checked_against_the_resource():
    spec = build_request(
        "PATCH",
        "/service/tickets/5",
        body=[{"op": "replace", "path": "summary", "value": "New"}],
    )
    assert spec.body == [{"op": "replace", "path": "summary", "value": "New"}]
    assert spec.path == "/service/tickets/5"
    p = one_problem(
        lambda: build_request(
            "PATCH", "/service/tickets/5", body=[{"op": "replace", "path": "summry", "value": 1}]
        )
    )
    assert p.where == "body[0].path"
    assert "did you mean 'summary'" in p.hint
    p = one_problem(lambda: build_request("PATCH", "/service/tickets/5", body={"summary": "x"}))
    assert "list of operations" in p.message


def test_path_and_param_problems_come_before_anything_else():
    # An unresolvable path stops early: nothing else can be checked without an operation.
    p = one_problem(lambda: build_request("GET", "/nope", {"bogus": 1}, body={"x": 1}))
    assert p.where == "path"


def test_every_list_operation_accepts_paging():
    checked = 0
    for op in OPERATIONS:
        if not op.is_list or op.path_params:
            continue
        spec = build_request(op.method, op.path, {"page": 1, "pageSize": 10})
        assert spec.params == {"page": 1, "pageSize": 10}
        checked += 1
    assert checked > 100
