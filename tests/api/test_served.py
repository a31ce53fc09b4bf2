"""The real server and workers in subprocesses, used over HTTP as facilities and doctors' systems use them."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from gql import Client, GraphQLRequest
from gql.transport.httpx import HTTPXTransport
from starlette.testclient import TestClient

from registry.contracts import SCHEMA_DIR
from tests.api.conftest import write_extract
from tests.database import Database
from tests.factories import citizen_id, make_encounter, make_patient, make_record

pytestmark = pytest.mark.slow


@pytest.fixture
def provreg(db_url: str, tmp_path: Path) -> Callable[..., subprocess.Popen[str]]:
    env = {**os.environ, "DATABASE_URL": db_url, "PROVREG_HOME": str(tmp_path / "home")}
    started: list[subprocess.Popen[str]] = []

    def run(*args: str, **more_env: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-m", "registry", *args],
            env={**env, **more_env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        return process

    yield run
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def wait_until_serving(process: subprocess.Popen[str], base: str) -> None:
    def ready() -> bool:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        try:
            return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    wait_for(ready, 180, "the server to be ready")


def new_token(provreg: Callable[..., subprocess.Popen[str]], *args: str) -> str:
    out, err = provreg("tokens", "create", *args).communicate(timeout=120)
    assert out.strip().startswith("prv_"), err
    return out.strip()


@pytest.fixture
def server(provreg: Callable[..., subprocess.Popen[str]]) -> Iterator[str]:
    port = free_port()
    process = provreg("serve", "--port", str(port), "--workers", "1")
    base = f"http://127.0.0.1:{port}"
    wait_until_serving(process, base)
    yield base
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)


def test_a_facility_posts_a_night_and_a_doctor_reads_the_history_over_http(
    server: str, provreg: Callable[..., subprocess.Popen[str]], tmp_path: Path
) -> None:
    facility = new_token(provreg, "--role", "facility", "--name", "HIS 27001", "--facility", "27001")
    doctor = new_token(provreg, "--role", "clinician", "--name", "Dr Lan")
    records = [make_record(1, make_patient("BN1", serial="000321"), make_encounter("LK1"))]
    body = write_extract(tmp_path / "night.xml", records, "27001").read_bytes()

    posted = httpx.post(f"{server}/ingest", content=body, headers={"Authorization": f"Bearer {facility}"})
    assert posted.status_code == 202, posted.text
    status_url = server + posted.json()["status_url"]

    def loaded() -> bool:
        return (
            httpx.get(status_url, headers={"Authorization": f"Bearer {facility}"}).json()["status"]
            == "loaded"
        )

    wait_for(loaded, 180, "the worker to load the file")

    query = """query($c: String!) { patient(citizenId: $c, purpose: "treatment") {
        identity { fullName } encounters(first: 5) { nodes { facility { code } diagnoses { code } } } } }"""
    # As a doctor's system would: a GraphQL client library, checking its operation against the
    # published schema before sending it (it raises on any error in the answer).
    transport = HTTPXTransport(url=f"{server}/graphql", headers={"Authorization": f"Bearer {doctor}"})
    published = (SCHEMA_DIR / "registry.graphql").read_text(encoding="utf-8")
    with Client(transport=transport, schema=published) as session:
        answer = session.execute(GraphQLRequest(query, variable_values={"c": citizen_id(serial="000321")}))
    patient = answer["patient"]
    assert patient["identity"]["fullName"] == "Nguyễn Văn An"
    assert patient["encounters"]["nodes"][0]["diagnoses"][0]["code"] == "E11"

    metrics = httpx.get(f"{server}/metrics").text
    assert 'provreg_http_requests_total{method="POST",route="/graphql",status="200"}' in metrics
    assert 'provreg_ingest_batches{status="loaded"} 1.0' in metrics
    assert httpx.get(f"{server}/healthz").json() == {"status": "ok"}


def test_as_a_service_it_logs_json_lines_to_stdout_with_request_ids_and_no_personal_data(
    provreg: Callable[..., subprocess.Popen[str]],
) -> None:
    port = free_port()
    process = provreg("serve", "--port", str(port), "--workers", "1", PROVREG_LOG_FORMAT="json")
    base = f"http://127.0.0.1:{port}"
    wait_until_serving(process, base)
    assert httpx.get(f"{base}/healthz", headers={"X-Request-Id": "probe-1"}).status_code == 200
    search = '{ patients(search: {name: "Nguyễn Văn Bình"}, purpose: "care") { nodes { id } } }'
    httpx.get(f"{base}/graphql", params={"query": search}, headers={"X-Request-Id": "search-1"})
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    lines = [json.loads(line) for line in out.splitlines()]  # every line is one JSON object
    assert {"time", "level", "logger", "message"} <= set(lines[0])
    by_request = {line.get("request_id"): line for line in lines if line["logger"] == "provreg.access"}
    assert by_request["probe-1"]["message"].startswith("GET /healthz 200")
    assert by_request["search-1"]["message"].startswith("GET /graphql")
    assert "ingest worker" in out and "Application startup complete" in out  # worker's and uvicorn's
    assert "Bình" not in out and "B%C3%ACnh" not in out and "patients" not in out
    assert not err.strip(), err


def test_a_worker_killed_mid_batch_is_resumed_by_another_without_loss_or_duplicates(
    client: TestClient, provreg: Callable[..., subprocess.Popen[str]], database: Database, tmp_path: Path
) -> None:
    facility = new_token(provreg, "--role", "facility", "--name", "HIS 27001", "--facility", "27001")
    patients = 3000
    records = [
        make_record(i, make_patient(f"BN{i}", serial=f"{i:06d}"), make_encounter(f"LK{i}"))
        for i in range(1, patients + 1)
    ]
    body = write_extract(tmp_path / "big.xml", records, "27001").read_bytes()
    posted = client.post("/ingest", content=body, headers={"Authorization": f"Bearer {facility}"})
    batch_id = posted.json()["batch_id"]

    def scalar(sql: str) -> object:
        with database.connect() as connection:
            return connection.execute(sql, {"batch": batch_id}).scalar()

    job_state = "SELECT status::text FROM procrastinate.procrastinate_jobs WHERE (args->>'batch_id')::bigint = %(batch)s"
    doomed = provreg("worker", "--heartbeat", "1")
    wait_for(lambda: scalar(job_state) == "doing", 180, "the first worker to take the job")
    time.sleep(0.5)  # into the load (which takes seconds), long before it commits
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(timeout=30)
    assert scalar("SELECT status FROM ingest_batch WHERE id = %(batch)s") == "received"
    assert scalar("SELECT count(*) FROM encounter") == 0

    provreg("worker", "--heartbeat", "1")
    wait_for(
        lambda: scalar("SELECT status FROM ingest_batch WHERE id = %(batch)s") == "loaded",
        180,
        "the resumed load",
    )
    assert scalar("SELECT records_in FROM ingest_batch WHERE id = %(batch)s") == patients
    assert scalar("SELECT count(*) FROM encounter") == patients
    assert scalar("SELECT count(*) FROM ingest_batch") == 1
    wait_for(lambda: scalar(job_state) == "succeeded", 120, "the job to be marked done")


def test_a_worker_killed_loading_a_group_of_posted_files_leaves_each_whole_or_waiting(
    client: TestClient, provreg: Callable[..., subprocess.Popen[str]], database: Database, tmp_path: Path
) -> None:
    """A job's first attempt loads the waiting files along with its own, in groups of one
    transaction (registry/ingest/queue.py): killed, it leaves every batch loaded whole or waiting,
    and the next worker loads the rest, each file once."""
    facility = new_token(provreg, "--role", "facility", "--name", "HIS 27001", "--facility", "27001")
    files = 240
    for n in range(files):
        record = make_record(1, make_patient(f"BN{n}", serial=f"{n:06d}"), make_encounter(f"LK{n}", drugs=20))
        body = write_extract(tmp_path / f"visit-{n}.xml", [record], "27001").read_bytes()
        assert client.post(
            "/ingest", content=body, headers={"Authorization": f"Bearer {facility}"}
        ).is_success

    def scalar(sql: str) -> object:
        with database.connect() as connection:
            return connection.execute(sql).scalar()

    whole_or_waiting = (
        "SELECT count(*) FROM ingest_batch b WHERE NOT ("
        " (b.status = 'loaded' AND (SELECT count(*) FROM encounter e WHERE e.first_batch_id = b.id) = 1)"
        " OR (b.status = 'received' AND NOT EXISTS (SELECT 1 FROM encounter e WHERE e.first_batch_id = b.id)))"
    )
    doomed = provreg("worker", "--heartbeat", "1")
    wait_for(
        lambda: scalar("SELECT count(*) FROM procrastinate.procrastinate_jobs WHERE status = 'doing'") == 1,
        180,
        "the first worker to take a job",
    )
    time.sleep(0.3)  # into the group's load
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(timeout=30)
    assert scalar(whole_or_waiting) == 0
    assert scalar("SELECT count(*) FROM encounter") == scalar(
        "SELECT count(*) FROM ingest_batch WHERE status = 'loaded'"
    )

    provreg("worker", "--heartbeat", "1")
    wait_for(
        lambda: (
            scalar("SELECT count(*) FROM procrastinate.procrastinate_jobs WHERE status <> 'succeeded'") == 0
        ),
        300,
        "every job done",
    )
    assert scalar(whole_or_waiting) == 0
    assert scalar("SELECT count(*) FROM ingest_batch WHERE status = 'loaded'") == files
    assert scalar("SELECT count(*) FROM encounter") == files


def _server_processes(supervisor: int) -> set[int]:
    """The processes the supervisor spawned (server processes, and any ingest worker), alive."""
    found = set()
    for child in psutil.Process(supervisor).children():
        with contextlib.suppress(psutil.NoSuchProcess):
            if "spawn_main" in " ".join(child.cmdline()) and child.status() != psutil.STATUS_ZOMBIE:
                found.add(child.pid)
    return found


def test_a_killed_server_process_is_replaced_and_the_others_serve_meanwhile(
    provreg: Callable[..., subprocess.Popen[str]],
) -> None:
    """uvicorn's supervisor replaces a server process that dies; requests are served meanwhile. (How
    a client's connections are spread over the processes is the kernel's: a deployment that needs
    them even puts a load balancer in front.)"""
    port = free_port()
    process = provreg("serve", "--port", str(port), "--workers", "0", "--processes", "2")
    base = f"http://127.0.0.1:{port}"
    wait_until_serving(process, base)
    first = _server_processes(process.pid)
    assert len(first) == 2, first

    victim = psutil.Process(next(iter(first)))
    victim.kill()
    wait_for(
        lambda: not victim.is_running() or victim.status() == psutil.STATUS_ZOMBIE, 30, "the process to die"
    )
    for _ in range(20):
        assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200

    def two_again() -> bool:
        now = _server_processes(process.pid)
        return len(now) == 2 and victim.pid not in now

    wait_for(two_again, 60, "a replacement")
    wait_until_serving(process, base)

    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0
    # The server processes write the access log, as one process does (route and status, no personal data).
    assert err.count("provreg.access INFO GET /healthz 200") >= 20


@pytest.mark.parametrize("processes", ["1", "2"])
def test_a_port_already_taken_stops_the_server_at_start(
    provreg: Callable[..., subprocess.Popen[str]], processes: str
) -> None:
    """A clear error and an exit with uvicorn's startup failure status, with one process or
    several: not processes dying and restarting."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = provreg("serve", "--port", str(port), "--workers", "1", "--processes", processes)
        _, err = process.communicate(timeout=120)
    assert process.returncode == 3
    assert "address already in use" in err.lower()


