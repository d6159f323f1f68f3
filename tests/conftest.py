"""Shared test fixtures and paths."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import settings

# Speed is measured by the benchmarks, never by tests: no per-example deadline, so a loaded CI
# machine cannot turn a slow first example (a lazily built index) into a failure.
settings.register_profile("cwm", deadline=None)
settings.load_profile("cwm")

ROOT = Path(__file__).resolve().parent.parent
FULL_SPEC = ROOT.parent / "shared" / "spec" / "manage.json"
FIXTURES = ROOT / "spec" / "fixtures"
EVAL_QUERIES = ROOT.parent / "shared" / "eval" / "nl_queries.jsonl"

needs_full_spec = pytest.mark.skipif(
    not FULL_SPEC.exists(),
    reason=f"full ConnectWise spec not found at {FULL_SPEC} (CI provides ../shared/spec/manage.json)",
)


POSTGRES_URL_ENV = "CWM_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


def postgres_url() -> str:
    """The PostgreSQL the team tests use; skips (fails under CI=true) when unreachable."""
    import os

    url = os.environ.get(POSTGRES_URL_ENV, DEFAULT_POSTGRES_URL)
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # missing driver or server
        why = f"PostgreSQL not reachable at {url} ({type(exc).__name__}: {exc}); set {POSTGRES_URL_ENV}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(why)
        pytest.skip(why)
    return url


@pytest.fixture
def pg_state_url():
    """A state URL on a schema of its own, dropped afterwards (parallel runs never collide)."""
    import uuid

    import psycopg

    base = postgres_url()
    schema = f"cwm_test_{uuid.uuid4().hex[:12]}"
    sep = "&" if "?" in base else "?"
    yield f"{base}{sep}schema={schema}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
