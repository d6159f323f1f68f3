"""The sandbox answers as ConnectWise does where agents most often go wrong: list queries on every
list (sub-collections included), references by id or name, ticket statuses that follow the
board, note flags, childConditions, documents. Over real HTTP, as a client meets it."""

from __future__ import annotations

import httpx
import pytest

from cwm_gateway.sandbox.runner import start_sandbox_thread


@pytest.fixture
def http():
    """A fresh sandbox for a test that writes."""
    with start_sandbox_thread() as handle:
        with httpx.Client(base_url=handle.base_url, headers=handle.headers()) as client:
            yield client


@pytest.fixture(scope="module")
def reader():
    """One sandbox shared by the tests that only read (or are refused)."""
    with start_sandbox_thread() as handle:
        with httpx.Client(base_url=handle.base_url, headers=handle.headers()) as client:
            yield client


def _ids(rows: list[dict]) -> list[int]:
    return [r["id"] for r in rows]


def _no_gateway_words(body: dict) -> None:
    text = str(body).lower()
    assert "did you mean" not in text and "fields of " not in text


# --- list queries on every list -------------------------------------------------------------

LISTS = [
    "/service/tickets",
    "/service/tickets/1/notes",
    "/service/tickets/1/timeentries",
    "/service/tickets/1/activities",
    "/company/companies/2/usages",
    "/company/addressFormats/info",  # a sample-backed list
]


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize(
    "params",
    [
        {"page": "AAA"},
        {"pageSize": "2147483648"},
        {"page": "0"},
        {"conditions": "nosuchfield = 1"},
        {"conditions": "id = "},
        {"orderBy": "nosuchfield desc"},
        {"fields": "nosuchfield"},
    ],
)
def test_every_list_validates_its_query(reader, path, params):
    r = reader.get(path, params=params)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["code"] in ("InvalidObject", "ApiFindCondition") and body["message"]
    _no_gateway_words(body)


@pytest.mark.parametrize("path", ["/service/tickets/count", "/service/tickets/1/timeentries/count"])
def test_count_validates_too(reader, path):
    assert reader.get(path, params={"page": "AAA"}).status_code == 400
    r = reader.get(path, params={"conditions": 'summery = "x"'})
    assert r.status_code == 400
    assert reader.get(path).status_code == 200


def test_unknown_condition_field_gets_connectwise_words(reader):
    r = reader.get("/service/tickets", params={"conditions": 'statuss/name = "New"'})
    assert r.json() == {
        "code": "ApiFindCondition",
        "message": "statuss/name is not a recognized name.",
    }


def test_page_size_above_1000_is_capped_not_refused(reader):
    r = reader.get("/time/entries", params={"pageSize": 5000})
    assert r.status_code == 200 and len(r.json()) == 150


# --- sub-collections hold the parent's real rows --------------------------------------------


def test_ticket_time_entries_are_the_entries_charged_to_it(http):
    charged = http.get(
        "/time/entries",
        params={
            "conditions": 'chargeToId = 1 and chargeToType = "ServiceTicket"',
            "pageSize": 1000,
        },
    ).json()
    assert charged
    rows = http.get("/service/tickets/1/timeentries").json()
    assert _ids(rows) == _ids(charged)
    assert rows[0]["_info"]["timeEntry_href"].endswith(f"/time/entries/{rows[0]['id']}")
    new = http.post(
        "/time/entries",
        json={
            "chargeToId": 1,
            "chargeToType": "ServiceTicket",
            "member": {"identifier": "akhan"},
            "timeStart": "2025-01-06T09:00:00Z",
            "timeEnd": "2025-01-06T10:00:00Z",
        },
    )
    assert new.status_code == 201, new.text
    assert new.json()["id"] in _ids(http.get("/service/tickets/1/timeentries").json())
    count = http.get("/service/tickets/1/timeentries/count").json()["count"]
    assert count == len(charged) + 1
    assert http.get("/service/tickets/2/timeentries").json() != rows
    assert http.get("/service/tickets/424242/timeentries").status_code == 404


def test_ticket_activities_all_notes_and_paging(reader):
    activities = reader.get("/sales/activities", params={"pageSize": 1000}).json()
    on_ticket = {a["ticket"]["id"] for a in activities}
    ticket = min(on_ticket)
    rows = reader.get(f"/service/tickets/{ticket}/activities").json()
    assert _ids(rows) == [a["id"] for a in activities if a["ticket"]["id"] == ticket]
    assert all(set(r) <= {"id", "name", "_info"} for r in rows)

    notes = reader.get(f"/service/tickets/{ticket}/notes").json()
    all_notes = reader.get(f"/service/tickets/{ticket}/allNotes").json()
    texts = [n["text"] for n in all_notes if n["noteType"] == "TicketNote"]
    assert texts == [n["text"] for n in notes]
    only = reader.get(
        f"/service/tickets/{ticket}/allNotes", params={"conditions": 'noteType = "TicketNote"'}
    ).json()
    assert len(only) == len(notes)
    first = reader.get(f"/service/tickets/{ticket}/allNotes", params={"pageSize": 1}).json()
    assert len(first) == 1


