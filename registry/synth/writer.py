"""A whole synthetic province on disk: each facility's nightly files, the truth beside them, and
a folder of deliberately broken files.

    DIR/facilities.csv
    DIR/truth_persons.csv
    DIR/truth_records.csv
    DIR/manifest.json                  parameters and counts
    DIR/nights/2025-06-16/27001.xml    one file per posting facility per night it has records
    DIR/broken/...  + expected.json

Two passes keep memory bounded whatever the population: the first generates every household
once, writes truth_persons.csv and plans the window's visits (five bytes a visit); the second
runs the window night by night, regenerating only that day's visitors, and writes the night's
files before moving on. Everything is drawn from the seed: the same arguments give the same bytes.
"""

from __future__ import annotations

import csv
import json
import shutil
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from registry.synth.broken import write_broken
from registry.synth.care import CareFlow, Posting
from registry.synth.facilities import Facility, build_facilities
from registry.synth.files import source_records, write_facility_file
from registry.synth.population import Population
from registry.synth.schedule import WARM_UP_DAYS, Schedule, planned_visits
from registry.synth.truth import (
    FACILITY_COLUMNS,
    PERSON_COLUMNS,
    RECORD_COLUMNS,
    facility_row,
    person_row,
    record_row,
)

# The default window straddles the province merger of 1 July 2025: addresses change form halfway.
DEFAULT_START = date(2025, 6, 16)


@dataclass(frozen=True)
class SynthSummary:
    out: Path
    persons: int
    households: int
    facilities: int
    nights: int
    planned_visits: int
    files: int
    records: int
    expected_rejects: int
    broken_files: int
    seconds: float


def generate_province(
    out: Path,
    *,
    persons: int,
    facilities: int,
    days: int,
    seed: int,
    start: date = DEFAULT_START,
) -> SynthSummary:
    """Write a synthetic province of `persons` people and `facilities` posting facilities, over
    `days` nights from `start`, into `out`: a new or empty folder, or one holding an earlier
    synthetic province (recognised by its manifest.json), which is replaced."""
    if persons < 1 or facilities < 1 or days < 1:
        raise ValueError("persons, facilities and days must each be at least 1")
    began = time.perf_counter()
    parameters = {"seed": seed, "start": start.isoformat(), "persons": persons, "facilities": facilities}
    _prepare(out, parameters)
    sites = build_facilities(facilities, seed)
    _write_csv(out / "facilities.csv", FACILITY_COLUMNS, (facility_row(f) for f in sites))
    population = Population(seed, persons, start)
    schedule = Schedule(days)
    households = _plan(out, population, schedule, start, days)
    files, records, rejects = _post_nights(
        out, CareFlow(seed, population, sites, start, days), schedule, sites
    )
    summary = SynthSummary(
        out=out,
        persons=persons,
        households=households,
        facilities=facilities,
        nights=days,
        planned_visits=len(schedule),
        files=files,
        records=records,
        expected_rejects=rejects,
        broken_files=write_broken(out / "broken", sites, seed, start),
        seconds=round(time.perf_counter() - began, 2),
    )
    # Part of the deterministic output: no timing, no output path.
    counts = {key: value for key, value in asdict(summary).items() if key not in ("out", "seconds")}
    _write_manifest(out, {**parameters, **counts, "complete": True})
    return summary


def _prepare(out: Path, parameters: dict[str, object]) -> None:
    """Claim the folder: refuse one holding anything else; clear an earlier province's files."""
    if out.exists() and any(out.iterdir()) and not (out / "manifest.json").exists():
        raise FileExistsError(f"{out} is not empty and holds no synthetic province: not writing into it")
    for folder in ("nights", "broken"):  # an earlier province's nights must not mix with this one's
        shutil.rmtree(out / folder, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    _write_manifest(out, {**parameters, "complete": False})  # so a run cut short can be redone here


def _write_manifest(out: Path, content: dict[str, object]) -> None:
    (out / "manifest.json").write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")


def _plan(out: Path, population: Population, schedule: Schedule, start: date, days: int) -> int:
    """First pass: every household once; truth_persons.csv and the visit plan. Returns the households."""
    households = 0
    with _csv_rows(out / "truth_persons.csv", PERSON_COLUMNS) as rows:
        for household in population.households():
            households += 1
            for person in household.members:
                rows.writerow(person_row(person))
                for day, kind in planned_visits(person, population.seed, start, days):
                    schedule.add(day, person.index, kind)
    return households


def _post_nights(
    out: Path, care: CareFlow, schedule: Schedule, sites: Sequence[Facility]
) -> tuple[int, int, int]:
    """Second pass, night by night: the facilities' files and truth_records.csv.
    Returns (files, records, expected rejects)."""
    files = records = rejects = 0
    with _csv_rows(out / "truth_records.csv", RECORD_COLUMNS) as rows:
        for day in range(-WARM_UP_DAYS, care.days):
            night = care.start + timedelta(days=day)
            for facility, postings in _by_facility(sites, care.night(day, schedule.on(day))):
                relative = f"nights/{night.isoformat()}/{facility.file_name()}"
                path = out / relative
                path.parent.mkdir(parents=True, exist_ok=True)
                with path.open("wb") as stream:
                    units = source_records(facility, ((p.patient, p.encounter) for p in postings))
                    write_facility_file(facility, units, stream, night)
                rows.writerows(record_row(p, night.isoformat(), relative) for p in postings)
                files += 1
                records += len(postings)
                rejects += sum(p.rejected for p in postings)
    return files, records, rejects


def _by_facility(
    sites: Sequence[Facility], postings: list[Posting]
) -> Iterable[tuple[Facility, list[Posting]]]:
    """The night's postings grouped per facility, facilities in their fixed order."""
    grouped: dict[str, list[Posting]] = {}
    for posting in postings:
        grouped.setdefault(posting.facility.code, []).append(posting)
    return ((f, grouped[f.code]) for f in sites if f.code in grouped)


@contextmanager
def _csv_rows(path: Path, header: Sequence[str]) -> Iterator[Any]:
    """Rows of a UTF-8 CSV file whose header is already written (yields a csv writer)."""
    with path.open("w", encoding="utf-8", newline="") as file:
        rows = csv.writer(file, lineterminator="\n")
        rows.writerow(header)
        yield rows


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    with _csv_rows(path, header) as writer:
        writer.writerows(rows)
