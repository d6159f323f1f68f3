"""ConnectWise's ``conditions`` query language: parse, check, evaluate, build.

ConnectWise list endpoints filter with a small SQL-like language passed as text, e.g.
``status/name = "Open" and company/identifier like "Ab%"``. A mistake in it (a misspelt field,
an unquoted string, ``==``) only shows up as an opaque 400 from the server, so this module
checks the text against the generated field graph before anything is sent, and offers a builder
that produces correctly escaped text from Python values.

The AST is a handful of frozen dataclasses (:class:`Compare`, :class:`In`, :class:`And`,
:class:`Or`, :class:`Not`). Literal values are ``str``, ``int``, ``Decimal`` (non-integral
numbers, so they render exactly as written), ``bool``, ``None`` and ``datetime``.
"""

from cwm_gateway.conditions.builder import Cond, and_, contains, in_, like, not_, or_
from cwm_gateway.conditions.checks import (
    check_child_conditions,
    check_custom_field_conditions,
    check_field_paths,
    check_fields,
    check_order_by,
    field_paths,
)
from cwm_gateway.conditions.evaluate import evaluate
from cwm_gateway.conditions.syntax import (
    COMPARE_OPS,
    And,
    Compare,
    ConditionSyntaxError,
    Expr,
    In,
    Not,
    Or,
    Value,
    parse,
    to_text,
)

__all__ = [
    "COMPARE_OPS",
    "And",
    "Compare",
    "Cond",
    "ConditionSyntaxError",
    "Expr",
    "In",
    "Not",
    "Or",
    "Value",
    "and_",
    "check_child_conditions",
    "check_custom_field_conditions",
    "check_field_paths",
    "check_fields",
    "check_order_by",
    "contains",
    "evaluate",
    "field_paths",
    "in_",
    "like",
    "not_",
    "or_",
    "parse",
    "to_text",
]
