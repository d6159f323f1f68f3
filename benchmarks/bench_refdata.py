"""Reference-data value checks: what they add to a call, cold and once cached.

Prints numbers; asserts nothing. ``python -m benchmarks bench_refdata``.

Against an in-process sandbox over loopback HTTP, through the typed AsyncClient: the value
check of a few typical writes (close a ticket by status name, a status id on a PATCH, a new
ticket with board/status/type/priority names, a time entry with member/work role/work type,
and a read, which checks nothing). ``cold`` is the first check with an empty cache (the lists
and the ticket are read from the sandbox); ``warm`` is the per-call overhead once cached
(p50/p95 over many calls, the ticket's board within its short TTL); ``+policy`` adds what the
gateway also asks per reference list: whether the caller's policy (here the default one) lets
it read that list. The target is ≤ 1 ms p50 warm.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

WARM_CALLS = 2000

CASES = {
    "PATCH ticket status by name (close)": (
        "PATCH",
        "/service/tickets/1",
        [{"op": "replace", "path": "status", "value": {"name": "Closed"}}],
    ),
    "PATCH ticket status by id": (
        "PATCH",
        "/service/tickets/2",
        [{"op": "replace", "path": "status", "value": {"id": 1}}],
    ),
    "POST ticket with board/status/type/priority names": (
        "POST",
        "/service/tickets",
        {
            "summary": "Printer offline",
            "company": {"id": 2},
            "board": {"name": "Help Desk"},
            "status": {"name": "New"},
            "type": {"name": "Incident"},
            "priority": {"name": "Priority 3 - Normal Response"},
        },
    ),
    "POST time entry with member/work role/work type": (
        "POST",
        "/time/entries",
        {
            "chargeToId": 1,
            "chargeToType": "ServiceTicket",
            "member": {"identifier": "jsmith"},
            "workType": {"name": "Remote Support"},
            "timeStart": "2026-01-05T09:00:00Z",
        },
    ),
    "GET tickets (nothing to check)": ("GET", "/service/tickets", None),
}


def _pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


async def _run(settings, gateway) -> None:
    from cwm_gateway.client import AsyncClient
    from cwm_gateway.refdata import ReferenceData
    from cwm_gateway.validation import canonical_request
    from cwm_gateway.value_checks import check_request

    def may_read(path: str) -> bool:  # the default policy's say on each list (as core asks)
        return gateway._may_read("bench", path)  # noqa: SLF001

    print(
        f"{'case':52} {'cold ms':>8} {'warm p50':>9} {'warm p95':>9} {'+policy p50':>12} "
        f"{'reads':>6}   (ms)"
    )
    async with AsyncClient(settings) as client:
        for label, (method, path, body) in CASES.items():
            refdata = ReferenceData(client)
            request = canonical_request(method, path, None, body)
            started = time.perf_counter()
            await check_request(request, refdata)
            cold = (time.perf_counter() - started) * 1000
            reads = refdata.loads
            warm: list[float] = []
            gated: list[float] = []
            for _ in range(WARM_CALLS):
                t0 = time.perf_counter()
                await check_request(request, refdata)
                t1 = time.perf_counter()
                await check_request(request, refdata, may_read)
                warm.append((t1 - t0) * 1000)
                gated.append((time.perf_counter() - t1) * 1000)
            print(
                f"{label:52} {cold:8.2f} {_pct(warm, 0.5):9.4f} {_pct(warm, 0.95):9.4f} "
                f"{_pct(gated, 0.5):12.4f} {reads:6d}"
            )
            assert refdata.loads == reads, "a warm check read from upstream"


def main() -> None:
    from cwm_gateway.config import Settings
    from cwm_gateway.core import Gateway, GatewayOptions
    from cwm_gateway.sandbox.runner import start_sandbox_thread

    with start_sandbox_thread() as sandbox, tempfile.TemporaryDirectory() as tmp:
        settings = Settings.from_env(dict(sandbox.credentials))
        gateway = Gateway.from_options(GatewayOptions(data_dir=Path(tmp)), settings=settings)
        asyncio.run(_run(settings, gateway))


if __name__ == "__main__":
    main()
