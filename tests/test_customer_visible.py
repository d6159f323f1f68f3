"""Customer-visible requests as their own risk class: classified from the values sent, matched
by policy rules (``risk: CustomerVisible``), approved by a person under the default policy."""

from __future__ import annotations

import pytest
from mcp import Client
from mcp_types import ElicitResult

from cwm_gateway.config import Settings
from cwm_gateway.core import Gateway, GatewayOptions
from cwm_gateway.policy.engine import CallContext, PolicyEngine
from cwm_gateway.policy.loader import load_default_policy, parse_policy
from cwm_gateway.policy.rules import PolicyError
from cwm_gateway.policy.visibility import CUSTOMER_VISIBLE, customer_visible
from cwm_gateway.sandbox.runner import start_sandbox_thread
from cwm_gateway.server import build_server
from cwm_gateway.validation import build_request, canonical_request

TIME_ENTRY = {
    "chargeToId": 1,
    "chargeToType": "ServiceTicket",
    "member": {"identifier": "jsmith"},
    "timeStart": "2026-01-05T09:00:00Z",
    "notes": "Replaced the toner",
}


def _risks(method: str, path: str, body) -> tuple[frozenset[str], tuple[str, ...]]:
    call = CallContext.for_request(
        "execute_api_call", grant="g", request=build_request(method, path, None, body)
    )
    return call.risks, call.risk_reasons


@pytest.mark.parametrize(
    ("method", "path", "body", "flag"),
    [
        ("POST", "/service/tickets/5/notes", {"text": "x", "detailDescriptionFlag": True}, "detailDescriptionFlag"),
        ("POST", "/service/tickets/5/notes", {"text": "x", "resolutionFlag": True}, "resolutionFlag"),
        ("POST", "/service/tickets/5/notes", {"text": "x", "internalAnalysisFlag": True, "processNotifications": True}, "processNotifications"),
        ("POST", "/project/tickets/5/notes", {"text": "x", "detailDescriptionFlag": True}, "detailDescriptionFlag"),
        ("PUT", "/service/tickets/5/notes/3", {"text": "x", "resolutionFlag": True}, "resolutionFlag"),
        ("PATCH", "/service/tickets/5/notes/3", [{"op": "replace", "path": "detailDescriptionFlag", "value": True}], "detailDescriptionFlag"),
        ("PATCH", "/service/tickets/5/notes/3", [{"op": "replace", "path": "/DetailDescriptionFlag", "value": True}], "detailDescriptionFlag"),
        ("POST", "/time/entries", {**TIME_ENTRY, "emailContactFlag": True}, "emailContactFlag"),
        ("POST", "/time/entries", {**TIME_ENTRY, "emailCcFlag": True, "emailCc": "a@b.c"}, "emailCcFlag"),
        ("POST", "/time/entries", {**TIME_ENTRY, "addToDetailDescriptionFlag": True}, "addToDetailDescriptionFlag"),
        ("PATCH", "/time/entries/9", [{"op": "replace", "path": "addToResolutionFlag", "value": True}], "addToResolutionFlag"),
        ("PATCH", "/service/tickets/9", [{"op": "replace", "path": "automaticEmailContactFlag", "value": True}], "automaticEmailContactFlag"),
        ("POST", "/service/tickets", {"summary": "s", "company": {"id": 1}, "allowAllClientsPortalView": True}, "allowAllClientsPortalView"),
        ("POST", "/system/documents", {"recordType": "Ticket", "recordId": 3, "title": "log"}, "recordType Ticket"),
    ],
)  # fmt: skip
def test_customer_visible_requests_are_classified_from_their_values(method, path, body, flag):
    risks, reasons = _risks(method, path, body)
    assert risks == {CUSTOMER_VISIBLE}
    assert any(r.startswith(flag) for r in reasons), reasons


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/service/tickets/5/notes", {"text": "x", "internalAnalysisFlag": True}),
        ("POST", "/service/tickets/5/notes", {"text": "x", "internalAnalysisFlag": True, "detailDescriptionFlag": False}),
        ("PATCH", "/service/tickets/5/notes/3", [{"op": "replace", "path": "detailDescriptionFlag", "value": False}]),
        ("PATCH", "/service/tickets/5/notes/3", [{"op": "remove", "path": "detailDescriptionFlag"}]),
        ("POST", "/time/entries", {**TIME_ENTRY, "emailResourceFlag": True, "addToInternalAnalysisFlag": True}),
        ("POST", "/service/tickets", {"summary": "s", "company": {"id": 1}}),
        ("POST", "/system/documents", {"recordType": "Ticket", "recordId": 3, "privateFlag": True}),
        ("POST", "/system/documents", {"recordType": "Company", "recordId": 3}),
        ("GET", "/service/tickets/5/notes", None),
    ],
)  # fmt: skip
def test_internal_requests_are_not_customer_visible(method, path, body):
    assert _risks(method, path, body) == (frozenset(), ())


def test_time_entry_defaults_send_nothing_to_anyone():
    op = build_request("POST", "/time/entries", None, TIME_ENTRY).operation
    assert customer_visible(op, {**TIME_ENTRY, "emailContactFlag": True})
    defaults = build_request("POST", "/time/entries/defaults", None, TIME_ENTRY).operation
    assert customer_visible(defaults, {**TIME_ENTRY, "emailContactFlag": True}) == ()


