"""The shared transport core: request building, auth, retries, discovery (the mapping from an
error status to its exception lives with the errors, in :mod:`cwm_gateway.errors`).

Everything except the I/O call is plain code shared by both flavours. One exchange (all
attempts of one request, plus codebase discovery when needed) is a generator that *yields*
actions — "send this :class:`httpx.Request`" or "sleep this long" — and receives their
outcome; :class:`SyncTransport` and :class:`AsyncTransport` only perform those actions with
``httpx.Client``/``time.sleep`` or ``httpx.AsyncClient``/``asyncio.sleep``. So retry
decisions, headers, error mapping and discovery cannot drift apart between sync and async.

Retry rules: only GET and HEAD are retried, on 429, 502, 503, 504 and on connection errors
(never on read timeouts: a slow query would only be sent again), with exponential backoff and
jitter, up to ``max_attempts``. A ``Retry-After`` (seconds or HTTP date) is honoured up to
``retry_after_max``; a longer one is not waited for: the :class:`RateLimitedError` is raised at
once with its ``retry_after`` so the caller can decide. POST/PUT/PATCH/DELETE are sent once.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import time
from collections.abc import Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import httpx

from cwm_gateway import discovery
from cwm_gateway.config import Settings
from cwm_gateway.errors import (
    CWMError,
    error_from_exception,
    error_from_response,
    parse_retry_after,
    redact_url,
)

# The status-to-exception mapping lives with the errors (cwm_gateway.errors); these names stay
# importable from here.
__all__ = [
    "AsyncTransport",
    "AttemptRecord",
    "Outgoing",
    "RetryPolicy",
    "SyncTransport",
    "TransportCore",
    "backoff_delay",
    "error_from_exception",
    "error_from_response",
    "looks_truncated",
    "parse_retry_after",
    "redact_url",
    "retry_delay",
]

log = logging.getLogger(__name__)

RETRYABLE_METHODS = frozenset({"GET", "HEAD"})
RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
# Failures where the request cannot have reached ConnectWise's application, or (for GET)
# where sending it again is harmless. ReadTimeout is left out on purpose.
RETRYABLE_ERRORS: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.RemoteProtocolError,
    httpx.ReadError,
    httpx.PoolTimeout,
)


# ------------------------------------------------------------------------------------------
# Plain data
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to wait before sending a GET/HEAD again."""

    max_attempts: int = 4
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    retry_after_max: float = 60.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(
            max_attempts=settings.max_attempts,
            backoff_base=settings.backoff_base,
            backoff_max=settings.backoff_max,
            retry_after_max=settings.retry_after_max,
        )


@dataclass(frozen=True)
class AttemptRecord:
    """One upstream attempt, as given to the ``on_attempt`` hook (never holds credentials)."""

    method: str
    url: str
    """Full URL with query, without any userinfo."""
    status: int | None
    """HTTP status, or None when no response came back."""
    error: str | None
    """Exception class and message when no response came back."""
    latency: float
    """Seconds from sending to the full response (or the failure)."""
    attempt: int
    """1 for the first try of a request."""
    operation_id: str | None = None
    retry_in: float | None = None
    """Seconds until the next attempt, when one will follow."""


OnAttempt = Callable[[AttemptRecord], None]


class Outgoing(NamedTuple):
    """One API request as the client hands it to the transport (``path`` relative to the API
    base; values already validated)."""

    method: str
    path: str
    params: Mapping[str, Any] | None = None
    body: Any = None
    files: Mapping[str, Any] | None = None
    headers: Mapping[str, str] | None = None
    operation_id: str | None = None


class Send(NamedTuple):
    """Action: send this request; the driver answers with an httpx.Response or the exception."""

    request: httpx.Request


class Sleep(NamedTuple):
    """Action: wait this many seconds; the driver answers with None."""

    seconds: float


Action = Send | Sleep
Exchange = Generator[Action, Any, httpx.Response]


# ------------------------------------------------------------------------------------------
# Plain functions
# ------------------------------------------------------------------------------------------


