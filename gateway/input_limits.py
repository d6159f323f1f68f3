"""Size caps on what a caller may hand the gateway, checked before any parsing work.

A 10 MB argument or 100,000 query parameters must cost almost nothing to refuse, and the
refusal must not echo the input back (it would cost the client as much again). Every cap is
configurable through the environment; the defaults sit far above what ConnectWise itself
accepts in one request.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from cwm_gateway.errors import ConfigError, Problem, RequestValidationError
from cwm_gateway.paths import MAX_PATH_CHARS

__all__ = ["InputLimits", "check_argument_sizes", "json_size", "summarize_arguments"]


@dataclass(frozen=True)
class InputLimits:
    """Caps on tool arguments and on Fast Memory (``CWM_GATEWAY_MAX_<NAME>`` overrides each)."""

    path_chars: int = MAX_PATH_CHARS
    """Characters in a path (ConnectWise's own paths are under 150); the router refuses
    longer ones whatever this says."""
    query_params: int = 50
    """Query parameters in one request (an operation takes at most about 15)."""
    query_chars: int = 20_000
    """Characters of all query values together (long ``conditions`` included)."""
    body_bytes: int = 2_000_000
    """Bytes of the JSON body (bulk PUTs of a few hundred records fit)."""
    raw_request_chars: int = 2_100_000
    """Characters of a ``send_raw_api_request`` line (path + query + body)."""
    memory_entry_bytes: int = 16_000
    """Bytes of one Fast Memory entry (params and body as JSON)."""
    memory_entries: int = 200
    """Saved queries Fast Memory keeps."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> InputLimits:
        env = os.environ if environ is None else environ
        values: dict[str, int] = {}
        bad: list[str] = []
        for f in fields(cls):
            name = f"CWM_GATEWAY_MAX_{f.name.upper()}"
            raw = env.get(name)
            if raw is None or raw.strip() == "":
                continue
            try:
                value = int(raw)
            except ValueError:
                value = 0
            if value < 1:
                bad.append(f"{name} must be a positive integer, got {raw!r}")
            else:
                values[f.name] = value
        if bad:
            raise ConfigError("; ".join(bad))
        return cls(**values)


def json_size(value: Any) -> int:
    """Bytes of ``value`` as compact JSON (what would be sent or stored)."""
    try:
        return len(json.dumps(value, separators=(",", ":"), default=str).encode())
    except (TypeError, ValueError, RecursionError):
        return 0


def _too_big(where: str, size: int, cap: int, unit: str, hint: str) -> Problem:
    return Problem(where, f"is {size:,} {unit}; the gateway accepts at most {cap:,}", hint)


def check_argument_sizes(arguments: Mapping[str, Any], limits: InputLimits) -> None:
    """Refuse oversized upstream-tool arguments without parsing or echoing them."""
    problems: list[Problem] = []
    path = arguments.get("path")
    if isinstance(path, str) and len(path) > limits.path_chars:
        problems.append(
            _too_big("path", len(path), limits.path_chars, "characters", "e.g. /service/tickets/1")
        )
    params = arguments.get("params")
    if isinstance(params, Mapping):
        if len(params) > limits.query_params:
            problems.append(
                _too_big(
                    "params",
                    len(params),
                    limits.query_params,
                    "parameters",
                    "get_api_endpoint_details lists the parameters an operation takes",
                )
            )
        else:
            chars = sum(len(str(k)) + len(str(v)) for k, v in params.items())
            if chars > limits.query_chars:
                problems.append(
                    _too_big(
                        "params", chars, limits.query_chars, "characters", "narrow the conditions"
                    )
                )
    data = arguments.get("data")
    if data is not None:
        size = json_size(data)
        if size > limits.body_bytes:
            problems.append(
                _too_big("body", size, limits.body_bytes, "bytes", "send fewer records per call")
            )
    raw = arguments.get("raw_request")
    if isinstance(raw, str) and len(raw) > limits.raw_request_chars:
        problems.append(
            _too_big(
                "raw_request",
                len(raw),
                limits.raw_request_chars,
                "characters",
                "send fewer records per call",
            )
        )
    if problems:
        raise RequestValidationError(problems)


def summarize_arguments(arguments: Mapping[str, Any], cap: int = 2_000) -> dict[str, Any]:
    """``arguments`` for a log or audit line: any value larger than ``cap`` replaced by its size."""
    out: dict[str, Any] = {}
    for key, value in arguments.items():
        size = len(value) if isinstance(value, str) else json_size(value)
        out[key] = value if size <= cap else f"<{size:,} characters, not recorded>"
    return out
