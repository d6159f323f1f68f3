"""The MCP server: the eleven tools (and read_api), each a few lines over :class:`cwm_gateway.core.Gateway`.

Tool names and arguments match the earlier ConnectWise MCP servers so existing prompts and
client configs keep working. Every tool returns readable text plus structured content with an
output schema; every failure is a tool error (isError) whose message says what was wrong and
what would be right. Nothing here talks HTTP.
"""

# (no "from __future__ import annotations": the SDK reads these signatures at start-up, and
# evaluating string annotations for twelve tools cost ~17 ms of the cold start)

import base64
import logging
import weakref
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Annotated, Any

from mcp.server.elicitation import ElicitationResult
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.server.mcpserver.resolve import Resolve
from mcp_types import (
    BlobResourceContents,
    CallToolResult,
    EmbeddedResource,
    TextContent,
    ToolAnnotations,
)
from mcp_types import Tool as MCPTool
from pydantic import BaseModel, Field, ValidationError, WithJsonSchema

from cwm_gateway import __version__, identity, tool_schemas
from cwm_gateway.core import Gateway, PreparedCall, ToolFailureError
from cwm_gateway.policy.approval import ApprovalForm, ApprovalNotAsked, approval_question
from cwm_gateway.prompts import add_completions, add_prompts
from cwm_gateway.results import (
    ApiCallResult,
    CategoriesResult,
    CategoryEndpointsResult,
    EndpointDetailsResult,
    MemoryChangeResult,
    MemoryListResult,
    SearchResult,
    ToolFailure,
    concise_input_schema,
    concise_schema,
)
from cwm_gateway.tool_arguments import argument_failure, type_problems, unknown_arguments

log = logging.getLogger(__name__)

INSTRUCTIONS = """\
Work with a ConnectWise Manage (PSA) instance. Find operations with search_api_endpoints or
natural_language_api_search, read get_api_endpoint_details before calling, then call
execute_api_call. Field names in `conditions`, `orderBy` and `fields` are checked against the
resource's schema before anything is sent; errors say what would be right. The resource
cwm://guides/conditions explains the conditions language. Writes may be
rate-limited or need a person's approval, as the gateway's policy says."""

# Per the MCP spec the destructive and idempotent hints mean something only for tools that are
# not read-only, and the defaults of unset hints are the cautious ones (not read-only,
# destructive, not idempotent, open world). Only readOnlyHint (what hosts auto-approve on) and
# hints that differ from those defaults are spelled out: every character of tools/list counts
# against the model's context.
READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)
#: read_api reaches ConnectWise (open world) but only reads: hosts may auto-approve it.
READ_API = ToolAnnotations(read_only_hint=True, open_world_hint=True)
#: execute_api_call and send_raw_api_request may create, change or delete records.
UPSTREAM = ToolAnnotations(read_only_hint=False)
LOCAL_WRITE = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)
LOCAL_DELETE = ToolAnnotations(read_only_hint=False, idempotent_hint=True, open_world_hint=False)


# Published as an enum; checked by the gateway, whose error names the allowed methods of the path.
MethodArg = Annotated[
    str,
    WithJsonSchema(
        {"type": "string", "enum": ["GET", "POST", "PUT", "PATCH", "DELETE"], "description": "HTTP"}
    ),
]
ReadMethodArg = Annotated[
    str,
    WithJsonSchema(
        {"type": "string", "enum": ["GET", "POST"], "description": "POST: .../search only"}
    ),
]
PathArg = Annotated[str, Field(description="e.g. /service/tickets/42")]
ParamsArg = Annotated[
    dict[str, Any] | None, Field(description="conditions, orderBy, fields, pageSize...")
]
DataArg = Annotated[
    dict[str, Any] | list[Any] | None, Field(description="JSON body; PATCH: [{op, path, value}]")
]
FullArg = Annotated[bool, Field(description="Whole records")]
MaxResults = Annotated[int, Field(description="1-100")]


def _ok(result: BaseModel) -> CallToolResult:
    content: list[Any] = [TextContent(type="text", text=result.text())]  # type: ignore[attr-defined]
    file = getattr(result, "file", None)
    if file is not None:  # a download: its bytes as an embedded resource, with its media type
        blob = BlobResourceContents(
            uri=file.uri, mime_type=file.media_type, blob=base64.b64encode(file.content).decode()
        )
        content.append(EmbeddedResource(type="resource", resource=blob))
    return CallToolResult(
        content=content, structured_content=result.model_dump(mode="json", exclude_none=True)
    )