def test_a_malformed_setting_is_refused_before_anything_starts(
    provreg: Callable[..., subprocess.Popen[str]],
) -> None:
    """Settings are read once, by the command, and passed to the processes it starts: one that
    cannot be read is named, and nothing starts."""
    process = provreg("serve", "--port", str(free_port()), "--processes", "2", PROVREG_API_MAX_DEPTH="deep")
    _, err = process.communicate(timeout=120)
    assert process.returncode == 2
    assert "PROVREG_API_MAX_DEPTH must be a whole number, not 'deep'" in err
    assert "Started" not in err


class FailsToStart:
    """An application factory whose application cannot start (its lifespan fails), as one whose
    database is away would; picklable, so that uvicorn's supervisor can send it to the processes."""

    def __call__(self) -> Callable[..., object]:
        async def application(
            scope: dict[str, object], receive: Callable[..., object], send: Callable[..., object]
        ) -> None:
            if scope["type"] == "lifespan":
                await receive()  # type: ignore[misc]
                await send({"type": "lifespan.startup.failed", "message": "cannot start"})  # type: ignore[misc]

        return application


def test_server_processes_that_cannot_start_stop_the_server() -> None:
    """A process that fails before it ever served would fail the same way again: the server stops
    with uvicorn's startup failure status instead of starting processes forever."""
    serving = (
        "import sys\n"
        "from registry.api.server import serve\n"
        "from tests.api.test_served import FailsToStart\n"
        f"sys.exit(serve(FailsToStart(), '127.0.0.1', {free_port()}, 2))\n"
    )
    process = subprocess.run(
        [sys.executable, "-c", serving], capture_output=True, text=True, timeout=120, check=False
    )
    assert process.returncode == 3, process.stderr
    assert "failed to start" in process.stderr
    assert process.stderr.count("Started server process") <= 2  # none started again after them


