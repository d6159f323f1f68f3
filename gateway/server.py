"""The MCP server: eleven tools, each a few lines over :class:`cwm_gateway.core.Gateway`.

Tool names and arguments match the earlier ConnectWise MCP servers so existing prompts and
client configs keep working. Every tool returns readable text plus structured content with an
output schema; every failure is a tool error (isError) whose message says what was wrong and
what would be right. Nothing here talks HTTP.
"""

from __future__ import annotations

import base64
import json
import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from mcp.server.elicitation import ElicitationResult
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.resolve import Resolve
from mcp_types import (
    BlobResourceContents,
    CallToolResult,
    EmbeddedResource,
    TextContent,
    ToolAnnotations,
)
from pydantic import BaseModel

from cwm_gateway import __version__, identity
from cwm_gateway.conditions.guide import GUIDE
from cwm_gateway.core import Gateway, PreparedCall, ToolFailureError
from cwm_gateway.policy.approval import ApprovalForm, ApprovalNotAsked, approval_question
from cwm_gateway.results import (
    ApiCallResult,
    CategoriesResult,
    CategoryEndpointsResult,
    EndpointDetailsResult,
    MemoryChangeResult,
    MemoryListResult,
    SearchResult,
    ToolFailure,
)

log = logging.getLogger(__name__)

INSTRUCTIONS = """\
Work with a ConnectWise Manage (PSA) instance. Find operations with search_api_endpoints or
natural_language_api_search, read get_api_endpoint_details before calling, then call
execute_api_call. Field names in `conditions`, `orderBy` and `fields` are checked against the
resource's schema before anything is sent; errors say what would be right. The resource
cwm://guides/conditions explains the conditions language. Writes may be
rate-limited or need a person's approval, as the gateway's policy says."""

READ_ONLY = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)
UPSTREAM = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=True
)
LOCAL_WRITE = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)
LOCAL_DELETE = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False
)


def _ok(result: BaseModel) -> CallToolResult:
    content: list[Any] = [TextContent(type="text", text=result.text())]  # type: ignore[attr-defined]
    file = getattr(result, "file", None)
    if file is not None:  # a download: its bytes as an embedded resource, with its media type
        blob = BlobResourceContents(
            uri=file.uri, mime_type=file.media_type, blob=base64.b64encode(file.content).decode()
        )
        content.append(EmbeddedResource(type="resource", resource=blob))
    return CallToolResult(content=content, structured_content=result.model_dump(mode="json"))


def _error(failure: ToolFailure) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=failure.message)],
        structured_content=failure.model_dump(mode="json", exclude_none=True),
        is_error=True,
    )


async def _run(work: Callable[[], Awaitable[BaseModel] | BaseModel]) -> CallToolResult:
    try:
        result = work()
        if not isinstance(result, BaseModel):
            result = await result
        return _ok(result)
    except ToolFailureError as exc:
        return _error(exc.failure)
    except Exception as exc:  # the last line of defence: never a traceback to the agent
        log.exception("unexpected failure in a tool")
        return _error(_internal_failure(exc))


def _internal_failure(exc: BaseException) -> ToolFailure:
    return ToolFailure(
        error="internal",
        message=f"The gateway hit an unexpected {type(exc).__name__}; nothing more was "
        "sent. The server log has the details.",
    )


def grant_of(ctx: Context | None) -> str:
    """The grant a call belongs to (rate limits with scope 'grant' count per grant).

    The authenticated grant when HTTP authentication is on (bound by :mod:`cwm_gateway.web`
    for the request, whatever protocol version or session carried it); otherwise one local
    user: stdio serves exactly one client, and unauthenticated HTTP stays on loopback.
    """
    return identity.current().grant


# The SDK resolves ``Resolve`` parameters before the tool body runs and evaluates their
# annotations, so the resolvers live at module level and find their gateway through the server.
_GATEWAYS: weakref.WeakKeyDictionary[MCPServer, Gateway] = weakref.WeakKeyDictionary()


