"""PolicyLayer semantics through the MCP tools, against the sandbox over loopback HTTP:
failed upstream calls use no quota, Intercept denials reach the agent with Intercept's prefix,
and both upstream tools get the same decision for the same request."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mcp import Client

from cwm_gateway.config import Settings
from cwm_gateway.core import Gateway, GatewayOptions
from cwm_gateway.sandbox.runner import start_sandbox_thread
from cwm_gateway.server import build_server


@pytest.fixture(scope="module")
def sandbox():
    handle = start_sandbox_thread()
    yield handle
    handle.stop()


def _gateway(tmp_path: Path, sandbox, policy: Path) -> Gateway:
    settings = Settings.from_env(dict(sandbox.credentials))
    return Gateway.from_options(
        GatewayOptions(data_dir=tmp_path / "data", policy_path=policy), settings=settings
    )


def _text(result) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


async def test_failed_upstream_calls_use_no_quota(tmp_path, sandbox):
    policy = tmp_path / "p.json"
    policy.write_text(
        json.dumps(
            {
                "version": "1",
                "default": "allow",
                "tools": {"execute_api_call": {"limits": [{"window": "day", "max": 2}]}},
            }
        )
    )
    gateway = _gateway(tmp_path, sandbox, policy)
    async with Client(build_server(gateway)) as client:
        for _ in range(4):  # 404 from ConnectWise: the reservation is rolled back
            missing = await client.call_tool(
                "execute_api_call", {"path": "/service/tickets/987654321"}
            )
            assert missing.is_error and "policy" not in _text(missing).lower(), _text(missing)
        for _ in range(2):
            ok = await client.call_tool("execute_api_call", {"path": "/service/boards"})
            assert not ok.is_error, _text(ok)
        refused = await client.call_tool("execute_api_call", {"path": "/service/boards"})
        assert refused.is_error and "Rate limit reached" in _text(refused)


async def test_intercept_policy_denials_carry_the_prefix_and_cover_both_tools(tmp_path, sandbox):
    policy = tmp_path / "p.yaml"
    policy.write_text(
        'version: "1"\n'
        "tools:\n"
        "  send_raw_api_request:\n"
        "    rules:\n"
        '      - name: "no deletes"\n'
        "        conditions:\n"
        '          - path: "request.method"\n'
        '            op: "neq"\n'
        '            value: "DELETE"\n'
        '        on_deny: "Deleting is not permitted via AI agents"\n'
    )
    gateway = _gateway(tmp_path, sandbox, policy)
    sandbox.clear_requests()
    async with Client(build_server(gateway)) as client:
        via_execute = await client.call_tool(
            "execute_api_call", {"path": "/service/tickets/1", "method": "DELETE"}
        )
        via_raw = await client.call_tool(
            "send_raw_api_request", {"raw_request": "DELETE /service/tickets/1"}
        )
        listed = await client.call_tool("execute_api_call", {"path": "/service/boards"})
    expected = "[INTERCEPT POLICY DENIED] Deleting is not permitted via AI agents"
    assert via_execute.is_error and expected in _text(via_execute)
    assert via_raw.is_error and expected in _text(via_raw)
    assert not listed.is_error
    assert not [r for r in sandbox.requests if r["method"] == "DELETE"]


# -- when the policy is compiled ----------------------------------------------------------------

_START = """
import asyncio, sys, tempfile
from mcp import Client
from cwm_gateway.core import Gateway, GatewayOptions
from cwm_gateway.server import build_server

policy = sys.argv[1] or None
gateway = Gateway.from_options(GatewayOptions(data_dir=tempfile.mkdtemp(), policy_path=policy))

async def main():
    async with Client(build_server(gateway)) as client:
        names = sorted(t.name for t in (await client.list_tools()).tools)
        print("listed", names)
        print("compiled at list", "cwm_gateway.policy.document" in sys.modules)
        found = await client.call_tool("search_api_endpoints", {"query": "tickets"})
        print("call ok", not found.is_error)
        print("compiled at call", "cwm_gateway.policy.document" in sys.modules)

asyncio.run(main())
"""


def _start(policy: str) -> dict[str, str]:
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", _START, policy], capture_output=True, text=True, check=True
    ).stdout
    # "listed [...]" and "compiled at list True": the label is all but the last word.
    return {
        label: value
        for label, value in (
            (line.split(" ", 1) if line.startswith("listed") else line.rsplit(" ", 1))
            for line in out.splitlines()
        )
    }


def test_the_default_policy_is_compiled_by_the_first_call_not_before_tools_list():
    """The first tools/list (what hosts wait for at start) needs only the default policy's hide
    list; defining the document models and compiling waits for the first call (issue #9)."""
    seen = _start("")
    assert seen["compiled at list"] == "False"
    assert seen["call ok"] == "True"
    assert seen["compiled at call"] == "True"
    assert "execute_api_call" in seen["listed"]


def test_a_policy_file_is_compiled_at_start_and_its_hide_list_applies(tmp_path):
    policy = tmp_path / "p.json"
    policy.write_text(json.dumps({"version": "1", "default": "allow", "hide": ["read_api"]}))
    seen = _start(str(policy))
    assert seen["compiled at list"] == "True"  # a mistake in it would have stopped the start
    assert "read_api" not in seen["listed"] and "execute_api_call" in seen["listed"]
