"""HTTP authentication as MCP clients meet it: gateway API keys and OAuth 2.1 bearer JWTs from a
local issuer (RSA keys made here, JWKS served on loopback), per-grant identity (rate limits,
Fast Memory, audit, ConnectWise member keys), binding rules, health and metrics."""

from __future__ import annotations

import json
import time
from contextlib import ExitStack, asynccontextmanager

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from cwm_gateway import web
from cwm_gateway.auth import OAuthConfig
from cwm_gateway.cli import main as cli_main
from cwm_gateway.config import Settings
from cwm_gateway.core import Gateway, GatewayOptions
from cwm_gateway.errors import ConfigError
from cwm_gateway.sandbox.auth import SandboxCredentials
from cwm_gateway.sandbox.runner import start_sandbox_thread
from cwm_gateway.server import build_server
from tests.http_app import serving

POLICY = {
    "version": "1",
    "default": "allow",
    "tools": {
        "execute_api_call": {
            "limits": [{"counter": "calls", "window": "hour", "max": 3, "scope": "grant"}]
        }
    },
}


@pytest.fixture
def sandbox():
    handle = start_sandbox_thread()
    yield handle
    handle.stop()


def _gateway(tmp_path, sandbox, **settings_overrides) -> Gateway:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps(POLICY))
    settings = Settings.from_env(dict(sandbox.credentials)).replace(**settings_overrides)
    return Gateway.from_options(
        GatewayOptions(policy_path=policy, data_dir=tmp_path / "state"), settings=settings
    )


@asynccontextmanager
async def mcp_client(url: str, token: str | None, mode: str = "auto"):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(headers=headers, timeout=30) as http:
        transport = streamable_http_client(f"{url}/mcp", http_client=http)
        async with Client(transport, mode=mode) as client:
            yield client


ALLOWED_200 = 'cwm_gateway_tool_calls_total{decision="allow",status="200",tool="execute_api_call"}'
REFUSED = "cwm_gateway_rate_limit_refusals_total"