def test_usages_count_the_records_that_refer_to_a_company(reader):
    usages = {u["typeKey"]: u for u in reader.get("/company/companies/2/usages").json()}
    tickets = reader.get("/service/tickets/count", params={"conditions": "company/id = 2"}).json()
    assert usages["Ticket"]["count"] == tickets["count"] > 0
    listed = reader.get(
        "/company/companies/2/usages/list", params={"conditions": 'typeKey = "Ticket"'}
    ).json()
    assert len(listed) == tickets["count"]
    assert reader.get("/company/companies/424242/usages").status_code == 404


# --- references -----------------------------------------------------------------------------


def test_references_by_name_or_identifier_come_back_with_id_and_name(http):
    r = http.post(
        "/service/tickets",
        json={
            "summary": "Scanner offline",
            "company": {"identifier": "acmemfg"},
            "board": {"name": "Managed Services Alerts"},
            "status": {"name": "in progress"},
            "priority": {"name": "Priority 1 - Emergency Response"},
            "owner": {"identifier": "akhan"},
        },
    )
    assert r.status_code == 201, r.text
    t = r.json()
    assert (t["company"]["id"], t["company"]["identifier"]) == (2, "AcmeMfg")
    assert (t["board"]["id"], t["board"]["name"]) == (2, "Managed Services Alerts")
    board_statuses = http.get("/service/boards/2/statuses").json()
    in_progress = next(s for s in board_statuses if s["name"] == "In Progress")
    assert t["status"] == {**t["status"], "id": in_progress["id"], "name": "In Progress"}
    assert t["priority"]["id"] == 1 and t["owner"]["name"] == "Aisha Khan"
    assert t["closedFlag"] is False


@pytest.mark.parametrize(
    ("field", "value", "error_field", "message"),
    [
        ("company", {"identifier": "NoSuchCo"}, "company/identifier", "Company NoSuchCo not found"),
        ("company", {"id": 9999}, "company/id", "Company 9999 not found"),
        ("owner", {"identifier": "nobody"}, "owner/identifier", "Member nobody not found"),
        ("priority", {"name": "Urgent"}, "priority/name", "Priority Urgent not found"),
        ("board", {"name": "No Board"}, "board/name", "Service Board No Board not found"),
    ],
)
def test_unknown_references_are_connectwise_400s(reader, field, value, error_field, message):
    body = {"summary": "x", "company": {"id": 2}, field: value}
    r = reader.post("/service/tickets", json=body)
    assert r.status_code == 400
    data = r.json()
    assert (data["code"], data["message"]) == ("InvalidObject", "ticket object is invalid")
    (err,) = data["errors"]
    assert err == {
        "code": "NotFound",
        "message": message,
        "resource": "ticket",
        "field": error_field,
    }


def test_a_member_reads_by_identifier(reader):
    by_id = reader.get("/system/members/2").json()
    assert reader.get("/system/members/akhan").json() == by_id
    assert reader.get("/system/members/AKHAN").json()["id"] == 2
    r = reader.get("/system/members/nobody")
    assert r.status_code == 404 and r.json()["code"] == "NotFound"


# --- ticket statuses follow the board -------------------------------------------------------


def _board_status(http, board_id: int, name: str) -> dict:
    return next(
        s for s in http.get(f"/service/boards/{board_id}/statuses").json() if s["name"] == name
    )


def test_closing_by_name_uses_the_boards_closed_status(http):
    ticket = http.get(
        "/service/tickets", params={"conditions": "closedFlag = false and board/id = 1"}
    ).json()[0]
    closed = _board_status(http, 1, "Closed")
    assert closed["closedStatus"] is True
    r = http.patch(
        f"/service/tickets/{ticket['id']}",
        json=[{"op": "replace", "path": "status", "value": {"name": "Closed"}}],
    )
    assert r.status_code == 200, r.text
    t = http.get(f"/service/tickets/{ticket['id']}").json()
    assert t["status"]["id"] == closed["id"] and t["status"]["name"] == "Closed"
    assert t["closedFlag"] is True and t["closedDate"] and t["closedBy"]
    # status/name works too, and a non-closed status reopens the ticket.
    r = http.patch(
        f"/service/tickets/{ticket['id']}",
        json=[{"op": "replace", "path": "status/name", "value": "In Progress"}],
    )
    t = r.json()
    assert t["closedFlag"] is False and "closedDate" not in t
    assert t["status"]["id"] == _board_status(http, 1, "In Progress")["id"]


