"""XML 130 reader and writer: round trip, tolerances, rejections, unreadable files, bounded memory.

Every file is built here in code: by write_xml130 from canonical records, or by hand (`envelope`,
`table`) when a test needs what provreg itself would never write.
"""

from __future__ import annotations

import base64
import io
import tracemalloc
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from unittest import mock
from xml.etree import ElementTree

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loaders import limits, xml130, xml130_rows
from loaders.dates import BirthDate
from loaders.identifiers import CITIZEN_ID_PROVINCES
from loaders.options import LoaderOptions
from loaders.records import (
    Address,
    Diagnosis,
    Encounter,
    FileHeader,
    LabResult,
    Medication,
    Patient,
    ProgressNote,
    Reject,
    Service,
    Sex,
    SourceFormat,
    SourceRecord,
    UnreadableFile,
)
from loaders.text import clean_text
from loaders.xml130 import ROW_TABLES, read_xml130
from loaders.xml130_write import write_xml130
from tests.factories import make_encounter, make_patient

CREATED = datetime(2025, 11, 4, 2, 0)
DECLARATION = '<?xml version="1.0" encoding="utf-8"?>'


# --- helpers ----------------------------------------------------------------------------------


def read(data: bytes, facility_code: str | None = None) -> list[FileHeader | SourceRecord | Reject]:
    return list(read_xml130(io.BytesIO(data), LoaderOptions(facility_code=facility_code)))


def written(records: Sequence[SourceRecord], facility_code: str = "27001") -> bytes:
    out = io.BytesIO()
    write_xml130(records, out, facility_code=facility_code, created_at=CREATED)
    return out.getvalue()


def record(
    position: int = 1, encounter_id: str = "LK0001", encounter: Encounter | None = None, **patient: object
) -> SourceRecord:
    return SourceRecord(
        position=position,
        locator=f"HOSO {position} (MA_LK {encounter_id})",
        patient=make_patient(**patient),  # type: ignore[arg-type]
        encounter=encounter or make_encounter(encounter_id),
    )


def b64(inner: str | bytes) -> str:
    return base64.b64encode(inner.encode() if isinstance(inner, str) else inner).decode()


def envelope(
    *hosos: list[tuple[str, str | bytes]], facility: str = "27001", count: int | None = None
) -> bytes:
    """An envelope around hand-made tables: each HOSO is a list of (LOAIHOSO, inner XML)."""
    body = "".join(
        "<HOSO>"
        + "".join(
            f"<FILEHOSO><LOAIHOSO>{kind}</LOAIHOSO><NOIDUNGFILE>{b64(inner)}</NOIDUNGFILE></FILEHOSO>"
            for kind, inner in files
        )
        + "</HOSO>"
        for files in hosos
    )
    return (
        f"{DECLARATION}<GIAMDINHHS><THONGTINDONVI><MACSKCB>{facility}</MACSKCB></THONGTINDONVI>"
        f"<THONGTINHOSO><NGAYLAP>202511040200</NGAYLAP><SOLUONGHOSO>{len(hosos) if count is None else count}"
        f"</SOLUONGHOSO><DANHSACHHOSO>{body}</DANHSACHHOSO></THONGTINHOSO><CHUKYDONVI/></GIAMDINHHS>"
    ).encode()


SUMMARY = {
    "MA_LK": "LK0001",
    "MA_BN": "BN0001",
    "HO_TEN": "Nguyễn Thị Hoa",
    "SO_CCCD": "027185000123",  # digit 4 = 1: a woman born 19xx; digits 5-6: 85
    "NGAY_SINH": "198503040000",
    "GIOI_TINH": "2",
    "MA_THE_BHYT": "DN4270123456789",
    "MA_BENH_CHINH": "J18.9",
    "MA_BENH_KT": "I10",
    "MA_LOAI_KCB": "03",
    "NGAY_VAO": "202405010830",
    "NGAY_RA": "202405051000",
    "KET_QUA_DTRI": "1",
    "MA_LOAI_RV": "1",
    "MA_CSKCB": "27001",
}
DRUG = {
    "MA_LK": "LK0001",
    "MA_THUOC": "40.17",
    "TEN_THUOC": "Paracetamol",
    "SO_LUONG": "10",
    "NGAY_YL": "202405010900",
}


def elements(fields: dict[str, str | None]) -> str:
    return "".join(f"<{name}>{value}</{name}>" for name, value in fields.items() if value is not None)


def summary(root: str = "TONG_HOP", **changes: str | None) -> str:
    """XML1 from SUMMARY, with fields changed (None drops the element)."""
    return f"{DECLARATION}<{root}>{elements({**SUMMARY, **changes})}</{root}>"


def table(row: str, rows: list[dict[str, str | None]], wrappers: tuple[str, ...] = ("ROOT", "DSACH")) -> str:
    """A detail table: rows of `row` elements inside the given wrapper elements."""
    content = "".join(f"<{row}>{elements(fields)}</{row}>" for fields in rows)
    for wrapper in reversed(wrappers):
        content = f"<{wrapper}>{content}</{wrapper}>"
    return DECLARATION + content


def drugs(*rows: dict[str, str | None]) -> tuple[str, str]:
    return "XML2", table("CHI_TIET_THUOC", [{**DRUG, **row} for row in rows])


def only_record(data: bytes) -> SourceRecord:
    header, item = read(data)
    assert isinstance(header, FileHeader)
    assert isinstance(item, SourceRecord), item
    return item


def only_reject(data: bytes) -> Reject:
    _, item = read(data)
    assert isinstance(item, Reject), item
    return item


