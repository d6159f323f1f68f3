"""Codebase discovery: turn a site (region or host) and a company id into the REST base URL.

ConnectWise serves ``GET https://<host>/login/companyinfo/<company>`` without credentials; its
``Codebase`` (e.g. ``v4_6_release/`` or ``v2025_1/``) is the first path segment of the API
base ``https://<host>/<codebase>apis/3.0``. These are plain functions: the transport performs
the request (with its retries and attempt hook) and calls them on either side of it.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple
from urllib.parse import quote

from cwm_gateway.errors import ConfigError

_CODEBASE = re.compile(r"^[A-Za-z0-9_.\-]+/?$")


class CompanyInfo(NamedTuple):
    """What ``/login/companyinfo/{company}`` said about a company."""

    codebase: str
    """Normalized with a trailing slash, e.g. ``v4_6_release/``."""
    version_code: str | None
    site_url: str | None
    company_name: str | None
    is_cloud: bool | None


def companyinfo_url(site_base: str, company_id: str) -> str:
    """URL of the public companyinfo endpoint for ``company_id`` on ``site_base``."""
    return f"{site_base.rstrip('/')}/login/companyinfo/{quote(company_id, safe='')}"


def parse_companyinfo(data: Any, *, company_id: str, site_base: str) -> CompanyInfo:
    """Check and extract a companyinfo answer; ConfigError when it names no usable codebase.

    An unknown company comes back as ``null``/empty or without ``Codebase``: that is a
    configuration problem (wrong company id or site), so say which settings to check.
    """
    if not isinstance(data, dict) or not data.get("Codebase"):
        raise ConfigError(
            f"{site_base} does not know the company {company_id!r} (its companyinfo answer "
            "has no Codebase): check CONNECTWISE_COMPANY_ID (the company typed at the "
            "ConnectWise login) and CONNECTWISE_SITE (na, eu, au, aus, za or your own host), "
            "or set CONNECTWISE_API_URL directly"
        )
    codebase = str(data["Codebase"]).strip().lstrip("/")
    if not _CODEBASE.match(codebase):
        raise ConfigError(
            f"{site_base} answered companyinfo for {company_id!r} with an unusable Codebase "
            f"{codebase!r} (expected something like 'v4_6_release/'); set CONNECTWISE_API_URL "
            "directly"
        )
    if not codebase.endswith("/"):
        codebase += "/"
    cloud = data.get("IsCloud")
    return CompanyInfo(
        codebase=codebase,
        version_code=_str_or_none(data.get("VersionCode")),
        site_url=_str_or_none(data.get("SiteUrl")),
        company_name=_str_or_none(data.get("CompanyName")),
        is_cloud=cloud if isinstance(cloud, bool) else None,
    )


def api_base_url(site_base: str, info: CompanyInfo) -> str:
    """REST base URL for a discovered codebase, on the host that was asked."""
    # The API lives on the host we queried (api-<region>... for cloud, the server for
    # on-premise); SiteUrl names the browser host, which is not the API host in the cloud.
    return f"{site_base.rstrip('/')}/{info.codebase}apis/3.0"


def _str_or_none(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None
