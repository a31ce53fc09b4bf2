"""Citizen IDs, old ID cards, passports, insurance cards, facility codes and phones."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loaders.identifiers import (
    CITIZEN_ID_PROVINCES,
    InvalidIdentifier,
    PersonIdKind,
    check_facility_code,
    citizen_id_conflicts,
    citizen_id_facts,
    classify_person_id,
    normalise_phone,
    parse_insurance_card,
)
from tests.factories import citizen_id


@given(
    province=st.sampled_from(sorted(CITIZEN_ID_PROVINCES)),
    sex=st.sampled_from([1, 2]),
    year=st.integers(1900, 2099),
    serial=st.from_regex(r"[0-9]{6}", fullmatch=True),
)
def test_a_citizen_id_says_province_sex_and_birth_year(
    province: str, sex: int, year: int, serial: str
) -> None:
    value = citizen_id(province, sex, year, serial)
    facts = citizen_id_facts(value)
    assert (facts.province, facts.sex, facts.birth_year) == (province, sex, year)
    assert citizen_id_conflicts(value, sex=sex, birth_year=year) is None
    assert classify_person_id(f" {value[:4]} {value[4:]} ") == (PersonIdKind.CITIZEN_ID, value)


def test_citizen_id_disagreeing_with_the_person_is_explained() -> None:
    woman_1990 = citizen_id(sex=2, year=1990)
    assert "says a woman" in (citizen_id_conflicts(woman_1990, sex=1, birth_year=1990) or "")
    assert "born 1900-1999" in (citizen_id_conflicts(woman_1990, sex=2, birth_year=2012) or "")
    assert "digits 5-6 (90)" in (citizen_id_conflicts(woman_1990, sex=2, birth_year=1991) or "")
    assert citizen_id_conflicts(woman_1990, sex=3, birth_year=None) is None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("02719001234", "11 digits, expected 12"),
        ("099190012345", "province code 099 does not exist"),
        ("027790012345", "century/sex digit 7"),
        ("ABC", "is not a citizen ID"),
    ],
)
def test_bad_person_ids_are_refused_with_a_reason(raw: str, message: str) -> None:
    with pytest.raises(InvalidIdentifier, match=message):
        classify_person_id(raw)


def test_old_id_cards_and_passports_are_their_own_kinds() -> None:
    assert classify_person_id("125 678 901") == (PersonIdKind.OLD_ID_CARD, "125678901")
    assert classify_person_id("b1234567") == (PersonIdKind.PASSPORT, "B1234567")


def test_insurance_cards_keep_the_lifelong_number() -> None:
    first, second = (parse_insurance_card(card) for card in ("DN4270123456789", "HT3270123456789"))
    assert first.social_insurance_number == second.social_insurance_number == "0123456789"
    assert (first.beneficiary_group, first.benefit_level, first.province) == ("DN", 4, "27")
    with pytest.raises(InvalidIdentifier, match="14 characters"):
        parse_insurance_card("DN427012345678")
    with pytest.raises(InvalidIdentifier, match="benefit level"):
        parse_insurance_card("DN9270123456789")


def test_facility_codes_are_five_characters() -> None:
    assert check_facility_code(" 27001 ") == "27001"
    with pytest.raises(InvalidIdentifier):
        check_facility_code("2700")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0912 345 678", "0912345678"),
        ("+84 912345678", "0912345678"),
        ("912345678", "0912345678"),
        ("12", None),
    ],
)
def test_phones_are_compacted_to_national_form(raw: str, expected: str | None) -> None:
    assert normalise_phone(raw) == expected


def test_only_ascii_digits_make_an_identifier() -> None:
    with pytest.raises(InvalidIdentifier):
        classify_person_id("02708501234٥")  # an Arabic-Indic five at the end
