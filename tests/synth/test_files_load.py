"""Every file the generator posts is read by the real loaders exactly as the truth says."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from datetime import date
from pathlib import Path

import pytest

from loaders.options import LoaderOptions
from loaders.read import read_units
from loaders.records import FileHeader, Reject, SourceFormat, SourceRecord, UnreadableFile
from synth.facilities import BACH_MAI_CODE
from synth.writer import SynthSummary

Province = tuple[Path, SynthSummary]


def _units(path: Path, facility_code: str) -> list[SourceRecord | Reject]:
    with path.open("rb") as stream:
        return [unit for unit in read_units(stream, LoaderOptions(facility_code=facility_code))
                if not isinstance(unit, FileHeader)]  # fmt: skip


def _truth_by_file(out: Path) -> dict[str, list[dict[str, str]]]:
    by_file: dict[str, list[dict[str, str]]] = defaultdict(list)
    with (out / "truth_records.csv").open(encoding="utf-8") as file:
        for row in csv.DictReader(file):
            by_file[row["file"]].append(row)
    return by_file


@pytest.fixture(scope="module")
def loaded(province: Province) -> list[SourceRecord]:
    """Every record the loaders accept from the nightly files."""
    out, _ = province
    return [
        unit
        for path in sorted(out.glob("nights/*/*"))
        for unit in _units(path, path.stem)
        if isinstance(unit, SourceRecord)
    ]


def _flags(record: SourceRecord) -> list[str]:
    """As truth_records.csv's expected_flags name them: the identifier (else the field), the kind."""
    return sorted(f"{flag.identifier or flag.field}:{flag.kind.value}" for flag in record.patient.flags)


def test_every_posted_file_loads_with_nothing_rejected_and_the_expected_flags(province: Province) -> None:
    """Needs the loaders of issue 13: suspect identifiers flagged, not rejected; split names; empty files."""
    out, summary = province
    by_file = _truth_by_file(out)
    with (out / "truth_files.csv").open(encoding="utf-8") as file:
        posted = [row for row in csv.DictReader(file) if row["file"]]
    assert sorted(row["file"] for row in posted) == sorted(
        str(p.relative_to(out)) for p in out.glob("nights/*/*")
    )
    rejects = flagged = empty = 0
    for posting in posted:
        relative, rows = posting["file"], by_file.get(posting["file"], [])
        units = _units(out / relative, posting["facility_code"])
        assert len(units) == len(rows) == int(posting["records"]), relative
        empty += not units
        for unit, row in zip(units, rows, strict=True):
            assert isinstance(unit, Reject) == (row["expected_reject"] == "1"), (relative, row, unit)
            if isinstance(unit, Reject):
                rejects += 1
                continue
            assert unit.patient.local_id == row["local_patient_id"]
            assert unit.encounter is not None and unit.encounter.encounter_id == row["encounter_id"]
            expected = sorted(flag for flag in row["expected_flags"].split(";") if flag)
            assert _flags(unit) == expected, (relative, row, unit.patient.flags)
            flagged += bool(expected)
            if expected and expected != ["person_id:repaired"]:
                assert unit.patient.citizen_id is None, "a suspect ID is never the record's citizen ID"
    assert rejects == summary.expected_rejects == 0
    assert flagged == summary.flagged_records > 0 and empty == summary.empty_files > 0
    assert summary.records == sum(len(rows) for rows in by_file.values())


def test_all_three_formats_are_posted(province: Province) -> None:
    out, _ = province
    with (out / "facilities.csv").open(encoding="utf-8") as file:
        formats = {row["format"] for row in csv.DictReader(file)}
    assert formats == {f.value for f in SourceFormat} | {""}  # "": Bạch Mai posts nothing
    assert {p.suffix for p in out.glob("nights/*/*")} == {".xml", ".ndjson", ".csv"}


