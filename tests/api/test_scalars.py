"""The API's DateTime text: ISO 8601 that reads back to the same time, as PostgreSQL's JSON writes it."""

from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from registry.api.graphql.scalars import iso_datetime

offsets = st.none() | st.integers(-14 * 3600, 14 * 3600).map(lambda s: timezone(timedelta(seconds=s)))


@given(st.datetimes(timezones=offsets))
def test_reads_back_to_the_same_time(value: datetime) -> None:
    assert datetime.fromisoformat(iso_datetime(value)) == value


@given(st.datetimes(timezones=offsets))
def test_fractional_seconds_only_when_there_are_some_without_trailing_zeros(value: datetime) -> None:
    text = iso_datetime(value)
    seconds = text[: text.index("T") + 9]
    fraction = text[len(seconds) :].split("+")[0].split("-")[0]
    if value.microsecond:
        assert fraction.startswith(".") and not fraction.endswith("0")
    else:
        assert fraction == ""


def test_examples() -> None:
    assert iso_datetime(datetime(2024, 5, 1, 8, 30)) == "2024-05-01T08:30:00"
    assert iso_datetime(datetime(2024, 5, 1, 8, 30, 0, 500000)) == "2024-05-01T08:30:00.5"
    vietnam = timezone(timedelta(hours=7))
    assert iso_datetime(datetime(2024, 5, 1, 8, 30, 0, 120, vietnam)) == "2024-05-01T08:30:00.00012+07:00"
