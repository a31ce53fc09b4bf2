"""Ingest benchmark: XML 130 files parsed, validated, stored and linked end to end; prints encounters/s.

    python bench/ingest.py [--episodes 20000] [--files 4] [--processes N] [--one-visit 200] [--backfill]

Writes `--files` XML 130 files of typical inpatient episodes (10 drug, 10 service and 5 lab rows
each, as hospitals send them) with the writer the loaders are tested against, loads them into a
scratch registry through provreg's own load path (parse in `--processes` workers, validate,
COPY, merge, match), and prints encounters per second, the rows stored per second (visits,
their versions, diagnoses, drugs, services, labs), the rate at which plain psycopg COPY puts the
same rows into the same tables in the same run (binary, indexes and constraints in place, rolled
back), their ratio, and the peak memory of the loading process and of its workers. With
`--one-visit N`, it then loads N one-visit files one by one and prints files per second. With
`--backfill`, the files are stored unlinked and the registry re-linked once at the end (the
re-link's time counted in the figures), as `provreg load --backfill` does.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._registry import scratch_registry
from loaders.options import LoaderOptions
from loaders.xml130_write import write_xml130
from registry.db.sql import connect
from registry.identity.batch_relink import relink_all
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


# The rows a load stores per visit, in an order their references allow.
VISIT_TABLES = ("encounter", "encounter_version", "diagnosis", "medication", "service", "lab_result")


def copy_rate(url: str) -> tuple[int, float]:
    """The stored visits' rows put back into the same tables by plain binary COPY: (rows, seconds).

    Read out first, deleted, then timed going back in with every index and constraint in place,
    all in one transaction that is rolled back."""
    with (
        psycopg.connect(url) as connection,
        connection.transaction(force_rollback=True),
        connection.cursor() as cursor,
    ):
        data = {}
        for table in VISIT_TABLES:
            with cursor.copy(f"COPY {table} TO STDOUT (FORMAT binary)") as copy:
                data[table] = b"".join(bytes(chunk) for chunk in copy)
        for table in reversed(VISIT_TABLES):
            cursor.execute(f"DELETE FROM {table}")
        rows = 0
        started = time.perf_counter()
        for table in VISIT_TABLES:
            with cursor.copy(f"COPY {table} FROM STDIN (FORMAT binary)") as copy:
                copy.write(data[table])
            rows += cursor.rowcount
        return rows, time.perf_counter() - started


def one_visit_files(url: str, folder: Path, count: int, processes: int | None) -> float:
    """Files per second for `count` files of one visit each, loaded one after the other."""
    paths = []
    for n in range(count):
        patient = make_patient(
            f"OV{n:08d}", full_name=NAMES[n % 6], serial=f"{n:06d}", born=(1960 + n % 50, 1, 1)
        )
        encounter = make_encounter(f"OV{n:09d}", drugs=DRUGS, services=SERVICES, labs=LABS, notes=0)
        path = folder / f"visit-{n}.xml"
        with path.open("wb") as out:
            write_xml130([make_record(1, patient, encounter)], out, facility_code="27001",
                         created_at=datetime(2025, 6, 2, 1))  # fmt: skip
        paths.append(path)
    started = time.perf_counter()
    for path in paths:
        result = load_file(url, path, LoaderOptions(), Submission(submitted_by="bench"), processes=processes)
        assert result.status == "loaded" and result.loaded == 1, result.summary()
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=20_000)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--processes", type=int, default=None, help="parsing workers (default: one per CPU)")
    parser.add_argument("--one-visit", type=int, default=0, help="one-visit files to load after the nights")
    parser.add_argument(
        "--backfill",
        action="store_true",
        help="store the files unlinked, then one batch re-link (the time included)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, scratch_registry() as url:
        paths = write_files(Path(folder), args.episodes, args.files)
        size = sum(p.stat().st_size for p in paths)
        cpu = os.times()
        started = time.perf_counter()
        loaded = 0
        for path in paths:
            result = load_file(
                url,
                path,
                LoaderOptions(),
                Submission(submitted_by="bench"),
                processes=args.processes,
                link=not args.backfill,
            )
            assert result.status == "loaded" and result.rejected == 0, result.summary()
            loaded += result.loaded
        if args.backfill:
            stored = time.perf_counter() - started
            with connect(url) as connection:
                relink_all(connection, decided_by="bench")
            print(
                f"backfill: stored in {stored:.1f} s, re-linked in {time.perf_counter() - started - stored:.1f} s"
            )
        seconds = time.perf_counter() - started
        spent = os.times()
        copied, copy_seconds = copy_rate(url)
        files_per_second = (
            one_visit_files(url, Path(folder), args.one_visit, args.processes) if args.one_visit else None
        )
    clinical = loaded * (DRUGS + SERVICES + LABS)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    workers_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"files: {len(paths)}, {size / 1e6:.1f} MB, {loaded:,} encounters with {clinical:,} drug/service/lab rows"
    )
    print(
        f"wall time: {seconds:.1f} s (CPU: this process {spent.user + spent.system - cpu.user - cpu.system:.1f} s,"
        f" its workers {spent.children_user + spent.children_system - cpu.children_user - cpu.children_system:.1f} s;"
        f" load average {os.getloadavg()[0]:.1f})"
    )
    print(f"encounters/s: {loaded / seconds:,.0f}")
    print(f"clinical rows/s: {clinical / seconds:,.0f}")
    print(f"rows stored/s ({', '.join(VISIT_TABLES)}): {copied / seconds:,.0f}")
    print(
        f"psycopg binary COPY of the same {copied:,} rows into the same tables: {copied / copy_seconds:,.0f} rows/s"
        f" ({copy_seconds:.1f} s); the load's share of it: {seconds and copy_seconds / seconds:.1%}"
    )
    if files_per_second is not None:
        print(f"one-visit files/s (provreg's load_file, one after the other): {files_per_second:,.1f}")
    print(
        f"peak memory: the loading process {peak:,.0f} MiB, its largest child process (workers) {workers_peak:,.0f} MiB"
    )


if __name__ == "__main__":
    main()
