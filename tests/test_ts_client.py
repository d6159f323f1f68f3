"""`cwm-gateway serve --sandbox` through the official TypeScript MCP SDK client (issue #9).

The TypeScript client is what the MCP Inspector and most desktop and IDE hosts use. Its
``callTool`` checks structured content against the tool's output schema even when ``isError``
is set, so an error result that does not fit arrives as a protocol error and the tool's own
message is lost. Here every tool is called with valid and invalid input and the tool's own
message must reach the client each time.

Set-up: ``npm ci`` installs ``@modelcontextprotocol/sdk`` (pinned in tests/ts/package-lock.json)
into tests/ts/node_modules, with npm's cache under the pytest cache; without node or npm (or
the registry) the test skips and says why.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.npm import npm_ci

TS_DIR = ROOT / "tests" / "ts"
# The built client, not package.json: a checkout may hold node_modules without its dist/
# folders (ignored by .gitignore), which npm ci must then complete.
SDK = (
    TS_DIR
    / "node_modules"
    / "@modelcontextprotocol"
    / "sdk"
    / "dist"
    / "esm"
    / "client"
    / "index.js"
)

# (tool, arguments, is_error, text the tool's own answer contains)
CASES: list[tuple[str, dict, bool, str]] = [
    ("search_api_endpoints", {"query": "ticket notes"}, False, "/service/tickets/{parentId}/notes"),
    ("search_api_endpoints", {"query": "   "}, True, "query is empty"),
    ("natural_language_api_search", {"query": "close ticket 123"}, False, "PATCH"),
    ("natural_language_api_search", {"query": "x", "max_results": 0}, True, "max_results must"),
    ("list_api_categories", {}, False, "modules, 3053 operations"),
    ("get_category_endpoints", {"category": "Tickets", "max_results": 3}, False, "tag Tickets"),
    ("get_category_endpoints", {"category": "servise"}, True, "did you mean 'service'"),
    (
        "get_api_endpoint_details",
        {"path": "/service/tickets", "method": "POST"},
        False,
        "summary: string, required, max 100",
    ),
    ("get_api_endpoint_details", {"path": "/service/nothing/{id}"}, True, "did you mean"),
    ("read_api", {"path": "/service/tickets", "params": {"pageSize": 5}}, False, "5 items"),
    ("read_api", {"path": "/service/tickets/1", "method": "DELETE"}, True, "read_api only reads"),
    ("execute_api_call", {"path": "/service/tickets/1"}, False, "summary: "),
    (
        "execute_api_call",
        {"path": "/company/companies", "params": {"conditions": 'statuss/name="Active"'}},
        True,
        "did you mean 'status/name'",
    ),
    ("execute_api_call", {"path": "/service/tickts"}, True, "did you mean /service/tickets"),
    ("execute_api_call", {"path": "/service/tickets/abc"}, True, "'abc' is not an integer"),
    (
        "execute_api_call",
        {"path": "https://evil.example.com/v4_6_release/apis/3.0/service/tickets"},
        True,
        "not a URL",
    ),
    (
        "execute_api_call",
        {"path": "/service/tickets/1", "method": "DELETE"},
        True,
        "needs a person's approval",
    ),
    (
        "execute_api_call",
        {"path": "/service/tickets", "params": {"pageSize": 5000}},
        True,
        "5000 is out of range (1..1000)",
    ),
    ("execute_api_call", {"path": "/service/tickets/999999"}, True, "HTTP 404"),
    # Arguments that do not fit the schema: the gateway's words, not pydantic's.
    (
        "execute_api_call",
        {"path": "/service/tickets", "params": "pageSize=5"},
        True,
        "params: got a string; expected a JSON object",
    ),
    (
        "execute_api_call",
        {"path": "/service/tickets", "param": {"pageSize": 5}},
        True,
        "did you mean 'params'?",
    ),
    ("read_api", {}, True, "path: missing; expected text"),
    ("send_raw_api_request", {"raw_request": "GET /service/boards?pageSize=2"}, False, "2 items"),
    ("send_raw_api_request", {"raw_request": "FETCH /service/boards"}, True, "'FETCH'"),
    (
        "save_to_fast_memory",
        {"path": "/service/boards", "method": "GET", "description": "Boards"},
        False,
        "Saved as Fast Memory query #",
    ),
    (
        "save_to_fast_memory",
        {"path": "/service/nothing", "method": "GET", "description": "x"},
        True,
        "no operation matches /service/nothing",
    ),
    ("list_fast_memory", {"search_term": "Boards"}, False, "GET /service/boards"),
    ("list_fast_memory", {"search_term": 5}, True, "search_term: got an integer; expected text"),
    ("delete_from_fast_memory", {"query_id": "$saved_id"}, False, "Deleted saved query #"),
    ("delete_from_fast_memory", {"query_id": 99999}, True, "No saved query #99999"),
    ("clear_fast_memory", {}, False, "Cleared Fast Memory"),
]


@pytest.fixture(scope="module")
def ts_sdk(tmp_path_factory) -> Path:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is needed for the TypeScript MCP client test (not found)")
    npm_ci(TS_DIR, SDK, "@modelcontextprotocol/sdk", tmp_path_factory.mktemp("npm-cache"))
    return Path(node)


def test_every_tool_answers_the_typescript_client_in_its_own_words(ts_sdk, tmp_path):
    cases = tmp_path / "cases.json"
    cases.write_text(json.dumps([{"tool": t, "args": a} for t, a, _, _ in CASES]))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTWISE_")}
    done = subprocess.run(
        [str(ts_sdk), "client.mjs", sys.executable, str(tmp_path / "data"), str(cases)],
        cwd=TS_DIR,
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout)

    tools = {t["name"]: t for t in seen["tools"]}
    assert set(tools) == {tool for tool, *_ in CASES}
    assert all(t["hasOutputSchema"] for t in tools.values())
    assert tools["read_api"]["annotations"]["readOnlyHint"] is True
    assert tools["execute_api_call"]["annotations"]["readOnlyHint"] is False

    for (tool, args, is_error, expected), call in zip(CASES, seen["calls"], strict=True):
        where = f"{tool}({json.dumps(args)})"
        # A thrown error is the client rejecting the result (e.g. -32602, structured content
        # that does not match the output schema): the tool's message never reached the host.
        assert "thrown" not in call, f"{where}: {call.get('thrown')}"
        assert call["isError"] is is_error, f"{where}: {call['text']}"
        assert expected in call["text"], f"{where}: {call['text']}"
        if is_error:
            assert call["structured"] is None, where

    prompts = {p["name"]: p["text"] for p in seen["prompts"]}
    assert {"triage_ticket", "log_time_on_ticket", "company_open_tickets", "close_ticket"} <= set(
        prompts
    )
    assert "closedStatus=true" in prompts["close_ticket"]
    completions = {c["name"]: c["values"] for c in seen["completions"]}
    assert "service" in completions["category"]
    assert "getServiceTicketsById" in completions["operation_id"]
    assert "/service/tickets" in completions["path"]
    assert all(p.startswith("/service/tic") for p in completions["path"])
