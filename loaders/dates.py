"""Dates as the insurance files write them: yyyyMMdd, yyyyMMddHHmm, and year-only births (yyyy0000[0000]).

FHIR and CSV sources also use ISO 8601 (yyyy, yyyy-MM, yyyy-MM-dd, yyyy-MM-ddTHH:mm[:ss][zone]).
All times are local Vietnamese wall-clock times (the files carry no zone); stored without a zone.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, model_validator

_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2}))?", re.ASCII)
_ISO = re.compile(
    r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?)?)?",
    re.ASCII,
)

_DMY = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})", re.ASCII)

EARLIEST_YEAR = 1880


class InvalidDate(ValueError):
    """A date that is malformed or impossible; the message says why."""


class BirthDate(BaseModel):
    """A birth date whose precision may be the year alone (month and day unknown)."""

    model_config = ConfigDict(frozen=True)

    year: int
    month: int | None = None
    day: int | None = None

    @model_validator(mode="after")
    def _check(self) -> BirthDate:
        if self.day is not None and self.month is None:
            raise ValueError("a birth date with a day needs a month")
        if self.month is not None:
            date(self.year, self.month, self.day or 1)
        return self

    @property
    def is_year_only(self) -> bool:
        return self.month is None

    def __str__(self) -> str:
        if self.month is None:
            return f"{self.year:04d}"
        if self.day is None:
            return f"{self.year:04d}-{self.month:02d}"
        return f"{self.year:04d}-{self.month:02d}-{self.day:02d}"


def _calendar(year: int, month: int, day: int, raw: str) -> date:
    if month < 1 or month > 12:
        raise InvalidDate(f"{raw!r} is not a valid date (month {month})")
    try:
        return date(year, month, day)
    except ValueError:
        raise InvalidDate(f"{raw!r} is not a valid date (day {day} of month {month})") from None


def _plausible_year(year: int, raw: str, today: date) -> None:
    if year < EARLIEST_YEAR or year > today.year:
        raise InvalidDate(f"{raw!r} has an impossible year {year}")


def parse_birth_date(raw: str, *, today: date | None = None) -> BirthDate:
    """Birth dates in compact (XML 130), ISO or dd/mm/yyyy form; year-only when month and day are zero."""
    today = today or date.today()
    text = raw.strip()
    if (m := _COMPACT.fullmatch(text)) is not None:
        year, month, day = int(m[1]), int(m[2]), int(m[3])
        if m[4] is not None:
            _clock(int(m[4]), int(m[5]), raw)
    elif (m := _ISO.fullmatch(text)) is not None:
        year, month, day = int(m[1]), int(m[2] or 0), int(m[3] or 0)
    elif (m := _DMY.fullmatch(text)) is not None:
        year, month, day = int(m[3]), int(m[2]), int(m[1])
    else:
        raise InvalidDate(f"{raw!r} is not a date (expected yyyyMMdd, yyyyMMddHHmm or yyyy-MM-dd)")
    _plausible_year(year, raw, today)
    if month == 0:
        if day != 0:
            raise InvalidDate(f"{raw!r} has a day but no month")
        return BirthDate(year=year)
    if day == 0:
        _calendar(year, month, 1, raw)
        return BirthDate(year=year, month=month)
    born = _calendar(year, month, day, raw)
    if born > today:
        raise InvalidDate(f"{raw!r} is in the future")
    return BirthDate(year=year, month=month, day=day)


def _clock(hour: int, minute: int, raw: str) -> None:
    if hour > 23 or minute > 59:
        raise InvalidDate(f"{raw!r} has an impossible time {hour:02d}:{minute:02d}")


def parse_timestamp(raw: str) -> datetime:
    """A point in time: yyyyMMddHHmm / yyyyMMdd (XML 130) or ISO 8601 (FHIR, CSV); zone dropped."""
    text = raw.strip()
    if (m := _COMPACT.fullmatch(text)) is not None:
        hour, minute = (int(m[4]), int(m[5])) if m[4] is not None else (0, 0)
        day = _calendar(int(m[1]), int(m[2]), int(m[3]), raw)
        second = 0
    elif (m := _ISO.fullmatch(text)) is not None and m[3] is not None:
        day = _calendar(int(m[1]), int(m[2]), int(m[3]), raw)
        hour, minute, second = int(m[4] or 0), int(m[5] or 0), int(m[6] or 0)
    else:
        raise InvalidDate(f"{raw!r} is not a date-time (expected yyyyMMddHHmm or yyyy-MM-ddTHH:mm)")
    _clock(hour, minute, raw)
    if second > 59:
        raise InvalidDate(f"{raw!r} has an impossible time")
    if day.year < EARLIEST_YEAR:
        raise InvalidDate(f"{raw!r} has an impossible year {day.year}")
    return datetime(day.year, day.month, day.day, hour, minute, second)
