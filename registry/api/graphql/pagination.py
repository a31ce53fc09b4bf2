"""Opaque cursors and page sizes."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

import strawberry

from registry.api.errors import BadUserInput
from registry.api.graphql.inputs import record_id


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


def page_size(first: int, maximum: int) -> int:
    if not 1 <= first <= maximum:
        raise BadUserInput(f"`first` must be between 1 and {maximum}")
    return first


def time_cursor(at: datetime, row_id: int) -> str:
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{row_id}".encode()).decode()


def parse_time_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        at, row_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        parsed = datetime.fromisoformat(at), int(row_id)
    except (binascii.Error, UnicodeError, ValueError):
        parsed = None
    if parsed is None or not 0 < parsed[1] < 2**63:
        raise BadUserInput("the cursor is not one this API gave out")
    return parsed


def parse_id(value: strawberry.ID | str, what: str) -> int:
    """A numeric id: ASCII digits after NFKC (`int()` would also take `1_000`, ` 12 ` or Arabic-Indic digits)."""
    return record_id(value, what)
