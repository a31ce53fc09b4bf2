"""Each noise kind does what its name says."""

from __future__ import annotations

import random
import re
import unicodedata
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from loaders.dates import BirthDate
from loaders.identifiers import CITIZEN_ID_PROVINCES
from loaders.records import FlagKind, Patient, Sex
from synth.identifiers import citizen_id
from synth.names import PersonName
from synth.noise import (
    citizen_id_typo,
    drop_diacritics,
    drop_middle,
    extra_spaces,
    full_width,
    given_first,
    miscode_sex,
    newborn_name,
    partly_unaccented,
    person_id_flag,
    repaired_person_id,
    scientific_notation,
    spelling_variant,
    strip_leading_zeros,
    swap_day_month,
    telex,
    telex_remnant,
    to_nfd,
    typo,
    year_only,
)

NAME = PersonName("Đặng", "Thị", "Hường")


def test_name_noise() -> None:
    assert drop_diacritics("Đặng Thị Hường") == "Dang Thi Huong"
    assert to_nfd("Hường") != "Hường" and unicodedata.normalize("NFC", to_nfd("Hường")) == "Hường"
    assert drop_middle(NAME).full == "Đặng Hường"
    assert given_first(NAME) == "Hường Đặng Thị"
    assert " ".join(extra_spaces(NAME.full, random.Random(1)).split()) == NAME.full


def test_keyboard_noise_in_names() -> None:
    assert telex("Nguyễn") == "Nguyeenx" and telex("Đức") == "Dduwcs" and telex("HƯỜNG") == "HUWOWNGF"
    assert telex("Văn") == "Vawn" and telex("Mai") == "Mai"
    typed = telex_remnant(NAME.full, random.Random(1))
    assert sum(a != b for a, b in zip(typed.split(), NAME.full.split(), strict=True)) == 1


@given(st.integers(0, 10_000))
def test_a_name_partly_unaccented_keeps_some_marks(seed: int) -> None:
    changed = partly_unaccented(NAME.full, random.Random(seed)).split()
    folded = [drop_diacritics(word) for word in NAME.full.split()]
    assert [drop_diacritics(word) for word in changed] == folded
    assert 0 < sum(word == plain for word, plain in zip(changed, folded, strict=True)) < 3


@given(st.integers(0, 10_000))
def test_a_newborn_is_named_after_its_mother(seed: int) -> None:
    written = newborn_name("Trần Thị Mai", random.Random(seed))
    assert written in (
        "Con bà Trần Thị Mai",
        "CON CUA TRAN THI MAI",
        "Con sản phụ Trần Thị Mai",
        "CB TRAN THI MAI",
        "Trần Thị Mai",
    )


def test_spelling_variants_swap_tone_placement_both_ways() -> None:
    assert spelling_variant("Nguyễn Thị Hòa") == "Nguyễn Thị Hoà"
    assert spelling_variant("Nguyễn Thị Hoà") == "Nguyễn Thị Hòa"
    assert spelling_variant("Lê Thủy") == "Lê Thuỷ"
    assert spelling_variant("Hoàng Văn Toàn") == "Hoàng Văn Toàn"  # closed syllables have one spelling
    assert spelling_variant("Lý Văn Nam") == "Lí Văn Nam"


@given(st.integers(0, 10_000))
def test_a_typo_is_one_small_edit(seed: int) -> None:
    changed = typo("Nguyễn Văn Hùng", random.Random(seed))
    assert abs(len(changed) - len("Nguyễn Văn Hùng")) <= 1
    assert changed.split()[0][0] == "N" and changed.count(" ") == 2


@given(st.integers(0, 10_000))
def test_a_citizen_id_typo_changes_exactly_one_digit(seed: int) -> None:
    original = "027185012345"
    changed = citizen_id_typo(original, random.Random(seed))
    assert len(changed) == 12 and changed.isdigit()
    assert sum(a != b for a, b in zip(original, changed, strict=True)) == 1


