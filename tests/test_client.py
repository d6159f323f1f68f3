"""Client and transport against a real HTTP server on loopback (tests/loopback.py)."""

from __future__ import annotations

import base64
import logging
import socket
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from cwm_gateway.client import ApiResponse, AsyncClient, Client, lenient_model
from cwm_gateway.config import Settings
from cwm_gateway.errors import (
    ApiConnectionError,
    ApiError,
    ApiTimeoutError,
    AuthenticationError,
    BadRequestError,
    ConfigError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
)
from cwm_gateway.transport import RetryPolicy, parse_retry_after, retry_delay
from tests.loopback import LoopbackServer, Reply

pytest.importorskip("cwm_generated.registry")
from cwm_generated.models import load_model  # noqa: E402
from cwm_generated.operations import service  # noqa: E402

SECRET = "s3cr3t-Private-Key"
BASE = "/v4_6_release/apis/3.0"
TICKETS = f"{BASE}/service/tickets"


@pytest.fixture(scope="module")
def server():
    with LoopbackServer() as srv:
        yield srv


@pytest.fixture
def srv(server):
    server.reset()
    return server


def make_settings(srv: LoopbackServer, **changes) -> Settings:
    values = {
        "company_id": "acme",
        "public_key": "PubKey123",
        "private_key": SECRET,
        "client_id": "integration-guid",
        "api_url": srv.url + BASE,
        "backoff_base": 0.001,
        "backoff_max": 0.002,
        "read_timeout": 5.0,
        "max_attempts": 3,
    }
    values.update(changes)
    return Settings(**values)


