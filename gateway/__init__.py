"""cwm_gateway: a safe MCP gateway and typed client for the ConnectWise Manage REST API.

Handwritten run-time code. The catalog of operations, the models and the typed operation
functions live in the generated package ``cwm_generated``.

``from cwm_gateway import Client, AsyncClient, Settings`` is the short way to the typed client;
those names load on first use so that ``cwm-gateway`` starts without importing them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what type checkers see; at run time __getattr__ imports on first use
    from cwm_gateway.client import AsyncClient as AsyncClient
    from cwm_gateway.client import Client as Client
    from cwm_gateway.config import Settings as Settings

__version__ = "0.1.0"
__all__ = ["AsyncClient", "Client", "Settings", "__version__"]

_LAZY = {
    "Client": "cwm_gateway.client",
    "AsyncClient": "cwm_gateway.client",
    "Settings": "cwm_gateway.config",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'cwm_gateway' has no attribute {name!r}")