def _gateway_of(ctx: Context) -> Gateway:
    return _GATEWAYS[ctx.mcp_server]


async def _prepare(
    ctx: Context, tool: str, arguments: dict[str, Any]
) -> PreparedCall | ToolFailure:
    """Prepare an upstream call once per round; the approval question and the tool body both
    use this value (the SDK runs each resolver once per call), so the request a person
    approves is the request sent. Never raises: a failure is handed to the tool body."""
    try:
        return await _gateway_of(ctx).prepare_call(tool, grant_of(ctx), arguments)
    except ToolFailureError as exc:
        return exc.failure
    except Exception as exc:  # e.g. a bug in a check: the tool reports it, never a traceback
        log.exception("unexpected failure preparing %s", tool)
        return _internal_failure(exc)


async def _prepared_execute(
    ctx: Context,
    path: str,
    method: str = "GET",
    params: dict[str, Any] | None = None,
    data: dict[str, Any] | list[Any] | None = None,
) -> PreparedCall | ToolFailure:
    arguments = {"path": path, "method": method, "params": params, "data": data}
    return await _prepare(ctx, "execute_api_call", arguments)


async def _prepared_raw(ctx: Context, raw_request: str) -> PreparedCall | ToolFailure:
    return await _prepare(ctx, "send_raw_api_request", {"raw_request": raw_request})


def _ask(ctx: Context, prepared: PreparedCall | ToolFailure) -> Any:
    """The approval question for a prepared call (or why none is asked); never raises."""
    if not isinstance(prepared, PreparedCall):
        return ApprovalNotAsked("not_needed", "The request is invalid; nothing to approve.")
    try:
        return approval_question(ctx, _gateway_of(ctx).approval_request(prepared))
    except Exception:
        log.exception("unexpected failure preparing an approval question")
        return ApprovalNotAsked(
            "error", "The approval question could not be prepared; nothing was sent."
        )


def _execute_approval(ctx: Context, prepared: Annotated[Any, Resolve(_prepared_execute)]) -> Any:
    """Ask a person about this call when the policy requires it (the question or why not)."""
    return _ask(ctx, prepared)


def _raw_approval(ctx: Context, prepared: Annotated[Any, Resolve(_prepared_raw)]) -> Any:
    """:func:`_execute_approval` for send_raw_api_request."""
    return _ask(ctx, prepared)


Approval = ElicitationResult[ApprovalForm]


