"""Ingest benchmark: facility files parsed, validated, stored and linked end to end; prints encounters/s.

    python bench/ingest.py [--episodes 20000] [--files 4] [--processes N] [--one-visit 200] [--backfill]
                           [--formats xml130 fhir csv]

Writes `--files` XML 130 files of typical inpatient episodes (10 drug, 10 service and 5 lab rows
each, as hospitals send them) with the writer the loaders are tested against, loads them into a
scratch registry through provreg's own load path (parse in `--processes` workers, validate,
COPY, merge, match), and prints encounters per second, the rows stored per second (visits,
their versions, diagnoses, drugs, services, labs), the rate at which plain psycopg COPY puts the
rows of the first 20,000 visits back into the same tables in the same run (binary, indexes and
constraints in place, rolled back), their ratio, the database's size, and by phase the peak
memory of the loading process, of its workers and of PostgreSQL, and the highest load average.

The visits are made by the synthetic province's people (`synth`: households, Vietnamese names,
birth dates, sexes, citizen IDs, each facility's registration noise), 2.5 visits a person on
average, some back at the same facility, each file one of its facilities' (in turn); the files
are written by a process per CPU, a record at a time, before the timing starts. Until issue 19's
backfill measurement every visit here was a new patient with one of six names and one of 420
birth dates, so every blocking key held hundreds of records: figures from before that change
(bench/README.md) are not comparable where linking dominates (one-visit files, CSV, the re-link).

With `--one-visit N`, it then loads N one-visit files (the province's next visits, at one facility)
as `provreg load FOLDER` does, and posts N others (at another) to POST /ingest of a served
registry (`provreg serve`, one ingest worker) from 8 senders at once, and prints files per second
for each (the HTTP figure until the last posted file is loaded). With `--backfill`, the files are
stored unlinked and the registry re-linked once at the end (the re-link's time and figures counted
and printed), as `provreg load --backfill` does. With `--formats`, the same episodes are also
written as FHIR NDJSON (a Bundle per episode: its drugs and labs, FHIR having no place here for
the services) and as a clinic CSV (a row per episode: no detail rows), each format loaded into a
scratch registry of its own, one after the other, with the same figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from array import array
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as clock
from itertools import accumulate, repeat
from pathlib import Path
from typing import overload

import psutil
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._registry import scratch_registry
from loaders.csv_write import write_csv
from loaders.fhir_write import write_fhir_ndjson
from loaders.options import LoaderOptions, default_profile
from loaders.records import SourceRecord
from loaders.xml130_write import write_xml130
from registry.access.roles import Role
from registry.access.tokens import create_token
from registry.db.sql import connect
from registry.identity.batch_relink import relink_all
from registry.ingest.load import IncomingFile, Submission, load_file, load_files
from synth.care import SECOND_ID_SHARE
from synth.facilities import Facility, build_facilities
from synth.population import Population
from synth.recording import record_patient, register, registers_twice
from synth.rng import stream
from tests.factories import make_encounter

DRUGS, SERVICES, LABS = 10, 10, 5
SEED = 20250801
REFERENCE = date(2025, 6, 16)  # the population's reference day (synth.population)
FIRST_DAY = date(2024, 6, 17)  # the first file's first day; a file holds its facility's week
FACILITIES = 10  # of the synthetic province (synth.facilities); the files go to them in turn
RETURNING = 0.6  # of visits: by someone seen before (2.5 visits a person on average)
SAME_FACILITY = 0.35  # of visits: by someone seen before at this facility (the same local id, mostly)

FORMATS = ("xml130", "fhir", "csv")
SUFFIXES = {"xml130": ".xml", "fhir": ".ndjson", "csv": ".csv"}


class Province:
    """Who makes each visit: the synthetic province's people (households, Vietnamese names, birth
    dates, citizen IDs) at its facilities, each visit's patient part as its facility records it
    (registration noise included), and an inpatient episode of 10 drug, 10 service and 5 lab rows.

    Visits are numbered in file order, in blocks (a file each) given to the facilities in turn. A
    visit is made by a new person, or by someone seen before at this facility or anywhere (picked
    among earlier visits, so frequent visitors come back more often). Only the person of each
    visit is kept (4 bytes a visit): people and records are made again as their file is written.
    A block's visits do not depend on the blocks after it.
    """

    def __init__(self, blocks: Sequence[int]) -> None:
        self.sites = [f for f in build_facilities(FACILITIES, SEED) if f.format is not None]
        self.starts = [0, *accumulate(blocks)]
        rng = stream(SEED, "bench ingest plan")
        self.plan = array("I")
        seen_at = [array("I") for _ in self.sites]
        persons = 0
        for block, size in enumerate(blocks):
            seen = seen_at[block % len(self.sites)]
            for _ in range(size):
                draw = rng.random()
                if draw < SAME_FACILITY and seen:
                    person = seen[rng.randrange(len(seen))]
                elif draw < RETURNING and self.plan:
                    person = self.plan[rng.randrange(len(self.plan))]
                else:
                    person, persons = persons, persons + 1
                self.plan.append(person)
                seen.append(person)
        self.persons = persons
        self._population: Population | None = None

    def site(self, block: int) -> Facility:
        return self.sites[block % len(self.sites)]

    def visits(self, block: int) -> Sequence[SourceRecord]:
        """The records of a block, made one at a time as they are read."""
        return _BlockVisits(self, block)

    def record(self, block: int, position: int) -> SourceRecord:
        if self._population is None:  # in each process that writes: every household made once
            self._population = Population(SEED, self.persons, REFERENCE)
            for _ in self._population.households():
                pass
        n = self.starts[block] + position
        size = self.starts[block + 1] - self.starts[block]
        site, person = self.site(block), self._population.person(self.plan[n])
        rng = stream(SEED, "bench visit", n)
        second = registers_twice(site, person.index, SEED) and rng.random() < SECOND_ID_SHARE
        day = FIRST_DAY + timedelta(days=7 * (block // len(self.sites)) + 7 * position // size)
        registration = register(person, site, SEED, second=second, on=day)
        recorded = record_patient(person, site, registration, day, SEED, rng)
        encounter = make_encounter(
            f"LK{n:09d}", admitted_at=datetime.combine(day, clock(7)) + timedelta(minutes=rng.randrange(600)),
            drugs=DRUGS, services=SERVICES, labs=LABS, notes=0,
        )  # fmt: skip
        # As sent: a suspect identifier is the loaders' to flag, so the record is not validated here.
        return SourceRecord.model_construct(
            position=position + 1,
            locator=f"HOSO {position + 1}",
            patient=recorded.patient,
            encounter=encounter,
        )


class _BlockVisits(Sequence[SourceRecord]):
    def __init__(self, province: Province, block: int) -> None:
        self.province, self.block = province, block

    def __len__(self) -> int:
        return self.province.starts[self.block + 1] - self.province.starts[self.block]

    @overload
    def __getitem__(self, index: int) -> SourceRecord: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[SourceRecord]: ...
    def __getitem__(self, index: int | slice) -> SourceRecord | Sequence[SourceRecord]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self.province.record(self.block, index)


_writing: Province | None = None  # in a writing process: the province whose files it writes


def _start_writing(province: Province) -> None:
    global _writing
    _writing = province


def _write(block: int, position: int | None, path: Path, file_format: str) -> Path:
    """A block's file, or (`position`) the file of one of its visits."""
    assert _writing is not None
    visits = _writing.visits(block)
    records = visits if position is None else [visits[position]]
    with path.open("wb") as out:
        if file_format == "fhir":
            write_fhir_ndjson(records, out, default_profile())
        elif file_format == "csv":
            write_csv(records, out, default_profile())
        else:
            write_xml130(
                records, out, facility_code=_writing.site(block).code, created_at=datetime(2025, 6, 2, 1)
            )
    return path


