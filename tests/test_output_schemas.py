"""Every tool result, success and error, against the tool's declared output schema (issue #9).

Hosts on the TypeScript SDK validate structured content against ``outputSchema`` even for
errors, so a result that does not conform loses its message. Each failure path is provoked for
real: validation, policy, approval, a refused connection, a timeout, upstream 4xx and 5xx, and
unexpected exceptions in the tool body and in the resolvers that run before it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from mcp import Client

from cwm_gateway.config import Settings
from cwm_gateway.core import Gateway, GatewayOptions
from cwm_gateway.sandbox.runner import start_sandbox_thread
from cwm_gateway.server import FAILURE_META, build_server
from tests.loopback import LoopbackServer, Reply

PREFIX = "/v4_6_release/apis/3.0"

CALLS: list[tuple[str, dict[str, Any]]] = [
    ("search_api_endpoints", {"query": "ticket notes"}),
    ("search_api_endpoints", {"query": ""}),
    ("natural_language_api_search", {"query": "add a note to a ticket", "max_results": 3}),
    ("natural_language_api_search", {"query": "x", "max_results": -1}),
    ("list_api_categories", {}),
    ("get_category_endpoints", {"category": "finance"}),
    ("get_category_endpoints", {"category": "nope"}),
    ("get_api_endpoint_details", {"path": "/service/tickets", "method": "POST"}),
    ("get_api_endpoint_details", {"path": "/service/tickets/{id}", "field_filter": "date"}),
    ("get_api_endpoint_details", {"path": "/nothing"}),
    ("read_api", {"path": "/service/tickets", "params": {"pageSize": 30}}),
    ("read_api", {"path": "/service/tickets/search", "method": "POST", "data": {}}),
    ("read_api", {"path": "/service/tickets", "method": "POST", "data": {"summary": "x"}}),
    ("execute_api_call", {"path": "/service/tickets", "params": {"pageSize": 1000}}),
    ("execute_api_call", {"path": "/service/tickets", "full": True}),
    ("execute_api_call", {"path": "/service/tickets/2"}),
    ("execute_api_call", {"path": "/service/tickets/2", "full": True}),
    ("execute_api_call", {"path": "/service/tickets/count"}),
    ("execute_api_call", {"path": "/service/tickets/1", "method": "DELETE"}),
    ("execute_api_call", {"path": "/service/tickets", "params": {"conditions": "summry='x'"}}),
    ("execute_api_call", {"path": "/service/tickets/99999"}),
    ("execute_api_call", {"path": "/service/tickets", "params": 5}),
    ("execute_api_call", {"path": "/service/tickets", "body": {}}),
    ("read_api", {}),
    (
        "execute_api_call",
        {
            "path": "/service/tickets/3",
            "method": "PATCH",
            "data": [{"op": "replace", "path": "summary", "value": "Compact"}],
        },
    ),
    ("send_raw_api_request", {"raw_request": "GET /company/companies?pageSize=3"}),
    ("send_raw_api_request", {"raw_request": "nonsense"}),
    ("save_to_fast_memory", {"path": "/service/boards", "method": "GET", "description": "b"}),
    ("save_to_fast_memory", {"path": "/x", "method": "GET", "description": "b"}),
    ("list_fast_memory", {}),
    ("execute_api_call", {"path": "/service/boards"}),
    ("delete_from_fast_memory", {"query_id": 12345}),
    ("delete_from_fast_memory", {"query_id": 1}),
    ("clear_fast_memory", {}),
]


@pytest.fixture(scope="module")
def sandbox():
    handle = start_sandbox_thread()
    yield handle
    handle.stop()


def _text(result: Any) -> str:
    return "\n".join(getattr(b, "text", "") for b in result.content)


def _check(schemas: dict[str, Any], tool: str, result: Any) -> None:
    """The result conforms: structured content fits the schema, or an error carries none."""
    text = _text(result)
    assert text.strip(), f"{tool}: empty text"
    if result.is_error:
        assert result.structured_content is None, f"{tool}: {text}"
        return
    assert result.structured_content is not None, f"{tool}: {text}"
    jsonschema.validate(result.structured_content, schemas[tool])


async def _schemas(client: Client) -> dict[str, Any]:
    listed = await client.list_tools()
    return {t.name: t.output_schema for t in listed.tools}


async def test_every_result_of_every_tool_fits_its_output_schema(sandbox, tmp_path):
    gateway = Gateway.from_options(
        GatewayOptions(data_dir=tmp_path), settings=Settings.from_env(dict(sandbox.credentials))
    )
    tools_called = set()
    kinds = set()
    async with Client(build_server(gateway)) as client:
        schemas = await _schemas(client)
        for tool, args in CALLS:
            result = await client.call_tool(tool, args)
            _check(schemas, tool, result)
            tools_called.add(tool)
            if result.is_error and FAILURE_META in (result.meta or {}):
                kinds.add(result.meta[FAILURE_META]["error"])
    assert tools_called == set(schemas)
    assert {
        "invalid_request",
        "invalid_argument",
        "invalid_arguments",
        "policy_denied",
        "api_error",
    } <= kinds


def _loopback_settings(url: str, **extra: Any) -> Settings:
    env = {
        "CONNECTWISE_API_URL": url + PREFIX,
        "CONNECTWISE_COMPANY_ID": "acme",
        "CONNECTWISE_PUBLIC_KEY": "pub",
        "CONNECTWISE_PRIVATE_KEY": "priv",
        "CONNECTWISE_CLIENT_ID": "client",
        "CONNECTWISE_MAX_ATTEMPTS": "1",
    }
    env.update({f"CONNECTWISE_{k.upper()}": str(v) for k, v in extra.items()})
    return Settings.from_env(env)


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (Reply(500, json={"code": "Boom", "message": "database on fire"}), "500"),
        (Reply(503, body="<html>maintenance</html>"), "503"),
        (Reply(401, json={"code": "Unauthorized", "message": "bad key"}), "401"),
        (Reply(200, json=[{"id": 1, "summary": "x"}], delay=2.0), "No answer from ConnectWise"),
        (Reply(200, body=b"not json", headers={"content-type": "application/json"}), ""),
    ],
)
async def test_upstream_failures_fit_the_schema(tmp_path, reply, expected):
    with LoopbackServer() as upstream:
        upstream.script("GET", PREFIX + "/service/boards", reply)
        settings = _loopback_settings(upstream.url, read_timeout=0.5)
        gateway = Gateway.from_options(GatewayOptions(data_dir=tmp_path), settings=settings)
        async with Client(build_server(gateway)) as client:
            schemas = await _schemas(client)
            for tool, args in (
                ("execute_api_call", {"path": "/service/boards"}),
                ("read_api", {"path": "/service/boards"}),
                ("send_raw_api_request", {"raw_request": "GET /service/boards"}),
            ):
                result = await client.call_tool(tool, args)
                _check(schemas, tool, result)
                assert expected in _text(result), _text(result)


async def test_a_refused_connection_fits_the_schema(tmp_path):
    with LoopbackServer() as upstream:
        url = upstream.url
    # The server is gone: nothing listens on its port any more.
    gateway = Gateway.from_options(
        GatewayOptions(data_dir=tmp_path), settings=_loopback_settings(url)
    )
    async with Client(build_server(gateway)) as client:
        schemas = await _schemas(client)
        result = await client.call_tool("execute_api_call", {"path": "/service/boards"})
    _check(schemas, "execute_api_call", result)
    assert result.is_error and "connect" in _text(result).lower()


async def test_unexpected_exceptions_in_tools_and_resolvers_fit_the_schema(
    tmp_path, sandbox, monkeypatch
):
    gateway = Gateway.from_options(
        GatewayOptions(data_dir=tmp_path), settings=Settings.from_env(dict(sandbox.credentials))
    )

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    async with Client(build_server(gateway)) as client:
        schemas = await _schemas(client)
        for method in ("search", "list_categories", "memory_list", "endpoint_details"):
            monkeypatch.setattr(gateway, method, boom)
        # prepare_call runs in the resolvers, before the tool body and the approval question.
        monkeypatch.setattr(gateway, "prepare_call", boom)
        for tool, args in [
            ("search_api_endpoints", {"query": "x"}),
            ("list_api_categories", {}),
            ("list_fast_memory", {}),
            ("get_api_endpoint_details", {"path": "/service/tickets"}),
            ("execute_api_call", {"path": "/service/tickets"}),
            ("read_api", {"path": "/service/tickets"}),
            ("send_raw_api_request", {"raw_request": "GET /service/tickets"}),
        ]:
            result = await client.call_tool(tool, args)
            _check(schemas, tool, result)
            assert result.is_error, tool
            assert "unexpected RuntimeError" in _text(result), _text(result)
            assert "a bug" not in _text(result)  # internals stay in the server log


async def test_policy_refusals_fit_the_schema(tmp_path, sandbox):
    policy = Path(tmp_path) / "policy.json"
    policy.write_text(
        json.dumps(
            {
                "version": "1",
                "default": "allow",
                "tools": {"list_api_categories": {"action": "deny", "reason": "not here"}},
                "operations": {
                    "default": "allow",
                    "rules": [
                        {"id": "no-companies", "match": {"path": "/company/*"}, "action": "deny"}
                    ],
                },
            }
        )
    )
    gateway = Gateway.from_options(
        GatewayOptions(data_dir=tmp_path, policy_path=policy),
        settings=Settings.from_env(dict(sandbox.credentials)),
    )
    async with Client(build_server(gateway)) as client:
        schemas = await _schemas(client)
        for tool, args in [
            ("list_api_categories", {}),
            ("execute_api_call", {"path": "/company/companies"}),
            ("read_api", {"path": "/company/companies"}),
        ]:
            result = await client.call_tool(tool, args)
            _check(schemas, tool, result)
            assert result.is_error and "Refused by policy" in _text(result), _text(result)
