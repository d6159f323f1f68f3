"""Files over MCP: uploads to multipart operations (base64 in ``data``) and downloads returned as
embedded resources, through the SDK client against a loopback ConnectWise that records the
exact bytes it receives."""

from __future__ import annotations

import base64
import email.parser
import email.policy
import hashlib
import json
import os
from pathlib import Path

import pytest
from mcp import Client
from mcp_types import ElicitResult, EmbeddedResource

from cwm_gateway.config import Settings
from cwm_gateway.core import Gateway, GatewayOptions
from cwm_gateway.errors import RequestValidationError
from cwm_gateway.files import prepare_upload
from cwm_gateway.sandbox.runner import start_sandbox_thread
from cwm_gateway.server import build_server
from cwm_gateway.validation import canonical_request
from tests.loopback import LoopbackServer, Reply

API = "/v4_6_release/apis/3.0"
#: Every byte value, a NUL and a CR LF inside: whatever is sent must arrive unchanged.
PAYLOAD = bytes(range(256)) + b"\r\n--boundary-like\r\n\x00" + os.urandom(2048)


@pytest.fixture
def upstream():
    with LoopbackServer() as server:
        yield server


def _gateway(tmp_path: Path, server: LoopbackServer) -> Gateway:
    settings = Settings.from_env(
        {
            "CONNECTWISE_API_URL": server.url + API,
            "CONNECTWISE_COMPANY_ID": "acme",
            "CONNECTWISE_PUBLIC_KEY": "pub",
            "CONNECTWISE_PRIVATE_KEY": "priv",
            "CONNECTWISE_CLIENT_ID": "client",
        }
    )
    return Gateway.from_options(GatewayOptions(data_dir=tmp_path), settings=settings)


def _parts(request) -> dict[str, tuple[str | None, str, bytes]]:
    """name → (filename, content type, bytes) of a multipart/form-data request."""
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request.body)
    out = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        out[name] = (part.get_filename(), part.get_content_type(), part.get_payload(decode=True))
    return out


def _text(result) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


def _upload(**file) -> dict:
    return {
        "path": "/system/documents",
        "method": "POST",
        "data": {
            "recordType": "Company",
            "recordId": 2,
            "title": "Event log",
            "file": {
                "content_base64": base64.b64encode(PAYLOAD).decode(),
                "filename": "events.bin",
                "media_type": "application/octet-stream",
                **file,
            },
        },
    }


async def test_an_upload_reaches_connectwise_as_multipart_byte_for_byte(tmp_path, upstream):
    upstream.script("POST", f"{API}/system/documents", Reply(200, json={"id": 7, "title": "x"}))
    async with Client(build_server(_gateway(tmp_path, upstream))) as client:
        result = await client.call_tool("execute_api_call", _upload())
    assert not result.is_error, _text(result)
    (sent,) = upstream.requests_to(f"{API}/system/documents", "POST")
    assert sent.headers["content-type"].startswith("multipart/form-data; boundary=")
    parts = _parts(sent)
    assert parts["file"] == ("events.bin", "application/octet-stream", PAYLOAD)
    assert parts["recordType"][2] == b"Company" and parts["recordId"][2] == b"2"
    assert parts["title"][2] == b"Event log"
    assert set(parts) == {"file", "recordType", "recordId", "title"}


async def test_the_policy_and_the_person_see_the_file_described_not_its_base64(tmp_path, upstream):
    upstream.script("POST", f"{API}/system/documents", Reply(200, json={"id": 8}))
    asked: list[str] = []

    async def decline(context, params):
        asked.append(params.message)
        return ElicitResult(action="decline")

    args = _upload()
    args["data"]["recordType"] = "Ticket"  # listed with the ticket on the portal
    async with Client(
        build_server(_gateway(tmp_path, upstream)), elicitation_callback=decline
    ) as c:
        result = await c.call_tool("execute_api_call", args)
    assert result.is_error
    assert asked and hashlib.sha256(PAYLOAD).hexdigest() in asked[0]
    assert "events.bin" in asked[0] and args["data"]["file"]["content_base64"][:40] not in asked[0]
    assert upstream.requests_to(f"{API}/system/documents") == []