def backoff_delay(policy: RetryPolicy, attempt: int, rand: Callable[[], float]) -> float:
    """Exponential backoff for the wait after ``attempt``, with "equal jitter" (50–100 %)."""
    ceiling = min(policy.backoff_max, policy.backoff_base * (2 ** (attempt - 1)))
    return ceiling * (0.5 + rand() / 2)


def retry_delay(
    policy: RetryPolicy,
    method: str,
    attempt: int,
    *,
    status: int | None = None,
    error: BaseException | None = None,
    retry_after: float | None = None,
    rand: Callable[[], float] = random.random,
) -> float | None:
    """Seconds to wait before attempt ``attempt + 1``, or None when it must not be retried."""
    if method.upper() not in RETRYABLE_METHODS or attempt >= policy.max_attempts:
        return None
    if error is not None:
        if not isinstance(error, RETRYABLE_ERRORS):
            return None
    elif status not in RETRYABLE_STATUSES:
        return None
    if retry_after is not None:
        if retry_after > policy.retry_after_max:
            return None
        return retry_after
    return backoff_delay(policy, attempt, rand)


def looks_truncated(response: httpx.Response) -> bool:
    """A cheap test for a success answer whose JSON body was cut off on the way.

    Only the last byte is looked at (a whole JSON document of the API ends in ``}`` or ``]``);
    the client's full parse is the exact check.
    """
    if not 200 <= response.status_code < 300 or not response.content:
        return False
    if "json" not in response.headers.get("content-type", ""):
        return False
    return response.content.rstrip()[-1:] not in (b"}", b"]")


# ------------------------------------------------------------------------------------------
# The core: all logic of an exchange, no I/O
# ------------------------------------------------------------------------------------------


