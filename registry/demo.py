"""`provreg demo`: a synthetic province, loaded night by night, linked, and served.

Running it again reuses what is there: the province files are kept (same seed, same bytes),
and files already loaded are recognised by their hash and skipped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from loaders.options import LoaderOptions
from registry.codes.icd10 import ProvinceCatalogue, load_province_catalogue
from registry.db.sql import connect
from registry.facilities import set_facility
from registry.ingest import Submission, load_file
from synth.clinical import CHRONIC, ILLNESSES
from synth.facilities import FacilityKind, build_facilities
from synth.writer import generate_province


@dataclass(frozen=True)
class DemoProvince:
    persons: int = 20_000
    facilities: int = 10
    days: int = 14
    seed: int = 1


def ensure_province(folder: Path, province: DemoProvince, console: Console) -> None:
    manifest = folder / "manifest.json"
    if manifest.exists():
        written = json.loads(manifest.read_text(encoding="utf-8"))
        wanted = {"persons": province.persons, "facilities": province.facilities, "seed": province.seed}
        if (
            written.get("complete")
            and all(written.get(k) == v for k, v in wanted.items())
            and written.get("nights") == province.days
        ):
            console.print(f"reusing the synthetic province in {folder}")
            return
    console.print(
        f"generating a synthetic province: {province.persons:,} persons, {province.facilities} facilities, "
        f"{province.days} nights (seed {province.seed}) ..."
    )
    summary = generate_province(
        folder,
        persons=province.persons,
        facilities=province.facilities,
        days=province.days,
        seed=province.seed,
    )
    console.print(f"  {summary.files} files, {summary.records:,} records in {summary.seconds:.0f} s")


# The synthetic facilities' kinds as the registry's facility directory names them.
_DIRECTORY_KIND = {
    FacilityKind.PROVINCIAL_HOSPITAL: "hospital",
    FacilityKind.PRIVATE_HOSPITAL: "hospital",
    FacilityKind.MEDICAL_CENTRE: "medical_centre",
    FacilityKind.CLINIC: "clinic",
    FacilityKind.CENTRAL_HOSPITAL: "central_hospital",
}


def register_facilities(database_url: str, province: DemoProvince) -> None:
    """The province's facilities in the directory with their names and kinds, as an admin registers
    them (`setFacility`): a file tells the registry a facility's code only."""
    with connect(database_url) as connection:
        for site in build_facilities(province.facilities, province.seed):
            set_facility(connection, site.code, site.name, _DIRECTORY_KIND[site.kind])


def load_nights(database_url: str, folder: Path, console: Console) -> dict[str, int]:
    """Load every night's files in date order; returns totals by outcome."""
    files = sorted(path for path in (folder / "nights").glob("*/*") if path.is_file())
    totals = {"files": 0, "duplicate": 0, "rejected_files": 0, "records_in": 0, "loaded": 0, "updated": 0,
              "unchanged": 0, "rejected": 0}  # fmt: skip
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("loading nights", total=len(files))
        for path in files:
            progress.update(task, description=f"night {path.parent.name}")
            # A night's file is named by its facility (nights/DATE/CODE.ext), as a nightly job knows it.
            submission = Submission(submitted_by="demo", night=date.fromisoformat(path.parent.name))
            result = load_file(database_url, path, LoaderOptions(facility_code=path.stem), submission)
            totals["files"] += 1
            totals["duplicate"] += result.status == "duplicate"
            totals["rejected_files"] += result.status == "rejected"
            if result.status == "loaded":
                for key in ("records_in", "loaded", "updated", "unchanged", "rejected"):
                    totals[key] += getattr(result, key)
            progress.advance(task)
    return totals


def load_icd10_titles(database_url: str) -> int:
    """The demo's stand-in for the Ministry's ICD-10 list: the synthetic province's codes with the
    Vietnamese titles its facilities write, loaded as an operator loads the real one."""
    titles = {c.code: c.text for c in CHRONIC.values()} | {i.code: i.text for i in ILLNESSES}
    with connect(database_url) as connection, connection.cursor() as cursor:
        return load_province_catalogue(cursor, ProvinceCatalogue(rows=titles), source="demo province")


def example_patient(database_url: str) -> tuple[int, int, int] | None:
    """A master identity seen at several facilities with many episodes: (id, facilities, episodes)."""
    with connect(database_url) as connection:
        row = connection.execute(
            """
            SELECT l.master_patient_id, count(DISTINCT e.facility_code) AS facilities, count(*) AS episodes
            FROM patient_link l JOIN encounter e ON e.source_patient_id = l.source_patient_id
            WHERE l.superseded_at IS NULL
            GROUP BY l.master_patient_id
            ORDER BY count(DISTINCT e.facility_code) DESC, count(*) DESC, l.master_patient_id
            LIMIT 1
            """
        ).fetchone()
    return (row[0], row[1], row[2]) if row else None


def registry_counts(database_url: str) -> dict[str, int]:
    with connect(database_url) as connection:
        return {
            name: int(connection.execute(sql).fetchone()[0])  # type: ignore[index]
            for name, sql in (
                ("source patients", "SELECT count(*) FROM source_patient"),
                (
                    "master identities",
                    "SELECT count(DISTINCT master_patient_id) FROM patient_link WHERE superseded_at IS NULL",
                ),
                ("episodes", "SELECT count(*) FROM encounter"),
                ("possible matches for review", "SELECT count(*) FROM match_review WHERE status = 'open'"),
            )
        }


def example_query(master_patient_id: int) -> str:
    """A ready-to-paste GraphQL query of one patient's cross-facility history, in words: names of
    facilities, visit types and outcomes, ICD-10 titles, the referral chain."""
    return (
        f'{{ patient(id: {master_patient_id}, purpose: "demo") {{ '
        "identity { fullName citizenId birthDate { text } } "
        "conditions { code title chapterTitle lastSeen } "
        "encounters(first: 5) { nodes { facility { name kind } admittedAt visitTypeLabel { vi en } "
        "outcomeLabel { vi en } diagnoses { code title text isMain } medications { name strength } } } "
        "referrals { fromFacility { name } atFacility { name } toFacility { name } encounter { admittedAt } } } }"
    )
