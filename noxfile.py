"""Developer sessions: ``nox -s generate``, ``nox -s tests``, ``nox -s lint``, ``nox -s typecheck``,
``nox -s bench``, ``nox -s default_policy``, ``nox -s tool_schemas``."""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def generate(session: nox.Session) -> None:
    """Regenerate generated/ from a spec: ``nox -s generate -- --spec ../shared/spec/manage.json``."""
    session.install("-e", ".[codegen]")
    session.run("python", "-m", "codegen", *session.posargs)


@nox.session
def default_policy(session: nox.Session) -> None:
    """Write gateway/policy/default_policy.json after editing default_policy.yaml."""
    session.install("-e", ".")
    session.run(
        "python",
        "-c",
        "from cwm_gateway.policy.loader import write_default_policy_json as w; print(w())",
    )


@nox.session
def tool_schemas(session: nox.Session) -> None:
    """Write gateway/tool_schemas.json after changing a tool's signature or upgrading mcp."""
    session.install("-e", ".")
    session.run(
        "python", "-c", "from cwm_gateway.server import write_tool_schemas as w; print(w())"
    )


@nox.session
def check(session: nox.Session) -> None:
    """Fail when generated/ is out of date for the given spec (drift check)."""
    session.install("-e", ".[codegen]")
    session.run("python", "-m", "codegen", "--check", *session.posargs)


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite (full-spec tests skip with a reason when ../shared/spec is absent)."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and format check over the whole tree (generated/ included)."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run(
        "ruff", "format", "--check", "codegen", "gateway", "tests", "benchmarks", "noxfile.py"
    )


@nox.session
def typecheck(session: nox.Session) -> None:
    """pyright (standard mode) over gateway/, generated/ and tests/typing/usage.py."""
    session.install("-e", ".[test]")
    session.run("python", "tests/typing/pyright_check.py", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks that print numbers (no pass/fail): codegen, imports, client, sandbox, search, policy, server."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "benchmarks", *session.posargs)