def _metric(text: str, name: str) -> float:
    """A sample's value in Prometheus text (0 when absent)."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _app(gateway: Gateway, options: web.HttpOptions):
    server = build_server(gateway, **web.server_auth_options(options, gateway.state))
    return web.build_app(server, gateway, options)


async def test_api_keys_authenticate_grants_and_limits_count_per_grant(tmp_path, sandbox):
    gateway = _gateway(tmp_path, sandbox)
    _, alice = gateway.state.grants.add("alice")
    _, bob = gateway.state.grants.add("bob")
    options = web.HttpOptions(auth="api-keys")
    with serving(_app(gateway, options)) as url:
        # No key, a wrong key: 401 with a bearer challenge, nothing runs.
        for headers in ({}, {"Authorization": "Bearer cwmg_" + "x" * 43}):
            r = httpx.post(f"{url}/mcp", json={}, headers=headers)
            assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
        args = {"path": "/service/tickets", "params": {"pageSize": 1}}
        start = httpx.get(f"{url}/metrics").text
        before = {name: _metric(start, name) for name in (ALLOWED_200, REFUSED)}
        got = {}
        # Each grant has its own 3 calls an hour, whichever protocol and connection carries them.
        for name, key in (("alice", alice), ("bob", bob)):
            ok = 0
            for mode in ("auto", "legacy", "auto"):
                async with mcp_client(url, key, mode) as client:
                    for _ in range(2):
                        ok += not (await client.call_tool("execute_api_call", args)).is_error
            got[name] = ok
        assert got == {"alice": 3, "bob": 3}
        async with mcp_client(url, alice) as client:
            await client.call_tool(
                "save_to_fast_memory",
                {"path": "/service/tickets", "method": "GET", "description": "alice's"},
            )
        async with mcp_client(url, bob) as client:
            listed = await client.call_tool("list_fast_memory", {})
            assert listed.structured_content["queries"] == []
        rows = gateway.state.audit.recent(100)
        assert {r["grant"] for r in rows} == {"alice", "bob"}
        assert not any(alice in json.dumps(r) or bob in json.dumps(r) for r in rows)
        gateway.state.grants.revoke("alice")
        r = httpx.post(f"{url}/mcp", json={}, headers={"Authorization": f"Bearer {alice}"})
        assert r.status_code == 401
        metrics = httpx.get(f"{url}/metrics").text
        # The registry is per process: compare with what this test started from.
        assert _metric(metrics, ALLOWED_200) - before[ALLOWED_200] == 6
        assert _metric(metrics, REFUSED) - before[REFUSED] == 6
        assert "cwm_gateway_upstream_latency_seconds_count" in metrics
        assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
        assert httpx.get(f"{url}/readyz").json() == {"status": "ready", "state": "sqlite"}
    gateway.state.close()


async def test_a_grant_calls_connectwise_with_its_own_member_keys(tmp_path):
    # The sandbox knows only the technician's API member; the gateway's own key is wrong.
    tech = SandboxCredentials(public_key="TechPublic123", private_key="TechPrivate456789")
    handle = start_sandbox_thread(credentials=tech)
    try:
        gateway = _gateway(tmp_path, handle, private_key="WrongPrivateKey000")
        _, tech_key = gateway.state.grants.add(
            "tech", member_public_key="TechPublic123", member_private_key="TechPrivate456789"
        )
        _, other_key = gateway.state.grants.add("other")
        args = {"path": "/service/tickets", "params": {"pageSize": 1}}
        upstream_401 = 'cwm_gateway_upstream_errors_total{kind="client"}'
        with serving(_app(gateway, web.HttpOptions(auth="api-keys"))) as url:
            before = _metric(httpx.get(f"{url}/metrics").text, upstream_401)
            async with mcp_client(url, tech_key) as client:
                assert not (await client.call_tool("execute_api_call", args)).is_error
            async with mcp_client(url, other_key) as client:
                refused = await client.call_tool("execute_api_call", args)
                assert refused.is_error and "TechPrivate" not in str(refused)
            after = _metric(httpx.get(f"{url}/metrics").text, upstream_401)
            assert after - before == 1  # ConnectWise refused the wrong key once
        by_grant = {
            r["grant"]: r for r in gateway.state.audit.recent(20) if r["kind"] == "tool_call"
        }
        assert by_grant["tech"]["member"] == "TechPublic123" and by_grant["tech"]["status"] == 200
        assert by_grant["other"]["member"] is None and by_grant["other"]["status"] == 401
        everything = json.dumps(gateway.state.audit.recent(100))
        assert "TechPrivate456789" not in everything and "WrongPrivateKey000" not in everything
        gateway.state.close()
    finally:
        handle.stop()


@pytest.fixture
def issuer():
    """A local OAuth issuer: an RSA key made now, its JWKS served on loopback."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid="test-key", use="sig", alg="RS256")
    app = Starlette(routes=[Route("/jwks.json", lambda request: JSONResponse({"keys": [jwk]}))])
    with serving(app, lifespan="off") as url:
        yield key, url


