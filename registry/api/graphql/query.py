"""The root fields: who may call each is checked here, and every patient read is audited here."""

from __future__ import annotations

import re
from datetime import date
from enum import Enum
from typing import Annotated

import strawberry

from registry import reads
from registry.access import tokens
from registry.access.audit import access_log
from registry.access.roles import Permission, Role
from registry.api.errors import BadUserInput, Forbidden, IdentityScattered, NotFound
from registry.api.graphql.context import Info
from registry.api.graphql.identity import FieldComparison, Patient, PatientCandidate
from registry.api.graphql.inputs import digits_only, identifier, nfkc
from registry.api.graphql.operations import (
    AccessEntry,
    Batch,
    FacilityKind,
    FacilitySummary,
    IssuedToken,
    Token,
)
from registry.api.graphql.pagination import page_size, parse_id
from registry.facilities import set_facility
from registry.identity.master_ids import answer_for
from registry.identity.search import PatientQuery, candidate_sources, rank_candidates
from registry.identity.stewardship import StewardshipError, relink

MAX_CANDIDATES = 20
MIN_BIRTH_YEAR = 1850
SEXES = (1, 2, 3)
# ASCII classes: `\d` would take full-width and other digits, which no stored identifier holds.
_CITIZEN_ID = re.compile(r"[0-9]{12}")
_FACILITY_CODE = re.compile(r"[0-9A-Z]{5}")


@strawberry.input(
    description="What is known of a patient without a citizen ID; name, phone or insurance number needed"
)
class PatientSearch:
    name: str | None = strawberry.field(default=None, description="Full name, with or without diacritics")
    birth_date: date | None = None
    birth_year: int | None = None
    sex: int | None = None
    commune_code: str | None = None
    phone: str | None = None
    insurance_number: str | None = strawberry.field(
        default=None, description="A 15-character card or its 10-digit social-insurance number"
    )


@strawberry.type(description="What a relink did, as it stands once made")
class RelinkResult:
    link_id: strawberry.ID
    previous_patient_id: strawberry.ID | None = strawberry.field(
        description="The identity the record left (null if it had none), even when the move retired it"
    )
    previous_patient: Patient | None = strawberry.field(
        description=(
            "The identity the record left, as it is now; when the move left it without records it is "
            "retired, and this is the identity its records went to (as `patient(id:)` answers)"
        )
    )
    patient: Patient


@strawberry.type
class Caller:
    name: str
    role: str
    facility_code: str | None


@strawberry.enum
class TokenRole(Enum):
    CLINICIAN = "clinician"
    STEWARD = "steward"
    FACILITY = "facility"
    ADMIN = "admin"


def _search_query(search: PatientSearch) -> PatientQuery:
    for text in (search.name, search.phone, search.insurance_number, search.commune_code):
        if text is not None and len(text) > 255:
            raise BadUserInput("search values are at most 255 characters")
    if search.birth_year is not None and not MIN_BIRTH_YEAR <= search.birth_year <= date.today().year:
        raise BadUserInput(f"`birthYear` is a year from {MIN_BIRTH_YEAR} to this year")
    if search.sex is not None and search.sex not in SEXES:
        raise BadUserInput("`sex` is 1 (male), 2 (female) or 3 (undetermined)")
    commune_code = digits_only(search.commune_code, "a commune code")
    query = PatientQuery(
        name=search.name,
        birth_date=search.birth_date,
        birth_year=search.birth_year,
        sex=search.sex,
        commune_code=commune_code,
        phone=digits_only(search.phone, "a phone number"),
        insurance_number=digits_only(search.insurance_number, "an insurance number"),
    )
    if not query.searchable:
        raise BadUserInput("give a name, a phone number or an insurance number to search by")
    return query


