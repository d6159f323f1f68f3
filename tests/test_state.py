"""The state backends (SQLite files, PostgreSQL) offer the same stores with the same behaviour:
Fast Memory per grant plus shared entries, exact rate limits across processes, the audit log
with grant and member, API-key grants, one-use approval records, versioned migrations."""

from __future__ import annotations

import multiprocessing
import sqlite3

import pytest

from cwm_gateway import identity
from cwm_gateway.identity import Identity, MemberKeys
from cwm_gateway.memory import FastMemory
from cwm_gateway.policy.ratelimit import LimitRequest
from cwm_gateway.state import StateError, open_state
from cwm_gateway.state.grants import GrantError, looks_like_api_key
from cwm_gateway.state.postgres import MIGRATIONS


@pytest.fixture(params=["sqlite", "postgresql"])
def state_url(request, tmp_path):
    if request.param == "sqlite":
        return str(tmp_path / "state")
    return request.getfixturevalue("pg_state_url")


@pytest.fixture
def state(state_url):
    s = open_state(state_url)
    yield s
    s.close()


REDIS_URL_ENV = "CWM_TEST_REDIS_URL"


def redis_url() -> str:
    """The Redis the tests use; skips (fails under CI=true) when unreachable."""
    import os

    url = os.environ.get(REDIS_URL_ENV, "redis://127.0.0.1:6379/0")
    try:
        import redis

        redis.Redis.from_url(url, socket_timeout=3).ping()
    except Exception as exc:
        why = f"Redis not reachable at {url} ({type(exc).__name__}: {exc}); set {REDIS_URL_ENV}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(why)
        pytest.skip(why)
    return url


@pytest.fixture(params=["sqlite", "postgresql", "redis"])
def limiter(request, tmp_path):
    """Every rate-limit store: the SQL backends' own, and Redis counters."""
    import uuid

    from cwm_gateway.state.redis_counters import RedisRateLimiter

    if request.param == "redis":
        counters = RedisRateLimiter(redis_url(), namespace=f"cwm-test-{uuid.uuid4().hex}:")
        yield counters
        counters.reset()
        counters.close()
        return
    url = (
        str(tmp_path / "state")
        if request.param == "sqlite"
        else request.getfixturevalue("pg_state_url")
    )
    s = open_state(url)
    yield s.ratelimiter
    s.close()


def test_fast_memory_is_per_grant_with_shared_entries(state):
    memory = state.memory
    with identity.bind(Identity("alice")):
        mine = memory.save("/service/tickets", "GET", "Alice's tickets", {"pageSize": 5})
        memory.save("/company/companies", "GET", "All companies", shared=True)
    with identity.bind(Identity("bob")):
        seen = {q.description for q in memory.list()}
        assert seen == {"All companies"}  # Alice's own entry is hers
        assert memory.get(mine.id) is None
        assert memory.delete(mine.id) is False
        assert memory.find("/service/tickets", "GET", {"pageSize": 5}) is None
        memory.save("/service/tickets", "GET", "Bob's tickets", {"pageSize": 5})
        assert memory.saved_params_for("GET", "/company/companies") is None
        assert memory.clear() == 1  # only Bob's own
    with identity.bind(Identity("alice")):
        assert {q.description for q in memory.list()} == {"Alice's tickets", "All companies"}
        assert memory.record_use(mine.id).usage_count == 1
        assert memory.list("alice")[0].id == mine.id
        shared = memory.list("companies")[0]
        assert shared.shared is True and shared.model_dump()["shared"] is True


def test_audit_records_grant_and_member_and_scrubs(state):
    member = Identity("alice", member=MemberKeys("AlicePublic1", "AliceSecretPrivate9"))
    with identity.bind(member):
        state.audit.record(
            tool="execute_api_call",
            grant="alice",
            params={"password": "hunter2hunter2"},
            error="Basic dXNlcjpwYXNzd29yZDEyMw== refused",
        )
    row = state.audit.recent(1, grant="alice")[0]
    assert row["grant"] == "alice" and row["member"] == "AlicePublic1"
    assert row["params"] == {"password": "[REDACTED]"}
    assert "dXNlcj" not in row["error"]
    assert "AliceSecretPrivate9" not in repr(member)
    assert state.audit.prune(1, now=row["time"] + 2 * 86400) == 1


