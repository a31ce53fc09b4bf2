"""Nightly extracts posted over HTTP: stored, queued, loaded by the worker, reported per batch."""

from __future__ import annotations

import asyncio
import io
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from loaders.csv_write import write_csv
from loaders.options import LoaderOptions, default_profile
from registry.api.app import create_app
from registry.api.config import ApiConfig
from registry.config import IngestConfig
from registry.ingest.inbox import ORPHAN_GRACE_SECONDS, sweep
from registry.ingest.load import Submission, load_file
from registry.ingest.queue import WorkerResources, queue_app, recover_stalled_jobs, run_workers
from tests.api.conftest import MakeToken, write_extract
from tests.database import Database
from tests.factories import make_encounter, make_patient, make_record


def extract(tmp_path: Path, facility: str = "27001", patients: int = 3) -> bytes:
    records = [
        make_record(
            i, make_patient(f"BN{i}", facility_code=facility, serial=f"{i:06d}"), make_encounter(f"LK{i}")
        )
        for i in range(1, patients + 1)
    ]
    return write_extract(tmp_path / f"night-{facility}-{patients}.xml", records, facility).read_bytes()


def drain_queue(db_url: str, database: Database, home: Path) -> None:
    asyncio.run(run_workers(queue_app(db_url), WorkerResources(database.url, home), 1, until_empty=True))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_posted_file_is_received_then_loaded_by_the_worker(
    client: TestClient, db_url: str, database: Database, tmp_path: Path, make_token: MakeToken
) -> None:
    token = make_token("facility", facility_code="27001")
    posted = client.post(
        "/ingest", content=extract(tmp_path), headers={**bearer(token), "X-Filename": "night.xml"}
    )
    assert posted.status_code == 202, posted.text
    batch_id = posted.json()["batch_id"]
    assert client.get(f"/ingest/batches/{batch_id}", headers=bearer(token)).json()["status"] == "received"
    assert (tmp_path / "home" / "inbox").is_dir()

    drain_queue(db_url, database, tmp_path / "home")

    batch = client.get(f"/ingest/batches/{batch_id}", headers=bearer(token)).json()
    assert (batch["status"], batch["filename"], batch["counts"]["records_in"], batch["counts"]["loaded"]) == (
        "loaded", "night.xml", 3, 3,
    )  # fmt: skip
    with database.connect() as connection:
        assert connection.execute("SELECT count(*) FROM encounter").scalar() == 3
        assert connection.execute("SELECT count(*) FROM ingest_batch").scalar() == 1


def test_the_same_file_posted_twice_is_recognised(
    client: TestClient, db_url: str, database: Database, tmp_path: Path, make_token: MakeToken
) -> None:
    token = make_token("facility", facility_code="27001")
    body = extract(tmp_path)
    first = client.post("/ingest", content=body, headers=bearer(token)).json()["batch_id"]
    queued_again = client.post("/ingest", content=body, headers=bearer(token))
    assert (queued_again.status_code, queued_again.json()["batch_id"], queued_again.json()["duplicate"]) == (
        202,
        first,
        True,
    )
    drain_queue(db_url, database, tmp_path / "home")
    loaded_again = client.post(
        "/ingest", files={"file": ("night.xml", body, "application/xml")}, headers=bearer(token)
    )
    assert (loaded_again.status_code, loaded_again.json()["batch_id"], loaded_again.json()["status"]) == (
        200,
        first,
        "loaded",
    )
    with database.connect() as connection:
        assert connection.execute("SELECT count(*) FROM ingest_batch").scalar() == 1


def test_a_multipart_upload_is_accepted(
    client: TestClient, db_url: str, database: Database, tmp_path: Path, make_token: MakeToken
) -> None:
    token = make_token("facility", facility_code="27001")
    posted = client.post(
        "/ingest", files={"file": ("dem 4.xml", extract(tmp_path), "application/xml")}, headers=bearer(token)
    )
    assert posted.status_code == 202
    drain_queue(db_url, database, tmp_path / "home")
    batch = client.get(posted.json()["status_url"], headers=bearer(token)).json()
    assert (batch["status"], batch["filename"]) == ("loaded", "dem 4.xml")


