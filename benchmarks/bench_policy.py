"""Policy: decision overhead per call and rate-limit accuracy under concurrency.

Prints numbers; asserts nothing. ``python -m benchmarks bench_policy``.

- Decision overhead with the shipped default policy, over every operation of the registry
  (each with a concrete path, as a canonical request where it validates without a body):
  ``preview`` (rules only), ``decide`` with the in-memory limiter, and ``decide`` with the
  SQLite limiter (one transaction per call with limits), then ``decide`` + ``rollback`` (a
  failed upstream call gives its reservation back: a second transaction).
- Accuracy: 50 threads call ``decide`` on one counter through the SQLite limiter (and the
  in-memory one); the number allowed must equal the limit's max.
"""

from __future__ import annotations

import re
import statistics
import tempfile
import threading
import time
from pathlib import Path

ROUNDS = 3
THREADS = 50
CALLS_PER_THREAD = 20
ACCURACY_MAX = 250
#: ``decide, SQLite limits`` p50 measured on this benchmark before issue #11 (sliding-window
#: log, no reservations, six-rule default policy), printed beside today's figure.
BEFORE_SQLITE_P50_US = 54.1


def _percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


class _Clock:
    """Advances one second per call, so limits slide instead of filling up."""

    def __init__(self) -> None:
        self.t = time.time()

    def __call__(self) -> float:
        self.t += 1.0
        return self.t


def _calls():
    """One call per operation, as a running server judges it: from the canonical request where
    the operation validates without a body, else from the operation and concrete path."""
    from cwm_gateway.errors import RequestValidationError
    from cwm_gateway.policy import CallContext
    from cwm_gateway.validation import canonical_request
    from cwm_generated.registry import OPERATIONS

    param = re.compile(r"\{[^}]*\}")
    calls = []
    canonical = 0
    for op in OPERATIONS:
        path = param.sub("1", op.path)
        params = {"pageSize": 25} if op.is_list else None
        body = (
            [{"op": "replace", "path": "summary", "value": "x"}]
            if op.body_kind == "patch"
            else None
        )
        try:
            request = canonical_request(op.method, path, params, body)
        except RequestValidationError:
            request = None
        if request is not None:
            canonical += 1
            calls.append(
                CallContext.for_request("execute_api_call", grant="bench", request=request)
            )
        else:
            calls.append(
                CallContext(
                    tool="execute_api_call",
                    grant="bench",
                    arguments={"method": op.method, "path": path},
                    operation=op,
                    path=path,
                    params=params,
                    body=body,
                )
            )
    return calls, canonical


def _time_per_call(fn, calls, rounds: int = ROUNDS) -> list[float]:
    times: list[float] = []
    for _ in range(rounds):
        for c in calls:
            start = time.perf_counter()
            fn(c)
            times.append(time.perf_counter() - start)
    times.sort()
    return times


def _report(name: str, times: list[float]) -> None:
    print(
        f"{name:<34}p50 {_percentile(times, 0.50) * 1e6:7.1f} µs   "
        f"p99 {_percentile(times, 0.99) * 1e6:7.1f} µs   "
        f"mean {statistics.fmean(times) * 1e6:7.1f} µs   ({len(times)} calls)"
    )


def _accuracy(engine_factory, label: str) -> None:
    from cwm_gateway.policy import CallContext

    engines = engine_factory()
    allowed = 0
    lock = threading.Lock()
    barrier = threading.Barrier(THREADS)

    def worker(i: int) -> None:
        nonlocal allowed
        engine = engines[i % len(engines)]
        barrier.wait()
        for _ in range(CALLS_PER_THREAD):
            if engine.decide(CallContext("execute_api_call", grant="shared")).allowed:
                with lock:
                    allowed += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    total = THREADS * CALLS_PER_THREAD
    verdict = "exact" if allowed == ACCURACY_MAX else "WRONG"
    print(
        f"{label:<34}allowed {allowed} of {total} calls, max {ACCURACY_MAX} -> {verdict} "
        f"({elapsed * 1e3:.0f} ms)"
    )


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print a small report."""
    from cwm_gateway.policy import (
        InMemoryRateLimiter,
        PolicyEngine,
        SqliteRateLimiter,
        load_default_policy,
        parse_policy,
    )

    policy = load_default_policy()
    calls, canonical = _calls()
    print(
        f"operations:                       {len(calls)} (default policy, {len(policy.rules)} rules; "
        f"{canonical} as canonical requests)"
    )

    engine = PolicyEngine(policy, InMemoryRateLimiter(_Clock()))
    for c in calls:  # warm the template cache, as a running server would be
        engine.preview(c)
    _report("preview (rules only)", _time_per_call(engine.preview, calls))
    _report("decide, in-memory limits", _time_per_call(engine.decide, calls))
    outcomes: dict[str, int] = {}
    for c in calls:
        action = engine.preview(c).action
        outcomes[action] = outcomes.get(action, 0) + 1
    print(f"{'decisions over the registry':<34}{dict(sorted(outcomes.items()))}")

    with tempfile.TemporaryDirectory() as tmp:
        limiter = SqliteRateLimiter(Path(tmp) / "rl.sqlite3", clock=_Clock())
        engine = PolicyEngine(policy, limiter)
        sqlite_times = _time_per_call(engine.decide, calls, rounds=1)
        _report("decide, SQLite limits", sqlite_times)
        print(
            f"{'  target / before #11':<34}p50 <= 100 µs; before (sliding windows, no "
            f"reservations): p50 {BEFORE_SQLITE_P50_US:.1f} µs; now "
            f"{_percentile(sqlite_times, 0.5) * 1e6:.1f} µs"
        )
        _report(
            "decide + rollback, SQLite",
            _time_per_call(lambda c: engine.rollback(engine.decide(c)), calls, rounds=1),
        )
        limiter.close()

        accuracy_policy = parse_policy(
            {
                "version": "1",
                "default": "deny",
                "tools": {
                    "execute_api_call": {
                        "limits": [
                            {
                                "counter": "c",
                                "window": "hour",
                                "max": ACCURACY_MAX,
                                "scope": "grant",
                            }
                        ]
                    }
                },
            }
        )
        print(f"accuracy: {THREADS} threads x {CALLS_PER_THREAD} calls on one counter")
        _accuracy(
            lambda: [PolicyEngine(accuracy_policy, InMemoryRateLimiter())], "  in-memory limiter"
        )
        _accuracy(
            lambda: [PolicyEngine(accuracy_policy, SqliteRateLimiter(Path(tmp) / "a.sqlite3"))],
            "  SQLite limiter, one object",
        )
        _accuracy(
            lambda: [
                PolicyEngine(accuracy_policy, SqliteRateLimiter(Path(tmp) / "b.sqlite3"))
                for _ in range(4)
            ],
            "  SQLite limiter, 4 objects/file",
        )


if __name__ == "__main__":
    main()
