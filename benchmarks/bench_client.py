"""Per-call overhead of the typed client versus bare httpx, against one loopback server.

Run: ``.venv/bin/python benchmarks/bench_client.py [--rounds 10] [--calls 200]``.
Both sides send the same ``GET /service/tickets/1`` with the same headers to the same
uvicorn server on 127.0.0.1 (tests/loopback.py), over a kept-alive connection, and decode
the JSON. Rounds alternate between the two so drift on a shared machine hits both alike; the
median round is reported. Target: typed/bare <= 1.15.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a plain script: make tests.loopback importable
    sys.path.insert(0, str(ROOT))

from cwm_gateway.client import Client  # noqa: E402
from cwm_gateway.config import Settings  # noqa: E402
from cwm_generated.operations import service  # noqa: E402
from tests.loopback import LoopbackServer, Reply  # noqa: E402

TARGET = 1.15
BASE = "/v4_6_release/apis/3.0"
TICKET = {
    "id": 1,
    "summary": "Printer on fire",
    "company": {"id": 2, "identifier": "Acme", "name": "Acme Inc"},
    "board": {"id": 1, "name": "Help Desk"},
    "status": {"id": 16, "name": "New"},
    "closedFlag": False,
    "_info": {"lastUpdated": "2025-01-01T00:00:00Z"},
}


def _per_call(fn: Callable[[], object], calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - started) / calls


def _measure(cases: dict[str, Callable[[], object]], rounds: int, calls: int) -> dict[str, float]:
    for fn in cases.values():  # warm-up: connections, lazy imports, model builds
        for _ in range(20):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in cases}
    names = list(cases)
    for i in range(rounds):
        for name in names if i % 2 == 0 else reversed(names):
            samples[name].append(_per_call(cases[name], calls))
    return {name: statistics.median(values) for name, values in samples.items()}


def main(argv: list[str] | None = None) -> None:
    """Print per-call times (µs) and the typed/bare ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="alternating rounds per case")
    parser.add_argument("--calls", type=int, default=200, help="calls per round")
    args = parser.parse_args(argv or [])

    with LoopbackServer() as server:
        server.script("GET", f"{BASE}/service/tickets/1", Reply(json=TICKET))
        settings = Settings(
            company_id="acme",
            public_key="pub",
            private_key="priv",
            client_id="bench",
            api_url=server.url + BASE,
        )
        url = f"{settings.api_url}/service/tickets/1"
        with httpx.Client(headers=settings.auth_headers()) as bare, Client(settings) as typed:
            spec = service.get_service_tickets_by_id(id_=1)
            cases = {
                "bare httpx (get + json)": lambda: bare.get(url).json(),
                "typed send(spec) + .json": lambda: typed.send(spec).json,
                "typed sugar + .json": lambda: typed.service.get_service_tickets_by_id(id_=1).json,
                "typed sugar + .data (models)": lambda: (
                    typed.service.get_service_tickets_by_id(id_=1).data
                ),
            }
            results = _measure(cases, args.rounds, args.calls)
        served = len(server.requests)

    # The same calls without a network: what each layer costs in-process.
    payload = json.dumps(TICKET).encode()

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=payload, headers={"content-type": "application/json"})

    mock = httpx.MockTransport(answer)
    with (
        httpx.Client(headers=settings.auth_headers(), transport=mock) as bare,
        Client(settings, transport=mock) as typed,
    ):
        local = _measure(
            {
                "bare": lambda: bare.get(url).json(),
                "typed": lambda: typed.service.get_service_tickets_by_id(id_=1).json,
            },
            args.rounds,
            args.calls * 5,
        )

    bare_time = results["bare httpx (get + json)"]
    print(f"loopback server {server.url}, {args.rounds} rounds x {args.calls} calls per case")
    for name, seconds in results.items():
        print(f"  {name:<30} {seconds * 1e6:9.1f} µs/call   ratio {seconds / bare_time:5.3f}")
    ratio = results["typed sugar + .json"] / bare_time
    verdict = "OK" if ratio <= TARGET else "ABOVE TARGET"
    print(f"typed/bare ratio: {ratio:.3f} (target <= {TARGET}) {verdict}; {served} requests served")
    added = (local["typed"] - local["bare"]) * 1e6
    print(
        f"in-process (httpx.MockTransport): bare {local['bare'] * 1e6:.1f} µs, typed "
        f"{local['typed'] * 1e6:.1f} µs per call, typed layer adds {added:+.1f} µs"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
