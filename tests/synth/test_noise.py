"""Each noise kind does what its name says."""

from __future__ import annotations

import random
import unicodedata
from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from loaders.dates import BirthDate
from registry.synth.names import PersonName
from registry.synth.noise import (
    citizen_id_typo,
    drop_diacritics,
    drop_middle,
    extra_spaces,
    given_first,
    spelling_variant,
    swap_day_month,
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
