"""Tool names the policy treats alike, and how a hide list reads.

Apart from :mod:`cwm_gateway.policy.rules` because the gateway needs these before it has a
compiled policy: at start-up, to list its tools.
"""

from collections.abc import Collection

__all__ = ["UPSTREAM_TOOLS", "hides"]

#: The tools that reach ConnectWise: a tool entry under any of these names applies to all of
#: them, so the same request gets the same decision whichever tool carries it (``read_api``
#: is execute_api_call restricted to reads; a rule written for one must hold for it too).
UPSTREAM_TOOLS = ("execute_api_call", "send_raw_api_request", "read_api")


def hides(hide: Collection[str], tool: str) -> bool:
    """Whether a ``hide`` list names the tool (``"*"`` hides every tool)."""
    return "*" in hide or tool in hide
