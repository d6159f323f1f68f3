"""Audit log: rows, body hashing, secret scrubbing (known secrets never reach the DB), table."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from cwm_gateway.policy import CallContext, PolicyEngine, parse_policy
from cwm_gateway.policy.audit import REDACTED, AuditError, AuditLog, render_table, scrub

PRIVATE_KEY = "Zx9PrivKeyQ7mW2"
PUBLIC_KEY = "PubKeyA1b2C3d4"
AUTH_HEADER = "Basic " + base64.b64encode(f"acme+{PUBLIC_KEY}:{PRIVATE_KEY}".encode()).decode()
SECRET_STRINGS = [
    PRIVATE_KEY,
    AUTH_HEADER.split()[1],
    "hunter2-pass",
    "tok_live_8f7e6d",
    "sk-abcdef123456",
    "MIIEvQIBADANBgkqhkiG9w0",
]


def _db_text(path: Path) -> str:
    """Every byte of the database and its WAL, as text, to search for leaks."""
    chunks = []
    for p in path.parent.glob(path.name + "*"):
        chunks.append(p.read_bytes().decode("latin-1"))
    return "".join(chunks)


def test_scrub_keys_and_text_patterns() -> None:
    value = {
        "headers": {"Authorization": AUTH_HEADER, "clientId": "abc-123"},
        "password": "hunter2-pass",
        "nested": [{"apiKey": "sk-abcdef123456"}, {"privateKey": PRIVATE_KEY}],
        "privateFlag": True,
        "note": "call with token=tok_live_8f7e6d please",
        "log": f"sent Authorization: {AUTH_HEADER}",
        "creds": f"acme+{PUBLIC_KEY}:{PRIVATE_KEY}",
        "pem": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0\n-----END PRIVATE KEY-----",
        "summary": "Basic information about the printer",
    }
    out = scrub(value)
    text = json.dumps(out)
    for secret in SECRET_STRINGS:
        assert secret not in text, secret
    assert out["headers"]["Authorization"] == REDACTED
    assert out["headers"]["clientId"] == "abc-123"
    assert out["privateFlag"] is True  # booleans under secret-looking keys are no secret
    assert out["summary"] == "Basic information about the printer"
    assert "token=" + REDACTED in out["note"]


def test_record_hashes_bodies_and_scrubs_everything(tmp_path: Path) -> None:
    db = tmp_path / "audit.sqlite3"
    log = AuditLog(db, secrets=[PRIVATE_KEY, AUTH_HEADER])
    body = {"summary": "New ticket", "password": "hunter2-pass"}
    log.record(
        tool="execute_api_call",
        correlation_id="c1",
        grant="g1",
        operation_id="postServiceTickets",
        method="POST",
        path="/service/tickets",
        decision="allow",
        rule="writes",
        status=201,
        latency_ms=12.5,
        params={"token": "tok_live_8f7e6d"},
        arguments={"path": "/service/tickets", "body": body, "api_key": "sk-abcdef123456"},
        body=body,
        error=f"upstream said: bad key {PRIVATE_KEY}; header {AUTH_HEADER}",
    )
    log.record(tool="execute_api_call", kind="upstream_request", correlation_id="c1", status=201)
    rows = log.recent(10)
    assert [r["kind"] for r in rows] == ["upstream_request", "tool_call"]
    row = rows[1]
    assert row["grant"] == "g1" and row["status"] == 201 and row["latency_ms"] == 12.5
    assert row["body"].startswith("sha256:") and len(row["body"]) == 7 + 64
    assert row["arguments"]["body"].startswith("sha256:")
    assert row["arguments"]["api_key"] == REDACTED
    assert row["params"] == {"token": REDACTED}
    assert PRIVATE_KEY not in row["error"]
    assert log.recent(5, correlation_id="c1") == rows
    log.close()
    text = _db_text(db)
    for secret in SECRET_STRINGS[:5]:
        assert secret not in text, secret
    assert "New ticket" not in text  # the body is hashed, not stored


def test_record_bodies_true_stores_scrubbed_bodies(tmp_path: Path) -> None:
    db = tmp_path / "audit.sqlite3"
    log = AuditLog(db, record_bodies=True)
    body = {"summary": "New ticket", "password": "hunter2-pass"}
    log.record(tool="t", body=body, arguments={"body": body})
    row = log.recent(1)[0]
    assert json.loads(row["body"]) == {"summary": "New ticket", "password": REDACTED}
    assert row["arguments"]["body"]["summary"] == "New ticket"
    log.close()
    assert "hunter2-pass" not in _db_text(db)


def test_engine_record_uses_policy_setting(tmp_path: Path) -> None:
    def run(record_bodies: bool) -> dict[str, Any]:
        policy = parse_policy(
            {"version": "1", "default": "allow", "audit": {"record_bodies": record_bodies}}
        )
        log = AuditLog(tmp_path / f"a{record_bodies}.sqlite3")
        engine = PolicyEngine(policy, audit=log)
        c = CallContext("execute_api_call", grant="g", body={"summary": "x"}, path="/a")
        engine.record(c, engine.decide(c), status=200, latency_ms=3.0)
        row = log.recent(1)[0]
        log.close()
        return row

    hashed = run(False)
    canonical = json.dumps({"summary": "x"}, sort_keys=True, separators=(",", ":"))
    assert hashed["body"] == "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
    assert hashed["decision"] == "allow" and hashed["rule"] == "default"
    assert json.loads(run(True)["body"]) == {"summary": "x"}


def test_engine_without_audit_records_nothing() -> None:
    engine = PolicyEngine(parse_policy({"version": "1", "default": "allow"}))
    engine.record(CallContext("t"))  # no error, nothing to write to


def test_render_table(tmp_path: Path) -> None:
    assert render_table([]) == "No audit entries."
    log = AuditLog(tmp_path / "a.sqlite3")
    log.record(
        tool="execute_api_call",
        grant="g1",
        decision="deny",
        rule="tools.execute_api_call.limits[0]",
        method="GET",
        path="/service/tickets",
        at=0.0,
        error="Rate limit reached\nsecond line",
    )
    table = render_table(log.recent(5))
    lines = table.splitlines()
    assert lines[0].startswith("TIME (UTC)")
    assert "1970-01-01 00:00:00" in lines[2]
    assert "deny" in lines[2] and "/service/tickets" in lines[2]
    assert "\n" not in lines[2]
    log.close()


def test_recent_validates_n(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "a.sqlite3")
    with pytest.raises(AuditError, match="n must be a positive integer"):
        log.recent(0)
    log.close()


def test_prune_deletes_only_entries_older_than_the_retention(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.sqlite3")
    day = 86400.0
    now = 1_900_000_000.0
    log.record(tool="old", at=now - 40 * day)
    log.record(tool="recent", at=now - 2 * day)
    assert log.prune(30, now=now) == 1
    assert [r["tool"] for r in log.recent(10)] == ["recent"]
    with pytest.raises(AuditError, match="above 0"):
        log.prune(0)
    with pytest.raises(AuditError, match="number"):
        log.prune("30")  # type: ignore[arg-type]
