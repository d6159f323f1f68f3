"""A tool call's path is walked through the route trie once, Fast Memory's saved params included."""

from __future__ import annotations

from pathlib import Path

import pytest

import cwm_gateway.validation as validation
from cwm_gateway.config import Settings
from cwm_gateway.core import Gateway, GatewayOptions

ENV = {
    "CONNECTWISE_API_URL": "https://cw.invalid/v4_6_release/apis/3.0",
    "CONNECTWISE_COMPANY_ID": "acme",
    "CONNECTWISE_PUBLIC_KEY": "pub",
    "CONNECTWISE_PRIVATE_KEY": "priv",
    "CONNECTWISE_CLIENT_ID": "client-1",
}


@pytest.fixture
def gateway(tmp_path: Path) -> Gateway:
    return Gateway.from_options(GatewayOptions(data_dir=tmp_path), settings=Settings.from_env(ENV))


@pytest.fixture
def routed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    paths: list[str] = []
    real = validation.route

    def counting(method, path, visible=None):
        paths.append(path)
        return real(method, path, visible)

    monkeypatch.setattr(validation, "route", counting)
    return paths


async def test_a_get_with_saved_params_is_routed_once(gateway: Gateway, routed: list[str]) -> None:
    gateway.memory.save("/service/tickets/{parentId}/notes", "GET", "notes", {"pageSize": 3})
    prepared = await gateway.prepare_call(
        "execute_api_call", "local", {"path": "/service/tickets/7/notes", "full": True}
    )
    assert prepared.request is not None
    assert dict(prepared.request.params) == {"pageSize": 3}  # found under the template
    assert any("Used the params saved in Fast Memory" in note for note in prepared.notes)
    assert routed == ["/service/tickets/7/notes"]


@pytest.mark.parametrize(
    "arguments",
    [
        {"path": "/service/tickets/7/notes"},  # GET without params, nothing saved
        {"path": "/service/tickets/7/notes", "params": {"pageSize": 5}},
        {"method": "DELETE", "path": "/service/tickets/7"},
    ],
)
async def test_every_call_is_routed_once(
    gateway: Gateway, routed: list[str], arguments: dict
) -> None:
    await gateway.prepare_call("execute_api_call", "local", {**arguments, "full": True})
    assert routed == [arguments["path"]]
