"""Dates as the files write them."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loaders.dates import BirthDate, InvalidDate, parse_birth_date, parse_timestamp

TODAY = date(2026, 1, 1)


@given(st.dates(min_value=date(1900, 1, 1), max_value=TODAY))
def test_every_real_birth_date_reads_back_in_every_form(born: date) -> None:
    expected = BirthDate(year=born.year, month=born.month, day=born.day)
    for text in (
        born.strftime("%Y%m%d"),
        born.strftime("%Y%m%d") + "0000",
        born.isoformat(),
        born.strftime("%d/%m/%Y"),
    ):
        assert parse_birth_date(text, today=TODAY) == expected


@given(st.datetimes(min_value=datetime(1950, 1, 1), max_value=datetime(2100, 1, 1)))
def test_timestamps_read_in_compact_and_iso_forms(moment: datetime) -> None:
    minute = moment.replace(second=0, microsecond=0)
    assert parse_timestamp(minute.strftime("%Y%m%d%H%M")) == minute
    assert parse_timestamp(moment.replace(microsecond=0).isoformat()) == moment.replace(microsecond=0)


def test_year_only_births() -> None:
    assert parse_birth_date("198500000000", today=TODAY) == BirthDate(year=1985)
    assert parse_birth_date("19850000", today=TODAY).is_year_only
    assert parse_birth_date("1985", today=TODAY) == BirthDate(year=1985)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("20231345", "month 13"),
        ("20230230", "day 30 of month 2"),
        ("20300101", "impossible year 2030"),
        ("18000101", "impossible year 1800"),
        ("19850015", "a day but no month"),
        ("1985-1-1", "is not a date"),
        ("202301011260", "impossible time"),
    ],
)
def test_bad_birth_dates_say_why(raw: str, message: str) -> None:
    with pytest.raises(InvalidDate, match=message):
        parse_birth_date(raw, today=TODAY)


def test_timestamps_must_have_a_day() -> None:
    with pytest.raises(InvalidDate):
        parse_timestamp("2024")
    assert parse_timestamp("2024-03-01T08:30:00+07:00") == datetime(2024, 3, 1, 8, 30)