def test_birth_date_noise() -> None:
    assert swap_day_month(date(1980, 3, 7)) == BirthDate(year=1980, month=7, day=3)
    assert swap_day_month(date(1980, 3, 25)) is None  # would not be a date: not this kind of noise
    assert swap_day_month(date(1980, 5, 5)) is None  # would not differ
    assert year_only(date(1948, 2, 1)).is_year_only


# --- identifiers as written, and what the loaders must make of them ----------------------------

_PROVINCES = sorted(CITIZEN_ID_PROVINCES)


@st.composite
def citizen_ids(draw: st.DrawFn) -> tuple[str, Sex, int]:
    """A valid citizen ID with the sex and birth year it agrees with."""
    sex = draw(st.sampled_from([Sex.MALE, Sex.FEMALE]))
    year = draw(st.integers(1900, 2025))
    province = draw(st.sampled_from(_PROVINCES))
    return citizen_id(province, sex, year, draw(st.integers(0, 999_999)), seed=1), sex, year


@given(citizen_ids())
def test_spreadsheet_and_keyboard_damage_is_flagged_as_the_rule_says(found: tuple[str, Sex, int]) -> None:
    cid, sex, year = found
    assert person_id_flag(cid, sex=sex, birth_year=year) is None
    stripped = strip_leading_zeros(cid)
    assert not stripped.startswith("0") and cid.endswith(stripped)
    if cid.startswith("00"):  # Hà Nội's 001 loses two zeros: 10 digits, nothing to restore
        assert person_id_flag(stripped, sex=sex, birth_year=year) == FlagKind.MALFORMED
    else:
        assert person_id_flag(stripped, sex=sex, birth_year=year) == FlagKind.REPAIRED
        assert repaired_person_id(stripped) == cid
    assert person_id_flag(scientific_notation(cid), sex=sex, birth_year=year) == FlagKind.MALFORMED
    wide = full_width(cid)
    assert wide.isdigit() and not wide.isascii()
    assert person_id_flag(wide, sex=sex, birth_year=year) == FlagKind.REPAIRED
    assert repaired_person_id(wide) == cid
    # A miscoded sex contradicts digit 4, however the ID is written.
    other = miscode_sex(sex)
    assert other != sex and miscode_sex(other) == sex
    assert person_id_flag(cid, sex=other, birth_year=year) == FlagKind.INCONSISTENT
    assert person_id_flag(wide, sex=other, birth_year=year) == FlagKind.INCONSISTENT
    if not cid.startswith("00"):
        assert person_id_flag(stripped, sex=other, birth_year=year) == FlagKind.INCONSISTENT


@given(
    st.text("0123456789", min_size=12, max_size=12), st.sampled_from([None, *Sex]), st.integers(1900, 2025)
)
def test_the_flag_rule_agrees_with_the_canonical_model_on_twelve_digits(
    digits: str, sex: Sex | None, year: int
) -> None:
    """No flag exactly when the canonical record accepts the ID as its citizen ID."""
    try:
        Patient(facility_code="27001", local_id="X", full_name="A B", sex=sex,
                birth_date=BirthDate(year=year), citizen_id=digits)  # fmt: skip
        accepted = True
    except ValidationError:
        accepted = False
    flag = person_id_flag(digits, sex=sex, birth_year=year)
    assert (flag is None) == accepted
    assert flag in (None, FlagKind.MALFORMED, FlagKind.INCONSISTENT)


@given(st.text("0123456789", min_size=1, max_size=14).filter(lambda d: d.lstrip("0")))
def test_scientific_notation_looks_like_a_spreadsheets(digits: str) -> None:
    written = scientific_notation(digits)
    mantissa, exponent = written.split("E+")
    assert re.fullmatch(r"[1-9](\.\d{1,5})?", mantissa) and exponent.isdigit()
    assert float(written) == pytest.approx(int(digits), rel=1e-5)
    assert person_id_flag(written, sex=None, birth_year=None) == FlagKind.MALFORMED


def test_scientific_notation_of_a_citizen_id() -> None:
    assert scientific_notation("024185000123") == "2.4185E+10"  # the sixth digit, 0, not shown
    assert scientific_notation("241851000000") == "2.41851E+11"
    assert strip_leading_zeros("0912345678") == "912345678"
