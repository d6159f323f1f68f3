"""Types IDEs see (#13): pyright (standard mode) is clean on gateway/, generated/ and
tests/typing/usage.py, and infers the types the usage file's comments state.

Each ``reveal_type(...)  # T`` line of the usage file is checked: pyright must report type T.
Skips with the reason when pyright cannot run here (no pyright package, no Node.js); under
CI=true that is a failure instead.
"""

from __future__ import annotations

import os
import re

import pytest

from tests.typing.pyright_check import USAGE, PyrightUnavailable, run

_REVEALED = re.compile(r'Type of "(?P<expr>.*)" is "(?P<type>.*)"\Z', re.S)


#: What the suite checks: all of gateway/, and of generated/ every kind of module the
#: templates make (one category of each kind: the others are the same templates with other
#: data). ``nox -s typecheck`` checks all of generated/ (two more minutes).
GENERATED = [
    "__init__.py",
    "_runtime.py",
    "types.py",
    "registry.py",
    "schemas.py",
    "models/__init__.py",
    "models/_base.py",
    "models/_shared.py",
    "models/time.py",
    "operations/__init__.py",
    "operations/time.py",
]


@pytest.fixture(scope="module")
def report():
    try:
        return run(["cwm_gateway", *(f"cwm_generated/{rel}" for rel in GENERATED), str(USAGE)])
    except PyrightUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"pyright must run in CI: {exc}")
        pytest.skip(str(exc))


def _expected() -> dict[int, str]:
    """Line number (0-based, as pyright reports) -> the type the comment states."""
    expected = {}
    for i, line in enumerate(USAGE.read_text(encoding="utf-8").splitlines()):
        if "reveal_type(" in line and "  # " in line:
            expected[i] = line.rsplit("  # ", 1)[1].strip()
    return expected


def test_pyright_is_clean_on_the_packages_and_the_usage_file(report):
    problems = [
        f"{d['file']}:{d['range']['start']['line'] + 1}: {d['message']}"
        for d in report["generalDiagnostics"]
        if d["severity"] in ("error", "warning")
    ]
    assert problems == [], "\n".join(problems)
    assert report["summary"]["filesAnalyzed"] >= 80


def test_the_usage_file_has_the_types_it_states(report):
    revealed = {}
    for d in report["generalDiagnostics"]:
        if d["file"] == str(USAGE) and d["severity"] == "information":
            match = _REVEALED.match(d["message"])
            if match:
                revealed[d["range"]["start"]["line"]] = match["type"]
    expected = _expected()
    assert len(expected) >= 20
    assert revealed == expected


def test_every_model_has_the_stable_import_path_at_run_time_and_for_checkers():
    """``from cwm_generated.models import X`` works for every model, whichever module defines
    it, and the names type checkers see (the TYPE_CHECKING re-exports) are exactly those."""
    import ast
    import importlib

    import cwm_generated.models as models

    classes = {cls for _, cls in models.INDEX.values()}
    for module, cls in models.INDEX.values():
        assert getattr(models, cls) is getattr(
            importlib.import_module(f"cwm_generated.models.{module}"), cls
        )
    tree = ast.parse(open(models.__file__, encoding="utf-8").read())
    exported = {
        alias.asname
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and (node.module or "").startswith("cwm_generated.models.")
        and node.module != "cwm_generated.models._base"
        for alias in node.names
        if alias.asname == alias.name
    }
    assert exported == classes
