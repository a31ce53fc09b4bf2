"""Benchmark of the GraphQL API: a doctor's system fetching typical patients' histories, concurrently.

    .venv/bin/python bench/api.py [--persons 200000] [--concurrency 6] [--seconds 20] [--processes 2]
                                  [--plain-encounters]

A synthetic province is written straight into the registry's tables by set-based SQL (the
facility-file path, `provreg load`, is measured by bench/ingest.py): every person has a citizen
ID, a master identity, one source record and two encounters; one person in twenty has a typical
history for this benchmark: ten encounters at three facilities, each with 2 diagnoses, 3 drugs,
3 services, 2 lab results and a note. The province is kept in its own database
(`provreg_bench_<persons>`) on the embedded server of $PROVREG_HOME (default ./.provreg/bench)
or on DATABASE_URL's server, and reused by later runs. `--plain-encounters` serves the
encounters built from their rows instead of written as JSON by PostgreSQL
(PROVREG_API_WRITTEN_ENCOUNTERS=0, registry/api/graphql/encounters.py): what the fast path gains.

The server runs as `provreg serve` does (uvicorn; --processes N: uvicorn's supervisor and N server
processes accepting from one socket; no ingest workers), its log in $PROVREG_HOME/bench-server.log;
the client is a small asyncio HTTP/1.1 keep-alive client on uvloop in this process, on the same machine,
its connections opened 50 ms apart. Every request
reads one random typical patient's identity and last ten encounters with their details, audited.
Printed, after a warm-up: p50, p95, p99 latency and requests per second; and the CPU time the
server processes and the embedded PostgreSQL spent per request, which (unlike throughput) does
not depend on what else the machine is running.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psutil
import psycopg
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._registry import with_database
from registry.access.roles import Role
from registry.access.tokens import create_token
from registry.db import embedded, migrate
from registry.db.sql import connect

HISTORY_EVERY = 20  # one person in twenty has a typical ten-encounter history
FACILITIES = 50
CONNECT_EVERY_SECONDS = 0.05

QUERY = """
query History($id: ID!) { patient(id: $id) {
  identity { fullName birthDate { text } sex citizenId phone address { text communeCode } }
  encounters(first: 10) {
    nodes {
      id admittedAt dischargedAt visitType outcome facility { code name } referredTo { code name }
      diagnoses { code isMain text }
      medications { code name strength dosage quantity unit orderedAt }
      services { code name quantity orderedAt }
      labResults { code name value unit resultAt }
      notes { text recordedAt }
    }
    pageInfo { hasNextPage endCursor }
  }
} }
"""

# The province, in dependency order. :persons is the number of persons; ids are assigned in order.
POPULATE = [
    """INSERT INTO facility (code, name, kind)
       SELECT lpad((27000 + f)::text, 5, '0'), 'Bệnh viện ' || f, 'hospital' FROM generate_series(1, 50) f""",
    "INSERT INTO facility (code, name, kind) VALUES ('01929', 'Bệnh viện Bạch Mai', 'central_hospital')",
    """INSERT INTO ingest_batch (facility_code, channel, submitted_by, content_sha256, size_bytes, status)
       VALUES (NULL, 'cli', 'bench', 'bench', 0, 'rejected')""",
    # Person p: a source record at facility p % 50; a history person also at the next two facilities.
    """CREATE TEMP TABLE person AS
       SELECT p, (p %% 20 = 0) AS history,
              '027' || (p %% 2) || lpad(((p %% 60) + 30)::text, 2, '0') || lpad(p::text, 6, '0') AS citizen_id,
              (ARRAY['Nguyễn', 'Trần', 'Lê', 'Phạm', 'Hoàng', 'Vũ'])[1 + p %% 6] || ' '
                || (CASE WHEN p %% 2 = 0 THEN 'Văn' ELSE 'Thị' END) || ' '
                || (ARRAY['An', 'Bình', 'Châu', 'Dũng', 'Hà', 'Lan', 'Minh', 'Nga'])[1 + (p / 7) %% 8] AS full_name
       FROM generate_series(1, %(persons)s) p""",
    """INSERT INTO source_patient (facility_code, local_id, full_name, birth_year, birth_month, birth_day, sex,
                                   citizen_id, insurance_cards, social_insurance_number, phone, address_text,
                                   province_code, commune_code, content_sha256, first_batch_id, last_batch_id)
       SELECT lpad((27001 + (p + k) %% 50)::text, 5, '0'), 'BN' || p, full_name,
              1930 + (p %% 60), 1 + p %% 12, 1 + p %% 28, 1 + p %% 2, citizen_id,
              ARRAY['DN427' || lpad(p::text, 10, '0')], lpad(p::text, 10, '0'),
              '09' || lpad(p::text, 8, '0'), 'Thôn ' || p %% 97 || ', xã Tam Sơn, Bắc Ninh', '24',
              lpad((9000 + p %% 300)::text, 5, '0'), md5(p::text), 1, 1
       FROM person, generate_series(0, 2) k WHERE k = 0 OR history""",
    """INSERT INTO master_patient (citizen_id, founded_by_source_patient_id)
       SELECT DISTINCT ON (citizen_id) citizen_id, id FROM source_patient ORDER BY citizen_id, id""",
    """INSERT INTO patient_link (source_patient_id, master_patient_id, method, decided_by, batch_id)
       SELECT sp.id, m.id, 'citizen_id', 'bench', 1 FROM source_patient sp JOIN master_patient m USING (citizen_id)""",
    # Two encounters per source record of an ordinary person; a history person's three records hold 4 + 3 + 3.
    """INSERT INTO encounter (facility_code, encounter_key, source_patient_id, record_number, visit_type,
                              admitted_at, discharged_at, outcome, discharge_type, referred_to,
                              discharge_diagnosis_text, content_sha256, first_batch_id, last_batch_id)
       SELECT sp.facility_code, 'LK' || sp.id || '-' || e, sp.id, 'HS' || sp.id || '-' || e,
              (ARRAY['01', '02', '03'])[1 + e %% 3],
              timestamp '2020-01-01' + (sp.id %% 1500 + e * 45) * interval '1 day' + interval '8 hours',
              timestamp '2020-01-01' + (sp.id %% 1500 + e * 45 + 3) * interval '1 day',
              2, 1, CASE WHEN e = 0 THEN '01929' END, 'Đái tháo đường typ 2', md5(sp.id || '-' || e), 1, 1
       FROM source_patient sp JOIN person ON sp.local_id = 'BN' || p,
            generate_series(0, 3) e
       WHERE e < CASE WHEN NOT history THEN 2 WHEN sp.facility_code = lpad((27001 + p %% 50)::text, 5, '0') THEN 4 ELSE 3 END""",
    """INSERT INTO diagnosis (encounter_id, source_patient_id, ordinal, code, is_main, text)
       SELECT id, source_patient_id, o, (ARRAY['E11', 'I10'])[o], o = 1, (ARRAY['Đái tháo đường', 'Tăng huyết áp'])[o]
       FROM encounter, generate_series(1, 2) o""",
    """INSERT INTO medication (encounter_id, source_patient_id, ordinal, code, name, strength, dosage, quantity,
                               unit, ordered_at)
       SELECT id, source_patient_id, o, '40.' || o, (ARRAY['Metformin', 'Amlodipin', 'Gliclazid'])[o], '500mg',
              '1 viên x 2 lần/ngày', 20.5, 'viên', admitted_at + o * interval '1 hour'
       FROM encounter, generate_series(1, 3) o""",
    """INSERT INTO service (encounter_id, source_patient_id, ordinal, code, name, quantity, ordered_at, result_at)
       SELECT id, source_patient_id, o, 'DV' || o, 'Xét nghiệm', 1, admitted_at, admitted_at + interval '2 hours'
       FROM encounter, generate_series(1, 3) o""",
    """INSERT INTO lab_result (encounter_id, source_patient_id, ordinal, service_code, code, name, value, unit, result_at)
       SELECT id, source_patient_id, o, 'DV1', (ARRAY['GLU', 'HBA1C'])[o], (ARRAY['Glucose', 'HbA1c'])[o],
              (6 + id %% 5)::text || '.2', (ARRAY['mmol/L', '%%'])[o], admitted_at + interval '2 hours'
       FROM encounter, generate_series(1, 2) o""",
    """INSERT INTO progress_note (encounter_id, source_patient_id, ordinal, text, recorded_at)
       SELECT id, source_patient_id, 1, 'Bệnh nhân ổn định', admitted_at + interval '1 day' FROM encounter""",
    "ANALYZE",
]


def server_url(home: Path) -> str:
    return os.environ.get("DATABASE_URL") or embedded.start(home)


def province_database(persons: int, home: Path) -> str:
    """The URL of a migrated database holding the province, populated on first use."""
    admin_url = server_url(home)
    name = f"provreg_bench_{persons}"
    with psycopg.connect(admin_url, autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{name}"')
    url = with_database(admin_url, name)
    migrate.upgrade(url)
    with psycopg.connect(url) as connection:
        if connection.execute("SELECT count(*) FROM master_patient").fetchone() == (0,):
            started = time.perf_counter()
            print(f"writing a province of {persons} persons ...", flush=True)
            for statement in POPULATE:
                connection.execute(statement, {"persons": persons})
            connection.commit()
            print(f"  done in {time.perf_counter() - started:.0f} s", flush=True)
        counts = connection.execute(
            "SELECT (SELECT count(*) FROM master_patient), (SELECT count(*) FROM source_patient),"
            " (SELECT count(*) FROM encounter), (SELECT count(*) FROM medication)"
        ).fetchone()
    print("province: {} persons, {} source records, {} encounters, {} drug orders".format(*counts))
    return url


def history_patients(url: str, limit: int = 5000) -> list[int]:
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT master_patient_id FROM patient_link GROUP BY 1 HAVING count(*) = 3 ORDER BY random() LIMIT %s",
            (limit,),
        ).fetchall()
    return [row[0] for row in rows]


def clinician_token(url: str) -> str:
    with connect(url) as connection:
        return create_token(connection, name="bench", role=Role.CLINICIAN, created_by="bench").secret


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(
    url: str, home: Path, port: int, processes: int, plain: bool, workers: int = 0
) -> subprocess.Popen[bytes]:
    """`provreg serve` (with `workers` ingest workers: bench/ingest.py posts files to it)."""
    env = {**os.environ, "DATABASE_URL": url, "PROVREG_HOME": str(home)}
    if plain:
        env["PROVREG_API_WRITTEN_ENCOUNTERS"] = "0"
    command = ["serve", "--port", str(port), "--workers", str(workers), "--processes", str(processes)]
    home.mkdir(parents=True, exist_ok=True)
    log = home / "bench-server.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "registry", *command], env=env, stdout=subprocess.DEVNULL, stderr=stderr
        )
    # Every server process started (uvicorn logs each application's start-up), so that the
    # connections opened next may go to any of them; then the server answers.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server ended: see {log}")
        if log.read_text(errors="replace").count("Application startup complete") >= processes:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", port), timeout=5) as probe,
            ):
                probe.sendall(b"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n")
                if probe.recv(64).startswith(b"HTTP/1.1 200"):
                    return process
        time.sleep(0.3)
    process.kill()
    raise SystemExit(f"the server did not start: see {log}")


def connections_per_process(server: psutil.Process, port: int) -> list[int]:
    """How many connections to the port each process of the server holds, most first; processes
    holding none are left out."""
    held = []
    for process in (server, *server.children(recursive=True)):
        try:
            connections = process.net_connections("tcp")
        except psutil.NoSuchProcess:
            continue
        mine = sum(1 for c in connections if c.laddr.port == port and c.status == psutil.CONN_ESTABLISHED)
        if mine:
            held.append(mine)
    return sorted(held, reverse=True)


class Connection:
    """One keep-alive HTTP/1.1 connection: a request, then its whole answer (Content-Length framed)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def post(self, head: bytes, body: bytes) -> tuple[int, bytes]:
        self.writer.write(head + str(len(body)).encode() + b"\r\n\r\n" + body)
        status_line = await self.reader.readuntil(b"\r\n")
        headers = await self.reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in headers.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        return int(status_line.split()[1]), await self.reader.readexactly(length)


