"""The policy decides on exactly what is sent (security round 2, issue #10).

Every test drives the real MCP server with the Python SDK client against a standalone sandbox
over real HTTP, and counts what reached the sandbox through its request log.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client
from mcp import types as mt

from cwm_gateway.catalog import example_body, find_operation
from cwm_gateway.compact import default_fields_param
from cwm_gateway.config import Settings
from cwm_gateway.core import Gateway, GatewayOptions
from cwm_gateway.sandbox.runner import start_sandbox_thread
from cwm_gateway.server import FAILURE_META, build_server
from cwm_generated.registry import BY_ID
from tests.loopback import LoopbackServer, Reply


@pytest.fixture(scope="module")
def sandbox():
    handle = start_sandbox_thread()
    yield handle
    handle.stop()


def _gateway(sandbox, tmp_path: Path, policy: dict[str, Any] | None = None) -> Gateway:
    policy_path = None
    if policy is not None:
        policy_path = tmp_path / "policy.yaml"
        policy_path.write_text(yaml.safe_dump(policy))
    return Gateway.from_options(
        GatewayOptions(policy_path=policy_path, data_dir=tmp_path / "state"),
        settings=Settings.from_env(dict(sandbox.credentials)),
    )


def _text(result: mt.CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, mt.TextContent))


async def _calls(server, calls: list[tuple[str, dict[str, Any]]], **client_kwargs):
    async with Client(server, **client_kwargs) as client:
        return [await client.call_tool(name, args) for name, args in calls]


def _sent(sandbox, before: int) -> list[dict[str, Any]]:
    """What reached the sandbox since ``before``, less the reference-data reads that value
    checks make before the policy decides (GETs of boards, statuses, the ticket itself...):
    GETs with their own ``fields``, not the compact default the gateway sends for a tool call."""

    def reference_read(r: dict[str, Any]) -> bool:
        if r["method"] != "GET" or "fields=" not in r["query"]:
            return False
        fields = parse_qs(r["query"]).get("fields", [""])[0]
        op = BY_ID.get(r.get("operation_id") or "")
        return op is None or fields != default_fields_param(op)

    return [r for r in sandbox.requests[before:] if not reference_read(r)]


def _patch(path: str, value: Any = True) -> list[dict[str, Any]]:
    return [{"op": "replace", "path": path, "value": value}]


# -- 1. the default policy keeps members' access with people ----------------------------------


async def test_default_policy_denies_member_access_changes(sandbox, tmp_path):
    server = build_server(_gateway(sandbox, tmp_path))
    before = len(sandbox.requests)
    attempts = [
        ("PATCH", "/system/members/1", _patch("securityRole/id", 1)),
        ("PATCH", "/system/members/1", _patch("adminFlag")),
        ("PATCH", "/system/members/1", _patch("/Password/", "hunter22")),
        ("POST", "/system/members/abc/deactivateIamMember", None),
        ("POST", "/system/members/1/linkSsoUser", {}),
        ("PUT", "/system/members/1", example_body(find_operation("/system/members/{id}", "PUT"))),
    ]
    results = await _calls(
        server,
        [("execute_api_call", {"method": m, "path": p, "data": d}) for m, p, d in attempts],
    )
    for (method, path, _), result in zip(attempts, results, strict=True):
        assert result.is_error, (method, path)
        assert "not allowed" in _text(result) or "Refused by policy" in _text(result)
    assert _sent(sandbox, before) == []
    # An ordinary change to a member is still possible.
    ok = await _calls(
        server,
        [
            (
                "execute_api_call",
                {"method": "PATCH", "path": "/system/members/1", "data": _patch("title", "Lead")},
            )
        ],
    )
    assert not ok[0].is_error, _text(ok[0])
    assert [r["method"] for r in _sent(sandbox, before)] == ["PATCH"]


# -- 2. PATCH op paths in every spelling meet the same rule -----------------------------------

_CLOSE_SPELLINGS = [
    "closedFlag",
    "/closedFlag",
    "closedFlag/",
    "//closedFlag",
    "ClosedFlag",
    "CLOSEDFLAG",
]
_STATUS_SPELLINGS = ["status/id", "/status", "status/", "/status/id/", "Status/Id", "status/name"]

_PATCH_POLICY = {
    "version": "1",
    "default": "allow",
    "operations": {
        "default": "allow",
        "rules": [
            {
                "id": "no-closing",
                "match": {
                    "method": ["PATCH"],
                    "path": "/service/tickets/{id}",
                    "where": [
                        {"field": "body.*.path", "op": "in", "value": ["closedFlag", "status"]}
                    ],
                },
                "action": "deny",
                "reason": "Agents do not close tickets.",
            }
        ],
    },
}


async def test_patch_paths_are_judged_in_canonical_form(sandbox, tmp_path):
    server = build_server(_gateway(sandbox, tmp_path, _PATCH_POLICY))
    before = len(sandbox.requests)
    calls = []
    for spelling in _CLOSE_SPELLINGS:
        body = _patch(spelling, True)
        calls.append(
            ("execute_api_call", {"method": "PATCH", "path": "/service/tickets/1", "data": body})
        )
        calls.append(
            (
                "send_raw_api_request",
                {"raw_request": f"PATCH /service/tickets/1 {json.dumps(body)}"},
            )
        )
    for spelling in _STATUS_SPELLINGS:
        # A status of ticket 1's board, so only the policy can stop the change.
        value = (
            {"id": 14}
            if spelling.strip("/").lower() == "status"
            else (14 if "id" in spelling.lower() else "Closed")
        )
        body = _patch(spelling, value)
        calls.append(
            ("execute_api_call", {"method": "patch", "path": "/service/tickets/1", "data": body})
        )
        calls.append(
            (
                "send_raw_api_request",
                {"raw_request": f"patch /Service/Tickets/1/ {json.dumps(body)}"},
            )
        )
    results = await _calls(server, calls)
    for (tool, args), result in zip(calls, results, strict=True):
        assert result.is_error and "Agents do not close tickets" in _text(result), (tool, args)
    assert _sent(sandbox, before) == []
    # The canonical form is what would be sent: a summary change passes.
    ok = await _calls(
        server,
        [
            (
                "execute_api_call",
                {"method": "PATCH", "path": "/service/tickets/1", "data": _patch("/Summary", "x")},
            )
        ],
    )
    assert not ok[0].is_error, _text(ok[0])
    sent = _sent(sandbox, before)
    assert [r["method"] for r in sent] == ["PATCH"]


# -- 3. tool-level conditions see canonical arguments, for both upstream tools ----------------

_TOOL_POLICY = {
    "version": "1",
    "default": "allow",
    "tools": {
        "execute_api_call": {
            "deny_if": [
                {"field": "args.path", "op": "regex", "value": "^/system/"},
                {"field": "args.method", "op": "in", "value": ["POST", "PUT", "PATCH", "DELETE"]},
            ]
        }
    },
}

_SYSTEM_SPELLINGS = [
    "/system/members",
    "/System/members",
    "system/members",
    "/v4_6_release/apis/3.0/system/members",
    " /system/members",
    "/%73ystem/members",
    "/SYSTEM/MEMBERS",
    "/system//members",
]


async def test_tool_conditions_see_canonical_arguments(sandbox, tmp_path):
    server = build_server(_gateway(sandbox, tmp_path, _TOOL_POLICY))
    before = len(sandbox.requests)
    calls: list[tuple[str, dict[str, Any]]] = []
    for path in _SYSTEM_SPELLINGS:
        calls.append(("execute_api_call", {"path": path}))
        calls.append(("send_raw_api_request", {"raw_request": f"GET {path.strip()}"}))
        calls.append(("read_api", {"path": path}))
    for method in ("post", "Post", "POST", "poſt", "POſT"):
        body = {"summary": "x", "company": {"id": 1}}
        calls.append(
            ("execute_api_call", {"method": method, "path": "/service/tickets", "data": body})
        )
        calls.append(
            (
                "send_raw_api_request",
                {"raw_request": f"{method} /service/tickets {json.dumps(body)}"},
            )
        )
    results = await _calls(server, calls)
    for (tool, args), result in zip(calls, results, strict=True):
        assert result.is_error, (tool, args)
    assert _sent(sandbox, before) == []
    ok = await _calls(
        server, [("send_raw_api_request", {"raw_request": "GET /service/tickets?pageSize=1"})]
    )
    assert not ok[0].is_error, _text(ok[0])


# -- property: random spellings of a denied request send nothing, decided alike ---------------

_letters = st.sampled_from(["lower", "upper", "title", "keep"])


def _respell(path: str, case: str, lead: str, trail: str, prefix: bool, encode: int) -> str:
    segs = path.strip("/").split("/")
    out = []
    for i, seg in enumerate(segs):
        seg = {"lower": seg.lower(), "upper": seg.upper(), "title": seg.title(), "keep": seg}[case]
        if i == encode % len(segs) and seg and seg[0].isalpha():
            seg = f"%{ord(seg[0]):02X}" + seg[1:]
        out.append(seg)
    text = lead + "/".join(out) + trail
    return ("/v4_6_release/apis/3.0/" + text.lstrip("/")) if prefix else text


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    case=_letters,
    lead=st.sampled_from(["/", "", " /", "//"]),
    trail=st.sampled_from(["", "/", " "]),
    prefix=st.booleans(),
    encode=st.integers(0, 5),
    field_case=_letters,
    field_slashes=st.sampled_from(["{}", "/{}", "{}/", "/{}/", "//{}"]),
    tool=st.sampled_from(["execute_api_call", "send_raw_api_request"]),
)
def test_random_spellings_of_a_denied_request_send_nothing(
    sandbox, tmp_path_factory, case, lead, trail, prefix, encode, field_case, field_slashes, tool
):
    server = _SPELLING_SERVER.get("server")
    if server is None:
        server = _SPELLING_SERVER["server"] = build_server(
            _gateway(sandbox, tmp_path_factory.mktemp("spell"), _PATCH_POLICY)
        )
    path = _respell("/service/tickets/1", case, lead, trail, prefix, encode)
    name = {
        "lower": "closedflag",
        "upper": "CLOSEDFLAG",
        "title": "Closedflag",
        "keep": "closedFlag",
    }[field_case]
    body = _patch(field_slashes.format(name), True)
    if tool == "execute_api_call":
        args: dict[str, Any] = {"method": "PATCH", "path": path, "data": body}
    else:
        if path != path.strip():
            path = path.strip()
        args = {"raw_request": f"PATCH {path} {json.dumps(body)}"}
    before = len(sandbox.requests)
    (result,) = asyncio.run(_calls(server, [(tool, args)]))
    assert result.is_error
    text = _text(result)
    # Either the canonical decision, or (a spelling that is no path at all) a validation error.
    assert "Agents do not close tickets" in text or "path" in text.lower(), text
    assert _sent(sandbox, before) == []


_SPELLING_SERVER: dict[str, Any] = {}


# -- 4-6, 7. approval: prepared once, limits first, whole body, real booleans -----------------

_APPROVE_GETS = {
    "version": "1",
    "default": "allow",
    "operations": {
        "default": "allow",
        "rules": [
            {
                "id": "ask-for-ticket-lists",
                "match": {"method": ["GET"], "path": "/service/tickets"},
                "action": "require_approval",
                "reason": "test",
            }
        ],
    },
}


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_the_approved_request_is_the_request_sent(sandbox, tmp_path, mode):
    gateway = _gateway(sandbox, tmp_path, _APPROVE_GETS)
    server = build_server(gateway)
    gateway.memory.save("/service/tickets", "GET", "one ticket", {"pageSize": 1})
    shown: list[str] = []

    async def answer(context: Any, params: Any) -> Any:
        shown.append(params.message)
        if len(shown) == 1:
            # A parallel save between the question and the answer changes the saved params.
            gateway.memory.save("/service/tickets", "GET", "one ticket", {"pageSize": 1000})
            gateway.memory.delete(
                gateway.memory.find("/service/tickets", "GET", {"pageSize": 1}).id
            )
        return mt.ElicitResult(action="accept", content={"approve": True})

    before = len(sandbox.requests)
    (result,) = await _calls(
        server,
        [("execute_api_call", {"path": "/service/tickets"})],
        mode=mode,
        elicitation_callback=answer,
    )
    sent = _sent(sandbox, before)
    assert not result.is_error, _text(result)
    assert len(sent) == 1
    page_size = dict(p.split("=", 1) for p in sent[0]["query"].split("&"))["pageSize"]
    # What was sent is exactly what the last question the person approved showed.
    assert f"pageSize={page_size}" in shown[-1]
    assert sum(f"pageSize={page_size}" in q for q in shown) >= 1
    if mode == "legacy":  # one round: prepared once, the later save does not change it
        assert page_size == "1" and len(shown) == 1


async def test_no_one_is_asked_when_approval_limits_are_full(sandbox, tmp_path):
    policy = {
        "version": "1",
        "default": "allow",
        "operations": {
            "default": "allow",
            "rules": [
                {
                    "id": "deletes",
                    "match": {"risk": ["Destructive"]},
                    "action": "require_approval",
                    "limits": [
                        {"counter": "approvals", "window": "hour", "max": 2, "scope": "grant"}
                    ],
                }
            ],
        },
    }
    server = build_server(_gateway(sandbox, tmp_path, policy))
    asked: list[str] = []

    async def answer(context: Any, params: Any) -> Any:
        asked.append(params.message)
        return mt.ElicitResult(action="accept", content={"approve": True})

    calls = [
        ("execute_api_call", {"method": "DELETE", "path": f"/service/tickets/{900 + i}"})
        for i in range(6)
    ]
    results = await _calls(server, calls, elicitation_callback=answer)
    assert len(asked) == 2
    assert sum(r.is_error and "Rate limit" in _text(r) for r in results) == 4


async def test_a_body_too_large_to_show_is_refused_unseen(sandbox, tmp_path):
    server = build_server(_gateway(sandbox, tmp_path))  # default policy: Financial needs approval
    asked: list[str] = []

    async def answer(context: Any, params: Any) -> Any:
        asked.append(params.message)
        return mt.ElicitResult(action="accept", content={"approve": True})

    item = {
        "description": "Widget " + "x" * 60,
        "lineNumber": 1,
        "product": {"id": 1},
        "quantity": 1.0,
        "unitOfMeasure": {"id": 1},
    }
    body = [dict(item, lineNumber=i + 1) for i in range(400)]
    body[20]["unitCost"] = 11111
    before = len(sandbox.requests)
    (result,) = await _calls(
        server,
        [
            (
                "execute_api_call",
                {
                    "method": "PUT",
                    "path": "/procurement/purchaseorders/1/lineitems/bulk",
                    "data": body,
                },
            )
        ],
        elicitation_callback=answer,
    )
    assert result.is_error and "more than an approval prompt shows" in _text(result)
    assert asked == [] and _sent(sandbox, before) == []
    # A smaller body is shown whole, item 21 included.
    small = body[:25]
    (result,) = await _calls(
        server,
        [
            (
                "execute_api_call",
                {
                    "method": "PUT",
                    "path": "/procurement/purchaseorders/1/lineitems/bulk",
                    "data": small,
                },
            )
        ],
        elicitation_callback=answer,
    )
    assert "11111" in asked[-1] and "Request fingerprint" in asked[-1]


async def test_only_a_real_boolean_approves(sandbox, tmp_path):
    server = build_server(_gateway(sandbox, tmp_path))

    async def answer(context: Any, params: Any) -> Any:
        return mt.ElicitResult(action="accept", content={"approve": "true"})

    before = len(sandbox.requests)
    for mode in ("auto", "legacy"):
        (result,) = await _calls(
            server,
            [("execute_api_call", {"method": "DELETE", "path": "/service/tickets/5"})],
            mode=mode,
            elicitation_callback=answer,
        )
        assert result.is_error, mode
    assert _sent(sandbox, before) == []


async def test_soft_deletes_and_merges_need_approval(sandbox, tmp_path):
    server = build_server(_gateway(sandbox, tmp_path))
    before = len(sandbox.requests)
    calls = [
        (
            "execute_api_call",
            {"method": "PATCH", "path": "/company/companies/2", "data": _patch("/DeletedFlag")},
        ),
        (
            "execute_api_call",
            {"method": "PATCH", "path": "/company/contacts/2", "data": _patch("inactiveFlag")},
        ),
        (
            "execute_api_call",
            {"method": "POST", "path": "/company/companies/2/merge", "data": {"toCompanyId": 3}},
        ),
    ]
    results = await _calls(server, calls)  # no elicitation: approval cannot be given
    for call, result in zip(calls, results, strict=True):
        assert result.is_error and "approval" in _text(result).lower(), call
    assert _sent(sandbox, before) == []


# -- 7. hidden operations are indistinguishable from unknown ones ------------------------------


async def test_hidden_operations_look_like_unknown_ones(sandbox, tmp_path):
    policy = {
        "version": "1",
        "default": "allow",
        "operations": {
            "default": "allow",
            "rules": [
                {"id": "hide-members", "match": {"path": "/system/members*"}, "action": "hide"}
            ],
        },
    }
    server = build_server(_gateway(sandbox, tmp_path, policy))

    def calls(resource: str) -> list[tuple[str, dict[str, Any]]]:
        return [
            ("execute_api_call", {"path": f"/system/{resource}/1"}),
            ("send_raw_api_request", {"raw_request": f"GET /system/{resource}/1"}),
            ("get_api_endpoint_details", {"path": f"/system/{resource}/{{id}}"}),
            ("get_api_endpoint_details", {"path": f"/system/{resource}/1"}),
            (
                "save_to_fast_memory",
                {"path": f"/system/{resource}/1", "method": "GET", "description": "x"},
            ),
        ]

    before = len(sandbox.requests)
    hidden = await _calls(server, calls("members"))
    unknown = await _calls(server, calls("membrz"))
    for (_, args), h, u in zip(calls("members"), hidden, unknown, strict=True):
        assert h.is_error and u.is_error
        assert h.meta[FAILURE_META]["error"] == u.meta[FAILURE_META]["error"]

        def shape(text: str, word: str) -> str:
            return re.sub(r"did you mean [^?]*\?", "", text).replace(word, "X")

        assert shape(_text(h), "members") == shape(_text(u), "membrz")
        # No suggestion names a hidden operation.
        rest = _text(h).replace(args.get("path", "-"), "").replace(args.get("raw_request", "-"), "")
        for template in ("/system/members/{", "/system/members,", "/system/members?"):
            assert template not in rest
    assert _sent(sandbox, before) == []


# -- 8. smaller findings ------------------------------------------------------------------------


async def test_echoed_credentials_never_reach_the_client(tmp_path):
    with LoopbackServer() as upstream:

        def echo(request):
            return Reply(json=[{"id": 1, "summary": "echo", "headers": request.headers}])

        upstream.handle("GET", "/v4_6_release/apis/3.0/service/tickets", echo)
        env = {
            "CONNECTWISE_API_URL": upstream.url + "/v4_6_release/apis/3.0",
            "CONNECTWISE_COMPANY_ID": "acme",
            "CONNECTWISE_PUBLIC_KEY": "pubkey123",
            "CONNECTWISE_PRIVATE_KEY": "privkey-very-secret-456",
            "CONNECTWISE_CLIENT_ID": "client-1",
        }
        settings_ = Settings.from_env(env)
        gateway = Gateway.from_options(GatewayOptions(data_dir=tmp_path), settings=settings_)
        (result,) = await _calls(
            build_server(gateway),
            [
                (
                    "execute_api_call",
                    {"path": "/service/tickets", "params": {"fields": "id,summary"}},
                )
            ],
        )
        dumped = _text(result) + json.dumps(result.structured_content)
        token = settings_.authorization_header().removeprefix("Basic ")
        assert upstream.requests, "the call reached the upstream"
        assert "privkey-very-secret-456" not in dumped and token not in dumped


async def test_truncated_json_is_an_error_and_gets_are_retried(tmp_path):
    with LoopbackServer() as upstream:
        cut = Reply(body=b'[{"id": 1, "summ', headers={"content-type": "application/json"})
        upstream.script("GET", "/v4_6_release/apis/3.0/service/tickets", cut)
        env = {
            "CONNECTWISE_API_URL": upstream.url + "/v4_6_release/apis/3.0",
            "CONNECTWISE_COMPANY_ID": "acme",
            "CONNECTWISE_PUBLIC_KEY": "pub",
            "CONNECTWISE_PRIVATE_KEY": "privkey-secret",
            "CONNECTWISE_CLIENT_ID": "client-1",
            "CONNECTWISE_BACKOFF_BASE": "0.01",
        }
        gateway = Gateway.from_options(
            GatewayOptions(data_dir=tmp_path), settings=Settings.from_env(env)
        )
        (result,) = await _calls(
            build_server(gateway), [("execute_api_call", {"path": "/service/tickets"})]
        )
        assert result.is_error and "not valid JSON" in _text(result)
        assert len(upstream.requests) > 1  # retried like any transient failure


async def test_huge_path_ids_and_inputs_are_refused_cleanly(sandbox, tmp_path):
    server = build_server(_gateway(sandbox, tmp_path))
    before = len(sandbox.requests)
    huge_id = "9" * 4300
    started = time.perf_counter()
    results = await _calls(
        server,
        [
            ("execute_api_call", {"method": "DELETE", "path": f"/service/tickets/{huge_id}"}),
            (
                "execute_api_call",
                {
                    "method": "POST",
                    "path": "/service/tickets",
                    "data": {"summary": "x" * 10_000_000},
                },
            ),
            (
                "execute_api_call",
                {"path": "/service/tickets", "params": {f"p{i}": i for i in range(100_000)}},
            ),
            (
                "send_raw_api_request",
                {
                    "raw_request": "POST /service/tickets "
                    + json.dumps({"summary": "y" * 10_000_000})
                },
            ),
        ],
    )
    elapsed = time.perf_counter() - started
    for result in results:
        assert result.is_error
        size = len(_text(result)) + len(json.dumps(result.structured_content or {}))
        assert size < 5_000, "the refusal must not echo the input"
    assert "at most" in _text(results[0])
    assert "at most" in _text(results[1]) and "at most" in _text(results[2])
    assert _sent(sandbox, before) == []
    assert elapsed < 60  # a sanity bound only; speed is the benchmarks' job


async def test_fast_memory_caps(sandbox, tmp_path, monkeypatch):
    monkeypatch.setenv("CWM_GATEWAY_MAX_MEMORY_ENTRIES", "3")
    server = build_server(_gateway(sandbox, tmp_path))
    big = {"conditions": "summary contains '" + "x" * 20_000 + "'"}
    calls = [
        (
            "save_to_fast_memory",
            {"path": "/service/tickets", "method": "GET", "description": "big", "params": big},
        )
    ]
    calls += [
        (
            "save_to_fast_memory",
            {
                "path": "/service/tickets",
                "method": "GET",
                "description": f"q{i}",
                "params": {"pageSize": i + 1},
            },
        )
        for i in range(4)
    ]
    results = await _calls(server, calls)
    assert results[0].is_error and "at most" in _text(results[0])
    assert [r.is_error for r in results[1:]] == [False, False, False, True]
    assert "full" in _text(results[4])
