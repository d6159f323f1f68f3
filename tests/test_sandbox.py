"""The sandbox behaves like ConnectWise Manage: auth, routing, validation, queries, storage.

Over real HTTP (the thread runner on a loopback port), as clients meet it; only the check that
admin endpoints refuse non-loopback callers runs in-process, where the caller's address can be
chosen."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from starlette.testclient import TestClient

from cwm_gateway.sandbox.app import API_PREFIX, SandboxSettings, create_app
from cwm_gateway.sandbox.auth import SandboxCredentials
from cwm_gateway.sandbox.faults import FaultPlan, FaultSpecError, parse_faults
from cwm_gateway.sandbox.router import RouteError, Router
from cwm_gateway.sandbox.runner import start_sandbox_thread
from cwm_gateway.sandbox.store import Store
from cwm_generated.registry import OPERATIONS

CREDS = SandboxCredentials()
H = CREDS.headers()


@pytest.fixture
def handle():
    with start_sandbox_thread() as running:
        yield running


@pytest.fixture
def app(handle):
    """What tests read besides HTTP: ``app.sandbox`` (store, request log)."""
    return handle


@pytest.fixture
def client(handle):
    with httpx.Client(base_url=handle.site_url) as http:
        yield http


@pytest.fixture(scope="module")
def reader():
    """One sandbox shared by the tests that only read (or are refused)."""
    with start_sandbox_thread() as running, httpx.Client(base_url=running.site_url) as http:
        yield http


def _http(handle) -> httpx.Client:
    return httpx.Client(base_url=handle.site_url)


def api(path: str) -> str:
    return API_PREFIX + path


# --- auth ---------------------------------------------------------------------------------------


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"clientId": CREDS.client_id},
        {"Authorization": CREDS.authorization_header()},
        {"Authorization": CREDS.authorization_header(), "clientId": "someone-else"},
        {"Authorization": _basic("sandbox+sandbox-public", "wrong"), "clientId": CREDS.client_id},
        {"Authorization": _basic("other+sandbox-public", "sandbox-private"), "clientId": "x"},
        {"Authorization": "Bearer abc", "clientId": CREDS.client_id},
        {"Authorization": "Basic !!notbase64", "clientId": CREDS.client_id},
    ],
)
def test_bad_credentials_get_connectwise_401(reader, headers):
    r = reader.get(api("/company/companies"), headers=headers)
    assert r.status_code == 401
    body = r.json()
    assert body["code"] == "Unauthorized" and body["message"]
    assert "sandbox-private" not in r.text


def test_good_credentials_and_case_insensitive_company(reader):
    auth = _basic("SANDBOX+sandbox-public", "sandbox-private")
    r = reader.get(
        api("/company/companies"), headers={"Authorization": auth, "clientid": "sandbox-client-id"}
    )
    assert r.status_code == 200


def test_configurable_credentials():
    creds = SandboxCredentials("acme", "pub", "priv", "cid")
    with start_sandbox_thread(credentials=creds) as handle, _http(handle) as c:
        assert c.get(api("/company/companies"), headers=H).status_code == 401
        assert c.get(api("/company/companies"), headers=creds.headers()).status_code == 200
    assert "priv" not in repr(creds)


def test_company_info_for_codebase_discovery(reader):
    r = reader.get("/login/companyinfo/Sandbox")
    assert r.status_code == 200
    info = r.json()
    assert info["Codebase"] == "v4_6_release/"
    assert info["VersionCode"] == "v2025.1"
    assert info["IsCloud"] is False
    assert {"CompanyName", "VersionNumber", "CompanyID", "SiteUrl"} <= set(info)
    assert reader.get("/login/companyinfo/nobody").status_code == 404


# --- routing ------------------------------------------------------------------------------------


def test_literal_segment_beats_parameter(reader):
    r = reader.get(api("/service/tickets/count"), headers=H)
    assert r.status_code == 200
    assert r.headers["x-sandbox-operation"] == "getServiceTicketsCount"
    assert r.json() == {"count": 100}


def test_unknown_path_404_and_wrong_method_405(reader):
    r = reader.get(api("/service/nothingHere"), headers=H)
    assert r.status_code == 404 and r.json()["code"] == "NotFound"
    r = reader.put(api("/service/tickets"), headers=H, json={})
    assert r.status_code == 405
    assert set(r.headers["allow"].split(", ")) == {"GET", "POST"}


def test_literals_match_case_insensitively(reader):
    r = reader.get(api("/Service/Tickets/1"), headers=H)
    assert r.status_code == 200 and r.json()["id"] == 1


def test_router_prefers_integer_template_for_digits():
    router = Router(OPERATIONS)
    by_digits = router.match("GET", "/system/members/7")
    by_name = router.match("GET", "/system/members/jsmith")
    assert by_digits.operation.path == "/system/members/{id}"
    assert by_name.operation.path == "/system/members/{memberIdentifier}"
    assert by_name.params == {"memberIdentifier": "jsmith"}
    with pytest.raises(RouteError) as exc:
        router.match("GET", "/no/such/thing")
    assert exc.value.status == 404


# --- validation ---------------------------------------------------------------------------------


def test_missing_required_and_too_long_fields(reader):
    r = reader.post(api("/service/tickets"), headers=H, json={"summary": "x" * 101})
    assert r.status_code == 400
    body = r.json()
    assert body["code"] == "InvalidObject"
    errors = {e["field"]: e for e in body["errors"]}
    assert errors["company"]["code"] == "NullObject"
    assert errors["summary"]["code"] == "MaxLengthField"
    assert all(e["resource"] == "ticket" for e in body["errors"])


def test_unknown_field_wrong_type_and_bad_json(reader):
    r = reader.post(
        api("/service/tickets"), headers=H, json={"summary": 5, "company": {"id": 2}, "nope": 1}
    )
    assert r.status_code == 400
    fields = {e["field"] for e in r.json()["errors"]}
    assert {"summary", "nope"} <= fields
    r = reader.post(
        api("/service/tickets"),
        headers={**H, "Content-Type": "application/json"},
        content=b'{"summary": ',
    )
    assert r.status_code == 400 and r.json()["code"] == "InvalidObject"
    r = reader.post(api("/service/tickets"), headers=H)
    assert r.status_code == 400


def test_reference_to_unknown_record_is_rejected(reader):
    r = reader.post(
        api("/service/tickets"), headers=H, json={"summary": "x", "company": {"id": 9999}}
    )
    assert r.status_code == 400
    (err,) = r.json()["errors"]
    assert err["code"] == "NotFound" and err["field"] == "company/id"


def test_create_assigns_id_and_expands_references(client):
    r = client.post(
        api("/service/tickets"), headers=H, json={"summary": "Printer jam", "company": {"id": 2}}
    )
    assert r.status_code == 201
    ticket = r.json()
    assert ticket["id"] == 101
    assert ticket["company"]["identifier"] == "AcmeMfg"
    assert ticket["company"]["_info"]["company_href"].endswith("/company/companies/2")
    assert {"lastUpdated", "updatedBy"} <= set(ticket["_info"])
    assert client.get(api("/service/tickets/101"), headers=H).json()["summary"] == "Printer jam"
    by_identifier = client.post(
        api("/service/tickets"),
        headers=H,
        json={"summary": "y", "company": {"identifier": "northwind"}},
    )
    assert by_identifier.json()["company"]["name"] == "Northwind Traders"


def test_put_replaces_and_patch_updates(client):
    r = client.put(
        api("/service/tickets/4"), headers=H, json={"summary": "Replaced", "company": {"id": 3}}
    )
    assert r.status_code == 200
    doc = client.get(api("/service/tickets/4"), headers=H).json()
    assert doc["summary"] == "Replaced" and doc["id"] == 4
    # A replaced ticket without a board lands on the default board, in its default status.
    assert (doc["board"]["name"], doc["status"]["name"]) == ("Help Desk", "New")
    ops = [
        {"op": "replace", "path": "summary", "value": "Patched"},
        {"op": "replace", "path": "status/id", "value": 2},
    ]
    r = client.patch(api("/service/tickets/5"), headers=H, json=ops)
    assert r.status_code == 200
    doc = client.get(api("/service/tickets/5"), headers=H).json()
    assert doc["summary"] == "Patched" and doc["status"]["id"] == 2


def test_patch_problems_are_reported(reader):
    r = reader.patch(
        api("/service/tickets/5"),
        headers=H,
        json=[{"op": "replace", "path": "sumary", "value": "x"}],
    )
    assert r.status_code == 400
    (err,) = r.json()["errors"]
    assert (err["field"], err["message"]) == ("sumary", "sumary is not a recognized field.")
    r = reader.patch(api("/service/tickets/5"), headers=H, json={"summary": "x"})
    assert r.status_code == 400


def test_unknown_ids_are_404(reader):
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        kwargs = (
            {"json": [{"op": "replace", "path": "summary", "value": "x"}]}
            if method == "PATCH"
            else {}
        )
        if method == "PUT":
            kwargs = {"json": {"summary": "x", "company": {"id": 2}}}
        r = reader.request(method, api("/service/tickets/424242"), headers=H, **kwargs)
        assert r.status_code == 404, method
        assert r.json()["code"] == "NotFound"
    assert reader.get(api("/service/tickets/abc"), headers=H).status_code == 404


# --- conditions, orderBy, fields ------------------------------------------------------------------


def test_conditions_filter_and_count_agree(reader):
    cond = 'status/name = "New" and closedFlag = false'
    r = reader.get(
        api("/service/tickets"), headers=H, params={"conditions": cond, "pageSize": 1000}
    )
    assert r.status_code == 200
    rows = r.json()
    assert rows and all(t["status"]["name"] == "New" for t in rows)
    count = reader.get(api("/service/tickets/count"), headers=H, params={"conditions": cond}).json()
    assert count == {"count": len(rows)}
    assert len(rows) < 100


def test_conditions_like_in_and_dates(reader):
    r = reader.get(
        api("/company/companies"), headers=H, params={"conditions": 'name like "%Dental%"'}
    )
    assert [c["identifier"] for c in r.json()] == ["BlueRidgeDental"]
    r = reader.get(api("/company/companies"), headers=H, params={"conditions": "id in (2, 3, 4)"})
    assert [c["id"] for c in r.json()] == [2, 3, 4]
    r = reader.get(
        api("/time/entries"),
        headers=H,
        params={"conditions": "timeStart > [2024-12-01T00:00:00Z]", "pageSize": 1000},
    )
    assert r.json() and all(t["timeStart"] > "2024-12-01" for t in r.json())


def test_bad_conditions_are_connectwise_400s(reader):
    r = reader.get(api("/service/tickets"), headers=H, params={"conditions": 'summery = "x"'})
    assert r.status_code == 400
    # ConnectWise's own words, never the gateway's did-you-mean.
    assert r.json() == {"code": "ApiFindCondition", "message": "summery is not a recognized name."}
    r = reader.get(api("/service/tickets"), headers=H, params={"conditions": "summary == "})
    assert r.status_code == 400


def test_order_by_and_fields_projection(reader):
    r = reader.get(
        api("/company/companies"),
        headers=H,
        params={"orderBy": "name desc", "fields": "id,name,status/name", "pageSize": 5},
    )
    rows = r.json()
    names = [c["name"] for c in rows]
    assert names == sorted(names, key=str.lower, reverse=True)
    assert all(set(c) <= {"id", "name", "status"} for c in rows)
    assert set(rows[0]["status"]) == {"name"}
    r = reader.get(api("/company/companies/2"), headers=H, params={"fields": "identifier"})
    assert r.json() == {"identifier": "AcmeMfg"}
    assert (
        reader.get(api("/company/companies"), headers=H, params={"orderBy": "nam"}).status_code
        == 400
    )
    assert (
        reader.get(api("/company/companies"), headers=H, params={"fields": "nme"}).status_code
        == 400
    )


# --- paging -------------------------------------------------------------------------------------


def _links(response) -> dict[str, str]:
    out = {}
    for part in response.headers.get("link", "").split(","):
        if part.strip():
            url, rel = part.split(";")
            out[rel.strip().split("=")[1].strip('"')] = url.strip().strip("<>")
    return out


def test_default_page_size_and_link_headers(reader):
    r = reader.get(api("/service/tickets"), headers=H)
    assert len(r.json()) == 25
    links = _links(r)
    assert set(links) == {"next", "last"}
    assert "page=2" in links["next"] and "page=4" in links["last"]
    r = reader.get(api("/service/tickets"), headers=H, params={"page": 2, "pageSize": 30})
    assert set(_links(r)) == {"first", "prev", "next", "last"}
    r = reader.get(api("/service/tickets"), headers=H, params={"page": 4, "pageSize": 30})
    assert len(r.json()) == 10 and set(_links(r)) == {"first", "prev"}


def test_following_next_links_visits_every_record_once(reader):
    url, seen = api("/service/tickets") + "?pageSize=7&orderBy=id%20desc", []
    while url:
        r = reader.get(url, headers=H)
        seen += [t["id"] for t in r.json()]
        url = _links(r).get("next")
    assert seen == list(range(100, 0, -1))


def test_page_size_is_capped_and_validated(reader):
    r = reader.get(api("/time/entries"), headers=H, params={"pageSize": 5000})
    assert len(r.json()) == 150
    assert reader.get(api("/time/entries"), headers=H, params={"page": "x"}).status_code == 400
    assert reader.get(api("/time/entries"), headers=H, params={"page": 0}).status_code == 400


def test_forward_only_paging_with_page_id(reader):
    url, seen = api("/service/tickets") + "?pageSize=40&pageId=0", []
    while url:
        r = reader.get(url, headers=H)
        assert set(_links(r)) <= {"next"}
        seen += [t["id"] for t in r.json()]
        url = _links(r).get("next")
    assert seen == list(range(1, 101))
    r = reader.get(
        api("/service/tickets"),
        headers={**H, "pagination-type": "forward-only"},
        params={"pageSize": 60},
    )
    assert "pageId=60" in _links(r)["next"]
    r = reader.get(api("/service/tickets"), headers=H, params={"pageId": 0, "orderBy": "summary"})
    assert r.status_code == 400


# --- child collections --------------------------------------------------------------------------


def test_child_collections_belong_to_their_parent(client):
    notes = client.get(api("/service/tickets/3/notes"), headers=H).json()
    assert notes and all(n["ticketId"] == 3 for n in notes)
    r = client.post(
        api("/service/tickets/3/notes"),
        headers=H,
        json={"text": "Rebooted", "internalAnalysisFlag": True},
    )
    assert r.status_code == 201
    note = r.json()
    assert note["ticketId"] == 3
    assert note["id"] in [
        n["id"] for n in client.get(api("/service/tickets/3/notes"), headers=H).json()
    ]
    assert client.get(api(f"/service/tickets/3/notes/{note['id']}"), headers=H).status_code == 200
    assert client.get(api(f"/service/tickets/4/notes/{note['id']}"), headers=H).status_code == 404
    assert client.get(api("/service/tickets/9999/notes"), headers=H).status_code == 404
    count = client.get(api("/service/tickets/3/notes/count"), headers=H).json()["count"]
    assert count == len(notes) + 1


def test_deleting_a_parent_deletes_its_children(client, app):
    note_id = client.get(api("/service/tickets/3/notes"), headers=H).json()[0]["id"]
    assert client.delete(api("/service/tickets/3"), headers=H).status_code == 204
    assert client.get(api("/service/tickets/3"), headers=H).status_code == 404
    assert client.get(api(f"/service/tickets/3/notes/{note_id}"), headers=H).status_code == 404
    assert app.sandbox.store.documents("/service/tickets/{}/notes", "3") == []
    assert client.get(api("/service/tickets/count"), headers=H).json() == {"count": 99}


# --- persistence --------------------------------------------------------------------------------


def test_writes_persist_across_restarts_with_a_file(tmp_path):
    db = str(tmp_path / "sandbox.db")
    with start_sandbox_thread(db=db) as first, _http(first) as c:
        new = c.post(
            api("/company/companies"), headers=H, json={"identifier": "NewCo", "name": "New Co"}
        ).json()
        c.patch(
            api("/company/companies/2"),
            headers=H,
            json=[{"op": "replace", "path": "name", "value": "Acme Mfg Inc"}],
        )
        c.delete(api("/company/companies/3"), headers=H)
        c.get(api("/finance/taxCodes"), headers=H)  # fills a never-seeded collection
        taxes = c.get(api("/finance/taxCodes"), headers=H).json()

    with start_sandbox_thread(db=db) as second, _http(second) as c:
        assert c.get(api(f"/company/companies/{new['id']}"), headers=H).json()["name"] == "New Co"
        assert c.get(api("/company/companies/2"), headers=H).json()["name"] == "Acme Mfg Inc"
        assert c.get(api("/company/companies/3"), headers=H).status_code == 404
        assert c.get(api("/company/companies/count"), headers=H).json() == {"count": 25}
        assert c.get(api("/finance/taxCodes"), headers=H).json() == taxes
        again = c.post(
            api("/company/companies"), headers=H, json={"identifier": "Next", "name": "Next"}
        )
        assert again.json()["id"] == new["id"] + 1


def test_memory_store_unit():
    store = Store()
    a = store.insert("/a", "", {"name": "one"})
    store.insert("/a/{}/b", str(a["id"]), {"x": 1})
    store.insert("/a/{}/b/{}/c", f"{a['id']}/1", {"y": 1})
    assert store.get("/a", "", a["id"]) == {"name": "one", "id": 1}
    assert store.delete("/a", "", a["id"]) is True
    assert store.documents("/a/{}/b", "1") == [] and store.documents("/a/{}/b/{}/c", "1/1") == []
    assert store.delete("/a", "", a["id"]) is False
    calls = []
    store.fill_once("/z", "", lambda: calls.append(1) or [{"id": store.next_id("/z")}])
    store.fill_once("/z", "", lambda: calls.append(1) or [{"id": store.next_id("/z")}])
    assert calls == [1] and len(store.documents("/z")) == 1


# --- faults -------------------------------------------------------------------------------------


def test_fault_spec_parsing():
    (f,) = parse_faults("429;retry-after=1")
    assert (f.kind, f.status, f.retry_after) == ("status", 429, 1.0)
    assert parse_faults("latency=200ms")[0].latency_s == pytest.approx(0.2)
    assert parse_faults("latency=1.5s")[0].latency_s == pytest.approx(1.5)
    assert [f.kind for f in parse_faults("latency=5ms, drop")] == ["latency", "drop"]
    for bad in ("", "teapot", "200", "429;wait=1", "429;retry-after=soon"):
        with pytest.raises(FaultSpecError, match="use one of"):
            parse_faults(bad)


def test_fault_plan_counts_down():
    plan = FaultPlan()
    plan.add("503", count=2)
    assert [len(plan.take()) for _ in range(3)] == [1, 1, 0]
    plan.add("500")
    assert all(plan.take() for _ in range(5))
    plan.clear()
    assert plan.take() == []


def test_fault_header_status_latency_and_malformed(reader):
    r = reader.get(api("/company/companies"), headers={**H, "X-Sandbox-Fault": "429;retry-after=1"})
    assert r.status_code == 429 and r.headers["retry-after"] == "1"
    assert r.json()["code"] == "TooManyRequests"
    r = reader.get(api("/company/companies"), headers={**H, "X-Sandbox-Fault": "503"})
    assert r.status_code == 503 and r.json()["code"] == "ServiceUnavailable"
    r = reader.get(api("/company/companies"), headers={**H, "X-Sandbox-Fault": "latency=5ms"})
    assert r.status_code == 200 and len(r.json()) == 25
    r = reader.get(api("/company/companies"), headers={**H, "X-Sandbox-Fault": "malformed-json"})
    assert r.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.text)
    r = reader.get(api("/company/companies"), headers={**H, "X-Sandbox-Fault": "bogus"})
    assert r.status_code == 400 and "use one of" in r.json()["message"]
    with pytest.raises(httpx.RemoteProtocolError):
        reader.get(api("/company/companies"), headers={**H, "X-Sandbox-Fault": "drop"})


def test_faults_from_settings_apply_to_next_n_requests():
    settings = SandboxSettings(faults="500", fault_count=2)
    with start_sandbox_thread(settings=settings) as handle, _http(handle) as c:
        codes = [c.get(api("/company/companies/2"), headers=H).status_code for _ in range(3)]
    assert codes == [500, 500, 200]


def test_admin_fault_endpoint(client):
    r = client.post("/__sandbox/faults", json={"fault": "503;retry-after=2", "count": 1})
    assert r.status_code == 200 and r.json()["faults"][0]["remaining"] == 1
    r = client.get(api("/company/companies/2"), headers=H)
    assert r.status_code == 503 and r.headers["retry-after"] == "2"
    assert client.get(api("/company/companies/2"), headers=H).status_code == 200
    assert client.post("/__sandbox/faults", json={"fault": "nope"}).status_code == 400
    client.post("/__sandbox/faults", json={"fault": "500"})
    assert client.delete("/__sandbox/faults").status_code == 204
    assert client.get(api("/company/companies/2"), headers=H).status_code == 200


# --- request log --------------------------------------------------------------------------------


def test_request_log_records_every_call_with_status(client, app):
    client.get(api("/company/companies"), params={"pageSize": 2})
    client.get(api("/company/companies/2"), headers=H)
    log = app.sandbox.requests
    assert [(e["method"], e["path"], e["status"]) for e in log] == [
        ("GET", api("/company/companies"), 401),
        ("GET", api("/company/companies/2"), 200),
    ]
    assert log[0]["query"] == "pageSize=2"
    assert log[1]["operation_id"] == "getCompanyCompaniesById"
    served = client.get("/__sandbox/requests").json()["requests"]
    assert [e["status"] for e in served] == [401, 200]
    assert client.delete("/__sandbox/requests").status_code == 204
    assert app.sandbox.requests == []


def test_admin_endpoints_are_loopback_only():
    # In-process: the only way to call from a non-loopback address in a test.
    remote = TestClient(create_app(), client=("203.0.113.9", 5000))
    assert remote.get("/__sandbox/requests").status_code == 403
    assert remote.post("/__sandbox/faults", json={"fault": "500"}).status_code == 403


# --- over real HTTP -----------------------------------------------------------------------------


def test_thread_runner_over_loopback_http():
    with start_sandbox_thread() as handle:
        assert handle.base_url.startswith("http://127.0.0.1:")
        assert handle.base_url.endswith("/v4_6_release/apis/3.0")
        env = handle.credentials
        assert env["CONNECTWISE_API_URL"] == handle.base_url
        assert env["CONNECTWISE_COMPANY_ID"] == "sandbox"
        assert {
            "CONNECTWISE_PUBLIC_KEY",
            "CONNECTWISE_PRIVATE_KEY",
            "CONNECTWISE_CLIENT_ID",
        } <= set(env)
        assert "sandbox-private" not in repr(handle)
        with httpx.Client(base_url=handle.base_url, headers=handle.headers()) as http:
            assert http.get("/company/companies/2").json()["identifier"] == "AcmeMfg"
            with pytest.raises(httpx.RemoteProtocolError):
                http.get("/company/companies", headers={"X-Sandbox-Fault": "drop"})
            assert http.get("/company/companies/2").status_code == 200
        info = httpx.get(handle.site_url + "/login/companyinfo/sandbox").json()
        assert info["SiteUrl"] == handle.site_url.removeprefix("http://")
        assert [e["status"] for e in handle.requests] == [200, 0, 200, 200]
