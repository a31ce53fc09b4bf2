"""Why a steward's change to identities was refused: nothing is changed when one is raised."""

from __future__ import annotations

from datetime import datetime


class StewardshipError(ValueError):
    """The change cannot be made as asked (unknown record or identity, nothing to change, a rule)."""


class NotFoundError(StewardshipError):
    """The record, identity, review item or merge asked for does not exist."""


class ReasonRequired(StewardshipError):
    """A change without a usable reason (1 to 500 characters)."""


class AlreadyDecided(StewardshipError):
    """The pair has been decided already (by another steward, or a moment ago)."""

    def __init__(self, decided_by: str, decided_at: datetime, status: str) -> None:
        self.decided_by, self.decided_at, self.status = decided_by, decided_at, status
        answer = {"same": "the same person", "different": "different people"}.get(status, status)
        super().__init__(
            f"already decided by {decided_by} at {decided_at.isoformat(timespec='seconds')} ({answer}):"
            " undo that decision first to change it"
        )


class AlreadyUndone(StewardshipError):
    """The change has been undone already."""

    def __init__(self, undone_by: str, undone_at: datetime) -> None:
        self.undone_by, self.undone_at = undone_by, undone_at
        super().__init__(f"already undone by {undone_by} at {undone_at.isoformat(timespec='seconds')}")


class CitizenIdConflict(StewardshipError):
    """Two identities carrying different valid citizen IDs, merged without the explicit override."""
