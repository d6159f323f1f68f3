"""Prometheus metrics for a served gateway (prometheus-client), read at ``/metrics``.

The audit log already sees every tool call and every upstream request with its decision,
status and latency, so the counters are fed from there (one source of truth: a call counted
is a call audited); rate-limit refusals are counted where the limiter answers, and HTTP
request latency where requests enter.

- ``cwm_gateway_tool_calls_total{tool, decision, status}``
- ``cwm_gateway_upstream_requests_total{status}`` and ``cwm_gateway_upstream_errors_total{kind}``
- ``cwm_gateway_upstream_latency_seconds`` (histogram)
- ``cwm_gateway_rate_limit_refusals_total``
- ``cwm_gateway_http_request_seconds{path}`` (histogram)
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["REGISTRY", "HttpTimer", "instrument", "render"]

REGISTRY = CollectorRegistry()

TOOL_CALLS = Counter(
    "cwm_gateway_tool_calls",
    "Tool calls by tool, policy decision and upstream status ('-' when none was sent).",
    ["tool", "decision", "status"],
    registry=REGISTRY,
)
UPSTREAM_REQUESTS = Counter(
    "cwm_gateway_upstream_requests",
    "Requests sent to ConnectWise (every attempt) by status.",
    ["status"],
    registry=REGISTRY,
)
UPSTREAM_ERRORS = Counter(
    "cwm_gateway_upstream_errors",
    "Upstream attempts that failed: 'server' (5xx), 'client' (4xx) or 'transport'.",
    ["kind"],
    registry=REGISTRY,
)
UPSTREAM_LATENCY = Histogram(
    "cwm_gateway_upstream_latency_seconds",
    "Latency of each upstream attempt.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
RATE_LIMIT_REFUSALS = Counter(
    "cwm_gateway_rate_limit_refusals",
    "Calls refused because a rate limit was full.",
    registry=REGISTRY,
)
HTTP_LATENCY = Histogram(
    "cwm_gateway_http_request_seconds",
    "Time to answer an HTTP request, by route.",
    ["path"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)


def render() -> tuple[bytes, str]:
    """The exposition text and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def _observe_audit(row: dict[str, Any]) -> None:
    status = row.get("status")
    if row.get("kind") == "tool_call":
        TOOL_CALLS.labels(
            row.get("tool") or "-",
            row.get("decision") or "error",
            str(status) if status is not None else "-",
        ).inc()
        return
    UPSTREAM_REQUESTS.labels(str(status) if status is not None else "none").inc()
    if row.get("latency_ms") is not None:
        UPSTREAM_LATENCY.observe(row["latency_ms"] / 1000)
    if status is None and row.get("error"):
        UPSTREAM_ERRORS.labels("transport").inc()
    elif status is not None and status >= 500:
        UPSTREAM_ERRORS.labels("server").inc()
    elif status is not None and status >= 400:
        UPSTREAM_ERRORS.labels("client").inc()


class _CountingLimiter:
    """A rate limiter that counts its refusals (everything else is the wrapped limiter's)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def acquire(self, requests: Sequence[Any], now: float | None = None) -> Any:
        result = self._inner.acquire(requests, now)
        if not result.allowed:
            RATE_LIMIT_REFUSALS.inc()
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def instrument(gateway: Any) -> None:
    """Feed the metrics from a gateway's audit log and rate limiter (idempotent)."""
    engine = gateway.engine
    audit = engine.audit
    if audit is not None and _observe_audit not in audit.observers:
        audit.observers.append(_observe_audit)
    if not isinstance(engine.ratelimiter, _CountingLimiter):
        engine.ratelimiter = _CountingLimiter(engine.ratelimiter)


class HttpTimer:
    """ASGI middleware timing each HTTP request (label: the route, never the query)."""

    _ROUTES = ("/mcp", "/healthz", "/readyz", "/metrics")

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        label = path if path in self._ROUTES else "other"
        started = time.perf_counter()

        async def timed_send(message: Message) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                HTTP_LATENCY.labels(label).observe(time.perf_counter() - started)

        await self.app(scope, receive, timed_send)