def test_a_file_of_another_facility_is_refused_whole(
    client: TestClient, database: Database, tmp_path: Path, make_token: MakeToken
) -> None:
    token = make_token("facility", facility_code="27001")
    refused = client.post("/ingest", content=extract(tmp_path, facility="27002"), headers=bearer(token))
    assert refused.status_code == 403 and refused.json()["code"] == "FORBIDDEN"
    assert "27002" in refused.json()["message"]
    batch = client.get(f"/ingest/batches/{refused.json()['batch_id']}", headers=bearer(token)).json()
    assert batch["status"] == "rejected"
    with database.connect() as connection:
        assert connection.execute("SELECT count(*) FROM encounter").scalar() == 0


def test_only_facility_tokens_post_and_each_reads_only_its_own_batches(
    client: TestClient, tmp_path: Path, make_token: MakeToken
) -> None:
    assert client.post("/ingest", content=b"<x/>", headers=bearer(make_token("clinician"))).status_code == 403
    assert client.post("/ingest", content=b"<x/>").status_code == 401
    posted = client.post(
        "/ingest", content=extract(tmp_path), headers=bearer(make_token("facility", facility_code="27001"))
    )
    other = make_token("facility", name="other", facility_code="27002")
    assert client.get(posted.json()["status_url"], headers=bearer(other)).status_code == 403
    admin_view = client.get(posted.json()["status_url"], headers=bearer(make_token("admin"))).json()
    assert admin_view["status"] == "received" and "rejects" not in admin_view
    assert client.get("/ingest/batches/99999", headers=bearer(other)).status_code == 404


@pytest.fixture
def small_client(db_url: str, tmp_path: Path) -> TestClient:
    with TestClient(
        create_app(db_url, tmp_path / "home", ApiConfig(max_ingest_body_bytes=1000))
    ) as test_client:
        yield test_client


def test_an_oversized_body_is_refused_413(
    small_client: TestClient, tmp_path: Path, make_token: MakeToken
) -> None:
    token = make_token("facility", facility_code="27001")
    assert small_client.post("/ingest", content=b"x" * 1001, headers=bearer(token)).status_code == 413

    def streamed() -> object:
        yield b"x" * 600
        yield b"x" * 600

    assert small_client.post("/ingest", content=streamed(), headers=bearer(token)).status_code == 413
    assert not [p for p in (tmp_path / "home" / "inbox").iterdir() if not p.name.startswith(".")]


def inbox_files(home: Path) -> list[str]:
    return sorted(path.name for path in (home / "inbox").iterdir())


def csv_extract() -> bytes:
    """A clinic CSV, which names no facility in a header: any facility may send the same bytes."""
    out = io.BytesIO()
    write_csv([make_record(1, make_patient("BN1"), make_encounter("LK1"))], out, default_profile())
    return out.getvalue()


def test_the_same_bytes_from_two_facilities_are_two_batches(
    client: TestClient, make_token: MakeToken
) -> None:
    """The second facility used to get the first one's batch id, then 403 reading it."""
    first, second = (make_token("facility", name=code, facility_code=code) for code in ("27001", "27002"))
    body = csv_extract()
    posted = [client.post("/ingest", content=body, headers=bearer(token)) for token in (first, second)]
    assert [p.status_code for p in posted] == [202, 202]
    assert [p.json().get("duplicate") for p in posted] == [None, None]
    ids = [p.json()["batch_id"] for p in posted]
    assert ids[0] != ids[1]
    for token, batch_id, code in zip((first, second), ids, ("27001", "27002"), strict=True):
        status = client.get(f"/ingest/batches/{batch_id}", headers=bearer(token))
        assert status.status_code == 200 and status.json()["facility_code"] == code
    assert client.get(f"/ingest/batches/{ids[0]}", headers=bearer(second)).status_code == 403
    again = client.post("/ingest", content=body, headers=bearer(second)).json()
    assert (again["batch_id"], again["duplicate"]) == (ids[1], True)  # still recognised per facility