def test_policy_rules_match_the_runtime_risk_and_explain_why():
    policy = parse_policy(
        {
            "version": "1",
            "default": "allow",
            "operations": {
                "rules": [
                    {"id": "writes", "match": {"risk": ["Write"]}, "action": "allow"},
                    {
                        "id": "customer",
                        "match": {"risk": "customervisible", "method": ["POST"]},
                        "action": "deny",
                        "reason": "No customer contact from agents.",
                    },
                ]
            },
        }
    )
    engine = PolicyEngine(policy)
    visible = CallContext.for_request(
        "execute_api_call",
        grant="g",
        request=build_request(
            "POST", "/service/tickets/5/notes", None, {"text": "x", "resolutionFlag": True}
        ),
    )
    decision = engine.decide(visible)
    assert (decision.action, decision.rule) == ("deny", "customer")
    assert "resolutionFlag" in decision.reason
    internal = CallContext.for_request(
        "execute_api_call",
        grant="g",
        request=build_request(
            "POST", "/service/tickets/5/notes", None, {"text": "x", "internalAnalysisFlag": True}
        ),
    )
    assert engine.decide(internal).action == "allow"
    # A PATCH is not a POST: the other keys of the match still apply.
    patch = CallContext.for_request(
        "execute_api_call",
        grant="g",
        request=build_request(
            "PATCH",
            "/service/tickets/5/notes/2",
            None,
            [{"op": "replace", "path": "resolutionFlag", "value": True}],
        ),
    )
    assert engine.decide(patch).action == "allow"


def test_unknown_risk_names_are_refused_with_the_runtime_class_suggested():
    with pytest.raises(PolicyError, match="CustomerVisible"):
        parse_policy(
            {
                "version": "1",
                "default": "allow",
                "operations": {"rules": [{"match": {"risk": "CustomerVisibel"}, "action": "deny"}]},
            }
        )


def test_default_policy_asks_for_approval_on_customer_visible_writes():
    engine = PolicyEngine(load_default_policy())
    call = CallContext.for_request(
        "execute_api_call",
        grant="g",
        request=build_request("POST", "/time/entries", None, {**TIME_ENTRY, "emailCcFlag": True}),
    )
    decision = engine.preview(call)
    assert (decision.action, decision.rule) == (
        "require_approval",
        "customer-visible-needs-approval",
    )


# -- over MCP against the sandbox ------------------------------------------------------------


@pytest.fixture(scope="module")
def sandbox():
    handle = start_sandbox_thread()
    yield handle
    handle.stop()


def _answer(action: str, approve: bool | None = None):
    async def callback(context, params):
        callback.asked.append(params.message)
        return ElicitResult(
            action=action, content={"approve": approve} if approve is not None else None
        )

    callback.asked = []
    return callback


def _notes_posted(sandbox, ticket: int) -> list[dict]:
    return [
        r
        for r in sandbox.requests
        if r["method"] == "POST" and r["path"].endswith(f"/service/tickets/{ticket}/notes")
    ]


async def test_a_discussion_note_needs_approval_and_an_internal_note_does_not(tmp_path, sandbox):
    settings = Settings.from_env(dict(sandbox.credentials))
    gateway = Gateway.from_options(GatewayOptions(data_dir=tmp_path), settings=settings)
    server = build_server(gateway)
    discussion = {
        "path": "/service/tickets/1/notes",
        "method": "POST",
        "data": {"text": "We replaced your printer's toner.", "detailDescriptionFlag": True},
    }
    sandbox.clear_requests()
    declined = _answer("decline")
    async with Client(server, elicitation_callback=declined) as client:
        refused = await client.call_tool("execute_api_call", discussion)
        raw = await client.call_tool(
            "send_raw_api_request",
            {"raw_request": 'POST /service/tickets/1/notes {"text": "hi", "resolutionFlag": true}'},
        )
    assert refused.is_error and raw.is_error
    assert len(declined.asked) == 2
    assert "customer" in declined.asked[0] and "detailDescriptionFlag" in declined.asked[0]
    assert _notes_posted(sandbox, 1) == []

    async with Client(server) as client:  # a client that cannot ask a person
        internal = await client.call_tool(
            "execute_api_call",
            {
                "path": "/service/tickets/1/notes",
                "method": "POST",
                "data": {"text": "Toner ordered", "internalAnalysisFlag": True},
            },
        )
        assert not internal.is_error, internal.content
        refused = await client.call_tool("execute_api_call", discussion)
        assert refused.is_error
    assert len(_notes_posted(sandbox, 1)) == 1

    approved = _answer("accept", approve=True)
    async with Client(server, elicitation_callback=approved) as client:
        sent = await client.call_tool("execute_api_call", discussion)
    assert not sent.is_error, sent.content
    assert len(_notes_posted(sandbox, 1)) == 2


def test_the_canonical_request_lists_its_runtime_risks_for_request_conditions():
    note = canonical_request(
        "POST", "/service/tickets/5/notes", None, {"text": "x", "resolutionFlag": True}
    )
    assert note.risks == ("Write", CUSTOMER_VISIBLE)
    assert note.as_dict()["risks"] == ["Write", CUSTOMER_VISIBLE]
    internal = canonical_request(
        "POST", "/service/tickets/5/notes", None, {"text": "x", "internalAnalysisFlag": True}
    )
    assert internal.risks == ("Write",)
