"""Finding a patient without a citizen ID: candidate retrieval in SQL, ranking by the matching engine.

Retrieval uses the indexes of sql/0002_access.sql: folded name (+ birth year when known),
phone, and the 10-digit social-insurance number (the lifelong part of the insurance card).
Each candidate source record is then scored against the query field by field with the model
linking uses (`registry.identity.model_store`: the trained one once a model is stored); a master
identity is ranked by its best-scoring source record.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from loaders.identifiers import normalise_phone
from matching.person import PersonRecord, prepare
from matching.score import FieldScore, Scorer
from registry.db.sql import Query, Steps
from registry.identity.model_store import active_scorer

MAX_CANDIDATE_SOURCES = 200
_NOT_DIGIT = re.compile(r"\D", re.ASCII)  # a full-width or other digit is not one of 0-9


@dataclass(frozen=True)
class PatientQuery:
    """What a clinician knows about a patient; at least one of name, phone or insurance number."""

    name: str | None = None
    birth_date: date | None = None
    birth_year: int | None = None
    sex: int | None = None
    commune_code: str | None = None
    phone: str | None = None
    insurance_number: str | None = None

    @property
    def full_name(self) -> str:
        return " ".join(unicodedata.normalize("NFC", self.name or "").split())

    @property
    def year(self) -> int | None:
        return self.birth_date.year if self.birth_date else self.birth_year

    @property
    def social_insurance_number(self) -> str | None:
        """The 10 lifelong digits: of a whole 15-character card, or the number alone."""
        digits = _NOT_DIGIT.sub("", self.insurance_number or "")
        return digits[-10:] if len(digits) >= 10 else None

    @property
    def phone_number(self) -> str | None:
        return normalise_phone(self.phone) if self.phone else None

    @property
    def searchable(self) -> bool:
        return bool(self.full_name or self.phone_number or self.social_insurance_number)

    def as_person(self) -> PersonRecord:
        born = self.birth_date
        return PersonRecord(
            record_id=0,
            facility_code="",
            full_name=self.full_name,
            birth_year=self.year,
            birth_month=born.month if born else None,
            birth_day=born.day if born else None,
            sex=self.sex,
            social_insurance_number=self.social_insurance_number,
            phone=self.phone_number,
            commune_code=self.commune_code,
        )


@dataclass(frozen=True)
class CandidateSources:
    """The source patients that share a retrieval key with a query, each with its current master,
    and the scorer of the model in use to rank them."""

    rows: Sequence[Any]
    scorer: Scorer


def candidate_sources(query: PatientQuery) -> Steps[CandidateSources]:
    """Source patients that share a retrieval key with the query, with their current master, and
    the scorer to rank them (the model linking uses)."""
    keys = []
    if query.full_name:
        folded = "fold_name(sp.full_name) = fold_name(%(name)s::text)"
        keys.append(f"({folded} AND sp.birth_year = %(year)s)" if query.year else folded)
    if query.phone_number:
        keys.append("sp.phone = %(phone)s")
    if query.social_insurance_number:
        keys.append("sp.social_insurance_number = %(insurance)s")
    found = yield Query(
        "SELECT sp.*, l.master_patient_id FROM source_patient sp"
        " JOIN patient_link l ON l.source_patient_id = sp.id"
        f" WHERE l.superseded_at IS NULL AND ({' OR '.join(keys) or 'false'})"
        " ORDER BY sp.id LIMIT %(limit)s",
        {
            "name": query.full_name,
            "year": query.year,
            "phone": query.phone_number,
            "insurance": query.social_insurance_number,
            "limit": MAX_CANDIDATE_SOURCES,
        },
    )
    scorer = yield from active_scorer()
    return CandidateSources(found, scorer)


@dataclass(frozen=True)
class Candidate:
    master_patient_id: int
    source_patient_id: int
    weight: float  # match weight in bits
    probability: float
    fields: tuple[FieldScore, ...]


def _person(source: Any) -> PersonRecord:
    return PersonRecord(
        record_id=source.id,
        facility_code=source.facility_code,
        full_name=source.full_name,
        birth_year=source.birth_year,
        birth_month=source.birth_month,
        birth_day=source.birth_day,
        sex=source.sex,
        citizen_id=source.citizen_id,
        old_id_number=source.old_id_number,
        passport=source.passport_number,
        social_insurance_number=source.social_insurance_number,
        phone=source.phone,
        address_text=source.address_text,
        province_code=source.province_code,
        district_code=source.district_code,
        commune_code=source.commune_code,
    )


def rank_candidates(query: PatientQuery, sources: CandidateSources, limit: int) -> list[Candidate]:
    """One candidate per master identity (its best-scoring source record), best first."""
    wanted = prepare(query.as_person())
    best: dict[int, Candidate] = {}
    for source in sources.rows:
        scored = sources.scorer.score(wanted, prepare(_person(source)))
        kept = best.get(source.master_patient_id)
        if kept is None or scored.weight > kept.weight:
            best[source.master_patient_id] = Candidate(
                source.master_patient_id, source.id, scored.weight, scored.probability, scored.fields
            )
    return sorted(best.values(), key=lambda c: (-c.weight, c.master_patient_id))[:limit]
