"""``cwm-gateway``: serve the MCP server, run the sandbox, the demo, the audit and policy tools."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cwm_gateway import __version__
from cwm_gateway.errors import CWMError


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--policy",
        type=Path,
        help="policy file (JSON or YAML); default: the "
        "shipped cautious policy, or $CWM_GATEWAY_POLICY",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="where Fast Memory, rate limits and the "
        "audit log live; default: $CWM_GATEWAY_DATA_DIR or the per-user data dir",
    )
    parser.add_argument(
        "--state-url",
        help="state backend: postgresql://user@host/db[?schema=name] for a team's shared state, "
        "or a directory of SQLite files; default: $CWM_GATEWAY_STATE_URL, else --data-dir",
    )
    parser.add_argument(
        "--read-only",
        action="store_true",
        help="only Read operations may reach ConnectWise, whatever the policy says",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cwm-gateway", description="Safe MCP gateway for the ConnectWise Manage REST API."
    )
    parser.add_argument("--version", action="version", version=f"cwm-gateway {__version__}")
    parser.add_argument(
        "--log-format",
        choices=["text", "json"],
        default=os.environ.get("CWM_GATEWAY_LOG_FORMAT") or "text",
        help="log lines on stderr as text or as JSON objects (one per line)",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the MCP server (stdio by default)")
    _common(serve)
    serve.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--auth",
        choices=["none", "api-keys", "oauth", "both"],
        default=os.environ.get("CWM_GATEWAY_AUTH") or None,
        help="HTTP authentication: api-keys (cwm-gateway grants add), oauth (bearer JWTs from "
        "CWM_GATEWAY_OAUTH_ISSUER) or both; default: oauth when an issuer is set, else none "
        "(allowed on loopback only)",
    )
    serve.add_argument(
        "--allow-unauthenticated",
        action="store_true",
        help="serve beyond loopback without authentication (only behind an authenticating proxy)",
    )
    serve.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="HOST[:PORT]",
        help="a Host header value to accept (repeatable; e.g. gateway.example.com or "
        "gateway.example.com:*); loopback names are always accepted",
    )
    serve.add_argument(
        "--allowed-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="an Origin to accept from browsers (repeatable; e.g. https://app.example.com)",
    )
    serve.add_argument(
        "--public-url",
        default=os.environ.get("CWM_GATEWAY_PUBLIC_URL") or None,
        help="the URL clients reach /mcp at (OAuth resource identifier); "
        "default: $CWM_GATEWAY_PUBLIC_URL, else the OAuth audience",
    )
    serve.add_argument(
        "--sandbox",
        action="store_true",
        help="start an in-process sandbox ConnectWise and use its credentials",
    )

    sandbox = sub.add_parser("sandbox", help="run the local ConnectWise stand-in")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8787)
    sandbox.add_argument("--db", type=Path, help="SQLite file (default: in memory)")

    grants = sub.add_parser("grants", help="manage who may call the gateway over HTTP (API keys)")
    gsub = grants.add_subparsers(dest="grants_command", required=True)
    gadd = gsub.add_parser("add", help="create a grant and print its API key (shown once)")
    gadd.add_argument("name", help="the grant's name, e.g. alice or ci-bot")
    gadd.add_argument("--grant-policy", help="policy file for this grant (default: the server's)")
    gadd.add_argument(
        "--member-public-key", help="this grant's own ConnectWise API member public key"
    )
    gadd.add_argument(
        "--member-private-key-env",
        metavar="VAR",
        help="environment variable holding the member's private key (never on the command line)",
    )
    glist = gsub.add_parser("list", help="list grants (names, members, state; never keys)")
    grevoke = gsub.add_parser("revoke", help="revoke a grant's API key")
    grevoke.add_argument("name")
    for grants_parser in (gadd, glist, grevoke):
        _common(grants_parser)

    demo = sub.add_parser("demo", help="a scripted session through the MCP tools, on the sandbox")
    _common(demo)

    audit = sub.add_parser("audit", help="show recent audit log entries")
    _common(audit)
    audit.add_argument("-n", "--limit", type=int, default=20)
    audit.add_argument(
        "--prune-days",
        type=float,
        help="first delete entries older than this many days (retention is your choice)",
    )

    policy = sub.add_parser("policy", help="the policy format: its JSON Schema, or check a file")
    psub = policy.add_subparsers(dest="policy_command", required=True)
    psub.add_parser("schema", help="print the policy document's JSON Schema (both dialects)")
    pcheck = psub.add_parser("check", help="validate a policy file and print its effective rules")
    pcheck.add_argument("file", type=Path, help="policy file (JSON or YAML)")

    explain = sub.add_parser("explain", help="which policy rule decides a tool call (dry run)")
    _common(explain)
    explain.add_argument("tool", help="tool name, e.g. execute_api_call")
    explain.add_argument(
        "arguments",
        nargs="?",
        default="{}",
        help='tool arguments as JSON, e.g. \'{"path": "/service/tickets/1", "method": "DELETE"}\'',
    )
    return parser


def _gateway(args: argparse.Namespace, **kwargs: Any):
    from cwm_gateway.core import Gateway, GatewayOptions

    return Gateway.from_options(
        GatewayOptions(
            policy_path=args.policy,
            data_dir=args.data_dir,
            state_url=args.state_url,
            read_only=args.read_only,
        ),
        **kwargs,
    )


def _state(args: argparse.Namespace):
    from cwm_gateway.memory import data_dir
    from cwm_gateway.state import STATE_URL_ENV, open_state

    url = args.state_url or os.environ.get(STATE_URL_ENV, "").strip() or None
    return open_state(url or (args.data_dir or data_dir()))


def _sandbox_settings(handle: Any):
    from cwm_gateway.config import Settings

    return Settings.from_env(dict(handle.credentials))


def cmd_serve(args: argparse.Namespace) -> int:
    from cwm_gateway.server import build_server

    handle = None
    kwargs: dict[str, Any] = {}
    if args.sandbox:
        from cwm_gateway.sandbox.runner import start_sandbox_thread

        handle = start_sandbox_thread()
        kwargs["settings"] = _sandbox_settings(handle)
        print(f"sandbox ConnectWise at {handle.base_url}", file=sys.stderr)
    gateway = _gateway(args, **kwargs)
    try:
        if args.transport == "stdio":
            build_server(gateway).run("stdio")
        else:
            from cwm_gateway import web
            from cwm_gateway.auth import OAuthConfig

            oauth = OAuthConfig.from_env()
            options = web.HttpOptions(
                host=args.host,
                port=args.port,
                auth=args.auth or ("oauth" if oauth is not None else "none"),
                oauth=oauth,
                public_url=args.public_url,
                allow_unauthenticated=args.allow_unauthenticated,
                allowed_hosts=args.allowed_host,
                allowed_origins=args.allowed_origin,
            )
            web.check_binding(options)
            if options.auth in ("api-keys", "both") and not gateway.state.grants.list():
                print(
                    "no grants yet: nobody can call this server until you run "
                    "'cwm-gateway grants add NAME' (same state URL)",
                    file=sys.stderr,
                )
            server = build_server(gateway, **web.server_auth_options(options, gateway.state))
            print(
                f"serving MCP on http://{args.host}:{args.port}/mcp (auth: {options.auth}; "
                f"state: {gateway.state.description})",
                file=sys.stderr,
            )
            web.serve(server, gateway, options)
    finally:
        if handle is not None:
            handle.stop()
    return 0


def cmd_sandbox(args: argparse.Namespace) -> int:
    from cwm_gateway.sandbox.runner import run_sandbox

    run_sandbox(host=args.host, port=args.port, db=str(args.db) if args.db else None)
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from cwm_gateway.policy.audit import render_table

    log = _state(args).audit
    if args.prune_days is not None:
        print(f"pruned {log.prune(args.prune_days)} entries older than {args.prune_days:g} days")
    print(render_table(log.recent(args.limit)))
    return 0


def cmd_grants(args: argparse.Namespace) -> int:
    from cwm_gateway.state.grants import GrantError

    grants = _state(args).grants
    if args.grants_command == "add":
        private_key = None
        if args.member_private_key_env:
            private_key = os.environ.get(args.member_private_key_env)
            if not private_key:
                raise GrantError(
                    f"the environment variable {args.member_private_key_env} is empty or unset; "
                    "export the member's private key there first"
                )
        if bool(args.member_public_key) != bool(private_key):
            raise GrantError(
                "member keys come in pairs: give both --member-public-key and "
                "--member-private-key-env, or neither (the grant then uses the server's keys)"
            )
        policy = None
        if args.grant_policy:
            from cwm_gateway.policy.rules import load_policy

            policy = str(Path(args.grant_policy).resolve())
            load_policy(policy)  # refuse a grant whose policy would fail on its first call
        grant, key = grants.add(
            args.name,
            policy=policy,
            member_public_key=args.member_public_key,
            member_private_key=private_key,
        )
        print(f"grant {grant.name} created; its API key (shown once, store it now):")
        print(key)
        print("clients send it as: Authorization: Bearer <key>", file=sys.stderr)
        return 0
    if args.grants_command == "list":
        rows = [g.to_public_dict() for g in grants.list()]
        if not rows:
            print("No grants. Create one with: cwm-gateway grants add NAME")
        for row in rows:
            state = "revoked" if row["revoked"] else "active"
            print(
                f"{row['name']:<24} {state:<8} key {row['key'] or '-':<12} "
                f"member {row['member'] or '(server keys)'}  policy {row['policy'] or '(server)'}"
            )
        return 0
    if not grants.revoke(args.name):
        raise GrantError(f"no active grant named {args.name!r} (cwm-gateway grants list)")
    print(f"grant {args.name} revoked: its key no longer authenticates")
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    from cwm_gateway.explain import explain_call

    try:
        arguments = json.loads(args.arguments)
    except json.JSONDecodeError as exc:
        raise CWMError(
            f'arguments must be JSON ({exc.msg}), e.g. \'{{"path": "/service/tickets"}}\''
        ) from None
    print(explain_call(_gateway(args), args.tool, arguments))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from cwm_gateway.demo import run_demo

    with tempfile.TemporaryDirectory(prefix="cwm-demo-") as tmp:
        if args.data_dir is None:
            args.data_dir = Path(tmp)
        return asyncio.run(run_demo(args))


class JsonLogFormatter(logging.Formatter):
    """One JSON object per log line (time, level, logger, message, exception)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


JsonLogFormatter.converter = time.gmtime  # type: ignore[assignment]


def cmd_policy(args: argparse.Namespace) -> int:
    """``policy schema``: the JSON Schema; ``policy check FILE``: validate, show the rules."""
    from cwm_gateway.policy.document import json_schema
    from cwm_gateway.policy.loader import describe_policy, load_policy

    if args.policy_command == "schema":
        print(json.dumps(json_schema(), indent=2))
        return 0
    policy = load_policy(args.file)  # a PolicyError says where and why (exit 2)
    print("\n".join(describe_policy(policy)))
    print("OK: the policy is valid.")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``cwm-gateway`` console script."""
    args = _parser().parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    if args.log_format == "json":
        handler.setFormatter(JsonLogFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler], force=True)
    handlers = {
        "serve": cmd_serve,
        "sandbox": cmd_sandbox,
        "demo": cmd_demo,
        "audit": cmd_audit,
        "grants": cmd_grants,
        "explain": cmd_explain,
        "policy": cmd_policy,
    }
    try:
        return handlers[args.command](args)
    except CWMError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
