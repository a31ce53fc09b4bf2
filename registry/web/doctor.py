"""The doctor's pages: find a patient (by citizen ID, or by name, birth date or year and commune),
then the patient's history across facilities: a one-screen summary first (active problems with
their ICD-10 chapters and titles, the last visit at each facility, current and recent drugs,
allergies where a source carries them), then the episodes newest first with every code in words,
the lab results as series across facilities, and the referral chain.

Every patient a page shows is audited first with the purpose the doctor picked
(registry/access/audit.py, as the API audits). Everything is read through registry/reads.py and
registry/identity/search.py, as the API reads it; the codes' words come from the ICD-10
catalogues and registry/codes/xml130.toml.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from matching.score import FieldScore
from registry import reads
from registry.access.roles import Permission
from registry.codes import labels
from registry.identity.golden_record import golden_record
from registry.identity.search import PatientQuery, candidate_sources, rank_candidates
from registry.web.session import Page

HOME = "/doctor"
# Why the doctor reads the record: the purpose the audit keeps (Circular 13/2025/TT-BYT).
PURPOSES = {
    "treatment": "Khám, chữa bệnh (treating this patient)",
    "emergency": "Cấp cứu (emergency care)",
    "referral": "Chuyển tuyến (a referral sent or received)",
    "follow-up": "Theo dõi điều trị (follow-up of treatment)",
}
CANDIDATES = 10
TIMELINE_EPISODES = 100
ACTIVE_DAYS = 365  # a problem seen within a year of the last visit counts as active
CURRENT_DRUG_DAYS = 30  # as the API's MedicationUse.current
RECENT_DRUG_DAYS = 365
SEXES = {1: "Nam (male)", 2: "Nữ (female)", 3: "Chưa xác định (undetermined)"}
KINDS = {
    "central_hospital": "central hospital",
    "hospital": "hospital",
    "medical_centre": "medical centre",
    "clinic": "clinic",
    "unknown": "facility",
}
# The search's comparisons in a doctor's words.
FIELD_WORDS = {
    "family_name": "family name", "middle_name": "middle name", "given_name": "given name",
    "birth_date": "birth date", "sex": "sex", "phone": "phone", "social_insurance": "insurance number",
    "commune": "commune", "address": "address", "citizen_id": "citizen ID",
}  # fmt: skip
NAME_PARTS = ("family_name", "middle_name", "given_name")


# Finding a patient -------------------------------------------------------------------------------


# How much the compared fields say together (bits, the prior left out): a name and a whole birth
# date agreeing weigh about 24, a name and a birth year about 15, a name alone about 9.
STRONG_EVIDENCE = 20.0
POSSIBLE_EVIDENCE = 12.0


def in_words(fields: Sequence[FieldScore]) -> str:
    """A candidate as a doctor reads it: how strong the evidence is, and which fields agree or differ."""
    evidence = sum(f.weight for f in fields)
    strength = (
        "strong match"
        if evidence >= STRONG_EVIDENCE
        else "possible match"
        if evidence >= POSSIBLE_EVIDENCE
        else "weak match"
    )

    def word(f: FieldScore) -> str:
        if f.comparison == "birth_date" and f.level == "year_only_agrees":
            return "birth year"
        return FIELD_WORDS.get(f.comparison, f.comparison.replace("_", " "))

    def named(found: list[FieldScore]) -> list[str]:
        if all(part in {f.comparison for f in found} for part in NAME_PARTS):
            return ["name", *(word(f) for f in found if f.comparison not in NAME_PARTS)]
        return [word(f) for f in found]

    def listed(words: list[str]) -> str:
        return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]

    agree = named([f for f in fields if f.weight > 0.5])
    differ = named([f for f in fields if f.weight < -0.5])
    parts = []
    if agree:
        parts.append(f"{listed(agree)} agree{'s' if len(agree) == 1 else ''}")
    if differ:
        parts.append(f"{listed(differ)} differ{'s' if len(differ) == 1 else ''}")
    return f"{strength}: {'; '.join(parts) or 'nothing compared agrees'}"


@dataclass(frozen=True)
class Found:
    master_id: int
    name: str
    born: str | None
    sex: str | None
    commune: str | None
    facilities: list[str]
    words: str


def _birth(values: dict[str, Any]) -> str | None:
    year, month, day = values.get("birth_year"), values.get("birth_month"), values.get("birth_day")
    if not year:
        return None
    if month and day:
        return f"{day:02d}/{month:02d}/{year}"
    return f"{month:02d}/{year}" if month else str(year)


def _search_query(params: Any) -> tuple[PatientQuery | None, str | None]:
    """The name search the form asks for, or why it cannot be run."""
    name = " ".join(params.get("name", "").split())[:255]
    born_text, year_text = params.get("birth_date", "").strip(), params.get("birth_year", "").strip()
    commune = params.get("commune", "").strip() or None
    if not name:
        return None, "Give the patient's name with a birth date or year."
    born = year = None
    try:
        born = date.fromisoformat(born_text) if born_text else None
        year = int(year_text) if year_text and not born else None
    except ValueError:
        return None, "The birth date is a day (dd/mm/yyyy), the year four digits."
    if born is None and year is None:
        return None, "Give a birth date or a birth year with the name."
    return PatientQuery(name=name, birth_date=born, birth_year=year, commune_code=commune), None


def _purpose(params: Any) -> str | None:
    chosen = params.get("purpose", "")
    return chosen if chosen in PURPOSES else None


async def search(request: Request) -> Response:
    """Find a patient: by citizen ID, or by name with birth date or year (and commune)."""
    params = request.query_params
    citizen_id = "".join(params.get("citizen_id", "").split())
    by_name = bool(params.get("name", "").strip())
    purpose = _purpose(params)
    async with Page(request, Permission.SEARCH_PATIENTS) as page:
        error = None
        words: dict[int, str] = {}
        if (citizen_id or by_name) and purpose is None:
            error = "Choose why you are looking for this patient: the registry records it with your search."
        elif citizen_id:
            if citizen_id.isdigit() and len(citizen_id) == 12:
                master = await page.read(reads.master_of_citizen(citizen_id))
                if master is not None:
                    words[master] = "found by citizen ID: the same 12 digits"
            else:
                error = "A citizen ID (CCCD) is 12 digits."
        elif by_name:
            query, error = _search_query(params)
            if query is not None:
                ranked = rank_candidates(query, await page.read(candidate_sources(query)), CANDIDATES)
                words = {c.master_patient_id: in_words(c.fields) for c in ranked}
        found: list[Found] = []
        if words and purpose is not None:
            audited = await page.audit(words, "web:doctorSearch", PURPOSES[purpose])
            sources = reads.grouped(
                await page.read(reads.sources_of_masters(sorted(audited))),
                "master_patient_id",
            )
            directory = _facility_names(await page.read(reads.FACILITIES))
            for master, said in words.items():
                if master in sources:
                    values = golden_record(sources[master]).values
                    found.append(
                        Found(
                            master, values["full_name"], _birth(values), SEXES.get(values.get("sex") or 0),
                            values.get("commune_code"),
                            sorted({_named(directory, s.facility_code).shown for s in sources[master]}),  # type: ignore[union-attr]
                            said,
                        )
                    )  # fmt: skip
        return page.render(
            "doctor/search.html",
            {
                "found": found,
                "searched": bool(citizen_id or by_name) and error is None,
                "error": error,
                "params": {
                    k: params.get(k, "")
                    for k in ("citizen_id", "name", "birth_date", "birth_year", "commune")
                },
                "purpose": purpose,
                "purposes": PURPOSES,
            },
        )


# A patient's history -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FacilityName:
    code: str
    name: str | None
    kind: str

    @property
    def shown(self) -> str:
        return self.name or f"facility {self.code}"


@dataclass
class Episode:
    row: Any
    facility: FacilityName
    referred_from: FacilityName | None
    referred_to: FacilityName | None
    visit_type: labels.Label | None
    outcome: labels.Label | None
    discharge_type: labels.Label | None
    departments: list[labels.Label]
    diagnoses: list[Any] = field(default_factory=list)
    medications: list[Any] = field(default_factory=list)
    services: list[Any] = field(default_factory=list)
    lab_results: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class LabPoint:
    at: datetime | None
    value: str
    number: float | None
    unit: str | None
    facility: FacilityName


@dataclass(frozen=True)
class LabSeries:
    code: str
    name: str
    unit: str | None
    points: list[LabPoint]  # oldest first
    chart: str | None  # an inline SVG where the series has several numeric points

    @property
    def facilities(self) -> list[str]:
        return sorted({p.facility.shown for p in self.points})


def _number(value: str | None) -> float | None:
    try:
        return float((value or "").strip().replace(",", "."))
    except ValueError:
        return None


def sparkline(
    points: Sequence[tuple[datetime | None, float]], width: int = 220, height: int = 48
) -> str | None:
    """A small line chart of a series (oldest first), as SVG markup styled by the stylesheet;
    None with fewer than two points."""
    if len(points) < 2:
        return None
    values = [v for _, v in points]
    low, high = min(values), max(values)
    spread = (high - low) or 1.0
    step = (width - 8) / (len(points) - 1)
    xy = [(4 + i * step, height - 6 - (v - low) / spread * (height - 12)) for i, v in enumerate(values)]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
    dots = "".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5"/>' for x, y in xy)
    return (
        f'<svg class="spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{len(points)} results from {low:g} to {high:g}"><polyline points="{line}"/>{dots}</svg>'
    )


def lab_series(episodes: Sequence[Episode]) -> list[LabSeries]:
    """Each lab code's results across the episodes' facilities, oldest first; most points first."""
    by_code: dict[str, list[tuple[Any, Episode]]] = defaultdict(list)
    for episode in episodes:
        for result in episode.lab_results:
            if result.code and result.value:
                by_code[result.code].append((result, episode))
    series = []
    for code, found in by_code.items():
        found.sort(key=lambda pair: pair[0].result_at or pair[1].row.admitted_at or datetime.min)
        points = [
            LabPoint(r.result_at or e.row.admitted_at, r.value, _number(r.value), r.unit, e.facility)
            for r, e in found
        ]
        numbers = [(p.at, p.number) for p in points if p.number is not None]
        name = next((r.name for r, _ in found if r.name), code)
        unit = next((p.unit for p in reversed(points) if p.unit), None)
        series.append(LabSeries(code, name, unit, points, sparkline(numbers)))  # type: ignore[arg-type]
    return sorted(series, key=lambda s: (-len(s.points), s.name))


@dataclass(frozen=True)
class Summary:
    active: list[Any]  # conditions seen within ACTIVE_DAYS of the last visit
    past: list[Any]
    last_visits: list[Episode]  # the latest episode at each facility, newest first
    current_drugs: list[Any]
    recent_drugs: list[Any]


def summary(conditions: Sequence[Any], drugs: Sequence[Any], episodes: Sequence[Episode]) -> Summary:
    last_seen = max((c.last_seen for c in conditions if c.last_seen), default=None)
    active_since = last_seen - timedelta(days=ACTIVE_DAYS) if last_seen else None
    active = [c for c in conditions if active_since and c.last_seen and c.last_seen >= active_since]
    latest: dict[str, Episode] = {}
    for episode in episodes:  # newest first
        latest.setdefault(episode.facility.code, episode)
    # One line per drug and strength, its latest order (a drug may be ordered under several codes).
    latest_drug: dict[tuple[str | None, str | None], Any] = {}
    for drug in drugs:  # latest first
        latest_drug.setdefault((drug.name, drug.strength), drug)
    drugs = list(latest_drug.values())
    last_order = max((d.last_ordered_at for d in drugs if d.last_ordered_at), default=None)

    def since(days: int) -> datetime | None:
        return last_order - timedelta(days=days) if last_order else None

    current = [d for d in drugs if since(CURRENT_DRUG_DAYS) and d.last_ordered_at >= since(CURRENT_DRUG_DAYS)]
    recent = [
        d
        for d in drugs
        if d not in current and d.last_ordered_at and d.last_ordered_at >= since(RECENT_DRUG_DAYS)
    ]
    return Summary(active, [c for c in conditions if c not in active], list(latest.values()), current, recent)


def _facility_names(rows: Sequence[Any]) -> dict[str, FacilityName]:
    return {r.code: FacilityName(r.code, r.name, KINDS.get(r.kind, "facility")) for r in rows}


def _named(directory: dict[str, FacilityName], code: str | None) -> FacilityName | None:
    if not code:
        return None
    return directory.get(code) or FacilityName(code, None, "facility")


def _episode(row: Any, directory: dict[str, FacilityName]) -> Episode:
    return Episode(
        row=row,
        facility=_named(directory, row.facility_code),  # type: ignore[arg-type]
        referred_from=_named(directory, row.referred_from),
        referred_to=_named(directory, row.referred_to),
        visit_type=labels.label("visit_type", row.visit_type),
        outcome=labels.label("outcome", row.outcome),
        discharge_type=labels.label("discharge_type", row.discharge_type),
        departments=[labels.label("department", d) for d in row.departments],  # type: ignore[misc]
    )


async def patient(request: Request) -> Response:
    """A patient's history: the summary, the episodes newest first, lab series, referrals."""
    try:
        master_id = int(request.path_params["master_id"])
    except ValueError:
        master_id = 0
    purpose = _purpose(request.query_params)
    async with Page(request, Permission.READ_PATIENT) as page:
        if purpose is None:
            return page.render("doctor/purpose.html", {"master_id": master_id, "purposes": PURPOSES})
        if not await page.audit([master_id], "web:doctorPatient", PURPOSES[purpose]):
            survivor = await page.read(reads.surviving_master(master_id))
            if survivor is not None and survivor != master_id:
                query = urlencode({"purpose": purpose})
                return RedirectResponse(f"{HOME}/patients/{survivor}?{query}", status_code=303)
            return page.render(
                "message.html",
                {"title": "Not found", "text": f"No patient {master_id} in the registry."},
                404,
            )
        sources = await page.read(reads.sources_of_masters([master_id]))
        identity = golden_record(sources).values
        directory = _facility_names(await page.read(reads.FACILITIES))
        rows = await page.read(
            reads.encounter_page(master_id, reads.EncounterFilter(), None, TIMELINE_EPISODES + 1)
        )
        episodes = [_episode(r, directory) for r in rows[:TIMELINE_EPISODES]]
        ids = [e.row.id for e in episodes]
        for kind in ("diagnoses", "medications", "services", "lab_results"):
            details = await page.read(reads.encounter_details(kind, ids))
            for episode in episodes:
                setattr(episode, kind, details.get(episode.row.id, []))
        conditions = await page.read(reads.condition_summary(master_id))
        drugs = await page.read(reads.medication_uses(master_id, None))
        referrals = [_episode(r, directory) for r in await page.read(reads.referrals(master_id))]
        return page.render(
            "doctor/patient.html",
            {
                "master_id": master_id,
                "identity": identity,
                "born": _birth(identity),
                "sex": SEXES.get(identity.get("sex") or 0),
                "sources": sources,
                "directory": directory,
                "summary": summary(conditions, drugs, episodes),
                "episodes": episodes,
                "more_episodes": len(rows) > TIMELINE_EPISODES,
                "labs": lab_series(episodes),
                "referrals": referrals,
                "purpose": purpose,
                "purpose_label": PURPOSES[purpose],
            },
        )


def routes() -> list[BaseRoute]:
    return [
        Route(HOME, search, methods=["GET"]),
        Route(HOME + "/patients/{master_id}", patient, methods=["GET"]),
    ]
