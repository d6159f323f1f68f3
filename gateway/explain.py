"""Dry-run explanation of the policy decision for one tool call (``cwm-gateway explain``)."""

from __future__ import annotations

import asyncio
from typing import Any

from cwm_gateway.core import Gateway, ToolFailureError


def explain_call(gateway: Gateway, tool: str, arguments: dict[str, Any]) -> str:
    """Readable trace: each rule checked, whether it matched and why, then the decision.

    The call is prepared exactly as the server prepares it (validation, saved Fast Memory
    params, values checked against reference data when ConnectWise is configured: reads
    only), so the trace is the one a real call would get; nothing is counted or sent.
    """
    try:
        call = asyncio.run(_prepare(gateway, tool, arguments)).call
    except ToolFailureError as exc:
        return f"The call would be rejected before the policy is asked:\n{exc.failure.message}"
    lines = [f"tool: {tool}"]
    if call.operation is not None:
        op = call.operation
        lines.append(
            f"operation: {op.operation_id} ({op.method} {op.path}, risk {op.risk}, "
            f"category {op.category}, tag {op.tag}); concrete path {call.path}"
        )
    for line in gateway.engine.explain(call):
        mark = "✓" if line.matched else "·"
        lines.append(f"{mark} {line.rule}: {line.why}")
    return "\n".join(lines)


async def _prepare(gateway: Gateway, tool: str, arguments: dict[str, Any]) -> Any:
    try:
        return await gateway.prepare_call(tool, "cli", arguments)
    finally:
        await gateway.aclose()  # reference data may have been read; close on this loop
