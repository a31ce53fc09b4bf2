"""Scalars whose text the API sets itself, where strawberry's own would differ."""

from __future__ import annotations

import dataclasses
import re
from datetime import date, datetime

from strawberry.exceptions import StrawberryInputCoercionError
from strawberry.schema.types.base_scalars import DateDefinition, DateTimeDefinition


def iso_datetime(value: datetime) -> str:
    """ISO 8601 with fractional seconds only when there are some, without trailing zeros.

    This is how PostgreSQL writes a timestamp in JSON, so the times the database writes
    (registry/api/graphql/encounters.py) and the ones Python writes read alike.
    """
    text = value.isoformat()
    if not value.microsecond:
        return text
    seconds, _, rest = text.partition(".")
    return f"{seconds}.{rest[:6].rstrip('0')}{rest[6:]}"


DATE_TIME = dataclasses.replace(
    DateTimeDefinition,
    description="Date with time, ISO 8601: fractional seconds only when there are some, without trailing zeros",
    serialize=iso_datetime,
)

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


# No date of a patient registry lies outside, and a resolver's date arithmetic on one (a period
# before it, the day after it) cannot leave Python's dates (years 1 to 9999).
FIRST_DATE = date(1800, 1, 1)
LAST_DATE = date(2999, 12, 31)


def parse_date(value: object) -> date:
    """A Date given by the client: yyyy-mm-dd, a day that exists, from FIRST_DATE to LAST_DATE.
    (`date.fromisoformat` would also take `20240101` and week dates such as `2024-W01-1`.) A
    refusal is the client's mistake."""
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise StrawberryInputCoercionError(f"a Date is written yyyy-mm-dd, not {_shown(value)}")
    try:
        day = date.fromisoformat(value)
    except ValueError as refused:
        raise StrawberryInputCoercionError(f"{_shown(value)} is not a date: {refused}") from None
    if not FIRST_DATE <= day <= LAST_DATE:
        raise StrawberryInputCoercionError(f"a Date is from {FIRST_DATE} to {LAST_DATE}, not {value}")
    return day


def _shown(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


DATE = dataclasses.replace(
    DateDefinition,
    description="A day, ISO 8601 yyyy-mm-dd, from 1800-01-01 to 2999-12-31",
    parse_value=parse_date,
)

SCALAR_OVERRIDES = {datetime: DATE_TIME, date: DATE}
