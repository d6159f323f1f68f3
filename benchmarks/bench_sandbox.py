"""Sandbox throughput over loopback HTTP, and one GET three ways against it.

Throughput: a simple GET, a filtered, sorted list and a derived sub-collection. Then the CPU
time the sandbox spends per request, in-process over ASGI (steadier than requests/s on a shared
machine: it counts only this process's CPU). Then, in the same run, the cost per call of bare
httpx, the typed client and an MCP ``execute_api_call`` round trip.

Run: ``.venv/bin/python benchmarks/bench_sandbox.py [--seconds 3] [--concurrency 8]``.
Starts the sandbox in a thread (in-memory store), warms it up, then measures requests/s
with an async httpx client keeping ``--concurrency`` requests in flight.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

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
    "GET /service/tickets/1/timeentries (derived)": ("/service/tickets/1/timeentries", {}),
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


async def _cpu_per_request(n: int = 300) -> dict[str, float]:
    """µs of this process's CPU per request, the app called in-process (best of three runs)."""
    from cwm_gateway.paths import API_PREFIX
    from cwm_gateway.sandbox.app import create_app
    from cwm_gateway.sandbox.auth import SandboxCredentials

    app = create_app()
    transport = httpx.ASGITransport(app=app)
    headers = SandboxCredentials().headers()
    patch = [{"op": "replace", "path": "summary", "value": "Benchmark"}]
    out: dict[str, float] = {}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://127.0.0.1" + API_PREFIX, headers=headers
    ) as http:
        cases = [
            (f"GET {name.split(' ', 1)[1]}", "GET", p, q, None) for name, (p, q) in CASES.items()
        ]
        cases.append(
            ("PATCH /service/tickets/5 (summary)", "PATCH", "/service/tickets/5", {}, patch)
        )
        for name, method, path, params, body in cases:
            for _ in range(20):
                (await http.request(method, path, params=params, json=body)).raise_for_status()
            runs = []
            for _ in range(3):
                start = time.process_time()
                for _ in range(n):
                    await http.request(method, path, params=params, json=body)
                runs.append((time.process_time() - start) / n * 1e6)
            out[name] = min(runs)
    app.sandbox.store.close()
    return out


async def _end_to_end(handle, data_dir: str, n: int = 200) -> dict[str, float]:
    """µs per call of one GET three ways: bare httpx, the typed client, MCP execute_api_call."""
    import httpx
    from mcp import Client

    from cwm_gateway.client import AsyncClient
    from cwm_gateway.config import Settings
    from cwm_gateway.core import Gateway, GatewayOptions
    from cwm_gateway.server import build_server
    from cwm_generated.operations import service

    settings = Settings.from_env(dict(handle.credentials))
    url = handle.base_url + "/service/boards/1"
    out: dict[str, float] = {}
    async with httpx.AsyncClient(headers=settings.auth_headers()) as bare:
        await bare.get(url)
        t = time.perf_counter()
        for _ in range(n):
            (await bare.get(url)).raise_for_status()
        out["bare httpx"] = (time.perf_counter() - t) / n * 1e6
    async with AsyncClient(settings) as typed:
        await typed.send(service.get_service_boards_by_id(id_=1))
        t = time.perf_counter()
        for _ in range(n):
            await typed.send(service.get_service_boards_by_id(id_=1))
        out["typed client"] = (time.perf_counter() - t) / n * 1e6
    gateway = Gateway.from_options(GatewayOptions(data_dir=Path(data_dir)), settings=settings)
    async with Client(build_server(gateway)) as client:
        await client.call_tool("execute_api_call", {"path": "/service/boards/1"})
        t = time.perf_counter()
        for _ in range(n):
            await client.call_tool("execute_api_call", {"path": "/service/boards/1"})
        out["MCP execute_api_call"] = (time.perf_counter() - t) / n * 1e6
    await gateway.aclose()
    return out


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
        for name, us in asyncio.run(_cpu_per_request()).items():
            print(f"CPU per request {name:50s} {us:8.0f} µs")
        with tempfile.TemporaryDirectory() as tmp:
            per_call = asyncio.run(_end_to_end(sandbox, tmp))
        base = per_call["bare httpx"]
        for name, us in per_call.items():
            print(
                f"GET /service/boards/1 via {name:22} {us:8.0f} µs/call  ({us / base:4.2f}× bare)"
            )


if __name__ == "__main__":
    main()
