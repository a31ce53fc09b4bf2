"""Clinic CSV: round trips through the writer, header variants, vendor column names, every rejection."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import BinaryIO

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loaders.csv_clinic import folded, read_csv
from loaders.csv_write import write_csv
from loaders.dates import BirthDate
from loaders.options import LoaderOptions, default_profile
from loaders.records import (
    Diagnosis,
    FileHeader,
    Reject,
    SourceFormat,
    SourceRecord,
    UnreadableFile,
)
from tests.factories import citizen_id, make_patient
from tests.loaders.test_fhir import (
    GROWTH_ALLOWED,
    GeneratedFile,
    Item,
    peak_memory,
    relocated,
    source_records,
)

PROFILE = default_profile()
DEFAULT_OPTIONS = LoaderOptions()
CCCD = citizen_id(sex=2, year=1990)


def read_text(
    text: str, options: LoaderOptions = DEFAULT_OPTIONS, *, encoding: str = "utf-8"
) -> list[SourceRecord | Reject]:
    return read_bytes(text.encode(encoding), options)


def read_bytes(data: bytes, options: LoaderOptions = DEFAULT_OPTIONS) -> list[SourceRecord | Reject]:
    items = list(read_csv(io.BytesIO(data), options))
    assert items[0] == FileHeader(format=SourceFormat.CSV, facility_code=options.facility_code)
    return items[1:]  # type: ignore[return-value]


def only_record(items: list[SourceRecord | Reject]) -> SourceRecord:
    assert len(items) == 1 and isinstance(items[0], SourceRecord), items
    return items[0]


def reasons(items: list[SourceRecord | Reject]) -> tuple[str, ...]:
    assert len(items) == 1 and isinstance(items[0], Reject), items
    return items[0].reasons


# --- Round trips --------------------------------------------------------------------------------


@settings(max_examples=80, suppress_health_check=[HealthCheck.too_slow])
@given(
    records=st.lists(source_records(fhir=False), min_size=1, max_size=5),
    english=st.booleans(),
    delimiter=st.sampled_from([",", ";"]),
    bom=st.booleans(),
)
def test_records_survive_the_csv_writer_and_reader(
    records: list[SourceRecord], english: bool, delimiter: str, bom: bool
) -> None:
    out = io.BytesIO()
    write_csv(records, out, PROFILE, english=english, delimiter=delimiter, bom=bom)
    assert out.getvalue().startswith(b"\xef\xbb\xbf") == bom
    # A quoted field may hold newlines, so a row's line is found by counting, not assumed.
    read = read_bytes(out.getvalue())
    assert relocated(read, lambda n: "") == relocated(records, lambda n: "")
    assert read[0].locator == "line 2"


def test_the_header_uses_the_first_or_the_english_name() -> None:
    record = SourceRecord(position=1, locator="", patient=make_patient())
    for english, first in [
        (False, b"ma_cskcb,ma_bn,ho_ten,"),
        (True, b"facility_code,patient_id,full_name,"),
    ]:
        out = io.BytesIO()
        write_csv([record], out, PROFILE, english=english)
        assert out.getvalue().startswith(first)


# --- Headers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        "MA_CSKCB,MA_BN,HO_TEN,NGAY_SINH,GIOI_TINH,SO_CCCD",
        "Mã CSKCB,Mã BN,Họ tên,Ngày sinh,Giới tính,Số CCCD",
        "ma cskcb;ma bn;ho ten;ngay sinh;gioi tinh;so cccd",
        "Facility_Code,Patient ID,Full Name,DOB,Sex,Citizen ID",
        "\ufeffmã cơ sở;mã bệnh nhân;HỌ TÊN;ngày sinh;GIỚI TÍNH;CCCD",
    ],
)
def test_header_names_ignore_case_accents_spaces_and_underscores(header: str) -> None:
    delimiter = ";" if ";" in header else ","
    row = delimiter.join(["27001", "BN1", "Trần Thị Bình", "15/06/1990", "Nữ", CCCD])
    record = only_record(read_text(f"{header}\r\n{row}\r\n"))
    assert (record.patient.facility_code, record.patient.local_id, record.patient.full_name) == (
        "27001",
        "BN1",
        "Trần Thị Bình",
    )
    assert (record.patient.birth_date, record.patient.sex, record.patient.citizen_id) == (
        BirthDate(year=1990, month=6, day=15),
        2,
        CCCD,
    )


def test_folding_removes_accents_and_d_stroke() -> None:
    assert folded("Địa chỉ") == folded("DIA_CHI") == "diachi"


def test_quoted_fields_may_hold_newlines_and_delimiters() -> None:
    text = 'ma_bn,ho_ten,dia_chi,ma_lk\nBN1,"Lê, Văn C","Thôn 1\nxã ""Mới""",\nBN2,Đỗ D,,\n'
    items = read_text(text, LoaderOptions(facility_code="27001"))
    assert [item.locator for item in items] == ["line 2", "line 4"]
    assert isinstance(items[0], SourceRecord)
    assert items[0].patient.full_name == "Lê, Văn C"
    assert items[0].patient.address.text == 'Thôn 1 xã "Mới"'


