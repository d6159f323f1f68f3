"""Two gateway instances on one PostgreSQL, requests alternating between them as a round-robin
proxy would send them: a person's approval asked by one instance and answered to the other
sends the request once; a replayed answer sends nothing; per-grant limits count across both."""

from __future__ import annotations

import json
from contextlib import ExitStack

import httpx
import mcp_types as types
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client

from cwm_gateway import web
from cwm_gateway.config import Settings
from cwm_gateway.core import Gateway, GatewayOptions
from cwm_gateway.sandbox.runner import start_sandbox_thread
from cwm_gateway.server import build_server
from tests.http_app import serving

POLICY = {
    "version": "1",
    "default": "allow",
    "tools": {
        "execute_api_call": {
            "limits": [{"counter": "calls", "window": "hour", "max": 4, "scope": "grant"}]
        }
    },
    "operations": {
        "rules": [{"id": "deletes", "match": {"method": "DELETE"}, "action": "require_approval"}]
    },
}


class RoundRobin(httpx.AsyncBaseTransport):
    """Sends each request to the next instance; remembers what it sent."""

    def __init__(self, urls: list[str]) -> None:
        self.urls = [httpx.URL(u) for u in urls]
        self.count = 0
        self.inner = httpx.AsyncHTTPTransport()
        self.sent: list[tuple[int, httpx.Headers, bytes]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        target = self.urls[self.count % len(self.urls)]
        self.count += 1
        request.url = request.url.copy_with(host=target.host, port=target.port)
        body = request.content
        self.sent.append((target.port, request.headers, body))
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_approvals_and_limits_hold_across_instances(tmp_path, pg_state_url):
    sandbox = start_sandbox_thread()
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps(POLICY))
    settings = Settings.from_env(dict(sandbox.credentials))
    gateways = [
        Gateway.from_options(
            GatewayOptions(policy_path=policy, state_url=pg_state_url), settings=settings
        )
        for _ in range(2)
    ]
    _, key = gateways[0].state.grants.add("alice")
    options = web.HttpOptions(auth="api-keys")
    try:
        with ExitStack() as stack:
            urls = []
            for gateway in gateways:
                server = build_server(gateway, **web.server_auth_options(options, gateway.state))
                urls.append(stack.enter_context(serving(web.build_app(server, gateway, options))))
            robin = RoundRobin(urls)
            asked: list[str] = []

            async def approve(context, params):
                asked.append(params.message)
                return types.ElicitResult(action="accept", content={"approve": True})

            http = httpx.AsyncClient(
                transport=robin, headers={"Authorization": f"Bearer {key}"}, timeout=30
            )
            async with (
                http,
                Client(
                    streamable_http_client(f"{urls[0]}/mcp", http_client=http),
                    elicitation_callback=approve,
                ) as client,
            ):
                sandbox.clear_requests()
                result = await client.call_tool(
                    "execute_api_call", {"path": "/service/tickets/1", "method": "DELETE"}
                )
                assert not result.is_error, result
                assert len(asked) == 1
                # The question came from one instance and the answer went to the other.
                calls = [
                    (port, json.loads(body))
                    for port, _, body in robin.sent
                    if body and json.loads(body).get("method") == "tools/call"
                ]
                assert len(calls) == 2 and calls[0][0] != calls[1][0]
                assert "requestState" in calls[1][1]["params"]
                deletes = [r for r in sandbox.requests if r["method"] == "DELETE"]
                assert len(deletes) == 1

                # Replaying the answer (to either instance) sends nothing more.
                _, headers, body = next(
                    sent for sent in robin.sent if sent[2] and b"requestState" in sent[2]
                )
                for url in urls:
                    async with httpx.AsyncClient(timeout=30) as raw:
                        replay = await raw.post(f"{url}/mcp", content=body, headers=headers)
                    assert "Invalid or expired requestState" in replay.text
                assert len([r for r in sandbox.requests if r["method"] == "DELETE"]) == 1

                # One grant's 4 calls an hour hold across both instances (the DELETE was one).
                outcomes = [
                    (await client.call_tool("execute_api_call", {"path": "/system/info"})).is_error
                    for _ in range(5)
                ]
                assert outcomes == [False, False, False, True, True]
            tool_rows = [r for r in gateways[1].state.audit.recent(100) if r["kind"] == "tool_call"]
            assert len(tool_rows) == 6 and {r["grant"] for r in tool_rows} == {"alice"}
    finally:
        for gateway in gateways:
            gateway.state.close()
        sandbox.stop()
