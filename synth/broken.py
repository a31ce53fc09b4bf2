"""DIR/broken/: files broken the ways real postings break, and what the loaders must say about each.

Each starts as a valid file of a few clean records (written by the real writers) and is then
damaged at the byte or field level. expected.json gives, per file, the facility it is declared
to come from and either {"unreadable": true, "error": ...} (the whole file is refused) or
{"unreadable": false, "units": n, "rejected": [{"position": p, "error": ...}], "flagged":
[{"position": p, "field": "so_cccd", "kind": "malformed", "error": ...}]} (those units are
rejected, the others stored; of those, the flagged ones with that flag, one per unit, on that
source field); "error" is a substring of the loader's message (a flag's reason), left out
where it would only repeat the loader's wording.
"""

from __future__ import annotations

import base64
import io
import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path

from loaders.records import Encounter, Patient, SourceFormat
from synth.clinical import ILLNESSES
from synth.encounters import DischargeType, Episode, TreatmentResult, build_encounter
from synth.facilities import CsvLayout, Facility
from synth.files import source_records, write_facility_file
from synth.noise import NoiseProfile, person_id_flag, strip_leading_zeros
from synth.population import Person, Population
from synth.recording import record_patient, register
from synth.rng import stream

SAMPLE_RECORDS = 4
_HOSO = re.compile(rb"<HOSO>.*?</HOSO>", re.DOTALL)
_XML1 = re.compile(rb"(<LOAIHOSO>XML1</LOAIHOSO><NOIDUNGFILE>)([^<]*)(</NOIDUNGFILE>)")
_NOIDUNGFILE = re.compile(rb"(<NOIDUNGFILE>)([^<]*)(</NOIDUNGFILE>)")
_BILLION_LAUGHS = (
    '<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE GIAMDINHHS [\n <!ENTITY lol "lol">\n'
    + "".join(
        f' <!ENTITY lol{n} "{f"&lol{n - 1};" * 10 if n > 1 else "&lol;" * 10}">\n' for n in range(1, 10)
    )
    + "]>\n<GIAMDINHHS><THONGTINDONVI><MACSKCB>&lol9;</MACSKCB></THONGTINDONVI></GIAMDINHHS>\n"
)
_EXTERNAL_ENTITY = (
    '<?xml version="1.0" encoding="utf-8"?><!DOCTYPE TONG_HOP [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
)


@dataclass(frozen=True)
class BrokenFile:
    name: str
    facility: Facility  # the facility it is declared to come from when loaded
    content: bytes
    expectation: dict[str, object]