def test_unknown_columns_are_ignored_and_blank_rows_skipped() -> None:
    text = "ma_bn,ho_ten,ghi_chu\nBN1,Ngô E,khách quen\n,,\n\nBN2,Vũ F,\n"
    items = read_text(text, LoaderOptions(facility_code="27001"))
    assert [(item.position, item.locator) for item in items] == [(1, "line 2"), (2, "line 5")]


def test_a_vendor_column_name_is_read_only_with_the_vendor_profile() -> None:
    text = "ma_kh,ho_ten\nKH7,Phạm G\n"
    with pytest.raises(UnreadableFile, match=r"missing required columns: ma_bn \(local_id\)"):
        read_text(text, LoaderOptions(facility_code="27001"))
    vendor = PROFILE.overridden_by({"csv": {"local_id": ["ma_kh", "customer_id"]}})
    record = only_record(read_text(text, LoaderOptions(facility_code="27001", profile=vendor)))
    assert record.patient.local_id == "KH7"


# --- Visits -------------------------------------------------------------------------------------


def test_a_row_with_a_visit_id_is_a_visit_and_dates_come_in_four_forms() -> None:
    header = "ma_cskcb,ma_bn,ho_ten,ngay_sinh,ma_lk,ngay_vao,ngay_ra,ma_benh_chinh,ma_benh_kt,ma_noi_den,ket_qua_dtri"
    rows = [
        "27001,BN1,Bùi H,19900615,LK1,202511030815,2025-11-05T09:30,j189,E11;i10,01929,2",
        "27001,BN2,Bùi I,1990,LK2,03/11/2025 8:15,05/11/2025,B20,,,",
        "27001,BN3,Bùi K,199000000000,LK3,20251103,,,,,",
    ]
    items = read_text("\n".join([header, *rows]))
    first, second, third = (item for item in items if isinstance(item, SourceRecord))
    assert first.encounter is not None and second.encounter is not None and third.encounter is not None
    assert first.encounter.admitted_at == datetime(2025, 11, 3, 8, 15)
    assert first.encounter.discharged_at == datetime(2025, 11, 5, 9, 30)
    assert first.encounter.diagnoses == (
        Diagnosis(code="J18.9", is_main=True),
        Diagnosis(code="E11", is_main=False),
        Diagnosis(code="I10", is_main=False),
    )
    assert (first.encounter.referred_to, first.encounter.outcome) == ("01929", 2)
    assert second.encounter.admitted_at == datetime(2025, 11, 3, 8, 15)
    assert second.encounter.discharged_at == datetime(2025, 11, 5)
    assert second.patient.birth_date == BirthDate(year=1990)
    assert third.patient.birth_date == BirthDate(year=1990)


# --- Rejections and unreadable files ------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "row", "expected"),
    [
        ("ma_bn,ho_ten", "BN1,Hồ L,extra", "3 fields, expected 2 as in the header"),
        ("ho_ten,ma_cskcb,ma_bn", "Hồ L", "1 fields, expected 3 as in the header"),
        ("ma_bn,Họ tên", "BN1,", "Họ tên: missing"),
        ("ma_bn,ho_ten,ma_cskcb", "BN1,Hồ L,2700", "ma_cskcb: "),
        ("ma_bn,ho_ten,ma_lk,ngay_vao", "BN1,Hồ L,LK1,2025-13-01", "ngay_vao: "),
        ("ma_bn,ho_ten,ma_lk,ngay_vao,ngay_ra", "BN1,Hồ L,LK1,202511030815,202511020800", "Encounter: discharge time is before"),
        ("ma_bn,ho_ten,ma_benh_chinh,ngay_vao", "BN1,Hồ L,E11,20251103", "ma_lk: missing, but the row has visit data (ngay_vao, ma_benh_chinh)"),
    ],
)  # fmt: skip
def test_a_row_with_a_problem_is_one_reject_naming_the_column_as_the_file_does(
    header: str, row: str, expected: str
) -> None:
    found = reasons(read_text(f"{header}\n{row}\n", LoaderOptions(facility_code="27001")))
    assert any(reason.startswith(expected) for reason in found), found


@pytest.mark.parametrize(
    ("header", "row", "expected"),
    [
        ("ma_bn,ho_ten,ngay_sinh", "BN1,Hồ L,31/02/1990", "ngay_sinh: "),
        ("ma_bn,ho_ten,gioi_tinh", "BN1,Hồ L,X", "gioi_tinh: 'X' is not a sex code"),
        ("ma_bn,ho_ten,ma_lk,ma_benh_chinh", "BN1,Hồ L,LK1,XYZ", "ma_benh_chinh: "),
        ("ma_bn,ho_ten,ma_lk,ket_qua_dtri", "BN1,Hồ L,LK1,9", "ket_qua_dtri: '9' is not one of 1-8"),
        ("ma_bn,ho_ten,Số CCCD", "BN1,Hồ L,02709001234", "Số CCCD: 11 digits, expected 12"),
        ("ma_bn,ho_ten,ma_the_bhyt", "BN1,Hồ L,DN427", "ma_the_bhyt: "),
        ("ma_bn,ho_ten,gioi_tinh,so_cccd", f"BN1,Hồ L,1,{CCCD}", "so_cccd: citizen ID digit 4"),
        ("ma_bn,ho_ten,ma_lk,ma_noi_den", "BN1,Hồ L,LK1,BM", "ma_noi_den: 'BM' is not a 5-character"),
    ],
)  # fmt: skip
def test_a_suspect_field_is_flagged_naming_the_column_and_the_row_stored(
    header: str, row: str, expected: str
) -> None:
    (record,) = read_text(f"{header}\n{row}\n", LoaderOptions(facility_code="27001"))
    assert isinstance(record, SourceRecord), record
    flags = record.patient.flags + (record.encounter.flags if record.encounter else ())
    assert [flag.reason[: len(expected)] for flag in flags] == [expected]


