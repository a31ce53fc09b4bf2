"""Clinic CSV: fields split over several columns, composed as the profile says ([csv.parts], [csv.compose])."""

from __future__ import annotations

import csv
import io
import unicodedata
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loaders.csv_clinic import match_columns
from loaders.detect import detect_format
from loaders.options import LoaderOptions, ProfileError, default_profile, load_profile
from loaders.records import SourceFormat, SourceRecord, UnreadableFile
from loaders.text import clean_text
from tests.loaders.test_csv import only_record, read_text, reasons

PROFILE = default_profile()
AT_27001 = LoaderOptions(facility_code="27001")


def full_names(text: str, options: LoaderOptions = AT_27001) -> list[str]:
    return [item.patient.full_name for item in read_text(text, options) if isinstance(item, SourceRecord)]


# --- The default shapes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "row"),
    [
        ("Mã BN,Họ và tên đệm,Tên", "BN1,Nguyễn Thị,Hoa"),
        ("MA_BN;HO_TEN_DEM;TEN", "BN1;NGUYỄN THỊ;HOA"),
        ("ma_bn,ho_dem,ten", "BN1,Nguyễn Thị,Hoa"),
        ("Mã BN,Họ và tên lót,Tên", "BN1,Nguyễn Thị,Hoa"),  # southern: tên lót is the middle name
        ("Mã BN,Họ,Tên đệm,Tên", "BN1,Nguyễn,Thị,Hoa"),
        ("Mã BN,Họ,Tên lót,Tên", "BN1,Nguyễn,Thị,Hoa"),
        ("patient_id,family_name,middle_name,given_name", "BN1,Nguyễn,Thị,Hoa"),
        ("Mã BN,Tên,Họ,Tên đệm", "BN1,Hoa,Nguyễn,Thị"),  # the column order does not matter
    ],
)
def test_a_name_split_in_two_or_three_columns_is_composed(header: str, row: str) -> None:
    name = only_record(read_text(f"{header}\n{row}\n", AT_27001)).patient.full_name
    assert name.casefold() == "nguyễn thị hoa"


def test_empty_parts_are_skipped_and_a_missing_middle_column_is_fine() -> None:
    three = "ma_bn,Họ,Tên đệm,Tên\nBN1,Nguyễn,,Hoa\nBN2,Hoàng Phủ,Ngọc,Anh\nBN3,,,H'Hen\n"
    assert full_names(three) == ["Nguyễn Hoa", "Hoàng Phủ Ngọc Anh", "H'Hen"]
    two = "ma_bn,Họ,Tên\nBN1,Lê,Bình Minh\n"  # a two-syllable given name stays whole
    assert full_names(two) == ["Lê Bình Minh"]


def test_a_file_with_the_whole_name_column_reads_it_and_ignores_the_parts() -> None:
    # Some programs add the given name again as a sort column; "Họ" + "Tên" beside "Họ tên" too.
    text = "ma_bn,Họ tên,Tên,Họ\nBN1,Trần Văn Nam,Nam,Trần\n"
    assert full_names(text) == ["Trần Văn Nam"]
    assert full_names("ma_bn,Họ và tên\nBN1,Trần Văn Nam\n") == ["Trần Văn Nam"]


@pytest.mark.parametrize(
    ("date", "time", "expected"),
    [
        ("12/03/2025", "08:30", datetime(2025, 3, 12, 8, 30)),
        ("12/03/2025", "8:30:15", datetime(2025, 3, 12, 8, 30, 15)),
        ("20250312", "08:30", datetime(2025, 3, 12, 8, 30)),
        ("2025-03-12", "8:30", datetime(2025, 3, 12, 8, 30)),
        ("12/03/2025", "", datetime(2025, 3, 12)),
        ("202503120830", "", datetime(2025, 3, 12, 8, 30)),
    ],
)
def test_a_visit_date_and_its_time_in_two_columns_are_one_timestamp(
    date: str, time: str, expected: datetime
) -> None:
    text = (
        f"ma_bn,ho_ten,ma_lk,Ngày vào,Giờ vào,Ngày ra,Giờ ra\nBN1,Hồ L,LK1,{date},{time},15/03/2025,17:05\n"
    )
    encounter = only_record(read_text(text, AT_27001)).encounter
    assert encounter is not None
    assert (encounter.admitted_at, encounter.discharged_at) == (expected, datetime(2025, 3, 15, 17, 5))


def test_header_folding_keeps_the_name_columns_apart() -> None:
    header = ["Họ và tên", "Họ", "Tên đệm", "Tên", "Họ và tên đệm", "Giờ vào", "Ngày vào", "Đ/c"]
    found = match_columns(header, PROFILE)
    assert {column: header[index] for column, index in found.items()} == {
        "full_name": "Họ và tên",
        "family_name": "Họ",
        "middle_name": "Tên đệm",
        "given_name": "Tên",
        "family_middle_name": "Họ và tên đệm",
        "admitted_time": "Giờ vào",
        "admitted_at": "Ngày vào",
    }


