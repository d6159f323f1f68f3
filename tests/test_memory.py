"""Fast Memory: CRUD, identity of saves, ordering, search, validation and concurrency."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from cwm_gateway.errors import CWMError
from cwm_gateway.memory import (
    DATA_DIR_ENV,
    FastMemory,
    FastMemoryError,
    MemoryError_,
    default_memory_path,
)


@pytest.fixture
def mem(tmp_path: Path) -> FastMemory:
    return FastMemory(tmp_path / "fm.sqlite3")


def test_save_and_get_round_trip(mem: FastMemory) -> None:
    q = mem.save(
        "/service/tickets",
        "get",
        "Open tickets",
        params={"conditions": "closedFlag=false", "pageSize": 25},
        data={"note": "works"},
    )
    assert q.id > 0
    assert q.method == "GET"
    assert q.usage_count == 0
    got = mem.get(q.id)
    assert got == q
    assert got.params == {"conditions": "closedFlag=false", "pageSize": 25}
    assert got.data == {"note": "works"}
    assert got.model_dump()["last_used"].endswith("+00:00")


def test_same_path_method_params_updates_instead_of_duplicating(mem: FastMemory) -> None:
    first = mem.save("/service/tickets", "GET", "Old text", params={"a": 1, "b": 2})
    mem.record_use(first.id)
    # Same params in another key order, method in another case, trailing slash: same query.
    second = mem.save("/service/tickets/", "get", "New text", params={"b": 2, "a": 1})
    assert second.id == first.id
    assert second.description == "New text"
    assert second.usage_count == 1  # kept across the update
    assert len(mem.list()) == 1
    # Different params: a new query.
    third = mem.save("/service/tickets", "GET", "Other", params={"a": 2})
    assert third.id != first.id
    # None and {} are the same (no params).
    n1 = mem.save("/company/companies", "GET", "All companies")
    n2 = mem.save("/company/companies", "GET", "All companies again", params={})
    assert n1.id == n2.id
    assert len(mem.list()) == 3


def test_list_orders_by_usage_then_recency(mem: FastMemory) -> None:
    a = mem.save("/a", "GET", "alpha")
    b = mem.save("/b", "GET", "bravo")
    c = mem.save("/c", "GET", "charlie")
    for _ in range(3):
        mem.record_use(b.id)
    mem.record_use(a.id)
    mem.record_use(c.id)  # a and c tie on count; c used later
    assert [q.id for q in mem.list()] == [b.id, c.id, a.id]
    assert [q.id for q in mem.list(limit=2)] == [b.id, c.id]


def test_search_description_and_path_case_insensitive(mem: FastMemory) -> None:
    mem.save("/service/tickets", "GET", "Open TICKETS for ACME")
    mem.save("/company/companies", "GET", "Companies in Ohio")
    mem.save("/finance/agreements", "GET", "Agreements 100% billed_")
    assert [q.path for q in mem.list("tickets")] == ["/service/tickets"]
    assert [q.path for q in mem.list("acme")] == ["/service/tickets"]
    assert [q.path for q in mem.list("COMPANY/")] == ["/company/companies"]
    # LIKE wildcards in the term are plain characters.
    assert [q.path for q in mem.list("100%")] == ["/finance/agreements"]
    assert mem.list("_") != [] and all("_" in q.description for q in mem.list("_"))
    assert mem.list("nothing-like-this") == []
    assert len(mem.list("  ")) == 3  # blank term = no filter


def test_record_use_increments_and_refreshes_timestamp(mem: FastMemory) -> None:
    q = mem.save("/a", "GET", "alpha")
    used = mem.record_use(q.id)
    assert used is not None and used.usage_count == 1
    assert used.timestamp >= q.timestamp
    assert mem.record_use(9999) is None


def test_delete_and_clear(mem: FastMemory) -> None:
    a = mem.save("/a", "GET", "alpha")
    mem.save("/b", "POST", "bravo", data={"x": 1})
    assert mem.delete(a.id) is True
    assert mem.delete(a.id) is False
    assert mem.get(a.id) is None
    assert mem.clear() == 1
    assert mem.list() == []
    assert mem.clear() == 0


def test_find_and_saved_params_for(mem: FastMemory) -> None:
    mem.save("/service/tickets", "GET", "few", params={"pageSize": 5})
    many = mem.save("/service/tickets", "GET", "many", params={"pageSize": 100})
    mem.record_use(many.id)
    assert mem.find("/service/tickets", "GET", {"pageSize": 5}).description == "few"
    assert mem.find("/service/tickets", "GET") is None
    assert mem.find("/service/tickets", "POST", {"pageSize": 5}) is None
    assert mem.saved_params_for("get", "/service/tickets") == {"pageSize": 100}
    assert mem.saved_params_for("GET", "/nothing") is None


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"method": "FETCH"}, "method must be one of GET, POST, PUT, PATCH, DELETE"),
        ({"method": None}, "method must be one of"),
        ({"description": "   "}, "description must be non-empty"),
        ({"path": ""}, "path must be a non-empty API path"),
        ({"path": "https://x.example/v4_6_release/apis/3.0/a"}, "not a URL"),
        ({"params": [1, 2]}, "params must be an object"),
        ({"params": {"a": object()}}, "params must be JSON-serializable"),
        ({"params": {"a": float("nan")}}, "params must be JSON-serializable"),
        ({"data": {1, 2}}, "data must be JSON-serializable"),
    ],
)
def test_bad_input_gives_clear_errors(mem: FastMemory, kwargs: dict, fragment: str) -> None:
    args = {"path": "/a", "method": "GET", "description": "alpha"} | kwargs
    with pytest.raises(FastMemoryError, match=fragment.replace("(", r"\(")) as info:
        mem.save(**args)
    assert isinstance(info.value, CWMError)
    assert MemoryError_ is FastMemoryError
    assert mem.list() == []


def test_bad_id_type(mem: FastMemory) -> None:
    with pytest.raises(FastMemoryError, match="id must be an integer"):
        mem.get("1")  # type: ignore[arg-type]
    with pytest.raises(FastMemoryError, match="id must be an integer"):
        mem.delete(True)  # type: ignore[arg-type]


def test_memory_path_refused(tmp_path: Path) -> None:
    with pytest.raises(FastMemoryError, match="needs a file path"):
        FastMemory(":memory:")


def test_unwritable_location_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(FastMemoryError, match="Cannot open the Fast Memory database"):
        FastMemory(blocker / "sub" / "fm.sqlite3")


def test_default_path_honours_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "data"))
    assert default_memory_path() == tmp_path / "data" / "fast_memory.sqlite3"
    m = FastMemory()
    assert m.path == tmp_path / "data" / "fast_memory.sqlite3"
    assert m.path.exists()
    monkeypatch.delenv(DATA_DIR_ENV)
    assert default_memory_path().name == "fast_memory.sqlite3"
    assert "cwm-gateway" in str(default_memory_path())


def test_database_is_wal_with_seed_columns(mem: FastMemory) -> None:
    conn = sqlite3.connect(mem.path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        cols = {r[1] for r in conn.execute("PRAGMA table_info(saved_queries)")}
    finally:
        conn.close()
    assert {"id", "description", "path", "method", "params", "data", "timestamp"} <= cols
    assert "usage_count" in cols


def test_concurrent_threads_save_and_record_use(mem: FastMemory) -> None:
    target = mem.save("/shared", "GET", "shared")
    errors: list[BaseException] = []
    n_threads, per_thread = 16, 25

    def worker(i: int) -> None:
        try:
            for j in range(per_thread):
                mem.record_use(target.id)
                # Every thread also saves the same query: must stay one row.
                mem.save("/shared", "GET", f"shared from {i}")
                mem.save(f"/t{i}", "GET", f"thread {i} item", params={"j": j})
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert mem.get(target.id).usage_count == n_threads * per_thread
    assert len(mem.list("/shared")) == 1
    assert len(mem.list()) == 1 + n_threads * per_thread


async def test_concurrent_asyncio_tasks(mem: FastMemory) -> None:
    target = mem.save("/async", "GET", "async")
    await asyncio.gather(*(asyncio.to_thread(mem.record_use, target.id) for _ in range(40)))
    assert mem.get(target.id).usage_count == 40