def build_server(gateway: Gateway, **transport: Any) -> MCPServer:
    """The MCP server with the eleven tools and the operation/memory resources.

    ``transport`` holds ``MCPServer`` options of the HTTP deployment (``auth``,
    ``token_verifier``, ``request_state_security``; see :func:`cwm_gateway.web.server_auth_options`).
    """
    # WARNING: at INFO the SDK's logging setup would log every upstream request line.
    server = MCPServer(
        name="cwm-api-gateway",
        version=__version__,
        instructions=INSTRUCTIONS,
        log_level="WARNING",
        **transport,
    )
    engine = gateway.engine
    _GATEWAYS[server] = gateway

    def tool(name: str, annotations: ToolAnnotations, title: str):
        def register(fn):
            if engine.is_tool_hidden(name):
                return fn  # hidden by policy: not even listed
            return server.tool(name=name, title=title, annotations=annotations)(fn)

        return register

    def local(
        ctx: Context | None, name: str, arguments: dict[str, Any], work: Callable[[], BaseModel]
    ) -> Awaitable[CallToolResult]:
        """Run a tool that never reaches ConnectWise, after the policy allowed it."""

        def checked() -> BaseModel:
            gateway.check_tool(name, grant_of(ctx), arguments)
            return work()

        return _run(checked)

    @tool("search_api_endpoints", READ_ONLY, "Search ConnectWise operations")
    async def search_api_endpoints(
        query: str, max_results: int = 10, ctx: Context | None = None
    ) -> Annotated[CallToolResult, SearchResult]:
        """Search the ConnectWise Manage operations by keywords (e.g. 'ticket notes', 'time entries').

        Ranks all 3,053 operations by summary, path, resource and parameter names; understands MSP
        words (client → company, technician → member, timesheet → time sheet)."""
        return await local(
            ctx,
            "search_api_endpoints",
            {"query": query, "max_results": max_results},
            lambda: gateway.search(query, max_results),
        )

    @tool(
        "natural_language_api_search", READ_ONLY, "Find the operation for a request in plain words"
    )
    async def natural_language_api_search(
        query: str, max_results: int = 5, ctx: Context | None = None
    ) -> Annotated[CallToolResult, SearchResult]:
        """Find the operation for a sentence such as 'close ticket 123' or 'list open tickets for a client'.

        Weighs intent: create/add → POST, update/close → PATCH/PUT, delete → DELETE, list/find →
        GET on the collection, 'by id' → GET on one item."""
        return await local(
            ctx,
            "natural_language_api_search",
            {"query": query, "max_results": max_results},
            lambda: gateway.search(query, max_results, natural=True),
        )

    @tool("list_api_categories", READ_ONLY, "List API modules and resources")
    async def list_api_categories(
        ctx: Context | None = None,
    ) -> Annotated[CallToolResult, CategoriesResult]:
        """List the API's modules (service, company, finance, time, …) with their resources (tags)
        and operation counts."""
        return await local(ctx, "list_api_categories", {}, lambda: gateway.list_categories())

    @tool("get_category_endpoints", READ_ONLY, "List the operations of a module or resource")
    async def get_category_endpoints(
        category: str, max_results: int = 20, ctx: Context | None = None
    ) -> Annotated[CallToolResult, CategoryEndpointsResult]:
        """List the operations of a module (e.g. 'service') or a resource tag (e.g. 'Tickets')."""
        return await local(
            ctx,
            "get_category_endpoints",
            {"category": category, "max_results": max_results},
            lambda: gateway.category_endpoints(category, max_results),
        )

    @tool("get_api_endpoint_details", READ_ONLY, "Show how to call one operation")
    async def get_api_endpoint_details(
        path: str, method: str = "GET", ctx: Context | None = None
    ) -> Annotated[CallToolResult, EndpointDetailsResult]:
        """Parameters, body fields (type, required, enum), response shape, risk class and a minimal
        valid example body of one operation. `path` may be a template or a concrete path."""
        return await local(
            ctx,
            "get_api_endpoint_details",
            {"path": path, "method": method},
            lambda: gateway.endpoint_details(path, method),
        )

    @tool("execute_api_call", UPSTREAM, "Call ConnectWise")
    async def execute_api_call(
        path: str,
        method: str = "GET",
        params: dict[str, Any] | None = None,
        data: dict[str, Any] | list[Any] | None = None,
        ctx: Context | None = None,
        prepared: Annotated[Any, Resolve(_prepared_execute)] = None,
        approval: Annotated[Approval, Resolve(_execute_approval)] = None,
    ) -> Annotated[CallToolResult, ApiCallResult]:
        """Call one ConnectWise operation, e.g. path='/service/tickets', params={'conditions':
        'status/name="New"', 'pageSize': 10}. The request is validated first (path, method, query
        parameters, condition field names, body) and checked by the gateway's policy; invalid or
        refused requests are never sent. PATCH bodies are lists of {op, path, value}."""
        return await _run(
            lambda: gateway.execute(
                "execute_api_call",
                grant_of(ctx),
                {"path": path, "method": method, "params": params, "data": data},
                approval=approval,
                prepared=prepared,
            )
        )

    @tool("send_raw_api_request", UPSTREAM, "Send a raw request line")
    async def send_raw_api_request(
        raw_request: str,
        ctx: Context | None = None,
        prepared: Annotated[Any, Resolve(_prepared_raw)] = None,
        approval: Annotated[Approval, Resolve(_raw_approval)] = None,
    ) -> Annotated[CallToolResult, ApiCallResult]:
        """Send 'METHOD /path?query [JSON body]', e.g. 'GET /service/tickets?pageSize=5' or
        'POST /service/tickets/12/notes {"text": "Called the client"}'. Same validation and policy
        as execute_api_call; only the configured ConnectWise API is ever contacted."""
        return await _run(
            lambda: gateway.execute(
                "send_raw_api_request",
                grant_of(ctx),
                {"raw_request": raw_request},
                approval=approval,
                prepared=prepared,
            )
        )

    @tool("save_to_fast_memory", LOCAL_WRITE, "Save a query to Fast Memory")
    async def save_to_fast_memory(
        path: str,
        method: str,
        description: str,
        params: dict[str, Any] | None = None,
        data: dict[str, Any] | list[Any] | None = None,
        shared: bool = False,
        ctx: Context | None = None,
    ) -> Annotated[CallToolResult, MemoryChangeResult]:
        """Save a query (path, method, params, body) under a description for quick reuse.
        `shared=true` saves it for the whole team (every grant sees it), not just for you."""
        args = {
            "path": path,
            "method": method,
            "description": description,
            "params": params,
            "shared": shared,
        }
        return await local(
            ctx,
            "save_to_fast_memory",
            args,
            lambda: gateway.memory_save(path, method, description, params, data, shared),
        )

    @tool("list_fast_memory", READ_ONLY, "List saved queries")
    async def list_fast_memory(
        search_term: str | None = None, ctx: Context | None = None
    ) -> Annotated[CallToolResult, MemoryListResult]:
        """Saved queries, most used first; `search_term` filters by description and path."""
        return await local(
            ctx,
            "list_fast_memory",
            {"search_term": search_term},
            lambda: gateway.memory_list(search_term),
        )

    @tool("delete_from_fast_memory", LOCAL_DELETE, "Delete a saved query")
    async def delete_from_fast_memory(
        query_id: int, ctx: Context | None = None
    ) -> Annotated[CallToolResult, MemoryChangeResult]:
        """Delete one saved query by id (see list_fast_memory)."""
        return await local(
            ctx,
            "delete_from_fast_memory",
            {"query_id": query_id},
            lambda: gateway.memory_delete(query_id),
        )

    @tool("clear_fast_memory", LOCAL_DELETE, "Delete every saved query")
    async def clear_fast_memory(
        ctx: Context | None = None,
    ) -> Annotated[CallToolResult, MemoryChangeResult]:
        """Delete every saved query."""
        return await local(ctx, "clear_fast_memory", {}, lambda: gateway.memory_clear())

    @server.resource(
        "cwm://operations/{operation_id}",
        name="operation",
        description="Details of one ConnectWise operation by operationId",
        mime_type="application/json",
    )
    def operation_resource(operation_id: str) -> str:
        from cwm_generated.registry import BY_ID

        op = BY_ID.get(operation_id)
        if op is None or engine.is_hidden(op):
            raise ValueError(f"no operation {operation_id!r}; search_api_endpoints finds ids")
        return json.dumps(gateway.endpoint_details(op.path, op.method).details, default=str)

    @server.resource(
        "cwm://guides/conditions",
        name="conditions-guide",
        description="How to write conditions, childConditions, orderBy and fields",
        mime_type="text/markdown",
    )
    def conditions_guide() -> str:
        return GUIDE

    @server.resource(
        "cwm://fast-memory",
        name="fast-memory",
        description="Saved Fast Memory queries",
        mime_type="application/json",
    )
    def fast_memory_resource() -> str:
        return gateway.memory_list().model_dump_json()

    return server
