"""Rate-limit stores: sliding windows, all-or-nothing, exactness under 50 concurrent threads."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cwm_gateway.policy import CallContext, PolicyEngine, SqliteRateLimiter, parse_policy
from cwm_gateway.policy.ratelimit import InMemoryRateLimiter, LimitRequest, RateLimitError


@pytest.fixture(params=["memory", "sqlite"])
def limiter(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "memory":
        yield InMemoryRateLimiter()
    else:
        lim = SqliteRateLimiter(tmp_path / "rl.sqlite3")
        yield lim
        lim.close()


def test_sliding_window_and_retry_after(limiter) -> None:
    req = LimitRequest("k", 60, 3, sliding=True)
    for t in (0.0, 10.0, 20.0):
        assert limiter.acquire([req], now=1000 + t).allowed
    refused = limiter.acquire([req], now=1030)
    assert not refused.allowed and refused.blocked == 0
    assert refused.retry_after == pytest.approx(30)  # the call at 1000 leaves at 1060
    assert limiter.peek(req, now=1030) == 3  # refused calls are not counted
    assert limiter.acquire([req], now=1060.5).allowed
    assert limiter.peek(req, now=1060.5) == 3


def test_all_or_nothing(limiter) -> None:
    loose = LimitRequest("loose", 60, 100)
    tight = LimitRequest("tight", 60, 1)
    ok = limiter.acquire([loose, tight], now=1.0)
    assert ok.allowed and ok.counts == (1, 1)
    refused = limiter.acquire([loose, tight], now=2.0)
    assert not refused.allowed and refused.blocked == 1
    assert limiter.peek(loose, now=2.0) == 1  # the loose limit was not charged


def test_keys_are_independent_and_reset(limiter) -> None:
    a, b = LimitRequest("a", 60, 1), LimitRequest("b", 60, 1)
    assert limiter.acquire([a], now=1).allowed
    assert limiter.acquire([b], now=1).allowed
    assert not limiter.acquire([a], now=2).allowed
    limiter.reset()
    assert limiter.acquire([a], now=3).allowed


def test_sqlite_state_survives_a_new_limiter(tmp_path: Path) -> None:
    path = tmp_path / "rl.sqlite3"
    first = SqliteRateLimiter(path)
    req = LimitRequest("k", 3600, 2)
    assert first.acquire([req]).allowed and first.acquire([req]).allowed
    first.close()
    second = SqliteRateLimiter(path)
    assert not second.acquire([req]).allowed
    second.close()


def test_sqlite_unwritable_path_is_clear(tmp_path: Path) -> None:
    blocker = tmp_path / "f"
    blocker.write_text("x")
    with pytest.raises(RateLimitError, match="Cannot open the rate-limit database"):
        SqliteRateLimiter(blocker / "x" / "rl.sqlite3")


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_fifty_threads_never_exceed_max(kind: str, tmp_path: Path) -> None:
    """50 threads hammer one counter through the engine: exactly max calls are allowed."""
    policy = parse_policy(
        {
            "version": "1",
            "default": "deny",
            "tools": {
                "execute_api_call": {
                    "limits": [{"counter": "c", "window": "day", "max": 37, "scope": "grant"}]
                }
            },
        }
    )
    if kind == "sqlite":
        # Two limiter objects on one file: like two server processes.
        limiters = [SqliteRateLimiter(tmp_path / "rl.sqlite3") for _ in range(2)]
    else:
        limiters = [InMemoryRateLimiter()]
    engines = [PolicyEngine(policy, lim) for lim in limiters]
    allowed = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(50)

    def worker(i: int) -> None:
        engine = engines[i % len(engines)]
        try:
            start.wait()
            for _ in range(4):
                d = engine.decide(CallContext("execute_api_call", grant="shared"))
                with lock:
                    allowed.append(d.allowed)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for lim in limiters:
        if isinstance(lim, SqliteRateLimiter):
            lim.close()
    assert errors == []
    assert len(allowed) == 200
    assert allowed.count(True) == 37


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.floats(min_value=0.0, max_value=40.0),  # seconds since the previous call
            st.lists(st.sampled_from(["a", "b"]), min_size=1, max_size=2, unique=True),
        ),
        min_size=1,
        max_size=60,
    ),
    limit=st.integers(min_value=1, max_value=5),
    window=st.sampled_from([10.0, 60.0]),
)
def test_sqlite_limiter_agrees_with_the_in_memory_reference(tmp_path_factory, steps, limit, window):
    """The indexed sequence counting in SQLite gives exactly the in-memory sliding log's answers."""
    sqlite = SqliteRateLimiter(tmp_path_factory.mktemp("rl") / "rl.sqlite3")
    memory = InMemoryRateLimiter()
    now = 1_000_000.0
    try:
        for gap, keys in steps:
            now += gap
            requests = [LimitRequest(k, window, limit) for k in keys]
            got, want = sqlite.acquire(requests, now), memory.acquire(requests, now)
            assert (got.allowed, got.blocked, got.counts) == (
                want.allowed,
                want.blocked,
                want.counts,
            )
            assert got.retry_after == pytest.approx(want.retry_after)
            for k in ("a", "b"):
                assert sqlite.peek(LimitRequest(k, window, limit), now) == memory.peek(
                    LimitRequest(k, window, limit), now
                )
    finally:
        sqlite.close()
