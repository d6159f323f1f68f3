"""Dry-run explanation of the policy decision for one tool call (``cwm-gateway explain``)."""

from __future__ import annotations

from typing import Any

from cwm_gateway.core import Gateway
from cwm_gateway.errors import RequestValidationError
from cwm_gateway.policy.engine import CallContext
from cwm_gateway.raw_request import parse_raw_request
from cwm_gateway.validation import build_request

UPSTREAM_TOOLS = ("execute_api_call", "send_raw_api_request")


def call_context(tool: str, arguments: dict[str, Any], grant: str = "cli") -> CallContext:
    """The CallContext the server would build for this tool call (validated like the server)."""
    if tool not in UPSTREAM_TOOLS:
        return CallContext(tool=tool, grant=grant, arguments=arguments)
    if tool == "send_raw_api_request":
        raw = parse_raw_request(arguments.get("raw_request", ""))
        method, path, params, body = raw.method, raw.path, raw.params or None, raw.body
    else:
        method = arguments.get("method", "GET")
        path = arguments.get("path", "")
        params, body = arguments.get("params"), arguments.get("data")
    spec = build_request(method, path, params, body)
    return CallContext.for_request(tool, grant=grant, arguments=arguments, request=spec)


def explain_call(gateway: Gateway, tool: str, arguments: dict[str, Any]) -> str:
    """Readable trace: each rule checked, whether it matched and why, then the decision."""
    try:
        call = call_context(tool, arguments)
    except RequestValidationError as exc:
        return f"The call would be rejected before the policy is asked:\n{exc}"
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
