"""Every one of the registry's operations is served by the sandbox over real HTTP, and its data is
valid."""

from __future__ import annotations

from collections import Counter

import httpx
import pytest

from cwm_gateway.sandbox import samples
from cwm_gateway.sandbox.app import API_PREFIX
from cwm_gateway.sandbox.auth import SandboxCredentials
from cwm_gateway.sandbox.resources import Catalog
from cwm_gateway.sandbox.runner import start_sandbox_thread
from cwm_gateway.sandbox.seed import SEEDED, build_seed
from cwm_generated.models import load_model
from cwm_generated.registry import OPERATIONS
from cwm_generated.schemas import SCHEMAS

H = SandboxCredentials().headers()
_SCALARS = ("string", "integer", "number", "boolean")


def _patch_body(schema_name: str) -> list[dict]:
    """A valid one-operation PATCH body: replace a writable field with a sample value."""
    doc = samples.sample(schema_name)
    fields = [
        (name, f)
        for name, f in SCHEMAS[schema_name].fields.items()
        if name not in ("id", "_info") and not f.read_only and name in doc
    ]
    fields.sort(key=lambda nf: nf[1].type not in _SCALARS)
    name = fields[0][0]
    return [{"op": "replace", "path": name, "value": doc[name]}]


_NOTE_FLAGS = ("detailDescriptionFlag", "internalAnalysisFlag", "resolutionFlag")


def _body(schema_name: str) -> dict:
    body = samples.sample(schema_name)
    if all(flag in body for flag in _NOTE_FLAGS):
        body["detailDescriptionFlag"] = True  # ConnectWise refuses a note shown nowhere
    return body


def _request_kwargs(op) -> dict:
    if op.body_kind == "model":
        return {"json": _body(op.body_model)}
    if op.body_kind == "array":
        return {"json": [samples.sample(op.body_model)]}
    if op.body_kind == "patch":
        return {"json": _patch_body(op.response_model or op.body_model)}
    if op.body_kind == "multipart":
        return {
            "files": {"file": ("note.txt", b"hello")},
            "data": {"recordType": "Ticket", "recordId": "1"},
        }
    return {}


@pytest.fixture
def running():
    with start_sandbox_thread() as handle:
        with httpx.Client(base_url=handle.site_url, headers=H) as http:
            yield handle.sandbox, http


def test_every_operation_answers_2xx_and_routes_to_itself(running):
    sandbox, client = running
    # Writes before deletes, so a DELETE does not remove what a later call needs.
    order = {"GET": 0, "POST": 1, "PUT": 2, "PATCH": 3, "DELETE": 4}
    failures = []
    statuses: Counter = Counter()
    for op in sorted(OPERATIONS, key=lambda o: order[o.method]):
        path = sandbox.example_path(op)
        r = client.request(op.method, API_PREFIX + path, **_request_kwargs(op))
        statuses[r.status_code] += 1
        routed = r.headers.get("x-sandbox-operation")
        expected = op.success_status or 200
        if r.status_code != expected or routed != op.operation_id:
            failures.append(
                f"{op.operation_id} {op.method} {path}: {r.status_code} {routed} {r.text[:200]}"
            )
    assert not failures, f"{len(failures)} operations failed:\n" + "\n".join(failures[:20])
    assert sum(statuses.values()) == len(OPERATIONS) == 3053
    assert statuses[204] >= 300


def test_get_responses_validate_against_response_models(running):
    sandbox, client = running
    problems = []
    for op in OPERATIONS:
        # ConnectWise answers every /count with {"count": n}; a few spec entries say otherwise.
        if op.method != "GET" or not op.response_model or op.path.endswith("/count"):
            continue
        data = client.get(API_PREFIX + sandbox.example_path(op)).json()
        model = load_model(op.response_model)
        for item in data if isinstance(data, list) else [data]:
            try:
                model.model_validate(item)
            except Exception as exc:  # noqa: BLE001 - collect every failure for one report
                problems.append(f"{op.operation_id}: {str(exc)[:200]}")
    assert not problems, "\n".join(problems[:10])


@pytest.mark.parametrize("schema_name", sorted(SCHEMAS))
def test_samples_are_schema_valid(schema_name):
    load_model(schema_name).model_validate(samples.sample(schema_name))


def test_seed_is_deterministic_realistic_and_valid():
    first = build_seed(SCHEMAS, 4242)
    assert first == build_seed(SCHEMAS, 4242)
    assert first != build_seed(SCHEMAS, 7)
    catalog = Catalog(OPERATIONS, SCHEMAS)
    assert SEEDED <= set(catalog.collections)
    per = Counter(coll for coll, _, _ in first)
    assert per["/company/companies"] == 25
    assert per["/service/tickets"] == 100
    assert per["/company/contacts"] >= 50
    assert per["/service/tickets/{}/notes"] >= 100
    assert per["/time/entries"] == 150
    for coll, _, doc in first:
        load_model(catalog.collections[coll].item_schema).model_validate(doc)
