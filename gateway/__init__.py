"""cwm_gateway: a safe MCP gateway and typed client for the ConnectWise Manage REST API.

Handwritten run-time code. The catalog of operations, the models and the typed operation
functions live in the generated package ``cwm_generated``.
"""

__version__ = "0.1.0"