def unreadable(data: bytes, facility_code: str | None = None) -> str:
    with pytest.raises(UnreadableFile) as raised:
        read(data, facility_code)
    message = str(raised.value)
    assert "Traceback" not in message and 'File "' not in message
    return message


# --- round trip -------------------------------------------------------------------------------

_LETTERS = "aăâbcdđeêghiklmnoôơpqrstuưvxyAĂÂĐÊÔƠƯàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ"
texts = st.text(alphabet=_LETTERS + " 0123456789&<>\"'.,/-()\t\n", min_size=1, max_size=30).map(clean_text)
clean_texts = texts.filter(lambda text: text is not None)
optional_texts = st.none() | clean_texts
codes = st.from_regex(r"[A-Z0-9][A-Z0-9.]{0,7}", fullmatch=True)
facilities = st.from_regex(r"[0-9A-Z]{5}", fullmatch=True)
icd10 = st.from_regex(r"[A-Z][0-9]{2}(\.[0-9A-Z]{1,2})?", fullmatch=True)
times = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2030, 12, 31)).map(
    lambda moment: moment.replace(second=0, microsecond=0)
)
optional_times = st.none() | times
quantities = st.none() | st.decimals(min_value=0, max_value=100_000, places=3, allow_nan=False)


@st.composite
def birth_dates(draw: st.DrawFn) -> BirthDate:
    year = draw(st.integers(1900, 2024))
    precision = draw(st.sampled_from(["year", "month", "day"]))
    if precision == "year":
        return BirthDate(year=year)
    month = draw(st.integers(1, 12))
    return BirthDate(year=year, month=month, day=draw(st.integers(1, 28)) if precision == "day" else None)


@st.composite
def patients(draw: st.DrawFn, facility: str) -> Patient:
    birth = draw(st.none() | birth_dates())
    sex = draw(st.none() | st.sampled_from(Sex))
    person_id = draw(st.sampled_from(["citizen", "old", "passport", "none"]))
    citizen_id = old_id = passport = None
    if person_id == "citizen":
        year = birth.year if birth else draw(st.integers(1900, 2024))
        female = sex == Sex.FEMALE if sex in (Sex.MALE, Sex.FEMALE) else draw(st.booleans())
        century_sex = 2 * ((year - 1900) // 100) + female
        province = draw(st.sampled_from(sorted(CITIZEN_ID_PROVINCES)))
        serial = draw(st.from_regex(r"[0-9]{6}", fullmatch=True))
        citizen_id = f"{province}{century_sex}{year % 100:02d}{serial}"
    elif person_id == "old":
        old_id = draw(st.from_regex(r"[0-9]{9}", fullmatch=True))
    elif person_id == "passport":
        passport = draw(st.from_regex(r"[A-Z][0-9]{7}", fullmatch=True))
    cards = draw(st.lists(st.from_regex(r"[A-Z]{2}[1-5][0-9]{12}", fullmatch=True), max_size=3))
    return Patient(
        facility_code=facility,
        local_id=draw(clean_texts),
        full_name=draw(clean_texts),
        birth_date=birth,
        sex=sex,
        citizen_id=citizen_id,
        old_id_number=old_id,
        passport_number=passport,
        insurance_cards=tuple(cards),
        social_insurance_number=cards[0][-10:] if cards else None,
        phone=draw(st.none() | st.from_regex(r"0[0-9]{9,10}", fullmatch=True)),
        address=Address(
            text=draw(optional_texts),
            province_code=draw(st.none() | st.from_regex(r"[0-9]{2}", fullmatch=True)),
            district_code=draw(st.none() | st.from_regex(r"[0-9]{3}", fullmatch=True)),
            commune_code=draw(st.none() | st.from_regex(r"[0-9]{5}", fullmatch=True)),
        ),
        nationality_code=draw(st.none() | codes),
        ethnicity_code=draw(st.none() | codes),
        occupation_code=draw(st.none() | codes),
    )


def rows(model: type, **fields: st.SearchStrategy[object]) -> st.SearchStrategy[tuple[object, ...]]:
    return st.lists(st.builds(model, **fields), max_size=3).map(tuple)


@st.composite
def encounters(draw: st.DrawFn) -> Encounter:
    admitted = draw(optional_times)
    main = draw(st.lists(icd10, max_size=1))
    others = draw(
        st.lists(icd10, max_size=4, unique=True).map(lambda found: [c for c in found if c not in main])
    )
    return Encounter(
        encounter_id=draw(clean_texts),
        record_number=draw(optional_texts),
        visit_type=draw(st.none() | st.from_regex(r"[0-9]{2}", fullmatch=True)),
        admitted_at=admitted,
        inpatient_at=draw(optional_times),
        discharged_at=draw(st.none() | times.filter(lambda moment: admitted is None or moment >= admitted)),
        departments=tuple(draw(st.lists(codes, max_size=3))),
        outcome=draw(st.none() | st.integers(1, 8)),
        discharge_type=draw(st.none() | st.integers(1, 5)),
        referred_from=draw(st.none() | facilities),
        referred_to=draw(st.none() | facilities),
        referral_paper=draw(optional_texts),
        admission_diagnosis_text=draw(optional_texts),
        discharge_diagnosis_text=draw(optional_texts),
        diagnoses=tuple(Diagnosis(code=code, is_main=True) for code in main)
        + tuple(Diagnosis(code=code, is_main=False) for code in others),
        procedures=tuple(draw(st.lists(codes, max_size=3))),
        medications=draw(
            rows(
                Medication, code=st.none() | codes, name=optional_texts, strength=optional_texts,
                dosage=optional_texts, route=optional_texts, quantity=quantities, unit=optional_texts,
                ordered_at=optional_times, performed_at=optional_times,
            )
        ),
        services=draw(
            rows(
                Service, code=st.none() | codes, supply_code=st.none() | codes, name=optional_texts,
                quantity=quantities, ordered_at=optional_times, performed_at=optional_times,
                result_at=optional_times,
            )
        ),
        lab_results=draw(
            rows(
                LabResult, service_code=st.none() | codes, code=st.none() | codes, name=optional_texts,
                value=optional_texts, unit=optional_texts, description=optional_texts,
                conclusion=optional_texts, result_at=optional_times,
            )
        ),
        notes=draw(
            rows(
                ProgressNote, text=optional_texts, stage=optional_texts, consultation=optional_texts,
                surgery=optional_texts, recorded_at=optional_times, author=optional_texts,
            )
        ),
    )  # fmt: skip


@st.composite
def files(draw: st.DrawFn) -> tuple[str, list[SourceRecord]]:
    facility = draw(facilities)
    records = []
    for position in range(1, draw(st.integers(0, 3)) + 1):
        encounter = draw(encounters())
        records.append(
            SourceRecord(
                position=position,
                locator=f"HOSO {position} (MA_LK {encounter.encounter_id})",
                patient=draw(patients(facility)),
                encounter=encounter,
            )
        )
    return facility, records


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files())
def test_canonical_records_survive_write_then_read(file: tuple[str, list[SourceRecord]]) -> None:
    facility, records = file
    header, *items = read(written(records, facility), facility)
    assert header == FileHeader(
        format=SourceFormat.XML130, facility_code=facility, created_at=CREATED, declared_count=len(records)
    )
    assert items == records


