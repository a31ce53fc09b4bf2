"""Ingest benchmark: facility files parsed, validated, stored and linked end to end; prints encounters/s.

    python bench/ingest.py [--episodes 20000] [--files 4] [--processes N] [--one-visit 200] [--backfill]
                           [--formats xml130 fhir csv]

Writes `--files` XML 130 files of typical inpatient episodes (10 drug, 10 service and 5 lab rows
each, as hospitals send them) with the writer the loaders are tested against, loads them into a
scratch registry through provreg's own load path (parse in `--processes` workers, validate,
COPY, merge, match), and prints encounters per second, the rows stored per second (visits,
their versions, diagnoses, drugs, services, labs), the rate at which plain psycopg COPY puts the
same rows into the same tables in the same run (binary, indexes and constraints in place, rolled
back), their ratio, and the peak memory of the loading process and of its workers. With
`--one-visit N`, it then loads N one-visit files as `provreg load FOLDER` does, and posts N others
to POST /ingest of a served registry (`provreg serve`, one ingest worker) from 8 senders at once,
and prints files per second for each (the HTTP figure until the last posted file is loaded). With
`--backfill`, the files are stored unlinked and the registry re-linked once at the end (the
re-link's time counted in the figures), as `provreg load --backfill` does. With `--formats`, the
same episodes are also written as FHIR NDJSON (a Bundle per episode: its drugs and labs, FHIR having
no place here for the services) and as a clinic CSV (a row per episode: no detail rows), each
format loaded into a scratch registry of its own, one after the other, with the same figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import signal
import socket
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._registry import scratch_registry
from loaders.csv_write import write_csv
from loaders.fhir_write import write_fhir_ndjson
from loaders.options import LoaderOptions, default_profile
from loaders.xml130_write import write_xml130
from registry.access.roles import Role
from registry.access.tokens import create_token
from registry.db.sql import connect
from registry.identity.batch_relink import relink_all
from registry.ingest.load import IncomingFile, Submission, load_file, load_files
from tests.factories import make_encounter, make_patient, make_record

DRUGS, SERVICES, LABS = 10, 10, 5
NAMES = ("Nguyễn Văn Hùng", "Trần Thị Lan", "Lê Văn Minh", "Phạm Thị Hương", "Hoàng Văn Nam", "Vũ Thị Phương")


FORMATS = ("xml130", "fhir", "csv")
SUFFIXES = {"xml130": ".xml", "fhir": ".ndjson", "csv": ".csv"}


def write_files(folder: Path, episodes: int, files: int, file_format: str = "xml130") -> list[Path]:
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
        path = folder / f"night-{f}{SUFFIXES[file_format]}"
        with path.open("wb") as out:
            if file_format == "fhir":
                write_fhir_ndjson(records, out, default_profile())
            elif file_format == "csv":
                write_csv(records, out, default_profile())
            else:
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


def write_one_visit_files(folder: Path, count: int, prefix: str) -> list[Path]:
    """`count` files of one visit each (its patient's first), as the insurance portal sends them."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(count):
        patient = make_patient(
            f"{prefix}{n:08d}", full_name=NAMES[n % 6], serial=f"{n:06d}", born=(1960 + n % 50, 1, 1)
        )
        encounter = make_encounter(f"{prefix}{n:09d}", drugs=DRUGS, services=SERVICES, labs=LABS, notes=0)
        path = folder / f"visit-{n}.xml"
        with path.open("wb") as out:
            write_xml130([make_record(1, patient, encounter)], out, facility_code="27001",
                         created_at=datetime(2025, 6, 2, 1))  # fmt: skip
        paths.append(path)
    return paths


def one_visit_cli(url: str, folder: Path, count: int) -> tuple[float, float]:
    """Files per second for `count` one-visit files loaded as `provreg load FOLDER` loads them (one
    connection, small files in groups), and the CPU of this process per file (ms)."""
    paths = write_one_visit_files(folder, count, "OV")
    options, submission = LoaderOptions(), Submission(submitted_by="bench")
    cpu = time.process_time()
    started = time.perf_counter()
    with connect(url) as connection:
        connection.autocommit = True
        for result in load_files(connection, (IncomingFile(path, options, submission) for path in paths)):
            assert result.status == "loaded" and result.loaded == 1, result.summary()
    seconds = time.perf_counter() - started
    return count / seconds, (time.process_time() - cpu) / count * 1000


HTTP_SENDERS = 8  # facilities' systems posting at once


def wait_for_a_live_worker(port: int) -> None:
    """/readyz answers 200 once the served registry's ingest worker has sent its first heartbeat."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as probe:
            probe.sendall(b"GET /readyz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
            if probe.recv(64).startswith(b"HTTP/1.1 200"):
                return
        time.sleep(0.2)
    raise SystemExit("the served registry's ingest worker did not start")


def one_visit_http(url: str, folder: Path, count: int) -> tuple[float, float]:
    """Files per second for `count` one-visit files posted to POST /ingest of a served registry
    (`provreg serve`, one ingest worker, started and ready) by HTTP_SENDERS senders at once, timed
    from the first post until the last file is loaded; and the files per second of the posts alone."""
    from bench.api import Connection, free_port, start_server

    paths = write_one_visit_files(folder, count, "HV")
    bodies = [path.read_bytes() for path in paths]
    with connect(url) as connection:
        token = create_token(
            connection, name="bench", role=Role.FACILITY, facility_code="27001", created_by="bench"
        ).secret
        (before,) = connection.execute("SELECT count(*) FROM ingest_batch").fetchone() or (0,)
    port = free_port()
    server = start_server(url, folder / "home", port, processes=1, plain=False, workers=1)
    wait_for_a_live_worker(port)
    head = (
        f"POST /ingest HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
        "Content-Type: application/xml\r\nContent-Length: "
    ).encode()

    async def send(share: list[bytes]) -> None:
        connection = await Connection.open(port)
        for body in share:
            status, answer = await connection.post(head, body)
            assert status == 202, answer

    async def send_all() -> None:
        await asyncio.gather(*(send(bodies[i::HTTP_SENDERS]) for i in range(HTTP_SENDERS)))

    try:
        started = time.perf_counter()
        asyncio.run(send_all())
        posted = time.perf_counter() - started
        with connect(url) as connection:
            connection.autocommit = True
            while True:
                (done,) = connection.execute(
                    "SELECT count(*) FROM ingest_batch WHERE id > %s AND status IN ('loaded', 'rejected', 'failed')",
                    (before,),
                ).fetchone() or (0,)
                if done >= count:
                    break
                time.sleep(0.02)
            seconds = time.perf_counter() - started
            (loaded,) = connection.execute(
                "SELECT count(*) FROM ingest_batch WHERE id > %s AND status = 'loaded' AND loaded = 1",
                (before,),
            ).fetchone() or (0,)
        assert loaded == count, f"{loaded} of {count} posted files loaded"
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(60)
    return count / seconds, count / posted


def clinical_rows(url: str) -> int:
    """The drug, service and lab rows stored (what a format carries of an episode's 25 differs)."""
    with connect(url) as connection:
        (rows,) = connection.execute(
            "SELECT (SELECT count(*) FROM medication) + (SELECT count(*) FROM service)"
            " + (SELECT count(*) FROM lab_result)"
        ).fetchone() or (0,)
    return rows


def measure(args: argparse.Namespace, file_format: str) -> None:
    """One format's files written, loaded into a scratch registry of their own, and its figures printed."""
    print(f"{file_format}:")
    Path("/proc/self/clear_refs").write_text("5")  # Linux: this format's peak memory, not the run's so far
    with tempfile.TemporaryDirectory() as folder, scratch_registry() as url:
        paths = write_files(Path(folder), args.episodes, args.files, file_format)
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
        clinical = clinical_rows(url)
        copied, copy_seconds = copy_rate(url)
        one_visit = (
            (
                one_visit_cli(url, Path(folder) / "cli", args.one_visit),
                one_visit_http(url, Path(folder) / "http", args.one_visit),
            )
            if args.one_visit and file_format == "xml130"
            else None
        )
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
    if one_visit is not None:
        (cli, cli_cpu), (http, posts) = one_visit
        print(
            f"one-visit files/s: provreg load {cli:,.1f} ({cli_cpu:.2f} ms of its CPU a file);"
            f" POST /ingest and the queue {http:,.1f} (the posts alone {posts:,.1f}/s, {HTTP_SENDERS} senders)"
        )
    print(
        f"peak memory: the loading process {peak:,.0f} MiB, its largest child process (workers,"
        f" of the run so far) {workers_peak:,.0f} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=20_000)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--processes", type=int, default=None, help="parsing workers (default: one per CPU)")
    parser.add_argument(
        "--one-visit", type=int, default=0, help="one-visit XML 130 files to load after the nights"
    )
    parser.add_argument(
        "--backfill",
        action="store_true",
        help="store the files unlinked, then one batch re-link (the time included)",
    )
    parser.add_argument(
        "--formats",
        nargs="+",
        choices=FORMATS,
        default=["xml130"],
        help="the same episodes in these formats, each into its own scratch registry, one after the other",
    )
    args = parser.parse_args()
    for file_format in args.formats:
        measure(args, file_format)


if __name__ == "__main__":
    main()
