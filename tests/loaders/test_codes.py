"""ICD-10 codes, text normalisation and field reading shared by all formats."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loaders.codes import InvalidCode, normalise_icd10
from loaders.fields import FieldReader
from loaders.records import Patient
from loaders.text import clean_text
from tests.factories import citizen_id


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("J18.9", "J18.9"),
        ("j189", "J18.9"),
        (" B20 ", "B20"),
        ("A18.0†", "A18.0"),
        ("N74.1*", "N74.1"),
        ("E11.65", "E11.65"),
    ],
)
def test_icd10_codes_are_upper_case_and_dotted(raw: str, expected: str) -> None:
    assert normalise_icd10(raw) == expected


@given(st.from_regex(r"[A-Z][0-9]{2}(\.[0-9]{1,2})?", fullmatch=True))
def test_icd10_normalisation_is_idempotent(code: str) -> None:
    assert normalise_icd10(normalise_icd10(code)) == normalise_icd10(code.replace(".", "").lower())


def test_non_codes_are_refused() -> None:
    with pytest.raises(InvalidCode, match="not an ICD-10 code"):
        normalise_icd10("viêm phổi")


@given(st.text())
def test_clean_text_is_nfc_and_single_spaced(raw: str) -> None:
    cleaned = clean_text(raw)
    if cleaned is not None:
        assert unicodedata.is_normalized("NFC", cleaned)
        assert "  " not in cleaned and cleaned == cleaned.strip()
        assert clean_text(cleaned) == cleaned


def test_field_reader_names_the_source_field_in_every_reason() -> None:
    reader = FieldReader()
    ids = reader.person_ids("SO_CCCD", "02719001234", sex=None, birth_year=None)
    reader.birth_date("NGAY_SINH", "19901301")
    reader.sex("GIOI_TINH", "7")
    reader.timestamp("NGAY_VAO", "20251345", strict=True)
    reader.required("MA_BN", " ")
    assert ids == {}
    # What the record cannot do without is an error (it rejects the record) ...
    assert reader.errors == ["NGAY_VAO: '20251345' is not a valid date (month 13)", "MA_BN: missing"]
    # ... anything else is flagged, and the record stored without it.
    assert [flag.reason for flag in reader.flags] == [
        "SO_CCCD: 11 digits, expected 12 (citizen ID) or 9 (old ID card)",
        "NGAY_SINH: '19901301' is not a valid date (month 13)",
        "GIOI_TINH: '7' is not a sex code (1 male, 2 female, 3 undetermined)",
    ]


def test_model_rules_come_back_with_source_field_names() -> None:
    reader = FieldReader()
    built = reader.build(
        Patient,
        {"citizen_id": "SO_CCCD", "": "SO_CCCD"},
        facility_code="27001",
        local_id="BN1",
        full_name="Nguyễn Thị Lan",
        citizen_id=citizen_id(sex=1, year=1980),
        sex=2,
    )
    assert built is None
    assert reader.errors == ["SO_CCCD: citizen ID digit 4 (0) says a man, but the recorded sex is female"]