def test_writer_keeps_strings_verbatim_and_writes_twelve_character_dates() -> None:
    nfd_name = unicodedata.normalize("NFD", "NGUYỄN THỊ  HOA")
    patient = make_patient(full_name=nfd_name).model_copy(
        update={"birth_date": BirthDate(year=1985), "address": Address(text="Thôn 1\r\nxã <A & B>")}
    )
    source = SourceRecord(position=1, locator="HOSO 1", patient=patient, encounter=make_encounter())
    data = written([source])
    inner = _decoded_tables(data)["XML1"]
    assert f"<HO_TEN>{nfd_name}</HO_TEN>".encode() in inner
    assert "<DIA_CHI>Thôn 1&#13;\nxã &lt;A &amp; B&gt;</DIA_CHI>".encode() in inner
    assert b"<NGAY_SINH>198500000000</NGAY_SINH>" in inner
    assert b"<NGAY_VAO>202511030815</NGAY_VAO>" in inner
    assert b"<CHUKYDONVI></CHUKYDONVI>" in data
    read_back = only_record(data)
    assert read_back.patient.full_name == "NGUYỄN THỊ HOA"  # NFC, spacing folded by the reader
    assert read_back.patient.birth_date == BirthDate(year=1985)


def test_writer_refuses_what_xml_cannot_carry() -> None:
    with pytest.raises(ValueError, match="control character"):
        written([record(full_name="An\x01")])
    with pytest.raises(ValueError, match="no encounter"):
        written([SourceRecord(position=1, locator="HOSO 1", patient=make_patient())])


def _decoded_tables(data: bytes) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for part in data.split(b"<LOAIHOSO>")[1:]:
        kind, rest = part.split(b"</LOAIHOSO>", 1)
        content = rest.split(b"<NOIDUNGFILE>", 1)[1].split(b"</NOIDUNGFILE>", 1)[0]
        found[kind.decode()] = base64.b64decode(content)
    return found


# --- tolerances -------------------------------------------------------------------------------


def test_header_and_one_record_per_hoso_with_locators() -> None:
    header, first, second = read(written([record(1, "LK1"), record(2, "LK2", local_id="BN2")]))
    assert header == FileHeader(
        format=SourceFormat.XML130, facility_code="27001", created_at=CREATED, declared_count=2
    )
    assert (first.position, first.locator) == (1, "HOSO 1 (MA_LK LK1)")
    assert (second.position, second.locator) == (2, "HOSO 2 (MA_LK LK2)")


def test_element_order_case_spacing_bom_and_table_labels_vary() -> None:
    shuffled = dict(reversed(list(SUMMARY.items())))
    xml1 = f"\ufeff{DECLARATION}\n<tong_hop>\n" + "".join(
        f"  <{name.lower()}>  {value}\n </{name.lower()}>\n" for name, value in shuffled.items()
    ) + "</tong_hop>"  # fmt: skip
    xml2 = table("chi_tiet_thuoc", [{k.lower(): v for k, v in DRUG.items()}], ("chitieu", "dsach"))
    files = [("xml2", xml2.encode()), (" 1 ", xml1.encode())]
    body = "".join(
        f"\n  <filehoso>\n   <noidungfile>\n{_wrapped(b64(inner))}\n</noidungfile>\n   <loaihoso> {kind} </loaihoso>\n  </filehoso>"
        for kind, inner in files
    )  # fmt: skip
    data = (
        f"\ufeff{DECLARATION}\n<giamdinhhs>\n <thongtindonvi><macskcb> 27001 </macskcb></thongtindonvi>\n"
        f" <thongtinhoso>\n  <soluonghoso>1</soluonghoso>\n  <ngaylap>202511040200</ngaylap>\n"
        f"  <danhsachhoso>\n <hoso>{body}\n </hoso>\n  </danhsachhoso>\n </thongtinhoso>\n <chukydonvi/>\n</giamdinhhs>\n"
    ).encode()
    item = only_record(data)
    assert item.patient.full_name == "Nguyễn Thị Hoa"
    assert item.encounter is not None and item.encounter.medications[0].quantity == Decimal(10)


