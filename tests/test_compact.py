"""Compact results (gateway/compact.py, gateway/fieldsets.toml): field sets, budget, paging."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mcp import Client

from cwm_gateway import compact
from cwm_gateway.config import Settings
from cwm_gateway.core import Gateway, GatewayOptions
from cwm_gateway.sandbox.runner import start_sandbox_thread
from cwm_gateway.server import build_server
from cwm_generated.registry import BY_ID, OPERATIONS
from cwm_generated.schemas import SCHEMAS


def test_every_curated_field_is_a_field_of_its_model():
    sets = compact.field_sets()
    assert {"Ticket", "Company", "Contact", "Member", "TimeEntry", "Agreement"} <= set(sets)
    assert {"Company.Configuration", "Opportunity", "Invoice", "Project"} <= set(sets)
    for model, kinds in sets.items():
        assert model in SCHEMAS, model
        assert set(kinds) == {"list", "record"}, model
        for kind, fields in kinds.items():
            assert fields[0] == "id", (model, kind)
            assert len(set(fields)) == len(fields), (model, kind)
            unknown = [f for f in fields if f not in SCHEMAS[model].fields]
            assert unknown == [], (model, kind, unknown)
        assert len(kinds["list"]) <= 7, model


def test_models_without_a_curated_set_get_fields_by_the_rule():
    for name in ("ServiceNote", "CompanySite", "Board"):
        assert compact.default_fields(name, "list") == compact.field_sets()[name]["list"]
    covered = 0
    for op in OPERATIONS:
        fields = compact.default_fields_param(op)
        if fields is None:
            continue
        covered += 1
        names = fields.split(",")
        assert names[0] == "id", op.operation_id
        assert set(names) <= set(SCHEMAS[op.response_model].fields), op.operation_id
        assert len(names) <= (7 if op.response_is_list else 30)
    assert covered > 900
    # The rule prefers names, state, links and dates to the first fields of the spec.
    derived = compact.derived_fields(SCHEMAS["ScheduleEntry"], "list")
    assert derived[:2] == ("id", "name") and "dateStart" in derived


def test_only_gets_that_accept_fields_get_default_fields():
    assert compact.default_fields_param(BY_ID["postServiceTickets"]) is None
    assert compact.default_fields_param(BY_ID["getServiceTickets"]).startswith("id,summary")
    assert "initialDescription" in compact.default_fields_param(BY_ID["getServiceTicketsById"])


@given(page=st.integers(1, 50), page_size=st.integers(1, 1000), data=st.data())
def test_next_page_params_start_at_the_first_item_not_shown(page, page_size, data):
    shown = data.draw(st.integers(1, page_size))
    nxt = compact.next_page({"conditions": "x", "pageId": 3}, page, page_size, shown)
    first_next = (nxt["page"] - 1) * nxt["pageSize"] + 1
    assert first_next == (page - 1) * page_size + shown + 1
    assert 1 <= nxt["pageSize"] <= shown
    assert nxt["conditions"] == "x" and "pageId" not in nxt
    if page == 1:
        assert nxt["pageSize"] == shown  # the common case wastes nothing


def test_a_list_is_cut_to_the_budget_and_says_so():
    items = [{"id": i, "summary": "x" * 50, "_info": {"a_href": "…"}} for i in range(1, 101)]
    table = compact.compact_list(items, None, cut_long=True, budget=1000)
    assert table.columns == ["id", "summary"]
    assert sum(len(line) + 1 for line in table.lines[1:]) <= 1000
    assert 0 < len(table.rows) < 100 and table.returned == 100
    assert [r[0] for r in table.rows] == list(range(1, len(table.rows) + 1))


def test_references_collapse_and_info_goes():
    record = {
        "id": 7,
        "company": {"id": 2, "identifier": "Acme", "name": "Acme Inc", "_info": {"x_href": "/"}},
        "owner": {"id": 3, "identifier": "bw", "_info": {}},
        "notes": "n" * 500,
        "_info": {"lastUpdated": "2025-01-01"},
    }
    out, left_out, cut = compact.compact_record(record, None, cut_long=True)
    assert out["company"] == {"id": 2, "name": "Acme Inc"}
    assert out["owner"] == {"id": 3, "name": "bw"}
    assert "_info" not in out and left_out == 0
    assert cut == 1 and out["notes"].endswith("…") and len(out["notes"]) == compact.LONG_TEXT + 1
    # ConnectWise answers fields=id,company with those two (plus _info).
    answered = {k: record[k] for k in ("id", "company", "_info")}
    row = compact.compact_list([answered], ["id", "company"], cut_long=False)
    assert row.rows == [[7, [2, "Acme Inc"]]]
    assert row.lines[1] == "7 | Acme Inc #2"


@pytest.fixture(scope="module")
def sandbox():
    handle = start_sandbox_thread()
    yield handle
    handle.stop()


def _text(result) -> str:
    return "\n".join(getattr(b, "text", "") for b in result.content)


async def test_a_default_ticket_page_is_small_and_the_text_shows_every_row(sandbox, tmp_path):
    gateway = Gateway.from_options(
        GatewayOptions(data_dir=tmp_path), settings=Settings.from_env(dict(sandbox.credentials))
    )
    async with Client(build_server(gateway)) as client:
        result = await client.call_tool(
            "execute_api_call", {"path": "/service/tickets", "params": {"pageSize": 25}}
        )
    sent = [r for r in sandbox.requests if r["operation_id"] == "getServiceTickets"][-1]
    assert "fields=id%2Csummary" in sent["query"]  # the default fields went to ConnectWise
    sc, text = result.structured_content, _text(result)
    size = len(text) + len(json.dumps(sc, separators=(",", ":"), ensure_ascii=False))
    assert size <= 8000, size
    assert len(sc["table"]["rows"]) == 25 and sc["list_summary"]["shown"] == 25
    assert "_info" not in json.dumps(sc)
    lines = text.splitlines()
    for row in sc["table"]["rows"]:  # the same rows in both halves
        assert " | ".join(compact.render_cell(v) for v in row) in lines


async def test_following_next_page_params_never_skips_an_item(sandbox, tmp_path):
    gateway = Gateway.from_options(
        GatewayOptions(data_dir=tmp_path, text_budget=1500),
        settings=Settings.from_env(dict(sandbox.credentials)),
    )
    async with Client(build_server(gateway)) as client:
        every = await client.call_tool(
            "execute_api_call",
            {"path": "/service/tickets", "params": {"pageSize": 60, "fields": "id"}},
        )
        wanted = [row[0] for row in every.structured_content["table"]["rows"]]
        params = {"pageSize": 60, "orderBy": "id asc"}
        seen: list[int] = []
        for _ in range(30):
            result = await client.call_tool(
                "execute_api_call", {"path": "/service/tickets", "params": params}
            )
            sc = result.structured_content
            seen += [row[0] for row in sc["table"]["rows"]]
            if len(seen) >= len(wanted):
                break
            assert (
                sc["list_summary"]["shown"] < sc["list_summary"]["returned"]
                or (sc["list_summary"]["next_page_params"])
            )
            params = sc["list_summary"]["next_page_params"]
            assert f"next: params={json.dumps(params, separators=(',', ':'))}" in _text(result)
    assert seen[: len(wanted)] == wanted
