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
