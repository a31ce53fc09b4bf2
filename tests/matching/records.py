"""Building person records for tests: one well-documented person, varied field by field."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from matching.person import PersonRecord, PreparedPerson, prepare

HUNG = PersonRecord(
    record_id=1,
    facility_code="27001",
    full_name="Nguyễn Văn Hùng",
    birth_year=1980,
    birth_month=5,
    birth_day=12,
    sex=1,
    citizen_id="027080001234",
    social_insurance_number="2712345678",
    phone="0912345678",
    address_text="Thôn Đông, xã Lạc Vệ, huyện Tiên Du, Bắc Ninh",
    province_code="27",
    district_code="256",
    commune_code="09256",
    recorded_at=date(2024, 3, 1),
)


def person(base: PersonRecord = HUNG, **changes: object) -> PreparedPerson:
    """`base` with some fields changed (a new record id unless given), prepared."""
    changes.setdefault("record_id", base.record_id + 1000)
    return prepare(replace(base, **changes))


def without_ids(base: PersonRecord = HUNG) -> PersonRecord:
    return replace(base, citizen_id=None, social_insurance_number=None, old_id_number=None, passport=None)
