"""Ingest benchmark: XML 130 files parsed, validated, stored and linked end to end; prints encounters/s.

    python bench/ingest.py [--episodes 20000] [--files 4]

Writes `--files` XML 130 files of typical inpatient episodes (10 drug, 10 service and 5 lab rows
each, as hospitals send them) with the writer the loaders are tested against, loads them into a
scratch registry through provreg's own load path (parse, validate, COPY, merge, match), and
prints encounters per second, clinical rows per second and the loading process's peak memory.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._registry import scratch_registry
from loaders.options import LoaderOptions
from loaders.xml130_write import write_xml130
from registry.ingest import Submission, load_file
from tests.factories import make_encounter, make_patient, make_record

DRUGS, SERVICES, LABS = 10, 10, 5
NAMES = ("Nguyễn Văn Hùng", "Trần Thị Lan", "Lê Văn Minh", "Phạm Thị Hương", "Hoàng Văn Nam", "Vũ Thị Phương")


def write_files(folder: Path, episodes: int, files: int) -> list[Path]:
    per_file = episodes // files
    paths = []
    for f in range(files):
        records = []
        for i in range(per_file):
            n = f * per_file + i
            sex = 1 + n % 2
            patient = make_patient(
                f"BN{n:08d}", full_name=NAMES[(n // 2) % 3 * 2 + sex - 1], serial=f"{n % 1_000_000:06d}",
                born=(1940 + n % 70, 1 + n % 12, 1 + n % 28), sex=sex,
            )  # fmt: skip
            encounter = make_encounter(
                f"LK{n:09d}", admitted_at=datetime(2025, 6, 1, 8) + timedelta(minutes=n),
                drugs=DRUGS, services=SERVICES, labs=LABS, notes=0,
            )  # fmt: skip
            records.append(make_record(i + 1, patient, encounter))
        path = folder / f"night-{f}.xml"
        with path.open("wb") as out:
            write_xml130(records, out, facility_code="27001", created_at=datetime(2025, 6, 2, 1))
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