def _answered(url: str) -> int:
    """The status of a GET, sent again once when the server closed the connection without reading
    it: an old process stopping closes the connections it accepted and had not yet read (uvicorn's
    graceful shutdown), and a client sends an idempotent request again then, as HTTP allows."""
    try:
        return httpx.get(url, timeout=10).status_code
    except httpx.RemoteProtocolError:
        return httpx.get(url, timeout=10).status_code


def test_sighup_replaces_the_server_processes_and_no_request_fails_meanwhile(
    provreg: Callable[..., subprocess.Popen[str]],
) -> None:
    """uvicorn's supervisor replaces the processes (new code), each new one taking over from an
    old one when ready; the old ones finish and stop. Every request is answered, at most once
    sent again (`_answered`)."""
    port = free_port()
    process = provreg("serve", "--port", str(port), "--workers", "0", "--processes", "2")
    base = f"http://127.0.0.1:{port}"
    wait_until_serving(process, base)
    old = _server_processes(process.pid)
    assert len(old) == 2

    process.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 90
    answered = 0
    while True:
        assert _answered(f"{base}/healthz") == 200
        answered += 1
        now = _server_processes(process.pid)
        if len(now) == 2 and not now & old:
            break
        assert time.monotonic() < deadline, f"still {now} after SIGHUP (were {old})"
        time.sleep(0.05)
    assert answered > 1  # requests were served while the processes were being replaced

    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=60)
    assert process.returncode == 0


