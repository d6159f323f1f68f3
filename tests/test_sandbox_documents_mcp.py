"""A document upload round-trips byte for byte through the MCP tools and the sandbox (#14): the
file goes up as base64 in ``execute_api_call``, reaches the sandbox as multipart, and comes back
from ``/download`` as an embedded resource with the same bytes and media type."""

from __future__ import annotations

import base64
import os

import pytest
from mcp import Client
from mcp_types import EmbeddedResource

from cwm_gateway.config import Settings
from cwm_gateway.core import Gateway, GatewayOptions
from cwm_gateway.sandbox.runner import start_sandbox_thread
from cwm_gateway.server import build_server

#: Every byte value, multipart look-alikes and random bytes: nothing may be changed on the way.
PAYLOAD = bytes(range(256)) + b"\r\n--boundary-like\r\n\x00" + os.urandom(4096)


@pytest.fixture
def sandbox():
    with start_sandbox_thread() as handle:
        yield handle


def _text(result) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


async def test_an_upload_round_trips_byte_for_byte(tmp_path, sandbox):
    settings = Settings.from_env(dict(sandbox.credentials))
    gateway = Gateway.from_options(GatewayOptions(data_dir=tmp_path), settings=settings)
    async with Client(build_server(gateway)) as client:
        up = await client.call_tool(
            "execute_api_call",
            {
                "path": "/system/documents",
                "method": "POST",
                "data": {
                    "recordType": "Company",
                    "recordId": 2,
                    "title": "Event log",
                    "file": {
                        "content_base64": base64.b64encode(PAYLOAD).decode(),
                        "filename": "events.bin",
                        "media_type": "application/octet-stream",
                    },
                },
            },
        )
        assert not up.is_error, _text(up)
        doc = up.structured_content["data"]
        assert doc["size"] == len(PAYLOAD) and doc["fileName"] == "events.bin"
        down = await client.call_tool(
            "execute_api_call", {"path": f"/system/documents/{doc['id']}/download"}
        )
        assert not down.is_error, _text(down)
        listed = await client.call_tool(
            "execute_api_call",
            {"path": "/system/documents", "params": {"recordType": "Company", "recordId": 2}},
        )
    await gateway.aclose()
    (resource,) = [b for b in down.content if isinstance(b, EmbeddedResource)]
    assert base64.b64decode(resource.resource.blob) == PAYLOAD
    assert resource.resource.mime_type == "application/octet-stream"
    table = listed.structured_content["table"]
    assert doc["id"] in [row[table["columns"].index("id")] for row in table["rows"]]
    posts = [r for r in sandbox.requests if r["method"] == "POST"]
    assert [r["status"] for r in posts] == [201]
