"""The one error hierarchy of the gateway.

Every error a user or agent can see derives from :class:`CWMError` and carries a message that
says what was wrong and, where it can, what would be right. Messages never contain secrets.
:func:`error_from_response` and :func:`error_from_exception` map ConnectWise's answers (status,
``errors[]``, ``Retry-After``) and transport failures to these classes.
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    import httpx  # imported where needed: the server starts without it

    from cwm_gateway.config import Settings


class CWMError(Exception):
    """Base of every error raised by cwm_gateway."""


class ConfigError(CWMError):
    """A setting is missing or malformed (the message names the setting, never its value)."""


class PolicyError(ConfigError):
    """A policy file is missing, unreadable or malformed (the message says where and why)."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a request, found before anything was sent."""

    where: str
    """Which part: ``path``, ``method``, ``query.conditions``, ``body.summary``..."""
    message: str
    """What is wrong."""
    hint: str | None = None
    """What would be right (valid values, did-you-mean suggestions)."""

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text


#: JSON Schema's name of a decoded JSON value's type (bool before int: True is an int too).
_JSON_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "boolean"),
    (int, "integer"),
    (float, "number"),
    (str, "string"),
    (list, "array"),
    (dict, "object"),
)


def json_type(value: Any) -> str:
    """The JSON Schema type name of a decoded JSON value (``integer``, ``object``, ``null``...)."""
    if value is None:
        return "null"
    return next((name for t, name in _JSON_TYPES if isinstance(value, t)), type(value).__name__)


def with_article(noun: str) -> str:
    """``object`` → ``an object``, ``string`` → ``a string``, ``null`` stays ``null``."""
    if noun == "null":
        return noun
    return ("an " if noun[0] in "aeiou" else "a ") + noun


def json_kind(value: Any) -> str:
    """What a message calls a value's JSON type: ``an array``, ``a string``, ``null``. Never the
    value itself (it may be large, or a secret)."""
    return with_article(json_type(value))


@dataclass
class RequestValidationError(CWMError):
    """A request failed validation before it was sent; nothing left the process."""

    problems: list[Problem] = field(default_factory=list)
    operation_id: str | None = None

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        head = (
            f"Request for {self.operation_id} is invalid"
            if self.operation_id
            else "Request is invalid"
        )
        lines = [f"{head}; nothing was sent:"] + [f"- {p}" for p in self.problems]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Structured form for tool output."""
        return {
            "operation_id": self.operation_id,
            "problems": [
                {"where": p.where, "message": p.message, "hint": p.hint} for p in self.problems
            ],
        }


# --------------------------------------------------------------------------------------------
# Errors from talking to ConnectWise (raised by the transport, the client and pagination).
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiErrorDetail:
    """One entry of ConnectWise's ``errors[]`` array (usually a field that failed validation)."""

    code: str | None = None
    message: str | None = None
    resource: str | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = ".".join(p for p in (self.resource, self.field) if p)
        text = self.message or self.code or "error"
        return f"{where}: {text}" if where else text