@pytest.mark.parametrize("processes", ["1", "2"])
def test_stopping_the_server_stops_its_ingest_worker(
    provreg: Callable[..., subprocess.Popen[str]], processes: str
) -> None:
    """SIGTERM, as a service manager stops it, ends the server and every process it started, and
    the command exits 0. uvicorn ends a single server process by raising SIGTERM again after its
    graceful shutdown, so the server's own clean-up never ran, and the ingest worker went on
    alone, still taking jobs."""
    port = free_port()
    process = provreg("serve", "--port", str(port), "--workers", "1", "--processes", processes)
    wait_until_serving(process, f"http://127.0.0.1:{port}")
    started = psutil.Process(process.pid).children(recursive=True)
    # The ingest worker, and the server processes when there are several.
    assert len(_server_processes(process.pid)) == {"1": 1, "2": 3}[processes]
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0
    _, alive = psutil.wait_procs(started, timeout=30)
    assert not alive, [p.cmdline() for p in alive]


def _workers_of(server: int) -> set[int]:
    """The ingest workers of a server of one process (its spawned children)."""
    return _server_processes(server)


@pytest.mark.parametrize("processes", ["1", "2"])
def test_killing_the_server_with_sigkill_ends_every_process_it_started(
    provreg: Callable[..., subprocess.Popen[str]], processes: str
) -> None:
    """kill -9 of `provreg serve` used to leave its worker running as an orphan, taking jobs with no
    server; uvicorn's server processes, left alone, would go on serving with no supervisor."""
    port = free_port()
    process = provreg("serve", "--port", str(port), "--workers", "1", "--processes", processes)
    wait_until_serving(process, f"http://127.0.0.1:{port}")  # ready: its worker is alive
    started = psutil.Process(process.pid).children(recursive=True)
    assert _server_processes(process.pid)
    process.kill()
    process.wait(timeout=30)
    _, alive = psutil.wait_procs(started, timeout=30)
    assert not alive, [p.cmdline() for p in alive]


def _post_big_file(server: str, token: str, tmp_path: Path, patients: int) -> int:
    records = [
        make_record(i, make_patient(f"BN{i}", serial=f"{i:06d}"), make_encounter(f"LK{i}"))
        for i in range(1, patients + 1)
    ]
    body = write_extract(tmp_path / "big.xml", records, "27001").read_bytes()
    posted = httpx.post(
        f"{server}/ingest", content=body, headers={"Authorization": f"Bearer {token}"}, timeout=60
    )
    assert posted.status_code == 202, posted.text
    return int(posted.json()["batch_id"])


