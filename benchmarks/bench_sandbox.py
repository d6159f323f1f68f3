"""Sandbox throughput over loopback HTTP: a simple GET and a filtered, sorted list.

Run: ``.venv/bin/python benchmarks/bench_sandbox.py [--seconds 3] [--concurrency 8]``.
Starts the sandbox in a thread (in-memory store), warms it up, then measures requests/s
with an async httpx client keeping ``--concurrency`` requests in flight.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import httpx

from cwm_gateway.sandbox.runner import start_sandbox_thread

CASES = {
    "GET /company/companies/2": ("/company/companies/2", {}),
    "GET /service/tickets (filtered list)": (
        "/service/tickets",
        {
            "conditions": 'closedFlag = false and priority/name like "Priority 3%"',
            "orderBy": "id desc",
            "pageSize": 25,
        },
    ),
}


async def _run(base_url: str, headers: dict, path: str, params: dict, seconds: float, conc: int):
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=conc, max_keepalive_connections=conc)
    async with httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits) as http:
        for _ in range(20):  # warm-up: connections, caches, model builds
            (await http.get(path, params=params)).raise_for_status()

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                r = await http.get(path, params=params)
                latencies.append(time.perf_counter() - start)
                errors += r.status_code != 200

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(conc)))
        elapsed = time.perf_counter() - started
    return len(latencies) / elapsed, latencies, errors


def main(argv: list[str] | None = None) -> None:
    """Print requests/s and latency percentiles for each case."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="duration per case")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight")
    args = parser.parse_args(argv)
    with start_sandbox_thread() as sandbox:
        print(
            f"sandbox at {sandbox.base_url}, {args.concurrency} in flight, {args.seconds:g}s/case"
        )
        for name, (path, params) in CASES.items():
            rps, lat, errors = asyncio.run(
                _run(
                    sandbox.base_url,
                    sandbox.headers(),
                    path,
                    params,
                    args.seconds,
                    args.concurrency,
                )
            )
            lat_ms = sorted(x * 1000 for x in lat)
            p50 = statistics.median(lat_ms)
            p99 = lat_ms[min(len(lat_ms) - 1, int(len(lat_ms) * 0.99))]
            print(
                f"{name:40s} {rps:8.0f} req/s  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms"
                f"  ({len(lat)} requests, {errors} errors)"
            )


if __name__ == "__main__":
    main()
