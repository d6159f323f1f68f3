"""The README's module table is the dependency order of gateway/: a module imports only from
its own row or rows below it, and nothing imports the server or the CLI."""

from __future__ import annotations

import ast
import re

from tests.conftest import ROOT


def _rows() -> list[list[str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text.split("| module | job |", 1)[1].split("\n\n", 1)[0]
    rows = []
    for line in table.splitlines()[2:]:
        first_cell = line.split("|")[1]
        rows.append([name.rstrip("/") for name in re.findall(r"`([^`]+)`", first_cell)])
    return rows


def test_gateway_imports_follow_the_documented_layers():
    rows = _rows()
    rank = {name: i for i, row in enumerate(rows) for name in row}
    modules = {
        p.stem if p.parent.name == "gateway" else p.parent.name
        for p in (ROOT / "gateway").rglob("*.py")
    }
    modules.discard("__init__")
    assert modules <= set(rank), f"modules missing from the README table: {modules - set(rank)}"
    upward = []
    for path in (ROOT / "gateway").rglob("*.py"):
        owner = path.stem if path.parent.name == "gateway" else path.parent.name
        if owner == "__init__":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("cwm_gateway."):
                dep = node.module.split(".")[1]
                if dep != owner and rank[dep] < rank[owner]:
                    upward.append(f"{path.relative_to(ROOT)} imports {dep}")
    assert upward == []


def test_the_policy_packages_lazy_exports_match_what_type_checkers_see():
    """``cwm_gateway.policy`` loads its names on first use (the engine waits for the first call),
    from its submodules' public names; each of its TYPE_CHECKING imports (what IDEs see) must be
    one of them and resolve to the same object."""
    import cwm_gateway.policy as policy

    tree = ast.parse((ROOT / "gateway" / "policy" / "__init__.py").read_text(encoding="utf-8"))
    static = {
        alias.asname or alias.name: node.module.rsplit(".", 1)[1]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("cwm_gateway.")
        for alias in node.names
    }
    for name, module in static.items():
        assert module in policy._SUBMODULES
        assert name in __import__(f"cwm_gateway.policy.{module}", fromlist=["__all__"]).__all__
        assert getattr(policy, name) is getattr(
            __import__(f"cwm_gateway.policy.{module}", fromlist=[name]), name
        )