@strawberry.type
class Query:
    @strawberry.field(description="The caller, as its token says")
    def me(self, info: Info) -> Caller:
        principal = info.context.principal
        return Caller(name=principal.name, role=principal.role.value, facility_code=principal.facility_code)

    @strawberry.field(
        description=(
            "One master patient, by id or by citizen ID; the read is audited with its purpose. The id of an "
            "identity since merged into another answers with the surviving patient (under its own id); one "
            "whose records went to several identities answers NOT_FOUND naming them all (`answersWith`)"
        )
    )
    async def patient(
        self,
        info: Info,
        id: strawberry.ID | None = None,
        citizen_id: str | None = None,
        purpose: Annotated[
            str | None, strawberry.argument(description="Why (else the X-Purpose header)")
        ] = None,
    ) -> Patient | None:
        context = info.context
        context.require(Permission.READ_PATIENT)
        stated = context.purpose(purpose)
        if (id is None) == (citizen_id is None):
            raise BadUserInput("give exactly one of `id` and `citizenId`")
        if citizen_id is not None:
            # Full-width digits are the same number (NFKC); other digits are refused.
            citizen_id = identifier(citizen_id, "a citizen ID", _CITIZEN_ID, "12 digits 0-9")
            master_id = await context.db.read(reads.master_of_citizen(citizen_id))
        else:
            master_id = parse_id(id or "", "a patient id")
        if master_id is not None and await context.audit([master_id], "patient", stated):
            return Patient(id=strawberry.ID(str(master_id)))
        # A retired identity: read under the one identity its records are in now; when they went to
        # several, the answer names them all and picks none.
        answer = await context.db.read(answer_for(master_id)) if master_id is not None else None
        if answer is not None and answer.scattered:
            raise IdentityScattered(answer.master_patient_id, answer.answers_with)
        survivor = answer.moved_to if answer is not None else None
        if survivor is None or not await context.audit([survivor], "patient", stated):
            raise NotFound("no such patient")
        return Patient(id=strawberry.ID(str(survivor)))

    @strawberry.field(description="Find patients without a citizen ID; every candidate shown is audited")
    async def patients(
        self, info: Info, search: PatientSearch, first: int = 10, purpose: str | None = None
    ) -> list[PatientCandidate]:
        context = info.context
        context.require(Permission.SEARCH_PATIENTS)
        stated = context.purpose(purpose)
        limit = page_size(first, MAX_CANDIDATES)
        query = _search_query(search)
        candidates = rank_candidates(query, await context.db.read(candidate_sources(query)), limit)
        await context.audit([c.master_patient_id for c in candidates], "patients", stated)
        return [
            PatientCandidate(
                patient=Patient(id=strawberry.ID(str(c.master_patient_id))),
                best_source_record_id=strawberry.ID(str(c.source_patient_id)),
                weight=round(c.weight, 3),
                probability=round(c.probability, 6),
                comparisons=[
                    FieldComparison(comparison=f.comparison, level=f.level, weight=round(f.weight, 3))
                    for f in c.fields
                ],
            )
            for c in candidates
        ]

    @strawberry.field
    async def facilities(self, info: Info) -> list[FacilitySummary]:
        info.context.require(Permission.READ_FACILITIES)
        rows = await info.context.db.read(reads.FACILITIES)
        return [
            FacilitySummary(
                code=r.code,
                name=r.name,
                kind=FacilityKind(r.kind),
                batches=r.batches,
                rejected_batches=r.rejected_batches,
                last_received_at=r.last_received_at,
            )
            for r in rows
        ]

    @strawberry.field
    async def batch(self, info: Info, id: strawberry.ID) -> Batch | None:
        row = await info.context.db.read(reads.batch(parse_id(id, "a batch id")))
        if row is None:
            raise NotFound("no such batch")
        if not info.context.principal.may_read_batches_of(row.facility_code):
            raise Forbidden("this token may not read this batch")
        return Batch.from_row(row)

    @strawberry.field(description="Ingest batches, newest first; a facility token sees its own facility's")
    async def batches(
        self,
        info: Info,
        facility_code: str | None = None,
        first: int = 20,
        before: strawberry.ID | None = None,
    ) -> list[Batch]:
        context = info.context
        facility_code = nfkc(facility_code) if facility_code else context.principal.facility_code
        if not context.principal.may_read_batches_of(facility_code):
            raise Forbidden("this token may not read these batches")
        limit = page_size(first, context.config.max_page_size)
        before_id = parse_id(before, "a batch id") if before else None
        return [
            Batch.from_row(r) for r in await context.db.read(reads.batches(facility_code, before_id, limit))
        ]

    @strawberry.field(description="Who read a patient's data, newest first (stewards and admins)")
    async def access_log(
        self, info: Info, patient_id: strawberry.ID, first: int = 50, before: strawberry.ID | None = None
    ) -> list[AccessEntry]:
        context = info.context
        context.require(Permission.READ_ACCESS_LOG)
        limit = page_size(first, context.config.max_page_size)
        before_id = parse_id(before, "an access entry id") if before else None
        rows = await context.db.read(access_log(parse_id(patient_id, "a patient id"), before_id, limit))
        return [AccessEntry.from_row(r) for r in rows]

    @strawberry.field
    async def tokens(self, info: Info) -> list[Token]:
        info.context.require(Permission.MANAGE_TOKENS)
        return [Token.from_row(r) for r in await info.context.db.read(tokens.list_tokens())]