# --- Rejections name the file's columns ---------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "row", "expected"),
    [
        ("ma_bn,Họ và tên đệm,Tên", "BN1,Nguyễn Văn,", ("Tên: missing",)),
        ("ma_bn,Họ,Tên đệm,Tên", "BN1,Nguyễn,Văn,", ("Tên: missing",)),
        ("ma_bn,Họ và tên đệm,Tên", "BN1,,", ("Họ và tên đệm + Tên: missing",)),
        ("ma_bn,ho_ten,ma_lk,Ngày vào,Giờ vào", "BN1,Hồ L,LK1,,8:30", ("Ngày vào + Giờ vào: '8:30' is not a date-time",)),
        ("ma_bn,ho_ten,ma_lk,Ngày vào,Giờ vào", "BN1,Hồ L,LK1,31/02/2025,8:30", ("Ngày vào + Giờ vào: ",)),
        ("ma_bn,ho_ten,ma_lk,Ngày vào,Giờ vào", "BN1,Hồ L,LK1,12/03/2025,25:00", ("Ngày vào + Giờ vào: ",)),
        ("ma_bn,ho_ten,Ngày vào,Giờ vào", "BN1,Hồ L,,8:30", ("ma_lk: missing, but the row has visit data (Ngày vào + Giờ vào)",)),
    ],
)  # fmt: skip
def test_a_split_field_is_rejected_under_the_file_s_own_column_names(
    header: str, row: str, expected: tuple[str, ...]
) -> None:
    found = reasons(read_text(f"{header}\n{row}\n", AT_27001))
    assert len(found) == len(expected) and all(
        reason.startswith(start) for reason, start in zip(found, expected, strict=True)
    ), found


def test_a_file_without_any_name_shape_names_every_shape_it_could_have() -> None:
    for header in ["Mã BN,Tên", "Mã BN,Họ,Tên đệm", "Mã BN,Tên đệm,Tên"]:
        with pytest.raises(UnreadableFile) as refused:
            read_text(f"{header}\nBN1" + ",A" * header.count(",") + "\n", AT_27001)
        assert str(refused.value) == (
            "missing required columns: ho_ten (full_name) or ho_va_ten_dem + ten / ho + ten_dem + ten / ho + ten"
        )


# --- Format detection ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "head",
    ["Mã BN;Họ và tên đệm;Tên\n", "Họ,Tên\n", "STT,Họ,Tên đệm,Tên,Năm sinh\n", "Ngày vào,Giờ vào\n"],
)
def test_a_file_giving_a_field_in_parts_is_detected_as_csv(head: str) -> None:
    assert detect_format(head.encode()) == SourceFormat.CSV


def test_a_lone_part_column_is_not_enough_to_call_a_file_csv() -> None:
    for head in ["Tên,Tuổi\nAn,3\n", "Giờ vào,ghi chú\n"]:
        with pytest.raises(UnreadableFile, match="not a known format"):
            detect_format(head.encode())


# --- Vendor profiles ----------------------------------------------------------------------------

VENDOR_TOML = """
[csv]
local_id = ["ma_kh"]
admitted_at = ["ngay_kham"]
encounter_id = ["so_phieu"]

[csv.parts]
ho_kh = ["ho_khach_hang"]
ten_kh = ["ten_khach_hang"]
gio_kham = ["gio_kham"]

[csv.compose.full_name]
from = [["ho_kh", "ten_kh"]]
required = ["ten_kh"]

[csv.compose.admitted_at]
from = [["admitted_at", "gio_kham"]]
"""


def test_a_vendor_profile_defines_its_own_composition(tmp_path: Path) -> None:
    path = tmp_path / "vendor.toml"
    path.write_text(VENDOR_TOML, encoding="utf-8")
    vendor = LoaderOptions(facility_code="27001", profile=load_profile(path))
    text = "Mã KH;Họ khách hàng;Tên khách hàng;Số phiếu;Ngày khám;Giờ khám\nKH7;Phạm Thị;Gấm;P1;12/03/2025;14:45\n"
    record = only_record(read_text(text, vendor))
    assert (record.patient.local_id, record.patient.full_name) == ("KH7", "Phạm Thị Gấm")
    assert record.encounter is not None and record.encounter.admitted_at == datetime(2025, 3, 12, 14, 45)
    assert detect_format(text.encode(), profile=vendor.profile) == SourceFormat.CSV
    assert reasons(read_text(text.replace(";Gấm;", ";;"), vendor)) == ("Tên khách hàng: missing",)
    with pytest.raises(UnreadableFile, match=r"missing required columns: ma_bn \(local_id\), ho_ten"):
        read_text(text, AT_27001)
    # Key by key: the vendor's full_name composition replaces the default one, the rest stays.
    with pytest.raises(UnreadableFile, match=r"ho_ten \(full_name\) or ho_khach_hang \+ ten_khach_hang$"):
        read_text("ma_kh,Họ và tên đệm,Tên\nKH1,Lê,An\n", vendor)
    discharged = "ma_kh,ho_ten,so_phieu,ngay_ra,gio_ra\nKH1,Lê An,P1,15/03/2025,9:00\n"
    encounter = only_record(read_text(discharged, vendor)).encounter
    assert encounter is not None and encounter.discharged_at == datetime(2025, 3, 15, 9, 0)


