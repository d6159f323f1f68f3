"""Snapshot tests: the generated package for the fixture specs, as reviewable text.

Set UPDATE_SNAPSHOTS=1 to rewrite the snapshots after an intended generator change, then
review the diff like any other code change.
"""

from __future__ import annotations

import difflib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from codegen.cli import generate
from tests.conftest import FIXTURES, ROOT

SNAPSHOTS = Path(__file__).parent / "snapshots"
FIXTURE_NAMES = sorted(p.stem for p in FIXTURES.glob("*.json"))


@pytest.fixture(scope="module")
def outputs() -> dict[str, tuple[dict[str, str], str]]:
    return {name: generate(FIXTURES / f"{name}.json") for name in FIXTURE_NAMES}


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_generated_output_matches_snapshot(name, outputs):
    files, lock = outputs[name]
    files = {**files, "manage.lock.json": lock}
    snap_dir = SNAPSHOTS / name
    if os.environ.get("UPDATE_SNAPSHOTS"):
        for old in snap_dir.rglob("*"):
            if old.is_file():
                old.unlink()
        for rel, text in files.items():
            (snap_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            (snap_dir / rel).write_text(text, encoding="utf-8")
    expected = {
        p.relative_to(snap_dir).as_posix(): p.read_text(encoding="utf-8")
        for p in snap_dir.rglob("*")
        if p.is_file()
    }
    assert sorted(files) == sorted(expected), "set of generated files changed"
    for rel, text in files.items():
        if text != expected[rel]:
            diff = "".join(
                difflib.unified_diff(
                    expected[rel].splitlines(True), text.splitlines(True), rel, rel, n=2
                )
            )
            pytest.fail(f"{name}/{rel} differs from its snapshot:\n{diff[:4000]}")


def test_generation_is_deterministic():
    first, lock1 = generate(FIXTURES / "quirks-v1.json")
    second, lock2 = generate(FIXTURES / "quirks-v1.json")
    assert first == second and lock1 == lock2


def test_fixture_package_imports_and_normalizes_quirks(tmp_path):
    """Generate the quirks fixture into a scratch package and exercise it in a subprocess."""
    out = tmp_path / "cwm_generated"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "codegen",
            "--spec",
            str(FIXTURES / "quirks-v1.json"),
            "--out",
            str(out),
            "--quiet",
        ],
        cwd=ROOT,
        check=True,
    )
    probe = r"""
import json
from cwm_generated.registry import OPERATIONS, BY_ID
from cwm_generated.models import load_model
from cwm_generated.operations import service, system, finance, company
paths = {(o.method, o.path) for o in OPERATIONS}
out = {
  "truncated": ("GET", "/system/members/{memberIdentifier}") in paths,
  "double_id": ("GET", "/procurement/catalog/{parentId}/vendors/{id}") in paths,
  "trailing": ("GET", "/service/tickets/{parentId}/notes") in paths,
  "moved_param": [p.name for p in BY_ID["getSystemMembersByIdImage"].query_params],
  "dotted": load_model("Agreement.Adjustment").__name__,
  "multipart": BY_ID["postSystemDocuments"].body_kind,
  "binary": BY_ID["getSystemMembersByIdImage"].response_kind,
  "status_207": BY_ID["postCompanyConfigurationsBulk"].success_status,
  "status_default": BY_ID["postProjectTicketNoteByIdMarkAs"].success_status,
  "risk": {o.operation_id: o.risk for o in OPERATIONS},
  "spec": service.get_service_tickets_by_id(id_=7, fields="id").path,
  "summary": BY_ID["getServiceTickets"].summary,
  "patch_value": load_model("PatchOperation").model_validate(
      {"op": "replace", "path": "summary", "value": "x"}).value,
}
try:
    load_model("Ticket").model_validate({"summary": "x" * 101, "company": {"id": 1}})
    out["max_length"] = "accepted"
except Exception as exc:
    out["max_length"] = type(exc).__name__
print(json.dumps(out))
"""
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout)
    assert got["truncated"] and got["double_id"] and got["trailing"]
    assert got["moved_param"] == ["useDefaultFlag"]
    assert got["dotted"] == "AgreementAdjustment"
    assert got["multipart"] == "multipart"
    assert got["binary"] == "binary"
    assert got["status_207"] == 207 and got["status_default"] == 200
    assert got["risk"]["deleteServiceTicketsById"] == "Destructive"
    assert got["risk"]["postFinanceAgreementsByParentIdAdjustments"] == "Financial"
    assert got["risk"]["postServiceTicketsByIdCopy"] == "Execute"
    assert got["risk"]["postServiceTickets"] == "Write"
    assert got["risk"]["getServiceTickets"] == "Read"
    assert got["spec"] == "/service/tickets/7"
    assert got["summary"] == "Get List of Ticket"
    assert got["patch_value"] == "x"
    assert got["max_length"] == "ValidationError"
