"""What reaches a model, and what it costs (issue #9): sizes, cold start, per-call time, memory.

Prints, in one run against a sandbox ConnectWise in its own process:

- ``tools/list`` characters (target ≤ 8,000);
- characters (text + structured) of a default 25-ticket page, and how many of the 25 tickets
  the text shows (target ≤ 8,000 with 25 of 25);
- characters of ``get_api_endpoint_details`` for POST /service/tickets;
- cold start of ``cwm-gateway serve`` to an answered ``tools/list`` over stdio beside a bare
  ``MCPServer`` with one tool (target: floor + 0.1 s);
- ``execute_api_call`` per-call time beside a plain ``MCPServer`` tool doing the same httpx GET
  and returning the list (target ≤ 1.3×);
- RSS of a gateway process after 1,000 and 5,000 mixed calls (target: no growth).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
COLD_RUNS = 7
CALLS = 150

_BARE_SERVER = r"""
from mcp.server.mcpserver import MCPServer
server = MCPServer(name="bare")

@server.tool()
def ping(text: str) -> str:
    '''Echo.'''
    return text

server.run("stdio")
"""

_RSS_SCRIPT = r"""
import asyncio, gc, resource, sys
from pathlib import Path
from mcp import Client
from cwm_gateway.config import Settings
from cwm_gateway.core import Gateway, GatewayOptions
from cwm_gateway.server import build_server

def current_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20

CALLS = [
    ("search_api_endpoints", {"query": "open tickets for a client"}),
    ("natural_language_api_search", {"query": "add a note to a ticket"}),
    ("get_api_endpoint_details", {"path": "/service/tickets", "method": "POST"}),
    ("execute_api_call", {"path": "/service/tickets", "params": {"pageSize": 25}}),
    ("execute_api_call", {"path": "/company/companies", "params": {"conditions": "statuss/name='x'"}}),
    ("list_api_categories", {}),
    ("get_category_endpoints", {"category": "finance"}),
    ("send_raw_api_request", {"raw_request": "GET /time/entries?pageSize=10"}),
    ("execute_api_call", {"path": "/service/tickets/1"}),
    ("list_fast_memory", {}),
]

async def main():
    gw = Gateway.from_options(GatewayOptions(data_dir=Path(sys.argv[1]), policy_path=Path(sys.argv[2])), settings=Settings.from_env())
    marks = {1000, 2000, 3000, 4000, 5000}
    out = []
    async with Client(build_server(gw)) as client:
        for i in range(1, 5001):
            tool, args = CALLS[i % len(CALLS)]
            await client.call_tool(tool, args)
            if i in marks:
                gc.collect()
                out.append(f"{i}={current_mb():.1f}")
    await gw.aclose()
    print(" ".join(out))

asyncio.run(main())
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_sandbox() -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    from cwm_gateway.sandbox.app import API_PREFIX
    from cwm_gateway.sandbox.auth import SandboxCredentials

    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cwm_gateway.cli", "sandbox", "--port", str(port)],
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    creds = SandboxCredentials()
    env = {
        "CONNECTWISE_API_URL": f"http://127.0.0.1:{port}{API_PREFIX}",
        "CONNECTWISE_COMPANY_ID": creds.company,
        "CONNECTWISE_PUBLIC_KEY": creds.public_key,
        "CONNECTWISE_PRIVATE_KEY": creds.private_key,
        "CONNECTWISE_CLIENT_ID": creds.client_id,
    }
    return proc, env


def _bench_policy(data_dir: str) -> Path:
    """The shipped default policy with its limits raised out of reach (same rules, same cost)."""
    import yaml

    text = (ROOT / "gateway" / "policy" / "default_policy.yaml").read_text()
    policy = yaml.safe_load(text)

    def lift(node: Any) -> None:
        if isinstance(node, dict):
            if "counter" in node and "max" in node:
                node["max"] = 10**9
            for value in node.values():
                lift(value)
        elif isinstance(node, list):
            for value in node:
                lift(value)

    lift(policy)
    path = Path(data_dir) / "bench_policy.json"
    path.write_text(json.dumps(policy))
    return path


def _text(result: Any) -> str:
    return "\n".join(getattr(b, "text", "") for b in result.content)


def _structured_chars(result: Any) -> int:
    """Characters of the structured content as sent (compact JSON)."""
    sc = result.structured_content
    return len(json.dumps(sc, ensure_ascii=False, separators=(",", ":"))) if sc is not None else 0


