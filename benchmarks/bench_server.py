"""MCP server costs: cold start, end-to-end call overhead against the sandbox, memory.

- cold start: a fresh ``cwm-gateway serve`` subprocess over stdio until tools/list is answered,
  beside a bare ``python -c "import mcp.server.mcpserver"`` measured in the same run;
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


_RSS_SCRIPT = r"""
import asyncio, resource, sys
from pathlib import Path

def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

def current_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20

from mcp import Client
from cwm_gateway.config import Settings
from cwm_gateway.core import Gateway, GatewayOptions
from cwm_gateway.server import build_server
stages = {"imports": peak_mb()}

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
            if i == len(calls) - 1:
                stages["first round of each tool"] = peak_mb()
    await gw.aclose()
    stages["after 100 calls"] = peak_mb()
    print(" ".join(f"{k}={v:.1f}" for k, v in stages.items()), f"current={current_mb():.1f}")

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
            f"({cold - bare:+.1f} ms vs the bare import; target ≤ +300 ms)"
        )
        handle = start_sandbox_thread()
        try:
            env = {**os.environ, **handle.credentials}
            runs = [
                subprocess.run(
                    [sys.executable, "-c", _RSS_SCRIPT, str(Path(tmp) / f"rss{i}")],
                    check=True,
                    capture_output=True,
                    text=True,
                    env=env,
                )
                .stdout.strip()
                .splitlines()[-1]
                for i in range(3)
            ]
        finally:
            handle.stop()
        print("gateway memory (peak RSS in MB, three fresh processes; target ≤ 120 MB):")
        for line in runs:
            print(f"  {line}")


if __name__ == "__main__":
    main()
