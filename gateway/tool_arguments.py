"""Clear answers for tool arguments that do not fit a tool's input schema.

The MCP SDK checks a call's arguments with pydantic before the tool runs, and on a mismatch
answers with pydantic's own report (``1 validation error for execute_api_callArguments ...
For further information visit https://errors.pydantic.dev/...``), which also echoes the value.
A model does better with: which argument, what kind of value it sent, what would be right (read
from the published schema, so the advice matches what the model was shown) and, for an argument
the tool does not have, the closest one it does. Values are never repeated: arguments may hold
secrets or be large.

An argument the tool does not have is refused rather than ignored: ``param`` for ``params`` or
``body`` for ``data`` would otherwise send a different request from the one the model meant
(all tickets instead of the filtered ones).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from cwm_gateway.errors import json_kind
from cwm_gateway.results import ToolFailure

__all__ = ["argument_failure", "type_problems", "unknown_arguments"]


def unknown_arguments(
    tool: str, arguments: Mapping[str, Any], schema: Mapping[str, Any]
) -> list[dict[str, str]]:
    """A problem for each argument ``tool`` does not have (empty when all are known)."""
    known = list(schema.get("properties", {}))
    problems: list[dict[str, str]] = []
    for name in arguments:
        if name in known:
            continue
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
        hint = f"did you mean {close[0]!r}? " if close else ""
        problems.append(
            {
                "where": name,
                "message": f"{tool} has no argument {name!r}",
                "hint": hint + "its arguments: " + ", ".join(known),
            }
        )
    return problems


def type_problems(
    exc: ValidationError, arguments: Mapping[str, Any], schema: Mapping[str, Any]
) -> list[dict[str, str]]:
    """A problem per argument the SDK's validation refused, in the schema's words."""
    properties: Mapping[str, Any] = schema.get("properties", {})
    problems: dict[str, dict[str, str]] = {}
    for error in exc.errors(include_url=False, include_input=False):
        name = str(error["loc"][0]) if error["loc"] else "arguments"
        if name in problems:  # one line per argument (a union reports each of its options)
            continue
        spec = properties.get(name, {})
        expected = _expected(spec)
        described = spec.get("description")
        hint = f"expected {expected}" + (f": {described}" if described else "")
        if error["type"] == "missing":
            message = "missing"
        else:
            message = f"got {json_kind(arguments.get(name))}"
        problems[name] = {"where": name, "message": message, "hint": hint}
    return list(problems.values())


def argument_failure(tool: str, problems: list[dict[str, str]]) -> ToolFailure:
    """The tool error for ``problems``: one line each, and nothing was sent."""
    lines = [f"- {p['where']}: {p['message']}; {p['hint']}" for p in problems]
    return ToolFailure(
        error="invalid_arguments",
        message=f"Arguments of {tool} are invalid; nothing was done:\n" + "\n".join(lines),
        problems=[dict(p) for p in problems],
    )


def _expected(spec: Mapping[str, Any]) -> str:
    """What the schema asks for, in words."""
    if "enum" in spec:
        return "one of " + ", ".join(json.dumps(v) for v in spec["enum"])
    options = spec.get("anyOf")
    if options:
        return " or ".join(_expected(o) for o in options)
    return _TYPE_WORDS.get(spec.get("type", ""), "a JSON value")


_TYPE_WORDS = {
    "object": "a JSON object",
    "array": "a JSON array",
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
}
