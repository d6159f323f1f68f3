"""MCP server costs: cold start, end-to-end call overhead against the sandbox, memory.

- cold start: a fresh ``cwm-gateway serve`` subprocess over stdio until tools/list is answered,
  beside a bare ``python -c "import mcp.server.mcpserver"`` measured in the same run;
- one GET against the sandbox three ways: bare httpx, the typed client, an MCP
  ``execute_api_call`` round trip (in-memory MCP client);
- RSS of the server process after 100 mixed tool calls (target ≤ 120 MB).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = 5


def _median(xs: list[float]) -> float:
    return statistics.median(xs)


def _bare_import_ms() -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import mcp.server.mcpserver"], check=True)
    return (time.perf_counter() - t) * 1000


async def _cold_start_ms(data_dir: str) -> float:
    from mcp import Client, StdioServerParameters

    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "cwm_gateway.cli", "serve", "--data-dir", data_dir],
        env={**os.environ, "CWM_GATEWAY_DATA_DIR": data_dir},
    )
    t = time.perf_counter()
    async with Client(params) as client:
        await client.list_tools()
        elapsed = (time.perf_counter() - t) * 1000
    return elapsed


async def _end_to_end(handle, data_dir: str, n: int = 200) -> dict[str, float]:
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


_RSS_SCRIPT = r"""
import asyncio, resource, sys
from mcp import Client
from cwm_gateway.config import Settings
from cwm_gateway.core import Gateway, GatewayOptions
from cwm_gateway.server import build_server
from pathlib import Path

async def main():
    # ConnectWise (the sandbox) runs in the parent process: this process is only the gateway.
    gw = Gateway.from_options(GatewayOptions(data_dir=Path(sys.argv[1])),
                              settings=Settings.from_env())
    calls = [
        ("search_api_endpoints", {"query": "open tickets for a client"}),
        ("natural_language_api_search", {"query": "add a note to a ticket"}),
        ("get_api_endpoint_details", {"path": "/service/tickets", "method": "POST"}),
        ("execute_api_call", {"path": "/service/tickets", "params": {"pageSize": 25}}),
        ("execute_api_call", {"path": "/company/companies", "params": {"conditions": "statuss/name='x'"}}),
        ("list_api_categories", {}),
        ("get_category_endpoints", {"category": "finance"}),
        ("send_raw_api_request", {"raw_request": "GET /time/entries?pageSize=10"}),
        ("save_to_fast_memory", {"path": "/service/boards", "method": "GET", "description": "b"}),
        ("list_fast_memory", {}),
    ]
    async with Client(build_server(gw)) as client:
        for i in range(100):
            tool, args = calls[i % len(calls)]
            await client.call_tool(tool, args)
    await gw.aclose()
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)

asyncio.run(main())
"""


def main() -> None:
    from cwm_gateway.sandbox.runner import start_sandbox_thread

    root = Path(__file__).resolve().parent.parent
    # Measure the installed state: bytecode compiled (pip does this on install). Compiling
    # the 2.6 MB of generated tables on first import would otherwise dominate start-up and RSS.
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(root / "generated"), str(root / "gateway")],
        check=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        # Interleaved, so that load from elsewhere on the machine hits both alike.
        bares, colds = [], []
        for _ in range(RUNS):
            bares.append(_bare_import_ms())
            colds.append(asyncio.run(_cold_start_ms(tmp)))
        bare, cold = _median(bares), _median(colds)
        print(f"bare `import mcp.server.mcpserver` (process): {bare:7.1f} ms")
        print(
            f"cold start to answered tools/list (stdio):   {cold:7.1f} ms  "
            f"(+{cold - bare:.1f} ms; target ≤ +300 ms)"
        )
        handle = start_sandbox_thread()
        try:
            per_call = asyncio.run(_end_to_end(handle, tmp))
            base = per_call["bare httpx"]
            for name, us in per_call.items():
                print(
                    f"GET /service/boards/1 via {name:22} {us:8.0f} µs/call  ({us / base:4.2f}× bare)"
                )
            env = {**os.environ, **handle.credentials}
            rss = (
                subprocess.run(
                    [sys.executable, "-c", _RSS_SCRIPT, tmp],
                    check=True,
                    capture_output=True,
                    text=True,
                    env=env,
                )
                .stdout.strip()
                .splitlines()[-1]
            )
        finally:
            handle.stop()
        print(
            f"max RSS of the gateway after 100 mixed tool calls: {float(rss):6.1f} MB  "
            "(target ≤ 120 MB)"
        )


if __name__ == "__main__":
    main()