async def test_oauth_bearer_jwts_are_checked_against_the_issuer(tmp_path, sandbox, issuer):
    key, issuer_url = issuer
    gateway = _gateway(tmp_path, sandbox)
    with ExitStack() as stack:
        # The resource URL must be known before the port is: use a fixed public URL.
        public = "https://gateway.example.test/mcp"
        oauth = OAuthConfig(
            issuer=issuer_url,
            audience=public,
            jwks_url=f"{issuer_url}/jwks.json",
            grant_claim="cwm_grant",
            scopes=("cwm",),
        )
        options = web.HttpOptions(auth="oauth", oauth=oauth, public_url=public)
        url = stack.enter_context(serving(_app(gateway, options)))

        def token(**claims):
            now = int(time.time())
            body = {
                "iss": issuer_url,
                "aud": public,
                "sub": "user-1",
                "exp": now + 300,
                "iat": now,
                "scope": "cwm",
                "cwm_grant": "carol",
            }
            body.update(claims)
            body = {k: v for k, v in body.items() if v is not None}
            return jwt.encode(body, key, algorithm="RS256", headers={"kid": "test-key"})

        # Protected resource metadata names the authorization server.
        meta = httpx.get(f"{url}/.well-known/oauth-protected-resource/mcp").json()
        assert meta["resource"] == public
        assert [u.rstrip("/") for u in meta["authorization_servers"]] == [issuer_url]
        assert meta["scopes_supported"] == ["cwm"]
        challenge = httpx.post(f"{url}/mcp", json={}).headers["www-authenticate"]
        assert "resource_metadata=" in challenge

        async with mcp_client(url, token()) as client:
            r = await client.call_tool("execute_api_call", {"path": "/system/info"})
            assert not r.is_error
        assert gateway.state.audit.recent(1)[0]["grant"] == "carol"

        other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        forged = jwt.encode(
            {
                "iss": issuer_url,
                "aud": public,
                "exp": int(time.time()) + 60,
                "scope": "cwm",
                "cwm_grant": "carol",
            },
            other_key,
            algorithm="RS256",
            headers={"kid": "test-key"},
        )
        hmac_token = jwt.encode(
            {"iss": issuer_url, "aud": public, "exp": int(time.time()) + 60, "cwm_grant": "x"},
            "secret" * 6,
            algorithm="HS256",
            headers={"kid": "test-key"},
        )
        refused = {
            "expired": token(exp=int(time.time()) - 3600),
            "other audience": token(aud="https://elsewhere.test/mcp"),
            "other issuer": token(iss="https://evil.test"),
            "forged signature": forged,
            "hmac": hmac_token,
            "no grant claim": token(cwm_grant=None),
            "not a token": "garbage",
        }
        for why, bad in refused.items():
            r = httpx.post(f"{url}/mcp", json={}, headers={"Authorization": f"Bearer {bad}"})
            assert r.status_code == 401, why
        r = httpx.post(
            f"{url}/mcp", json={}, headers={"Authorization": f"Bearer {token(scope='other')}"}
        )
        assert r.status_code == 403  # authenticated, but without the required scope
    gateway.state.close()


def test_binding_beyond_loopback_needs_authentication(tmp_path, capsys):
    with pytest.raises(ConfigError, match="without authentication"):
        web.check_binding(web.HttpOptions(host="0.0.0.0"))
    web.check_binding(web.HttpOptions(host="0.0.0.0", allow_unauthenticated=True))
    web.check_binding(web.HttpOptions(host="0.0.0.0", auth="api-keys"))
    web.check_binding(web.HttpOptions(host="127.0.0.1"))
    web.check_binding(web.HttpOptions(host="[::1]"))
    web.check_binding(web.HttpOptions(host="localhost"))
    for exposed in ("", "::", "192.168.1.5", "gateway.example.com"):
        with pytest.raises(ConfigError, match="without authentication"):
            web.check_binding(web.HttpOptions(host=exposed))
    with pytest.raises(ConfigError, match="CWM_GATEWAY_OAUTH_ISSUER"):
        web.check_binding(web.HttpOptions(host="0.0.0.0", auth="oauth"))
    code = cli_main(
        ["serve", "--transport", "http", "--host", "0.0.0.0", "--data-dir", str(tmp_path)]
    )
    assert code == 2 and "--allow-unauthenticated" in capsys.readouterr().err


async def test_host_checks_stay_on_for_other_binds(tmp_path, sandbox):
    gateway = _gateway(tmp_path, sandbox)
    options = web.HttpOptions(
        host="0.0.0.0",
        allow_unauthenticated=True,
        allowed_hosts=["gw.example.test"],
        allowed_origins=["https://app.example.test"],
    )
    with serving(_app(gateway, options)) as url:
        init = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
        accept = {"Accept": "application/json, text/event-stream"}
        evil = httpx.post(f"{url}/mcp", json=init, headers={**accept, "Host": "evil.test"})
        assert evil.status_code == 421
        good = httpx.post(f"{url}/mcp", json=init, headers={**accept, "Host": "gw.example.test"})
        assert good.status_code != 421
        host = {**accept, "Host": "gw.example.test"}
        foreign = httpx.post(
            f"{url}/mcp", json=init, headers={**host, "Origin": "https://evil.test"}
        )
        assert foreign.status_code == 403
        app = httpx.post(
            f"{url}/mcp", json=init, headers={**host, "Origin": "https://app.example.test"}
        )
        assert app.status_code not in (403, 421)
    gateway.state.close()


