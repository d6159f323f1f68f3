"""Pydantic v2 models: one datamodel-code-generator run, then a split into per-category modules.

datamodel-code-generator turns the component schemas into one module of classes. This module
then assigns each class a home so that a user importing one category loads only what that
category needs:

- a schema reachable from operations of exactly one category lives in that category's module;
- every other schema (shared by several categories, or used by no operation) lives in
  ``_shared``, and so does everything a ``_shared`` schema refers to, which keeps imports
  one-way (category → ``_shared``).
"""

from __future__ import annotations

import ast
import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from codegen.spec_loader import REF_PREFIX, NormalizedSpec, ref_name

SHARED_MODULE = "_shared"
BASE_IMPORT = "from cwm_generated.models._base import CWModel"


@dataclass
class ModelModules:
    sources: dict[str, str]
    """Module name (``_shared``, ``service``...) → Python source (unformatted)."""
    home: dict[str, str]
    """Spec schema name → module name."""


def _refs(schema: Any) -> set[str]:
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith(REF_PREFIX):
                found.add(ref_name(ref))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return found


def assign_modules(spec: NormalizedSpec) -> dict[str, str]:
    """Decide the home module of every schema (see the module docstring for the rule)."""
    deps = {name: _refs(schema) & spec.schemas.keys() for name, schema in spec.schemas.items()}
    users: dict[str, set[str]] = defaultdict(set)
    for op in spec.operations:
        roots = [m for m in (op.body_model, op.response_model) if m and m in spec.schemas]
        stack = list(roots)
        seen: set[str] = set()
        while stack:
            name = stack.pop()
            if name in seen:
                continue
            seen.add(name)
            users[name].add(op.category)
            stack.extend(deps[name])
    home = {
        name: (next(iter(users[name])) if len(users[name]) == 1 else SHARED_MODULE)
        for name in spec.schemas
    }
    changed = True
    while changed:
        changed = False
        for name, module in home.items():
            if module != SHARED_MODULE:
                continue
            for dep in deps[name]:
                if home[dep] != SHARED_MODULE:
                    home[dep] = SHARED_MODULE
                    changed = True
    return home


def _codegen_input(spec: NormalizedSpec) -> str:
    """An OpenAPI document of the components only, with class-safe schema names."""
    text = json.dumps(
        {
            "openapi": "3.0.1",
            "info": {"title": spec.title, "version": spec.version},
            "paths": {},
            "components": {"schemas": spec.schemas},
        }
    )
    # Dotted names would be read as module paths by datamodel-code-generator.
    for name, cls in spec.class_names.items():
        if name != cls:
            text = text.replace(f'"{REF_PREFIX}{name}"', f'"{REF_PREFIX}{cls}"')
    doc = json.loads(text)
    doc["components"]["schemas"] = {
        spec.class_names[name]: schema for name, schema in doc["components"]["schemas"].items()
    }
    return json.dumps(doc)


def run_datamodel_codegen(spec: NormalizedSpec) -> str:
    """Run datamodel-code-generator as a library and return one module of all models."""
    from datamodel_code_generator import generate
    from datamodel_code_generator.enums import DataModelType

    output = generate(
        _codegen_input(spec),
        input_file_type="openapi",
        output_model_type=DataModelType.PydanticV2BaseModel,
        target_python_version="3.11",
        base_class="cwm_generated.models._base.CWModel",
        disable_timestamp=True,
        enum_field_as_literal="all",
        use_standard_collections=True,
        use_union_operator=True,
        field_constraints=True,
        # Field(default=None, ...) rather than Field(None, ...): type checkers read only the
        # keyword as a default, so constructors would otherwise demand every optional field.
        use_default_kwarg=True,
        formatters=[],
        custom_file_header="",
    )
    if not isinstance(output, str):
        raise RuntimeError("datamodel-code-generator returned several modules; expected one")
    return output


def split_modules(spec: NormalizedSpec, source: str, header: str) -> ModelModules:
    """Split datamodel-code-generator's single module into per-category modules."""
    tree = ast.parse(source)
    lines = source.splitlines()
    imports: list[str] = []
    classes: dict[str, str] = {}
    trailers: dict[str, list[str]] = defaultdict(list)
    for node in tree.body:
        text = "\n".join(lines[node.lineno - 1 : node.end_lineno])
        if isinstance(node, ast.ImportFrom | ast.Import):
            if isinstance(node, ast.ImportFrom) and node.module == "__future__":
                continue
            imports.append(text)
        elif isinstance(node, ast.ClassDef):
            classes[node.name] = text
        else:
            # e.g. ``X.model_rebuild()`` emitted for self-references: keep it beside X.
            owner = text.split(".", 1)[0].strip()
            trailers[owner].append(text)

    home = assign_modules(spec)
    by_class = {spec.class_names[name]: name for name in spec.schemas}
    missing = set(by_class) - set(classes)
    if missing:
        raise RuntimeError(f"datamodel-code-generator did not emit classes for: {sorted(missing)}")
    deps = {
        spec.class_names[name]: sorted(
            spec.class_names[d] for d in _refs(schema) if d in by_class.values()
        )
        for name, schema in spec.schemas.items()
    }

    modules: dict[str, list[str]] = defaultdict(list)
    for cls in sorted(classes):
        modules[home[by_class[cls]]].append(cls)

    sources: dict[str, str] = {}
    for module, members in sorted(modules.items()):
        cross: dict[str, set[str]] = defaultdict(set)
        for cls in members:
            for dep in deps[cls]:
                dep_module = home[by_class[dep]]
                if dep_module != module:
                    cross[dep_module].add(dep)
        parts = [header, "from __future__ import annotations", *imports, BASE_IMPORT]
        for dep_module, names in sorted(cross.items()):
            parts.append(
                f"from cwm_generated.models.{dep_module} import {', '.join(sorted(names))}"
            )
        body = []
        for cls in members:
            body.append(classes[cls])
            body.extend(trailers.get(cls, []))
        sources[module] = "\n".join(parts) + "\n\n\n" + "\n\n\n".join(body) + "\n"
    return ModelModules(sources=sources, home=home)
