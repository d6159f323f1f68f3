"""Rate-limit counters in Redis: the same decisions as the SQL stores, about 25x faster to make.

Optional (``CWM_GATEWAY_RATELIMIT_URL=redis://host:6379/0``): everything else stays in the
state backend. Each acquisition is one Lua script, which Redis runs atomically, so counters
are exact across instances; windows use the Redis server's clock. Calendar windows (UTC) are a
hash per counter (window start, value), sliding windows a sorted set of call times per counter
(one member per call, so a reservation can be given back). Counters are soft state: a Redis
restart without persistence forgets them (at most one window's worth of calls is allowed
again).
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Sequence
from typing import Any

from cwm_gateway.policy.ratelimit import (
    AcquireResult,
    LimitRequest,
    RateLimitError,
    Reservation,
)

__all__ = ["RedisRateLimiter"]

_ACQUIRE = """
local now = tonumber(ARGV[1])
if not now then
    local t = redis.call('TIME')
    now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local token = ARGV[2]
local added, counts = {}, {}
for i, key in ipairs(KEYS) do
    local b = 2 + (i - 1) * 4
    local window, max = tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2])
    local amount, sliding = tonumber(ARGV[b + 3]), ARGV[b + 4] == '1'
    local a = added[key] or 0
    local v
    if sliding then
        redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
        local c = redis.call('ZCARD', key)
        v = c + a
        if v + amount > max then
            local oldest = now
            if c > 0 then
                local k = math.min(math.max(0, math.floor(v + amount - max) - 1), c - 1)
                oldest = tonumber(redis.call('ZRANGE', key, k, k, 'WITHSCORES')[2])
            end
            return cjson.encode({false, i - 1, math.max(0, oldest + window - now), now})
        end
    else
        local start = math.floor(now / window) * window
        local h = redis.call('HMGET', key, 'start', 'value')
        v = 0
        if h[1] and tonumber(h[1]) == start then v = tonumber(h[2]) end
        v = v + a
        if v + amount > max then
            return cjson.encode({false, i - 1, start + window - now, now})
        end
    end
    added[key] = a + amount
    counts[i] = v + amount
end
local entries = {}
for i, key in ipairs(KEYS) do
    local b = 2 + (i - 1) * 4
    local window, amount, sliding = tonumber(ARGV[b + 1]), tonumber(ARGV[b + 3]), ARGV[b + 4] == '1'
    if sliding then
        local member = token .. ':' .. i
        redis.call('ZADD', key, now, member)
        redis.call('EXPIRE', key, math.ceil(window) + 1)
        entries[i] = {-1, member}
    else
        local start = math.floor(now / window) * window
        local h = redis.call('HMGET', key, 'start', 'value')
        local v = 0
        if h[1] and tonumber(h[1]) == start then v = tonumber(h[2]) end
        redis.call('HSET', key, 'start', string.format('%.17g', start),
                   'value', string.format('%.17g', v + amount))
        redis.call('EXPIRE', key, math.ceil(window) * 2 + 1)
        entries[i] = {start, false}
    end
end
return cjson.encode({true, false, 0, now, counts, entries})
"""

_RELEASE = """
for i, key in ipairs(KEYS) do
    local start, amount, member = ARGV[3 * i - 2], tonumber(ARGV[3 * i - 1]), ARGV[3 * i]
    if member ~= '' then
        redis.call('ZREM', key, member)
    else
        local h = redis.call('HMGET', key, 'start', 'value')
        if h[1] and tonumber(h[1]) == tonumber(start) then
            local v = math.max(0, tonumber(h[2]) - amount)
            redis.call('HSET', key, 'value', string.format('%.17g', v))
        end
    end
end
return 0
"""


class RedisRateLimiter:
    """Policy counters in Redis (see the module's docstring)."""

    def __init__(self, url: str, *, namespace: str = "cwm:rl:") -> None:
        try:
            import redis
        except ImportError:
            raise RateLimitError(
                "A redis:// rate-limit URL needs redis-py: pip install 'cwm-api-gateway[team]'"
            ) from None
        self.url = _redact(url)
        self._prefix = namespace
        try:
            self._client = redis.Redis.from_url(url, socket_timeout=10)
            self._client.ping()
        except redis.RedisError as exc:
            raise RateLimitError(
                f"Cannot reach the Redis rate-limit store at {self.url}: {exc}."
            ) from exc
        self._acquire = self._client.register_script(_ACQUIRE)
        self._release = self._client.register_script(_RELEASE)
        self._error = redis.RedisError

    def __repr__(self) -> str:
        return f"RedisRateLimiter({self.url!r})"

    def _fail(self, exc: Exception) -> RateLimitError:
        return RateLimitError(f"Rate-limit store {self.url} failed: {exc}.")

    def acquire(self, requests: Sequence[LimitRequest], now: float | None = None) -> AcquireResult:
        if not requests:
            return AcquireResult(True, 0.0, None, (), None)
        args: list[Any] = ["" if now is None else repr(float(now)), uuid.uuid4().hex]
        for r in requests:
            args += [
                repr(float(r.window_s)),
                repr(float(r.max)),
                repr(float(r.amount)),
                "1" if r.sliding else "0",
            ]
        try:
            raw = self._acquire(keys=[self._prefix + r.key for r in requests], args=args)
        except self._error as exc:
            raise self._fail(exc) from exc
        out = json.loads(raw)
        if not out[0]:
            return AcquireResult(False, float(out[2]), int(out[1]), ())
        counts, entries = out[4], out[5]
        taken = [
            (
                r.key,
                float(start),
                1.0 if member else float(r.amount),
                member or None,
            )
            for r, (start, member) in zip(requests, entries, strict=True)
        ]
        return AcquireResult(True, 0.0, None, tuple(float(c) for c in counts), Reservation(taken))

    def release(self, reservation: Reservation | None) -> None:
        if reservation is None or reservation.released:
            return
        reservation.released = True
        keys, args = [], []
        for key, start, amount, member in reservation.entries:
            keys.append(self._prefix + key)
            args += [repr(float(start)), repr(float(amount)), member or ""]
        try:
            self._release(keys=keys, args=args)
        except self._error as exc:
            raise self._fail(exc) from exc

    def peek(self, request: LimitRequest, now: float | None = None) -> float:
        key = self._prefix + request.key
        try:
            if now is None:
                seconds, micros = self._client.time()
                now = seconds + micros / 1e6
            if request.sliding:
                return float(self._client.zcount(key, f"({now - request.window_s!r}", "+inf"))
            start, value = self._client.hmget(key, "start", "value")
        except self._error as exc:
            raise self._fail(exc) from exc
        window = math.floor(now / request.window_s) * request.window_s
        if start is None or float(start) != window:
            return 0.0
        return float(value) if value is not None else 0.0

    def reset(self) -> None:
        try:
            keys = list(self._client.scan_iter(self._prefix + "*", count=1000))
            if keys:
                self._client.delete(*keys)
        except self._error as exc:
            raise self._fail(exc) from exc

    def close(self) -> None:
        self._client.close()


def _redact(url: str) -> str:
    from cwm_gateway.state.postgres import redact_url

    return redact_url(url)