def test_broken_files_fail_as_expected_json_says(province: Province) -> None:
    """Needs the loaders of issue 13 for bad_citizen_id.csv (flagged) and count_mismatch.xml."""
    out, summary = province
    expected = json.loads((out / "broken" / "expected.json").read_text(encoding="utf-8"))
    assert len(expected) == summary.broken_files >= 11
    for name, expectation in expected.items():
        path = out / "broken" / name
        if expectation["unreadable"]:
            with pytest.raises(UnreadableFile) as problem:
                _units(path, expectation["facility_code"])
            assert expectation["error"] in str(problem.value), name
            continue
        units = _units(path, expectation["facility_code"])
        assert len(units) == expectation["units"], name
        rejected = {unit.position: unit.reason for unit in units if isinstance(unit, Reject)}
        assert sorted(rejected) == [entry["position"] for entry in expectation["rejected"]], name
        for entry in expectation["rejected"]:
            assert entry["error"] in rejected[entry["position"]], (name, rejected)
        flagged = {
            unit.position: unit.patient.flags
            for unit in units
            if isinstance(unit, SourceRecord) and unit.patient.flags
        }
        assert sorted(flagged) == [entry["position"] for entry in expectation["flagged"]], name
        for entry in expectation["flagged"]:
            flags = flagged[entry["position"]]
            assert [(f.field, f.kind.value) for f in flags] == [(entry["field"], entry["kind"])], (
                name,
                flags,
            )
            assert entry.get("error", "") in flags[0].reason, (name, flags)


def test_referrals_are_recorded_on_both_sides(province: Province, loaded: list[SourceRecord]) -> None:
    out, _ = province
    person = {
        (row["facility_code"], row["encounter_id"]): row["person_id"]
        for rows in _truth_by_file(out).values()
        for row in rows
    }
    records = loaded
    sent: dict[tuple[str, str, str], str | None] = {}  # (person, sender, receiver) -> referral paper
    received: list[tuple[tuple[str, str, str], str | None, bool]] = []
    for r in records:
        assert r.encounter is not None and r.encounter.admitted_at is not None
        who = person[r.patient.facility_code, r.encounter.encounter_id]
        if r.encounter.referred_to:
            sent[who, r.patient.facility_code, r.encounter.referred_to] = r.encounter.referral_paper
        # the sender's record is posted the night the patient leaves: on the first night it may predate the window
        if r.encounter.referred_from and r.encounter.admitted_at.date() > date(2025, 6, 16):
            key = (who, r.encounter.referred_from, r.patient.facility_code)
            received.append((key, r.encounter.referral_paper, r.encounter.referred_to is None))
    assert received, "some patients must arrive on referral"
    matched = [(key, paper, final) for key, paper, final in received if key in sent]
    assert len(matched) == len(received)  # every sender's record is stored: none rejected for its ID
    for key, paper, final in matched:
        # a record that both arrived by referral and left by transfer carries the paper it issued;
        # clinics' CSV and FHIR carry no paper number
        if final and paper and sent[key]:
            assert paper == sent[key]
    assert any(r.encounter and r.encounter.referred_to == BACH_MAI_CODE for r in records)


def test_addresses_take_the_form_of_their_date(province: Province, loaded: list[SourceRecord]) -> None:
    out, _ = province
    by_file = _truth_by_file(out)
    noise = {
        (row["facility_code"], row["encounter_id"]): row["noise"] for rows in by_file.values() for row in rows
    }
    for record in loaded:
        assert record.encounter is not None and record.encounter.admitted_at is not None
        address = record.patient.address
        if record.encounter.admitted_at.date() < date(2025, 7, 1):
            assert address.province_code in ("24", "27") and address.district_code is not None
        elif "address_old_form" not in noise[record.patient.facility_code, record.encounter.encounter_id]:
            assert address.province_code == "24" and address.district_code is None


def test_clinical_history_is_worth_reading(loaded: list[SourceRecord]) -> None:
    encounters = [r.encounter for r in loaded if r.encounter]
    main = {d.code for e in encounters for d in e.diagnoses if d.is_main}
    assert {"I10", "E11", "J06.9", "J18.9"} <= main
    inpatients = [e for e in encounters if e.visit_type == "03"]
    assert inpatients and any(e.notes for e in inpatients)
    assert any(e.medications for e in encounters) and any(e.services for e in encounters)
    assert {lab.code for e in encounters for lab in e.lab_results} >= {"GLU", "HBA1C", "CRE"}
