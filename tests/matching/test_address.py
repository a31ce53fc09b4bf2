from __future__ import annotations

from datetime import date

import pytest

from matching.address import AdminEra, commune_facts, commune_name


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Thôn Đông, xã Lạc Vệ, huyện Tiên Du, Bắc Ninh", "lac ve"),
        ("Số 5 Lý Thái Tổ - P. Đa Mai - TP Bắc Giang", "da mai"),
        ("TT Chờ, Yên Phong", "cho"),
        ("Phường 3; Quận 5", "3"),
        ("XÃ TIÊN DU, TỈNH BẮC NINH", "tien du"),
        ("Xóm 3, Lạc Vệ", None),  # a hamlet is not a commune; an unmarked name is not claimed
        ("Phố Lý Thái Tổ", None),
    ],
)
def test_commune_name_from_address_text(text: str, name: str | None) -> None:
    assert commune_name(text) == name


@pytest.mark.parametrize(
    ("district", "recorded_at", "era"),
    [
        ("256", date(2025, 9, 1), AdminEra.THREE_LEVEL),  # old form copied forward
        (None, date(2025, 6, 30), AdminEra.THREE_LEVEL),
        (None, date(2025, 7, 1), AdminEra.TWO_LEVEL),
        (None, None, None),
    ],
)
def test_era_from_district_or_date(
    district: str | None, recorded_at: date | None, era: AdminEra | None
) -> None:
    facts = commune_facts(text=None, district_code=district, commune_code="09256", recorded_at=recorded_at)
    assert facts.era == era


def test_commune_codes_get_back_a_lost_leading_zero() -> None:
    facts = commune_facts(text=None, district_code=None, commune_code=" 9256", recorded_at=None)
    assert facts.code == "09256"