def _wrapped(text: str) -> str:
    return "\r\n".join(text[start : start + 76] for start in range(0, len(text), 76))


@pytest.mark.parametrize(
    "wrappers",
    [("CHITIEU_CHITIET_THUOC", "DSACH_CHITIET_THUOC"), ("CHITIEU_CHITIET_THUOC",), ("A", "B", "C")],
)
def test_rows_are_found_under_any_list_wrapper(wrappers: tuple[str, ...]) -> None:
    xml2 = table("CHI_TIET_THUOC", [DRUG, {**DRUG, "TEN_THUOC": "Amoxicilin"}], wrappers)
    item = only_record(envelope([("XML1", summary()), ("XML2", xml2)]))
    assert item.encounter is not None
    assert [row.name for row in item.encounter.medications] == ["Paracetamol", "Amoxicilin"]


def test_a_single_row_may_be_the_table_itself() -> None:
    item = only_record(envelope([("XML1", summary()), ("XML2", table("CHI_TIET_THUOC", [DRUG], ()))]))
    assert item.encounter is not None and len(item.encounter.medications) == 1


def test_all_detail_tables_are_read() -> None:
    hoso = [
        ("XML1", summary(MA_KHOA="K01;K19", MA_NOI_DI="01929", MA_PTTT_QT="45.13;99.04")),
        drugs({"HAM_LUONG": "500mg", "LIEU_DUNG": "1 viên", "DUONG_DUNG": "2.10", "DON_VI_TINH": "viên",
               "NGAY_TH_YL": "202405011000"}),
        ("XML3", table("CHI_TIET_DVKT", [
            {"MA_DICH_VU": "01.0001", "TEN_DICH_VU": "Khám", "SO_LUONG": "1", "NGAY_KQ": "202405011100"},
            {"MA_VAT_TU": "N03.01", "TEN_VAT_TU": "Bơm tiêm", "SO_LUONG": "2.5"},
        ])),
        ("XML4", table("CHI_TIET_CLS", [
            {"MA_DICH_VU": "01.0001", "MA_CHI_SO": "HGB", "TEN_CHI_SO": "Huyết sắc tố", "GIA_TRI": "Âm tính",
             "DON_VI_DO": "g/L", "MO_TA": "m", "KET_LUAN": "k", "NGAY_KQ": ""},
        ])),
        ("XML5", table("CHI_TIET_DIEN_BIEN_BENH", [
            {"DIEN_BIEN_LS": "Sốt", "GIAI_DOAN_BENH": "1", "HOI_CHAN": "Có", "PHAU_THUAT": "Không",
             "THOI_DIEM_DBLS": "202405020700", "NGUOI_THUC_HIEN": "BS An"},
        ])),
    ]  # fmt: skip
    encounter = only_record(envelope(hoso)).encounter
    assert encounter is not None
    assert encounter.departments == ("K01", "K19") and encounter.procedures == ("45.13", "99.04")
    assert encounter.referred_from == "01929"
    assert encounter.medications == (
        Medication(code="40.17", name="Paracetamol", strength="500mg", dosage="1 viên", route="2.10",
                   quantity=Decimal(10), unit="viên", ordered_at=datetime(2024, 5, 1, 9, 0),
                   performed_at=datetime(2024, 5, 1, 10, 0)),
    )  # fmt: skip
    assert encounter.services == (
        Service(code="01.0001", name="Khám", quantity=Decimal(1), result_at=datetime(2024, 5, 1, 11, 0)),
        Service(supply_code="N03.01", name="Bơm tiêm", quantity=Decimal("2.5")),
    )
    assert encounter.lab_results == (
        LabResult(service_code="01.0001", code="HGB", name="Huyết sắc tố", value="Âm tính", unit="g/L",
                  description="m", conclusion="k"),
    )  # fmt: skip
    assert encounter.notes == (
        ProgressNote(text="Sốt", stage="1", consultation="Có", surgery="Không",
                     recorded_at=datetime(2024, 5, 2, 7, 0), author="BS An"),
    )  # fmt: skip


def test_identifiers_and_codes_in_their_tolerated_forms() -> None:
    item = only_record(
        envelope(
            [("XML1", summary(
                MA_BENH_CHINH="j189", MA_BENH_KT="B20; E11.9†;I10*", SO_CCCD="027 185 000 123",
                MA_THE_BHYT="DN4270123456789;HT3270999999999", NGAY_SINH="198500000000", MA_LOAI_KCB="3",
            ))]
        )
    )  # fmt: skip
    assert [(d.code, d.is_main) for d in item.encounter.diagnoses] == [  # type: ignore[union-attr]
        ("J18.9", True), ("B20", False), ("E11.9", False), ("I10", False),
    ]  # fmt: skip
    assert item.patient.citizen_id == "027185000123"
    assert item.patient.birth_date == BirthDate(year=1985)
    # Cards disagreeing on their lifelong 10 digits: the first card's are kept, nothing rejected.
    assert item.patient.insurance_cards == ("DN4270123456789", "HT3270999999999")
    assert item.patient.social_insurance_number == "0123456789"
    assert item.encounter is not None and item.encounter.visit_type == "03"