def write(province: Province, files: Sequence[tuple[int, int | None, Path]], file_format: str) -> None:
    """These files (block, None or a visit's position, path) written by a process per CPU."""
    with ProcessPoolExecutor(os.cpu_count(), initializer=_start_writing, initargs=(province,)) as pool:
        for _ in pool.map(_write, *zip(*files, strict=True), repeat(file_format)):
            pass


def write_files(folder: Path, episodes: int, files: int, file_format: str = "xml130") -> list[Path]:
    """`files` files of `episodes` visits in all, as the province's facilities would send them."""
    paths = [folder / f"night-{f}{SUFFIXES[file_format]}" for f in range(files)]
    write(
        Province([episodes // files] * files), [(f, None, path) for f, path in enumerate(paths)], file_format
    )
    return paths


# The rows a load stores per visit, in an order their references allow.
VISIT_TABLES = ("encounter", "encounter_version", "diagnosis", "medication", "service", "lab_result")


COPY_SAMPLE = 20_000  # visits whose rows are COPYed again (the first ones stored)


def copy_rate(url: str) -> tuple[int, float]:
    """The rows of the first COPY_SAMPLE stored visits put back into the same tables by plain binary
    COPY: (rows, seconds).

    Read out first, deleted, then timed going back in with every index and constraint in place
    (and every other visit's rows in the tables), all in one transaction that is rolled back."""
    with (
        psycopg.connect(url) as connection,
        connection.transaction(force_rollback=True),
        connection.cursor() as cursor,
    ):
        (last,) = cursor.execute(
            "SELECT max(id) FROM (SELECT id FROM encounter ORDER BY id LIMIT %s) AS sample", (COPY_SAMPLE,)
        ).fetchone() or (0,)
        sample = {
            table: f"{'id' if table == 'encounter' else 'encounter_id'} <= {last or 0:d}"
            for table in VISIT_TABLES
        }
        data = {}
        for table in VISIT_TABLES:
            query = f"COPY (SELECT * FROM {table} WHERE {sample[table]}) TO STDOUT (FORMAT binary)"
            with cursor.copy(query) as copy:
                data[table] = b"".join(bytes(chunk) for chunk in copy)
        for table in reversed(VISIT_TABLES):
            cursor.execute(f"DELETE FROM {table} WHERE {sample[table]}")
        rows = 0
        started = time.perf_counter()
        for table in VISIT_TABLES:
            with cursor.copy(f"COPY {table} FROM STDIN (FORMAT binary)") as copy:
                copy.write(data[table])
            rows += cursor.rowcount
        return rows, time.perf_counter() - started


def one_visit_cli(url: str, paths: list[Path]) -> tuple[float, float]:
    """Files per second for one-visit files loaded as `provreg load FOLDER` loads them (one
    connection, small files in groups), and the CPU of this process per file (ms)."""
    count = len(paths)
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


def one_visit_http(url: str, home: Path, facility_code: str, paths: list[Path]) -> tuple[float, float]:
    """Files per second for a facility's one-visit files posted to POST /ingest of a served registry
    (`provreg serve`, one ingest worker, started and ready) by HTTP_SENDERS senders at once, timed
    from the first post until the last file is loaded; and the files per second of the posts alone."""
    from bench.api import Connection, free_port, start_server

    count = len(paths)
    bodies = [path.read_bytes() for path in paths]
    with connect(url) as connection:
        token = create_token(
            connection, name="bench", role=Role.FACILITY, facility_code=facility_code, created_by="bench"
        ).secret
        (before,) = connection.execute("SELECT count(*) FROM ingest_batch").fetchone() or (0,)
    port = free_port()
    server = start_server(url, home, port, processes=1, plain=False, workers=1)
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


def stored_rows(url: str) -> dict[str, int]:
    """The rows stored in each of VISIT_TABLES."""
    with connect(url) as connection:
        return {
            table: (connection.execute(f"SELECT count(*) FROM {table}").fetchone() or (0,))[0]
            for table in VISIT_TABLES
        }


def database_size(url: str) -> int:
    with connect(url) as connection:
        (size,) = connection.execute("SELECT pg_database_size(current_database())").fetchone() or (0,)
    return int(size)


MiB = 1 << 20


@dataclass
class Peak:
    """A phase's highest figures: memory in MiB, the 1-minute load average."""

    loading: float = 0.0  # this process (its exact high-water mark)
    worker: float = 0.0  # its largest child process (parsing or re-link workers)
    workers: float = 0.0  # its child processes together
    shared: float = 0.0  # this process and its children together, the pages they share counted once (PSS)
    postgres: float = 0.0  # the server's processes together, shared memory counted once (PSS)
    load: float = 0.0


class PeakSampler(threading.Thread):
    """Peak memory and load average by phase: every SAMPLE_SECONDS the resident memory of this
    process's children and the proportional set size of every PostgreSQL process (so shared
    buffers count once); this process's own peak exactly, from the kernel's high-water mark."""

    SAMPLE_SECONDS = 0.5

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        with connect(url) as connection:
            (backend,) = connection.execute("SELECT pg_backend_pid()").fetchone() or (0,)
            self.postmaster = psutil.Process(backend).parent()
        self.peaks: dict[str, Peak] = {}
        self.current = Peak()
        self.stopping = threading.Event()

    def phase(self, name: str) -> None:
        """From now on the figures are this phase's (Linux: the high-water mark is reset)."""
        self._close()
        self.current = self.peaks[name] = Peak()
        Path("/proc/self/clear_refs").write_text("5")

    def _close(self) -> None:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                self.current.loading = max(self.current.loading, int(line.split()[1]) / 1024)

    def stop(self) -> dict[str, Peak]:
        self._close()
        self.stopping.set()
        self.join()
        return self.peaks

    def run(self) -> None:
        while not self.stopping.wait(self.SAMPLE_SECONDS):
            peak = self.current
            children = psutil.Process().children(recursive=True)
            resident = [_rss(child) for child in children]
            peak.worker = max(peak.worker, *resident, 0.0)
            peak.workers = max(peak.workers, sum(resident))
            peak.shared = max(
                peak.shared, sum(_pss(process.pid) for process in (psutil.Process(), *children))
            )
            server = [self.postmaster, *self.postmaster.children()]
            peak.postgres = max(peak.postgres, sum(_pss(process.pid) for process in server))
            peak.load = max(peak.load, os.getloadavg()[0])


def _rss(process: psutil.Process) -> float:
    try:
        return process.memory_info().rss / MiB
    except psutil.NoSuchProcess:
        return 0.0


def _pss(pid: int) -> float:
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:  # the process has ended
        return 0.0
    return next((int(line.split()[1]) / 1024 for line in rollup.splitlines() if line.startswith("Pss:")), 0.0)


def load_nights(args: argparse.Namespace, url: str, paths: list[Path], sampler: PeakSampler) -> int:
    """The night files loaded (with `--backfill` stored unlinked, then the registry re-linked);
    returns the visits loaded."""
    sampler.phase("store" if args.backfill else "load")
    started = time.perf_counter()
    loaded = 0
    for n, path in enumerate(paths, 1):
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
        elapsed = time.perf_counter() - started
        print(
            f"  file {n} of {len(paths)}: {loaded:,} visits in {elapsed:,.0f} s", file=sys.stderr, flush=True
        )
    if args.backfill:
        stored = time.perf_counter() - started
        print(f"backfill: stored in {stored:,.1f} s ({loaded / stored:,.0f} visits/s)", flush=True)
        sampler.phase("re-link")
        with connect(url) as connection:
            summary = relink_all(connection, decided_by="bench")
        phases = ", ".join(f"{name} {seconds:,.1f}" for name, seconds in summary.phases.items())
        print(
            f"backfill: re-linked in {time.perf_counter() - started - stored:,.1f} s: {summary.records:,} source"
            f" patients, {summary.pairs_scored:,} pairs scored, {summary.identities:,} identities,"
            f" {summary.reviews:,} review items (seconds: {phases})",
            flush=True,
        )
    return loaded


def measure(args: argparse.Namespace, file_format: str) -> None:
    """One format's files written, loaded into a scratch registry of their own, and its figures printed."""
    print(f"{file_format}:", flush=True)
    one_visit = args.one_visit if file_format == "xml130" else 0
    province = Province([args.episodes // args.files] * args.files + [one_visit] * (2 if one_visit else 0))
    with tempfile.TemporaryDirectory(prefix="provreg-bench-ingest-") as scratch, scratch_registry() as url:
        folder = Path(scratch)
        paths = [folder / f"night-{f}{SUFFIXES[file_format]}" for f in range(args.files)]
        cli_paths, http_paths = (
            [folder / f"{kind}-{i}.xml" for i in range(one_visit)] for kind in ("cli", "http")
        )
        started = time.perf_counter()
        write(
            province,
            [(f, None, path) for f, path in enumerate(paths)]
            + [(args.files, i, path) for i, path in enumerate(cli_paths)]
            + [(args.files + 1, i, path) for i, path in enumerate(http_paths)],
            file_format,
        )
        size = sum(p.stat().st_size for p in paths)
        print(
            f"files: {len(paths)}, {size / 1e6:,.1f} MB, written in {time.perf_counter() - started:,.0f} s;"
            f" {province.persons:,} people make their {len(province.plan):,} visits",
            flush=True,
        )
        sampler = PeakSampler(url)
        sampler.start()
        cpu = os.times()
        started = time.perf_counter()
        loaded = load_nights(args, url, paths, sampler)
        seconds = time.perf_counter() - started
        spent = os.times()
        peaks = sampler.stop()
        size_after = database_size(url)
        rows = stored_rows(url)
        copied, copy_seconds = copy_rate(url)
        one_visit_rates = (
            (
                one_visit_cli(url, cli_paths),
                one_visit_http(url, folder / "home", province.site(args.files + 1).code, http_paths),
            )
            if one_visit
            else None
        )
    clinical = rows["medication"] + rows["service"] + rows["lab_result"]
    stored = sum(rows.values())
    print(
        f"{loaded:,} encounters with {clinical:,} drug/service/lab rows; database {size_after / 1e9:,.2f} GB"
    )
    print(
        f"wall time: {seconds:.1f} s (CPU: this process {spent.user + spent.system - cpu.user - cpu.system:.1f} s,"
        f" its workers {spent.children_user + spent.children_system - cpu.children_user - cpu.children_system:.1f} s;"
        f" load average {os.getloadavg()[0]:.1f})"
    )
    print(f"encounters/s: {loaded / seconds:,.0f}")
    print(f"clinical rows/s: {clinical / seconds:,.0f}")
    print(f"rows stored/s ({', '.join(VISIT_TABLES)}): {stored / seconds:,.0f}")
    print(
        f"psycopg binary COPY of {copied:,} of these rows (the first {min(COPY_SAMPLE, loaded):,} visits') into the same tables:"
        f" {copied / copy_seconds:,.0f} rows/s ({copy_seconds:.1f} s); the load's share of it:"
        f" {stored / seconds / (copied / copy_seconds):.1%}"
    )
    if one_visit_rates is not None:
        (cli, cli_cpu), (http, posts) = one_visit_rates
        print(
            f"one-visit files/s: provreg load {cli:,.1f} ({cli_cpu:.2f} ms of its CPU a file);"
            f" POST /ingest and the queue {http:,.1f} (the posts alone {posts:,.1f}/s, {HTTP_SENDERS} senders)"
        )
    for phase, peak in peaks.items():
        print(
            f"peak memory, {phase}: the loading process {peak.loading:,.0f} MiB, its largest child process"
            f" {peak.worker:,.0f} MiB (together {peak.workers:,.0f} MiB; with the loading process, the pages"
            f" they share counted once, {peak.shared:,.0f} MiB), PostgreSQL {peak.postgres:,.0f} MiB"
            f" (its processes' PSS together); load average up to {peak.load:.1f}"
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