class TransportCore:
    """State and logic shared by both transports: settings, API base, headers, retry policy."""

    def __init__(
        self,
        settings: Settings,
        *,
        retry: RetryPolicy | None = None,
        on_attempt: OnAttempt | None = None,
        rand: Callable[[], float] = random.random,
        rediscover_interval: float = 300.0,
    ) -> None:
        self.settings = settings
        self.retry = retry or RetryPolicy.from_settings(settings)
        self.on_attempt = on_attempt
        self.rand = rand
        self.rediscover_interval = rediscover_interval
        self.timeout = httpx.Timeout(
            connect=settings.connect_timeout,
            read=settings.read_timeout,
            write=settings.read_timeout,
            pool=settings.connect_timeout,
        )
        self._timeout_ext = {"timeout": self.timeout.as_dict()}
        # The pooled httpx client's options, the same for both drivers (redirects not followed).
        self.http_options: dict[str, Any] = {"timeout": self.timeout, "follow_redirects": False}
        # Computed once: base64 on every request is measurable in the overhead benchmark.
        self._headers = settings.auth_headers()
        self.base_url: str | None = settings.api_url
        self.company_info: discovery.CompanyInfo | None = None
        self._discovered_at: float | None = None

    def __repr__(self) -> str:
        return f"TransportCore(base_url={self.base_url!r}, retry={self.retry!r})"

    # -- request building ---------------------------------------------------------------

    def build_request(self, base_url: str, outgoing: Outgoing) -> httpx.Request:
        """An :class:`httpx.Request` with ConnectWise's auth, clientId and Accept headers."""
        method, path, params, body, files, headers, _ = outgoing
        all_headers = dict(self._headers)
        if headers:
            all_headers.update(headers)
        url = base_url + (path if path.startswith("/") else "/" + path)
        query = {k: v for k, v in params.items() if v is not None} if params else None
        if files:
            return httpx.Request(
                method,
                url,
                params=query,
                headers=all_headers,
                # A form field that is also a file part goes as the file (its body entry
                # only describes it: cwm_gateway.files).
                data={k: v for k, v in body.items() if k not in files}
                if isinstance(body, Mapping)
                else None,
                files=files,
                extensions=self._timeout_ext,
            )
        return httpx.Request(
            method,
            url,
            params=query,
            headers=all_headers,
            json=body,
            extensions=self._timeout_ext,
        )

    # -- exchanges --------------------------------------------------------------------------

    def exchange(self, outgoing: Outgoing) -> Exchange:
        """All attempts of one API request; returns the successful response or raises ApiError."""
        outgoing = outgoing._replace(method=outgoing.method.upper())
        method, path, operation_id = outgoing.method, outgoing.path, outgoing.operation_id
        if self.base_url is None:
            yield from self._discover()
        rediscovered = False
        while True:
            base = self.base_url
            assert base is not None
            response, attempts = yield from self._attempts(
                lambda b=base: self.build_request(b, outgoing),
                method=method,
                path=path,
                operation_id=operation_id,
            )
            if (
                response.status_code == 404
                and self.settings.api_url is None
                and not rediscovered
                and self._may_rediscover()
            ):
                # The codebase moves when ConnectWise upgrades a site: a 404 may mean the
                # whole base is stale. Re-discover once; resend only if it changed.
                rediscovered = True
                try:
                    yield from self._discover()
                except CWMError as exc:
                    # Keep the base that worked so far; the 404 below is the useful answer.
                    log.warning("re-discovering the ConnectWise codebase failed: %s", exc)
                if self.base_url != base:
                    log.info("ConnectWise codebase changed; now using %s", self.base_url)
                    continue
            if response.status_code >= 300:
                raise error_from_response(
                    response,
                    method=method,
                    path=path,
                    operation_id=operation_id,
                    attempts=attempts,
                )
            return response

    def _may_rediscover(self) -> bool:
        if self._discovered_at is None:
            return True
        return time.monotonic() - self._discovered_at >= self.rediscover_interval

    def _discover(self) -> Generator[Action, Any, None]:
        site_base = self.settings.site_base_url
        if site_base is None:  # Settings guarantees api_url or site
            raise AssertionError("no site to discover from")
        url = discovery.companyinfo_url(site_base, self.settings.company_id)
        path = url[len(site_base) :]
        # The endpoint is public: send no credentials to it.
        request_headers = {"Accept": "application/json", "User-Agent": self.settings.user_agent}
        response, _ = yield from self._attempts(
            lambda: httpx.Request(
                "GET", url, headers=request_headers, extensions=self._timeout_ext
            ),
            method="GET",
            path=path,
            operation_id="companyinfo",
        )
        if response.status_code == 404:
            data: Any = None
        elif response.status_code >= 300:
            raise error_from_response(response, method="GET", path=path, operation_id="companyinfo")
        else:
            try:
                data = response.json()
            except ValueError:
                data = None
        info = discovery.parse_companyinfo(
            data, company_id=self.settings.company_id, site_base=site_base
        )
        self.company_info = info
        self.base_url = discovery.api_base_url(site_base, info)
        self._discovered_at = time.monotonic()

    def _attempts(
        self,
        make_request: Callable[[], httpx.Request],
        *,
        method: str,
        path: str,
        operation_id: str | None,
    ) -> Generator[Action, Any, tuple[httpx.Response, int]]:
        """Send until a final outcome; returns the last response (any status) and the number
        of attempts, or raises ApiConnectionError/ApiTimeoutError."""
        attempt = 0
        while True:
            attempt += 1
            request = make_request()
            started = time.perf_counter()
            outcome = yield Send(request)
            latency = time.perf_counter() - started
            if isinstance(outcome, httpx.Response):
                status: int | None = outcome.status_code
                error = None
                retry_after = (
                    parse_retry_after(outcome.headers.get("Retry-After"))
                    if status in RETRYABLE_STATUSES
                    else None
                )
                delay = retry_delay(
                    self.retry,
                    method,
                    attempt,
                    # A cut-off JSON answer is as transient as a 502 (the client refuses it).
                    status=502 if looks_truncated(outcome) else status,
                    retry_after=retry_after,
                    rand=self.rand,
                )
            else:
                status, error = None, outcome
                delay = retry_delay(self.retry, method, attempt, error=outcome, rand=self.rand)
            self._record(request, method, status, error, latency, attempt, operation_id, delay)
            if delay is None:
                if error is not None:
                    raise error_from_exception(
                        error,
                        method=method,
                        path=path,
                        operation_id=operation_id,
                        settings=self.settings,
                        attempts=attempt,
                        host=f"{request.url.scheme}://{request.url.netloc.decode('ascii')}",
                    ) from None
                return outcome, attempt
            yield Sleep(delay)

    def _record(
        self,
        request: httpx.Request,
        method: str,
        status: int | None,
        error: BaseException | None,
        latency: float,
        attempt: int,
        operation_id: str | None,
        delay: float | None,
    ) -> None:
        if self.on_attempt is None:
            return
        record = AttemptRecord(
            method=method,
            url=redact_url(request.url),
            status=status,
            error=None if error is None else f"{type(error).__name__}: {error}",
            latency=latency,
            attempt=attempt,
            operation_id=operation_id,
            retry_in=delay,
        )
        try:
            self.on_attempt(record)
        except Exception:
            # The request already happened; a failing hook must not turn its outcome into
            # an error the caller cannot interpret. Make the failure loud instead.
            log.exception("on_attempt hook failed for %s %s", method, record.url)