@pytest.mark.parametrize(
    ("value", "field", "expected"),
    [("123456789", "old_id_number", "123456789"), ("B1234567", "passport_number", "B1234567")],
)
def test_old_id_cards_and_passports_arrive_in_so_cccd(value: str, field: str, expected: str) -> None:
    item = only_record(envelope([("XML1", summary(SO_CCCD=value))]))
    assert getattr(item.patient, field) == expected and item.patient.citizen_id is None


def test_decision_4210_field_names() -> None:
    old = summary(
        MA_THE_BHYT=None, MA_THE="DN4270123456789", MA_BENH_CHINH=None, MA_BENH="J18.9",
        MA_BENH_KT=None, MA_BENHKHAC="I10", MA_NOI_CHUYEN="01929", NGAY_SINH="19850304",
    )  # fmt: skip
    item = only_record(envelope([("XML1", old)]))
    assert item.patient.insurance_cards == ("DN4270123456789",)
    assert item.patient.birth_date == BirthDate(year=1985, month=3, day=4)
    assert item.encounter is not None and item.encounter.referred_from == "01929"
    assert [d.code for d in item.encounter.diagnoses] == ["J18.9", "I10"]


def test_other_tables_are_listed_as_skipped_and_empty_tables_ignored() -> None:
    hoso = [
        ("XML0", "<CHECKIN/>"),
        ("XML1", summary()),
        ("XML7", "<GIAY_RA_VIEN/>"),
        ("XML2", ""),
        ("XML13", "<X/>"),
    ]
    item = only_record(envelope(hoso))
    assert item.skipped_tables == ("XML0", "XML7", "XML13")
    assert item.encounter is not None and item.encounter.medications == ()


def test_summary_may_leave_the_facility_to_the_envelope_and_declare_another_encoding() -> None:
    xml1 = summary(MA_CSKCB=None).replace(DECLARATION, '<?xml version="1.0" encoding="windows-1258"?>')
    assert only_record(envelope([("XML1", xml1)])).patient.facility_code == "27001"


# --- rejections -------------------------------------------------------------------------------


def test_a_bad_hoso_is_one_reject_with_every_reason_and_the_file_goes_on() -> None:
    bad = [
        ("XML1", summary(SO_CCCD="02718500012", GIOI_TINH="9", MA_NOI_DI="ABC", NGAY_VAO="20241345")),
        drugs({}, {}, {"MA_LK": "LK9999"}),
    ]
    _, reject, fine = read(envelope(bad, [("XML1", summary(MA_LK="LK0002"))]))
    assert isinstance(reject, Reject) and isinstance(fine, SourceRecord)
    # Only what the visit cannot be stored without rejects it; SO_CCCD, GIOI_TINH and MA_NOI_DI are flags.
    assert reject.reasons == (
        "NGAY_VAO: '20241345' is not a valid date (month 13)",
        "XML2 row 3 MA_LK: 'LK9999' is not this HOSO's MA_LK 'LK0001'",
    )
    assert (reject.position, reject.locator) == (1, "HOSO 1 (MA_LK LK0001)")
    assert (reject.facility_code, reject.local_id, reject.encounter_id) == ("27001", "BN0001", "LK0001")
    assert reject.excerpt.startswith("<TONG_HOP><MA_LK>LK0001</MA_LK>") and len(reject.excerpt) <= 300
    assert fine.position == 2


def test_a_bad_row_alone_puts_that_row_in_the_excerpt() -> None:
    reject = only_reject(envelope([("XML1", summary()), drugs({}, {"MA_LK": "LK0009"})]))
    assert reject.reasons == ("XML2 row 2 MA_LK: 'LK0009' is not this HOSO's MA_LK 'LK0001'",)
    assert reject.excerpt.startswith("<CHI_TIET_THUOC>")


def test_an_unreadable_value_in_a_detail_row_is_flagged_by_row_and_the_row_kept() -> None:
    _, found = read(envelope([("XML1", summary()), drugs({}, {"NGAY_YL": "2024", "SO_LUONG": "1,5"})]))
    assert isinstance(found, SourceRecord) and found.encounter is not None
    assert len(found.encounter.medications) == 2
    assert (found.encounter.medications[1].ordered_at, found.encounter.medications[1].quantity) == (
        None,
        None,
    )
    assert [(flag.field, flag.reason) for flag in found.encounter.flags] == [
        ("XML2 row 2 SO_LUONG", "XML2 row 2 SO_LUONG: '1,5' is not a number (use a dot for decimals)"),
        (
            "XML2 row 2 NGAY_YL",
            "XML2 row 2 NGAY_YL: '2024' is not a date-time (expected yyyyMMddHHmm or yyyy-MM-ddTHH:mm)",
        ),
    ]


# Raw values of a detail row's element: clean ones, and ones the plain reading flags or rejects.
_RAW_VALUES = st.sampled_from(
    ["40.17", " Paracetamol  500 ", "viên", "Âm tính", "10", "2.5", "1,5", "NaN", "202405010900", "20240501",
     "2024", "2024-05-01T09:00", "202402300800", "", "  ", "LK0001", "LK0009", "A" * 300, "B" * 1100]
)  # fmt: skip


