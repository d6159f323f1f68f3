"""`cwm-gateway serve` as a real subprocess over stdio, driven by the SDK's stdio client."""

from __future__ import annotations

import os
import sys

from mcp import Client, StdioServerParameters

from cwm_gateway.sandbox.runner import start_sandbox_thread


async def test_serve_over_stdio_lists_tools_searches_and_calls_the_sandbox(tmp_path):
    handle = start_sandbox_thread()
    try:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("CONNECTWISE_")},
            **handle.credentials,
            "CWM_GATEWAY_DATA_DIR": str(tmp_path),
        }
        params = StdioServerParameters(
            command=sys.executable,
            args=["-m", "cwm_gateway.cli", "serve", "--data-dir", str(tmp_path)],
            env=env,
        )
        async with Client(params) as client:
            tools = await client.list_tools()
            assert len(tools.tools) == 12
            found = await client.call_tool("search_api_endpoints", {"query": "service boards"})
            assert not found.is_error
            # The sandbox speaks plain http on loopback; the client refuses http elsewhere.
            result = await client.call_tool(
                "execute_api_call", {"path": "/service/boards", "params": {"pageSize": 2}}
            )
            text = "\n".join(getattr(b, "text", "") for b in result.content)
            assert not result.is_error, text
            assert len(result.structured_content["table"]["rows"]) == 2
            # Secrets from the environment never reach tool output.
            assert handle.credentials["CONNECTWISE_PRIVATE_KEY"] not in text
    finally:
        handle.stop()


async def test_serve_with_the_built_in_sandbox_needs_no_credentials(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTWISE_")}
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "cwm_gateway.cli", "serve", "--sandbox", "--data-dir", str(tmp_path)],
        env=env,
    )
    async with Client(params) as client:
        result = await client.call_tool(
            "execute_api_call",
            {"path": "/company/companies", "params": {"pageSize": 3, "fields": "id,name"}},
        )
        text = "\n".join(getattr(b, "text", "") for b in result.content)
        assert not result.is_error, text
        assert len(result.structured_content["table"]["rows"]) == 3