def test_readyz_reports_an_unreachable_state(pg_state_url, tmp_path, sandbox):
    gateway = Gateway.from_options(
        GatewayOptions(state_url=pg_state_url),
        settings=Settings.from_env(dict(sandbox.credentials)),
    )
    with serving(_app(gateway, web.HttpOptions())) as url:
        assert httpx.get(f"{url}/readyz").json() == {"status": "ready", "state": "postgresql"}
        gateway.state.close()  # the database is gone for this instance
        r = httpx.get(f"{url}/readyz")
        assert r.status_code == 503 and r.json()["status"] == "unavailable"
        assert httpx.get(f"{url}/healthz").status_code == 200


async def test_a_grant_can_name_its_own_policy(tmp_path, sandbox):
    gateway = _gateway(tmp_path, sandbox)
    strict = tmp_path / "read-only.json"
    strict.write_text(json.dumps({"version": "1", "default": "allow", "read_only": True}))
    _, intern = gateway.state.grants.add("intern", policy=str(strict))
    _, lead = gateway.state.grants.add("lead")
    note = {
        "path": "/service/tickets/1/notes",
        "method": "POST",
        "data": {"text": "Called the client", "detailDescriptionFlag": True},
    }
    with serving(_app(gateway, web.HttpOptions(auth="api-keys"))) as url:
        async with mcp_client(url, intern) as client:
            refused = await client.call_tool("execute_api_call", note)
            assert refused.is_error and "read-only" in refused.content[0].text
            assert not (
                await client.call_tool("execute_api_call", {"path": "/system/info"})
            ).is_error
        async with mcp_client(url, lead) as client:
            sent = await client.call_tool("execute_api_call", note)
            assert not sent.is_error, sent.content[0].text
    gateway.state.close()


def test_grants_cli_adds_lists_and_revokes(tmp_path, capsys, monkeypatch):
    data = ["--data-dir", str(tmp_path)]
    monkeypatch.setenv("TECH_PRIVATE", "TechPrivate456789")
    assert (
        cli_main(
            [
                "grants",
                "add",
                "tech",
                *data,
                "--member-public-key",
                "TechPublic123",
                "--member-private-key-env",
                "TECH_PRIVATE",
            ]
        )
        == 0
    )
    key = capsys.readouterr().out.strip().splitlines()[-1]
    assert key.startswith("cwmg_")
    assert cli_main(["grants", "list", *data]) == 0
    listed = capsys.readouterr().out
    assert "tech" in listed and "TechPublic123" in listed and "active" in listed
    assert "TechPrivate456789" not in listed and key not in listed
    # Half a key pair, a bad policy file, a missing env var: clear errors, nothing created.
    assert cli_main(["grants", "add", "x", *data, "--member-public-key", "P"]) == 2
    assert "pairs" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": "1", "default": "perhaps"}')
    assert cli_main(["grants", "add", "y", *data, "--grant-policy", str(bad)]) == 2
    assert (
        cli_main(
            [
                "grants",
                "add",
                "z",
                *data,
                "--member-public-key",
                "P",
                "--member-private-key-env",
                "NOT_SET_ANYWHERE",
            ]
        )
        == 2
    )
    capsys.readouterr()
    assert cli_main(["grants", "revoke", "tech", *data]) == 0
    assert cli_main(["grants", "revoke", "tech", *data]) == 2
    assert cli_main(["grants", "list", *data]) == 0
    assert "revoked" in capsys.readouterr().out


def test_json_logs_are_one_object_per_line():
    import logging

    from cwm_gateway.cli import JsonLogFormatter

    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = logging.LogRecord(
            "cwm_gateway.web",
            logging.WARNING,
            __file__,
            1,
            "state %s down",
            ("db",),
            sys.exc_info(),
        )
    line = JsonLogFormatter().format(record)
    assert "\n" not in line  # the traceback is escaped inside the one JSON line
    obj = json.loads(line)
    assert obj["level"] == "warning" and obj["logger"] == "cwm_gateway.web"
    assert obj["message"] == "state db down" and "ValueError: boom" in obj["exception"]
    assert obj["time"].endswith("Z")
