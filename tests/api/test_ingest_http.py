"""Nightly extracts posted over HTTP: stored, queued, loaded by the worker, reported per batch."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from loaders.csv_write import write_csv
from loaders.options import default_profile
from registry.api.app import create_app
from registry.api.config import ApiConfig
from registry.api.jobs import WorkerResources, queue_app, run_workers
from tests.api.conftest import MakeToken, write_extract
from tests.factories import make_encounter, make_patient, make_record


def extract(tmp_path: Path, facility: str = "27001", patients: int = 3) -> bytes:
    records = [
        make_record(
            i, make_patient(f"BN{i}", facility_code=facility, serial=f"{i:06d}"), make_encounter(f"LK{i}")
        )
        for i in range(1, patients + 1)
    ]
    return write_extract(tmp_path / f"night-{facility}-{patients}.xml", records, facility).read_bytes()


def drain_queue(db_url: str, engine: Engine, home: Path) -> None:
    asyncio.run(run_workers(queue_app(db_url), WorkerResources(engine, home), 1, until_empty=True))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_posted_file_is_received_then_loaded_by_the_worker(
    client: TestClient, db_url: str, engine: Engine, tmp_path: Path, make_token: MakeToken
) -> None:
    token = make_token("facility", facility_code="27001")
    posted = client.post(
        "/ingest", content=extract(tmp_path), headers={**bearer(token), "X-Filename": "night.xml"}
    )
    assert posted.status_code == 202, posted.text
    batch_id = posted.json()["batch_id"]
    assert client.get(f"/ingest/batches/{batch_id}", headers=bearer(token)).json()["status"] == "received"
    assert (tmp_path / "home" / "inbox").is_dir()

    drain_queue(db_url, engine, tmp_path / "home")

    batch = client.get(f"/ingest/batches/{batch_id}", headers=bearer(token)).json()
    assert (batch["status"], batch["filename"], batch["counts"]["records_in"], batch["counts"]["loaded"]) == (
        "loaded", "night.xml", 3, 3,
    )  # fmt: skip
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM encounter")).scalar() == 3
        assert connection.execute(text("SELECT count(*) FROM ingest_batch")).scalar() == 1


def test_the_same_file_posted_twice_is_recognised(
    client: TestClient, db_url: str, engine: Engine, tmp_path: Path, make_token: MakeToken
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
    drain_queue(db_url, engine, tmp_path / "home")
    loaded_again = client.post(
        "/ingest", files={"file": ("night.xml", body, "application/xml")}, headers=bearer(token)
    )
    assert (loaded_again.status_code, loaded_again.json()["batch_id"], loaded_again.json()["status"]) == (
        200,
        first,
        "loaded",
    )
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM ingest_batch")).scalar() == 1


def test_a_multipart_upload_is_accepted(
    client: TestClient, db_url: str, engine: Engine, tmp_path: Path, make_token: MakeToken
) -> None:
    token = make_token("facility", facility_code="27001")
    posted = client.post(
        "/ingest", files={"file": ("dem 4.xml", extract(tmp_path), "application/xml")}, headers=bearer(token)
    )
    assert posted.status_code == 202
    drain_queue(db_url, engine, tmp_path / "home")
    batch = client.get(posted.json()["status_url"], headers=bearer(token)).json()
    assert (batch["status"], batch["filename"]) == ("loaded", "dem 4.xml")


def test_a_file_of_another_facility_is_refused_whole(
    client: TestClient, engine: Engine, tmp_path: Path, make_token: MakeToken
) -> None:
    token = make_token("facility", facility_code="27001")
    refused = client.post("/ingest", content=extract(tmp_path, facility="27002"), headers=bearer(token))
    assert refused.status_code == 403 and refused.json()["code"] == "FORBIDDEN"
    assert "27002" in refused.json()["message"]
    batch = client.get(f"/ingest/batches/{refused.json()['batch_id']}", headers=bearer(token)).json()
    assert batch["status"] == "rejected"
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM encounter")).scalar() == 0


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
