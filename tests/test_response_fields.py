"""Responses keep every field ConnectWise sends; requests stay strict (issue #15).

Fixtures in tests/fixtures/ are ConnectWise 2025.1 answers as production sends them: ticket
status references spelling ``Sort`` with a capital S, fields of older API versions
(``currency.isoCode``, ``locationId``, ``businessUnitId``, ``enteredBy`` on tickets, member
``defaultLocationId``), nulls in ``_info`` and unknown keys nested in references and lists.
"""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from cwm_gateway.client import ApiResponse, Client, lenient_model
from cwm_gateway.config import Settings
from cwm_gateway.errors import RequestValidationError
from cwm_gateway.validation import build_request
from cwm_generated.models import Member, Ticket, load_model
from cwm_generated.operations import service, system
from cwm_generated.registry import BY_ID, OPERATIONS
from cwm_generated.schemas import SCHEMAS
from tests.loopback import LoopbackServer, Reply

FIXTURES = Path(__file__).parent / "fixtures"
TICKETS = json.loads((FIXTURES / "tickets_2025_1.json").read_text(encoding="utf-8"))
MEMBER = json.loads((FIXTURES / "member_2025_1.json").read_text(encoding="utf-8"))
BASE = "/v4_6_release/apis/3.0"


def _folded(value: Any, schema_name: str | None) -> Any:
    """``value`` with case variants of known field names spelled as the spec spells them:
    what a model holding every field sent must dump to."""
    schema = SCHEMAS.get(schema_name) if schema_name else None
    if isinstance(value, list):
        return [_folded(item, schema_name) for item in value]
    if not isinstance(value, dict):
        return value
    if schema is None:
        return value
    lower = {name.lower(): name for name in schema.fields}
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = key if key in schema.fields else lower.get(key.lower(), key)
        field = schema.fields.get(name)
        out[name] = _folded(item, field.ref if field else None)
    return out


def _dump(model: Any) -> Any:
    if isinstance(model, list):
        return [_dump(m) for m in model]
    return model.model_dump(mode="json", by_alias=True, exclude_unset=True)


# -- nothing dropped ---------------------------------------------------------------------------


def test_the_fixtures_carry_the_drift_they_are_meant_to():
    statuses = [t["status"] for t in TICKETS]
    assert any("Sort" in s for s in statuses) and any("sort" in s for s in statuses)
    assert any(t["_info"].get("updatedBy", "") is None for t in TICKETS)
    legacy = {"locationId", "businessUnitId", "enteredBy"}
    assert any(legacy <= t.keys() for t in TICKETS)
    assert any("isoCode" in t["currency"] for t in TICKETS)
    assert any("podId" in t["customFields"][0] for t in TICKETS)
    assert "defaultLocationId" in MEMBER and MEMBER["_info"]["updatedBy"] is None


def test_a_parsed_page_of_tickets_keeps_every_field_sent():
    response = ApiResponse(200, _headers(), TICKETS, BY_ID["getServiceTickets"])
    tickets = response.data
    assert all(type(t) is Ticket for t in tickets)
    # Every key, at every depth, is on the models and in their dumps.
    assert _dump(tickets) == _folded(TICKETS, "Ticket")


def test_a_case_variant_fills_the_known_field():
    sent = next(t for t in TICKETS if "Sort" in t["status"])
    ticket = Ticket.model_validate(sent)
    assert ticket.status is not None
    assert ticket.status.sort == sent["status"]["Sort"]
    assert not ticket.status.model_extra  # not kept twice


def test_legacy_and_nested_unknown_fields_are_on_the_model():
    sent = next(t for t in TICKETS if "locationId" in t and "podId" in t["customFields"][0])
    ticket = Ticket.model_validate(sent)
    assert ticket.model_extra == {
        "locationId": sent["locationId"],
        "businessUnitId": sent["businessUnitId"],
        "enteredBy": sent["enteredBy"],
    }
    assert ticket.currency is not None and ticket.currency.model_extra == {"isoCode": "USD"}
    assert ticket.customFields is not None and ticket.customFields[0].model_extra == {
        "podId": "Billing"
    }
    assert ticket.unknown_fields() == [
        "locationId",
        "businessUnitId",
        "enteredBy",
        "board.projectFlag",
        "currency.isoCode",
        "customFields[0].podId",
    ]


def test_null_info_values_are_accepted():
    member = Member.model_validate(MEMBER)
    assert member.field_info is not None and member.field_info["updatedBy"] is None
    assert member.reportsTo is not None and member.reportsTo.field_info == {
        "member_href": MEMBER["reportsTo"]["_info"]["member_href"],
        "image_href": None,
    }
    assert member.unknown_fields() == [
        "mobileGuid",
        "defaultLocationId",
        "defaultDepartmentId",
        "reportCardId",
    ]


def test_the_fallback_parse_keeps_unknown_fields_and_folds_case_too():
    # One invalid value sends the parse down the field-by-field path: it must keep the same
    # promises as the fast path.
    sent = copy.deepcopy(next(t for t in TICKETS if "Sort" in t["status"] and "locationId" in t))
    sent["summary"] = 12345  # not text
    sent["status"]["id"] = "sixteen"
    ticket = lenient_model(Ticket, sent)
    assert ticket.summary == 12345 and ticket.status.id == "sixteen"
    assert ticket.status.sort == sent["status"]["Sort"]
    assert ticket.model_extra["locationId"] == sent["locationId"]
    assert ticket.currency.model_extra == {"isoCode": "USD"}
    with pytest.warns(UserWarning):  # pydantic notes the raw values it serializes as given
        assert _dump(ticket) == _folded(sent, "Ticket")


# -- the gateway reports drift -----------------------------------------------------------------


