"""The one error hierarchy of the gateway.

Every error a user or agent can see derives from :class:`CWMError` and carries a message that
says what was wrong and, where it can, what would be right. Messages never contain secrets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class CWMError(Exception):
    """Base of every error raised by cwm_gateway."""


class ConfigError(CWMError):
    """A setting is missing or malformed (the message names the setting, never its value)."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a request, found before anything was sent."""

    where: str
    """Which part: ``path``, ``method``, ``query.conditions``, ``body.summary``..."""
    message: str
    """What is wrong."""
    hint: str | None = None
    """What would be right (valid values, did-you-mean suggestions)."""

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text


@dataclass
class RequestValidationError(CWMError):
    """A request failed validation before it was sent; nothing left the process."""

    problems: list[Problem] = field(default_factory=list)
    operation_id: str | None = None

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        head = f"Request for {self.operation_id} is invalid" if self.operation_id else "Request is invalid"
        lines = [f"{head}; nothing was sent:"] + [f"- {p}" for p in self.problems]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Structured form for tool output."""
        return {
            "operation_id": self.operation_id,
            "problems": [
                {"where": p.where, "message": p.message, "hint": p.hint} for p in self.problems
            ],
        }
