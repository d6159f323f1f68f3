"""Rate-limit stores: sliding windows, all-or-nothing, exactness under 50 concurrent threads."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cwm_gateway.policy import CallContext, PolicyEngine, SqliteRateLimiter, parse_policy
from cwm_gateway.policy.ratelimit import InMemoryRateLimiter, LimitRequest, RateLimitError


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def limiter(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "memory":
        yield InMemoryRateLimiter()
    elif request.param == "sqlite":
        lim = SqliteRateLimiter(tmp_path / "rl.sqlite3")
        yield lim
        lim.close()
    else:
        from cwm_gateway.state import open_state

        url = request.getfixturevalue("pg_state_url")
        state = open_state(url)
        yield state.ratelimiter
        state.close()


MIDNIGHT = 1_700_006_400.0  # 2023-11-15 00:00:00 UTC


@pytest.mark.parametrize("window_s", [60, 3600, 86400])
def test_calendar_windows_reset_at_utc_boundaries(limiter, window_s: int) -> None:
    req = LimitRequest("cal", window_s, 2)
    start = MIDNIGHT + window_s  # a boundary of every window length
    assert limiter.acquire([req], now=start - 1).allowed
    assert limiter.acquire([req], now=start - 0.5).allowed
    refused = limiter.acquire([req], now=start - 0.25)
    assert not refused.allowed and refused.retry_after == pytest.approx(0.25)
    assert limiter.peek(req, now=start - 0.1) == 2
    assert limiter.peek(req, now=start) == 0  # a new window: nothing used yet
    assert limiter.acquire([req], now=start).allowed
    assert limiter.acquire([req], now=start + 1).allowed
    assert not limiter.acquire([req], now=start + 2).allowed


def test_amounts_and_reservations_roll_back(limiter) -> None:
    spend = LimitRequest("spend", 86400, 1000, amount=600)
    calls = LimitRequest("calls", 86400, 5)
    first = limiter.acquire([spend, calls], now=MIDNIGHT + 10)
    assert first.allowed and first.counts == (600, 1)
    refused = limiter.acquire([spend, calls], now=MIDNIGHT + 11)
    assert not refused.allowed and refused.blocked == 0
    limiter.release(first.reservation)  # the upstream call failed: both come back
    limiter.release(first.reservation)  # once only
    assert limiter.peek(spend, now=MIDNIGHT + 12) == 0
    assert limiter.peek(calls, now=MIDNIGHT + 12) == 0
    again = limiter.acquire([spend, calls], now=MIDNIGHT + 13)
    assert again.allowed and again.counts == (600, 1)
    # A reservation from an earlier window gives nothing back in the new one.
    limiter.acquire([calls], now=MIDNIGHT + 86400 + 1)
    limiter.release(again.reservation)
    assert limiter.peek(calls, now=MIDNIGHT + 86400 + 2) == 1


def test_sliding_reservations_roll_back(limiter) -> None:
    req = LimitRequest("s", 60, 1, sliding=True)
    got = limiter.acquire([req], now=1000)
    assert got.allowed and not limiter.acquire([req], now=1001).allowed
    limiter.release(got.reservation)
    assert limiter.acquire([req], now=1002).allowed


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