# ------------------------------------------------------------------------------------------
# Drivers: the only code that does I/O
# ------------------------------------------------------------------------------------------


_POOL: dict[str, Any] = {
    "limits": httpx.Limits(max_connections=20, max_keepalive_connections=10, keepalive_expiry=30),
    # httpcore writes a request's headers and body separately; with Nagle on, the body waits
    # for the server's delayed ACK of the headers (40 ms on Linux, up to 200 ms on Windows).
    "socket_options": [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
}


def _advance(exchange: Exchange, outcome: Any) -> Action | httpx.Response:
    """Hand ``outcome`` to the exchange: its next action, or the response it ended with."""
    try:
        return exchange.send(outcome)
    except StopIteration as done:
        return done.value


class SyncTransport:
    """Runs exchanges with one pooled :class:`httpx.Client` (``sleep``: :func:`time.sleep`)."""

    def __init__(
        self,
        core: TransportCore,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.core = core
        self._sleep = sleep if sleep is not None else time.sleep
        self._http = httpx.Client(
            transport=transport or httpx.HTTPTransport(**_POOL), **core.http_options
        )

    def run(self, exchange: Exchange) -> httpx.Response:
        """Perform the actions of an exchange generator until it returns."""
        outcome: Any = None
        while not isinstance(action := _advance(exchange, outcome), httpx.Response):
            if isinstance(action, Sleep):
                self._sleep(action.seconds)
                outcome = None
                continue
            try:
                outcome = self._http.send(action.request)
            except httpx.TransportError as exc:
                outcome = exc
        return action

    def close(self) -> None:
        self._http.close()

    def __repr__(self) -> str:
        return f"SyncTransport({self.core!r})"


class AsyncTransport:
    """Runs exchanges with one pooled :class:`httpx.AsyncClient` (``sleep``: :func:`asyncio.sleep`)."""

    def __init__(
        self,
        core: TransportCore,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[Any]] | None = None,
    ) -> None:
        self.core = core
        self._sleep = sleep if sleep is not None else asyncio.sleep
        self._http = httpx.AsyncClient(
            transport=transport or httpx.AsyncHTTPTransport(**_POOL), **core.http_options
        )

    async def run(self, exchange: Exchange) -> httpx.Response:
        """Perform the actions of an exchange generator until it returns."""
        outcome: Any = None
        while not isinstance(action := _advance(exchange, outcome), httpx.Response):
            if isinstance(action, Sleep):
                await self._sleep(action.seconds)
                outcome = None
                continue
            try:
                outcome = await self._http.send(action.request)
            except httpx.TransportError as exc:
                outcome = exc
        return action

    async def aclose(self) -> None:
        await self._http.aclose()

    def __repr__(self) -> str:
        return f"AsyncTransport({self.core!r})"
