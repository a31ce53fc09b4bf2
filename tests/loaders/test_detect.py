"""Telling formats apart from a file's first bytes, and reading any file through one entry point."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

import pytest

from loaders.csv_write import write_csv
from loaders.detect import detect_format, peeked
from loaders.fhir_write import write_fhir_ndjson
from loaders.options import LoaderOptions, default_profile
from loaders.read import read_units
from loaders.records import FileHeader, SourceFormat, SourceRecord, UnreadableFile
from loaders.xml130_write import write_xml130
from tests.factories import make_encounter, make_patient

PROFILE = default_profile()
RECORDS = [
    SourceRecord(position=1, locator="", patient=make_patient("BN1"), encounter=make_encounter("LK1")),
    SourceRecord(position=2, locator="", patient=make_patient("BN2"), encounter=make_encounter("LK2")),
]


class Trickle(io.RawIOBase):
    """A stream that hands out a few bytes per read, as a pipe or a socket may."""

    def __init__(self, data: bytes, step: int = 5) -> None:
        self._data = io.BytesIO(data)
        self._step = step

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self._data.read(min(len(buffer), self._step))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def fhir_file() -> bytes:
    out = io.BytesIO()
    write_fhir_ndjson(RECORDS, out, PROFILE)
    return out.getvalue()


def csv_file(**options: Any) -> bytes:
    out = io.BytesIO()
    write_csv(RECORDS, out, PROFILE, **options)
    return out.getvalue()


def xml130_file() -> bytes:
    out = io.BytesIO()
    write_xml130(RECORDS, out, facility_code="27001", created_at=datetime(2025, 11, 10, 9, 0))
    return out.getvalue()


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b'<?xml version="1.0" encoding="utf-8"?>\n<GIAMDINHHS><THONGTINDONVI>', SourceFormat.XML130),
        (b"\xef\xbb\xbf  \r\n<GIAMDINHHS>", SourceFormat.XML130),
        (b'{"resourceType":"Bundle"', SourceFormat.FHIR),
        (b'\xef\xbb\xbf\n\n  {\n  "resourceType": "Bundle"', SourceFormat.FHIR),
        ("Mã BN;Họ tên;Ngày sinh\r\nBN1;A;1990\r\n".encode(), SourceFormat.CSV),
        (b"\xef\xbb\xbfpatient_id,full_name,dob\n", SourceFormat.CSV),
        (b'"ma_bn","ho_ten"', SourceFormat.CSV),
        ("ma_bn,Họ tên".encode()[:-1], SourceFormat.CSV),  # the head may end inside a character
    ],
)
def test_each_format_is_told_from_its_start(head: bytes, expected: SourceFormat) -> None:
    assert detect_format(head) == expected


@pytest.mark.parametrize(
    ("head", "message"),
    [
        (b"", "the file is empty"),
        (b" \r\n\t", "the file is empty"),
        (b"<html><body>", "XML without the GIAMDINHHS envelope"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "starts with"),
        (b"hello world\nsecond line", "starts with 'hello world'"),
        (b"ten,tuoi\nAn,3\n", "starts with 'ten,tuoi'"),
    ],
)
def test_garbage_is_not_a_known_format(head: bytes, message: str) -> None:
    with pytest.raises(UnreadableFile, match=f"not a known format: {message}"):
        detect_format(head)


def test_a_vendor_csv_column_is_recognised_with_the_vendor_profile() -> None:
    head = b"so_ho_so;ten_day_du\n"
    with pytest.raises(UnreadableFile):
        detect_format(head)
    vendor = PROFILE.overridden_by({"csv": {"local_id": ["so_ho_so"]}})
    assert detect_format(head, profile=vendor) == SourceFormat.CSV


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (xml130_file, SourceFormat.XML130),
        (fhir_file, SourceFormat.FHIR),
        (csv_file, SourceFormat.CSV),
        (lambda: csv_file(english=True, delimiter=";", bom=True), SourceFormat.CSV),
    ],
)
def test_read_units_dispatches_on_the_detected_format(make: Any, expected: SourceFormat) -> None:
    stream = io.BytesIO(make())
    items = list(read_units(stream, LoaderOptions(facility_code="27001")))
    assert isinstance(items[0], FileHeader) and items[0].format == expected
    assert [item.patient.local_id for item in items[1:] if isinstance(item, SourceRecord)] == ["BN1", "BN2"]
    assert not stream.closed  # the caller's stream is the caller's to close


def test_a_stream_delivering_a_few_bytes_at_a_time_is_detected_and_read_whole() -> None:
    items = list(read_units(Trickle(fhir_file()), LoaderOptions()))  # type: ignore[arg-type]
    assert [item.locator for item in items[1:]] == ["line 1", "line 2"]  # the NDJSON sniff saw two lines


def test_the_declared_format_overrides_detection() -> None:
    with pytest.raises(UnreadableFile, match="not JSON"):
        list(read_units(io.BytesIO(csv_file()), LoaderOptions(format=SourceFormat.FHIR)))


def test_a_file_of_no_known_format_is_unreadable() -> None:
    with pytest.raises(UnreadableFile, match="not a known format"):
        list(read_units(io.BytesIO(b"%PDF-1.7\n"), LoaderOptions()))


def test_peeking_returns_the_head_and_a_stream_from_the_start() -> None:
    head, stream = peeked(Trickle(b"0123456789"), 4)  # type: ignore[arg-type]
    assert head == b"0123"
    assert stream.read() == b"0123456789"
    head, stream = peeked(io.BytesIO(b"ab"), 4)
    assert (head, stream.read()) == (b"ab", b"ab")
