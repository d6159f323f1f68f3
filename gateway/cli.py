"""``cwm-gateway``: serve the MCP server, run the sandbox, the demo, the audit and policy tools."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import tempfile
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
        "--read-only",
        action="store_true",
        help="only Read operations may reach ConnectWise, whatever the policy says",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cwm-gateway", description="Safe MCP gateway for the ConnectWise Manage REST API."
    )
    parser.add_argument("--version", action="version", version=f"cwm-gateway {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the MCP server (stdio by default)")
    _common(serve)
    serve.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--sandbox",
        action="store_true",
        help="start an in-process sandbox ConnectWise and use its credentials",
    )

    sandbox = sub.add_parser("sandbox", help="run the local ConnectWise stand-in")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8787)
    sandbox.add_argument("--db", type=Path, help="SQLite file (default: in memory)")

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
        GatewayOptions(policy_path=args.policy, data_dir=args.data_dir, read_only=args.read_only),
        **kwargs,
    )


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
    server = build_server(_gateway(args, **kwargs))
    try:
        if args.transport == "stdio":
            server.run("stdio")
        else:
            server.run("streamable-http", host=args.host, port=args.port)
    finally:
        if handle is not None:
            handle.stop()
    return 0


def cmd_sandbox(args: argparse.Namespace) -> int:
    from cwm_gateway.sandbox.runner import run_sandbox

    run_sandbox(host=args.host, port=args.port, db=str(args.db) if args.db else None)
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from cwm_gateway.memory import data_dir
    from cwm_gateway.policy.audit import AuditLog, render_table

    log = AuditLog((args.data_dir or data_dir()) / "audit.sqlite3")
    if args.prune_days is not None:
        print(f"pruned {log.prune(args.prune_days)} entries older than {args.prune_days:g} days")
    print(render_table(log.recent(args.limit)))
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


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``cwm-gateway`` console script."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    handlers = {
        "serve": cmd_serve,
        "sandbox": cmd_sandbox,
        "demo": cmd_demo,
        "audit": cmd_audit,
        "explain": cmd_explain,
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
