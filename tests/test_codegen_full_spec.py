"""Tests of the committed generated package against the full ConnectWise spec."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from typing import Any
from urllib.parse import quote

import pytest
from pydantic import ValidationError

from cwm_generated.models import load_model
from cwm_generated.registry import BY_ID, CATEGORIES, OPERATIONS, SPEC_VERSION
from cwm_generated.schemas import SCHEMAS
from tests.conftest import FULL_SPEC, ROOT, needs_full_spec

pytestmark = needs_full_spec


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return json.loads(FULL_SPEC.read_text(encoding="utf-8"))


def test_registry_holds_exactly_the_specs_operations(spec):
    expected = {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }
    got = [(op.method, op.spec_path) for op in OPERATIONS]
    assert len(got) == len(set(got)) == 3053
    assert set(got) == expected
    assert len(BY_ID) == 3053
    assert SPEC_VERSION == spec["info"]["version"]


def test_every_operation_and_model_module_imports():
    for category in CATEGORIES:
        module = importlib.import_module(f"cwm_generated.operations.{category}")
        for op in OPERATIONS:
            if op.category == category:
                assert callable(getattr(module, op.function)), op.operation_id
    for schema in SCHEMAS.values():
        cls = load_model(schema.name)
        assert cls.__name__ == schema.class_name


def test_every_operation_function_puts_each_argument_where_the_registry_says():
    """The functions hand their arguments to ``build`` by name (``locals()``): each one must
    land in its own path segment or query parameter, the body and files as they were given."""
    for category in CATEGORIES:
        module = importlib.import_module(f"cwm_generated.operations.{category}")
        for op in (op for op in OPERATIONS if op.category == category):
            params = (*op.path_params, *op.query_params)
            values: dict[str, Any] = {p.py_name: f"v {i}/{p.name}" for i, p in enumerate(params)}
            if op.body_kind is not None:
                values["body"] = {"marker": op.operation_id}
            if op.body_kind == "multipart":
                values["files"] = {"file": ("a.txt", b"x", "text/plain")}
            request = getattr(module, op.function)(**values)
            path = op.path
            for p in op.path_params:
                path = path.replace("{" + p.name + "}", quote(values[p.py_name], safe=""))
            assert request.path == path, op.operation_id
            assert request.params == {p.name: values[p.py_name] for p in op.query_params}
            assert request.body == values.get("body"), op.operation_id
            assert request.files == values.get("files"), op.operation_id
            unset = getattr(module, op.function)(
                **{p.py_name: values[p.py_name] for p in op.path_params if p.required}
                | {p.py_name: values[p.py_name] for p in op.query_params if p.required}
                | ({"body": values["body"]} if op.body_required else {})
            )
            assert unset.params == {
                p.name: values[p.py_name] for p in op.query_params if p.required
            }, op.operation_id


def _sample(schema_name: str, depth: int = 0) -> dict[str, Any]:
    """A valid instance: every required field, recursively, with a value of the right type."""
    out: dict[str, Any] = {}
    for name, field in SCHEMAS[schema_name].fields.items():
        if field.required:
            out[name] = _value(field, depth)
    return out


def _value(field, depth: int) -> Any:
    if field.enum:
        return field.enum[0]
    if field.type == "object" and field.ref:
        return _sample(field.ref, depth + 1) if depth < 6 else {}
    if field.type == "array":
        return [_sample(field.ref, depth + 1)] if field.ref and depth < 6 else []
    if field.format == "date-time":
        return "2025-01-02T03:04:05Z"
    if field.format == "date":
        return "2025-01-02"
    if field.format == "uuid":
        return "7f0e2b4c-9a7e-4d7e-8a55-2f3d1c0b9e11"
    return {"string": "x", "integer": 1, "number": 1.5, "boolean": True}.get(field.type, "x")


_WRONG = {"string": 12345, "integer": "not-a-number", "number": "NaN-ish", "boolean": "maybe"}


def _body_models() -> list[str]:
    return sorted(
        {op.body_model for op in OPERATIONS if op.body_model and op.body_kind != "multipart"}
    )


@pytest.mark.parametrize("schema_name", _body_models())
def test_request_body_model_accepts_valid_and_rejects_invalid(schema_name):
    model = load_model(schema_name)
    sample = _sample(schema_name)
    model.validate_request(sample)

    fields = SCHEMAS[schema_name].fields
    typed = [n for n, f in fields.items() if f.type in _WRONG and not f.enum]
    if typed:
        name = next((n for n in typed if fields[n].required), typed[0])
        wrong = "not-a-date" if fields[name].format in ("date-time", "date") else None
        bad = {**sample, name: wrong or _WRONG[fields[name].type]}
        with pytest.raises(ValidationError):
            model.validate_request(bad)
    required = [n for n, f in fields.items() if f.required]
    if required:
        missing = {k: v for k, v in sample.items() if k != required[0]}
        with pytest.raises(ValidationError):
            model.validate_request(missing)
    with pytest.raises(ValidationError):
        model.validate_request({**sample, "noSuchFieldAnywhere": 1})
    # A response with the same unknown field parses and keeps it.
    assert model.model_validate({**sample, "noSuchFieldAnywhere": 1}).model_extra == {
        "noSuchFieldAnywhere": 1
    }


def test_drift_check_passes_against_committed_output():
    result = subprocess.run(
        [sys.executable, "-m", "codegen", "--spec", str(FULL_SPEC), "--check", "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_registry_imports_no_models_and_models_load_per_category():
    probe = (
        "import json, sys\n"
        "import cwm_generated.registry\n"
        "assert not [m for m in sys.modules if m.startswith('cwm_generated.models')], 'models'\n"
        "assert 'pydantic' not in sys.modules, 'pydantic'\n"
        "from cwm_generated.models import load_model\n"
        "load_model('ServiceNote')\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('cwm_generated.models.'))\n"
        "print(json.dumps(loaded))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert "cwm_generated.models.finance" not in loaded
    assert set(loaded) <= {
        "cwm_generated.models._base",
        "cwm_generated.models._shared",
        "cwm_generated.models.service",
    }
