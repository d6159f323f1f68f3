"""Hardening: fuzzed tool arguments, secrets kept out of every output, denied calls send nothing."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client

from cwm_gateway.config import Settings
from cwm_gateway.core import Gateway, GatewayOptions
from cwm_gateway.sandbox.runner import start_sandbox_thread
from cwm_gateway.server import FAILURE_META, build_server


@pytest.fixture(scope="module")
def sandbox():
    handle = start_sandbox_thread()
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def server_and_loop(sandbox, tmp_path_factory):
    data = tmp_path_factory.mktemp("fuzz")
    settings = Settings.from_env(dict(sandbox.credentials))
    gateway = Gateway.from_options(GatewayOptions(data_dir=data), settings=settings)
    return build_server(gateway)


json_scalars = st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=30)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
path_like = st.one_of(
    st.text(max_size=40),
    st.lists(
        st.sampled_from(
            [
                "service",
                "tickets",
                "123",
                "{id}",
                "..",
                "%2e%2e",
                "notes",
                "company",
                "companies",
                "",
                "count",
                "x" * 3,
                "%2f",
                "\x00",
                "http:",
                "@evil",
            ]
        ),
        max_size=6,
    ).map(lambda parts: "/" + "/".join(parts)),
)
methods = st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "get", "TRACE", "", "G E T"])

TOOL_ARGS = {
    "search_api_endpoints": st.fixed_dictionaries(
        {"query": st.text(max_size=60)}, optional={"max_results": st.integers(-5, 500)}
    ),
    "natural_language_api_search": st.fixed_dictionaries(
        {"query": st.text(max_size=60)}, optional={"max_results": st.integers(-5, 500)}
    ),
    "list_api_categories": st.just({}),
    "get_category_endpoints": st.fixed_dictionaries(
        {"category": st.text(max_size=30)}, optional={"max_results": st.integers(-5, 500)}
    ),
    "get_api_endpoint_details": st.fixed_dictionaries(
        {"path": path_like}, optional={"method": methods}
    ),
    "execute_api_call": st.fixed_dictionaries(
        {"path": path_like},
        optional={
            "method": methods,
            "params": st.dictionaries(
                st.sampled_from(["conditions", "pageSize", "page", "orderBy", "fields", "zzz"]),
                json_scalars,
                max_size=3,
            ),
            "data": st.dictionaries(st.text(max_size=8), json_values, max_size=3),
        },
    ),
    "send_raw_api_request": st.fixed_dictionaries(
        {
            "raw_request": st.one_of(
                st.text(max_size=80),
                st.tuples(methods, path_like, st.text(max_size=30)).map(lambda t: " ".join(t)),
            )
        }
    ),
    "save_to_fast_memory": st.fixed_dictionaries(
        {"path": path_like, "method": methods, "description": st.text(max_size=20)},
        optional={"params": st.dictionaries(st.text(max_size=6), json_scalars, max_size=2)},
    ),
    "list_fast_memory": st.fixed_dictionaries({}, optional={"search_term": st.text(max_size=20)}),
    "delete_from_fast_memory": st.fixed_dictionaries({"query_id": st.integers(-10, 10**12)}),
    "clear_fast_memory": st.just({}),
}


@pytest.mark.parametrize("tool", sorted(TOOL_ARGS))
def test_fuzzed_arguments_never_crash_and_invalid_ones_send_nothing(tool, server_and_loop, sandbox):
    server = server_and_loop

    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(arguments=TOOL_ARGS[tool])
    def run(arguments):
        async def once():
            async with Client(server) as client:
                return await client.call_tool(tool, arguments)

        before = len(sandbox.requests)
        result = asyncio.run(once())
        text = "\n".join(getattr(b, "text", "") for b in result.content)
        assert "Traceback" not in text and "unexpected" not in text.lower(), text
        if result.is_error:
            # Errors carry no structured content (any client can read them); the kind is in _meta.
            assert result.structured_content is None
            failure = (result.meta or {}).get(FAILURE_META) or {}
            assert failure.get("error") != "internal", text
            if failure.get("error") in (
                "invalid_request",
                "invalid_argument",
            ):
                assert len(sandbox.requests) == before, "an invalid call reached ConnectWise"

    run()


async def test_secrets_never_reach_outputs_logs_or_audit(tmp_path, sandbox, caplog):
    private = sandbox.credentials["CONNECTWISE_PRIVATE_KEY"]
    public = sandbox.credentials["CONNECTWISE_PUBLIC_KEY"]
    company = sandbox.credentials["CONNECTWISE_COMPANY_ID"]
    good_auth = base64.b64encode(f"{company}+{public}:{private}".encode()).decode()
    wrong_private = "Wr0ngPrivateKey-abcdef123456"
    wrong_auth = base64.b64encode(f"{company}+{public}:{wrong_private}".encode()).decode()
    caplog.set_level(logging.DEBUG)
    outputs: list[str] = []
    for key, data in ((private, tmp_path / "good"), (wrong_private, tmp_path / "bad")):
        env = {**sandbox.credentials, "CONNECTWISE_PRIVATE_KEY": key}
        gateway = Gateway.from_options(
            GatewayOptions(data_dir=data), settings=Settings.from_env(env)
        )
        outputs.append(repr(gateway._settings))
        async with Client(build_server(gateway)) as client:
            for tool, args in (
                ("execute_api_call", {"path": "/service/boards"}),
                (
                    "execute_api_call",
                    {
                        "path": "/service/tickets",
                        "method": "POST",
                        "data": {"summary": "secret test", "company": {"id": 1}},
                    },
                ),
                ("execute_api_call", {"path": "/service/tickets/999999"}),
                ("send_raw_api_request", {"raw_request": f"GET /service/boards?x={key}"}),
                (
                    "save_to_fast_memory",
                    {"path": "/service/boards", "method": "GET", "description": "boards"},
                ),
            ):
                result = await client.call_tool(tool, args)
                outputs.append("\n".join(getattr(b, "text", "") for b in result.content))
                outputs.append(json.dumps(result.structured_content))
        await gateway.aclose()
    assert any("401" in o or "uthentic" in o for o in outputs), "the wrong key should fail auth"
    blobs = outputs + [r.getMessage() for r in caplog.records]
    for db in Path(tmp_path).rglob("*.sqlite3*"):
        blobs.append(db.read_bytes().decode("latin-1"))
    for secret in (private, wrong_private, good_auth, wrong_auth):
        for blob in blobs:
            assert secret not in blob
