"""Ingest benchmark: XML 130 files parsed, validated and stored end to end; prints encounters/s.

    python bench/ingest.py [--episodes 20000] [--files 4]

Writes `--files` XML 130 files of typical inpatient episodes (10 drug, 10 service and 5 lab rows
each, as hospitals send them) with the same writer the loaders are tested against, loads them
into a scratch registry with `provreg`'s own load path (parse, validate, COPY, merge, link), and
prints encounters per second, child rows per second and the loading process's peak memory.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._registry import scratch_registry
from loaders.dates import BirthDate
from loaders.options import LoaderOptions
from loaders.records import (
    Address,
    Diagnosis,
    Encounter,
    LabResult,
    Medication,
    Patient,
    Service,
    Sex,
    SourceRecord,
)
from loaders.xml130_write import write_xml130
from registry.ingest import Submission, load_file

FACILITY = "27001"
DRUGS, SERVICES, LABS = 10, 10, 5


def episode(n: int, admitted: datetime) -> Encounter:
    at = admitted
    return Encounter(
        encounter_id=f"LK{n:09d}",
        record_number=f"HS{n}",
        visit_type="03",
        admitted_at=at,
        discharged_at=at + timedelta(days=4),
        departments=("K01",),
        outcome=2,
        discharge_type=1,
        diagnoses=(Diagnosis(code="E11.9", is_main=True), Diagnosis(code="I10", is_main=False)),
        medications=tuple(
            Medication(
                code=f"40.{i}",
                name="Metformin 500mg",
                dosage="2 lần/ngày",
                quantity=Decimal(i + 1),
                unit="viên",
                ordered_at=at + timedelta(hours=i),
            )
            for i in range(DRUGS)
        ),
        services=tuple(
            Service(
                code=f"22.0{i}",
                name="Xét nghiệm",
                quantity=Decimal(1),
                ordered_at=at,
                result_at=at + timedelta(hours=3),
            )
            for i in range(SERVICES)
        ),
        lab_results=tuple(
            LabResult(
                service_code="22.01",
                code=f"CS{i}",
                name="Glucose",
                value=f"{6 + i}.4",
                unit="mmol/L",
                result_at=at + timedelta(hours=3),
            )
            for i in range(LABS)
        ),
    )


FAMILY = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Phan", "Vũ", "Đặng", "Bùi", "Đỗ")
GIVEN = ("An", "Bình", "Cường", "Dũng", "Giang", "Hùng", "Hưng", "Khánh", "Lan", "Minh", "Nam", "Phương")


def patient(n: int) -> Patient:
    """A distinct person per n: a valid citizen ID agreeing with sex and birth year."""
    sex = 1 + n % 2
    year = 1940 + n % 70
    century_sex = 2 * ((year - 1900) // 100) + (sex - 1)
    return Patient(
        facility_code=FACILITY,
        local_id=f"BN{n:08d}",
        full_name=f"{FAMILY[n % 10]} {'Văn' if sex == 1 else 'Thị'} {GIVEN[(n // 10) % 12]}",
        birth_date=BirthDate(year=year, month=1 + n % 12, day=1 + n % 28),
        sex=Sex(sex),
        citizen_id=f"027{century_sex}{year % 100:02d}{n % 1_000_000:06d}",
        social_insurance_number=f"{n:010d}",
        insurance_cards=(f"HT327{n:010d}",),
        phone=f"09{n % 100_000_000:08d}",
        address=Address(text="Phường Kinh Bắc, Bắc Ninh", province_code="24", commune_code="09193"),
    )


def write_files(folder: Path, episodes: int, files: int) -> list[Path]:
    per_file = episodes // files
    paths = []
    for f in range(files):
        records = []
        for i in range(per_file):
            n = f * per_file + i
            records.append(SourceRecord(position=i + 1, locator=f"HOSO {i + 1}", patient=patient(n),
                                        encounter=episode(n, datetime(2025, 6, 1, 8) + timedelta(minutes=n))))  # fmt: skip
        path = folder / f"night-{f}.xml"
        with path.open("wb") as out:
            write_xml130(records, out, facility_code=FACILITY, created_at=datetime(2025, 6, 2, 1))
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=20_000)
    parser.add_argument("--files", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, scratch_registry() as engine:
        paths = write_files(Path(folder), args.episodes, args.files)
        size = sum(p.stat().st_size for p in paths)
        started = time.perf_counter()
        loaded = 0
        for path in paths:
            result = load_file(engine, path, LoaderOptions(), Submission(submitted_by="bench"))
            assert result.status == "loaded" and result.rejected == 0, result.summary()
            loaded += result.loaded
        seconds = time.perf_counter() - started
    rows = loaded * (DRUGS + SERVICES + LABS)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"files: {len(paths)}, {size / 1e6:.1f} MB, {loaded:,} encounters with {rows:,} drug/service/lab rows"
    )
    print(f"wall time: {seconds:.1f} s")
    print(f"encounters/s: {loaded / seconds:,.0f}")
    print(f"clinical rows/s: {rows / seconds:,.0f}")
    print(f"peak memory of the loading process: {peak:,.0f} MiB")


if __name__ == "__main__":
    main()