@st.composite
def detail_tables(draw: st.DrawFn) -> tuple[str, str]:
    """A detail table as a facility might send it: any of its elements, in any order and case, repeated."""
    kind = draw(st.sampled_from(ROW_TABLES))
    names = [name for column in kind.columns for name in (column.element, column.alternative) if name]
    names += ["MA_LK", "STT", "DON_GIA"]
    rows = []
    for _ in range(draw(st.integers(1, 4))):
        elements = draw(st.lists(st.sampled_from(names), max_size=len(names) + 2))
        cased = [name.lower() if draw(st.booleans()) and draw(st.booleans()) else name for name in elements]
        rows.append("".join(f"<{name}>{draw(_RAW_VALUES)}</{name}>" for name in cased))
    body = "".join(f"<{kind.row}>{row}</{kind.row}>" for row in rows)
    return kind.name, f"{DECLARATION}<{kind.root}><{kind.wrapper}>{body}</{kind.wrapper}></{kind.root}>"


@settings(max_examples=200, deadline=None)
@given(detail_tables())
def test_detail_rows_read_fast_as_the_plain_reading_reads_them(detail: tuple[str, str]) -> None:
    data = envelope([("XML1", summary()), detail])
    fast = read(data)
    with mock.patch("loaders.xml130.clean_rows", return_value=None):  # every table read the plain way
        assert read(data) == fast


def test_clean_rows_are_read_the_fast_way() -> None:
    results = []

    def clean_rows(*arguments: object) -> object:
        results.append(xml130_rows.clean_rows(*arguments))  # type: ignore[arg-type]
        return results[-1]

    encounters = [make_encounter(f"LK{n}", drugs=2, services=2, labs=2, notes=2) for n in (1, 2)]
    data = written([record(n, f"LK{n}", encounter) for n, encounter in enumerate(encounters, 1)])
    with mock.patch("loaders.xml130.clean_rows", clean_rows):
        items = read(data)[1:]
    assert len(results) == 8 and all(rows is not None and len(rows) == 2 for rows in results)
    assert [item.encounter for item in items if isinstance(item, SourceRecord)] == encounters


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"NGAY_RA": "202404300800"}, "NGAY_RA: discharge time is before admission time"),
        ({"MA_CSKCB": "27002"}, "MA_CSKCB: 27002 is not the file's facility 27001 (MACSKCB)"),
        ({"MA_BN": None}, "MA_BN: missing"),
        ({"HO_TEN": "  "}, "HO_TEN: missing"),
        ({"HO_TEN": "A" * 256}, "HO_TEN: String should have at most 255 characters"),
        ({"NGAY_VAO": "202402300800"}, "NGAY_VAO: '202402300800' is not a valid date (day 30 of month 2)"),
    ],
)  # fmt: skip
def test_summary_rejections_name_the_source_field(changes: dict[str, str | None], reason: str) -> None:
    reject = only_reject(envelope([("XML1", summary(**changes))]))
    assert reject.reasons == (reason,)


@pytest.mark.parametrize(
    ("changes", "kind", "reason"),
    [
        ({"SO_CCCD": "027085000123"}, "inconsistent", "SO_CCCD: citizen ID digit 4 (0) says a man, but the recorded sex is female"),
        ({"NGAY_SINH": "199003040000"}, "inconsistent", "SO_CCCD: citizen ID digits 5-6 (85) say born in 1985, but the recorded birth year is 1990"),
        ({"SO_CCCD": "2.70185E+11"}, "malformed", "SO_CCCD: '2.70185E+11' is a number in spreadsheet notation"),
        ({"SO_CCCD": "0271850"}, "malformed", "SO_CCCD: 7 digits, expected 12 (citizen ID) or 9 (old ID card)"),
        ({"MA_THE_BHYT": "DN42701234"}, "malformed", "MA_THE_BHYT: 'DN42701234' has 10 characters, expected 15"),
        ({"MA_THE": "XX9270123456789", "MA_THE_BHYT": None}, "malformed",
         "MA_THE: 'XX9270123456789' is not 2 letters, a benefit level 1-5, 2 province digits and 10 digits"),
        ({"MA_NOI_DEN": "ABC"}, "malformed", "MA_NOI_DEN: 'ABC' is not a 5-character facility code"),
        ({"MA_BENH_CHINH": "J1"}, "malformed", "MA_BENH_CHINH: 'J1' is not an ICD-10 code (a letter, 2 digits, optional .subcode)"),
        ({"KET_QUA_DTRI": "9"}, "malformed", "KET_QUA_DTRI: '9' is not one of 1-8"),
        ({"MA_LOAI_KCB": "123"}, "malformed", "MA_LOAI_KCB: '123' is not a 2-digit code"),
        ({"GIOI_TINH": "9"}, "malformed", "GIOI_TINH: '9' is not a sex code (1 male, 2 female, 3 undetermined)"),
        ({"NGAY_SINH": "19851345"}, "malformed", "NGAY_SINH: '19851345' is not a valid date (month 13)"),
    ],
)  # fmt: skip
def test_a_suspect_field_is_flagged_with_the_reason_a_reject_would_give(
    changes: dict[str, str | None], kind: str, reason: str
) -> None:
    _, found = read(envelope([("XML1", summary(**changes))]))
    assert isinstance(found, SourceRecord), found
    assert found.encounter is not None
    (flag,) = found.patient.flags + found.encounter.flags
    assert (flag.kind, flag.reason[: len(reason)]) == (kind, reason)
    field = reason.partition(":")[0]
    assert flag.value == {**SUMMARY, **changes}[field]  # kept exactly as sent
    if field == "SO_CCCD":
        assert found.patient.citizen_id is None  # never a key


def test_an_identifier_a_spreadsheet_stripped_of_its_zero_is_repaired_and_used() -> None:
    _, found = read(envelope([("XML1", summary(SO_CCCD="27185000123"))]))
    assert isinstance(found, SourceRecord), found
    assert found.patient.citizen_id == "027185000123"
    (flag,) = found.patient.flags
    assert (flag.kind, flag.value) == ("repaired", "27185000123")
    assert "leading zero" in flag.reason


