"""Per-call overhead of the typed client versus bare httpx, against one loopback server.

Run: ``.venv/bin/python benchmarks/bench_client.py [--rounds 10] [--calls 200]``.
Both sides send the same ``GET /service/tickets/1`` with the same headers to the same
uvicorn server on 127.0.0.1 (tests/loopback.py), over a kept-alive connection, and decode
the JSON. Rounds alternate between the two so drift on a shared machine hits both alike; the
median round is reported. Target: typed/bare <= 1.15.

Then: parsing a page of 25 realistic tickets (tests/fixtures/tickets_2025_1.json, as
ConnectWise 2025.1 sends them, with case variants, legacy fields and null ``_info`` values;
and the same tickets reduced to what the spec knows) into models, with today's parse and with
the parse before issue #15 (models that dropped unknown fields), rebuilt in-process from the
same generated source so that both run on one machine at one time. Target: within 10 %.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a plain script: make tests.loopback importable
    sys.path.insert(0, str(ROOT))

from cwm_gateway.client import Client  # noqa: E402
from cwm_gateway.config import Settings  # noqa: E402
from cwm_generated.operations import service  # noqa: E402
from tests.loopback import LoopbackServer, Reply  # noqa: E402

TARGET = 1.15
PARSE_TARGET = 1.10
TICKETS = ROOT / "tests" / "fixtures" / "tickets_2025_1.json"
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


def _per_call(
    fn: Callable[[], object], calls: int, clock: Callable[[], float] = time.perf_counter
) -> float:
    started = clock()
    for _ in range(calls):
        fn()
    return (clock() - started) / calls


def _measure(
    cases: dict[str, Callable[[], object]],
    rounds: int,
    calls: int,
    warm: bool = True,
    pick: Callable[[list[float]], float] = statistics.median,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, float]:
    for fn in cases.values() if warm else ():  # warm-up: connections, lazy imports, model builds
        for _ in range(20):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in cases}
    names = list(cases)
    for i in range(rounds):
        for name in names if i % 2 == 0 else reversed(names):
            samples[name].append(_per_call(cases[name], calls, clock))
    return {name: pick(values) for name, values in samples.items()}


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
                "typed send(new spec) + .json": lambda: (
                    typed.send(service.get_service_tickets_by_id(id_=1)).json
                ),
                "typed resource (a Ticket model)": lambda: typed.service.tickets.get(id_=1),
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
                "typed": lambda: typed.send(service.get_service_tickets_by_id(id_=1)).json,
            },
            args.rounds,
            args.calls * 5,
        )

    bare_time = results["bare httpx (get + json)"]
    print(f"loopback server {server.url}, {args.rounds} rounds x {args.calls} calls per case")
    for name, seconds in results.items():
        print(f"  {name:<30} {seconds * 1e6:9.1f} µs/call   ratio {seconds / bare_time:5.3f}")
    ratio = results["typed send(new spec) + .json"] / bare_time
    verdict = "OK" if ratio <= TARGET else "ABOVE TARGET"
    print(f"typed/bare ratio: {ratio:.3f} (target <= {TARGET}) {verdict}; {served} requests served")
    added = (local["typed"] - local["bare"]) * 1e6
    print(
        f"in-process (httpx.MockTransport): bare {local['bare'] * 1e6:.1f} µs, typed "
        f"{local['typed'] * 1e6:.1f} µs per call, typed layer adds {added:+.1f} µs"
    )
    print_parse_benchmark()


# ------------------------------------------------------------------------------------------
# Parsing 25 tickets: today versus before issue #15
# ------------------------------------------------------------------------------------------

_BEFORE_BASE = """
from pydantic import BaseModel, ConfigDict