@pytest.mark.parametrize(
    ("file", "message"),
    [
        ({"content_base64": "not base64!!"}, "is not valid base64"),
        ({"content_base64": base64.b64encode(b"x" * 5000).decode()}, "capped at 4,000 bytes"),
        ({"media_type": "pdf"}, "is not a media type"),
        ({"bytes": 3}, "unknown keys ['bytes']"),
    ],
)
async def test_bad_uploads_are_refused_before_sending(
    tmp_path, upstream, monkeypatch, file, message
):
    monkeypatch.setenv("CWM_GATEWAY_MAX_UPLOAD_BYTES", "4000")
    args = _upload(**file)
    if "content_base64" not in file:
        args["data"]["file"]["content_base64"] = base64.b64encode(b"small").decode()
    async with Client(build_server(_gateway(tmp_path, upstream))) as client:
        result = await client.call_tool("execute_api_call", args)
        raw = await client.call_tool(
            "send_raw_api_request",
            {"raw_request": "POST /system/documents " + json.dumps(args["data"])},
        )
    assert result.is_error and message in _text(result), _text(result)
    assert raw.is_error and message in _text(raw)
    assert upstream.requests == []


async def test_a_file_given_as_a_data_url_or_plain_text_field():
    request = canonical_request(
        "POST",
        "/system/documents",
        None,
        {
            "recordType": "Company",
            "recordId": 1,
            "file": {
                "content_base64": "data:image/png;base64," + base64.b64encode(b"\x89PNG").decode()
            },
        },
    )
    spec = (await prepare_upload(request)).spec
    assert spec.files == {"file": ("upload.png", b"\x89PNG", "image/png")}
    assert spec.body["file"]["bytes"] == 4
    with pytest.raises(RequestValidationError, match="must be a file object"):
        await prepare_upload(
            canonical_request(
                "POST", "/system/documents", None, {"recordType": "Company", "file": "aGk="}
            )
        )
    # A link document has no file: nothing to do.
    link = canonical_request(
        "POST", "/system/documents", None, {"recordType": "Company", "url": "https://x.example"}
    )
    assert await prepare_upload(link) is link


async def test_a_download_comes_back_as_an_embedded_resource(tmp_path, upstream, monkeypatch):
    png = b"\x89PNG\r\n\x1a\n" + os.urandom(3000)
    upstream.script(
        "GET",
        f"{API}/system/documents/5/download",
        Reply(
            200,
            body=png,
            headers={
                "content-type": "image/png",
                "content-disposition": 'attachment; filename="screen shot.png"',
            },
        ),
    )
    async with Client(build_server(_gateway(tmp_path, upstream))) as client:
        result = await client.call_tool(
            "execute_api_call", {"path": "/system/documents/5/download"}
        )
        monkeypatch.setenv("CWM_GATEWAY_MAX_DOWNLOAD_BYTES", "1000")
        too_big = await client.call_tool(
            "execute_api_call", {"path": "/system/documents/5/download"}
        )
    assert not result.is_error, _text(result)
    (resource,) = [b for b in result.content if isinstance(b, EmbeddedResource)]
    assert resource.resource.mime_type == "image/png"
    assert base64.b64decode(resource.resource.blob) == png
    described = result.structured_content["data"]["file"]
    assert described == {
        "media_type": "image/png",
        "bytes": len(png),
        "filename": "screen shot.png",
        "uri": resource.resource.uri,
    }
    assert not too_big.is_error
    assert not [b for b in too_big.content if isinstance(b, EmbeddedResource)]
    assert "larger than the 1,000 bytes" in _text(too_big)