def test_missing_keys_are_reported_once_and_the_reject_keeps_what_is_known() -> None:
    reject = only_reject(envelope([("XML1", summary(MA_LK=None, MA_CSKCB="2700"))]))
    assert reject.reasons == ("MA_CSKCB: '2700' is not a 5-character facility code", "MA_LK: missing")
    assert (reject.locator, reject.encounter_id, reject.local_id, reject.facility_code) == (
        "HOSO 1",
        None,
        "BN0001",
        "27001",
    )


@pytest.mark.parametrize(
    ("hoso", "reason"),
    [
        ([drugs({})], "XML1: missing (the HOSO has no TONG_HOP visit summary)"),
        ([("XML1", summary(root="TONG_HOP_KHAC"))], "XML1: missing (the HOSO has no TONG_HOP visit summary)"),
        ([("XML1", summary()), ("XML1", summary())], "XML1: appears more than once in the HOSO"),
        (
            [("XML1", summary()), ("XML16", "<X/>")],
            "LOAIHOSO: 'XML16' is not an XML 130 table (XML0 to XML15)",
        ),
    ],
)
def test_table_level_rejections(hoso: list[tuple[str, str]], reason: str) -> None:
    assert only_reject(envelope(hoso)).reasons == (reason,)


# --- unreadable files -------------------------------------------------------------------------

# (prolog, entity reference): 10**9 "lol"s once expanded; a local file pulled in.
BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol0 "lol">'
    + "".join(f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(1, 10))
    + "]>",
    "&lol9;",
)
EXTERNAL_ENTITY = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>', "&xxe;")


@pytest.mark.parametrize(("prolog", "reference"), [BILLION_LAUGHS, EXTERNAL_ENTITY])
def test_entities_are_refused_in_the_envelope(prolog: str, reference: str) -> None:
    data = envelope([("XML1", summary())]).replace(DECLARATION.encode(), prolog.encode())
    data = data.replace(b"<MACSKCB>27001", f"<MACSKCB>{reference}27001".encode())
    assert unreadable(data).startswith("the file has a document type declaration")


@pytest.mark.parametrize(("prolog", "reference"), [BILLION_LAUGHS, EXTERNAL_ENTITY])
def test_entities_are_refused_inside_a_table(prolog: str, reference: str) -> None:
    hostile = summary(HO_TEN=reference).replace(DECLARATION, prolog)
    message = unreadable(envelope([("XML1", summary())], [("XML1", hostile)]))
    assert message.startswith("HOSO 2 XML1 has a document type declaration")


def test_entities_are_refused_even_in_tables_provreg_skips() -> None:
    assert "HOSO 1 XML7 has a document type declaration" in unreadable(
        envelope([("XML1", summary()), ("XML7", EXTERNAL_ENTITY[0] + "<X>&xxe;</X>")])
    )


# Pieces of markup a table may hold, hostile or broken ones included, for the test below.
_MARKUP = st.sampled_from(
    ["text", " ", "Âm tính", "&amp;", "&lt;", "&#65;", "&#x1F600;", "&foo;", "&", "<", ">", "]]>",
     "<![CDATA[a<b]]>", "<!-- note -->", "<?pi data?>", "<E/>", '<F k="v"/>', "<g:h/>", '<I xml:lang="vi"/>',
     '<J xmlns="urn:x"/>', '<K xmlns:p="urn:y"><p:L/></K>', "<!DOCTYPE M>", EXTERNAL_ENTITY[0], "<N>", "</N>"]
)  # fmt: skip


@st.composite
def tables_as_sent(draw: st.DrawFn) -> bytes:
    """A table's bytes: nested elements with any of _MARKUP inside, now and then cut or given a bad byte."""

    def element(depth: int) -> str:
        tag = draw(st.sampled_from(["ROOT", "Row", "MA_THUOC", "x-y.z", "Ténthuốc"]))
        attributes = draw(st.sampled_from(["", ' a="1"', " b='&amp;2'"]))
        inner = [
            draw(_MARKUP) if depth > 2 or draw(st.booleans()) else element(depth + 1)
            for _ in range(draw(st.integers(0, 3)))
        ]
        return f"<{tag}{attributes}>{''.join(inner)}</{tag}>"

    prolog = draw(st.sampled_from(["", DECLARATION, '<?xml version="1.0" encoding="utf-16"?>', "\ufeff"]))
    data = (prolog + element(0) + draw(st.sampled_from(["", " ", "<X/>", "tail"]))).encode()
    if draw(st.booleans()):
        cut = draw(st.integers(0, len(data)))
        data = data[:cut] + draw(st.sampled_from([b"", b"\xff", b"\xc3", b"<"])) + data[cut:]
    return data


def _tree(element: ElementTree.Element) -> tuple[object, ...]:
    return (element.tag, element.attrib, element.text, element.tail, [_tree(child) for child in element])


@settings(max_examples=500, deadline=None)
@given(tables_as_sent())
def test_a_table_reads_as_expat_alone_reads_it(data: bytes) -> None:
    """Tables are parsed by ElementTree's C parser where it reads them as the hardened expat does
    (faster); the tree, or the reason the table is refused, is the same either way."""

    def outcome(parse: Callable[[bytes, str], ElementTree.Element | None]) -> object:
        try:
            root = parse(data, "HOSO 1 XML2")
        except UnreadableFile as refused:
            return str(refused)
        return _tree(root) if root is not None else None

    with_c_parser = outcome(xml130._parse_table)
    with mock.patch("loaders.xml130._c_parsed_table", return_value=None):
        assert outcome(xml130._parse_table) == with_c_parser


