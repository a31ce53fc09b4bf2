"""A whole synthetic province on disk: each facility's nightly files, the truth beside them, and
a folder of deliberately broken files.

    DIR/facilities.csv
    DIR/truth_persons.csv
    DIR/truth_records.csv
    DIR/truth_files.csv                every posting facility's every night: which file, how many records
    DIR/manifest.json                  parameters and counts
    DIR/nights/2025-06-16/27001.xml    one file per posting facility per night it has records (on
                                       some quiet nights an empty one)
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

from synth.broken import write_broken
from synth.care import CareFlow, Posting
from synth.facilities import Facility, build_facilities
from synth.files import source_records, write_facility_file
from synth.population import Population
from synth.rng import stream
from synth.schedule import WARM_UP_DAYS, Schedule, planned_visits
from synth.truth import (
    FACILITY_COLUMNS,
    FILE_COLUMNS,
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
    empty_files: int  # of `files`: posted on a quiet night, holding no record
    records: int
    expected_rejects: int
    flagged_records: int  # records with an identifier the loaders must flag
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
    population = Population(seed, persons, start, born_until=start + timedelta(days=days - 1))
    schedule = Schedule(days)
    households = _plan(out, population, schedule, start, days)
    posted = _post_nights(out, CareFlow(seed, population, sites, start, days), schedule, sites, seed)
    summary = SynthSummary(
        out=out,
        persons=persons,
        households=households,
        facilities=facilities,
        nights=days,
        planned_visits=len(schedule),
        files=posted.files,
        empty_files=posted.empty_files,
        records=posted.records,
        expected_rejects=posted.rejects,
        flagged_records=posted.flagged,
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


@dataclass
class _Posted:
    files: int = 0
    empty_files: int = 0
    records: int = 0
    rejects: int = 0
    flagged: int = 0


def _post_nights(
    out: Path, care: CareFlow, schedule: Schedule, sites: Sequence[Facility], seed: int
) -> _Posted:
    """Second pass, night by night: the facilities' files, truth_records.csv and truth_files.csv."""
    posted = _Posted()
    with (
        _csv_rows(out / "truth_records.csv", RECORD_COLUMNS) as rows,
        _csv_rows(out / "truth_files.csv", FILE_COLUMNS) as file_rows,
    ):
        for day in range(-WARM_UP_DAYS, care.days):
            night = care.start + timedelta(days=day)
            by_facility = _by_facility(care.night(day, schedule.on(day)))
            if day < 0:
                continue  # warm-up: stays begin, nothing is posted
            for facility in (f for f in sites if f.format is not None):
                postings = by_facility.get(facility.code, [])
                if not postings and not _posts_empty_file(facility, day, seed):
                    file_rows.writerow([night.isoformat(), facility.code, "", 0])
                    continue
                relative = f"nights/{night.isoformat()}/{facility.file_name()}"
                path = out / relative
                path.parent.mkdir(parents=True, exist_ok=True)
                with path.open("wb") as stream_:
                    units = source_records(facility, ((p.patient, p.encounter) for p in postings))
                    write_facility_file(facility, units, stream_, night)
                rows.writerows(record_row(p, night.isoformat(), relative) for p in postings)
                file_rows.writerow([night.isoformat(), facility.code, relative, len(postings)])
                posted.files += 1
                posted.empty_files += not postings
                posted.records += len(postings)
                posted.rejects += sum(p.rejected for p in postings)
                posted.flagged += sum(bool(p.flags) for p in postings)
    return posted


def _posts_empty_file(facility: Facility, day: int, seed: int) -> bool:
    """On a night without records, whether the facility's export job posts an empty file."""
    return stream(seed, "empty file", facility.code, day).random() < facility.empty_file_share


def _by_facility(postings: list[Posting]) -> dict[str, list[Posting]]:
    """The night's postings grouped per facility code."""
    grouped: dict[str, list[Posting]] = {}
    for posting in postings:
        grouped.setdefault(posting.facility.code, []).append(posting)
    return grouped


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
