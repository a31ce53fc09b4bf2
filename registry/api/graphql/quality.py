"""`dataQuality`: the per-facility data-quality report (registry/quality.py, as `provreg quality`).

Stewards and admins read every facility's; a facility token reads its own facility's (without
`facility`, or naming its own: naming another is FORBIDDEN); clinicians are refused (FORBIDDEN):
they treat patients, and the report serves those who run the feeds. The report quotes no value of
any record (reasons keep their field and the shape of their message only), so admins, who may not
read rejects, may read it.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated

import strawberry

from registry.api.errors import BadUserInput, Forbidden
from registry.api.graphql.context import Info
from registry.quality import FacilityQuality, PeriodError, QualityReport, counts_values, quality_report

_FACILITY_CODE = re.compile(r"[0-9A-Z]{5}")


@strawberry.type(description="What the files of one night, or of a period, brought")
class QualityCounts:
    files: int = strawberry.field(description="Files received, whatever became of them")
    files_loaded: int
    files_refused: int = strawberry.field(
        description="Refused whole: unreadable, a declared count the file does not hold, no facility..."
    )
    files_duplicate: int = strawberry.field(description="The same bytes as a file already loaded, sent again")
    files_waiting: int = strawberry.field(description="Received, not loaded yet")
    files_failed: int = strawberry.field(description="provreg failed to load them (not the file's fault)")
    records_in: int = strawberry.field(
        description="Records of the files loaded: loaded + updated + unchanged + rejected"
    )
    loaded: int
    updated: int
    unchanged: int
    rejected: int
    flagged: int = strawberry.field(description="Flagged fields of the records stored (suspect identifiers)")
    visits: int = strawberry.field(description="Records with a visit (an encounter), of the files loaded")
    visits_with_citizen_id: int = strawberry.field(
        description="Of those, how many carry a valid (or repaired) citizen ID"
    )
    citizen_id_share: float | None = strawberry.field(
        description="visitsWithCitizenId / visits, to 4 decimals; null without visits"
    )


@strawberry.type(
    description="A facility's nights of a period, from its first extract on, and what they brought"
)
class QualityFigures(QualityCounts):
    nights: int = strawberry.field(description="Nights of the period from the facility's first extract on")
    nights_loaded: int = strawberry.field(description="Nights with at least one file loaded")
    nights_missing: int = strawberry.field(description="Nights with no file at all")
    nights_not_loaded: int = strawberry.field(description="Nights whose files came but none loaded")


@strawberry.type(description="One night (the night an extract covers) of one facility")
class NightQuality(QualityCounts):
    night: date
    missing: bool = strawberry.field(description="No file at all for this night")


@strawberry.type(description="How many records (or files) were refused for one reason")
class ReasonCount:
    field: str | None = strawberry.field(description="The source field (MA_BN, NGAY_VAO); null for a file")
    reason: str = strawberry.field(description="The message, its quoted values written … and numbers #")
    count: int


@strawberry.type(description="How many fields of stored records were flagged, by identifier and kind")
class FlagCount:
    identifier: str | None = strawberry.field(
        description="person_id, insurance_card or referral_facility; null for another field"
    )
    kind: str = strawberry.field(description="malformed, inconsistent or repaired")
    count: int


@strawberry.type(description="One facility's data quality over the period, and over the period before it")
class FacilityQualityReport:
    code: str
    name: str
    first_night: date | None = strawberry.field(
        description="The night of its first extract ever; null: it never sent a file"
    )
    period: QualityFigures
    previous: QualityFigures = strawberry.field(
        description="The period of the same length before (the trend)"
    )
    missing_nights: list[date] = strawberry.field(description="Nights of the period with no file at all")
    nights: list[NightQuality] = strawberry.field(
        description="Each night of the period from its first extract"
    )
    reject_reasons: list[ReasonCount] = strawberry.field(
        description="Rejected records by field and reason, most first; a record refused for two counts twice"
    )
    flags: list[FlagCount]
    file_refusals: list[ReasonCount] = strawberry.field(description="Files refused whole, by reason")

    @classmethod
    def of(cls, f: FacilityQuality) -> FacilityQualityReport:
        return cls(
            code=f.code,
            name=f.name,
            first_night=f.first_night,
            period=QualityFigures(**counts_values(f.period)),  # type: ignore[arg-type]
            previous=QualityFigures(**counts_values(f.previous)),  # type: ignore[arg-type]
            missing_nights=f.missing_nights,
            nights=[
                NightQuality(night=n.night, missing=n.missing, **counts_values(n))  # type: ignore[arg-type]
                for n in f.nights
            ],
            reject_reasons=[
                ReasonCount(field=r.field, reason=r.reason, count=r.count) for r in f.reject_reasons
            ],
            flags=[FlagCount(identifier=x.identifier, kind=x.kind, count=x.count) for x in f.flags],
            file_refusals=[ReasonCount(field=None, reason=r.reason, count=r.count) for r in f.file_refusals],
        )


@strawberry.type(
    description="Per facility and night: files, missing nights, records, rejects, flags, citizen IDs"
)
class DataQualityReport:
    since: date
    until: date
    previous_since: date
    previous_until: date
    facilities: list[FacilityQualityReport] = strawberry.field(
        description="By code; none for a facility code not registered"
    )
    unattributed_files: int = strawberry.field(
        description="Files of the period refused before their facility was known (reports on every facility)"
    )

    @classmethod
    def of(cls, report: QualityReport) -> DataQualityReport:
        return cls(
            since=report.period.since,
            until=report.period.until,
            previous_since=report.period.previous.since,
            previous_until=report.period.previous.until,
            facilities=[FacilityQualityReport.of(f) for f in report.facilities],
            unattributed_files=report.unattributed_files,
        )


@strawberry.type
class QualityQuery:
    @strawberry.field(
        description=(
            "Each facility's data quality per night (stewards and admins: every facility; a facility "
            "token: its own)"
        )
    )
    async def data_quality(
        self,
        info: Info,
        facility: Annotated[
            str | None,
            strawberry.argument(description="A facility code (a facility token: its own by default)"),
        ] = None,
        since: Annotated[
            date | None, strawberry.argument(description="The first night; default: 27 nights before `until`")
        ] = None,
        until: Annotated[
            date | None, strawberry.argument(description="The last night; default: last night (Vietnam)")
        ] = None,
    ) -> DataQualityReport:
        principal = info.context.principal
        if facility is not None and not _FACILITY_CODE.fullmatch(facility):
            raise BadUserInput("a facility code is 5 characters [0-9A-Z]")
        facility = facility or principal.facility_code
        if not principal.may_read_batches_of(facility):
            whose = f"facility {facility}" if facility else "every facility"
            raise Forbidden(f"this token may not read the data quality of {whose}")
        try:
            report = await info.context.db.read(quality_report(facility=facility, since=since, until=until))
        except PeriodError as refused:
            raise BadUserInput(str(refused)) from None
        return DataQualityReport.of(report)