def queue_sql(database: Database, sql: str, **values: object) -> Any:
    """A statement on the queue's tables, whose triggers expect its schema on the search path."""
    with database.begin() as connection:
        connection.execute("SET LOCAL search_path TO procrastinate, public")
        return connection.execute(sql, values)


def _failing_load(calls: list[int]) -> Callable[..., object]:
    def load(*args: object, **kwargs: object) -> object:
        calls.append(1)
        raise RecursionError("maximum recursion depth exceeded")

    return load


def _job(database: Database, batch_id: int) -> Any:
    with database.connect() as connection:
        return connection.execute(
            "SELECT id, status::text AS status, attempts FROM procrastinate.procrastinate_jobs"
            " WHERE (args->>'batch_id')::bigint = %(batch)s",
            {"batch": batch_id},
        ).one()


def _batch(database: Database, batch_id: int) -> Any:
    with database.connect() as connection:
        return connection.execute(
            "SELECT status, error FROM ingest_batch WHERE id = %(batch)s", {"batch": batch_id}
        ).one()


@pytest.mark.parametrize("attempts", [3, 1])
def test_a_load_that_fails_every_time_ends_failed_after_the_last_attempt(
    client: TestClient,
    db_url: str,
    database: Database,
    tmp_path: Path,
    make_token: MakeToken,
    monkeypatch: pytest.MonkeyPatch,
    attempts: int,
) -> None:
    """A RecursionError used to be retried five times, and a sixth attempt scheduled."""
    calls: list[int] = []
    monkeypatch.setattr("registry.ingest.queue.load_files", _failing_load(calls))
    token = make_token("facility", facility_code="27001")
    batch_id = client.post("/ingest", content=extract(tmp_path), headers=bearer(token)).json()["batch_id"]
    home = tmp_path / "home"
    for _ in range(6):
        asyncio.run(
            run_workers(queue_app(db_url, attempts), WorkerResources(database.url, home), 1, until_empty=True)
        )
        queue_sql(
            database, "UPDATE procrastinate_jobs SET scheduled_at = now()"
        )  # no waiting for the backoff
    assert len(calls) == attempts
    assert (_job(database, batch_id).status, _job(database, batch_id).attempts) == ("failed", attempts)
    batch = client.get(f"/ingest/batches/{batch_id}", headers=bearer(token)).json()
    assert (batch["status"], batch["error"]) == (
        "failed",
        f"loading failed {attempts} times (last: RecursionError)",
    )
    assert inbox_files(home) == []  # final: its file is gone


def _die_holding(database: Database, job_id: int) -> None:
    """As a worker killed mid-load leaves its job: 'doing', held by a worker whose heartbeat stopped."""
    dead = queue_sql(
        database,
        "INSERT INTO procrastinate_workers (last_heartbeat) VALUES (now() - interval '1 hour') RETURNING id",
    ).scalar_one()
    queue_sql(
        database,
        "UPDATE procrastinate_jobs SET status = 'doing', worker_id = %(w)s WHERE id = %(j)s",
        w=dead,
        j=job_id,
    )


def test_a_worker_dying_holding_a_job_counts_as_an_attempt(
    client: TestClient, db_url: str, database: Database, tmp_path: Path, make_token: MakeToken
) -> None:
    """A file that killed its worker (out of memory) went back in the queue after every restart,
    to kill the next worker: after the last attempt it is failed, and nothing takes it again."""
    token = make_token("facility", facility_code="27001")
    batch_id = client.post("/ingest", content=extract(tmp_path), headers=bearer(token)).json()["batch_id"]
    home = tmp_path / "home"
    app, resources = queue_app(db_url), WorkerResources(database.url, home)
    job_id = _job(database, batch_id).id

    async def recover() -> None:
        async with app.open_async():
            await recover_stalled_jobs(app, resources)

    for attempt in (1, 2):
        _die_holding(database, job_id)
        asyncio.run(recover())
        assert (_job(database, batch_id).status, _job(database, batch_id).attempts) == ("todo", attempt)
        assert _batch(database, batch_id).status == "received"
    _die_holding(database, job_id)
    asyncio.run(recover())
    assert (_job(database, batch_id).status, _job(database, batch_id).attempts) == ("failed", 3)
    assert tuple(_batch(database, batch_id)) == (
        "failed",
        "loading failed 3 times (last: the worker loading it died: killed, or out of memory)",
    )
    assert inbox_files(home) == []
    drain_queue(db_url, database, home)  # nothing takes it again
    assert _job(database, batch_id).status == "failed"


