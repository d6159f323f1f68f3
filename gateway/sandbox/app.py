"""The sandbox ASGI application: a local stand-in for ConnectWise Manage.

Every registry operation is served under the API prefix by a :class:`~.dispatch.Sandbox`.
Outside it: ``GET /login/companyinfo/{company}`` (codebase discovery) and the loopback-only
admin endpoints under ``/__sandbox/`` (request log, fault plan). Around everything, the outer
layer of :mod:`~.faults` logs each request and injects faults.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cwm_gateway.sandbox.dispatch import API_PREFIX, Sandbox, SandboxSettings
from cwm_gateway.sandbox.errors import json_response
from cwm_gateway.sandbox.faults import DropConnection, FaultsAndLog, FaultSpecError

__all__ = ["API_PREFIX", "DropConnection", "Sandbox", "SandboxSettings", "create_app"]

CODEBASE = "v4_6_release/"
VERSION_CODE = "v2025.1"
VERSION_NUMBER = "v4.6.2025.1"
ADMIN_PREFIX = "/__sandbox"
_LOOPBACK = {"127.0.0.1", "::1", "localhost", "testclient"}


def _loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    return host in _LOOPBACK or host.startswith("127.")


def _admin_routes(sandbox: Sandbox) -> list[Route]:
    def guarded(handler: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            if not _loopback(request):
                return json_response(
                    {"code": "Forbidden", "message": "Admin endpoints are loopback only."}, 403
                )
            return await handler(request)

        return endpoint

    async def requests_log(request: Request) -> Response:
        if request.method == "DELETE":
            sandbox.clear_requests()
            return Response(status_code=204)
        return json_response({"requests": sandbox.requests})

    async def faults(request: Request) -> Response:
        if request.method == "DELETE":
            sandbox.faults.clear()
            return Response(status_code=204)
        if request.method == "POST":
            try:
                data = json.loads(await request.body() or b"{}")
                sandbox.faults.add(str(data["fault"]), data.get("count"))
            except (ValueError, KeyError, TypeError, FaultSpecError) as exc:
                return json_response(
                    {
                        "code": "InvalidFault",
                        "message": f'Send {{"fault": "503", "count": 2}}: {exc}',
                    },
                    400,
                )
        return json_response({"faults": sandbox.faults.describe()})

    return [
        Route(ADMIN_PREFIX + "/requests", guarded(requests_log), methods=["GET", "DELETE"]),
        Route(ADMIN_PREFIX + "/faults", guarded(faults), methods=["GET", "POST", "DELETE"]),
    ]


class SandboxApp(FaultsAndLog):
    """The ASGI app; ``.sandbox`` is the :class:`Sandbox` behind it (store, request log)."""

    def __init__(self, sandbox: Sandbox, inner: Starlette) -> None:
        super().__init__(inner, sandbox.log, sandbox.faults, API_PREFIX, ADMIN_PREFIX)
        self.sandbox = sandbox
        self.state = inner.state


def create_app(settings: SandboxSettings | None = None) -> SandboxApp:
    """Build the sandbox ASGI app. ``app.sandbox`` (and ``app.state.sandbox``) is the
    :class:`Sandbox` behind it, for tests that read the request log or the store."""
    sandbox = Sandbox(settings)

    async def api(request: Request) -> Response:
        return await sandbox.serve_api(request)

    async def company_info(request: Request) -> Response:
        company = request.path_params["company"]
        if company.lower() != sandbox.credentials.company.lower():
            return json_response(
                {"code": "NotFound", "message": f"Company {company!r} not found."}, 404
            )
        return json_response(
            {
                "CompanyName": sandbox.settings.company_name,
                "Codebase": CODEBASE,
                "VersionCode": VERSION_CODE,
                "VersionNumber": VERSION_NUMBER,
                "CompanyID": sandbox.credentials.company,
                "IsCloud": False,
                "SiteUrl": request.url.netloc,
                "AllowAnonymousAccess": False,
            }
        )

    # Every method reaches the sandbox's router, so an unsupported one gets ConnectWise's 405
    # with the methods of that path in Allow (not Starlette's list of the route's methods).
    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"]
    routes = [
        Route("/login/companyinfo/{company}", company_info, methods=["GET"]),
        *_admin_routes(sandbox),
        Route(API_PREFIX + "/{rest:path}", api, methods=methods),
        Route(API_PREFIX, api, methods=methods),
    ]
    inner = Starlette(routes=routes)
    inner.state.sandbox = sandbox
    return SandboxApp(sandbox, inner)