#: ``_meta`` key of an error result's machine-readable form (kind, problems, policy decision).
FAILURE_META = "cwm_gateway/failure"


def _error(failure: ToolFailure) -> CallToolResult:
    # No structured content: clients (the TypeScript SDK's among them) check structured content
    # against the tool's output schema even on errors. The message is the answer; programs find
    # the error's kind and details in _meta, which no client validates.
    return CallToolResult(
        content=[TextContent(type="text", text=failure.message)],
        is_error=True,
        _meta={FAILURE_META: failure.model_dump(mode="json", exclude_none=True)},
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


def _api_call_resolver(tool: str) -> Callable[..., Awaitable[PreparedCall | ToolFailure]]:
    """The resolver preparing a call of ``tool`` (execute_api_call and read_api share the
    arguments; the SDK matches a resolver's parameters to the tool's by name)."""

    async def prepared(
        ctx: Context,
        path: str,
        method: str = "GET",
        params: dict[str, Any] | None = None,
        data: dict[str, Any] | list[Any] | None = None,
        full: bool = False,
    ) -> PreparedCall | ToolFailure:
        arguments = {"path": path, "method": method, "params": params, "data": data, "full": full}
        return await _prepare(ctx, tool, arguments)

    return prepared


async def _prepared_raw(
    ctx: Context, raw_request: str, full: bool = False
) -> PreparedCall | ToolFailure:
    return await _prepare(ctx, "send_raw_api_request", {"raw_request": raw_request, "full": full})


_prepared_execute = _api_call_resolver("execute_api_call")
_prepared_read = _api_call_resolver("read_api")


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


def _approval_resolver(prepare: Callable[..., Any]) -> Callable[..., Any]:
    """Ask a person about a call when the policy requires it (the question or why not), using
    the call ``prepare`` made: the SDK runs each resolver once per round, so the request a
    person approves is the request sent."""

    def approval(ctx: Context, prepared: Annotated[Any, Resolve(prepare)]) -> Any:
        return _ask(ctx, prepared)

    return approval


_execute_approval = _approval_resolver(_prepared_execute)
_read_approval = _approval_resolver(_prepared_read)
_raw_approval = _approval_resolver(_prepared_raw)


Approval = ElicitationResult[ApprovalForm]


class GatewayServer(MCPServer):
    """``MCPServer`` whose answer to arguments that do not fit a tool's schema is a tool error
    in the gateway's words (see :mod:`cwm_gateway.tool_arguments`), with the same ``_meta``
    as every other failure, instead of the SDK's pydantic report.

    A tool whose input schema was recorded at build time (:mod:`cwm_gateway.tool_schemas`) is
    listed from that record and registered with the SDK, which builds its argument model, on
    its first call: the first tools/list builds no argument models.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tool_order: list[str] = []
        #: Listed tools the SDK has not built yet: their listing and how to register them.
        self._unregistered: dict[str, tuple[MCPTool, Callable[[], None]]] = {}

    def add_gateway_tool(
        self, fn: Callable[..., Any], listing: MCPTool, recorded_schema: dict[str, Any] | None
    ) -> None:
        """Register ``fn`` as ``listing`` says, now or (with a recorded schema) on first call."""

        def register() -> None:
            self.tool(
                name=listing.name, annotations=listing.annotations, description=listing.description
            )(fn)
            # The tools return a CallToolResult they built from their result model, so the SDK
            # derives no output schema and validates nothing twice; the one set here is listed.
            built = self._tool_manager.get_tool(listing.name)
            assert built is not None  # registered just above
            built.fn_metadata.output_schema = listing.output_schema
            built.parameters = concise_input_schema(built.parameters)

        self._tool_order.append(listing.name)
        if recorded_schema is None:
            register()
        else:
            self._unregistered[listing.name] = (
                listing.model_copy(update={"input_schema": recorded_schema}),
                register,
            )

    def _registered_tool(self, name: str) -> Any:
        """The SDK's tool of that name (registering a listed one first), or None."""
        pending = self._unregistered.pop(name, None)
        if pending is not None:
            pending[1]()
        return self._tool_manager.get_tool(name)

    def _tool_input_schema(self, name: str) -> dict[str, Any] | None:
        pending = self._unregistered.get(name)
        if pending is not None:
            return pending[0].input_schema
        return super()._tool_input_schema(name)

    async def list_tools(self) -> list[MCPTool]:
        built = {tool.name: tool for tool in await super().list_tools()}
        listed = [
            self._unregistered[name][0] if name in self._unregistered else built.pop(name)
            for name in self._tool_order
        ]
        return listed + list(built.values())

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context | None = None
    ) -> Any:
        registered = self._registered_tool(name)
        if registered is None:  # unknown (or hidden) tool: the SDK's answer is the right one
            return await super().call_tool(name, arguments, context)
        schema = registered.parameters
        problems = unknown_arguments(name, arguments, schema)
        if problems:
            return _error(argument_failure(name, problems))
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            # Our tools and resolvers never raise (they return tool errors), so a validation
            # error behind a ToolError is the SDK refusing the arguments.
            if isinstance(exc, UnexpectedToolError) or not isinstance(
                exc.__cause__, ValidationError
            ):
                raise
            return _error(argument_failure(name, type_problems(exc.__cause__, arguments, schema)))