def test_a_status_of_another_board_is_refused(http):
    ticket = http.get("/service/tickets", params={"conditions": "board/id = 1"}).json()[0]
    foreign = _board_status(http, 2, "New")
    r = http.patch(
        f"/service/tickets/{ticket['id']}",
        json=[{"op": "replace", "path": "status/id", "value": foreign["id"]}],
    )
    assert r.status_code == 400
    (err,) = r.json()["errors"]
    assert err["message"] == f"Service Status {foreign['id']} not found for Service Board 1"
    assert err["field"] == "status/id"
    r = http.patch(
        f"/service/tickets/{ticket['id']}",
        json=[{"op": "replace", "path": "status", "value": {"name": "Done"}}],
    )
    assert r.json()["errors"][0]["message"] == "Service Status Done not found for Service Board 1"
    assert http.get(f"/service/tickets/{ticket['id']}").json() == ticket  # nothing written


def test_moving_a_ticket_to_another_board_takes_its_default_status(http):
    ticket = http.get("/service/tickets", params={"conditions": "board/id = 1"}).json()[0]
    r = http.patch(
        f"/service/tickets/{ticket['id']}",
        json=[{"op": "replace", "path": "board", "value": {"id": 2}}],
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"]["id"] == _board_status(http, 2, "New")["id"]


# --- notes, childConditions -----------------------------------------------------------------


def test_a_note_must_say_where_it_shows(http):
    r = http.post("/service/tickets/1/notes", json={"text": "Called the client"})
    assert r.status_code == 400
    body = r.json()
    assert body["message"] == "serviceNote object is invalid"
    assert body["errors"][0]["message"] == (
        "Please choose where to display the notes in order to save this record."
    )
    r = http.post(
        "/service/tickets/1/notes", json={"text": "Called the client", "resolutionFlag": True}
    )
    assert r.status_code == 201


def test_child_collection_fields_need_child_conditions(reader):
    contact = reader.get("/company/contacts/1").json()
    email = contact["communicationItems"][0]["value"]
    r = reader.get(
        "/company/contacts", params={"conditions": f'communicationItems/value = "{email}"'}
    )
    assert r.status_code == 400
    assert r.json()["message"] == "communicationItems/value is not a recognized name."
    r = reader.get(
        "/company/contacts", params={"childConditions": f'communicationItems/value = "{email}"'}
    )
    assert r.status_code == 200 and 1 in _ids(r.json())
    assert all(c["communicationItems"][0]["value"] == email for c in r.json())
    # A plain field is not a child condition.
    assert (
        reader.get("/company/contacts", params={"childConditions": 'firstName = "x"'}).status_code
        == 400
    )


# --- documents ------------------------------------------------------------------------------


def test_document_upload_round_trips_byte_for_byte(http):
    data = bytes(range(256)) * 40 + b"\r\n--boundary-lookalike--\r\n"
    r = http.post(
        "/system/documents",
        files={"file": ("scan.bin", data, "application/octet-stream")},
        data={"recordType": "Ticket", "recordId": "7", "title": "Scan", "privateFlag": "true"},
    )
    assert r.status_code == 201, r.text
    doc = r.json()
    assert (doc["title"], doc["fileName"], doc["size"]) == ("Scan", "scan.bin", len(data))
    assert doc["publicFlag"] is False
    down = http.get(f"/system/documents/{doc['id']}/download")
    assert down.status_code == 200 and down.content == data
    assert down.headers["content-type"] == "application/octet-stream"
    assert 'filename="scan.bin"' in down.headers["content-disposition"]
    on_ticket = http.get("/service/tickets/7/documents").json()
    assert doc["id"] in _ids(on_ticket)
    listed = http.get("/system/documents", params={"recordType": "Ticket", "recordId": 7}).json()
    assert _ids(listed) == _ids(on_ticket)
    assert http.delete(f"/system/documents/{doc['id']}").status_code == 204
    assert http.get(f"/system/documents/{doc['id']}/download").status_code == 404
    assert doc["id"] not in _ids(http.get("/service/tickets/7/documents").json())


def test_seeded_documents_download(reader):
    rows = reader.get("/service/tickets/2/documents").json()
    (doc,) = rows
    down = reader.get(f"/system/documents/{doc['id']}/download")
    assert down.headers["content-type"] == "image/png"
    assert down.content.startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        (
            {
                "files": {"file": ("a.txt", b"x")},
                "data": {"recordType": "Ticket", "recordId": "424242"},
            },
            400,
        ),
        (
            {
                "files": {"file": ("a.txt", b"x")},
                "data": {"recordType": "Spaceship", "recordId": "1"},
            },
            400,
        ),
        ({"data": {"recordType": "Ticket", "recordId": "1"}, "files": {"other": ("a", b"x")}}, 400),
        ({"json": {"recordType": "Ticket", "recordId": 1}}, 415),
    ],
)
def test_bad_uploads_are_refused(reader, kwargs, status):
    r = reader.post("/system/documents", **kwargs)
    assert r.status_code == status, r.text
    assert r.json()["code"]