def test_inbox_files_go_when_their_batch_is_final_and_the_inbox_is_measured(
    client: TestClient, db_url: str, database: Database, tmp_path: Path, make_token: MakeToken
) -> None:
    """Refused and poison files used to stay in the inbox forever."""
    home = tmp_path / "home"
    token = make_token("facility", facility_code="27001")
    body = extract(tmp_path)
    batch_id = client.post("/ingest", content=body, headers=bearer(token)).json()["batch_id"]
    client.post("/ingest", content=body, headers=bearer(token))  # the same again: no second file
    refused = client.post("/ingest", content=extract(tmp_path, facility="27002"), headers=bearer(token))
    assert refused.status_code == 403
    assert inbox_files(home) == [str(batch_id)]
    metrics = client.get("/metrics").text
    assert "provreg_inbox_files 1.0" in metrics
    assert f"provreg_inbox_bytes {float(len(body))}" in metrics

    drain_queue(db_url, database, home)
    assert client.get(f"/ingest/batches/{batch_id}", headers=bearer(token)).json()["status"] == "loaded"
    assert inbox_files(home) == []
    assert "provreg_inbox_files 0.0" in client.get("/metrics").text


def test_inbox_files_are_kept_for_the_configured_time(
    db_url: str, database: Database, tmp_path: Path, make_token: MakeToken
) -> None:
    home = tmp_path / "home"
    keep = IngestConfig(inbox_keep_seconds=3600)
    token = make_token("facility", facility_code="27001")
    with TestClient(create_app(db_url, home, ApiConfig(ingest=keep))) as client:
        batch_id = client.post("/ingest", content=extract(tmp_path), headers=bearer(token)).json()["batch_id"]
        refused = client.post("/ingest", content=extract(tmp_path, facility="27002"), headers=bearer(token))
    refused_id = refused.json()["batch_id"]
    asyncio.run(
        run_workers(queue_app(db_url), WorkerResources(database.url, home, keep), 1, until_empty=True)
    )
    assert inbox_files(home) == sorted([str(batch_id), str(refused_id)])  # kept, for audit
    orphan = home / "inbox" / ".partial-0123"  # an upload that never finished, long ago
    orphan.write_bytes(b"<x")
    os.utime(orphan, (time.time() - 2 * ORPHAN_GRACE_SECONDS,) * 2)

    assert sweep(database.url, home, keep.inbox_keep_seconds) == 1
    assert inbox_files(home) == sorted([str(batch_id), str(refused_id)])
    assert sweep(database.url, home, 0) == 2  # kept long enough
    assert inbox_files(home) == []


def test_readiness_needs_a_live_worker_and_no_load_past_its_time_limit(
    db_url: str, database: Database, tmp_path: Path, make_token: MakeToken
) -> None:
    """/readyz answered `ready` with the worker dead and its job `doing` forever."""
    config = ApiConfig(require_worker=True, ingest=IngestConfig(job_time_limit_seconds=600))
    with TestClient(create_app(db_url, tmp_path / "home", config)) as client:
        token = make_token("facility", facility_code="27001")
        batch_id = client.post("/ingest", content=extract(tmp_path), headers=bearer(token)).json()["batch_id"]
        answer = client.get("/readyz")
        assert (answer.status_code, answer.json()["problems"]) == (503, ["no live ingest worker"])
        assert "provreg_ingest_workers 0.0" in client.get("/metrics").text

        worker = queue_sql(
            database, "INSERT INTO procrastinate_workers DEFAULT VALUES RETURNING id"
        ).scalar_one()
        assert client.get("/readyz").status_code == 200

        # The worker takes the job, and the load runs on and on.
        queue_sql(database, "UPDATE procrastinate_jobs SET status = 'doing', worker_id = %(w)s", w=worker)
        queue_sql(
            database, "UPDATE procrastinate_events SET at = now() - interval '2 hours' WHERE type = 'started'"
        )
        answer = client.get("/readyz")
        assert (answer.status_code, answer.json()["problems"]) == (
            503,
            ["1 load(s) running past the time limit"],
        )
        metrics = client.get("/metrics").text
        assert "provreg_ingest_workers 1.0" in metrics and "provreg_ingest_jobs_overdue 1.0" in metrics
        assert _batch(database, batch_id).status == "received"