def _kill_the_worker_mid_load(serve: int, scalar: Callable[[str], object]) -> int:
    """Wait for a worker to take the job, kill it mid-load, and return its pid."""
    wait_for(lambda: scalar(JOB_STATE) == "doing", 180, "a worker to take the job")
    workers = _workers_of(serve)
    assert len(workers) == 1, workers
    time.sleep(0.5)  # into the load (which takes seconds), long before it commits
    victim = workers.pop()
    os.kill(victim, signal.SIGKILL)
    return victim


JOB_STATE = (
    "SELECT status::text FROM procrastinate.procrastinate_jobs WHERE (args->>'batch_id')::bigint = %(batch)s"
)
JOB_EVENTS = (
    "SELECT count(*) FROM procrastinate.procrastinate_events e JOIN procrastinate.procrastinate_jobs j"
    " ON j.id = e.job_id WHERE (j.args->>'batch_id')::bigint = %(batch)s AND e.type = %(type)s"
)


def test_a_killed_worker_is_replaced_and_its_job_finishes_exactly_once(
    provreg: Callable[..., subprocess.Popen[str]], database: Database, tmp_path: Path
) -> None:
    """A worker that died used to be neither noticed nor replaced: the job stayed `doing` forever."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    serve = provreg("serve", "--port", str(port), "--workers", "1", "--heartbeat", "1")
    wait_until_serving(serve, base)
    facility = new_token(provreg, "--role", "facility", "--name", "HIS 27001", "--facility", "27001")
    patients = 3000
    batch_id = _post_big_file(base, facility, tmp_path, patients)

    def scalar(sql: str, **values: object) -> object:
        with database.connect() as connection:
            return connection.execute(sql, {"batch": batch_id, **values}).scalar()

    victim = _kill_the_worker_mid_load(serve.pid, scalar)
    wait_for(lambda: bool(_workers_of(serve.pid) - {victim}), 60, "a new worker")
    wait_for(
        lambda: scalar("SELECT status FROM ingest_batch WHERE id = %(batch)s") == "loaded", 180, "the load"
    )
    wait_for(lambda: scalar(JOB_STATE) == "succeeded", 60, "the job to be marked done")
    assert scalar("SELECT records_in FROM ingest_batch WHERE id = %(batch)s") == patients
    assert scalar("SELECT count(*) FROM encounter") == patients
    assert scalar("SELECT count(*) FROM ingest_batch") == 1
    # Taken twice (the killed attempt, then the new worker's), finished once.
    assert (scalar(JOB_EVENTS, type="started"), scalar(JOB_EVENTS, type="succeeded")) == (2, 1)
    assert httpx.get(f"{base}/readyz").status_code == 200
    assert "provreg_ingest_workers 1.0" in httpx.get(f"{base}/metrics").text


def test_a_file_that_kills_its_worker_every_time_ends_failed_and_is_not_taken_again(
    provreg: Callable[..., subprocess.Popen[str]], database: Database, tmp_path: Path
) -> None:
    """Such a file went back in the queue after every restart, to kill the next worker."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    serve = provreg(
        "serve", "--port", str(port), "--workers", "1", "--heartbeat", "1", PROVREG_INGEST_MAX_ATTEMPTS="2"
    )
    wait_until_serving(serve, base)
    facility = new_token(provreg, "--role", "facility", "--name", "HIS 27001", "--facility", "27001")
    batch_id = _post_big_file(base, facility, tmp_path, 3000)

    def scalar(sql: str, **values: object) -> object:
        with database.connect() as connection:
            return connection.execute(sql, {"batch": batch_id, **values}).scalar()

    for _ in range(2):
        _kill_the_worker_mid_load(serve.pid, scalar)
        wait_for(lambda: scalar(JOB_STATE) != "doing", 60, "the dead worker's job to be taken back")
    wait_for(lambda: scalar(JOB_STATE) == "failed", 60, "the job to fail")
    status = httpx.get(f"{base}/ingest/batches/{batch_id}", headers={"Authorization": f"Bearer {facility}"})
    assert (status.json()["status"], status.json()["error"]) == (
        "failed",
        "loading failed 2 times (last: the worker loading it died: killed, or out of memory)",
    )
    time.sleep(5)  # longer than a heartbeat and a retry's wait: nothing takes it again
    assert scalar(JOB_STATE) == "failed"
    assert scalar(JOB_EVENTS, type="started") == 2
    assert scalar("SELECT count(*) FROM encounter") == 0
    assert httpx.get(f"{base}/readyz").status_code == 200  # a live worker, and nothing stuck
