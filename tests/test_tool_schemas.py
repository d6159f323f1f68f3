"""Tools listed from their recorded input schemas (``gateway/tool_schemas.json``) are the tools
the SDK would list, and each works from its first call, whether or not it was listed first."""

from __future__ import annotations

import json

import pytest
from mcp import Client

from cwm_gateway import tool_schemas
from cwm_gateway.core import Gateway, GatewayOptions
from cwm_gateway.server import build_server


@pytest.fixture
def recorded() -> dict:
    schemas = tool_schemas.load()
    if not schemas:
        written = json.loads(tool_schemas.FILE.read_text(encoding="utf-8"))["sdk"]
        installed = tool_schemas.sdk_versions()
        assert written != installed, "tool_schemas.json names the installed SDK but lists nothing"
        pytest.skip(
            f"tool_schemas.json was written for {written}, {installed} is installed: the server "
            "derives every schema at start (slower, same tools). Run `nox -s tool_schemas`."
        )
    return schemas


def _gateway(tmp_path) -> Gateway:
    return Gateway.from_options(GatewayOptions(data_dir=tmp_path))


async def _listed(server) -> list[str]:
    async with Client(server) as client:
        tools = (await client.list_tools()).tools
    # As sent: key order included (a schema's properties are shown in the signature's order).
    return [json.dumps(t.model_dump(mode="json", by_alias=True, exclude_none=True)) for t in tools]


async def test_recorded_schemas_list_exactly_what_the_sdk_derives(tmp_path, recorded):
    derived = await _listed(build_server(_gateway(tmp_path), recorded_schemas={}))
    from_record = await _listed(build_server(_gateway(tmp_path)))
    assert from_record == derived, "a tool's signature changed: run `nox -s tool_schemas`"
    assert len(recorded) == len(derived) == 12


async def test_a_tool_listed_from_its_record_is_built_by_its_first_call(tmp_path, recorded):
    server = build_server(_gateway(tmp_path))
    async with Client(server) as client:
        # No tools/list first: a host that remembers the tools may call straight away.
        found = await client.call_tool("search_api_endpoints", {"query": "ticket notes"})
        assert not found.is_error and "/service/tickets" in found.content[0].text
        # The gateway's own argument checks need the built tool: they answer too.
        wrong = await client.call_tool("list_api_categories", {"categroy": "service"})
        assert wrong.is_error and "categroy" in wrong.content[0].text
        # Built and unbuilt tools list alike, in the same order as before.
        names = [t.name for t in (await client.list_tools()).tools]
    assert names[:3] == [
        "search_api_endpoints",
        "natural_language_api_search",
        "list_api_categories",
    ]