class ApiError(CWMError):
    """ConnectWise answered a request with an error, or could not be reached.

    Carries what was asked (``operation_id``, ``method``, ``path``) and what ConnectWise said
    (``status`` and its ``{code, message, errors[]}`` body, parsed into ``code``, ``api_message``
    and ``errors``). ``path`` is relative to the API base and never holds credentials.
    """

    default_hint: str | None = None

    def __init__(
        self,
        message: str | None = None,
        *,
        operation_id: str | None = None,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
        code: str | None = None,
        api_message: str | None = None,
        errors: list[ApiErrorDetail] | None = None,
        request_id: str | None = None,
        attempts: int = 1,
        hint: str | None = None,
    ) -> None:
        self.operation_id = operation_id
        self.method = method
        self.path = path
        self.status = status
        self.code = code
        self.api_message = api_message
        self.errors = list(errors or [])
        self.request_id = request_id
        self.attempts = attempts
        self.hint = hint if hint is not None else self.default_hint
        self.summary = message
        super().__init__(self._render())

    def _render(self) -> str:
        what = " ".join(p for p in (self.method, self.path) if p) or "request"
        if self.operation_id:
            what = f"{what} ({self.operation_id})"
        head = self.summary or "ConnectWise returned an error"
        status = f"HTTP {self.status}" if self.status is not None else None
        said = " ".join(p for p in (f"[{self.code}]" if self.code else None, self.api_message) if p)
        lines = [f"{head}: {what}" + (f" -> {status}" if status else "")]
        if said:
            lines.append(f"ConnectWise said: {said}")
        lines.extend(f"- {e}" for e in self.errors)
        if self.attempts > 1:
            lines.append(f"(after {self.attempts} attempts)")
        if self.hint:
            lines.append(f"Hint: {self.hint}")
        if self.request_id:
            lines.append(f"x-cw-request-id: {self.request_id}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Structured form for tool output (no secrets: only what was asked and what came back)."""
        return {
            "type": type(self).__name__,
            "operation_id": self.operation_id,
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "code": self.code,
            "message": self.api_message,
            "errors": [
                {"code": e.code, "message": e.message, "resource": e.resource, "field": e.field}
                for e in self.errors
            ],
            "hint": self.hint,
            "attempts": self.attempts,
            "request_id": self.request_id,
        }


class BadRequestError(ApiError):
    """400: ConnectWise rejected the request content (see ``errors`` for the fields)."""

    default_hint = (
        "fix the fields listed above; conditions use ConnectWise syntax, "
        "e.g. conditions='status/name=\"Open\" and id > 100'"
    )


class AuthenticationError(ApiError):
    """401: the credentials were not accepted."""

    default_hint = (
        "check CONNECTWISE_COMPANY_ID, CONNECTWISE_PUBLIC_KEY and CONNECTWISE_PRIVATE_KEY "
        "(username is '<company>+<public key>'), that the API key is not revoked and that "
        "the API member is active"
    )


class PermissionDeniedError(ApiError):
    """403: the credentials are valid but the API member's security role does not allow this."""

    default_hint = (
        "grant the API member's security role the needed level for this module "
        "(System > Security Roles), or use an operation it may call"
    )


class NotFoundError(ApiError):
    """404: no such record or route."""

    default_hint = (
        "check the id in the path (the record may have been deleted or be out of the "
        "API member's scope) and that the API URL's codebase is current"
    )


class ConflictError(ApiError):
    """409: the change conflicts with the record's current state (e.g. a duplicate)."""

    default_hint = "re-read the record and retry the change against its current state"


class RateLimitedError(ApiError):
    """429: too many requests; ``retry_after`` is the wait ConnectWise asked for, in seconds."""

    default_hint = "slow down; wait the number of seconds given by Retry-After before retrying"

    def __init__(self, *args: Any, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(*args, **kwargs)

    def _render(self) -> str:
        text = super()._render()
        if self.retry_after is not None:
            text += f"\nRetry after: {self.retry_after:g} s"
        return text

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["retry_after"] = self.retry_after
        return data


class ServerError(ApiError):
    """5xx: ConnectWise failed to handle the request."""

    default_hint = (
        "a ConnectWise-side failure; GET requests were retried, a write may or may not have "
        "been applied: read the record before repeating it"
    )


class InvalidResponseError(ServerError):
    """A success status whose JSON body does not parse (cut off by a proxy or a dropped link)."""

    default_hint = (
        "the answer was cut off or garbled on the way; GET requests were retried, a write may "
        "or may not have been applied: read the record before repeating it"
    )


class ApiConnectionError(ApiError):
    """ConnectWise could not be reached (DNS, refused connection, TLS, dropped connection)."""

    default_hint = (
        "check the API URL / CONNECTWISE_SITE, network access to the host and any proxy settings"
    )


class ApiTimeoutError(ApiConnectionError):
    """No answer within the configured timeout."""

    default_hint = (
        "narrow the request (conditions, fields=, smaller pageSize) or raise "
        "CONNECTWISE_READ_TIMEOUT / CONNECTWISE_CONNECT_TIMEOUT; a timed-out write may still "
        "have been applied"
    )


#: HTTP status → error class, for statuses with a class of their own.
STATUS_ERRORS: dict[int, type[ApiError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    429: RateLimitedError,
}


# --------------------------------------------------------------------------------------------
# From an HTTP answer (or a failure to get one) to the error above that describes it.
# --------------------------------------------------------------------------------------------


def redact_url(url: str | httpx.URL) -> str:
    """``url`` without userinfo (credentials never belong in a URL we log)."""
    parts = urlsplit(str(url))
    if "@" not in parts.netloc:
        return str(url)
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date); None if absent
    or unparsable. Dates in the past give 0."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def parse_error_body(
    response: httpx.Response,
) -> tuple[str | None, str | None, list[ApiErrorDetail]]:
    """ConnectWise's ``{code, message, errors[]}`` from an error response, leniently."""
    try:
        data = response.json()
    except ValueError:
        text = response.text.strip()
        if not text or text.lstrip().startswith("<"):  # HTML error page: nothing to quote
            return None, None, []
        return None, text[:500], []
    if not isinstance(data, dict):
        return None, None, []
    details: list[ApiErrorDetail] = []
    for item in data.get("errors") or []:
        if isinstance(item, dict):
            details.append(
                ApiErrorDetail(
                    code=_text(item.get("code")),
                    message=_text(item.get("message")),
                    resource=_text(item.get("resource")),
                    field=_text(item.get("field")),
                )
            )
    return _text(data.get("code")), _text(data.get("message") or data.get("Message")), details


def error_from_response(
    response: httpx.Response,
    *,
    method: str,
    path: str,
    operation_id: str | None,
    attempts: int = 1,
    now: datetime | None = None,
) -> ApiError:
    """The :class:`ApiError` subclass for an error status, with ConnectWise's details."""
    status = response.status_code
    code, message, details = parse_error_body(response)
    common: dict[str, Any] = {
        "operation_id": operation_id,
        "method": method,
        "path": path,
        "status": status,
        "code": code,
        "api_message": message,
        "errors": details,
        "request_id": response.headers.get("x-cw-request-id"),
        "attempts": attempts,
    }
    if status == 429:
        return RateLimitedError(
            "ConnectWise rate-limited the request",
            retry_after=parse_retry_after(response.headers.get("Retry-After"), now),
            **common,
        )
    cls = STATUS_ERRORS.get(status)
    if cls is not None:
        return cls(_SUMMARIES[status], **common)
    if status >= 500:
        return ServerError(f"ConnectWise failed with a server error ({status})", **common)
    if 300 <= status < 400:
        return ApiError(
            "ConnectWise answered with a redirect, which the client does not follow",
            hint=(
                f"the API URL is probably wrong (redirected to "
                f"{redact_url(response.headers.get('Location', '?'))}); "
                "check CONNECTWISE_API_URL / CONNECTWISE_SITE"
            ),
            **common,
        )
    return ApiError(f"ConnectWise rejected the request ({status})", **common)


_SUMMARIES = {
    400: "ConnectWise rejected the request as invalid",
    401: "ConnectWise did not accept the credentials",
    403: "The API member is not allowed to do this",
    404: "ConnectWise found no such record or route",
    409: "The change conflicts with the record's current state",
}


def error_from_exception(
    exc: BaseException,
    *,
    method: str,
    path: str,
    operation_id: str | None,
    settings: Settings,
    attempts: int = 1,
    host: str | None = None,
) -> ApiError:
    """An :class:`ApiTimeoutError`/:class:`ApiConnectionError` for an httpx failure.

    ``host`` (``scheme://host:port``) names where the request went, so the message says
    which address to check."""
    common: dict[str, Any] = {
        "operation_id": operation_id,
        "method": method,
        "path": path,
        "attempts": attempts,
    }
    import httpx

    # httpx messages name host and port, never headers: safe to quote.
    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    at = f" at {host}" if host else ""
    if isinstance(exc, httpx.ConnectTimeout):
        return ApiTimeoutError(
            f"Could not connect to ConnectWise{at} within {settings.connect_timeout:g} s "
            f"({detail})",
            **common,
        )
    if isinstance(exc, httpx.TimeoutException):
        return ApiTimeoutError(
            f"No answer from ConnectWise{at} within {settings.read_timeout:g} s ({detail})",
            **common,
        )
    return ApiConnectionError(f"Could not reach ConnectWise{at} ({detail})", **common)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