def test_rate_limits_are_all_or_nothing(limiter):
    tight, loose = LimitRequest("t|minute|grant=a", 60, 2), LimitRequest("l|minute|g", 60, 10)
    got = [limiter.acquire([loose, tight]) for _ in range(4)]
    assert [g.allowed for g in got] == [True, True, False, False]
    assert got[2].blocked == 1 and 0 < got[2].retry_after <= 60
    assert limiter.peek(loose) == 2  # the refused calls took nothing from the loose limit
    assert got[1].counts == (2, 2)


def _hammer(url: str, key: str, n: int, out, ratelimit_url: str | None = None) -> None:
    state = open_state(url, ratelimit_url=ratelimit_url)
    allowed = sum(
        state.ratelimiter.acquire([LimitRequest(key, 3600, 25)]).allowed for _ in range(n)
    )
    out.put(allowed)
    state.close()


def test_rate_limits_are_exact_across_processes(state_url, state):
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_hammer, args=(state_url, "race", 20, out)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert sum(out.get(timeout=5) for _ in procs) == 25
    assert state.ratelimiter.peek(LimitRequest("race", 3600, 25)) == 25


def test_grants_hash_keys_authenticate_and_revoke(state):
    grant, key = state.grants.add(
        "alice", member_public_key="AlicePublic1", member_private_key="AliceSecretPrivate9"
    )
    assert looks_like_api_key(key) and grant.key_hint == key[:9]
    assert state.grants.authenticate(key).name == "alice"
    assert state.grants.authenticate(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    who = state.grants.authenticate(key).identity("api_key")
    assert who.member_public_key == "AlicePublic1"
    listed = state.grants.list()[0].to_public_dict()
    assert "AliceSecretPrivate9" not in repr(listed) and key not in repr(listed)
    with pytest.raises(GrantError, match="exists already"):
        state.grants.add("alice")
    with pytest.raises(GrantError, match="not valid"):
        state.grants.add("local")
    assert state.grants.revoke("alice") is True
    assert state.grants.authenticate(key) is None
    assert state.grants.revoke("alice") is False


def test_a_shared_secret_is_the_same_for_every_instance(state_url, state):
    other = open_state(state_url)
    assert len(state.shared_secret("x")) == 32
    assert other.shared_secret("x") == state.shared_secret("x") != state.shared_secret("y")
    other.close()


def test_an_approval_is_claimed_once(state):
    assert state.approvals.claim("approval-1", "alice") is True
    assert state.approvals.claim("approval-1", "alice") is False
    assert state.approvals.claim("approval-2", "alice") is True


def test_reopening_runs_no_migration_twice(state_url, state):
    with identity.bind(Identity("alice")):
        state.memory.save("/service/tickets", "GET", "kept")
    again = open_state(state_url)
    with identity.bind(Identity("alice")):
        assert [q.description for q in again.memory.list()] == ["kept"]
    if again.kind == "postgresql":
        assert again.schema_version() == len(MIGRATIONS)
    again.close()


def test_an_old_sqlite_fast_memory_file_is_migrated_in_place(tmp_path):
    path = tmp_path / "fast_memory.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(
        """CREATE TABLE saved_queries (id INTEGER PRIMARY KEY AUTOINCREMENT,
        description TEXT NOT NULL, path TEXT NOT NULL, method TEXT NOT NULL, params TEXT,
        data TEXT, timestamp REAL NOT NULL, usage_count INTEGER NOT NULL DEFAULT 0,
        params_key TEXT NOT NULL);
        CREATE UNIQUE INDEX saved_queries_identity ON saved_queries (method, path, params_key);
        INSERT INTO saved_queries (description, path, method, timestamp, params_key)
        VALUES ('from before grants', '/service/tickets', 'GET', 1.0, '{}');"""
    )
    conn.close()
    memory = FastMemory(path)
    # Entries from before grants are shared: an upgrade hides nothing from anyone.
    with identity.bind(Identity("someone")):
        assert [q.description for q in memory.list()] == ["from before grants"]
    memory.save("/service/tickets", "GET", "local's own")
    assert len(memory.list()) == 2
    memory.close()


def test_bad_state_urls_are_clear_errors(tmp_path):
    with pytest.raises(StateError, match="not supported"):
        open_state("mysql://db/x")
    with pytest.raises(StateError, match="Cannot"):
        open_state("postgresql://nobody@127.0.0.1:1/none?connect_timeout=1")
    with pytest.raises(StateError, match="redis://"):
        open_state(tmp_path / "s", ratelimit_url="memcached://x")
    with pytest.raises(StateError, match="identifier"):
        open_state("postgresql://postgres@127.0.0.1/test?schema=Robert'); DROP")
    s = open_state(f"sqlite://{tmp_path}/x")
    assert s.kind == "sqlite" and str(s.root) == f"{tmp_path}/x"
    s.close()


