"""The gateway's use cases, one method per MCP tool, independent of MCP itself.

Every upstream call goes the same way: resolve and validate (``validation``) → policy decision
(``policy``), with a person's approval where the policy asks for it → send (``client``) →
summarize, audit and remember (``memory``). The MCP layer (``server``) only adapts arguments
and results.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from cwm_gateway import compact, identity
from cwm_gateway.config import Settings
from cwm_gateway.errors import ApiError, CWMError, Problem, RequestValidationError
from cwm_gateway.input_limits import (
    InputLimits,
    check_argument_sizes,
    json_size,
    summarize_arguments,
)
from cwm_gateway.memory import FastMemory
from cwm_gateway.paths import Route, canonical_method
from cwm_gateway.policy.approval import ApprovalOutcome, ApprovalRequest, approval_outcome
from cwm_gateway.policy.audit import AuditLog, OutputScrubber, Scrubber
from cwm_gateway.policy.loader import default_policy_hidden_tools, load_default_policy, load_policy
from cwm_gateway.policy.tool_names import UPSTREAM_TOOLS as POLICY_UPSTREAM_TOOLS
from cwm_gateway.policy.tool_names import hides
from cwm_gateway.results import (
    ApiCallResult,
    CategoriesResult,
    CategoryEndpointsResult,
    EndpointDetailsResult,
    FieldList,
    ListSummary,
    MemoryChangeResult,
    MemoryListResult,
    SavedQueryView,
    SearchResult,
    Table,
    ToolFailure,
)
from cwm_generated.types import Operation, RequestSpec

# What only a call needs loads with the first call, not at start: the first tools/list (the
# cold start hosts wait for) needs none of it. The client (httpx), the checks (validation, the
# conditions language, value checks and their reference data), the policy engine and its rules,
# files, raw-request parsing, the catalog and search are imported where they are used.
if TYPE_CHECKING:
    from cwm_gateway.client import AsyncClient
    from cwm_gateway.files import FetchFile
    from cwm_gateway.policy.engine import CallContext, Decision, PolicyEngine
    from cwm_gateway.transport import AttemptRecord
    from cwm_gateway.validation import CanonicalRequest

log = logging.getLogger(__name__)

DEFAULT_PAGE_SIZE = 25
#: Environment variable naming a policy file (``--policy`` wins over it).
POLICY_ENV = "CWM_GATEWAY_POLICY"
MAX_RESULTS_CAP = 100
#: Bytes of saved queries in one list_fast_memory answer (clients cap messages near 1 MiB).
MEMORY_LIST_BUDGET_BYTES = 200_000

_current_call: contextvars.ContextVar[CallContext | None] = contextvars.ContextVar(
    "cwm_current_call", default=None
)


class ToolFailureError(CWMError):
    """A tool call that ends as an MCP tool error (isError) with a structured body."""

    def __init__(self, failure: ToolFailure) -> None:
        super().__init__(failure.message)
        self.failure = failure


def _fail(kind: str, message: str, **extra: Any) -> ToolFailureError:
    return ToolFailureError(ToolFailure(error=kind, message=message, **extra))


def _invalid(exc: RequestValidationError) -> ToolFailureError:
    return _fail("invalid_request", str(exc), problems=exc.to_dict()["problems"])


def _details(op: Operation, field_filter: str | None) -> EndpointDetailsResult:
    """Everything needed to call ``op``, one line per parameter and field."""
    from cwm_gateway import catalog

    body = None
    if op.body_kind is not None:
        model = op.response_model if op.body_kind == "patch" else op.body_model
        lines, total = catalog.field_lines(catalog.schema_of(model), field_filter)
        note = {
            "patch": "send [{op: add|replace|remove, path: <field, nested with />, value}]",
            "array": f"send a JSON array of {op.body_model} objects",
            "multipart": "multipart form data; the file itself as 'file'",
        }.get(op.body_kind)
        body = FieldList(model=model, kind=op.body_kind, lines=lines, total=total, note=note)
    response = None
    if op.response_model or op.success_status:
        kind = "list" if op.response_is_list else (op.response_kind or "object")
        note = f"status {op.success_status}" if op.success_status else None
        if body is not None and body.model == op.response_model and op.response_model:
            response = FieldList(
                model=op.response_model,
                kind=kind,
                lines=[],
                total=0,
                note=(note + "; " if note else "") + "the body's fields",
            )
        else:
            lines, total = catalog.field_lines(catalog.schema_of(op.response_model), field_filter)
            response = FieldList(
                model=op.response_model, kind=kind, lines=lines, total=total, note=note
            )
    details = catalog.endpoint_details(op.path, op.method)
    default = compact.default_fields_param(op)
    return EndpointDetailsResult(
        operation_id=op.operation_id,
        method=op.method,
        path=op.path,
        summary=details["summary"],
        risk=op.risk,
        category=op.category,
        tag=op.tag,
        other_methods=details["other_methods"],
        path_params=[catalog.param_line(p, op) for p in op.path_params],
        query_params=[catalog.param_line(p, op) for p in op.query_params],
        body=body,
        response=response,
        default_fields=default.split(",") if default else None,
        example_body=details["example_body"],
    )


def _operation(operation_id: str) -> Operation:
    # The registry (3,000 operations) loads on first use, not at start-up: tools/list needs none.
    from cwm_generated.registry import BY_ID

    return BY_ID[operation_id]


def _field_names(fields: Any) -> list[str] | None:
    """The field names of a ``fields`` param (``"id,company/name"`` → ``["id", "company/name"]``)."""
    if not isinstance(fields, str) or not fields.strip():
        return None
    return [f.strip() for f in fields.split(",") if f.strip()]


def _bounded(value: int, name: str, default: int) -> int:
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise _fail("invalid_argument", f"{name} must be a positive integer, got {value!r}")
    return min(value, MAX_RESULTS_CAP)


#: The tools that reach ConnectWise; each carries one request and all are judged alike.
UPSTREAM_TOOLS = frozenset(POLICY_UPSTREAM_TOOLS)


class PreparedCall(NamedTuple):
    """A tool call made ready for the policy and, when it reaches ConnectWise, for sending."""

    call: CallContext
    request: CanonicalRequest | None
    """The canonical request; None for tools that reach no ConnectWise operation."""
    notes: list[str]

    @property
    def spec(self) -> RequestSpec[Any] | None:
        """What is sent (the canonical request's spec)."""
        return self.request.spec if self.request is not None else None


@dataclass
class GatewayOptions:
    """Where state lives and how results are shaped."""

    policy_path: Path | None = None
    """Policy file; None → the shipped default policy."""
    data_dir: Path | None = None
    """Directory for Fast Memory, rate limits and audit; None → the per-user data dir."""
    state_url: str | None = None
    """State backend (``postgresql://…`` or a directory); None → ``$CWM_GATEWAY_STATE_URL``,
    else SQLite files in ``data_dir``."""
    text_budget: int = compact.TEXT_BUDGET
    """Characters of rows in one list result; the rest are counted, never dropped silently."""
    read_only: bool = False
    """Force the policy's read-only switch on: only Read operations may be called."""


@dataclass(frozen=True)
class DeferredEngine:
    """A policy engine built when the first call needs a decision, and what is known before.

    For the shipped default policy, which the tests compile: defining the policy document's
    models and validating the file cost about a third of the start-up's own work, and the first
    tools/list needs only the hide list. A policy file someone wrote is compiled at start, so a
    mistake in it stops the start instead of the first call.
    """

    build: Callable[[], PolicyEngine]
    hidden_tools: frozenset[str]
    """The policy's ``hide`` list."""
    audit: AuditLog | None
    """The audit log the engine will write (secrets to scrub are set on it before it exists)."""


class Gateway:
    """Composes catalog, search, validation, policy, client and memory for the tools.

    Credentials are read on the first upstream call, not before, so search and details work
    without them. ``settings_factory`` defaults to :meth:`Settings.from_env`.
    """

    def __init__(
        self,
        *,
        memory: FastMemory,
        engine: PolicyEngine | DeferredEngine,
        settings: Settings | None = None,
        settings_factory: Callable[[], Settings] = Settings.from_env,
        text_budget: int = compact.TEXT_BUDGET,
        limits: InputLimits | None = None,
    ) -> None:
        self.memory = memory
        self._engine: PolicyEngine | None = None
        self._deferred: DeferredEngine | None = None
        if isinstance(engine, DeferredEngine):
            self._deferred = engine
        else:
            self._engine = engine
        # Engines of grants that name their own policy file, by path (same limiter and audit).
        self._grant_engines: dict[str, PolicyEngine] = {}
        self.force_read_only = False
        """Apply read-only to grants' own policies too (``--read-only``)."""
        self._settings = settings
        self._settings_factory = settings_factory
        self._client: AsyncClient | None = None
        # Clients of grants that carry their own ConnectWise member keys, by public key.
        self._member_clients: dict[str, AsyncClient] = {}
        self._client_lock = asyncio.Lock()
        self.state: Any = None
        """The state backend (:mod:`cwm_gateway.state`) when built by :meth:`from_options`."""
        self.text_budget = text_budget
        self.limits = limits or InputLimits.from_env()
        self._output_scrubber = OutputScrubber(())
        self._secrets: set[str] = set()
        if settings is not None:
            self._protect(settings)

    def _protect(self, settings: Settings) -> None:
        """Keep this configuration's secrets out of the audit log and of every tool result.

        An upstream (a proxy, a misbehaving server) may echo request headers back; whatever
        it says passes :meth:`_scrub` before it reaches a client.
        """
        header = settings.authorization_header()
        # Accumulated: grants' member keys join the gateway's own.
        self._secrets.update((settings.private_key, header, header.removeprefix("Basic ")))
        self._output_scrubber = OutputScrubber(sorted(self._secrets))
        # The engine's audit log, or the one a deferred engine will write (not built for this).
        audit = (self._deferred or self._base_engine()).audit
        if audit is not None:
            audit.scrubber = Scrubber(self._secrets)

    def _scrub(self, value: Any, raw: bytes | str | None = None) -> Any:
        """``value`` with the configured secrets replaced (``raw``: its bytes, a fast pre-check)."""
        return self._output_scrubber.value(value, raw)

    def _base_engine(self) -> PolicyEngine:
        """The gateway's own engine, built now when it was deferred."""
        if self._deferred is not None:
            self._engine, self._deferred = self._deferred.build(), None
        assert self._engine is not None  # one of the two is always set
        return self._engine

    def is_tool_hidden(self, tool: str) -> bool:
        """Whether the gateway's policy leaves ``tool`` out of tools/list (and denies it)."""
        if self._deferred is not None:  # not built yet: the hide list is known without it
            return hides(self._deferred.hidden_tools, tool)
        return self._base_engine().is_tool_hidden(tool)

    @property
    def engine(self) -> PolicyEngine:
        """The policy engine of the current grant: its own policy file, else the gateway's."""
        path = identity.current().policy
        if path is None:
            return self._base_engine()
        engine = self._grant_engines.get(path)
        if engine is None:
            policy = load_policy(path)
            if self.force_read_only:
                policy = dataclasses.replace(policy, read_only=True)
            base = self._base_engine()
            from cwm_gateway.policy.engine import PolicyEngine

            engine = PolicyEngine(policy, base.ratelimiter, base.audit)
            self._grant_engines[path] = engine
        return engine

    @engine.setter
    def engine(self, engine: PolicyEngine) -> None:
        self._engine, self._deferred = engine, None
        self._grant_engines.clear()

    @classmethod
    def from_options(cls, options: GatewayOptions, **kwargs: Any) -> Gateway:
        """Build a gateway on the state backend the options name (SQLite files by default)."""
        from cwm_gateway.memory import data_dir as default_data_dir
        from cwm_gateway.state import STATE_URL_ENV, open_state

        policy_path = options.policy_path or os.environ.get(POLICY_ENV) or None
        # A file someone wrote is compiled now: a mistake in it stops the start.
        policy = load_policy(policy_path) if policy_path else None
        url = options.state_url or os.environ.get(STATE_URL_ENV, "").strip() or None
        state = open_state(url or (options.data_dir or default_data_dir()))

        def build_engine() -> PolicyEngine:
            compiled = policy if policy is not None else load_default_policy()
            if options.read_only:
                compiled = dataclasses.replace(compiled, read_only=True)
            from cwm_gateway.policy.engine import PolicyEngine

            return PolicyEngine(compiled, state.ratelimiter, state.audit)

        engine: PolicyEngine | DeferredEngine = (
            build_engine()
            if policy is not None
            else DeferredEngine(build_engine, default_policy_hidden_tools(), state.audit)
        )
        gateway = cls(
            memory=state.memory,
            engine=engine,
            text_budget=options.text_budget,
            **kwargs,
        )
        gateway.state = state
        gateway.force_read_only = options.read_only
        return gateway

    # -- policy helpers ------------------------------------------------------------------

    def _visible(self, op: Operation) -> bool:
        return not self.engine.is_hidden(op)

    def check_tool(self, tool: str, grant: str, arguments: dict[str, Any]) -> None:
        """Policy check for tools that do not reach ConnectWise (search, memory...)."""
        from cwm_gateway.policy.engine import CallContext

        call = CallContext(tool=tool, grant=grant, arguments=arguments)
        decision = self.engine.decide(call)
        if decision.action == "require_approval":
            # Local tools have nothing to show a person; treat as a refusal with the reason.
            decision = decision.after_approval(
                False, f"{tool} requires approval by policy", asked=False
            )
            self.engine.rollback(decision)  # refused: the reserved budget comes back
        self.engine.record(call, decision)
        if not decision.allowed:
            raise _fail("policy_denied", decision.message(), decision=decision.to_dict())

    # -- catalog tools -------------------------------------------------------------------

    def search(self, query: str, max_results: int = 10, natural: bool = False) -> SearchResult:
        if not isinstance(query, str) or not query.strip():
            raise _fail(
                "invalid_argument",
                "query is empty; describe what you want, e.g. 'open tickets for a company'",
            )
        limit = _bounded(max_results, "max_results", 10)
        from cwm_gateway.search import search

        return search(query, limit, visible=self._visible, natural=natural)

    def list_categories(self) -> CategoriesResult:
        from cwm_gateway import catalog

        categories = catalog.list_categories(visible=self._visible)
        return CategoriesResult(
            total_operations=sum(c.operation_count for c in categories), categories=categories
        )

    def category_endpoints(self, category: str, max_results: int = 20) -> CategoryEndpointsResult:
        limit = _bounded(max_results, "max_results", 20)
        from cwm_gateway import catalog

        try:
            return catalog.category_endpoints(category, limit, visible=self._visible)
        except CWMError as exc:
            raise _fail("unknown_category", str(exc)) from None

    def endpoint_details(
        self, path: str, method: str = "GET", field_filter: str | None = None
    ) -> EndpointDetailsResult:
        from cwm_gateway import catalog

        try:
            op = catalog.find_operation(path, method, self._visible)
        except ToolFailureError:
            raise
        except CWMError as exc:
            raise _fail("unknown_operation", str(exc)) from None
        if field_filter is not None and not isinstance(field_filter, str):
            raise _fail("invalid_argument", "field_filter must be text, e.g. 'date'")
        wanted = field_filter.strip() if field_filter and field_filter.strip() else None
        return _details(op, wanted)

    # -- upstream calls ------------------------------------------------------------------

    async def _get_client(self) -> AsyncClient:
        """The client for the current grant: its own member keys, else the configured ones."""
        from cwm_gateway.client import AsyncClient

        async with self._client_lock:
            if self._client is None:
                settings = self._settings or self._settings_factory()
                self._protect(settings)
                self._client = AsyncClient(settings, on_attempt=self._on_attempt)
            member = identity.current().member
            if member is None:
                return self._client
            client = self._member_clients.get(member.public_key)
            if client is None or client.settings.private_key != member.private_key:
                settings = self._client.settings.replace(
                    public_key=member.public_key, private_key=member.private_key
                )
                self._protect(settings)
                client = AsyncClient(settings, on_attempt=self._on_attempt)
                self._member_clients[member.public_key] = client
            return client

    def _on_attempt(self, record: AttemptRecord) -> None:
        call = _current_call.get()
        if call is None:
            return
        self.engine.record(
            call,
            None,
            kind="upstream",
            status=record.status,
            latency_ms=record.latency * 1000,
            error=record.error,
        )

    def _saved_params(self, path: str, found: Route) -> tuple[dict[str, Any] | None, str | None]:
        """Fast Memory's saved params for a GET of ``path`` (routed as ``found``) called without
        params, and the note saying so."""
        saved = self.memory.saved_params_for("GET", path) or self.memory.saved_params_for(
            "GET", found.operation.path
        )
        if not saved:
            return None, None
        return saved, (
            f"Used the params saved in Fast Memory for GET {path}: {saved}. "
            "Pass params={} to call without them."
        )

    async def prepare_call(self, tool: str, grant: str, arguments: dict[str, Any]) -> PreparedCall:
        """The one canonical request of a tool call, and the context the policy judges.

        Made once per call: the approval question, the policy decision, the audit record and
        what is sent all use what this returns. For ``execute_api_call`` and
        ``send_raw_api_request`` the request is parsed, size-checked and fully validated first
        (raising :class:`ToolFailureError`); the context then carries the canonical request and
        the tools' arguments in canonical form, so the same request looks the same to the
        policy whichever tool carries it. Other tools reach no operation.
        """
        if tool not in UPSTREAM_TOOLS:
            from cwm_gateway.policy.engine import CallContext

            return PreparedCall(CallContext(tool=tool, grant=grant, arguments=arguments), None, [])
        from cwm_gateway.files import prepare_upload
        from cwm_gateway.raw_request import parse_raw_request
        from cwm_gateway.validation import canonical_request, resolve

        try:
            check_argument_sizes(arguments, self.limits)
        except RequestValidationError as exc:
            raise _invalid(exc) from None
        if tool == "send_raw_api_request":
            try:
                raw = parse_raw_request(arguments.get("raw_request", ""))
            except RequestValidationError as exc:
                raise _invalid(exc) from None
            method, path, params, data = raw.method, raw.path, raw.params or None, raw.body
        else:
            # Not known to be text until validated (canonical_request refuses anything else).
            method, path = arguments.get("method", "GET"), cast(str, arguments.get("path"))
            params, data = arguments.get("params"), arguments.get("data")
        notes: list[str] = []
        try:
            method = canonical_method(method)
            found = None
            if method == "GET" and params is None:
                # Routed once, for Fast Memory (path or template) and for the request.
                found = resolve(method, path, self._visible)
                saved, note = self._saved_params(path, found)
                if saved is not None:
                    params = saved
                    notes.append(note or "")
            request = canonical_request(
                method, path, params, data, visible=self._visible, route=found
            )
        except RequestValidationError as exc:
            raise _invalid(exc) from None
        try:  # file fields → multipart parts, described for the policy
            request = await prepare_upload(request, fetch=self._file_reader(grant))
        except RequestValidationError as exc:
            raise _invalid(exc) from None
        if tool == "read_api" and request.risk != "Read":
            raise _fail(
                "not_a_read",
                f"read_api only reads; {request.method} {request.template} is a "
                f"{request.risk} operation. Use execute_api_call for it (the policy decides).",
            )
        request = await self._check_values(request, notes, grant)
        if not arguments.get("full"):
            # Compact by default: the resource's default fields, sent as part of the request.
            request = dataclasses.replace(request, spec=compact.with_default_fields(request.spec))
        from cwm_gateway.policy.engine import CallContext

        call = CallContext.for_request(tool, grant=grant, request=request)
        return PreparedCall(call, request, notes)

    async def _check_values(
        self, request: CanonicalRequest, notes: list[str], grant: str
    ) -> CanonicalRequest:
        """Resolve names to ids and refuse impossible values (``value_checks``), so the policy
        judges, and ConnectWise receives, the resolved values."""
        from cwm_gateway.refdata import reference_data
        from cwm_gateway.value_checks import check_request

        try:
            client = await self._get_client()
        except CWMError as exc:  # no configuration yet (e.g. a dry run): nothing to check with
            notes.append(f"Values were not checked against ConnectWise's reference data: {exc}")
            return request
        try:
            request, found = await check_request(
                request, reference_data(client), lambda path: self._may_read(grant, path)
            )
        except RequestValidationError as exc:
            raise _invalid(exc) from None
        notes.extend(found)
        return request

    def _file_reader(self, grant: str) -> FetchFile:
        """Reads a file an upload links to (``cwm://files/…``): a download this grant's policy
        lets it read, within the upload cap."""
        from cwm_gateway.files import download_of
        from cwm_gateway.validation import canonical_request

        def refuse(message: str) -> RequestValidationError:
            return RequestValidationError([Problem("resource_uri", message)])

        async def fetch(path: str, cap: int) -> tuple[bytes, str, str | None]:
            try:
                read = canonical_request("GET", path, None, None, visible=self._visible)
            except RequestValidationError:
                raise refuse(f"{path} is not a file ConnectWise serves") from None
            if read.operation.response_kind != "binary":
                raise refuse(f"{path} is not a file download")
            if not self._may_read(grant, read.path):
                raise refuse(f"the policy does not allow reading {read.path}")
            try:
                client = await self._get_client()
                response = await client.send(read.spec)
            except CWMError as exc:
                raise refuse(f"{read.path} could not be read: {str(exc).splitlines()[0]}") from None
            if len(response.content) > cap:
                raise refuse(
                    f"the file is {len(response.content):,} bytes; uploads are capped at "
                    f"{cap:,} bytes"
                )
            found = download_of(read.path, response.headers, response.content)
            return found.content, found.media_type, found.filename

        return fetch

    def _may_read(self, grant: str, path: str) -> bool:
        """Whether this grant's policy lets it read ``GET path`` now (a preview: counts
        nothing). Reference data is only used where the caller could read it itself."""
        from cwm_gateway.validation import canonical_request

        try:
            read = canonical_request("GET", path, None, None, visible=self._visible)
        except RequestValidationError:  # hidden or unknown to this caller
            return False
        from cwm_gateway.policy.engine import CallContext

        call = CallContext.for_request("execute_api_call", grant=grant, request=read)
        return self.engine.preview(call).action == "allow"

    def approval_request(self, prepared: PreparedCall) -> ApprovalRequest | None:
        """What a person would be asked to approve for this call, or None when no one is asked.

        Counts nothing (a preview), but a call that its rate limits would refuse now is not
        put to a person at all: the call itself then reports the limit.
        """
        decision = self.engine.preview(prepared.call, with_limits=True)
        if decision.action != "require_approval":
            return None
        return ApprovalRequest.from_call(prepared.call, decision)

    def _authorize(self, call: CallContext, approval: Any) -> Decision:
        decision = self.engine.decide(call)
        if decision.action == "require_approval":
            request = ApprovalRequest.from_call(call, decision)
            if approval is None:
                outcome = ApprovalOutcome(
                    False,
                    "unsupported",
                    f"{request.method} {request.path} needs a person's approval and there is no "
                    "way to ask here. Nothing was sent.",
                )
            else:
                outcome = approval_outcome(approval, request)
            asked = outcome.status not in ("unsupported", "error")
            decision = decision.after_approval(outcome.approved, outcome.message, asked=asked)
            if not decision.allowed:
                self.engine.rollback(decision)  # nothing is sent: the reserved budget comes back
        return decision

    async def execute(
        self,
        tool: str,
        grant: str,
        arguments: dict[str, Any],
        *,
        approval: Any = None,
        prepared: PreparedCall | ToolFailure | None = None,
    ) -> ApiCallResult:
        """Validate, authorize, send and summarize one ConnectWise call.

        ``arguments`` are the tool's (``execute_api_call`` or ``send_raw_api_request``).
        ``prepared`` is the call as :meth:`prepare_call` made it for the approval question (the
        MCP layer prepares once and passes it here, so the request a person approved is the
        request sent); without it the call is prepared here. ``approval`` is the person's
        answer (the ``ElicitationResult`` the MCP layer resolved) for calls the policy sends
        for approval; without one such calls are refused.
        """
        try:
            if isinstance(prepared, ToolFailure):
                raise ToolFailureError(prepared)
            if prepared is None:
                prepared = await self.prepare_call(tool, grant, arguments)
        except ToolFailureError as exc:
            from cwm_gateway.policy.engine import CallContext

            self.engine.record(
                CallContext(tool=tool, grant=grant, arguments=summarize_arguments(arguments)),
                None,
                error=exc.failure.message,
            )
            raise
        call, request, notes = prepared
        if request is None:
            raise _fail("invalid_argument", f"{tool} does not call ConnectWise")
        spec = request.spec
        notes = list(notes)
        decision = self._authorize(call, approval)
        if not decision.allowed:
            self.engine.record(call, decision)
            raise _fail("policy_denied", decision.message(), decision=decision.to_dict())
        started = time.perf_counter()
        token = _current_call.set(call)
        try:
            client = await self._get_client()
            response = await client.send(spec)
        except ApiError as exc:
            # PolicyLayer: a failed upstream call uses no quota (reserve → forward → rollback).
            self.engine.rollback(decision)
            self.engine.record(
                call,
                decision,
                status=exc.status,
                latency_ms=(time.perf_counter() - started) * 1000,
                error=exc,
            )
            raise _fail("api_error", self._scrub(str(exc)), status=exc.status) from None
        except CWMError as exc:  # configuration problems surface here, on first use
            self.engine.rollback(decision)
            self.engine.record(call, decision, error=exc)
            raise _fail("configuration", self._scrub(str(exc))) from None
        finally:
            _current_call.reset(token)
        self.engine.commit(decision)
        self.engine.record(
            call,
            decision,
            status=response.status,
            latency_ms=(time.perf_counter() - started) * 1000,
        )
        body = self._scrub(response.json, response.content)
        download = None
        if body is None and response.content:
            # A file (invoice PDF, image): returned beside the result, never dumped into text.
            from cwm_gateway.files import download_of, max_download_bytes

            download = download_of(spec.path, response.headers, response.content)
            size, kind = len(download.content), download.media_type
            body = self._scrub(
                {"file": {"media_type": kind, "bytes": size, "filename": download.filename}}
            )
            if size > max_download_bytes():
                download = None
                notes.append(
                    f"The response is a file ({kind}, {size} bytes), larger than the "
                    f"{max_download_bytes():,} bytes a tool result carries "
                    "(CWM_GATEWAY_MAX_DOWNLOAD_BYTES). Download it with the Python client: "
                    "ApiResponse.content."
                )
            elif self._scrub(text := download.content.decode("latin-1")) != text:
                # An upstream echoing the gateway's credentials into a file (latin-1: byte for
                # byte, so the secrets are found wherever they are).
                download = None
                notes.append(
                    f"The response is a file ({kind}, {size} bytes) that contains the gateway's "
                    "own credentials; it is not returned."
                )
            else:
                body["file"]["uri"] = download.uri
                notes.append(
                    f"The file ({kind}, {size} bytes) is attached to this result as an embedded "
                    f"resource ({download.uri})."
                )
        full = bool(arguments.get("full"))
        result = self._summarize(spec, response.status, body, response.links, notes, full)
        return result.with_file(download) if download is not None else result

    def _summarize(
        self,
        spec: RequestSpec[Any],
        status: int,
        body: Any,
        links: dict[str, str],
        notes: list[str],
        full: bool = False,
    ) -> ApiCallResult:
        """Shape an answer for a model (see :mod:`cwm_gateway.compact`) and note Fast Memory."""
        op = spec.operation
        result = ApiCallResult(method=op.method, path=spec.path, status=status)
        # The caller's params: the default fields the gateway added are not theirs to repeat.
        default = compact.default_fields_param(op)
        params = dict(spec.params)
        defaulted = default is not None and params.get("fields") == default
        if defaulted:
            params.pop("fields")
        if isinstance(body, list):
            page = int(params.get("page", 1) or 1)
            page_size = int(params.get("pageSize", DEFAULT_PAGE_SIZE) or DEFAULT_PAGE_SIZE)
            if full:
                shown, _ = compact.full_list(body, self.text_budget * 2)
                result.data = shown
                count, cut = len(shown), 0
            else:
                requested = None if defaulted else _field_names(params.get("fields"))
                table = compact.compact_list(
                    body, requested, cut_long=requested is None, budget=self.text_budget
                )
                shaped = Table.model_construct(columns=table.columns, rows=table.rows)
                result.with_table(shaped, table.lines)
                count, cut = len(table.rows), table.cut_texts
            more = "next" in links or len(body) >= page_size
            next_params = None
            if count < len(body):
                next_params = compact.next_page(params, page, page_size, count)
                notes.append(
                    f"{len(body) - count} more items on this page did not fit this result's "
                    f"size budget; next params continue at item {(page - 1) * page_size + count + 1}"
                    + ("." if full else "; fewer fields (e.g. fields='id,summary') show more.")
                )
            elif more:
                next_params = compact.next_page(params, page, page_size, page_size)
            result.list_summary = ListSummary(
                returned=len(body),
                shown=count,
                page=page,
                page_size=page_size,
                more_pages_likely=more or count < len(body),
                next_page_params=next_params,
            )
        elif isinstance(body, dict) and not full and "file" not in body:
            keep = (
                None
                if (defaulted or "fields" in params)
                else compact.default_fields(op.response_model, "record")
            )
            record, left_out, cut = compact.compact_record(
                body, keep, cut_long="fields" not in params
            )
            result.data = record
            if left_out:
                notes.append(f"{left_out} more fields not shown; full=true shows the whole record.")
        else:
            result.data = body
            cut = 0
        if cut:
            notes.append(
                f"{cut} long texts cut at {compact.LONG_TEXT} characters (marked …); "
                "name them in fields, or full=true, to see them whole."
            )
        # A query may have been saved with the concrete path or with the template.
        saved = self.memory.find(spec.path, op.method, params or None) or (
            self.memory.find(op.path, op.method, params or None) if spec.path != op.path else None
        )
        if saved is not None:
            self.memory.record_use(saved.id)
            notes.append(f"Fast Memory query #{saved.id} ({saved.usage_count + 1}× used).")
        elif op.method == "GET" and op.is_list and params.get("conditions"):
            notes.append("save_to_fast_memory keeps this query for reuse.")
        result.notes = notes  # pydantic copied the list at construction
        return result

    # -- Fast Memory ---------------------------------------------------------------------

    def memory_save(
        self,
        path: str,
        method: str,
        description: str,
        params: Any = None,
        data: Any = None,
        shared: bool = False,
    ) -> MemoryChangeResult:
        if not isinstance(shared, bool):
            raise _fail("invalid_argument", f"shared must be true or false, got {shared!r}")
        from cwm_gateway.validation import resolve

        try:
            resolved = resolve(method, path, self._visible).operation
        except RequestValidationError as exc:
            raise _invalid(exc) from None
        size = json_size({"params": params, "data": data, "description": description})
        if size > self.limits.memory_entry_bytes:
            raise _fail(
                "invalid_argument",
                f"This query is {size:,} bytes; a Fast Memory entry holds at most "
                f"{self.limits.memory_entry_bytes:,} (CWM_GATEWAY_MAX_MEMORY_ENTRY_BYTES). Save "
                "the conditions, not data.",
            )
        if (
            self.memory.find(path, method, params or None) is None
            and len(self.memory.list()) >= self.limits.memory_entries
        ):
            raise _fail(
                "invalid_argument",
                f"Fast Memory is full ({self.limits.memory_entries} saved queries, "
                "CWM_GATEWAY_MAX_MEMORY_ENTRIES); delete_from_fast_memory some first.",
            )
        try:
            saved = self.memory.save(path, method, description, params, data, shared=shared)
        except CWMError as exc:
            raise _fail("invalid_argument", str(exc)) from None
        op = f" ({resolved.operation_id})"
        return MemoryChangeResult(
            message=f"Saved as Fast Memory query #{saved.id}: {saved.method} {saved.path}{op}.",
            query=saved,
        )

    def memory_list(self, search_term: str | None = None) -> MemoryListResult:
        try:
            queries = self.memory.list(search_term)
        except CWMError as exc:
            raise _fail("invalid_argument", str(exc)) from None
        views: list[SavedQueryView] = []
        budget = MEMORY_LIST_BUDGET_BYTES
        for q in queries:
            view = q
            budget -= json_size(view.model_dump(mode="json"))
            if budget < 0 and views:
                break
            views.append(view)
        result = MemoryListResult(queries=views)
        if len(views) < len(queries):
            result.message = (
                f"Showing {len(views)} of {len(queries)} saved queries (the rest would not fit in "
                "one answer); narrow with search_term."
            )
        return result

    def memory_delete(self, query_id: int) -> MemoryChangeResult:
        if not isinstance(query_id, int) or isinstance(query_id, bool) or query_id < 1:
            raise _fail(
                "invalid_argument", f"query_id must be a positive integer, got {query_id!r}"
            )
        if not self.memory.delete(query_id):
            raise _fail(
                "not_found",
                f"No saved query #{query_id}. list_fast_memory() shows the ids that exist.",
            )
        return MemoryChangeResult(message=f"Deleted saved query #{query_id}.")

    def memory_clear(self) -> MemoryChangeResult:
        count = self.memory.clear()
        return MemoryChangeResult(
            message=f"Cleared Fast Memory ({count} saved queries removed).",
            count=count,
        )

    async def aclose(self) -> None:
        for client in self._member_clients.values():
            await client.aclose()
        self._member_clients.clear()
        if self._client is not None:
            await self._client.aclose()
            self._client = None