def build_server(
    gateway: Gateway,
    *,
    recorded_schemas: Mapping[str, dict[str, Any]] | None = None,
    **transport: Any,
) -> MCPServer:
    """The MCP server with the tools, resources, prompts and completions.

    ``recorded_schemas``: tools' input schemas recorded at build time (default: what
    :func:`cwm_gateway.tool_schemas.load` finds for the installed SDK; ``{}`` derives them all
    now). ``transport`` holds ``MCPServer`` options of the HTTP deployment (``auth``,
    ``token_verifier``, ``request_state_security``; see :func:`cwm_gateway.web.server_auth_options`).
    """
    recorded = tool_schemas.load() if recorded_schemas is None else recorded_schemas
    # WARNING: at INFO the SDK's logging setup would log every upstream request line.
    server = GatewayServer(
        name="cwm-api-gateway",
        version=__version__,
        instructions=INSTRUCTIONS,
        log_level="WARNING",
        **transport,
    )
    _GATEWAYS[server] = gateway

    def tool(name: str, annotations: ToolAnnotations, output: type[BaseModel]):
        # No titles: the names say as much, and tools/list must stay under 8,000 characters.
        def register(fn):
            if gateway.is_tool_hidden(name):
                return fn  # hidden by policy: not even listed
            listing = MCPTool(
                name=name,
                description=" ".join((fn.__doc__ or "").split()),
                input_schema={},
                output_schema=concise_schema(output),
                annotations=annotations,
            )
            server.add_gateway_tool(fn, listing, recorded.get(name))
            return fn

        return register

    def local(
        ctx: Context | None, name: str, arguments: dict[str, Any], work: Callable[[], BaseModel]
    ) -> Awaitable[CallToolResult]:
        """Run a tool that never reaches ConnectWise, after the policy allowed it."""

        def checked() -> BaseModel:
            gateway.check_tool(name, grant_of(ctx), arguments)
            return work()

        return _run(checked)

    @tool("search_api_endpoints", READ_ONLY, SearchResult)
    async def search_api_endpoints(
        query: Annotated[str, Field(description="Keywords")],
        max_results: MaxResults = 10,
        ctx: Context | None = None,
    ) -> CallToolResult:
        """Find operations by keywords, e.g. 'ticket notes' (knows MSP words: client =
        company)."""
        return await local(
            ctx,
            "search_api_endpoints",
            {"query": query, "max_results": max_results},
            lambda: gateway.search(query, max_results),
        )

    @tool("natural_language_api_search", READ_ONLY, SearchResult)
    async def natural_language_api_search(
        query: Annotated[str, Field(description="A request in words")],
        max_results: MaxResults = 5,
        ctx: Context | None = None,
    ) -> CallToolResult:
        """Find the operation for a sentence, e.g. 'close ticket 123'."""
        return await local(
            ctx,
            "natural_language_api_search",
            {"query": query, "max_results": max_results},
            lambda: gateway.search(query, max_results, natural=True),
        )

    @tool("list_api_categories", READ_ONLY, CategoriesResult)
    async def list_api_categories(ctx: Context | None = None) -> CallToolResult:
        """The API's modules (service, company, finance...) and their tags."""
        return await local(ctx, "list_api_categories", {}, lambda: gateway.list_categories())

    @tool("get_category_endpoints", READ_ONLY, CategoryEndpointsResult)
    async def get_category_endpoints(
        category: Annotated[str, Field(description="e.g. service or Tickets")],
        max_results: MaxResults = 20,
        ctx: Context | None = None,
    ) -> CallToolResult:
        """The operations of a module or a resource tag."""
        return await local(
            ctx,
            "get_category_endpoints",
            {"category": category, "max_results": max_results},
            lambda: gateway.category_endpoints(category, max_results),
        )

    @tool("get_api_endpoint_details", READ_ONLY, EndpointDetailsResult)
    async def get_api_endpoint_details(
        path: PathArg,
        method: MethodArg = "GET",
        field_filter: Annotated[
            str | None, Field(description="Only fields containing this")
        ] = None,
        ctx: Context | None = None,
    ) -> CallToolResult:
        """One operation's parameters, body and response fields, risk and a minimal valid
        body."""
        return await local(
            ctx,
            "get_api_endpoint_details",
            {"path": path, "method": method, "field_filter": field_filter},
            lambda: gateway.endpoint_details(path, method, field_filter),
        )

    @tool("read_api", READ_API, ApiCallResult)
    async def read_api(
        path: PathArg,
        params: ParamsArg = None,
        method: ReadMethodArg = "GET",
        data: DataArg = None,
        full: FullArg = False,
        ctx: Context | None = None,
        prepared: Annotated[Any, Resolve(_prepared_read)] = None,
        # Resolve supplies it; the SDK parses the person's answer with this annotation, which must
        # stay Approval (Approval | None breaks that parse): the default is only there for
        # Python's parameter order.
        approval: Annotated[Approval, Resolve(_read_approval)] = None,  # pyright: ignore[reportArgumentType]
    ) -> CallToolResult:
        """execute_api_call for Read operations only (GETs, search POSTs)."""
        arguments = {"path": path, "method": method, "params": params, "data": data, "full": full}
        return await _run(
            lambda: gateway.execute(
                "read_api", grant_of(ctx), arguments, approval=approval, prepared=prepared
            )
        )

    @tool("execute_api_call", UPSTREAM, ApiCallResult)
    async def execute_api_call(
        path: PathArg,
        method: MethodArg = "GET",
        params: ParamsArg = None,
        data: DataArg = None,
        full: FullArg = False,
        ctx: Context | None = None,
        prepared: Annotated[Any, Resolve(_prepared_execute)] = None,
        # Resolve supplies it; the SDK parses the person's answer with this annotation, which must
        # stay Approval (Approval | None breaks that parse): the default is only there for
        # Python's parameter order.
        approval: Annotated[Approval, Resolve(_execute_approval)] = None,  # pyright: ignore[reportArgumentType]
    ) -> CallToolResult:
        """Call any ConnectWise operation; validated and policy-checked before sending. Lists
        return a compact table and the next page's params."""
        arguments = {"path": path, "method": method, "params": params, "data": data, "full": full}
        return await _run(
            lambda: gateway.execute(
                "execute_api_call", grant_of(ctx), arguments, approval=approval, prepared=prepared
            )
        )

    @tool("send_raw_api_request", UPSTREAM, ApiCallResult)
    async def send_raw_api_request(
        raw_request: Annotated[str, Field(description="METHOD /path?query [JSON body]")],
        full: FullArg = False,
        ctx: Context | None = None,
        prepared: Annotated[Any, Resolve(_prepared_raw)] = None,
        # Resolve supplies it; the SDK parses the person's answer with this annotation, which must
        # stay Approval (Approval | None breaks that parse): the default is only there for
        # Python's parameter order.
        approval: Annotated[Approval, Resolve(_raw_approval)] = None,  # pyright: ignore[reportArgumentType]
    ) -> CallToolResult:
        """Send e.g. 'GET /service/tickets?pageSize=5'; as execute_api_call."""
        return await _run(
            lambda: gateway.execute(
                "send_raw_api_request",
                grant_of(ctx),
                {"raw_request": raw_request, "full": full},
                approval=approval,
                prepared=prepared,
            )
        )

    @tool("save_to_fast_memory", LOCAL_WRITE, MemoryChangeResult)
    async def save_to_fast_memory(
        path: PathArg,
        method: MethodArg,
        description: Annotated[str, Field(description="What it is for")],
        params: ParamsArg = None,
        data: DataArg = None,
        shared: Annotated[bool, Field(description="For the whole team")] = False,
        ctx: Context | None = None,
    ) -> CallToolResult:
        """Save a query for reuse."""
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

    @tool("list_fast_memory", READ_ONLY, MemoryListResult)
    async def list_fast_memory(
        search_term: Annotated[str | None, Field(description="Filter")] = None,
        ctx: Context | None = None,
    ) -> CallToolResult:
        """Saved queries, most used first."""
        return await local(
            ctx,
            "list_fast_memory",
            {"search_term": search_term},
            lambda: gateway.memory_list(search_term),
        )

    @tool("delete_from_fast_memory", LOCAL_DELETE, MemoryChangeResult)
    async def delete_from_fast_memory(
        query_id: Annotated[int, Field(description="From list_fast_memory")],
        ctx: Context | None = None,
    ) -> CallToolResult:
        """Delete one saved query by id."""
        return await local(
            ctx,
            "delete_from_fast_memory",
            {"query_id": query_id},
            lambda: gateway.memory_delete(query_id),
        )

    @tool("clear_fast_memory", LOCAL_DELETE, MemoryChangeResult)
    async def clear_fast_memory(ctx: Context | None = None) -> CallToolResult:
        """Delete every saved query."""
        return await local(ctx, "clear_fast_memory", {}, lambda: gateway.memory_clear())

    add_prompts(server)
    add_completions(server, gateway)

    @server.resource(
        "cwm://operations/{operation_id}",
        name="operation",
        description="Details of one ConnectWise operation by operationId",
        mime_type="application/json",
    )
    def operation_resource(operation_id: str) -> str:
        from cwm_generated.registry import BY_ID

        op = BY_ID.get(operation_id)
        if op is None or gateway.engine.is_hidden(op):  # the caller's grant's policy
            raise ValueError(f"no operation {operation_id!r}; search_api_endpoints finds ids")
        return gateway.endpoint_details(op.path, op.method).model_dump_json(exclude_none=True)

    @server.resource(
        "cwm://guides/conditions",
        name="conditions-guide",
        description="How to write conditions, childConditions, orderBy and fields",
        mime_type="text/markdown",
    )
    def conditions_guide() -> str:
        from cwm_gateway.conditions.guide import GUIDE

        return GUIDE

    @server.resource(
        "cwm://fast-memory",
        name="fast-memory",
        description="Saved Fast Memory queries",
        mime_type="application/json",
    )
    def fast_memory_resource() -> str:
        return gateway.memory_list().model_dump_json()

    @server.resource(
        "cwm://fast-memory/{query_id}",
        name="saved-query",
        description="One saved Fast Memory query",
        mime_type="application/json",
    )
    def saved_query_resource(query_id: str) -> str:
        for query in gateway.memory_list().queries:
            if str(query.id) == query_id:
                return query.model_dump_json()
        raise ValueError(f"no saved query #{query_id}; list_fast_memory shows the ids")

    @server.resource(
        "cwm://categories/{category}",
        name="category",
        description="The operations of a module or tag",
        mime_type="application/json",
    )
    def category_resource(category: str) -> str:
        try:
            return gateway.category_endpoints(category, 100).model_dump_json()
        except ToolFailureError as exc:
            raise ValueError(exc.failure.message) from None

    return server


def write_tool_schemas() -> Path:
    """Record each tool's input schema as the installed SDK derives it (``nox -s tool_schemas``)."""
    import asyncio
    import tempfile

    from cwm_gateway.core import GatewayOptions

    with tempfile.TemporaryDirectory() as data_dir:
        gateway = Gateway.from_options(GatewayOptions(data_dir=Path(data_dir)))
        server = build_server(gateway, recorded_schemas={})
        listed = asyncio.run(server.list_tools())
        gateway.state.close()
    return tool_schemas.write({tool.name: tool.input_schema for tool in listed})