class Sleeps(list):
    """Records requested waits instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def client(srv):
    records = []
    with Client(make_settings(srv), on_attempt=records.append) as c:
        c.records = records  # type: ignore[attr-defined]
        yield c


# -- headers and request shape ----------------------------------------------------------------


def test_auth_headers_are_exactly_what_connectwise_expects(srv, client):
    srv.script("GET", TICKETS, Reply(json=[]))
    client.send(service.get_service_tickets())
    (request,) = srv.requests
    token = base64.b64encode(f"acme+PubKey123:{SECRET}".encode()).decode()
    assert request.headers["authorization"] == f"Basic {token}"
    assert request.headers["clientid"] == "integration-guid"
    assert request.headers["accept"] == "application/vnd.connectwise.com+json; version=2025.1"


def test_typed_sugar_sends_the_generated_request(srv, client):
    srv.script("GET", TICKETS, Reply(json=[{"id": 7, "summary": "Printer", "company": {"id": 1}}]))
    tickets = client.service.get_service_tickets(conditions='status/name="Open"', page_size=5)
    assert srv.requests[0].params == {"conditions": 'status/name="Open"', "pageSize": "5"}
    # The sugar returns the parsed answer itself; send() gives the whole response.
    (ticket,) = tickets
    assert ticket.id == 7 and ticket.company.id == 1
    assert type(ticket) is load_model("Ticket")
    assert client.service.tickets.list(page_size=5)[0].id == 7
    response = client.send(service.get_service_tickets(page_size=5))
    assert isinstance(response, ApiResponse) and response.status == 200


def test_unknown_sugar_names_suggest_the_right_one(client):
    with pytest.raises(AttributeError, match="service"):
        client.servise  # noqa: B018
    with pytest.raises(AttributeError, match="get_service_tickets"):
        client.service.get_service_tickit  # noqa: B018


def test_post_sends_json_body(srv, client):
    srv.script("POST", TICKETS, Reply(201, json={"id": 99, "summary": "New"}))
    spec = service.post_service_tickets(body={"summary": "New", "company": {"id": 1}})
    response = client.send(spec)
    assert srv.requests[0].json() == {"summary": "New", "company": {"id": 1}}
    assert srv.requests[0].headers["content-type"] == "application/json"
    assert response.status == 201 and response.data.id == 99


def test_call_validates_through_the_registry(srv, client):
    pytest.importorskip("cwm_gateway.validation")
    srv.script("GET", f"{TICKETS}/12", Reply(json={"id": 12, "summary": "x", "company": {"id": 1}}))
    response = client.call("GET", "/service/tickets/12")
    assert response.data.id == 12
    assert response.operation.operation_id == "getServiceTicketsById"


# -- lenient parsing ----------------------------------------------------------------------------


def test_partial_fields_projection_parses_without_failing(srv, client):
    # fields=id,summary leaves out the "required" company.
    srv.script("GET", TICKETS, Reply(json=[{"id": 1, "summary": "a"}, {"id": 2}]))
    first, second = client.service.get_service_tickets(fields="id,summary")
    assert (first.id, first.summary, first.company) == (1, "a", None)
    assert (second.id, second.summary) == (2, None)


def test_invalid_values_stay_raw_and_raw_json_keeps_everything():
    ticket_cls = load_model("Ticket")
    data = {
        "id": 3,
        "summary": "x" * 300,  # over max_length
        "company": {"id": 1, "name": "Acme", "brandNewField": True},
        "board": {"id": 4, "name": "Help"},
        "notInTheSpec": 1,
    }
    ticket = lenient_model(ticket_cls, data)
    assert isinstance(ticket, ticket_cls)
    assert ticket.summary == "x" * 300
    assert ticket.board.name == "Help"  # valid nested objects are models
    assert ticket.company.name == "Acme"  # invalid nested objects are parsed leniently too
    assert "notInTheSpec" not in ticket.model_fields_set
    assert lenient_model(ticket_cls, [1]) == [1]


def test_non_json_body_is_available_raw(srv, client):
    srv.script("GET", f"{TICKETS}/5", Reply(body=b"\x89PNG", headers={"content-type": "image/png"}))
    response = client.send(service.get_service_tickets_by_id(id_=5))
    assert response.json is None and response.content == b"\x89PNG"


# -- retries ------------------------------------------------------------------------------------


def test_get_on_503_is_retried_then_succeeds(srv, client):
    srv.script("GET", TICKETS, Reply(503), Reply(json=[{"id": 1}]))
    response = client.send(service.get_service_tickets())
    assert response.json == [{"id": 1}]
    assert len(srv.requests) == 2
    assert [(r.attempt, r.status) for r in client.records] == [(1, 503), (2, 200)]
    assert client.records[0].retry_in is not None and client.records[1].retry_in is None


def test_get_retries_are_capped(srv, client):
    srv.script("GET", TICKETS, Reply(502))
    with pytest.raises(ServerError) as info:
        client.send(service.get_service_tickets())
    assert len(srv.requests) == 3  # max_attempts
    assert info.value.attempts == 3
    assert "after 3 attempts" in str(info.value)


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_writes_are_never_retried(srv, client, method):
    path = f"{TICKETS}/4"
    srv.script(method, TICKETS if method == "POST" else path, Reply(503))
    spec = {
        "POST": lambda: service.post_service_tickets(body={"summary": "s", "company": {"id": 1}}),
        "PUT": lambda: service.put_service_tickets_by_id(
            id_=4, body={"summary": "s", "company": {"id": 1}}
        ),
        "PATCH": lambda: service.patch_service_tickets_by_id(
            id_=4, body=[{"op": "replace", "path": "summary", "value": "t"}]
        ),
        "DELETE": lambda: service.delete_service_tickets_by_id(id_=4),
    }[method]()
    with pytest.raises(ServerError):
        client.send(spec)
    assert len(srv.requests) == 1


def test_429_retry_after_seconds_is_honoured(srv):
    sleeps = Sleeps()
    srv.script("GET", TICKETS, Reply(429, headers={"Retry-After": "2"}), Reply(json=[]))
    with Client(make_settings(srv), sleep=sleeps) as c:
        assert c.send(service.get_service_tickets()).json == []
    assert sleeps == [2.0]
    assert len(srv.requests) == 2


def test_429_retry_after_http_date_is_honoured(srv):
    sleeps = Sleeps()
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    srv.script("GET", TICKETS, Reply(429, headers={"Retry-After": when}), Reply(json=[]))
    with Client(make_settings(srv), sleep=sleeps) as c:
        c.send(service.get_service_tickets())
    assert len(sleeps) == 1 and 25 <= sleeps[0] <= 30


def test_429_retry_after_above_the_cap_is_raised_at_once(srv):
    sleeps = Sleeps()
    srv.script(
        "GET",
        TICKETS,
        Reply(
            429, json={"code": "TooManyRequests", "message": "slow"}, headers={"Retry-After": "600"}
        ),
    )
    with Client(make_settings(srv, retry_after_max=30), sleep=sleeps) as c:
        with pytest.raises(RateLimitedError) as info:
            c.send(service.get_service_tickets())
    assert sleeps == [] and len(srv.requests) == 1
    assert info.value.retry_after == 600
    assert "Retry after: 600 s" in str(info.value)


def test_429_without_retry_after_uses_backoff_and_gives_up(srv):
    sleeps = Sleeps()
    srv.script("GET", TICKETS, Reply(429))
    with Client(make_settings(srv, backoff_base=1, backoff_max=1.5), sleep=sleeps) as c:
        with pytest.raises(RateLimitedError):
            c.send(service.get_service_tickets())
    assert len(sleeps) == 2
    assert 0.5 <= sleeps[0] <= 1 and 0.75 <= sleeps[1] <= 1.5  # exponential, jittered, capped


def test_retry_decisions_as_plain_functions():
    policy = RetryPolicy(max_attempts=4, backoff_base=1, backoff_max=4, retry_after_max=10)
    half = lambda: 0.0  # noqa: E731 - jitter at its minimum: half the ceiling
    assert retry_delay(policy, "GET", 1, status=503, rand=half) == 0.5
    assert retry_delay(policy, "GET", 3, status=503, rand=half) == 2.0
    assert retry_delay(policy, "GET", 4, status=503) is None
    assert retry_delay(policy, "POST", 1, status=503) is None
    assert retry_delay(policy, "GET", 1, status=500) is None
    assert retry_delay(policy, "GET", 1, status=429, retry_after=3) == 3
    assert retry_delay(policy, "GET", 1, status=429, retry_after=11) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert parse_retry_after("soon") is None


def test_connection_errors_are_retried_for_get_only(srv):
    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = make_settings(srv, api_url=f"http://127.0.0.1:{port}{BASE}")
    records = []
    with Client(settings, on_attempt=records.append) as c:
        with pytest.raises(ApiConnectionError) as info:
            c.send(service.get_service_tickets())
        assert len(records) == 3 and all(r.status is None and r.error for r in records)
        assert "127.0.0.1" in str(info.value) and "Hint:" in str(info.value)
        records.clear()
        with pytest.raises(ApiConnectionError):
            c.send(service.post_service_tickets(body={"summary": "s", "company": {"id": 1}}))
        assert len(records) == 1


def test_read_timeout_raises_and_is_not_retried(srv):
    srv.script("GET", TICKETS, Reply(json=[], delay=1.0))
    with Client(make_settings(srv, read_timeout=0.2)) as c:
        with pytest.raises(ApiTimeoutError) as info:
            c.send(service.get_service_tickets())
    assert "0.2 s" in str(info.value)
    assert isinstance(info.value, ApiConnectionError)
    assert len(srv.requests) == 1


def test_a_failing_attempt_hook_does_not_break_the_request(srv, caplog):
    def hook(record):
        raise RuntimeError("audit down")

    srv.script("GET", TICKETS, Reply(json=[]))
    with Client(make_settings(srv), on_attempt=hook) as c:
        assert c.send(service.get_service_tickets()).status == 200
    assert "on_attempt hook failed" in caplog.text


# -- error mapping ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (500, ServerError),
        (418, ApiError),
    ],
)
def test_statuses_map_to_error_classes(srv, client, status, cls):
    srv.script("GET", f"{TICKETS}/1", Reply(status, json={"code": "X", "message": "m"}))
    with pytest.raises(cls) as info:
        client.send(service.get_service_tickets_by_id(id_=1))
    err = info.value
    assert type(err) is cls
    assert (err.status, err.method, err.path) == (status, "GET", "/service/tickets/1")
    assert err.operation_id == "getServiceTicketsById"
    assert "GET /service/tickets/1 (getServiceTicketsById) -> HTTP" in str(err)


def test_bad_request_details_are_parsed(srv, client):
    body = {
        "code": "InvalidObject",
        "message": "ticket object is invalid",
        "errors": [
            {
                "code": "NullOrEmpty",
                "message": "Summary is required",
                "resource": "ticket",
                "field": "summary",
            },
        ],
    }
    srv.script("POST", TICKETS, Reply(400, json=body, headers={"x-cw-request-id": "req-1"}))
    with pytest.raises(BadRequestError) as info:
        client.send(service.post_service_tickets(body={"summary": "s", "company": {"id": 1}}))
    err = info.value
    assert err.code == "InvalidObject" and err.api_message == "ticket object is invalid"
    assert err.errors[0].field == "summary" and err.errors[0].resource == "ticket"
    text = str(err)
    assert "[InvalidObject] ticket object is invalid" in text
    assert "ticket.summary: Summary is required" in text
    assert "x-cw-request-id: req-1" in text
    assert err.to_dict()["errors"][0]["code"] == "NullOrEmpty"


def test_html_error_pages_are_not_quoted(srv, client):
    srv.script("GET", TICKETS, Reply(500, body="<html><body>IIS error</body></html>"))
    with pytest.raises(ServerError) as info:
        client.send(service.get_service_tickets())
    assert "<html>" not in str(info.value)


# -- secrets ------------------------------------------------------------------------------------


def test_secrets_never_appear_in_reprs_errors_records_or_logs(srv, caplog):
    caplog.set_level(logging.DEBUG)
    records = []
    srv.script("GET", TICKETS, Reply(401, json={"code": "Unauthorized", "message": "bad"}))
    settings = make_settings(srv)
    auth = settings.authorization_header()
    with Client(settings, on_attempt=records.append) as c:
        with pytest.raises(AuthenticationError) as info:
            c.send(service.get_service_tickets())
        texts = [repr(c), str(c), repr(c._transport), str(info.value), repr(info.value)]
        texts += [repr(r) for r in records] + [str(info.value.to_dict()), caplog.text]
    for text in texts:
        assert SECRET not in text
        assert auth not in text and auth.split()[1] not in text
    assert "CONNECTWISE_PRIVATE_KEY" in str(info.value)  # actionable: says what to check


# -- discovery ----------------------------------------------------------------------------------


def discovery_settings(srv, **changes) -> Settings:
    return make_settings(srv, api_url=None, site=srv.url, **changes)


def test_site_discovers_the_codebase(srv):
    srv.script(
        "GET",
        "/login/companyinfo/acme",
        Reply(
            json={
                "Codebase": "v2025_1/",
                "VersionCode": "v2025.1",
                "SiteUrl": "na.myconnectwise.net",
            }
        ),
    )
    srv.script("GET", "/v2025_1/apis/3.0/service/tickets", Reply(json=[{"id": 1}]))
    with Client(discovery_settings(srv)) as c:
        assert c.base_url is None
        assert c.send(service.get_service_tickets()).json == [{"id": 1}]
        assert c.base_url == f"{srv.url}/v2025_1/apis/3.0"
        c.send(service.get_service_tickets())
    assert len(srv.requests_to("/login/companyinfo/acme")) == 1  # discovered once
    info_request = srv.requests[0]
    assert "authorization" not in info_request.headers  # public endpoint: no credentials


def test_unknown_company_is_a_config_error(srv):
    srv.script("GET", "/login/companyinfo/acme", Reply(404))
    with Client(discovery_settings(srv)) as c:
        with pytest.raises(ConfigError, match="CONNECTWISE_COMPANY_ID"):
            c.send(service.get_service_tickets())
    srv.script("GET", "/login/companyinfo/acme", Reply(json=None))
    with Client(discovery_settings(srv)) as c:
        with pytest.raises(ConfigError, match="no Codebase"):
            c.send(service.get_service_tickets())


def test_a_404_rediscovers_once_and_follows_a_moved_codebase(srv):
    srv.script(
        "GET",
        "/login/companyinfo/acme",
        Reply(json={"Codebase": "v2024_1/"}),
        Reply(json={"Codebase": "v2025_1/"}),
    )
    srv.script("GET", "/v2024_1/apis/3.0/service/tickets", Reply(404))
    srv.script("GET", "/v2025_1/apis/3.0/service/tickets", Reply(json=[]))
    with Client(discovery_settings(srv), rediscover_interval=0) as c:
        assert c.send(service.get_service_tickets()).json == []
        assert c.base_url.endswith("/v2025_1/apis/3.0")
    assert [r.path for r in srv.requests] == [
        "/login/companyinfo/acme",
        "/v2024_1/apis/3.0/service/tickets",
        "/login/companyinfo/acme",
        "/v2025_1/apis/3.0/service/tickets",
    ]


def test_a_real_404_after_rediscovery_is_not_found(srv):
    srv.script("GET", "/login/companyinfo/acme", Reply(json={"Codebase": "v2025_1/"}))
    srv.script(
        "GET",
        "/v2025_1/apis/3.0/service/tickets/5",
        Reply(404, json={"code": "NotFound", "message": "Ticket 5 not found"}),
    )
    with Client(discovery_settings(srv), rediscover_interval=0) as c:
        with pytest.raises(NotFoundError, match="Ticket 5 not found"):
            c.send(service.get_service_tickets_by_id(id_=5))
    assert len(srv.requests_to("/login/companyinfo/acme")) == 2
    assert len(srv.requests_to("/v2025_1/apis/3.0/service/tickets/5")) == 1


# -- async --------------------------------------------------------------------------------------


async def test_async_client_shares_headers_retries_and_parsing(srv):
    records = []
    sleeps = []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    srv.script("GET", TICKETS, Reply(503), Reply(json=[{"id": 1, "summary": "a"}]))
    async with AsyncClient(make_settings(srv), on_attempt=records.append, sleep=fake_sleep) as c:
        response = await c.send(service.get_service_tickets())
        assert response.data[0].summary == "a"
        srv.script("POST", TICKETS, Reply(503))
        with pytest.raises(ServerError):
            await c.send(service.post_service_tickets(body={"summary": "s", "company": {"id": 1}}))
    assert [r.status for r in records] == [503, 200, 503]
    assert len(sleeps) == 1
    token = base64.b64encode(f"acme+PubKey123:{SECRET}".encode()).decode()
    assert srv.requests[0].headers["authorization"] == f"Basic {token}"


async def test_async_discovery(srv):
    srv.script("GET", "/login/companyinfo/acme", Reply(json={"Codebase": "v4_6_release/"}))
    srv.script("GET", TICKETS, Reply(json=[]))
    async with AsyncClient(discovery_settings(srv)) as c:
        assert (await c.send(service.get_service_tickets())).json == []
        assert c.base_url == srv.url + BASE


async def test_async_timeout(srv):
    srv.script("GET", TICKETS, Reply(json=[], delay=1.0))
    async with AsyncClient(make_settings(srv, read_timeout=0.2)) as c:
        with pytest.raises(ApiTimeoutError):
            await c.send(service.get_service_tickets())


def test_multipart_upload_sends_form_fields_and_file(srv, client):
    from cwm_generated.operations import system

    srv.script("POST", f"{BASE}/system/documents", Reply(json={"id": 5, "title": "note"}))
    spec = system.post_system_documents(
        body={"recordType": "Ticket", "recordId": 12, "title": "note"},
        files={"file": ("note.txt", b"hello file", "text/plain")},
    )
    response = client.send(spec)
    (request,) = srv.requests
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert b'name="recordId"\r\n\r\n12' in request.body
    assert b'filename="note.txt"' in request.body and b"hello file" in request.body
    assert response.json["id"] == 5


def test_a_failed_rediscovery_still_reports_the_404(srv):
    srv.script(
        "GET",
        "/login/companyinfo/acme",
        Reply(json={"Codebase": "v2025_1/"}),
        Reply(500),
    )
    srv.script("GET", "/v2025_1/apis/3.0/service/tickets/5", Reply(404))
    with Client(discovery_settings(srv), rediscover_interval=0) as c:
        with pytest.raises(NotFoundError):
            c.send(service.get_service_tickets_by_id(id_=5))
        assert c.base_url.endswith("/v2025_1/apis/3.0")
