"""A spec update is a non-event: v1 → v2 of the fixture changes exactly what changed."""

from __future__ import annotations

import difflib
import json

from codegen.cli import generate
from tests.conftest import FIXTURES


def _changed_lines(old: str, new: str) -> tuple[list[str], list[str]]:
    removed, added = [], []
    for line in difflib.unified_diff(old.splitlines(), new.splitlines(), n=0, lineterm=""):
        if line.startswith(("---", "+++", "@@")):
            continue
        (added if line.startswith("+") else removed).append(line[1:])
    return removed, added


def test_v1_to_v2_diff_is_exactly_the_change():
    v1, lock1 = generate(FIXTURES / "quirks-v1.json")
    v2, lock2 = generate(FIXTURES / "quirks-v2.json")
    changed = sorted(rel for rel in set(v1) | set(v2) if v1.get(rel) != v2.get(rel))
    # Version strings live in the package docstrings and the registry; the other changes are the
    # added note POST (service ops + registry), the removed copy op, and Ticket.severity.
    assert changed == [
        "__init__.py",
        "models/__init__.py",
        "models/service.py",
        "operations/service.py",
        "registry.py",
        "schemas.py",
    ], changed

    removed, added = _changed_lines(v1["registry.py"], v2["registry.py"])
    assert any("postServiceTicketsByParentIdNotes" in line for line in added)
    assert any("postServiceTicketsByIdCopy" in line for line in removed)
    assert not any("postServiceTicketsByIdCopy" in line for line in added)
    # Nothing else in the catalog moved: every other removed/added line is version or hash.
    other = [
        line
        for line in removed + added
        if "postServiceTicketsByParentIdNotes" not in line
        and "postServiceTicketsByIdCopy" not in line
    ]
    assert all(
        ("2024." in line) or ("SPEC_SHA256" in line) or not line.strip() for line in other
    ), other

    removed, added = _changed_lines(v1["operations/service.py"], v2["operations/service.py"])
    assert any("def post_service_tickets_by_parent_id_notes(" in line for line in added)
    assert any("def post_service_tickets_by_id_copy(" in line for line in removed)

    _, added = _changed_lines(v1["schemas.py"], v2["schemas.py"])
    assert [line.strip() for line in added] == [
        "'severity': _F('string', None, None, False, True, ('Low', 'Medium', 'High'), None, False),"
    ]
    removed, added = _changed_lines(v1["models/service.py"], v2["models/service.py"])
    assert removed == [] and [line.strip() for line in added] == [
        'severity: Literal["Low", "Medium", "High"] | None = None'
    ]

    old_lock, new_lock = json.loads(lock1), json.loads(lock2)
    assert old_lock["version"] == "2024.1" and new_lock["version"] == "2024.2"
    assert new_lock["counts"]["operations"] == old_lock["counts"]["operations"]  # +1 −1
    assert new_lock["sha256"] != old_lock["sha256"]


def test_an_interrupted_write_leaves_the_previous_output_whole(tmp_path, monkeypatch):
    from pathlib import Path

    from codegen.writer import diff_files, write_files

    out = tmp_path / "generated"
    v1, _ = generate(FIXTURES / "quirks-v1.json")
    v2, _ = generate(FIXTURES / "quirks-v2.json")
    write_files(out, v1)
    real_write = Path.write_text
    calls = {"n": 0}

    def failing_write(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 3:
            raise OSError("disk full")
        return real_write(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", failing_write)
    try:
        write_files(out, v2)
    except OSError:
        pass
    else:
        raise AssertionError("the simulated failure did not happen")
    monkeypatch.undo()
    assert diff_files(out, v1) == []  # still exactly v1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["generated"]  # no staging left
    assert write_files(out, v2) and diff_files(out, v2) == []


# -- diffs that name what changed ---------------------------------------------------------------


def _registry_entries(text: str) -> dict[str, dict[str, str]]:
    """operation_id -> {field: source text} for every registry line, parsed (not pattern-matched)."""
    import ast

    entries: dict[str, dict[str, str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("_O("):
            continue
        call = ast.parse(line.rstrip(",")).body[0].value
        assert isinstance(call, ast.Call) and not call.args, f"positional fields in: {line[:80]}"
        fields = {kw.arg: ast.unparse(kw.value) for kw in call.keywords}
        entries[ast.literal_eval(fields["operation_id"])] = fields
    return entries


def _generate_changed(tmp_path, change) -> tuple[dict[str, str], dict[str, str]]:
    spec = json.loads((FIXTURES / "quirks-v1.json").read_text(encoding="utf-8"))
    before, _ = generate(FIXTURES / "quirks-v1.json")
    change(spec)
    changed_spec = tmp_path / "changed.json"
    changed_spec.write_text(json.dumps(spec), encoding="utf-8")
    after, _ = generate(changed_spec)
    return before, after


def test_a_changed_field_is_one_registry_line_naming_that_field(tmp_path):
    def change(spec):
        op = spec["paths"]["/service/tickets/{id}"]["patch"]
        op["summary"] = "Update a ticket (partial)"

    before, after = _generate_changed(tmp_path, change)
    removed, added = (
        [line for line in lines if "SPEC_SHA256" not in line]
        for lines in _changed_lines(before["registry.py"], after["registry.py"])
    )
    assert len(removed) == len(added) == 1, (removed, added)
    old, new = _registry_entries(removed[0]), _registry_entries(added[0])
    assert old.keys() == new.keys() == {"patchServiceTicketsById"}
    differing = {
        name
        for name in old["patchServiceTicketsById"].keys() | new["patchServiceTicketsById"].keys()
        if old["patchServiceTicketsById"].get(name) != new["patchServiceTicketsById"].get(name)
    }
    assert differing == {"summary"}
    assert "summary='Update a ticket (partial)'" in added[0]


def test_a_new_parameter_set_renames_no_shared_tuple(tmp_path):
    # Before, shared tuples were numbered by first use: a new one early in the file renumbered
    # every later one and the lines that referred to them.
    def change(spec):
        params = spec["paths"]["/service/tickets"]["get"]["parameters"]
        extra = {"name": "aNewFilter", "in": "query", "schema": {"type": "string"}}
        spec["paths"]["/company/aaaEarly"] = {
            "get": {
                "operationId": "getAaaEarly",
                "tags": ["Early"],
                "summary": "Get List of Early",
                "parameters": [extra, *params],
                "responses": {"200": {"description": "OK"}},
            }
        }

    before, after = _generate_changed(tmp_path, change)
    removed, added = (
        [line for line in lines if "SPEC_SHA256" not in line and line.strip()]
        for lines in _changed_lines(before["registry.py"], after["registry.py"])
    )
    assert removed == []
    assert len(added) == 2, added
    assert added[0].startswith("_Q_A_NEW_FILTER_LIST = (_P(name='aNewFilter',")
    assert "operation_id='getAaaEarly'" in added[1]
    assert "query_params=_Q_A_NEW_FILTER_LIST" in added[1]
