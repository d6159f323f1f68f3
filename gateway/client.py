"""The typed client: :class:`Client` (sync) and :class:`AsyncClient`.

Three ways to make a request, all ending in :meth:`Client.send`, which validates every
request with the one validation path (``cwm_gateway.validation.build_request``: path, query,
``conditions`` field names, page size, the body against the model, strictly) before anything
is sent, however the request was built:

- ``client.send(spec)`` with a :class:`~cwm_generated.types.RequestSpec` from a generated
  operation function, e.g. ``cwm_generated.operations.service.get_service_tickets(...)``;
- ``client.service.tickets.list(conditions="id > 5")`` (or the full name,
  ``client.service.get_service_tickets(...)``) — the same function, sent, returning the parsed
  answer itself (``list[Ticket]``, typed for type checkers; ``send`` gives the whole response);
- ``client.call("GET", "/service/tickets", params={...})`` — a path resolved in the registry.

``paginate``/``pages`` send each page through :meth:`Client.send` too.

Responses are :class:`ApiResponse`: status, headers, the raw JSON, and ``.data`` parsed
leniently into the generated model(s) — a partial ``fields=`` projection or a missing
"required" field never fails a response.
"""

from __future__ import annotations

import difflib
import importlib
import json as jsonlib
import logging
import types
import typing
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Generic, Literal, TypeVar, Unpack, overload

import httpx
from pydantic import AliasChoices, BaseModel, ValidationError

from cwm_gateway import pagination
from cwm_gateway.config import Settings
from cwm_gateway.errors import InvalidResponseError
from cwm_gateway.pagination import PageLimits
from cwm_gateway.transport import (
    AsyncTransport,
    Exchange,
    OnAttempt,
    Outgoing,
    RetryPolicy,
    SyncTransport,
    TransportCore,
)
from cwm_generated.models._base import CWModel
from cwm_generated.operations import AsyncCategories, SyncCategories

if typing.TYPE_CHECKING:
    from cwm_gateway.validation import CanonicalRequest
    from cwm_generated.types import Operation, RequestSpec

T = TypeVar("T")

__all__ = ["ApiResponse", "AsyncClient", "Client", "lenient_model", "unknown_fields"]

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------
# Lenient parsing into generated models
# ------------------------------------------------------------------------------------------

_WIRE_NAMES: dict[type[BaseModel], dict[str, str]] = {}


def _wire_names(cls: type[BaseModel]) -> dict[str, str]:
    """Every key that fills a field of ``cls`` (name, alias, letter-case spellings) → field."""
    names = _WIRE_NAMES.get(cls)
    if names is None:
        names = {}
        for name, info in cls.model_fields.items():
            names[name] = name
            if info.alias:
                names[info.alias] = name
            spellings = info.validation_alias
            choices = spellings.choices if isinstance(spellings, AliasChoices) else [spellings]
            for choice in choices:
                if isinstance(choice, str):
                    names.setdefault(choice, name)
        _WIRE_NAMES[cls] = names
    return names