def test_a_vendor_switches_a_default_composition_off_with_the_whole_column_alone() -> None:
    whole_only = PROFILE.overridden_by({"csv": {"compose": {"full_name": {"from": [["full_name"]]}}}})
    options = LoaderOptions(facility_code="27001", profile=whole_only)
    assert full_names("ma_bn,Họ tên,Tên\nBN1,Lê An,An\n", options) == ["Lê An"]
    with pytest.raises(UnreadableFile, match=r"missing required columns: ho_ten \(full_name\)$"):
        read_text("ma_bn,Họ và tên đệm,Tên\nBN1,Lê,An\n", options)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"compose": {"full_name": {"from": [["ho_kh", "given_name"]]}}}, "ho_kh is neither a"),
        ({"compose": {"ten_day_du": {"from": [["given_name"]]}}}, "ten_day_du is not a"),
        ({"compose": {"full_name": {"from": ["family_name", "given_name"]}}}, "a list of lists"),
        ({"compose": {"full_name": ["family_name", "given_name"]}}, "a list of lists"),
        ({"compose": {"full_name": {"from": [["family_name"]], "required": ["given_name"]}}}, "in none of"),
        ({"parts": {"phone": ["so_dt"]}}, r"\[csv.parts\] phone: already a \[csv\] column"),
        (
            {"parts": {"middle_name": ["ten_dem", "Tên"]}},
            r"'Tên' \(middle_name\) and 'ten' \(given_name\) are the",
        ),
        ({"local_id": ["Mã BN", "ho_ten"]}, "are the same header name"),
        ({"local_id": []}, "local_id: needs at least one column name"),
    ],
)
def test_a_profile_that_cannot_work_is_refused_when_loaded(override: dict[str, Any], message: str) -> None:
    with pytest.raises(ProfileError, match=message):
        PROFILE.overridden_by({"csv": override})


# --- Composing gives back the name --------------------------------------------------------------

LETTERS = "aăâbcdđeêghiklmnoôơpqrstuưvxyáàảãạắằẳẵặấầẩẫậéèẻẽẹếềểễệíìỉĩịóòỏõọốồổỗộớờởỡợúùủũụứừửữựýỳỷỹỵ"
WORDS = st.text(alphabet=LETTERS + LETTERS.upper(), min_size=1, max_size=7)
SPACES = st.text(alphabet=" \t\u00a0", min_size=1, max_size=3)


@settings(max_examples=150)
@given(
    words=st.lists(WORDS, min_size=1, max_size=6),
    cuts=st.tuples(st.integers(0, 6), st.integers(0, 6)),
    three_columns=st.booleans(),
    spacing=st.data(),
    form=st.sampled_from(["NFC", "NFD"]),
)
def test_splitting_a_name_into_columns_and_composing_gives_back_the_folded_name(
    words: list[str], cuts: tuple[int, int], three_columns: bool, spacing: st.DataObject, form: str
) -> None:
    """Family, middle and given parts, each any run of the name's words (the given name at least one),
    with odd spacing and either normal form, compose to the name as stored: NFC, spaces folded."""
    first, second = sorted(min(cut, len(words) - 1) for cut in cuts)
    parts = (
        [words[:first], words[first:second], words[second:]]
        if three_columns
        else [words[:first], words[first:]]
    )

    def written(part: list[str]) -> str:
        gaps = [spacing.draw(SPACES) for _ in range(len(part) + 1)]
        text = gaps[0] + "".join(word + gap for word, gap in zip(part, gaps[1:], strict=True)) if part else ""
        return unicodedata.normalize(form, text)

    header = ["ma_bn", "Họ", "Tên đệm", "Tên"] if three_columns else ["ma_bn", "Họ và tên đệm", "Tên"]
    out = io.StringIO()
    csv.writer(out).writerows([header, ["BN1", *(written(part) for part in parts)]])
    assert full_names(out.getvalue()) == [clean_text(" ".join(words))]
