"""Python names for spec names: class names for schemas, function and argument names for operations."""

from __future__ import annotations

import keyword
import re

_PLURAL_ACRONYM = re.compile(r"([A-Z]{2,})s(?=[A-Z0-9_]|$)")
_WORD_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def snake_case(name: str) -> str:
    """``getServiceTicketsById`` → ``get_service_tickets_by_id``; safe as an identifier."""
    text = re.sub(r"[^0-9A-Za-z]+", "_", name)
    # A plural acronym is one word: SLAs → slas, KPIs → kpis (not sl_as, kp_is).
    text = _PLURAL_ACRONYM.sub(lambda m: m.group(1) + "S", text)
    text = _WORD_BOUNDARY.sub("_", text).lower().strip("_")
    text = re.sub(r"_+", "_", text) or "_"
    if text[0].isdigit():
        text = "_" + text
    if keyword.iskeyword(text) or text in {"type", "id", "list", "format", "filter"}:
        # Builtin shadowing is harmless in a keyword-only signature but confuses readers.
        text += "_"
    return text


def class_name_for(schema_name: str) -> str:
    """``Agreement.Adjustment`` → ``AgreementAdjustment``; keeps already-valid names unchanged."""
    parts = [p for p in re.split(r"[^0-9A-Za-z]+", schema_name) if p]
    name = "".join(p[0].upper() + p[1:] for p in parts) or "Model"
    return "_" + name if name[0].isdigit() else name


def function_name_for(operation_id: str) -> str:
    """Function name of an operation in its category module."""
    return snake_case(operation_id)