class CWModel(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True, populate_by_name=True)
"""


def _before_models() -> dict[str, Any]:
    """The generated ``_shared`` models on the base class they had before issue #15 (unknown
    fields forbidden, so a lenient parse dropped them; no key folding)."""
    import cwm_generated.models._shared as shared

    source = Path(shared.__file__).read_text(encoding="utf-8")
    base = "from cwm_generated.models._base import CWModel"
    assert base in source, "the generated models no longer import CWModel from _base"
    # Before #15, _info was a map of strings: a null in it failed the fast path.
    source = source.replace("dict[str, str | None]", "dict[str, str]")
    module = types.ModuleType("_before_issue_15")
    sys.modules[module.__name__] = module  # pydantic resolves annotations through it
    exec(compile(_BEFORE_BASE, "<before base>", "exec"), module.__dict__)
    exec(compile(source.replace(base, ""), "<before _shared>", "exec"), module.__dict__)
    return module.__dict__


_BEFORE_WIRE: dict[Any, dict[str, str]] = {}


def _before_lenient(cls: Any, data: Any) -> Any:
    """The client's lenient parse as it was before issue #15 (verbatim logic)."""
    import typing

    from pydantic import BaseModel, ValidationError

    def value_of(annotation: Any, value: Any) -> Any:
        origin = typing.get_origin(annotation)
        if origin in (typing.Union, types.UnionType):
            for arg in typing.get_args(annotation):
                if arg is not type(None):
                    result = value_of(arg, value)
                    if result is not value:
                        return result
            return value
        if origin is list and isinstance(value, list):
            (item_type,) = typing.get_args(annotation) or (Any,)
            return [value_of(item_type, item) for item in value]
        if (
            isinstance(annotation, type)
            and issubclass(annotation, BaseModel)
            and isinstance(value, dict)
        ):
            return _before_lenient(annotation, value)
        return value

    if not isinstance(data, dict):
        return data
    try:
        return cls.model_validate(data)
    except ValidationError:
        pass
    instance = cls.model_construct()
    validator = cls.__pydantic_validator__
    wire = _BEFORE_WIRE.get(cls)
    if wire is None:
        wire = _BEFORE_WIRE[cls] = {}
        for name, info in cls.model_fields.items():
            wire[name] = name
            if info.alias:
                wire[info.alias] = name
    for key, value in data.items():
        name = wire.get(key)
        if name is None:
            continue
        try:
            validator.validate_assignment(instance, name, value)
        except ValidationError:
            instance.__dict__[name] = value_of(cls.model_fields[name].annotation, value)
            instance.__pydantic_fields_set__.add(name)
    for name in cls.model_fields:
        instance.__dict__.setdefault(name, None)
    return instance


def _spec_only(value: Any, schema_name: str | None) -> Any:
    """``value`` reduced to what the spec knows: unknown keys dropped, case variants folded,
    null ``_info`` values filled (the drift-free twin of a real answer)."""
    from cwm_generated.schemas import SCHEMAS

    schema = SCHEMAS.get(schema_name) if schema_name else None
    if isinstance(value, list):
        return [_spec_only(item, schema_name) for item in value]
    if schema is None or not isinstance(value, dict):
        return value
    lower = {name.lower(): name for name in schema.fields}
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = key if key in schema.fields else lower.get(key.lower())
        if name is None:
            continue
        if name == "_info" and isinstance(item, dict):
            item = {k: ("" if v is None else v) for k, v in item.items()}
        out[name] = _spec_only(item, schema.fields[name].ref)
    return out


def parse_benchmark(rounds: int = 21, repeat: int = 30) -> dict[str, float]:
    """CPU milliseconds to parse 25 tickets, today and before issue #15: the process's CPU
    time of the fastest round, the stablest estimate of the work itself on a shared machine
    (wall time also counts the waits for a core)."""
    from cwm_gateway.client import ApiResponse
    from cwm_generated.registry import BY_ID

    op = BY_ID["getServiceTickets"]
    real = json.loads(TICKETS.read_text(encoding="utf-8"))
    clean = _spec_only(real, op.response_model)
    before = _before_models()[op.response_model or ""]
    headers = httpx.Headers()

    def today(data: list[Any]) -> Callable[[], object]:
        return lambda: ApiResponse(200, headers, data, op).data

    def earlier(data: list[Any]) -> Callable[[], object]:
        return lambda: [_before_lenient(before, item) for item in data]

    cases = {
        "as sent, today": today(real),
        "as sent, before #15": earlier(real),
        "spec-only, today": today(clean),
        "spec-only, before #15": earlier(clean),
    }
    for fn in cases.values():
        for _ in range(5):
            fn()
    return {
        k: v * 1e3
        for k, v in _measure(
            cases, rounds, repeat, warm=False, pick=min, clock=time.process_time
        ).items()
    }


def print_parse_benchmark() -> None:
    times = parse_benchmark()
    print("parsing 25 tickets into models (CPU ms per page of 25; fastest of rounds):")
    for kind in ("as sent", "spec-only"):
        now, then = times[f"{kind}, today"], times[f"{kind}, before #15"]
        ratio = now / then
        verdict = "OK" if ratio <= PARSE_TARGET else "ABOVE TARGET"
        print(
            f"  {kind:<10} today {now:7.3f} ms   before #15 {then:7.3f} ms   "
            f"ratio {ratio:5.3f} (target <= {PARSE_TARGET}) {verdict}"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