def one_visit(tmp_path: Path, n: int) -> bytes:
    """A file of one visit, of patient n."""
    record = make_record(1, make_patient(f"BN{n}", serial=f"{n:06d}"), make_encounter(f"LK{n}"))
    return write_extract(tmp_path / f"visit-{n}.xml", [record], "27001").read_bytes()


def _transactions(database: Database, batch_ids: list[int]) -> list[str]:
    """The transaction that last wrote each batch (its loading, or its refusal)."""
    with database.connect() as connection:
        found = dict(
            connection.execute(
                "SELECT id, xmin::text FROM ingest_batch WHERE id = ANY(%(ids)s)", {"ids": batch_ids}
            ).all()
        )
    return [found[batch_id] for batch_id in batch_ids]


def test_a_worker_loads_the_waiting_files_together_each_with_its_own_receipt(
    client: TestClient, db_url: str, database: Database, tmp_path: Path, make_token: MakeToken
) -> None:
    token = make_token("facility", facility_code="27001")
    bodies = [one_visit(tmp_path, n) for n in range(5)]
    truncated = bodies[2][: len(bodies[2]) // 2]
    posted = [client.post("/ingest", content=body, headers=bearer(token)) for body in [*bodies, truncated]]
    batch_ids = [answer.json()["batch_id"] for answer in posted]
    drain_queue(db_url, database, tmp_path / "home")

    batches = [client.get(f"/ingest/batches/{b}", headers=bearer(token)).json() for b in batch_ids]
    assert [(b["status"], b["counts"]["loaded"]) for b in batches] == [("loaded", 1)] * 5 + [("rejected", 0)]
    (tmp_path / "truncated.xml").write_bytes(truncated)
    alone = load_file(database.url, tmp_path / "truncated.xml", LoaderOptions(facility_code="27001"),
                      Submission(submitted_by="test"))  # fmt: skip
    assert batches[-1]["error"] == alone.error and "truncated" in (alone.error or "")
    assert len(set(_transactions(database, batch_ids))) == 1  # loaded together, by the first job
    with database.connect() as connection:
        jobs = connection.execute(
            "SELECT status::text, count(*) FROM procrastinate.procrastinate_jobs GROUP BY 1"
        ).all()
    assert [tuple(job) for job in jobs] == [("succeeded", 6)]
    assert inbox_files(tmp_path / "home") == []


def test_a_retried_jobs_file_is_loaded_alone(
    client: TestClient, db_url: str, database: Database, tmp_path: Path, make_token: MakeToken
) -> None:
    """A file whose load failed (or killed its worker) may fail again: it takes no other file with it."""
    token = make_token("facility", facility_code="27001")
    bodies = [one_visit(tmp_path, n) for n in range(3)]
    batch_ids = [
        client.post("/ingest", content=body, headers=bearer(token)).json()["batch_id"] for body in bodies
    ]
    queue_sql(
        database,
        "UPDATE procrastinate_jobs SET attempts = 1 WHERE id = %(j)s",
        j=_job(database, batch_ids[2]).id,
    )
    drain_queue(db_url, database, tmp_path / "home")
    first, second, retried = _transactions(database, batch_ids)
    assert first == second != retried
    assert all(_batch(database, batch_id).status == "loaded" for batch_id in batch_ids)