@strawberry.type
class Mutation:
    @strawberry.mutation(description="A new bearer token; its secret is in the answer and nowhere else")
    async def create_token(
        self,
        info: Info,
        name: str,
        role: TokenRole,
        facility_code: str | None = None,
        valid_days: int | None = None,
    ) -> IssuedToken:
        context = info.context
        context.require(Permission.MANAGE_TOKENS)
        try:
            issued = await context.write(
                tokens.create_token,
                name=name,
                role=Role(role.value),
                created_by=f"token:{context.principal.name}",
                facility_code=facility_code,
                valid_days=valid_days,
            )
        except tokens.TokenError as refused:
            raise BadUserInput(str(refused)) from None
        made = await context.db.read(tokens.token_by_id(issued.id))
        return IssuedToken(token=Token.from_row(made), secret=issued.secret)

    @strawberry.mutation(description="Revoke a token; true if it was live")
    async def revoke_token(self, info: Info, id: strawberry.ID) -> bool:
        context = info.context
        context.require(Permission.MANAGE_TOKENS)
        return await context.write(
            tokens.revoke_token, parse_id(id, "a token id"), f"token:{context.principal.name}"
        )

    @strawberry.mutation(
        description="A steward's decision: link a source record to a patient, or to a new identity of its own"
    )
    async def relink_source_record(
        self,
        info: Info,
        source_record_id: strawberry.ID,
        reason: str,
        patient_id: strawberry.ID | None = None,
    ) -> RelinkResult:
        context = info.context
        context.require(Permission.IDENTITY_WORK)
        if not 1 <= len(reason.strip()) <= 500:
            raise BadUserInput("give a reason of 1 to 500 characters")
        target = parse_id(patient_id, "a patient id") if patient_id is not None else None
        try:
            done = await context.write(
                relink,
                parse_id(source_record_id, "a source record id"),
                target,
                f"steward:{context.principal.name}",
                reason.strip(),
            )
        except StewardshipError as refused:
            raise BadUserInput(str(refused)) from None
        # Answered from the state the relink leaves: the identity it emptied is retired by now.
        previous, joined = done.previous_master_id, done.master_patient_id
        now = await context.identities_now(m for m in (previous, joined) if m is not None)
        shown = [m for m in now.values() if m is not None]
        await context.audit(shown, "relinkSourceRecord", f"identity work: {reason.strip()}"[:200])
        previous_now = now[previous] if previous is not None else None
        return RelinkResult(
            link_id=strawberry.ID(str(done.link_id)),
            previous_patient_id=strawberry.ID(str(previous)) if previous is not None else None,
            previous_patient=Patient(id=strawberry.ID(str(previous_now))) if previous_now else None,
            patient=Patient(id=strawberry.ID(str(now[joined] or joined))),
        )

    @strawberry.mutation(description="Register a facility or change its name and kind")
    async def set_facility(self, info: Info, code: str, name: str, kind: FacilityKind) -> bool:
        context = info.context
        context.require(Permission.MANAGE_FACILITIES)
        code = nfkc(code)
        if not _FACILITY_CODE.fullmatch(code) or not 1 <= len(name.strip()) <= 255:
            raise BadUserInput("a facility code is 5 characters [0-9A-Z]; a name 1 to 255 characters")
        await context.write(set_facility, code, name.strip(), kind.value)
        return True
