"""Scalars whose text the API sets itself, where strawberry's own would differ."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from strawberry.schema.types.base_scalars import DateTimeDefinition


def iso_datetime(value: datetime) -> str:
    """ISO 8601 with fractional seconds only when there are some, without trailing zeros.

    This is how PostgreSQL writes a timestamp in JSON, so the times the database writes
    (registry/api/graphql/rendering.py) and the ones Python writes read alike.
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

SCALAR_OVERRIDES = {datetime: DATE_TIME}