def test_rate_limit_decisions_match_the_reference_limiter(limiter):
    """Random calls on a few keys: every backend decides exactly as the in-memory limiter."""
    import random

    from cwm_gateway.policy.ratelimit import InMemoryRateLimiter

    rng = random.Random(12)
    reference = InMemoryRateLimiter()
    limits = {
        "a": LimitRequest("a", 10, 3),
        "b": LimitRequest("b", 60, 5),
        "c": LimitRequest("c", 5, 1),
    }
    now = 1_000_000.0
    for _ in range(300):
        now += rng.choice([0.0, 0.5, 1.0, 2.5, 7.0])
        reqs = [limits[k] for k in rng.sample(sorted(limits), rng.randint(1, 3))]
        expected = reference.acquire(reqs, now)
        got = limiter.acquire(reqs, now)
        assert (got.allowed, got.blocked, got.counts) == (
            expected.allowed,
            expected.blocked,
            expected.counts,
        )
        assert got.retry_after == pytest.approx(expected.retry_after)


def test_calendar_and_sliding_counters_with_releases_match_the_reference(limiter):
    """The reserve/commit/rollback interface: amounts, both window kinds, reservations given
    back; every backend agrees with the in-memory reference call by call."""
    import dataclasses
    import random

    from cwm_gateway.policy.ratelimit import InMemoryRateLimiter

    fields = {f.name for f in dataclasses.fields(LimitRequest)}
    if not {"amount", "sliding"} <= fields:
        pytest.skip("this version's limiter interface has no amounts or calendar windows")
    rng = random.Random(7)
    reference = InMemoryRateLimiter()
    limits = [
        LimitRequest("fixed-minute", 60, 5),
        LimitRequest("fixed-amount", 3600, 10, amount=3),
        LimitRequest("sliding", 30, 4, sliding=True),
        LimitRequest("sliding-short", 5, 2, sliding=True),
    ]
    now = 1_800_000_000.0
    held = []
    for _ in range(300):
        now += rng.choice([0.0, 0.5, 1.0, 4.0, 13.0])
        reqs = rng.sample(limits, rng.randint(1, 3))
        expected = reference.acquire(reqs, now)
        got = limiter.acquire(reqs, now)
        assert (got.allowed, got.blocked, got.counts) == (
            expected.allowed,
            expected.blocked,
            expected.counts,
        )
        assert got.retry_after == pytest.approx(expected.retry_after)
        if got.allowed:
            held.append((got.reservation, expected.reservation))
        if held and rng.random() < 0.3:  # the upstream call failed: give the quota back
            mine, theirs = held.pop(rng.randrange(len(held)))
            limiter.release(mine)
            reference.release(theirs)
            limiter.release(mine)  # a second release does nothing
        for lim in limits:
            assert limiter.peek(lim, now) == reference.peek(lim, now)


def test_a_single_schema_script_runs_on_every_open(tmp_path):
    """A store that changes its one idempotent script (new tables) gets them on old files."""
    from cwm_gateway.sqlite_file import SQLiteFile

    path = tmp_path / "x.sqlite3"
    SQLiteFile(path, "CREATE TABLE IF NOT EXISTS a (x);", what="x", error=StateError).close()
    db = SQLiteFile(
        path,
        "CREATE TABLE IF NOT EXISTS a (x); CREATE TABLE IF NOT EXISTS b (y);",
        what="x",
        error=StateError,
    )
    assert db.conn().execute("SELECT count(*) FROM b").fetchone() == (0,)
    db.close()


def test_redis_counters_are_exact_across_processes(tmp_path):
    """Four processes through CWM_GATEWAY_RATELIMIT_URL-style Redis counters: exactly max."""
    url = redis_url()
    import uuid

    key = f"race-{uuid.uuid4().hex}"
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    args = (str(tmp_path / "state"), key, 20, out, url)
    procs = [ctx.Process(target=_hammer, args=args) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert sum(out.get(timeout=5) for _ in procs) == 25
    state = open_state(tmp_path / "state", ratelimit_url=url)
    assert state.ratelimiter.peek(LimitRequest(key, 3600, 25)) == 25
    state.ratelimiter._client.delete("cwm:rl:" + key)
    state.close()