def _visible(ids: list[int], text: str) -> int:
    """Items whose id the text shows: JSON ``"id": N``, ``id: N``, or a line (row) led by it."""
    return sum(1 for i in ids if re.search(rf'(?:"id": ?|^#?|\bid[=:] ?){i}\b', text, re.MULTILINE))


async def _sizes(data_dir: str) -> None:
    from mcp import Client

    from cwm_gateway.config import Settings
    from cwm_gateway.core import Gateway, GatewayOptions
    from cwm_gateway.results import host_characters
    from cwm_gateway.server import build_server

    gw = Gateway.from_options(
        GatewayOptions(data_dir=Path(data_dir), policy_path=_bench_policy(data_dir)),
        settings=Settings.from_env(),
    )
    async with Client(build_server(gw)) as client:
        tools = await client.list_tools()
        dumped = tools.model_dump(mode="json", by_alias=True, exclude_none=True)
        wire = json.dumps(dumped, ensure_ascii=False, separators=(",", ":"))
        print(
            f"tools/list: {host_characters(tools):,} characters as a host counts them (whole "
            f"response, spaced JSON; {len(wire):,} as sent compact) for {len(tools.tools)} "
            "tools (≤ 8,000)"
        )
        page = await client.call_tool(
            "execute_api_call", {"path": "/service/tickets", "params": {"pageSize": 25}}
        )
        text = _text(page)
        sc = page.structured_content or {}
        if "table" in sc:  # compact: the id column of the table
            table = sc["table"]
            ids = [row[table["columns"].index("id")] for row in table["rows"]]
        else:  # full records
            ids = [item["id"] for item in sc.get("data") or [] if isinstance(item, dict)]
        print(
            f"default 25-ticket page: {len(text) + _structured_chars(page):,} characters "
            f"(text {len(text):,} + structured {_structured_chars(page):,}); "
            f"{_visible(ids, text)} of {len(ids)} tickets visible in the text (≤ 8,000, 25 of 25)"
        )
        details = await client.call_tool(
            "get_api_endpoint_details", {"path": "/service/tickets", "method": "POST"}
        )
        print(
            f"details POST /service/tickets: {len(_text(details)) + _structured_chars(details):,} "
            f"characters (text {len(_text(details)):,} + structured "
            f"{_structured_chars(details):,})"
        )
    await gw.aclose()


def _children_cpu_ms() -> dict[int, float]:
    """CPU time (user + system) so far of each child process, by pid; empty off Linux."""
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    found: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid():  # fields[1]: the parent's pid
            found[int(stat.parent.name)] = (int(fields[11]) + int(fields[12])) * 1000 / ticks
    return found


#: The first call after start, timed: what start-up deferred (the policy, the client, the
#: checks, the tool's argument model) is paid here.
_FIRST_CALL = ("execute_api_call", {"path": "/service/boards"})


async def _cold_ms(
    args: list[str], env: dict[str, str], first_call: bool = False
) -> tuple[float, float | None, float | None]:
    """Wall time to an answered tools/list, the server's CPU time by then (Linux), and the
    wall time of the first call after it (when asked)."""
    from mcp import Client, StdioServerParameters

    params = StdioServerParameters(command=sys.executable, args=args, env=env)
    before = set(_children_cpu_ms())
    started = time.perf_counter()
    first = None
    async with Client(params) as client:
        await client.list_tools()
        elapsed = (time.perf_counter() - started) * 1000
        # The server is the one new child; its CPU time is what start-up cost it, whatever
        # else the machine is doing (wall time moves with the load, CPU time much less).
        cpu = [ms for pid, ms in _children_cpu_ms().items() if pid not in before]
        if first_call:
            started = time.perf_counter()
            result = await client.call_tool(*_FIRST_CALL)
            first = (time.perf_counter() - started) * 1000
            assert not result.is_error, _text(result)
    return elapsed, (cpu[0] if len(cpu) == 1 else None), first