async def test_a_file_echoing_the_gateways_credentials_is_not_returned(tmp_path, upstream):
    secret = "priv-key-0123456789"
    upstream.script(
        "GET",
        f"{API}/system/documents/6/download",
        Reply(
            200,
            body=b"log line\nkey=" + secret.encode() + b"\n",
            headers={"content-type": "text/plain"},
        ),
    )
    settings = Settings.from_env(
        {
            "CONNECTWISE_API_URL": upstream.url + API,
            "CONNECTWISE_COMPANY_ID": "acme",
            "CONNECTWISE_PUBLIC_KEY": "pub",
            "CONNECTWISE_PRIVATE_KEY": secret,
            "CONNECTWISE_CLIENT_ID": "client",
        }
    )
    gateway = Gateway.from_options(GatewayOptions(data_dir=tmp_path), settings=settings)
    async with Client(build_server(gateway)) as client:
        result = await client.call_tool(
            "execute_api_call", {"path": "/system/documents/6/download"}
        )
    assert not result.is_error
    assert not [b for b in result.content if isinstance(b, EmbeddedResource)]
    assert "contains the gateway's own credentials" in _text(result)
    assert secret not in json.dumps(result.model_dump(mode="json"))


# -- a file linked by its cwm://files/ uri, copied without passing through the model ----------


@pytest.fixture
def sandbox():
    with start_sandbox_thread() as handle:
        yield handle


async def test_an_upload_can_link_a_file_connectwise_serves(tmp_path, sandbox):
    settings = Settings.from_env(dict(sandbox.credentials))
    gateway = Gateway.from_options(GatewayOptions(data_dir=tmp_path), settings=settings)
    first = _upload()["data"]
    async with Client(build_server(gateway)) as client:
        up = await client.call_tool(
            "execute_api_call", {"path": "/system/documents", "method": "POST", "data": first}
        )
        assert not up.is_error, _text(up)
        down = await client.call_tool(
            "execute_api_call",
            {"path": f"/system/documents/{up.structured_content['data']['id']}/download"},
        )
        uri = down.structured_content["data"]["file"]["uri"]
        copy = await client.call_tool(
            "execute_api_call",
            {
                "path": "/system/documents",
                "method": "POST",
                "data": {
                    "recordType": "Company",
                    "recordId": 3,
                    "title": "Copy",
                    "file": {"resource_uri": uri, "filename": "copy.bin"},
                },
            },
        )
        assert not copy.is_error, _text(copy)
        again = await client.call_tool(
            "execute_api_call",
            {"path": f"/system/documents/{copy.structured_content['data']['id']}/download"},
        )
        bad = await client.call_tool(
            "execute_api_call",
            {
                "path": "/system/documents",
                "method": "POST",
                "data": {
                    "recordType": "Company",
                    "recordId": 3,
                    "file": {"resource_uri": "https://x"},
                },
            },
        )
        not_a_file = await client.call_tool(
            "execute_api_call",
            {
                "path": "/system/documents",
                "method": "POST",
                "data": {
                    "recordType": "Company",
                    "recordId": 3,
                    "file": {"resource_uri": "cwm://files/system/members/1"},
                },
            },
        )
    await gateway.aclose()
    (resource,) = [b for b in again.content if isinstance(b, EmbeddedResource)]
    assert base64.b64decode(resource.resource.blob) == PAYLOAD
    assert bad.is_error and "is not a file link of this gateway" in _text(bad)
    assert not_a_file.is_error and "is not a file download" in _text(not_a_file)


async def test_a_linked_file_the_policy_hides_is_not_read(tmp_path, sandbox):
    policy = tmp_path / "policy.json"
    policy.write_text(
        json.dumps(
            {
                "version": "1",
                "default": "allow",
                "operations": {
                    "rules": [
                        {
                            "id": "no-downloads",
                            "match": {"path": "/system/documents/*/download"},
                            "action": "deny",
                        }
                    ]
                },
            }
        )
    )
    settings = Settings.from_env(dict(sandbox.credentials))
    gateway = Gateway.from_options(
        GatewayOptions(data_dir=tmp_path / "data", policy_path=policy), settings=settings
    )
    sandbox.clear_requests()
    async with Client(build_server(gateway)) as client:
        result = await client.call_tool(
            "execute_api_call",
            {
                "path": "/system/documents",
                "method": "POST",
                "data": {
                    "recordType": "Company",
                    "recordId": 3,
                    "file": {"resource_uri": "cwm://files/system/documents/1/download"},
                },
            },
        )
    await gateway.aclose()
    assert result.is_error and "the policy does not allow reading" in _text(result)
    assert sandbox.requests == []
