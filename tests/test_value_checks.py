"""Values checked against reference data before sending: over MCP and through the typed client,
against the sandbox over real HTTP (and a loopback server for unreadable lists)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from mcp import Client

from cwm_gateway.client import AsyncClient
from cwm_gateway.config import Settings
from cwm_gateway.core import Gateway, GatewayOptions
from cwm_gateway.errors import RequestValidationError
from cwm_gateway.refdata import ReferenceData
from cwm_gateway.sandbox.runner import start_sandbox_thread
from cwm_gateway.server import FAILURE_META, build_server
from cwm_gateway.validation import canonical_request
from cwm_gateway.value_checks import check_request
from tests.loopback import LoopbackServer, Reply


@pytest.fixture(scope="module")
def sandbox():
    handle = start_sandbox_thread()
    yield handle
    handle.stop()


def _settings(sandbox) -> Settings:
    return Settings.from_env(dict(sandbox.credentials))


def _gateway(tmp_path: Path, sandbox, policy: Path | None = None) -> Gateway:
    return Gateway.from_options(
        GatewayOptions(data_dir=tmp_path, policy_path=policy), settings=_settings(sandbox)
    )


def _text(result) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


def _patches(sandbox, ticket: int) -> list[dict]:
    return [
        r
        for r in sandbox.requests
        if r["method"] == "PATCH" and r["path"].endswith(f"/service/tickets/{ticket}")
    ]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _ticket(client: AsyncClient, ticket: int) -> dict:
    return (await client.call("GET", f"/service/tickets/{ticket}")).json


async def _statuses(client: AsyncClient, board: int) -> list[dict]:
    return (await client.call("GET", f"/service/boards/{board}/statuses")).json


# -- over MCP --------------------------------------------------------------------------------


async def test_a_status_of_another_board_is_refused_before_sending(tmp_path, sandbox):
    async with AsyncClient(_settings(sandbox)) as cw:
        ticket = await _ticket(cw, 3)
        board = ticket["board"]["id"]
        other = next(
            b["id"] for b in (await cw.call("GET", "/service/boards")).json if b["id"] != board
        )
        foreign = (await _statuses(cw, other))[0]["id"]
        await cw.call("POST", f"/service/boards/{other}/statuses", body={"name": "Awaiting Parts"})
        own = [s["name"] for s in await _statuses(cw, board)]
    gateway = _gateway(tmp_path, sandbox)
    sandbox.clear_requests()
    async with Client(build_server(gateway)) as client:
        by_id = await client.call_tool(
            "execute_api_call",
            {
                "path": "/service/tickets/3",
                "method": "PATCH",
                "data": [{"op": "replace", "path": "status/id", "value": foreign}],
            },
        )
        by_name = await client.call_tool(
            "send_raw_api_request",
            {
                "raw_request": 'PATCH /service/tickets/3 [{"op": "replace", "path": "status", '
                '"value": {"name": "Awaiting Part"}}]'
            },
        )
    assert by_id.is_error and by_name.is_error
    assert f"status id {foreign} does not exist on board" in _text(by_id)
    assert "'Awaiting Part' does not exist on board" in _text(by_name)
    for result in (by_id, by_name):
        problem = result.meta[FAILURE_META]["problems"][0]
        assert problem["where"] == "body[0].value"
        assert all(repr(name) in problem["hint"] for name in own)  # the board's valid statuses
    assert _patches(sandbox, 3) == []


async def test_closed_by_name_resolves_to_the_boards_closed_status(tmp_path, sandbox):
    async with AsyncClient(_settings(sandbox)) as cw:
        ticket = await _ticket(cw, 4)
        assert ticket["closedFlag"] is False  # open before: closing it is what the test shows
        closed = {
            s["name"]: s["id"]
            for s in await _statuses(cw, ticket["board"]["id"])
            if s["closedStatus"]
        }
    gateway = _gateway(tmp_path, sandbox)
    sandbox.clear_requests()
    async with Client(build_server(gateway)) as client:
        result = await client.call_tool(
            "execute_api_call",
            {
                "path": "/service/tickets/4",
                "method": "PATCH",
                "data": [{"op": "replace", "path": "status", "value": {"name": "closed"}}],
            },
        )
    assert not result.is_error, _text(result)
    assert any("resolved to status 'Closed'" in n for n in result.structured_content["notes"])
    assert len(_patches(sandbox, 4)) == 1
    async with AsyncClient(_settings(sandbox)) as cw:
        after = await _ticket(cw, 4)
    assert after["status"]["id"] == closed["Closed"]
    assert after["closedFlag"] is True and after["closedDate"]
    assert after["closedFlag"] is True and after["closedDate"]  # a closed status closes it


async def test_a_closing_word_picks_the_closed_status_and_the_policy_sees_the_id(tmp_path, sandbox):
    async with AsyncClient(_settings(sandbox)) as cw:
        ticket = await _ticket(cw, 6)
        closed = next(
            s["id"] for s in await _statuses(cw, ticket["board"]["id"]) if s["name"] == "Closed"
        )
    policy = tmp_path / "policy.json"
    policy.write_text(
        json.dumps(
            {
                "version": "1",
                "default": "allow",
                "operations": {
                    "rules": [
                        {
                            "id": "no-closing",
                            "match": {
                                "method": "PATCH",
                                "path": "/service/tickets/{id}",
                                "where": [
                                    {"field": "body.*.value.id", "op": "eq", "value": closed}
                                ],
                            },
                            "action": "deny",
                            "reason": "Agents do not close tickets.",
                        }
                    ]
                },
            }
        )
    )
    gateway = _gateway(tmp_path / "data", sandbox, policy)
    sandbox.clear_requests()
    async with Client(build_server(gateway)) as client:
        result = await client.call_tool(
            "execute_api_call",
            {
                "path": "/service/tickets/6",
                "method": "PATCH",
                "data": [{"op": "replace", "path": "status/name", "value": "Complete"}],
            },
        )
    assert result.is_error and "Agents do not close tickets" in _text(result)
    assert _patches(sandbox, 6) == []


async def test_unknown_work_role_work_type_and_member_are_refused_with_choices(tmp_path, sandbox):
    gateway = _gateway(tmp_path, sandbox)
    sandbox.clear_requests()
    entry = {
        "chargeToId": 2,
        "chargeToType": "ServiceTicket",
        "member": {"identifier": "jsmiht"},
        "workRole": {"name": "Enginer"},
        "workType": {"id": 9999},
        "timeStart": "2026-01-05T09:00:00Z",
        "timeEnd": "2026-01-05T10:00:00Z",
        "notes": "Replaced the toner",
        "addToInternalAnalysisFlag": True,
    }
    async with Client(build_server(gateway)) as client:
        refused = await client.call_tool(
            "execute_api_call", {"path": "/time/entries", "method": "POST", "data": entry}
        )
        assert refused.is_error
        problems = {p["where"]: p for p in refused.meta[FAILURE_META]["problems"]}
        assert set(problems) == {"body.member", "body.workRole", "body.workType"}
        assert "did you mean 'jsmith'" in problems["body.member"]["hint"]
        assert "work type id 9999 does not exist" in problems["body.workType"]["message"]
        assert "valid work roles" in problems["body.workRole"]["hint"]
        assert not [r for r in sandbox.requests if r["method"] == "POST"]

        fixed = {
            **entry,
            "member": {"identifier": "JSMITH"},
            "workType": {"name": "remote support"},
        }
        fixed.pop("workRole")
        sent = await client.call_tool(
            "execute_api_call",
            {"path": "/time/entries", "method": "POST", "data": fixed, "full": True},
        )
    assert not sent.is_error, _text(sent)
    data = sent.structured_content["data"]
    assert data["member"]["identifier"] == "jsmith"
    assert data["workType"]["name"] == "Remote Support"


# -- the checker on its own, through the typed client ------------------------------------------


async def test_new_ticket_names_resolve_on_the_named_board(sandbox):
    async with AsyncClient(_settings(sandbox)) as cw:
        refdata = ReferenceData(cw)
        request = canonical_request(
            "POST",
            "/service/tickets",
            None,
            {
                "summary": "Printer offline",
                "company": {
                    "identifier": (await cw.call("GET", "/company/companies/2")).json["identifier"]
                },
                "board": {"name": "help desk"},
                "status": {"name": "In Progress"},
                "type": {"name": "Incident"},
                "priority": {"name": "Priority 3 - Normal Response"},
            },
        )
        checked, notes = await check_request(request, refdata)
        body = checked.body
        assert body["board"]["name"] == "Help Desk"
        statuses = {s["name"]: s["id"] for s in await _statuses(cw, body["board"]["id"])}
        assert body["status"] == {"id": statuses["In Progress"], "name": "In Progress"}
        assert body["company"]["id"] == 2
        assert isinstance(body["type"]["id"], int) and isinstance(body["priority"]["id"], int)
        assert len(notes) == 5
        # The request as sent is the checked one: ConnectWise stores the resolved ids.
        created = (await cw.send(checked.spec)).json
        assert created["status"]["id"] == statuses["In Progress"]

        no_board = canonical_request(
            "POST",
            "/service/tickets",
            None,
            {"summary": "x", "company": {"id": 1}, "status": {"name": "Nope"}},
        )
        same, notes = await check_request(no_board, refdata)
        assert same is no_board and "No board given" in notes[0]

        with pytest.raises(RequestValidationError) as info:
            await check_request(
                canonical_request(
                    "POST",
                    "/service/tickets",
                    None,
                    {"summary": "x", "company": {"identifier": "NoSuchCo"}},
                ),
                refdata,
            )
        assert "no company has the identifier 'NoSuchCo'" in str(info.value)


async def test_lists_load_once_per_ttl_and_concurrent_lookups_share_a_load(sandbox):
    clock = Clock()
    async with AsyncClient(_settings(sandbox)) as cw:
        refdata = ReferenceData(cw, ttl=300, clock=clock)
        sandbox.clear_requests()
        results = await asyncio.gather(*[refdata.choices("work_roles") for _ in range(10)])
        assert all(r is results[0] for r in results)
        reads = [r for r in sandbox.requests if r["path"].endswith("/time/workRoles")]
        assert len(reads) == 1 and "fields=" in reads[0]["query"]
        clock.now += 299
        assert await refdata.choices("work_roles") is results[0]
        clock.now += 2
        assert await refdata.choices("work_roles") is not results[0]
        assert len([r for r in sandbox.requests if r["path"].endswith("/time/workRoles")]) == 2

        # A value created after the list was read is found (one reload on a miss, not more).
        await cw.call("POST", "/time/workRoles", body={"name": "Night Shift Engineer"})
        request = canonical_request(
            "PATCH",
            "/service/tickets/2",
            None,
            [{"op": "replace", "path": "workRole", "value": {"name": "Night Shift Engineer"}}],
        )
        with pytest.raises(RequestValidationError):
            await check_request(request, refdata)  # read moments ago: not reloaded yet
        clock.now += 20
        checked, _ = await check_request(request, refdata)
        assert checked.body[0]["value"]["name"] == "Night Shift Engineer"


async def test_an_unreadable_list_does_not_block_the_request():
    with LoopbackServer() as server:
        server.script(
            "GET",
            "/v4_6_release/apis/3.0/system/members",
            Reply(403, json={"code": "Forbidden", "message": "no access to members"}),
        )
        settings = Settings.from_env(
            {
                "CONNECTWISE_API_URL": server.url + "/v4_6_release/apis/3.0",
                "CONNECTWISE_COMPANY_ID": "acme",
                "CONNECTWISE_PUBLIC_KEY": "pub",
                "CONNECTWISE_PRIVATE_KEY": "priv",
                "CONNECTWISE_CLIENT_ID": "client",
            }
        )
        async with AsyncClient(settings) as cw:
            refdata = ReferenceData(cw)
            request = canonical_request(
                "POST",
                "/service/tickets/5/notes",
                None,
                {"text": "x", "internalAnalysisFlag": True, "member": {"identifier": "ghost"}},
            )
            for _ in range(3):
                same, notes = await check_request(request, refdata)
                assert same is request
                assert "member: not checked" in notes[0] and "403" in notes[0]
        # Remembered as unavailable: asked once, not on every call.
        assert len([r for r in server.requests if r.path.endswith("/system/members")]) == 1


async def test_closing_with_an_open_status_is_refused_with_the_closed_ones(sandbox):
    async with AsyncClient(_settings(sandbox)) as cw:
        refdata = ReferenceData(cw)
        request = canonical_request(
            "PATCH",
            "/service/tickets/7",
            None,
            [
                {"op": "replace", "path": "status", "value": {"name": "In Progress"}},
                {"op": "replace", "path": "closedFlag", "value": True},
            ],
        )
        with pytest.raises(RequestValidationError) as info:
            await check_request(request, refdata)
        (problem,) = info.value.problems
        assert "closedFlag is true but status 'In Progress'" in problem.message
        assert "'Resolved'" in problem.hint and "'Closed'" in problem.hint
        assert "'New'" not in problem.hint


async def test_lists_the_policy_hides_are_neither_read_nor_revealed(tmp_path, sandbox):
    policy = tmp_path / "policy.json"
    policy.write_text(
        json.dumps(
            {
                "version": "1",
                "default": "allow",
                "operations": {
                    "rules": [
                        {
                            "id": "no-members",
                            "match": {"path": "/system/members*"},
                            "action": "deny",
                        }
                    ]
                },
            }
        )
    )
    gateway = _gateway(tmp_path / "data", sandbox, policy)
    sandbox.clear_requests()
    note = {
        "text": "Called the client",
        "internalAnalysisFlag": True,
        "member": {"identifier": "jsmiht"},
    }
    async with Client(build_server(gateway)) as client:
        typo = await client.call_tool(
            "execute_api_call", {"path": "/service/tickets/2/notes", "method": "POST", "data": note}
        )
        note["member"] = {"identifier": "jsmith"}
        valid = await client.call_tool(
            "execute_api_call", {"path": "/service/tickets/2/notes", "method": "POST", "data": note}
        )
    # Not refused by the gateway with a did-you-mean from a list the caller may not read: sent
    # as given, and ConnectWise (here the sandbox) judges the member.
    assert "did you mean 'jsmith'" not in _text(typo) and "valid members" not in _text(typo)
    assert not [r for r in sandbox.requests if "/system/members" in r["path"]]
    assert len([r for r in sandbox.requests if r["method"] == "POST"]) == 2
    assert not valid.is_error, _text(valid)
    assert "the policy does not allow reading /system/members" in _text(valid)


def test_the_ttl_comes_from_the_environment_and_a_bad_value_keeps_the_default():
    from cwm_gateway.refdata import DEFAULT_TTL, ttl_from_env

    assert ttl_from_env({"CWM_GATEWAY_REFDATA_TTL": "60"}) == 60
    assert ttl_from_env({}) == DEFAULT_TTL
    for bad in ("soon", "0", "-5"):
        assert ttl_from_env({"CWM_GATEWAY_REFDATA_TTL": bad}) == DEFAULT_TTL
