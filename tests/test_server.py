"""The MCP tools through the SDK's in-memory client, against the sandbox over loopback HTTP."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import pytest
from mcp import Client
from mcp_types import ElicitResult

from cwm_gateway.config import Settings
from cwm_gateway.core import Gateway, GatewayOptions
from cwm_gateway.results import host_characters
from cwm_gateway.sandbox.runner import start_sandbox_thread
from cwm_gateway.server import build_server

TOOLS = {
    "search_api_endpoints",
    "natural_language_api_search",
    "list_api_categories",
    "get_category_endpoints",
    "get_api_endpoint_details",
    "execute_api_call",
    "send_raw_api_request",
    "save_to_fast_memory",
    "list_fast_memory",
    "delete_from_fast_memory",
    "clear_fast_memory",
    "read_api",
}


@pytest.fixture(scope="module")
def sandbox():
    handle = start_sandbox_thread()
    yield handle
    handle.stop()


def _gateway(tmp_path: Path, sandbox, policy: Path | None = None) -> Gateway:
    settings = Settings.from_env(dict(sandbox.credentials))
    return Gateway.from_options(
        GatewayOptions(data_dir=tmp_path, policy_path=policy), settings=settings
    )


@pytest.fixture
def gateway(tmp_path, sandbox):
    return _gateway(tmp_path, sandbox)


def _text(result) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


def _rows(result) -> list[dict]:
    """The items of a compact list result, as dicts (the table's columns and rows)."""
    table = result.structured_content["table"]
    return [dict(zip(table["columns"], row, strict=True)) for row in table["rows"]]


def _requests_to(sandbox, method: str, fragment: str) -> list[dict]:
    return [r for r in sandbox.requests if r["method"] == method and fragment in r["path"]]


async def test_tools_are_listed_with_truthful_annotations_and_output_schemas(gateway):
    async with Client(build_server(gateway)) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == TOOLS
    for name, t in tools.items():
        assert t.output_schema is not None, name
        assert t.description, name
    # Hints as a host reads them: an unset hint takes the MCP spec's default.
    defaults = {"read_only": False, "destructive": True, "idempotent": False, "open_world": True}

    def hint(tool: str, name: str) -> bool:
        value = getattr(tools[tool].annotations, f"{name}_hint")
        return defaults[name] if value is None else value

    # Every tool says whether it is read-only: that is the hint hosts auto-approve on.
    assert all(t.annotations.read_only_hint is not None for t in tools.values())
    assert hint("search_api_endpoints", "read_only") is True
    assert hint("search_api_endpoints", "open_world") is False
    assert hint("execute_api_call", "read_only") is False
    assert hint("execute_api_call", "destructive") is True
    assert hint("execute_api_call", "open_world") is True
    assert hint("send_raw_api_request", "destructive") is True
    assert hint("clear_fast_memory", "destructive") is True
    assert hint("clear_fast_memory", "open_world") is False
    assert hint("save_to_fast_memory", "read_only") is False
    assert hint("save_to_fast_memory", "destructive") is False
    # Hosts may auto-approve read_api: it only reads (it still reaches ConnectWise).
    assert hint("read_api", "read_only") is True
    assert hint("read_api", "open_world") is True
    # The approval is resolved by the server, never an argument the model can fill in.
    for name in ("execute_api_call", "read_api", "send_raw_api_request"):
        assert not {"approval", "prepared"} & set(tools[name].input_schema["properties"])


async def test_tools_list_is_small_described_and_clean(gateway):
    async with Client(build_server(gateway)) as client:
        listed = await client.list_tools()
    # The whole answer as a host re-serializes it (spaces, ASCII escapes, the envelope): 8,601
    # characters by a user's count when the compact tool array alone was 7,848.
    assert host_characters(listed) <= 8000, host_characters(listed)
    wire = json.dumps(listed.model_dump(mode="json", by_alias=True, exclude_none=True))
    assert wire.isascii(), "a non-ASCII character costs six when escaped"
    for t in listed.tools:
        assert "\n" not in t.description and "  " not in t.description, t.name
        for name, prop in t.input_schema["properties"].items():
            assert prop.get("description"), (t.name, name)
    methods = listed.tools[[t.name for t in listed.tools].index("execute_api_call")]
    assert methods.input_schema["properties"]["method"]["enum"] == [
        "GET",
        "POST",
        "PUT",
        "PATCH",
        "DELETE",
    ]


async def test_search_details_and_categories(gateway):
    async with Client(build_server(gateway)) as client:
        found = await client.call_tool("search_api_endpoints", {"query": "ticket notes"})
        assert not found.is_error
        keys = [f"{r['method']} {r['path']}" for r in found.structured_content["results"]]
        assert "GET /service/tickets/{parentId}/notes" in keys[:3]

        nl = await client.call_tool(
            "natural_language_api_search", {"query": "delete a time entry", "max_results": 3}
        )
        top = nl.structured_content["results"][0]
        assert (top["method"], top["path"]) == ("DELETE", "/time/entries/{id}")

        empty = await client.call_tool("search_api_endpoints", {"query": "   "})
        assert empty.is_error and "query is empty" in _text(empty)

        cats = await client.call_tool("list_api_categories", {})
        names = {c["name"] for c in cats.structured_content["categories"]}
        assert {"service", "company", "finance", "time"} <= names
        assert cats.structured_content["total_operations"] == 3053

        by_tag = await client.call_tool(
            "get_category_endpoints", {"category": "Tickets", "max_results": 5}
        )
        assert by_tag.structured_content["kind"] == "tag"
        assert len(by_tag.structured_content["endpoints"]) == 5
        assert by_tag.structured_content["truncated"] is True

        by_module = await client.call_tool("get_category_endpoints", {"category": "expense"})
        assert by_module.structured_content["kind"] == "module"

        unknown = await client.call_tool("get_category_endpoints", {"category": "servise"})
        assert unknown.is_error and "service" in _text(unknown)

        details = await client.call_tool(
            "get_api_endpoint_details", {"path": "/service/tickets/42", "method": "PATCH"}
        )
        d = details.structured_content
        assert d["path"] == "/service/tickets/{id}" and d["risk"] == "Write"

        missing = await client.call_tool("get_api_endpoint_details", {"path": "/service/nothing"})
        assert missing.is_error


async def test_valid_list_call_is_summarized_with_next_page(gateway, sandbox):
    async with Client(build_server(gateway)) as client:
        result = await client.call_tool(
            "execute_api_call",
            {
                "path": "/service/tickets",
                "params": {"pageSize": 5, "orderBy": "id asc", "fields": "id,summary"},
            },
        )
    assert not result.is_error, _text(result)
    sc = result.structured_content
    assert sc["status"] == 200 and (sc["method"], sc["path"]) == ("GET", "/service/tickets")
    assert len(sc["table"]["rows"]) == 5 and sc["table"]["columns"] == ["id", "summary"]
    assert sc["list_summary"]["more_pages_likely"] is True
    assert sc["list_summary"]["next_page_params"]["page"] == 2
    # Every row reaches the text too, one line each.
    for row_id, summary in sc["table"]["rows"]:
        assert f"{row_id} | {summary}" in _text(result)


async def test_file_responses_are_described_not_dumped(gateway):
    async with Client(build_server(gateway)) as client:
        result = await client.call_tool("execute_api_call", {"path": "/finance/invoices/1/pdf"})
    assert not result.is_error, _text(result)
    size = result.structured_content["data"]["file"]["bytes"]
    assert size > 0 and "embedded resource" in _text(result)
    (attached,) = [b for b in result.content if b.type == "resource"]
    assert attached.resource.mime_type == result.structured_content["data"]["file"]["media_type"]
    assert len(base64.b64decode(attached.resource.blob)) == size


async def test_invalid_calls_send_nothing(gateway, sandbox):
    bad_calls = [
        {"path": "/service/tickets", "params": {"conditions": "statuss/name = 'New'"}},
        {"path": "/service/tickets", "params": {"pageSize": 5000}},
        {"path": "/service/tickets", "params": {"colour": "red"}},
        {"path": "/service/tickets/abc"},
        {"path": "/service/tickets", "method": "POST", "data": {"summry": "x"}},
        {
            "path": "/service/tickets/1",
            "method": "PATCH",
            "data": [{"op": "replace", "path": "statuss", "value": {"id": 1}}],
        },
        {"path": "/service/tickets/../../system/members"},
        {"path": "/service/tickets/%2e%2e/x"},
        {"path": "https://evil.example.com/service/tickets"},
        {"path": "/service/boards", "method": "TRACE"},
    ]
    sandbox.clear_requests()
    async with Client(build_server(gateway)) as client:
        for args in bad_calls:
            result = await client.call_tool("execute_api_call", args)
            assert result.is_error, args
            assert "Traceback" not in _text(result)
        typo = await client.call_tool(
            "execute_api_call",
            {"path": "/service/tickets", "params": {"conditions": "statuss/name = 'New'"}},
        )
        assert "did you mean 'status/name'" in _text(typo)
        body = await client.call_tool(
            "execute_api_call",
            {"path": "/service/tickets", "method": "POST", "data": {"summry": "x"}},
        )
        assert "summary" in _text(body) and "company" in _text(body)
    assert sandbox.requests == []


async def test_arguments_that_do_not_fit_the_schema_are_answered_in_the_gateways_words(
    gateway, sandbox
):
    secret = "s3cr3t-value-never-echoed"
    cases = [
        # (tool, arguments, the line the answer must contain)
        (
            "execute_api_call",
            {"path": "/service/tickets", "params": secret},
            "- params: got a string",
        ),
        ("execute_api_call", {"path": 42}, "- path: got an integer; expected text"),
        ("execute_api_call", {"method": "GET"}, "- path: missing; expected text"),
        (
            "execute_api_call",
            {"path": "/service/tickets", "param": {"conditions": f"summary='{secret}'"}},
            "- param: execute_api_call has no argument 'param'; did you mean 'params'?",
        ),
        (
            "execute_api_call",
            {"path": "/service/tickets", "method": "POST", "body": {"summary": secret}},
            "its arguments: path, method, params, data, full",
        ),
        ("send_raw_api_request", {"raw_request": ["GET", "/x"]}, "- raw_request: got an array"),
        ("search_api_endpoints", {"query": "x", "max_results": "many"}, "expected a whole number"),
        ("delete_from_fast_memory", {"query_id": None}, "- query_id: got null"),
        # A person's approval is resolved by the server: it can't be passed as an argument.
        ("execute_api_call", {"path": "/service/tickets", "approval": True}, "no argument"),
    ]
    sandbox.clear_requests()
    async with Client(build_server(gateway)) as client:
        for tool, args, expected in cases:
            result = await client.call_tool(tool, args)
            text = _text(result)
            assert result.is_error, (tool, args)
            assert text.startswith(f"Arguments of {tool} are invalid; nothing was done:"), text
            assert expected in text, text
            assert secret not in text and "pydantic" not in text, text
            failure = result.meta["cwm_gateway/failure"]
            assert failure["error"] == "invalid_arguments" and failure["problems"], failure
            assert secret not in json.dumps(failure)
            assert result.structured_content is None
    assert sandbox.requests == []


async def test_raw_requests_parse_and_refuse_other_hosts(gateway, sandbox):
    sandbox.clear_requests()
    async with Client(build_server(gateway)) as client:
        ok = await client.call_tool(
            "send_raw_api_request",
            {
                "raw_request": "GET /company/companies?conditions=identifier%20like%20%22A%25%22"
                "&pageSize=3&fields=id,identifier"
            },
        )
        assert not ok.is_error, _text(ok)
        ids = [c["identifier"] for c in _rows(ok)]
        assert ids and all(i.lower().startswith("a") for i in ids)
        for raw in (
            "GET http://127.0.0.1:1/service/tickets",
            "GET //evil.example.com/service/tickets",
            "GET /service/tickets/..%2f..%2fsystem",
            "POST /service/tickets {not json",
            "FETCH /service/tickets",
            "",
        ):
            bad = await client.call_tool("send_raw_api_request", {"raw_request": raw})
            assert bad.is_error, raw
    assert len(sandbox.requests) == 1


async def test_create_ticket_then_note_and_patch(gateway, sandbox):
    async with Client(build_server(gateway)) as client:
        created = await client.call_tool(
            "execute_api_call",
            {
                "path": "/service/tickets",
                "method": "POST",
                "data": {"summary": "Server room too warm", "company": {"id": 1}},
            },
        )
        assert not created.is_error, _text(created)
        ticket = created.structured_content["data"]
        note = await client.call_tool(
            "send_raw_api_request",
            {
                "raw_request": f"POST /service/tickets/{ticket['id']}/notes "
                '{"text": "Checked the AC", "internalAnalysisFlag": true}'
            },
        )
        assert not note.is_error, _text(note)
        patched = await client.call_tool(
            "execute_api_call",
            {
                "path": f"/service/tickets/{ticket['id']}",
                "method": "PATCH",
                "data": [{"op": "replace", "path": "summary", "value": "Server room AC fixed"}],
            },
        )
        assert not patched.is_error, _text(patched)
        assert patched.structured_content["data"]["summary"] == "Server room AC fixed"
        notes = await client.call_tool(
            "execute_api_call", {"path": f"/service/tickets/{ticket['id']}/notes"}
        )
        assert [n["text"] for n in _rows(notes)] == ["Checked the AC"]


async def test_fast_memory_round_trip_and_saved_params(gateway, sandbox):
    async with Client(build_server(gateway)) as client:
        saved = await client.call_tool(
            "save_to_fast_memory",
            {
                "path": "/company/companies",
                "method": "GET",
                "description": "Active clients",
                "params": {"conditions": "deletedFlag = false", "pageSize": 2},
            },
        )
        assert not saved.is_error, _text(saved)
        qid = saved.structured_content["query"]["id"]

        # A GET without params uses the saved params, says so, and counts the use.
        used = await client.call_tool("execute_api_call", {"path": "/company/companies"})
        assert not used.is_error, _text(used)
        assert "Used the params saved in Fast Memory" in _text(used)
        assert f"Fast Memory query #{qid} (1× used)." in used.structured_content["notes"]
        assert len(_rows(used)) == 2

        listed = await client.call_tool("list_fast_memory", {"search_term": "clients"})
        assert [q["usage_count"] for q in listed.structured_content["queries"]] == [1]
        none = await client.call_tool("list_fast_memory", {"search_term": "nothing-like-this"})
        assert none.structured_content["queries"] == []

        bad = await client.call_tool(
            "save_to_fast_memory", {"path": "/service/nowhere", "method": "GET", "description": "x"}
        )
        assert bad.is_error
        gone = await client.call_tool("delete_from_fast_memory", {"query_id": qid})
        assert not gone.is_error
        again = await client.call_tool("delete_from_fast_memory", {"query_id": qid})
        assert again.is_error and "list_fast_memory" in _text(again)

        await client.call_tool(
            "save_to_fast_memory",
            {"path": "/service/boards", "method": "GET", "description": "Boards"},
        )
        cleared = await client.call_tool("clear_fast_memory", {})
        assert cleared.structured_content["count"] == 1


async def test_saved_body_is_never_injected_into_a_write(gateway, sandbox):
    async with Client(build_server(gateway)) as client:
        await client.call_tool(
            "save_to_fast_memory",
            {
                "path": "/service/tickets",
                "method": "POST",
                "description": "template",
                "data": {"summary": "from memory", "company": {"id": 1}},
            },
        )
        result = await client.call_tool(
            "execute_api_call", {"path": "/service/tickets", "method": "POST"}
        )
    assert result.is_error and "body" in _text(result)


async def test_concurrent_fast_memory_saves(gateway):
    async with Client(build_server(gateway)) as client:
        results = await asyncio.gather(
            *[
                client.call_tool(
                    "save_to_fast_memory",
                    {
                        "path": "/service/tickets",
                        "method": "GET",
                        "description": f"query {i}",
                        "params": {"pageSize": i + 1},
                    },
                )
                for i in range(20)
            ]
        )
        assert not any(r.is_error for r in results)
        listed = await client.call_tool("list_fast_memory", {})
    assert len(listed.structured_content["queries"]) == 20


def _answer(action: str, approve: bool | None = None):
    async def callback(context, params):
        callback.asked.append(params.message)
        content = {"approve": approve} if approve is not None else None
        return ElicitResult(action=action, content=content)

    callback.asked = []
    return callback


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_destructive_call_needs_a_persons_approval(tmp_path, sandbox, mode):
    gateway = _gateway(tmp_path, sandbox)
    async with Client(build_server(gateway)) as client:
        created = await client.call_tool(
            "execute_api_call",
            {
                "path": "/service/tickets",
                "method": "POST",
                "data": {"summary": "to delete", "company": {"id": 1}},
            },
        )
        tid = created.structured_content["data"]["id"]

    sandbox.clear_requests()
    declined = _answer("decline")
    async with Client(build_server(gateway), mode=mode, elicitation_callback=declined) as client:
        result = await client.call_tool(
            "execute_api_call", {"path": f"/service/tickets/{tid}", "method": "DELETE"}
        )
    assert result.is_error and declined.asked and f"/service/tickets/{tid}" in declined.asked[0]
    assert _requests_to(sandbox, "DELETE", f"/service/tickets/{tid}") == []

    async with Client(build_server(gateway), mode=mode) as client:  # cannot ask at all
        result = await client.call_tool(
            "execute_api_call", {"path": f"/service/tickets/{tid}", "method": "DELETE"}
        )
    assert result.is_error and "approval" in _text(result)
    assert _requests_to(sandbox, "DELETE", f"/service/tickets/{tid}") == []

    approved = _answer("accept", approve=True)
    async with Client(build_server(gateway), mode=mode, elicitation_callback=approved) as client:
        result = await client.call_tool(
            "execute_api_call", {"path": f"/service/tickets/{tid}", "method": "DELETE"}
        )
    assert not result.is_error, _text(result)
    assert len(_requests_to(sandbox, "DELETE", f"/service/tickets/{tid}")) == 1


async def test_policylayer_file_limits_execute_and_denies_other_tools(tmp_path, sandbox):
    policy = tmp_path / "policy.json"
    policy.write_text(
        json.dumps(
            {
                "version": "1",
                "default": "deny",
                "tools": {
                    "execute_api_call": {
                        "limits": [
                            {
                                "counter": "execute_api_call_rate",
                                "window": "minute",
                                "max": 10,
                                "scope": "grant",
                            }
                        ]
                    }
                },
            }
        )
    )
    gateway = _gateway(tmp_path / "data", sandbox, policy)
    sandbox.clear_requests()
    async with Client(build_server(gateway)) as client:
        for _ in range(10):
            ok = await client.call_tool("execute_api_call", {"path": "/service/boards"})
            assert not ok.is_error, _text(ok)
        refused = await client.call_tool("execute_api_call", {"path": "/service/boards"})
        assert refused.is_error and "Retry in" in _text(refused)
        for tool, args in (
            ("search_api_endpoints", {"query": "tickets"}),
            ("list_fast_memory", {}),
            ("send_raw_api_request", {"raw_request": "GET /service/boards"}),
        ):
            denied = await client.call_tool(tool, args)
            assert denied.is_error and "policy" in _text(denied).lower(), tool
    assert len(_requests_to(sandbox, "GET", "/service/boards")) == 10


async def test_resources_expose_operations_and_memory(gateway):
    async with Client(build_server(gateway)) as client:
        templates = await client.list_resource_templates()
        assert any("cwm://operations/" in t.uri_template for t in templates.resource_templates)
        read = await client.read_resource("cwm://operations/getServiceTickets")
        details = json.loads(read.contents[0].text)
        assert details["path"] == "/service/tickets"
        guide = await client.read_resource("cwm://guides/conditions")
        assert "childConditions" in guide.contents[0].text
        memory = await client.read_resource("cwm://fast-memory")
        assert json.loads(memory.contents[0].text)["queries"] == []


async def test_search_and_details_work_without_credentials(tmp_path, monkeypatch):
    for name in (
        "CONNECTWISE_API_URL",
        "CONNECTWISE_COMPANY_ID",
        "CONNECTWISE_PUBLIC_KEY",
        "CONNECTWISE_PRIVATE_KEY",
        "CONNECTWISE_SITE",
    ):
        monkeypatch.delenv(name, raising=False)
    gateway = Gateway.from_options(GatewayOptions(data_dir=tmp_path))
    async with Client(build_server(gateway)) as client:
        found = await client.call_tool("search_api_endpoints", {"query": "companies"})
        assert not found.is_error
        call = await client.call_tool("execute_api_call", {"path": "/service/boards"})
    assert call.is_error and "CONNECTWISE_COMPANY_ID" in _text(call)


async def test_hidden_tools_and_operations_are_not_listed(tmp_path, sandbox):
    policy = tmp_path / "hide.yaml"
    policy.write_text(
        "version: '1'\n"
        "default: allow\n"
        "hide: [clear_fast_memory]\n"
        "operations:\n"
        "  rules:\n"
        "    - id: no-api-members\n"
        "      match: {path: '/system/apiMembers*'}\n"
        "      action: hide\n"
    )
    gateway = _gateway(tmp_path / "data", sandbox, policy)
    sandbox.clear_requests()
    async with Client(build_server(gateway)) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert "clear_fast_memory" not in names and "list_fast_memory" in names
        found = await client.call_tool("search_api_endpoints", {"query": "api members"})
        paths = [r["path"] for r in found.structured_content["results"]]
        assert paths and not any(p.lower().startswith("/system/apimembers") for p in paths)
        details = await client.call_tool(
            "get_api_endpoint_details", {"path": "/system/apiMembers", "method": "GET"}
        )
        assert details.is_error
        call = await client.call_tool("execute_api_call", {"path": "/system/apiMembers"})
        assert call.is_error
    assert sandbox.requests == []