def write_broken(folder: Path, facilities: tuple[Facility, ...], seed: int, start: date) -> int:
    """Write the broken files and expected.json into `folder`; returns how many files."""
    folder.mkdir(parents=True, exist_ok=True)
    first = {fmt: next((f for f in facilities if f.format == fmt), None) for fmt in SourceFormat}
    files: list[BrokenFile] = []
    if (xml := first[SourceFormat.XML130]) is not None:
        other = next((f for f in facilities if f.format is not None and f.code != xml.code), None)
        files += _broken_xml(xml, other, seed, start)
    if (clinic := first[SourceFormat.CSV]) is not None:
        files += _broken_csv(clinic, seed, start)
    if (fhir := first[SourceFormat.FHIR]) is not None:
        files += _broken_fhir(fhir, seed, start)
    for broken in files:
        (folder / broken.name).write_bytes(broken.content)
    expected = {
        broken.name: {"facility_code": broken.facility.code, **broken.expectation} for broken in files
    }
    (folder / "expected.json").write_text(
        json.dumps(expected, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return len(files)


def _unreadable(error: str) -> dict[str, object]:
    return {"unreadable": True, "error": error}


def _stored(
    rejected: tuple[tuple[int, str], ...] = (), flagged: tuple[dict[str, object], ...] = ()
) -> dict[str, object]:
    return {
        "unreadable": False,
        "units": SAMPLE_RECORDS,
        "rejected": [{"position": position, "error": error} for position, error in rejected],
        "flagged": list(flagged),
    }


def _broken_xml(xml: Facility, other: Facility | None, seed: int, start: date) -> list[BrokenFile]:
    valid = _file(xml, seed, start)
    hidden_entity = _edit_summary(
        valid,
        1,
        lambda table: table.replace('<?xml version="1.0" encoding="utf-8"?>', _EXTERNAL_ENTITY).replace(
            "<HO_TEN>", "<HO_TEN>&xxe;"
        ),
    )
    files = [
        BrokenFile("truncated.xml", xml, valid[: len(valid) * 3 // 5], _unreadable("is it truncated?")),
        BrokenFile(
            "bad_base64.xml",
            xml,
            _NOIDUNGFILE.sub(rb"\1@@ not base64 @@\3", valid, count=1),
            _unreadable("NOIDUNGFILE is not valid base64"),
        ),
        BrokenFile(
            "bad_dates.xml",
            xml,
            _bad_dates(valid),
            _stored(
                rejected=(
                    (3, "NGAY_RA: discharge time is before admission time"),
                    (4, "NGAY_VAO: '202502300800' is not a valid date"),
                ),
                # a birth date is not needed to store a visit: kept as sent, flagged, not used
                flagged=(
                    {
                        "position": 2,
                        "field": "NGAY_SINH",
                        "kind": "malformed",
                        "error": "NGAY_SINH: '198525030000' is not a valid date (month 25)",
                    },
                ),
            ),
        ),
        BrokenFile(
            "entity_expansion.xml", xml, _BILLION_LAUGHS.encode(), _unreadable("document type declaration")
        ),
        BrokenFile(
            "external_entity.xml",
            xml,
            hidden_entity,
            _unreadable("HOSO 1 XML1 has a document type declaration"),
        ),
    ]
    if other is not None:
        files.append(
            BrokenFile("wrong_facility.xml", other, valid, _unreadable(f"file is from facility {xml.code}"))
        )
    # A HOSO lost in transit: SOLUONGHOSO still says 4. Refused whole, so the facility resends it.
    hosos = list(_HOSO.finditer(valid))
    lost = valid[: hosos[-1].start()] + valid[hosos[-1].end() :]
    held = len(hosos) - 1
    files.append(
        BrokenFile(
            "count_mismatch.xml",
            xml,
            lost,
            _unreadable(f"SOLUONGHOSO says {len(hosos)} records, but the file holds {held}"),
        )
    )
    return files


def _broken_csv(clinic: Facility, seed: int, start: date) -> list[BrokenFile]:
    # Vietnamese headers and commas, whatever the clinic's own layout, so errors name so_cccd.
    clinic = replace(clinic, csv_layout=CsvLayout(english=False, delimiter=",", bom=False))
    return [
        BrokenFile(
            "not_utf8.csv", clinic, _windows_1258(_file(clinic, seed, start)), _unreadable("not UTF-8")
        ),
        BrokenFile(
            "bad_citizen_id.csv",
            clinic,
            _file(clinic, seed, start, _bad_citizen_ids),
            _stored(
                flagged=tuple(_citizen_id_flags(_bad_citizen_ids(_sample_patients(clinic, seed, start))))
            ),
        ),
        BrokenFile(
            "missing_keys.csv",
            clinic,
            _file(clinic, seed, start, _missing_keys),
            _stored(rejected=((2, "ma_bn: missing"), (3, "ho_ten: missing"))),
        ),
    ]


def _broken_fhir(fhir: Facility, seed: int, start: date) -> list[BrokenFile]:
    lines = _file(fhir, seed, start).splitlines(keepends=True)
    lines[1] = lines[1][: len(lines[1]) // 2] + b"\n"
    return [BrokenFile("bad_json_line.ndjson", fhir, b"".join(lines), _stored(rejected=((2, "not JSON"),)))]


def _sample_people(seed: int, start: date) -> list[Person]:
    """Adults with a citizen ID, from a small population of their own."""
    population = Population(seed, SAMPLE_RECORDS * 10, start)
    adults = [p for h in population.households() for p in h.members if p.citizen_id]
    return adults[:SAMPLE_RECORDS]


def _sample(facility: Facility, seed: int, start: date) -> tuple[list[Patient], list[Encounter]]:
    """SAMPLE_RECORDS clean outpatient records from `facility`: their patients and encounters."""
    careful = replace(facility, noise=NoiseProfile({}))
    patients: list[Patient] = []
    encounters: list[Encounter] = []
    for i, person in enumerate(_sample_people(seed, start)):
        rng = stream(seed, "broken", i)
        arrived = datetime.combine(start, time(8)) + timedelta(minutes=41 * i)
        episode = Episode(
            encounter_id=f"{facility.code}BROKEN{i + 1:03d}",
            facility=careful,
            person=person,
            visit_type="01",
            admitted_at=arrived,
            discharged_at=arrived + timedelta(hours=1),
            illness=ILLNESSES[0],
            outcome=TreatmentResult.IMPROVED,
            discharge_type=DischargeType.DISCHARGED,
            with_labs=False,
        )
        registration = register(person, careful, seed, second=False)
        patients.append(record_patient(person, careful, registration, start, seed, rng).patient)
        encounters.append(build_encounter(episode, seed, rng))
    return patients, encounters


def _sample_patients(facility: Facility, seed: int, start: date) -> list[Patient]:
    return _sample(facility, seed, start)[0]


def _file(
    facility: Facility,
    seed: int,
    start: date,
    alter: Callable[[list[Patient]], list[Patient]] = lambda found: found,
) -> bytes:
    """A valid file of SAMPLE_RECORDS clean outpatient records from `facility` (patients optionally altered)."""
    patients, encounters = _sample(facility, seed, start)
    buffer = io.BytesIO()
    units = source_records(facility, zip(alter(patients), encounters, strict=True))
    write_facility_file(facility, units, buffer, start)
    return buffer.getvalue()


def _bad_citizen_ids(patients: list[Patient]) -> list[Patient]:
    """Second: a digit lost from the middle (11 digits, no leading zero to restore); third: a
    digit-4 slip that contradicts the recorded sex; fourth: the leading zero a spreadsheet drops."""
    second, third, fourth = patients[1], patients[2], patients[3]
    assert second.citizen_id and third.citizen_id and fourth.citizen_id
    slipped = third.citizen_id[:3] + str(int(third.citizen_id[3]) ^ 1) + third.citizen_id[4:]
    return [
        patients[0],
        Patient.model_construct(
            **{**dict(second), "citizen_id": second.citizen_id[:6] + second.citizen_id[7:]}
        ),
        Patient.model_construct(**{**dict(third), "citizen_id": slipped}),
        Patient.model_construct(**{**dict(fourth), "citizen_id": strip_leading_zeros(fourth.citizen_id)}),
    ]


def _citizen_id_flags(patients: list[Patient]) -> list[dict[str, object]]:
    """What the loaders must flag in _bad_citizen_ids' file: every value is stored, none rejected."""
    errors = {2: "11 digits", 3: "citizen ID digit 4 ("}
    found: list[dict[str, object]] = []
    for position, patient in enumerate(patients, 1):
        assert patient.citizen_id and patient.birth_date
        kind = person_id_flag(patient.citizen_id, sex=patient.sex, birth_year=patient.birth_date.year)
        if kind is not None:
            entry: dict[str, object] = {"position": position, "field": "so_cccd", "kind": kind.value}
            if position in errors:
                entry["error"] = errors[position]
            found.append(entry)
    return found


def _missing_keys(patients: list[Patient]) -> list[Patient]:
    """Records that cannot be stored: the second without its patient code, the third without a name."""
    return [
        patients[0],
        Patient.model_construct(**{**dict(patients[1]), "local_id": ""}),
        Patient.model_construct(**{**dict(patients[2]), "full_name": ""}),
        *patients[3:],
    ]


_TONE_MARKS = frozenset("\u0300\u0301\u0303\u0309\u0323")


def _windows_1258(utf8: bytes) -> bytes:
    """Re-encode in Windows-1258, as older Vietnamese office software saves: it has the letters
    with circumflex, breve and horn, but writes tones as separate combining marks."""
    letters = []
    for char in utf8.decode("utf-8"):
        parts = unicodedata.normalize("NFD", char)
        tones = "".join(part for part in parts if part in _TONE_MARKS)
        letters.append(
            unicodedata.normalize("NFC", "".join(p for p in parts if p not in _TONE_MARKS)) + tones
        )
    return "".join(letters).encode("cp1258")


def _edit_summary(xml: bytes, hoso: int, edit: Callable[[str], str]) -> bytes:
    """Apply `edit` to the decoded XML1 table of the `hoso`-th HOSO (1-based) and re-encode it."""
    found = list(_HOSO.finditer(xml))[hoso - 1]

    def recoded(match: re.Match[bytes]) -> bytes:
        table = base64.b64decode(match[2]).decode("utf-8")
        return match[1] + base64.b64encode(edit(table).encode("utf-8")) + match[3]

    return xml[: found.start()] + _XML1.sub(recoded, found[0], count=1) + xml[found.end() :]


def _bad_dates(xml: bytes) -> bytes:
    """HOSO 2: birth day and month swapped into month 25; 3: discharged before admission; 4: 30 February."""
    xml = _edit_summary(
        xml, 2, lambda t: re.sub(r"<NGAY_SINH>\d*</NGAY_SINH>", "<NGAY_SINH>198525030000</NGAY_SINH>", t)
    )
    xml = _edit_summary(
        xml, 3, lambda t: re.sub(r"<NGAY_RA>(\d{8})\d{4}</NGAY_RA>", r"<NGAY_RA>\g<1>0001</NGAY_RA>", t)
    )
    return _edit_summary(
        xml, 4, lambda t: re.sub(r"<NGAY_VAO>\d*</NGAY_VAO>", "<NGAY_VAO>202502300800</NGAY_VAO>", t)
    )