def _lenient_value(annotation: Any, value: Any) -> Any:
    """Best effort for a value that failed validation: recurse into models, else keep it raw."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if arg is not type(None):
                result = _lenient_value(arg, value)
                if result is not value:
                    return result
        return value
    if origin is list and isinstance(value, list):
        (item_type,) = typing.get_args(annotation) or (Any,)
        return [_lenient_value(item_type, item) for item in value]
    if (
        isinstance(annotation, type)
        and issubclass(annotation, BaseModel)
        and isinstance(value, dict)
    ):
        return lenient_model(annotation, value)
    return value


def lenient_model(cls: type[BaseModel], data: Any) -> Any:
    """``cls.model_validate(data)``, or when that fails, the best partial model.

    Nothing ConnectWise sent is dropped. Each field that validates on its own is validated; one
    that does not keeps its raw value (nested objects are parsed the same way); required fields
    that are absent read as None; fields the model does not know are kept as extra fields
    (``model_extra``, dumps, :meth:`~cwm_generated.models._base.CWModel.unknown_fields`), and
    a known field in another letter case (``Sort``) fills the known one. Non-dict data is
    returned unchanged.
    """
    if not isinstance(data, dict):
        return data
    try:
        return cls.model_validate(data)
    except ValidationError:
        pass
    instance = cls.model_construct()
    validator = cls.__pydantic_validator__
    wire = _wire_names(cls)
    extra: dict[str, Any] = {}
    filled: set[str] = set()
    for key, value in data.items():
        name = wire.get(key)
        if name is None or (name in filled and key != name):
            extra[key] = value
            continue
        filled.add(name)
        try:
            validator.validate_assignment(instance, name, value)
        except ValidationError:
            vars(instance)[name] = _lenient_value(cls.model_fields[name].annotation, value)
            instance.__pydantic_fields_set__.add(name)
    for name in cls.model_fields:
        # model_construct leaves required fields unset, so reading them would raise.
        vars(instance).setdefault(name, None)
    if extra and cls.model_config.get("extra") == "allow":
        instance.__pydantic_extra__ = {**(instance.__pydantic_extra__ or {}), **extra}
    return instance


def unknown_fields(data: Any) -> list[str]:
    """Dotted paths of the fields the spec does not know in parsed data (a model or a list of
    models), e.g. ``["[0].locationId", "[3].status.podId"]`` for a list."""
    if isinstance(data, list):
        return [
            f"[{i}].{path}" if not path.startswith("[") else f"[{i}]{path}"
            for i, item in enumerate(data)
            for path in unknown_fields(item)
        ]
    return data.unknown_fields() if isinstance(data, CWModel) else []


def _parse_data(operation: Operation | None, data: Any) -> Any:
    if operation is None or operation.response_model is None or data is None:
        return data
    from cwm_generated.models import load_model

    try:
        cls = load_model(operation.response_model)
    except (KeyError, AttributeError, ImportError):
        return data
    if isinstance(data, list):
        # The validator itself, not model_validate: a page is often hundreds of records and
        # the wrapper's own work is a measurable part of parsing each.
        validate = cls.__pydantic_validator__.validate_python
        out = []
        for item in data:
            try:
                out.append(validate(item))
            except ValidationError:
                out.append(lenient_model(cls, item))
        return out
    return lenient_model(cls, data)


# ------------------------------------------------------------------------------------------
# Responses
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ApiResponse(Generic[T]):
    """A successful ConnectWise answer."""

    status: int
    headers: httpx.Headers
    json: Any
    """The decoded JSON body, exactly as received (None for an empty or non-JSON body)."""
    operation: Operation | None = None
    content: bytes = field(default=b"", repr=False)
    """The raw body (for downloads and non-JSON answers)."""

    @cached_property
    def data(self) -> T:
        """The body parsed into the operation's response model(s), leniently (see
        :func:`lenient_model`); lists give a list of models. Raw JSON when there is no model;
        the raw bytes for operations that return a file (PDFs, images)."""
        if self.operation is not None and self.operation.response_kind == "binary":
            return self.content  # type: ignore[return-value]
        data = _parse_data(self.operation, self.json)
        if log.isEnabledFor(logging.DEBUG) and self.operation is not None:
            # Spec drift made visible: what ConnectWise sent that the spec does not describe.
            paths = unknown_fields(data)
            if paths:
                shown = ", ".join(paths[:50]) + (
                    f" (+{len(paths) - 50} more)" if len(paths) > 50 else ""
                )
                log.debug(
                    "%s answered with %d field(s) the spec does not know: %s",
                    self.operation.operation_id,
                    len(paths),
                    shown,
                )
        return data

    @property
    def unknown_fields(self) -> list[str]:
        """Dotted paths of fields in :attr:`data` that the spec does not know (kept on the
        models; empty when the answer matches the spec), e.g. ``["[0].locationId"]``."""
        return unknown_fields(self.data)

    @property
    def links(self) -> dict[str, str]:
        """``Link`` header relations (``next``, ``last``...) → URL."""
        value = self.headers.get("link")
        if not value:
            return {}
        parsed = httpx.Response(200, headers={"link": value}).links
        return {rel: item["url"] for rel, item in parsed.items() if rel and "url" in item}

    def __repr__(self) -> str:
        op = self.operation.operation_id if self.operation else None
        size = len(self.json) if isinstance(self.json, list) else None
        items = f", items={size}" if size is not None else ""
        return f"ApiResponse(status={self.status}, operation={op!r}{items})"


def _decode(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return jsonlib.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None


def _to_response(response: httpx.Response, operation: Operation | None) -> ApiResponse[Any]:
    body = _decode(response)
    if (
        body is None
        and response.content
        and "json" in response.headers.get("content-type", "")
        and (operation is None or operation.response_kind != "binary")
    ):
        # A JSON answer that does not parse is a failure, never an empty success.
        raise InvalidResponseError(
            f"ConnectWise's answer ({len(response.content)} bytes) is not valid JSON",
            operation_id=operation.operation_id if operation is not None else None,
            method=response.request.method,
            path=response.request.url.path,
            status=response.status_code,
        )
    return ApiResponse(
        status=response.status_code,
        headers=response.headers,
        json=body,
        operation=operation,
        content=response.content,
    )


def _build_call(
    method: str, path: str, params: Mapping[str, Any] | None, body: Any
) -> RequestSpec[Any]:
    from cwm_gateway.validation import build_request

    return build_request(method, path, dict(params or {}), body)


def _checked(request: RequestSpec[T] | CanonicalRequest) -> RequestSpec[T]:
    """The request as it will be sent, validated by the one validation path
    (:func:`cwm_gateway.validation.build_request`), however it was built: a generated operation
    function, a resource method, :meth:`Client.call` or a page of :meth:`Client.paginate`.

    A :class:`~cwm_gateway.validation.CanonicalRequest` was made by that path already and is
    sent as it is. Raises :class:`~cwm_gateway.errors.RequestValidationError` (nothing sent).
    """
    from cwm_gateway.validation import CanonicalRequest, build_request

    if isinstance(request, CanonicalRequest):
        return request.spec
    op = request.operation
    checked = build_request(op.method, request.path, request.params, request.body)
    if checked.operation.operation_id != op.operation_id:
        # Two templates of one shape (``/system/members/{id}`` and ``{memberIdentifier}``):
        # the caller named its operation, keep it.
        checked = checked._replace(operation=op)
    if request.files:
        checked = checked._replace(files=request.files)
    return checked  # type: ignore[return-value]


# ------------------------------------------------------------------------------------------
# Typed access per category and resource: client.<category>.<resource>.<method>(...)
# ------------------------------------------------------------------------------------------


def _categories() -> tuple[str, ...]:
    from cwm_generated.registry import CATEGORIES

    return CATEGORIES


def _category(client: Client | AsyncClient, name: str, attribute: str) -> Any:
    """``client.<name>``: the category module's bound class (``SyncService``...), made once.

    Its methods build the request with the generated operation function, send it through the
    client's :meth:`~Client.send` (validated there) and return the parsed answer.
    """
    if name.startswith("_") or name not in _categories():
        close = difflib.get_close_matches(name, _categories(), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise AttributeError(f"{type(client).__name__} has no attribute {name!r}{hint}")
    module = importlib.import_module(f"cwm_generated.operations.{name}")
    bound = getattr(module, attribute)(client.send)
    client.__dict__[name] = bound
    return bound


# ------------------------------------------------------------------------------------------
# Clients
# ------------------------------------------------------------------------------------------


class _BaseClient:
    """What :class:`Client` and :class:`AsyncClient` share: settings, the transport core (all
    logic of an exchange), validation before sending, and the categories. Only performing an
    exchange differs (:class:`SyncTransport` or :class:`AsyncTransport`)."""

    #: The category modules' bound class for this flavour (``SYNC_CATEGORY``...).
    _category_attribute: typing.ClassVar[str]
    settings: Settings
    _core: TransportCore

    def _make_core(
        self,
        settings: Settings | None,
        retry: RetryPolicy | None,
        on_attempt: OnAttempt | None,
        rediscover_interval: float,
    ) -> TransportCore:
        """Set :attr:`settings` (from the environment when None) and the core the transport runs."""
        self.settings = settings if settings is not None else Settings.from_env()
        self._core = TransportCore(
            self.settings,
            retry=retry,
            on_attempt=on_attempt,
            rediscover_interval=rediscover_interval,
        )
        return self._core

    def _exchange(
        self, request: RequestSpec[Any] | CanonicalRequest, headers: Mapping[str, str] | None
    ) -> tuple[Exchange, Operation]:
        """The exchange that sends ``request`` once validated (:func:`_checked`; raises
        :class:`~cwm_gateway.errors.RequestValidationError`, nothing sent), and its operation."""
        spec = _checked(request)
        op = spec.operation
        outgoing = Outgoing(
            op.method, spec.path, spec.params, spec.body, spec.files, headers, op.operation_id
        )
        return self._core.exchange(outgoing), op

    @property
    def base_url(self) -> str | None:
        """The API base in use (None until discovered when configured by site)."""
        return self._core.base_url

    if not typing.TYPE_CHECKING:  # type checkers see the categories declared by *Categories

        def __getattr__(self, name: str) -> Any:
            return _category(self, name, self._category_attribute)

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(_categories()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.settings!r})"


class Client(_BaseClient, SyncCategories):
    """Synchronous ConnectWise Manage client with one pooled connection set. Use as a context
    manager or call :meth:`close`.

    ``settings`` defaults to :meth:`Settings.from_env`. ``transport`` is an optional
    :class:`httpx.BaseTransport` (e.g. ``httpx.MockTransport``); ``on_attempt`` is called with
    an :class:`~cwm_gateway.transport.AttemptRecord` after every upstream attempt.
    """

    _category_attribute = "SYNC_CATEGORY"

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        on_attempt: OnAttempt | None = None,
        sleep: Callable[[float], None] | None = None,
        rediscover_interval: float = 300.0,
    ) -> None:
        core = self._make_core(settings, retry, on_attempt, rediscover_interval)
        self._transport = SyncTransport(core, transport=transport, sleep=sleep)

    def send(
        self,
        request: RequestSpec[T] | CanonicalRequest,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> ApiResponse[T]:
        """Validate and send a request built by a generated operation function (or a
        :class:`~cwm_gateway.validation.CanonicalRequest`, sent as it is).

        Raises :class:`~cwm_gateway.errors.RequestValidationError` before sending anything
        when the request is invalid, and ApiError subclasses for ConnectWise's errors.
        """
        exchange, op = self._exchange(request, headers)
        return _to_response(self._transport.run(exchange), op)

    def call(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
    ) -> ApiResponse[Any]:
        """Validate ``method path`` (with its params and body) against the catalog, then send.

        Raises :class:`~cwm_gateway.errors.RequestValidationError` before sending anything
        when the request does not match an operation.
        """
        return self.send(_build_call(method, path, params, body))

    def pages(
        self,
        spec: RequestSpec[T],
        **limits: Unpack[PageLimits],
    ) -> Iterator[ApiResponse[T]]:
        """Every page of a list operation, until the end or a limit (see :class:`~cwm_gateway.pagination.PagePlan`)."""
        return pagination.iter_pages(
            self,
            spec,
            **limits,
        )  # type: ignore[arg-type]

    @overload
    def paginate(
        self,
        spec: RequestSpec[list[T]],
        *,
        raw: Literal[False] = False,
        **limits: Unpack[PageLimits],
    ) -> Iterator[T]: ...
    @overload
    def paginate(
        self,
        spec: RequestSpec[list[T]],
        *,
        raw: Literal[True],
        **limits: Unpack[PageLimits],
    ) -> Iterator[dict[str, Any]]: ...
    def paginate(
        self,
        spec: RequestSpec[list[T]],
        *,
        raw: bool = False,
        **limits: Unpack[PageLimits],
    ) -> Iterator[Any]:
        """Every item of a list operation across pages, parsed leniently (``raw=True``: the
        dicts as received); ``max_items``/``max_pages`` bound it. Each page is validated and
        sent through :meth:`send`."""
        return pagination.iter_items(
            self,  # type: ignore[arg-type]
            spec,
            raw=raw,
            **limits,
        )

    def close(self) -> None:
        """Close the pooled connections."""
        self._transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncClient(_BaseClient, AsyncCategories):
    """Asynchronous twin of :class:`Client` (same arguments; ``async with`` / :meth:`aclose`)."""

    _category_attribute = "ASYNC_CATEGORY"

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
        on_attempt: OnAttempt | None = None,
        sleep: Callable[[float], Awaitable[Any]] | None = None,
        rediscover_interval: float = 300.0,
    ) -> None:
        core = self._make_core(settings, retry, on_attempt, rediscover_interval)
        self._transport = AsyncTransport(core, transport=transport, sleep=sleep)

    async def send(
        self,
        request: RequestSpec[T] | CanonicalRequest,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> ApiResponse[T]:
        """Validate and send (see :meth:`Client.send`)."""
        exchange, op = self._exchange(request, headers)
        return _to_response(await self._transport.run(exchange), op)

    async def call(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
    ) -> ApiResponse[Any]:
        """Validate against the catalog, then send (see :meth:`Client.call`)."""
        return await self.send(_build_call(method, path, params, body))

    def pages(
        self,
        spec: RequestSpec[T],
        **limits: Unpack[PageLimits],
    ) -> AsyncIterator[ApiResponse[T]]:
        """Every page of a list operation, asynchronously."""
        return pagination.aiter_pages(
            self,
            spec,
            **limits,
        )  # type: ignore[arg-type]

    @overload
    def paginate(
        self,
        spec: RequestSpec[list[T]],
        *,
        raw: Literal[False] = False,
        **limits: Unpack[PageLimits],
    ) -> AsyncIterator[T]: ...
    @overload
    def paginate(
        self,
        spec: RequestSpec[list[T]],
        *,
        raw: Literal[True],
        **limits: Unpack[PageLimits],
    ) -> AsyncIterator[dict[str, Any]]: ...
    def paginate(
        self,
        spec: RequestSpec[list[T]],
        *,
        raw: bool = False,
        **limits: Unpack[PageLimits],
    ) -> AsyncIterator[Any]:
        """Every item of a list operation across pages, asynchronously (see :meth:`Client.paginate`)."""
        return pagination.aiter_items(
            self,  # type: ignore[arg-type]
            spec,
            raw=raw,
            **limits,
        )

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._transport.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
