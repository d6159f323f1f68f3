"""Tests for cwm_gateway.patch: building and checking ConnectWise PATCH bodies."""

from __future__ import annotations

import pytest

from cwm_gateway.patch import build_patch_ops, check_patch_ops
from cwm_generated.types import Field, Schema


def F(
    type_="string",
    ref=None,
    *,
    fmt=None,
    enum=None,
    required=False,
    nullable=False,
    ml=None,
    ro=False,
):
    return Field(type_, fmt, ref, required, nullable, enum, ml, ro)


def S(schema_name, /, **fields):
    return Schema(schema_name, schema_name, "test", fields)


SCHEMAS = {
    "Ticket": S(
        "Ticket",
        id=F("integer"),
        summary=F(required=True, ml=10),
        status=F("object", "ServiceStatusReference"),
        company=F("object", "CompanyReference", required=True),
        severity=F(enum=("Low", "Medium", "High"), nullable=True),
        budgetHours=F("number", nullable=True),
        closedFlag=F("boolean"),
        requiredDate=F(fmt="date-time"),
        dateResolved=F(fmt="date-time", ro=True),
        tasks=F("array", "TicketTask"),
        customFields=F("array", "CustomFieldValue"),
        extra=F("object"),
        anything=F("any"),
        _info=F("object"),
    ),
    "ServiceStatusReference": S("ServiceStatusReference", id=F("integer"), name=F()),
    "CompanyReference": S("CompanyReference", id=F("integer"), identifier=F(), name=F()),
    "TicketTask": S("TicketTask", id=F("integer"), notes=F()),
    "CustomFieldValue": S("CustomFieldValue", id=F("integer"), value=F("object")),
}


def check(ops):
    return check_patch_ops(ops, "Ticket", schemas=SCHEMAS)


def test_build_patch_ops():
    assert build_patch_ops({"summary": "New", "status/id": 5}) == [
        {"op": "replace", "path": "summary", "value": "New"},
        {"op": "replace", "path": "status/id", "value": 5},
    ]
    assert build_patch_ops({"severity": None}, op="remove") == [
        {"op": "remove", "path": "severity"}
    ]
    assert build_patch_ops({}, op="add") == []


@pytest.mark.parametrize(
    "call",
    [
        lambda: build_patch_ops({"a": 1}, op="delete"),
        lambda: build_patch_ops([("a", 1)]),
        lambda: build_patch_ops({"": 1}),
        lambda: build_patch_ops({5: 1}),
    ],
)
def test_build_patch_ops_rejects_bad_input(call):
    with pytest.raises((ValueError, TypeError)):
        call()


def test_valid_ops_pass():
    ops = [
        {"op": "replace", "path": "summary", "value": "Short"},
        {"op": "replace", "path": "/status", "value": {"id": 5}},
        {"op": "replace", "path": "status/id", "value": 5},
        {"op": "replace", "path": "company/identifier", "value": "Acme"},
        {"op": "replace", "path": "severity", "value": "High"},
        {"op": "replace", "path": "severity", "value": None},
        {"op": "replace", "path": "budgetHours", "value": 2},
        {"op": "add", "path": "budgetHours", "value": 2.5},
        {"op": "replace", "path": "closedFlag", "value": True},
        {"op": "replace", "path": "requiredDate", "value": "2024-01-31T17:00:00Z"},
        {"op": "replace", "path": "tasks", "value": [{"notes": "x"}]},
        {"op": "replace", "path": "customFields", "value": [{"id": 1, "value": "EU"}]},
        {"op": "replace", "path": "extra/free/form", "value": 1},
        {"op": "replace", "path": "anything", "value": [1]},
        {"op": "remove", "path": "severity"},
        {"op": "replace", "path": "Summary", "value": "x"},  # ConnectWise ignores case
    ]
    assert check(ops) == []
    assert check(build_patch_ops({"summary": "ok", "status/name": "Open"})) == []


@pytest.mark.parametrize(
    ("ops", "where", "fragment"),
    [
        ({"op": "replace"}, "body", "list of operations"),
        ([], "body", "no operations"),
        (["summary"], "body[0]", "must be an object"),
        ([{"op": "update", "path": "summary", "value": "x"}], "body[0].op", "'update' is not"),
        ([{"op": "replace", "value": "x"}], "body[0].path", "must be a field name"),
        ([{"op": "replace", "path": "summary"}], "body[0].value", "needs a value"),
        ([{"op": "replace", "path": "summry", "value": "x"}], "body[0].path", "'summry'"),
        ([{"op": "replace", "path": "id", "value": 3}], "body[0].path", "read-only"),
        ([{"op": "replace", "path": "_info/x", "value": 3}], "body[0].path", "read-only"),
        ([{"op": "replace", "path": "dateResolved", "value": "x"}], "body[0].path", "read-only"),
        ([{"op": "replace", "path": "summary/x", "value": 1}], "body[0].path", "no sub-fields"),
        ([{"op": "replace", "path": "summary", "value": 5}], "body[0].value", "a string, not"),
        ([{"op": "replace", "path": "summary", "value": "x" * 11}], "body[0].value", "at most 10"),
        ([{"op": "replace", "path": "summary", "value": None}], "body[0].value", "required"),
        ([{"op": "replace", "path": "status", "value": 5}], "body[0].value", "an object"),
        ([{"op": "replace", "path": "status/id", "value": "5"}], "body[0].value", "integer"),
        ([{"op": "replace", "path": "closedFlag", "value": "yes"}], "body[0].value", "boolean"),
        ([{"op": "replace", "path": "budgetHours", "value": True}], "body[0].value", "number"),
        ([{"op": "replace", "path": "severity", "value": "Urgent"}], "body[0].value", "allowed"),
        ([{"op": "replace", "path": "requiredDate", "value": "soon"}], "body[0].value", "date"),
        ([{"op": "replace", "path": "tasks", "value": {}}], "body[0].value", "array"),
        ([{"op": "replace", "path": "status", "value": {"nam": "x"}}], "body[0].value", "'name'"),
        ([{"op": "replace", "path": "summary", "value": "x", "from": "y"}], "body[0]", "'from'"),
    ],
)
def test_problems(ops, where, fragment):
    problems = check(ops)
    assert len(problems) == 1, problems
    assert problems[0].where == where
    assert fragment in str(problems[0])


def test_unknown_path_has_did_you_mean():
    [p] = check([{"op": "replace", "path": "status/nme", "value": "x"}])
    assert p.message == "'status/nme' is not a field of Ticket"
    assert "did you mean 'status/name'?" in p.hint


def test_all_problems_reported_with_indexes():
    problems = check(
        [
            {"op": "replace", "path": "summary", "value": "fine"},
            {"op": "bad", "path": "nope", "value": 1},
            {"op": "remove", "path": "closedFlag"},
        ]
    )
    assert [p.where for p in problems] == ["body[1].op", "body[1].path"]


def test_unknown_schema_checks_shape_only():
    assert check_patch_ops([{"op": "replace", "path": "x", "value": 1}], "Nope", schemas={}) == []
    assert len(check_patch_ops([{"op": "x", "path": "x"}], "Nope", schemas={})) == 1


def test_real_ticket_schema():
    ops = build_patch_ops({"summary": "New title", "status": {"id": 1}, "board/name": "Help"})
    assert check_patch_ops(ops, "Ticket") == []
    [p] = check_patch_ops([{"op": "replace", "path": "sumary", "value": "x"}], "Ticket")
    assert "did you mean 'summary'" in p.hint
