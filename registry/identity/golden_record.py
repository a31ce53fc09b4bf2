"""The golden record: a master identity's demographics, computed from its linked source patients.

Survivorship rule (recomputed on every read, so it always follows the current links):
1. rank the source patients: one bearing a citizen ID first, then the most recently updated,
   then the most complete (most fields filled), then the oldest record (lowest id);
2. each field of the golden record comes from the best-ranked source that has it; fields that
   belong together (birth year, month and day; address text and its codes; the insurance
   number and its cards) come together from one source, never mixed.
Each field names the source patient it came from, so the result can be explained.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


class SourceDemographics(Protocol):
    """What one facility recorded about a patient (the current version of a source patient): a
    row of `source_patient` has all of it."""

    id: int
    full_name: str
    birth_year: int | None
    birth_month: int | None
    birth_day: int | None
    sex: int | None
    citizen_id: str | None
    social_insurance_number: str | None
    insurance_cards: Sequence[str] | None
    phone: str | None
    address_text: str | None
    province_code: str | None
    commune_code: str | None
    updated_at: datetime


# Golden field -> the source attributes it takes together (the first one decides whether a source has it).
FIELD_GROUPS: dict[str, tuple[str, ...]] = {
    "full_name": ("full_name",),
    "birth_date": ("birth_year", "birth_month", "birth_day"),
    "sex": ("sex",),
    "citizen_id": ("citizen_id",),
    "insurance": ("social_insurance_number", "insurance_cards"),
    "phone": ("phone",),
    "address": ("address_text", "province_code", "commune_code"),
}


@dataclass(frozen=True)
class GoldenRecord:
    values: dict[str, Any]
    # Golden field -> id of the source patient it came from.
    provenance: dict[str, int] = field(default_factory=dict)


def _filled(source: SourceDemographics) -> int:
    return sum(bool(getattr(source, group[0])) for group in FIELD_GROUPS.values())


def rank(sources: Sequence[SourceDemographics]) -> list[SourceDemographics]:
    if len(sources) < 2:  # most patients have one source record
        return list(sources)
    return sorted(
        sources,
        key=lambda s: (s.citizen_id is None, -s.updated_at.timestamp(), -_filled(s), s.id),
    )


def golden_record(sources: Sequence[SourceDemographics]) -> GoldenRecord:
    ranked = rank(sources)
    values: dict[str, Any] = {}
    provenance: dict[str, int] = {}
    for golden_field, attributes in FIELD_GROUPS.items():
        chosen = next((s for s in ranked if getattr(s, attributes[0])), None)
        for attribute in attributes:
            values[attribute] = getattr(chosen, attribute) if chosen else None
        if chosen is not None:
            provenance[golden_field] = chosen.id
    return GoldenRecord(values=values, provenance=provenance)