def test_the_tables_provreg_writes_are_read_by_the_c_parser() -> None:
    encounter = make_encounter("LK1", drugs=2, services=2, labs=2, notes=2)
    data = written([record(1, "LK1", encounter)])
    with mock.patch("loaders.xml130._expat_table", side_effect=AssertionError("read by expat alone")):
        (_, item) = read(data)
    assert isinstance(item, SourceRecord) and item.encounter == encounter


def test_a_truncated_file_is_unreadable_after_the_records_before_the_cut() -> None:
    data = written([record(n, f"LK{n}") for n in range(1, 4)])
    cut = data[: data.index(b"<HOSO>", data.index(b"</HOSO>")) + 40]
    items = read_xml130(io.BytesIO(cut), LoaderOptions())
    assert isinstance(next(items), FileHeader)
    with pytest.raises(UnreadableFile, match="truncated"):
        list(items)
    assert "truncated" in unreadable(data[:-5])
    assert "truncated" in unreadable(b"")


@pytest.mark.parametrize(
    ("content", "expected"),
    [("not base64!", "HOSO 1 XML1: NOIDUNGFILE is not valid base64"),
     ("QUJ", "HOSO 1 XML1: NOIDUNGFILE is not valid base64 (Incorrect padding)"),
     ("QUJDRA==QUJD", "HOSO 1 XML1: NOIDUNGFILE is not valid base64 (Excess data after padding)"),
     ("QUJDRA==é", "HOSO 1 XML1: NOIDUNGFILE is not valid base64 (non-ASCII characters)")],
)  # fmt: skip
def test_bad_base64_is_unreadable(content: str, expected: str) -> None:
    data = envelope([("XML1", summary())]).replace(b64(summary()).encode(), content.encode())
    assert unreadable(data).startswith(expected)


def test_text_that_is_not_utf8_is_unreadable() -> None:
    latin = envelope([("XML1", summary())]).replace(b"<MACSKCB>", "<MACSKCB>\u00e9".encode("latin-1"))
    assert "the file is not UTF-8 text" in unreadable(latin)
    inner = summary().encode().replace(b"Hoa", "Ho\u00e0".encode("cp1258"))  # a legacy Vietnamese code page
    assert "HOSO 1 XML1: the table is not UTF-8 text" in unreadable(envelope([("XML1", inner)]))


def test_malformed_table_is_unreadable() -> None:
    message = unreadable(envelope([("XML1", summary()[:-3])]))
    assert message.startswith("HOSO 1 XML1 is not well-formed XML")


def test_a_file_that_is_not_an_xml130_envelope_is_unreadable() -> None:
    assert "expected <GIAMDINHHS>" in unreadable(b"<Bundle><entry/></Bundle>")


def test_the_file_must_name_its_facility_before_the_records_and_be_the_declared_one() -> None:
    assert unreadable(envelope([("XML1", summary())], facility="27002"), "27001") == (
        "file is from facility 27002 but was declared as 27001"
    )
    assert "THONGTINDONVI/MACSKCB: missing" in unreadable(envelope([("XML1", summary())], facility=""))
    assert "THONGTINDONVI/MACSKCB: '2700' is not a 5-character facility code" in unreadable(
        envelope([("XML1", summary())], facility="2700")
    )
    assert "THONGTINHOSO/SOLUONGHOSO" in unreadable(envelope([("XML1", summary())], count=-1))


def test_an_oversized_hoso_is_unreadable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_RECORD_BYTES", 1024 * 1024)
    huge = [("XML1", summary(DIA_CHI="x" * 1024 * 1024))]
    assert unreadable(envelope(huge)) == "HOSO 1 is larger than 1 MiB"


# --- bounded memory ---------------------------------------------------------------------------


class _Repeated(io.RawIOBase):
    """A file of `count` copies of one HOSO, produced as it is read (the test holds no file)."""

    def __init__(self, head: bytes, hoso: bytes, tail: bytes, count: int) -> None:
        self._parts = self._produce(head, hoso, tail, count)
        self._pending = b""

    @staticmethod
    def _produce(head: bytes, hoso: bytes, tail: bytes, count: int) -> Iterator[bytes]:
        yield head
        for _ in range(count):
            yield hoso
        yield tail

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self._pending:
            self._pending = next(self._parts, b"")
            if not self._pending:
                return 0
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def _peak_memory(count: int) -> int:
    data = written([record(encounter=make_encounter(drugs=0, services=0, labs=0, notes=0))])  # small: fast
    start, end = data.index(b"<HOSO>"), data.index(b"</HOSO>") + len(b"</HOSO>")
    head = data[:start].replace(b"<SOLUONGHOSO>1<", f"<SOLUONGHOSO>{count}<".encode())
    stream = io.BufferedReader(_Repeated(head, data[start:end], data[end:], count))
    tracemalloc.start()
    try:
        records = sum(isinstance(item, SourceRecord) for item in read_xml130(stream, LoaderOptions()))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert records == count
    return peak


@pytest.mark.slow
def test_memory_stays_small_whatever_the_file_size() -> None:
    small, large = _peak_memory(1_000), _peak_memory(20_000)
    assert large < 4 * 2**20, f"peak {large / 2**20:.1f} MiB reading 20,000 HOSO"
    assert large < small * 1.25, f"peak grew from {small} to {large} bytes with 20x the HOSO"
