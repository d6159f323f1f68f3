"""Documents: multipart uploads stored with their bytes, downloads that give them back.

``POST /system/documents`` takes ``multipart/form-data`` as ConnectWise does: a ``file`` part
(or a ``url`` for a link document) and the form fields ``recordType`` (``Ticket``,
``Company``...), ``recordId``, ``title``, ``privateFlag``, ``readOnlyFlag``, ``isAvatar``. The
document's metadata becomes a ``DocumentInfo`` record in ``/system/documents``; its bytes, media
type and owner are kept beside it, so ``GET /system/documents/{id}/download`` returns exactly
the uploaded bytes, ``GET /system/documents?recordType=Ticket&recordId=5`` lists the record's
documents and ``/service/tickets/{id}/documents`` shows them on the ticket.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from cwm_gateway.sandbox import errors

DOCUMENTS = "/system/documents"
SCHEMA = "DocumentInfo"
FORM = "DocumentFormData"
#: ConnectWise refuses larger uploads; the sandbox keeps them in SQLite, so it caps them too.
MAX_BYTES = 25 * 1024 * 1024

#: recordType -> the stored collection whose record must exist.
RECORD_TYPES = {
    "Ticket": "/service/tickets",
    "ProjectTicket": "/project/tickets",
    "Company": "/company/companies",
    "Contact": "/company/contacts",
    "Agreement": "/finance/agreements",
    "Opportunity": "/sales/opportunities",
    "Project": "/project/projects",
    "Configuration": "/company/configurations",
    "Member": "/system/members",
    "Activity": "/sales/activities",
    "Invoice": "/finance/invoices",
}

_IMAGE_TYPES = ("image/",)


def _flag(form: Mapping[str, Any], name: str) -> bool:
    value = form.get(name)
    return isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "on")


def _problem(message: str, field: str) -> errors.ApiError:
    return errors.invalid_object(SCHEMA, [errors.field_error("InvalidField", message, FORM, field)])


class Documents:
    """Upload, list and download documents in a sandbox store."""

    def __init__(self, store: Any, record_exists: Any, updated_by: str) -> None:
        self.store = store
        self.record_exists = record_exists
        """``(collection key, id) -> bool``: whether the owning record exists."""
        self.updated_by = updated_by

    async def upload(self, request: Request, now: str) -> dict[str, Any]:
        """Store the multipart upload in ``request``; returns the new ``DocumentInfo``."""
        if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
            raise errors.api_error(
                415,
                "UnsupportedMediaType",
                "The request entity's media type is not supported: send multipart/form-data.",
            )
        try:
            form = await request.form(max_files=1, max_fields=20)
        except Exception:  # noqa: BLE001 - python-multipart raises several types for bad bodies
            raise _problem("The multipart body could not be read.", "file") from None
        try:
            return await self._store_form(form, now)
        finally:
            await form.close()

    async def _store_form(self, form: Any, now: str) -> dict[str, Any]:
        record_type = str(form.get("recordType") or "")
        raw_id = str(form.get("recordId") or "")
        if record_type not in RECORD_TYPES:
            choices = ", ".join(sorted(RECORD_TYPES))
            raise _problem(f"recordType must be one of: {choices}.", "recordType")
        if not raw_id.isdigit():
            raise _problem("recordId is required.", "recordId")
        record_id = int(raw_id)
        if not self.record_exists(RECORD_TYPES[record_type], record_id):
            raise errors.invalid_object(
                SCHEMA,
                [
                    errors.field_error(
                        "NotFound",
                        f"{record_type} {record_id} not found",
                        FORM,
                        "recordId",
                    )
                ],
            )
        upload = form.get("file")
        url = form.get("url")
        if isinstance(upload, UploadFile):
            data = await upload.read(MAX_BYTES + 1)
            if len(data) > MAX_BYTES:
                raise _problem(f"The file is larger than {MAX_BYTES} bytes.", "file")
            file_name = upload.filename or "upload"
            media_type = upload.content_type or "application/octet-stream"
        elif isinstance(url, str) and url:
            data, file_name, media_type = b"", url, "text/uri-list"
        else:
            raise _problem("A file is required.", "file")
        title = str(form.get("title") or file_name)[:200]
        id_ = self.store.next_id(DOCUMENTS)
        doc = {
            "id": id_,
            "title": title,
            "fileName": file_name,
            "serverFileName": f"{uuid.uuid5(uuid.NAMESPACE_URL, f'doc/{id_}')}",
            "owner": self.updated_by,
            "linkFlag": bool(url) and not data,
            "imageFlag": media_type.startswith(_IMAGE_TYPES),
            "publicFlag": not _flag(form, "privateFlag"),
            "htmlTemplateFlag": False,
            "readOnlyFlag": _flag(form, "readOnlyFlag"),
            "size": len(data),
            "urlFlag": bool(url) and not data,
            "createdOnDate": now,
            "guid": str(uuid.uuid5(uuid.NAMESPACE_OID, f"cwm-sandbox-document/{id_}")),
            "_info": {"lastUpdated": now, "updatedBy": self.updated_by},
        }
        self.store.put_file(id_, record_type, record_id, media_type, data)
        self.store.insert(DOCUMENTS, "", doc)
        return doc

    def of_record(self, record_type: str, record_id: int) -> list[dict[str, Any]]:
        """Documents attached to one record, in id order."""
        ids = set(self.store.file_ids(record_type, record_id))
        return [d for d in self.store.documents(DOCUMENTS, "") if d["id"] in ids]

    def filter_params(
        self, docs: list[dict[str, Any]], params: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        """``recordType``/``recordId`` of ``GET /system/documents``."""
        record_type, raw_id = params.get("recordType"), params.get("recordId")
        if not record_type and not raw_id:
            return docs
        if raw_id and not raw_id.lstrip("-").isdigit():
            raise errors.invalid_parameter("recordId", raw_id)
        ids = set(self.store.file_ids(record_type or None, int(raw_id) if raw_id else None))
        return [d for d in docs if d["id"] in ids]

    def download(self, doc: Mapping[str, Any]) -> Response:
        """The stored bytes of ``doc`` with their media type."""
        found = self.store.get_file(doc["id"])
        if found is None:
            raise errors.not_found(SCHEMA, doc["id"])
        media_type, data = found
        name = str(doc.get("fileName") or "download").replace('"', "")
        headers = {"Content-Disposition": f'attachment; filename="{name}"'}
        return Response(data, 200, headers=headers, media_type=media_type)
