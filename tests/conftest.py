"""Shared test fixtures and paths."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FULL_SPEC = ROOT.parent / "shared" / "spec" / "manage.json"
FIXTURES = ROOT / "spec" / "fixtures"
EVAL_QUERIES = ROOT.parent / "shared" / "eval" / "nl_queries.jsonl"

needs_full_spec = pytest.mark.skipif(
    not FULL_SPEC.exists(),
    reason=f"full ConnectWise spec not found at {FULL_SPEC} (CI provides ../shared/spec/manage.json)",
)