def test_a_reject_keeps_the_row_keys_and_text() -> None:
    items = read_text("ma_cskcb;ma_bn;ho_ten;ma_lk;ngay_vao\n27001;BN1;Hồ M;LK1;hôm qua\n")
    assert isinstance(items[0], Reject)
    assert (items[0].facility_code, items[0].local_id, items[0].encounter_id) == ("27001", "BN1", "LK1")
    assert items[0].excerpt == "27001;BN1;Hồ M;LK1;hôm qua"


def test_a_row_without_facility_takes_the_declared_one_and_one_of_another_spoils_the_file() -> None:
    text = "ma_cskcb,ma_bn,ho_ten\n,BN1,Hồ N\n27002,BN2,Hồ O\n"
    items = read_text(text, LoaderOptions(facility_code="27002"))
    assert [item.patient.facility_code for item in items if isinstance(item, SourceRecord)] == [
        "27002",
        "27002",
    ]
    with pytest.raises(UnreadableFile, match="line 3: facility 27002 is not the declared facility 27001"):
        read_text(text, LoaderOptions(facility_code="27001"))
    assert reasons(read_text(text)[:1]) == ("ma_cskcb: missing",)


@pytest.mark.parametrize(
    ("data", "options", "message"),
    [
        (b"", DEFAULT_OPTIONS, "the file is empty"),
        (
            b"ho_ten,ngay_sinh\nA,1990\n",
            DEFAULT_OPTIONS,
            r"missing required columns: ma_bn \(local_id\)",
        ),
        ("Mã BN,Tên\nBN1,A\n".encode(), DEFAULT_OPTIONS, r"missing required columns: ho_ten \(full_name\)"),
        (b"ma_bn,ho_ten\nBN1,A\n", DEFAULT_OPTIONS, "no facility code: the file has no ma_cskcb column"),
        (
            b"ma_bn,patient_id,ho_ten\n",
            DEFAULT_OPTIONS,
            "columns 'ma_bn' and 'patient_id' both give local_id",
        ),
        (b"ma_cskcb,ma_bn,ho_ten\n27001,BN1,Nguy\xea\n", DEFAULT_OPTIONS, r"not UTF-8 \(byte offset 36\)"),
        (
            b'ma_cskcb,ma_bn,ho_ten\n27001,BN1,"' + b"x" * 200_000,
            DEFAULT_OPTIONS,
            "line 2: not readable as CSV",
        ),
        (b"ma_cskcb,ma_bn,ho_ten\n" + b"x" * 2_000_000, DEFAULT_OPTIONS, "a line longer than"),
    ],
)
def test_a_file_that_cannot_be_read_as_a_whole_raises(
    data: bytes, options: LoaderOptions, message: str
) -> None:
    with pytest.raises(UnreadableFile, match=message):
        read_bytes(data, options)


def test_a_decode_error_past_the_first_chunk_gives_its_file_offset() -> None:
    head = b"ma_cskcb,ma_bn,ho_ten\n"
    body = "27001,BN1,Nguyễn Văn A\n".encode() * 10_000
    with pytest.raises(UnreadableFile, match=rf"not UTF-8 \(byte offset {len(head) + len(body) + 10}\)"):
        read_bytes(head + body + b"27001,BN2,\xff\n")


# --- Memory -------------------------------------------------------------------------------------


def test_memory_does_not_grow_with_the_file() -> None:
    header = b"ma_cskcb;ma_bn;ho_ten;ngay_sinh;so_cccd;dia_chi;ma_lk;ngay_vao;ma_benh_chinh\n"
    row = f'27001;BN1;Nguyễn Thị Hoa;19900615;{CCCD};"Thôn 1\nxã A";LK1;202511030815;E11\n'.encode()

    def generated(count: int) -> Callable[[], BinaryIO]:
        return lambda: GeneratedFile(header, row, count)  # type: ignore[return-value]

    def read(stream: BinaryIO) -> Iterator[Item]:
        return read_csv(stream, DEFAULT_OPTIONS)

    peak_memory(read, generated(20))  # warm caches before measuring
    small_count, small_peak = peak_memory(read, generated(200))
    large_count, large_peak = peak_memory(read, generated(2000))
    assert (small_count, large_count) == (201, 2001)
    assert large_peak < small_peak + GROWTH_ALLOWED, (small_peak, large_peak)
