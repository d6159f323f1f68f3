"""Each tool's published input schema, recorded at build time so start-up builds no argument models.

The MCP SDK derives a tool's input schema from its signature by building a pydantic model and
that model's JSON schema: about 3 ms a tool, a quarter of what this server adds to a bare
``MCPServer``'s start. ``tool_schemas.json`` holds what that derivation gives (after
:func:`cwm_gateway.results.concise_input_schema`) for the SDK and pydantic versions it names.
With those versions installed the server lists its tools from the file and the SDK builds a
tool's model on the tool's first call; with other versions every schema is derived at start, as
before, so a newer SDK only costs start-up time. ``nox -s tool_schemas`` rewrites the file after
a tool's signature changes; a test checks that both ways list exactly the same tools.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["FILE", "load", "sdk_versions", "write"]

FILE = Path(__file__).with_name("tool_schemas.json")


def sdk_versions() -> dict[str, str]:
    """The installed versions that decide what the SDK derives from a signature."""
    from importlib.metadata import distribution  # loaded by the SDK already

    import pydantic

    # The Version header read by hand: importlib.metadata.version() parses the whole METADATA
    # (mcp's README included) with the email parser, 4 ms of a start-up this file exists to save.
    metadata = distribution("mcp").read_text("METADATA") or ""
    mcp = next(
        (line[8:].strip() for line in metadata.splitlines() if line.startswith("Version:")), ""
    )
    return {"mcp": mcp, "pydantic": pydantic.VERSION}


def load() -> dict[str, dict[str, Any]]:
    """The recorded input schema of each tool, or nothing when they were written for other
    versions of the SDK or pydantic (or the file is missing or unreadable)."""
    try:
        data = json.loads(FILE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("sdk") != sdk_versions():
        return {}
    tools = data.get("tools")
    return tools if isinstance(tools, dict) else {}


def write(schemas: Mapping[str, dict[str, Any]]) -> Path:
    """Record ``schemas`` (tool name → input schema) for the installed versions."""
    data = {"sdk": sdk_versions(), "tools": dict(sorted(schemas.items()))}
    # Key order kept: a schema's properties are listed in the order of the signature.
    FILE.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return FILE