def _cold_start(data_dir: str, env: dict[str, str]) -> None:
    bare_file = Path(data_dir) / "bare_server.py"
    bare_file.write_text(_BARE_SERVER)
    full_env = {**os.environ, **env, "CWM_GATEWAY_DATA_DIR": data_dir}
    bares, gateways = [], []
    for _ in range(COLD_RUNS):  # interleaved: machine load hits both alike
        bares.append(asyncio.run(_cold_ms([str(bare_file)], full_env)))
        gateways.append(
            asyncio.run(
                _cold_ms(
                    ["-m", "cwm_gateway.cli", "serve", "--data-dir", data_dir],
                    full_env,
                    first_call=True,
                )
            )
        )
    bare, gateway = (statistics.median(w for w, _, _ in runs) for runs in (bares, gateways))
    print(
        f"cold start to tools/list (stdio, median of {COLD_RUNS}): bare MCPServer {bare:.0f} ms, "
        f"cwm-gateway serve {gateway:.0f} ms ({gateway - bare:+.0f} ms; target ≤ +100 ms)"
    )
    cpus = [[c for _, c, _ in runs if c is not None] for runs in (bares, gateways)]
    if all(len(c) == COLD_RUNS for c in cpus):
        bare_cpu, gateway_cpu = (statistics.median(c) for c in cpus)
        print(
            f"  server CPU time by then: bare {bare_cpu:.0f} ms, cwm-gateway serve "
            f"{gateway_cpu:.0f} ms ({gateway_cpu - bare_cpu:+.0f} ms)"
        )
    first = statistics.median(f for _, _, f in gateways if f is not None)
    tool, arguments = _FIRST_CALL
    print(f"  then the first call ({tool} GET {arguments['path']}): {first:.0f} ms")


async def _per_call(data_dir: str, env: dict[str, str]) -> None:
    import httpx
    from mcp import Client
    from mcp.server.mcpserver import MCPServer

    from cwm_gateway.config import Settings
    from cwm_gateway.core import Gateway, GatewayOptions
    from cwm_gateway.server import build_server

    settings = Settings.from_env(env)
    gw = Gateway.from_options(
        GatewayOptions(data_dir=Path(data_dir), policy_path=_bench_policy(data_dir)),
        settings=settings,
    )
    arguments = {"path": "/service/tickets", "params": {"pageSize": 25}}
    # The plain tool sends exactly what the gateway sends (its default fields included).
    spec = (await gw.prepare_call("execute_api_call", "bench", {"method": "GET", **arguments})).spec
    assert spec is not None
    url = env["CONNECTWISE_API_URL"] + spec.path
    headers = {
        "Authorization": settings.authorization_header(),
        "clientId": env["CONNECTWISE_CLIENT_ID"],
        "Accept": "application/json",
    }
    http = httpx.AsyncClient()
    plain = MCPServer(name="plain")

    @plain.tool()
    async def get_tickets() -> list[dict[str, Any]]:
        """The tickets."""
        response = await http.get(url, params=spec.params, headers=headers)
        response.raise_for_status()
        return response.json()

    async def timed(client: Any, tool: str, args: dict[str, Any]) -> float:
        started = time.perf_counter()
        for _ in range(CALLS):
            result = await client.call_tool(tool, args)
            assert not result.is_error, _text(result)
        return (time.perf_counter() - started) * 1000 / CALLS

    async with Client(build_server(gw)) as g, Client(plain) as p:
        await timed(g, "execute_api_call", arguments)  # warm both
        await timed(p, "get_tickets", {})
        gs, ps = [], []
        for _ in range(3):
            gs.append(await timed(g, "execute_api_call", arguments))
            ps.append(await timed(p, "get_tickets", {}))
    await http.aclose()
    await gw.aclose()
    gm, pm = statistics.median(gs), statistics.median(ps)
    print(
        f"per call, in-process client, GET {spec.path} {spec.params}: execute_api_call "
        f"{gm:.2f} ms, plain MCPServer tool {pm:.2f} ms ({gm / pm:.2f}×; target ≤ 1.3×)"
    )


def _rss(data_dir: str, env: dict[str, str]) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            _RSS_SCRIPT,
            str(Path(data_dir) / "rss"),
            str(_bench_policy(data_dir)),
        ],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
    )
    print(f"gateway RSS (MB) after N mixed calls: {out.stdout.strip()} (target: flat)")


def main() -> None:
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(ROOT / "generated"), str(ROOT / "gateway")],
        check=True,
    )
    proc, env = _start_sandbox()
    os.environ.update(env)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            asyncio.run(_sizes(str(Path(tmp))))
            _cold_start(tmp, env)
            asyncio.run(_per_call(tmp, env))
            if "--no-rss" not in sys.argv:
                _rss(tmp, env)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
