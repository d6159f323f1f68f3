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
        assert shared.shared is True and shared.to_dict()["shared"] is True


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


def test_rate_limits_are_all_or_nothing(state):
    limiter = state.ratelimiter
    tight, loose = LimitRequest("t|minute|grant=a", 60, 2), LimitRequest("l|minute|g", 60, 10)
    got = [limiter.acquire([loose, tight]) for _ in range(4)]
    assert [g.allowed for g in got] == [True, True, False, False]
    assert got[2].blocked == 1 and 0 < got[2].retry_after <= 60
    assert limiter.peek(loose) == 2  # the refused calls took nothing from the loose limit
    assert got[1].counts == (2, 2)


def _hammer(url: str, key: str, n: int, out) -> None:
    state = open_state(url)
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
    with pytest.raises(StateError, match="identifier"):
        open_state("postgresql://postgres@127.0.0.1/test?schema=Robert'); DROP")
    s = open_state(f"sqlite://{tmp_path}/x")
    assert s.kind == "sqlite" and str(s.root) == f"{tmp_path}/x"
    s.close()
