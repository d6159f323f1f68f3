"""ConnectWise's business rules on writes, beyond what the schema says.

- **Tickets follow their board.** A ticket without a board goes on the default service board;
  without a status it gets the board's default status. A status must be one of the board's
  statuses (by id, or by name: "Closed" is the board's Closed status); moving a ticket to
  another board without naming a status gives it that board's default status (and clears the
  old board's type, subtype and item). A status whose
  ``closedStatus`` flag is set closes the ticket (``closedFlag`` true, ``closedDate``,
  ``closedBy``); any other status reopens it.
- **Notes say where they show.** A ticket note needs at least one of
  ``detailDescriptionFlag``, ``internalAnalysisFlag`` and ``resolutionFlag``; otherwise
  ConnectWise answers "Please choose where to display the notes in order to save this record."
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cwm_gateway.sandbox import errors
from cwm_gateway.sandbox.references import References

BOARDS = "/service/boards"
BOARD_STATUSES = "/service/boards/{}/statuses"
_NOTE_FLAGS = ("detailDescriptionFlag", "internalAnalysisFlag", "resolutionFlag")
_TICKET = "Ticket"


class Rules:
    """Applies the rules above to a document about to be stored."""

    def __init__(self, refs: References, updated_by: str) -> None:
        self.refs = refs
        self.store = refs.store
        self.updated_by = updated_by

    def apply(
        self, schema_name: str, new: dict[str, Any], old: Mapping[str, Any] | None, now: str
    ) -> None:
        """Check and complete ``new`` (replacing ``old`` when updating), then resolve its
        references. Raises ConnectWise's 400 when a rule is broken."""
        schema = self.refs.schemas.get(schema_name)
        fields = getattr(schema, "fields", {})
        if all(flag in fields for flag in _NOTE_FLAGS):
            self._note_flags(schema_name, new)
        ticket = schema_name == _TICKET and self._boards_known()
        if ticket:
            self._before_ticket_refs(new, old)
        self.refs.resolve(new, schema_name)
        if ticket:
            self._after_ticket_refs(new, old, now)

    def complete_sample(self, schema_name: str, doc: dict[str, Any]) -> None:
        """Make a generated sample record one that these rules accept (a note shows somewhere)."""
        fields = getattr(self.refs.schemas.get(schema_name), "fields", {})
        if all(flag in fields for flag in _NOTE_FLAGS):
            doc["detailDescriptionFlag"] = True

    # --- notes ------------------------------------------------------------------------------

    @staticmethod
    def _note_flags(schema_name: str, new: Mapping[str, Any]) -> None:
        if not any(new.get(flag) is True for flag in _NOTE_FLAGS):
            raise errors.invalid_object(
                schema_name,
                [
                    errors.field_error(
                        "InvalidField",
                        "Please choose where to display the notes in order to save this record.",
                        schema_name,
                        "detailDescriptionFlag",
                    )
                ],
            )

    # --- tickets ----------------------------------------------------------------------------

    def _boards_known(self) -> bool:
        return BOARDS in self.refs.seeded and BOARD_STATUSES in self.refs.seeded

    def _default_board(self) -> dict[str, Any] | None:
        boards = self.store.documents(BOARDS, "")
        service = [b for b in boards if not b.get("projectFlag") and not b.get("inactiveFlag")]
        return (service or boards or [None])[0]

    def _before_ticket_refs(self, new: dict[str, Any], old: Mapping[str, Any] | None) -> None:
        if not isinstance(new.get("board"), dict):
            board = self._default_board()
            if board is not None:
                new["board"] = {"id": board["id"]}
        moved = old is not None and new.get("board") != old.get("board")
        if moved and old is not None:
            # A ticket moved to another board keeps nothing of the old board's: without a new
            # status it takes the new board's default; type, subtype and item are cleared.
            for name in ("status", "type", "subType", "item"):
                if new.get(name) == old.get(name):
                    new.pop(name, None)

    def _after_ticket_refs(
        self, new: dict[str, Any], old: Mapping[str, Any] | None, now: str
    ) -> None:
        board = new.get("board")
        if not isinstance(board, dict) or not isinstance(board.get("id"), int):
            return
        parent = str(board["id"])
        statuses = self.store.documents(BOARD_STATUSES, parent)
        if not isinstance(new.get("status"), dict):
            default = next((s for s in statuses if s.get("defaultFlag")), None)
            default = default or (statuses[0] if statuses else None)
            if default is None:
                return
            new["status"] = {"id": default["id"]}
            self.refs.resolve(new, _TICKET)
        status_id = new["status"].get("id")
        status = next((s for s in statuses if s["id"] == status_id), None)
        if status is None:
            return
        if status.get("closedStatus"):
            was_closed = old is not None and old.get("closedFlag") is True
            new["closedFlag"] = True
            if not (was_closed and old is not None and old.get("closedDate")):
                new["closedDate"] = now
                new["closedBy"] = self.updated_by
            else:
                new["closedDate"] = old["closedDate"]
                new["closedBy"] = old.get("closedBy", self.updated_by)
        else:
            new["closedFlag"] = False
            new.pop("closedDate", None)
            new.pop("closedBy", None)
