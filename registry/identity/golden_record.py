"""The golden record: a master identity's demographics, computed from its linked source patients.

Survivorship rule (recomputed on every read, so it always follows the current links):
1. rank the source patients: one bearing a citizen ID first, then the most recently updated,
   then the most complete (most fields filled), then the oldest record (lowest id);
2. each field of the golden record comes from the best-ranked source that has it; fields that
   belong together (birth year, month and day; address text and its codes; the insurance
   number and its cards) come together from one source, never mixed;
3. the name, other things being equal, is the best-written spelling of that name: the
   best-ranked source's name decides which name it is, and among the sources writing that same
   name (equal once case and marks are folded away, or one a shortening of the other: the same
   first and last words, middle words left out) the one written properly wins: with diacritics
   first, then in mixed case (not all capitals or all lower case), then the fuller (with the
   middle names), then by rank. "NGUYEN VAN AN", "Nguyen Van An" and "Nguyễn An" give way to
   "Nguyễn Văn An"; a different name (a newborn's "Con bà ..." and the child's own) is not a
   spelling of it, and the ranking alone decides between them.
Each field names the source patient it came from, so the result can be explained.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from matching.normalize import clean, fold, words


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


def _folded_words(name: str) -> list[str]:
    return [fold(word) for word in words(name)]


def same_name(written: str, other: str) -> bool:
    """Whether `other` writes the same name as `written`: equal once folded (case, marks), or
    one a shortening of the other (same first and last words, some middle words left out)."""
    a, b = _folded_words(written), _folded_words(other)
    if not a or not b:
        return False
    if a == b:
        return True
    short, full = (a, b) if len(a) < len(b) else (b, a)
    if short[0] != full[0] or short[-1] != full[-1]:
        return False
    rest = iter(full[1:-1])
    return all(word in rest for word in short[1:-1])  # a subsequence, in order


def name_quality(name: str) -> tuple[bool, bool, int]:
    """How properly a name is written: with diacritics, in mixed case, and how many words."""
    text = clean(name)
    marked = fold(text) != text.lower()
    mixed_case = text != text.upper() and text != text.lower()
    return (marked, mixed_case, len(words(text)))


def _best_written_name(ranked: Sequence[SourceDemographics]) -> SourceDemographics | None:
    named = [s for s in ranked if s.full_name]
    if not named:
        return None
    spellings = [s for s in named if same_name(named[0].full_name, s.full_name)]
    # max() keeps the first of equals: the best-ranked among the best-written.
    return max(spellings, key=lambda s: name_quality(s.full_name))


def golden_record(sources: Sequence[SourceDemographics]) -> GoldenRecord:
    ranked = rank(sources)
    values: dict[str, Any] = {}
    provenance: dict[str, int] = {}
    for golden_field, attributes in FIELD_GROUPS.items():
        if golden_field == "full_name":
            chosen = _best_written_name(ranked)
        else:
            chosen = next((s for s in ranked if getattr(s, attributes[0])), None)
        for attribute in attributes:
            values[attribute] = getattr(chosen, attribute) if chosen else None
        if chosen is not None:
            provenance[golden_field] = chosen.id
    return GoldenRecord(values=values, provenance=provenance)
