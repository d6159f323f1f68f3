"""Files through the tools: uploads to multipart operations, downloads of binary responses.

Upload (``POST /system/documents`` and any other multipart operation): the file field of the
form (``format: binary`` in the spec, ``file`` for documents) is given in ``data`` as::

    {"recordType": "Ticket", "recordId": 42, "title": "Event log",
     "file": {"content_base64": "…", "filename": "events.txt", "media_type": "text/plain"}}

:func:`prepare_upload` decodes it (strict base64; a ``data:`` URL works too), caps its size
(``CWM_GATEWAY_MAX_UPLOAD_BYTES``, default 1,000,000 bytes) and returns the canonical request:
the bytes go as the multipart file part, and the body the policy judges, a person approves and
the audit records describes the file instead (``{"filename", "media_type", "bytes",
"sha256"}``), so an approved upload is exactly the file that was shown.

Instead of ``content_base64`` a file may name a file ConnectWise already serves, by the
``uri`` a download result carries (``{"resource_uri": "cwm://files/system/documents/5/download",
"filename": …}``): the gateway reads it (a GET the caller's policy must allow, same cap) and
uploads those bytes, so a document is copied without its bytes passing through the model.

Download (operations whose success response is a file, ``response_kind == "binary"``):
:func:`download_of` turns the response into a :class:`FileDownload` (bytes, media type, file
name from ``Content-Disposition``) when it is within ``CWM_GATEWAY_MAX_DOWNLOAD_BYTES``
(default 1,000,000: results travel in one MCP message), which the MCP layer returns as an
embedded resource.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import mimetypes
import os
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, NamedTuple

from cwm_gateway.errors import Problem, RequestValidationError
from cwm_gateway.validation import CanonicalRequest

__all__ = [
    "DEFAULT_MAX_DOWNLOAD_BYTES",
    "DEFAULT_MAX_UPLOAD_BYTES",
    "FileDownload",
    "download_of",
    "max_download_bytes",
    "max_upload_bytes",
    "prepare_upload",
]

DEFAULT_MAX_UPLOAD_BYTES = 1_000_000
DEFAULT_MAX_DOWNLOAD_BYTES = 1_000_000
UPLOAD_ENV = "CWM_GATEWAY_MAX_UPLOAD_BYTES"
DOWNLOAD_ENV = "CWM_GATEWAY_MAX_DOWNLOAD_BYTES"

_SHAPE = '{"content_base64": "<base64>", "filename": "name.ext", "media_type": "type/subtype"}'
_MEDIA_TYPE = re.compile(r"[A-Za-z0-9][\w.+-]*/[A-Za-z0-9][\w.+-]*\Z")
_DATA_URL = re.compile(r"data:([^;,]*)(?:;[^,]*)?;base64,", re.IGNORECASE)
_FILE_KEYS = frozenset({"content_base64", "resource_uri", "filename", "media_type"})
#: Prefix of the ``uri`` of files the gateway returns (and accepts back as a resource link).
FILES_URI = "cwm://files"


def _cap(env: str, default: int) -> int:
    raw = os.environ.get(env, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        return default
    return value if value > 0 else default


def max_upload_bytes() -> int:
    """The upload cap in bytes (``CWM_GATEWAY_MAX_UPLOAD_BYTES``)."""
    return _cap(UPLOAD_ENV, DEFAULT_MAX_UPLOAD_BYTES)


def max_download_bytes() -> int:
    """The largest download returned in a tool result (``CWM_GATEWAY_MAX_DOWNLOAD_BYTES``)."""
    return _cap(DOWNLOAD_ENV, DEFAULT_MAX_DOWNLOAD_BYTES)


def _file_fields(schema_name: str | None) -> tuple[str, ...]:
    from cwm_generated.schemas import SCHEMAS

    schema = SCHEMAS.get(schema_name or "")
    if schema is None:
        return ("file",)
    return tuple(n for n, f in schema.fields.items() if f.format == "binary") or ("file",)


def _filename(raw: Any, media_type: str) -> str:
    name = raw if isinstance(raw, str) else ""
    name = re.split(r"[\\/]", name)[-1]  # a path names its last part
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '"').strip()[:255]
    if not name:
        name = "upload" + (mimetypes.guess_extension(media_type) or ".bin")
    return name


def _decode(
    where: str,
    value: Any,
    cap: int,
    problems: list[Problem],
    linked_files: Mapping[str, tuple[bytes, str, str | None]],
) -> tuple[bytes, str, str] | None:
    """(content, filename, media type) of one file field, or None with problems recorded."""
    if not isinstance(value, Mapping):
        problems.append(
            Problem(where, f"must be a file object, not {type(value).__name__}", f"e.g. {_SHAPE}")
        )
        return None
    unknown = sorted(set(value) - _FILE_KEYS)
    if unknown:
        problems.append(
            Problem(where, f"unknown keys {unknown} in the file object", f"use {_SHAPE}")
        )
        return None
    text = value.get("content_base64")
    linked = linked_files.get(where)
    if linked is not None:
        text = base64.b64encode(linked[0]).decode()
    elif not isinstance(text, str):
        problems.append(
            Problem(
                f"{where}.content_base64",
                "is required: the file's bytes in base64 (or resource_uri, a cwm://files/… "
                "link of a file ConnectWise serves)",
                _SHAPE,
            )
        )
        return None
    media_type = value.get("media_type") or (linked[1] if linked is not None else None)
    match = _DATA_URL.match(text)
    if match is not None:
        text = text[match.end() :]
        media_type = media_type or match.group(1) or None
    text = "".join(text.split())  # line breaks of wrapped base64
    estimate = len(text) * 3 // 4
    if estimate > cap + 3:
        problems.append(
            Problem(
                f"{where}.content_base64",
                f"is about {estimate:,} bytes; uploads through the gateway are capped at "
                f"{cap:,} bytes (nothing was sent)",
                f"upload it in ConnectWise, or raise {UPLOAD_ENV} for this gateway",
            )
        )
        return None
    try:
        content = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        try:
            content = base64.b64decode(text, altchars=b"-_", validate=True)
        except (binascii.Error, ValueError):
            problems.append(
                Problem(
                    f"{where}.content_base64",
                    "is not valid base64",
                    "encode the file's bytes with standard base64 (A-Z, a-z, 0-9, +, /, =)",
                )
            )
            return None
    if len(content) > cap:
        problems.append(
            Problem(
                f"{where}.content_base64",
                f"is {len(content):,} bytes; uploads through the gateway are capped at "
                f"{cap:,} bytes (nothing was sent)",
                f"upload it in ConnectWise, or raise {UPLOAD_ENV} for this gateway",
            )
        )
        return None
    filename_raw = value.get("filename") or (linked[2] if linked is not None else None)
    if media_type is None:
        guessed = mimetypes.guess_type(filename_raw)[0] if isinstance(filename_raw, str) else None
        media_type = guessed or "application/octet-stream"
    if not isinstance(media_type, str) or not _MEDIA_TYPE.match(media_type.strip()):
        problems.append(
            Problem(f"{where}.media_type", f"{media_type!r} is not a media type", "e.g. image/png")
        )
        return None
    media_type = media_type.strip().lower()
    return content, _filename(filename_raw, media_type), media_type


#: Reads a linked file: ``(path, cap) -> (bytes, media type, file name)``; raises
#: RequestValidationError when the caller may not read it or it is not a file.
FetchFile = Callable[[str, int], Awaitable[tuple[bytes, str, str | None]]]


async def prepare_upload(
    request: CanonicalRequest, cap: int | None = None, fetch: FetchFile | None = None
) -> CanonicalRequest:
    """The canonical request of an upload: file fields decoded (or linked files read with
    ``fetch``) into multipart parts (see the module doc). Other requests come back unchanged.
    Raises RequestValidationError."""
    op = request.spec.operation
    body = request.spec.body
    if op.body_kind != "multipart" or not isinstance(body, Mapping):
        return request
    cap = max_upload_bytes() if cap is None else cap
    problems: list[Problem] = []
    files: dict[str, Any] = {}
    described = dict(body)
    linked: dict[str, tuple[bytes, str, str | None]] = {}
    for name in _file_fields(op.body_model):
        value = body.get(name)
        if not isinstance(value, Mapping) or "resource_uri" not in value:
            continue
        where = f"body.{name}"
        uri = value.get("resource_uri")
        if "content_base64" in value:
            problems.append(Problem(where, "give content_base64 or resource_uri, not both"))
        elif not isinstance(uri, str) or not uri.startswith(FILES_URI + "/"):
            problems.append(
                Problem(
                    f"{where}.resource_uri",
                    f"{uri!r} is not a file link of this gateway",
                    f"use the uri of a download result, e.g. {FILES_URI}/system/documents/5/download",
                )
            )
        elif fetch is None:
            problems.append(Problem(f"{where}.resource_uri", "links cannot be read here"))
        else:
            try:
                linked[where] = await fetch(uri[len(FILES_URI) :], cap)
            except RequestValidationError as exc:
                problems.extend(
                    Problem(f"{where}.resource_uri", p.message, p.hint) for p in exc.problems
                )
    for name in _file_fields(op.body_model):
        if name not in body or body[name] is None:
            continue
        if f"body.{name}" in problems_where(problems):
            continue
        decoded = _decode(f"body.{name}", body[name], cap, problems, linked)
        if decoded is None:
            continue
        content, filename, media_type = decoded
        files[name] = (filename, content, media_type)
        described[name] = {
            "filename": filename,
            "media_type": media_type,
            "bytes": len(content),
            "sha256": hashlib.sha256(content).hexdigest(),
        }
        if f"body.{name}" in linked:
            described[name]["resource_uri"] = body[name]["resource_uri"]
    for key, value in body.items():
        if key not in files and isinstance(value, Mapping | list):
            problems.append(
                Problem(f"body.{key}", "a form field takes text, a number or true/false")
            )
    if problems:
        raise RequestValidationError(problems, op.operation_id)
    if not files:
        return request
    spec = request.spec._replace(body=described, files=files)
    return dataclasses.replace(request, spec=spec)


def problems_where(problems: list[Problem]) -> set[str]:
    """The fields (``body.file``) that already have a problem."""
    return {p.where.split(".resource_uri")[0].split(".content_base64")[0] for p in problems}


class FileDownload(NamedTuple):
    """A file returned by ConnectWise, ready to hand to a client."""

    content: bytes
    media_type: str
    filename: str | None
    uri: str
    """A name for the file as a resource (``cwm://files/...``); not readable later."""


_DISPOSITION_NAME = re.compile(r"""filename\*?=(?:UTF-8''|")?([^";]+)""", re.IGNORECASE)


def download_of(path: str, headers: Mapping[str, str], content: bytes) -> FileDownload:
    """The :class:`FileDownload` of a binary response to ``path``."""
    media_type = (headers.get("content-type") or "application/octet-stream").split(";")[0].strip()
    filename = None
    disposition = headers.get("content-disposition")
    if disposition:
        match = _DISPOSITION_NAME.search(disposition)
        if match is not None:
            from urllib.parse import unquote

            filename = _filename(unquote(match.group(1)), media_type)
    return FileDownload(
        content=content,
        media_type=media_type or "application/octet-stream",
        filename=filename,
        uri=FILES_URI + (path if path.startswith("/") else "/" + path),
    )
