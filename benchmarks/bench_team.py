"""Team deployment: throughput of one instance vs three behind nginx, and rate-limit latency.

Prints numbers; asserts nothing. ``python -m benchmarks bench_team``.

- 50 concurrent MCP clients (mcp SDK, streamable HTTP, API-key auth), each making
  ``CALLS_PER_CLIENT`` ``execute_api_call`` reads against a standalone sandbox: calls/s and
  p50/p99 per call, for one ``cwm-gateway serve`` instance and for three behind nginx, on the
  same PostgreSQL state in the same run.
- Rate-limit decision latency (two limits per call, as a tool limit plus an operation limit):
  SQLite file, PostgreSQL, and Redis (``CWM_GATEWAY_RATELIMIT_URL``) — single caller and 8
  concurrent callers.

Needs PostgreSQL (``CWM_TEST_POSTGRES_URL``, default postgresql://postgres@127.0.0.1:5432/test),
nginx for the three-instance line, Redis (``CWM_TEST_REDIS_URL``) and redis-py for its line;
each missing piece is reported and its line skipped.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

CLIENTS = 50
CALLS_PER_CLIENT = 10
LIMIT_CALLS = 2000
POSTGRES = os.environ.get("CWM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("CWM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def _schema_url() -> str:
    sep = "&" if "?" in POSTGRES else "?"
    return f"{POSTGRES}{sep}schema=cwm_bench_{uuid.uuid4().hex[:10]}"


# Every call passes a per-grant limit (so the shared limiter is on the path) that never fills.
POLICY = {
    "version": "1",
    "default": "allow",
    "tools": {
        "execute_api_call": {
            "limits": [{"counter": "calls", "window": "minute", "max": 100000, "scope": "grant"}]
        }
    },
}
GRANTS = 5


async def _load(url: str, keys: list[str]) -> tuple[float, list[float], int]:
    import httpx
    from mcp.client.client import Client
    from mcp.client.streamable_http import streamable_http_client

    latencies: list[float] = []
    errors = 0

    async def one_client(key: str) -> None:
        nonlocal errors
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(headers=headers, timeout=120) as http:
            async with Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client:
                for _ in range(CALLS_PER_CLIENT):
                    started = time.perf_counter()
                    result = await client.call_tool("execute_api_call", {"path": "/system/info"})
                    latencies.append(time.perf_counter() - started)
                    errors += bool(result.is_error)

    started = time.perf_counter()
    await asyncio.gather(*[one_client(keys[i % len(keys)]) for i in range(CLIENTS)])
    return time.perf_counter() - started, latencies, errors


def throughput() -> None:
    from cwm_gateway.state import open_state
    from tests.team_deploy import Unavailable, deploy, nginx_binary

    try:
        nginx = nginx_binary()
    except Unavailable as exc:
        nginx = None
        print(f"three instances: skipped ({exc})")
    state_url = _schema_url()
    try:
        state = open_state(state_url)
    except Exception as exc:
        print(f"throughput: skipped, PostgreSQL unavailable ({exc})")
        return
    keys = [state.grants.add(f"bench-{i}")[1] for i in range(GRANTS)]
    try:
        with tempfile.TemporaryDirectory(prefix="cwm-bench-team-") as tmp:
            policy = Path(tmp) / "policy.json"
            policy.write_text(json.dumps(POLICY))
            for instances in (1, 3):
                if instances > 1 and nginx is None:
                    continue
                with deploy(
                    Path(tmp) / str(instances),
                    state_url,
                    instances=instances,
                    nginx=nginx,
                    policy=policy,
                ) as d:
                    asyncio.run(_load(d.url, keys))  # warm-up: imports, pools, connections
                    wall, lat, errors = asyncio.run(_load(d.url, keys))
                    calls = len(lat)
                    label = "1 instance" if instances == 1 else f"{instances} instances + nginx"
                    print(
                        f"{label:<22} {CLIENTS} clients x {CALLS_PER_CLIENT} calls: "
                        f"{calls / wall:7.1f} calls/s  p50 {statistics.median(lat) * 1000:6.1f} ms"
                        f"  p99 {_pct(lat, 0.99) * 1000:7.1f} ms  errors {errors}"
                    )
    finally:
        state.drop_schema()
        state.close()
    print(f"(machine: {os.cpu_count()} CPUs, shared with other work; compare lines, not runs)")


def _measure(acquire, threads: int) -> tuple[float, float, float]:
    from cwm_gateway.policy.ratelimit import LimitRequest

    per_thread = LIMIT_CALLS // threads
    latencies: list[float] = []
    lock = threading.Lock()

    def run(t: int) -> None:
        mine = []
        reqs = [
            LimitRequest(f"tool|minute|grant=g{t % 5}", 60, 10**9),
            LimitRequest("op|minute|global", 60, 10**9),
        ]
        for _ in range(per_thread):
            started = time.perf_counter()
            acquire(reqs)
            mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)

    started = time.perf_counter()
    workers = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    wall = time.perf_counter() - started
    return statistics.median(latencies) * 1000, _pct(latencies, 0.99) * 1000, len(latencies) / wall


def ratelimit_latency() -> None:
    from cwm_gateway.policy.ratelimit import SqliteRateLimiter
    from cwm_gateway.state import open_state

    backends = []
    tmp = tempfile.TemporaryDirectory(prefix="cwm-bench-rl-")
    sqlite = SqliteRateLimiter(Path(tmp.name) / "rl.sqlite3")
    backends.append(("SQLite", sqlite.acquire, sqlite.close))
    try:
        pg = open_state(_schema_url())
        backends.append(
            ("PostgreSQL", pg.ratelimiter.acquire, lambda: (pg.drop_schema(), pg.close()))
        )
    except Exception as exc:
        print(f"PostgreSQL: skipped ({exc})")
    try:
        from cwm_gateway.state.redis_counters import RedisRateLimiter

        redis_limiter = RedisRateLimiter(REDIS, namespace=f"cwm-bench-{uuid.uuid4().hex[:8]}:")
        backends.append(
            ("Redis", redis_limiter.acquire, lambda: (redis_limiter.reset(), redis_limiter.close()))
        )
    except Exception as exc:
        print(f"Redis: skipped ({type(exc).__name__}: {exc})")
    print(f"rate-limit decision (2 limits per call, {LIMIT_CALLS} calls):")
    for name, acquire, close in backends:
        for threads in (1, 8):
            p50, p99, rate = _measure(acquire, threads)
            print(
                f"  {name:<12} {threads} caller(s): p50 {p50:6.2f} ms  p99 {p99:7.2f} ms  "
                f"{rate:8.0f} decisions/s"
            )
        close()
    tmp.cleanup()


def main() -> None:
    import sys

    root = str(Path(__file__).resolve().parent.parent)
    if root not in sys.path:  # the deployment helper lives with the tests
        sys.path.insert(0, root)
    ratelimit_latency()
    throughput()


if __name__ == "__main__":
    main()
