"""Schema-valid sample documents built from the generated field table.

Used for operations that have no stored resource behind them (reports, actions, "info"
endpoints) and to give never-seeded collections a few records, so every operation answers.
Samples are deterministic: the same schema and seed always give the same document.
"""

from __future__ import annotations

import copy
from functools import lru_cache
from typing import Any

from starlette.responses import Response

from cwm_gateway import examples
from cwm_gateway.sandbox.errors import json_response

SAMPLE_TIME = examples.EXAMPLE_DATETIME


def info(updated_by: str = "sandbox", when: str = SAMPLE_TIME) -> dict[str, str]:
    """The ``_info`` block ConnectWise puts on records."""
    return examples.info(updated_by, when)


def sample(schema_name: str | None, seed: int = 1) -> Any:
    """A fresh sample document for ``schema_name`` (``{}`` when the schema is unknown)."""
    if not schema_name:
        return {}
    return copy.deepcopy(_cached(schema_name, seed))


@lru_cache(maxsize=4096)
def _cached(schema_name: str, seed: int) -> Any:
    return examples.full_object(schema_name, seed)


def answer(op: Any, values: list[str], body: Any) -> Response:
    """A schema-valid answer for an operation with nothing stored behind it (an action, a
    report, ``/info``). ``body`` is the validated request body, echoed where the operation
    returns what it was sent."""
    status = op.success_status or 200
    if status == 204:
        return Response(status_code=204)
    if op.response_kind == "binary":
        # ConnectWise streams files (invoice PDFs, images) as raw bytes.
        return Response(binary(op.path), status, media_type="application/octet-stream")
    if op.response_is_list:
        return json_response([sample(op.response_model, 1)], status)
    data = sample(op.response_model, 1)
    if isinstance(body, dict) and isinstance(data, dict) and op.body_model == op.response_model:
        data.update(body)
    if isinstance(data, dict) and "id" in data and op.path_params and values:
        last = values[-1]
        if last.isdigit() and op.path_params[-1].name in ("id", "parentId"):
            data["id"] = int(last)
    return json_response(data, status)


def binary(path: str) -> bytes:
    """A small, recognisable file for operations that return one (a PDF or a PNG)."""
    if path.endswith("/pdf"):
        return b"%PDF-1.4\n% cwm-gateway sandbox sample\n%%EOF\n"
    return b"\x89PNG\r\n\x1a\n" + b"cwm-gateway sandbox sample"
