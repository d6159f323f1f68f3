"""A team deployment as it runs: three ``cwm-gateway serve --transport http`` processes on one
PostgreSQL behind nginx (round-robin), a standalone sandbox, 50 concurrent MCP clients over
five grants. Per-grant limits are exact across instances, every call is audited exactly once,
Fast Memory is shared, approvals work wherever their rounds land."""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter

import httpx
import mcp_types as types
import pytest
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client

from cwm_gateway.state import open_state
from tests.team_deploy import Unavailable, deploy, nginx_binary

LIMIT = 7
GRANTS = [f"tech-{i}" for i in range(5)]
POLICY = {
    "version": "1",
    "default": "allow",
    "tools": {
        "execute_api_call": {
            "limits": [{"counter": "calls", "window": "hour", "max": LIMIT, "scope": "grant"}]
        }
    },
    "operations": {
        "rules": [{"id": "deletes", "match": {"method": "DELETE"}, "action": "require_approval"}]
    },
}


@pytest.fixture
def nginx():
    try:
        return nginx_binary()
    except Unavailable as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"nginx is needed under CI: {exc}")
        pytest.skip(str(exc))


async def _client_calls(url: str, key: str, work):
    async def approve(context, params):
        return types.ElicitResult(action="accept", content={"approve": True})

    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=120) as http:
        async with Client(
            streamable_http_client(f"{url}/mcp", http_client=http), elicitation_callback=approve
        ) as client:
            return await work(client)


async def test_three_instances_behind_nginx_behave_as_one(tmp_path, pg_state_url, nginx):
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps(POLICY))
    state = open_state(pg_state_url)
    keys = {name: state.grants.add(name)[1] for name in [*GRANTS, "approver"]}
    with deploy(tmp_path, pg_state_url, instances=3, policy=policy, nginx=nginx) as d:
        tickets = {"path": "/service/tickets", "params": {"pageSize": 1}}

        async def two_reads(client):
            return [
                not (await client.call_tool("execute_api_call", tickets)).is_error for _ in range(2)
            ]

        # 50 clients, 10 per grant, 2 calls each: 20 attempts per grant against a limit of 7.
        jobs = [_client_calls(d.url, keys[GRANTS[i % 5]], two_reads) for i in range(50)]
        outcomes = await asyncio.gather(*jobs)
        allowed = Counter()
        for i, got in enumerate(outcomes):
            allowed[GRANTS[i % 5]] += sum(got)
        assert allowed == {name: LIMIT for name in GRANTS}
        sent = httpx.get(f"{d.sandbox_url}/__sandbox/requests").json()
        sent = sent.get("requests", sent) if isinstance(sent, dict) else sent
        reads = [r for r in sent if r["method"] == "GET" and r["path"].endswith("/service/tickets")]
        assert len(reads) == LIMIT * len(GRANTS)

        # Fast Memory: a team entry saved through one instance is seen by every grant through
        # every instance; a grant's own entry only by that grant.
        async def save_both(client):
            for description, shared in (("team: open tickets", True), ("mine", False)):
                saved = await client.call_tool(
                    "save_to_fast_memory",
                    {
                        "path": "/service/tickets",
                        "method": "GET",
                        "description": description,
                        "params": {"pageSize": 1 if shared else 2},
                        "shared": shared,
                    },
                )
                assert not saved.is_error, saved.content[0].text

        await _client_calls(d.url, keys["tech-0"], save_both)

        async def list_three_times(client):
            return [
                {
                    (q["description"], q["shared"])
                    for q in (await client.call_tool("list_fast_memory", {})).structured_content[
                        "queries"
                    ]
                }
                for _ in range(3)
            ]

        mine = await _client_calls(d.url, keys["tech-0"], list_three_times)
        assert mine == [{("team: open tickets", True), ("mine", False)}] * 3
        others = await _client_calls(d.url, keys["tech-1"], list_three_times)
        assert others == [{("team: open tickets", True)}] * 3

        # Approvals: each DELETE asks, is answered (rounds alternate instances), is sent once.
        async def delete(client, ticket):
            return await client.call_tool(
                "execute_api_call", {"path": f"/service/tickets/{ticket}", "method": "DELETE"}
            )

        results = await asyncio.gather(
            *[
                _client_calls(d.url, keys["approver"], lambda c, t=t: delete(c, t))
                for t in (2, 3, 4)
            ]
        )
        assert [r.is_error for r in results] == [False, False, False]
        sent = httpx.get(f"{d.sandbox_url}/__sandbox/requests").json()
        sent = sent.get("requests", sent) if isinstance(sent, dict) else sent
        deletes = sorted(r["path"].rsplit("/", 1)[1] for r in sent if r["method"] == "DELETE")
        assert deletes == ["2", "3", "4"]

        # Every instance served, and every tool call is audited exactly once.
        for url in d.instances:
            metrics = httpx.get(f"{url}/metrics").text
            assert 'cwm_gateway_http_request_seconds_count{path="/mcp"}' in metrics
            served = [
                line
                for line in metrics.splitlines()
                if line.startswith('cwm_gateway_http_request_seconds_count{path="/mcp"}')
            ]
            assert float(served[0].split()[-1]) > 0
    rows = state.audit.recent(10_000)
    calls = [r for r in rows if r["kind"] == "tool_call"]
    per_correlation = Counter(r["correlation_id"] for r in calls)
    assert per_correlation and max(per_correlation.values()) == 1
    by_grant = Counter(r["grant"] for r in calls if r["tool"] == "execute_api_call")
    assert by_grant == {**{name: 20 for name in GRANTS}, "approver": 3}
    state.close()
