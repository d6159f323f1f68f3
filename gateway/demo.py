"""``cwm-gateway demo``: a short scripted session through the real MCP tools, on the sandbox.

It shows what an agent sees: search → details → a valid filtered call → an invalid call
rejected with a did-you-mean (nothing sent) → a created ticket with a note → Fast Memory.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from mcp import Client

from cwm_gateway.core import Gateway, GatewayOptions
from cwm_gateway.server import build_server

WIDTH = 100


def _show(step: str, tool: str, arguments: dict[str, Any], result: Any) -> None:
    print()
    print(f"── {step} " + "─" * max(0, WIDTH - len(step) - 4))
    print(f"» {tool}({json.dumps(arguments, ensure_ascii=False)})")
    status = "ERROR (isError)" if result.is_error else "ok"
    print(f"  [{status}]")
    text = "\n".join(getattr(block, "text", "") for block in result.content)
    lines = text.splitlines()
    if len(lines) > 30:
        lines = lines[:30] + [f"… ({len(lines) - 30} more lines in the structured result)"]
    for line in lines:
        print("  " + (line if len(line) <= 400 else line[:400] + " …"))


async def run_demo(args: argparse.Namespace) -> int:
    """Run the scripted session; returns a process exit code (0 when every step behaved)."""
    from cwm_gateway.config import Settings
    from cwm_gateway.sandbox.runner import start_sandbox_thread

    handle = start_sandbox_thread()
    try:
        settings = Settings.from_env(dict(handle.credentials))
        gateway = Gateway.from_options(
            GatewayOptions(
                policy_path=args.policy, data_dir=args.data_dir, read_only=args.read_only
            ),
            settings=settings,
        )
        print(f"cwm-gateway demo: sandbox ConnectWise at {handle.base_url} (no real credentials)")
        policy = gateway.engine.policy
        print(f"policy: {policy.source} — {policy.description or 'no description'}")
        problems: list[str] = []

        async with Client(build_server(gateway)) as client:

            async def step(name: str, tool: str, arguments: dict[str, Any], expect_error: bool):
                result = await client.call_tool(tool, arguments)
                _show(name, tool, arguments, result)
                if result.is_error != expect_error:
                    problems.append(f"{name}: expected {'an error' if expect_error else 'success'}")
                return result

            await step(
                "1. Find the operation",
                "natural_language_api_search",
                {"query": "list open tickets for a client", "max_results": 3},
                False,
            )
            await step(
                "2. Read its details",
                "get_api_endpoint_details",
                {"path": "/service/tickets", "method": "GET"},
                False,
            )
            await step(
                "3. A valid filtered call",
                "execute_api_call",
                {
                    "path": "/service/tickets",
                    "params": {
                        "conditions": 'closedFlag = false and priority/name like "Priority 2%"',
                        "orderBy": "id desc",
                        "fields": "id,summary,status/name,company/name",
                        "pageSize": 5,
                    },
                },
                False,
            )
            await step(
                "4. A typo in a field name: rejected before sending",
                "execute_api_call",
                {
                    "path": "/service/tickets",
                    "params": {"conditions": 'statuss/name = "New"'},
                },
                True,
            )
            created = await step(
                "5a. Create a ticket",
                "execute_api_call",
                {
                    "path": "/service/tickets",
                    "method": "POST",
                    "data": {
                        "summary": "Printer on 2nd floor offline",
                        "company": {"id": 2},
                        "board": {"id": 1},
                    },
                },
                False,
            )
            ticket_id = (created.structured_content or {}).get("data", {}).get("id")
            if ticket_id is not None:
                await step(
                    "5b. Add a note to it",
                    "send_raw_api_request",
                    {
                        "raw_request": f"POST /service/tickets/{ticket_id}/notes "
                        '{"text": "Power-cycled the printer; watching it.", '
                        '"internalAnalysisFlag": true}',
                    },
                    False,
                )
            else:
                problems.append("5a: the created ticket had no id")
            await step(
                "6a. Save a query to Fast Memory",
                "save_to_fast_memory",
                {
                    "path": "/service/tickets",
                    "method": "GET",
                    "description": "Open high-priority tickets",
                    "params": {"conditions": "closedFlag = false", "pageSize": 10},
                },
                False,
            )
            await step("6b. List Fast Memory", "list_fast_memory", {}, False)
        await gateway.aclose()
        print()
        if problems:
            print("demo finished with unexpected results:\n- " + "\n- ".join(problems))
            return 1
        print("demo finished: every step behaved as expected. Try `cwm-gateway serve --sandbox`.")
        return 0
    finally:
        handle.stop()