def test_the_client_reports_unknown_fields_and_logs_them_at_debug(caplog):
    with LoopbackServer() as srv:
        srv.script("GET", f"{BASE}/service/tickets", Reply(json=TICKETS[:4]))
        srv.script("GET", f"{BASE}/system/members/149", Reply(json=MEMBER))
        settings = Settings(
            company_id="acme",
            public_key="pub",
            private_key="priv",
            client_id="tests",
            api_url=srv.url + BASE,
        )
        with Client(settings) as cw, caplog.at_level(logging.DEBUG, "cwm_gateway.client"):
            page = cw.send(service.get_service_tickets())
            member = cw.send(system.get_system_members_by_id(id_=149))
            assert page.unknown_fields == [
                "[0].locationId",
                "[0].businessUnitId",
                "[0].enteredBy",
                "[0].currency.isoCode",
                "[2].board.projectFlag",
                "[2].customFields[0].podId",
                "[3].locationId",
                "[3].businessUnitId",
                "[3].enteredBy",
                "[3].currency.isoCode",
            ]
            assert member.unknown_fields == [
                "mobileGuid",
                "defaultLocationId",
                "defaultDepartmentId",
                "reportCardId",
            ]
    lines = [r.getMessage() for r in caplog.records if "the spec does not know" in r.getMessage()]
    assert lines == [
        "getServiceTickets answered with 10 field(s) the spec does not know: "
        + ", ".join(page.unknown_fields),
        "getSystemMembersById answered with 4 field(s) the spec does not know: "
        "mobileGuid, defaultLocationId, defaultDepartmentId, reportCardId",
    ]


def test_an_answer_that_matches_the_spec_reports_nothing():
    clean = Ticket.model_validate(TICKETS[1]).request_body()
    response = ApiResponse(200, _headers(), [clean], BY_ID["getServiceTickets"])
    assert response.unknown_fields == []


# -- round trip: a parsed record is a valid request body again --------------------------------


def _body_schemas() -> list[str]:
    return sorted(
        {
            op.body_model
            for op in OPERATIONS
            if op.body_kind in ("model", "array") and op.body_model in SCHEMAS
        }
    )


def _as_answered(value: Any, schema_name: str | None, depth: int = 0) -> Any:
    """A schema-valid document made to look like a ConnectWise answer: ``_info`` with a null,
    an unknown key on every object (top level, references, list items) and the first field
    spelled in capitals."""
    schema = SCHEMAS.get(schema_name) if schema_name else None
    if isinstance(value, list):
        return [_as_answered(item, schema_name, depth + 1) for item in value]
    if schema is None or not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for i, (key, item) in enumerate(value.items()):
        field = schema.fields.get(key)
        item = _as_answered(item, field.ref if field else None, depth + 1)
        spelled = key[:1].upper() + key[1:] if i == 0 and depth == 0 and key != "_info" else key
        out[spelled] = item
    if "_info" in schema.fields:
        out["_info"] = {"lastUpdated": "2025-03-01T17:22:10Z", "updatedBy": None}
    out["legacyFieldFromOlderApi"] = {"kept": True} if depth else 7
    return out


def test_every_request_body_schema_round_trips():
    from cwm_gateway.sandbox.samples import sample

    schemas = _body_schemas()
    assert len(schemas) > 300  # every resource, not only tickets
    for name in schemas:
        cls = load_model(name)
        answered = _as_answered(sample(name), name)
        parsed = lenient_model(cls, answered)
        # Nothing dropped: the model holds (and dumps) everything that was answered.
        assert _dump(parsed) == _folded(answered, name), name
        assert "legacyFieldFromOlderApi" in parsed.unknown_fields(), name
        # Requests stay strict: the answer as it came is not a valid body...
        with pytest.raises(ValidationError) as refused:
            cls.validate_request(answered)
        assert {e["type"] for e in refused.value.errors()} == {"extra_forbidden"}, name
        # ...but the record dumped without read-only metadata is.
        body = parsed.request_body()
        assert "_info" not in body and "legacyFieldFromOlderApi" not in body, name
        cls.validate_request(body)


def test_a_parsed_ticket_goes_back_through_the_gateways_validation():
    for sent in TICKETS:
        body = Ticket.model_validate(sent).request_body()
        spec = build_request("POST", "/service/tickets", body=body)
        assert spec.operation.operation_id == "postServiceTickets"
        assert "locationId" not in spec.body and "_info" not in spec.body["status"]
    body = Member.model_validate(MEMBER).request_body()
    assert build_request("PUT", "/system/members/149", body=body).body["identifier"] == "jsmith"


# -- requests stay strict ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"summary": "x", "company": {"id": 1}, "locationId": 2}, "body.locationId"),
        ({"summary": "x", "company": {"id": 1, "isoCode": "USD"}}, "body.company.isoCode"),
        (
            {"summary": "x", "company": {"id": 1}, "customFields": [{"id": 4, "podId": "B"}]},
            "body.customFields[0].podId",
        ),
    ],
)
def test_unknown_fields_in_request_bodies_are_still_refused(body, where):
    with pytest.raises(RequestValidationError) as refused:
        build_request("POST", "/service/tickets", body=body)
    assert [(p.where, p.message) for p in refused.value.problems] == [(where, "unknown field")]


def test_a_model_with_unknown_fields_is_refused_as_a_body_too():
    ticket = Ticket.model_validate(next(t for t in TICKETS if "locationId" in t))
    with pytest.raises(RequestValidationError) as refused:
        build_request("POST", "/service/tickets", body=ticket)
    wheres = {p.where for p in refused.value.problems}
    assert {"body.locationId", "body.currency.isoCode"} <= wheres


def _headers() -> Any:
    import httpx

    return httpx.Headers()