def cpu_seconds(roots: list[psutil.Process]) -> float:
    """CPU time (user + system) used so far by these processes and their children."""
    total = 0.0
    for root in roots:
        for process in (root, *root.children(recursive=True)):
            try:
                times = process.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
    return total


def postmaster(home: Path) -> list[psutil.Process]:
    """The embedded PostgreSQL server, to count its CPU too (not measurable on another host)."""
    pid_file = home / "pgdata" / "postmaster.pid"
    if os.environ.get("DATABASE_URL") or not pid_file.exists():
        return []
    return [psutil.Process(int(pid_file.read_text().split()[0]))]


async def load(
    port: int,
    token: str,
    patients: list[int],
    concurrency: int,
    warmup: float,
    seconds: float,
    measured: list[psutil.Process],
) -> None:
    head = (
        f"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
        "X-Purpose: benchmark\r\nContent-Type: application/json\r\nContent-Length: "
    ).encode()
    latencies: list[float] = []
    spread: list[int] = []
    failures = 0
    started = time.perf_counter()
    measuring_from = started + warmup
    until = measuring_from + seconds

    async def cpu_at_start() -> list[float]:
        await asyncio.sleep(warmup)
        spread.extend(connections_per_process(measured[0], port))
        return [cpu_seconds([process]) for process in measured] + [time.process_time()]

    async def client(seed: int) -> None:
        nonlocal failures
        chooser = random.Random(seed)
        # The clients connect one after another, as independent systems do: connections arriving
        # in one burst would all be accepted by whichever server process wakes first.
        await asyncio.sleep(seed * CONNECT_EVERY_SECONDS)
        connection = await Connection.open(port)
        while (now := time.perf_counter()) < until:
            body = json.dumps({"query": QUERY, "variables": {"id": str(chooser.choice(patients))}}).encode()
            status, answer = await connection.post(head, body)
            done = time.perf_counter()
            if done >= measuring_from and now >= measuring_from:
                latencies.append(done - now)
                if status != 200 or b'"errors"' in answer:
                    failures += 1
        connection.writer.close()

    cpu_before, *_ = await asyncio.gather(cpu_at_start(), *(client(seed) for seed in range(concurrency)))
    cpu_now = [cpu_seconds([process]) for process in measured] + [time.process_time()]
    cpu_used = [now - before for now, before in zip(cpu_now, cpu_before, strict=True)]
    latencies.sort()

    def percentile(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    print(
        f"requests measured: {len(latencies)} in {seconds:.0f} s, {failures} failed, concurrency {concurrency}"
    )
    print(f"throughput: {len(latencies) / seconds:.0f} requests/s")
    # A process holding more than its share of the connections would be busier than the others.
    print(f"connections per server process: {', '.join(map(str, spread))}")
    print(
        f"latency: p50 {percentile(0.50):.1f} ms, p95 {percentile(0.95):.1f} ms, p99 {percentile(0.99):.1f} ms,"
        f" mean {statistics.fmean(latencies) * 1000:.1f} ms"
    )
    server, *database, client = (used / len(latencies) * 1000 for used in cpu_used)
    per_request = server + sum(database)
    print(
        f"CPU per request: server {server:.2f} ms"
        + (f" + PostgreSQL {database[0]:.2f} ms" if database else "")
        + f" (capacity on {os.cpu_count()} cores without the client: {os.cpu_count() * 1000 / per_request:.0f} requests/s);"
        + f" the client {client:.2f} ms"
    )


def fixed_work_ms() -> float:
    """CPU milliseconds a fixed pure-Python workload takes now. This machine's speed varies by
    about a third from one phase to another, and every figure with it: this tells the phases apart."""
    started = time.process_time()
    total = 0
    for number in range(3_000_000):
        total += number % 7
    return (time.process_time() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--persons", type=int, default=200_000)
    parser.add_argument("--concurrency", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--processes", type=int, default=2, help="API server processes")
    parser.add_argument(
        "--plain-encounters",
        action="store_true",
        help="encounters built from rows, not written by PostgreSQL",
    )
    args = parser.parse_args()
    home = Path(os.environ.get("PROVREG_HOME", ".provreg/bench")).resolve()
    url = province_database(args.persons, home)
    patients = history_patients(url)
    token = clinician_token(url)
    port = free_port()
    print(
        f"cores: {os.cpu_count()}; server processes: {args.processes}; typical patients sampled: {len(patients)};"
        f" encounters {'built from rows' if args.plain_encounters else 'written by PostgreSQL'}"
    )
    before = fixed_work_ms()
    server = start_server(url, home, port, args.processes, args.plain_encounters)
    try:
        measured = [psutil.Process(server.pid), *postmaster(home)]
        # uvloop, as the server runs: the client shares the 2 cores, and takes less of them so.
        uvloop.run(load(port, token, patients, args.concurrency, args.warmup, args.seconds, measured))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    print(
        f"machine speed: a fixed Python workload took {before:.0f} ms of CPU before, {fixed_work_ms():.0f} ms after"
    )


if __name__ == "__main__":
    main()
