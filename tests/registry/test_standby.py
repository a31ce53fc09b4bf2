"""A standby that takes over, on one machine: a province's primary and a streaming standby of it
(two PostgreSQL servers of pgserver's binaries), commits synchronous to the standby; nights load
and doctors read while it follows; the primary is lost (stopped as a crash stops it, no shutdown
checkpoint) straight after the last commit; the standby is promoted and provreg, pointed at it,
serves reads with every batch and audit row committed before the loss."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from starlette.testclient import TestClient

from registry.access.roles import Role
from registry.access.tokens import create_token
from registry.api.app import create_app
from registry.api.config import ApiConfig
from registry.db import embedded, standby
from tests.database import Database
from tests.registry.province_server import (
    Registry,
    audited_reads,
    invoke,
    load_night,
    province_primary,
    registry_state,
)

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("standby")]


@dataclass
class Failover:
    standby_url: str
    before_the_loss: Registry
    followed: Registry  # the standby's registry while it followed, before the last night
    primary_then: Registry
    lag: list[standby.Replication]
    commit_waited_for_the_standby: bool
    doctor: str  # a clinician's token, made on the primary


@pytest.fixture(scope="module")
def failover(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Failover]:
    folder = tmp_path_factory.mktemp("standby")
    replica = folder / "replica"
    with province_primary(folder) as primary:
        primary_url, nights = primary.url, primary.nights
        try:
            load_night(nights[0])
            invoke("db", "standby", "create", "--pgdata", str(replica), "--synchronous")
            said = invoke("db", "standby", "start", "--pgdata", str(replica))
            standby_url = said.split()[-1]
            standby.wait_until_streaming(primary_url)
            load_night(nights[1])
            audited_reads(primary_url, 4)
            primary_then = registry_state(primary_url)
            # Synchronous: what the primary committed is on the standby when the commit returns
            # (flushed; replayed a moment later, so read with a short wait).
            followed = _replayed(standby_url, primary_then)
            lag = standby.replication(primary_url)
            status = [json.loads(line) for line in invoke("db", "standby", "status", "--json").splitlines()]
            assert [(s["name"], s["sync_state"]) for s in status] == [(standby.NAME, "sync")]
            with Database(primary_url).begin() as connection:
                doctor = create_token(
                    connection, name="Dr Lan", role=Role.CLINICIAN, created_by="test"
                ).secret
            waited = _commit_with_the_standby_down(primary_url, replica)
            load_night(nights[2])
            audited_reads(primary_url, 6)
            before_the_loss = registry_state(primary_url)
            # The primary lost: stopped without a shutdown checkpoint, as a crash leaves it.
            assert embedded.pg_ctl(primary.home / embedded.PGDATA, "-m", "immediate", "-w", "stop")
            invoke("db", "standby", "promote", "--pgdata", str(replica))
            yield Failover(standby_url, before_the_loss, followed, primary_then, lag, waited, doctor)
        finally:
            embedded.pg_ctl(replica, "-m", "fast", "-w", "stop")


def _commit_with_the_standby_down(primary_url: str, replica: Path) -> bool:
    """Whether an audited read's commit waited while the standby was down, and returned once it was back."""
    assert embedded.pg_ctl(replica, "-m", "fast", "-w", "stop")
    committing = threading.Thread(target=audited_reads, args=(primary_url, 1))
    committing.start()
    committing.join(timeout=2)
    waited = committing.is_alive()
    standby.start(replica)
    committing.join(timeout=60)
    return waited and not committing.is_alive()


def _replayed(url: str, expected: Registry) -> Registry:
    for _ in range(100):
        found = registry_state(url)
        if found == expected:
            return found
        with psycopg.connect(url) as connection:
            connection.execute("SELECT pg_sleep(0.1)")
    return found


def test_the_standby_follows_the_primary_synchronously(failover: Failover) -> None:
    assert failover.followed == failover.primary_then
    (replica,) = failover.lag
    assert (replica.name, replica.state, replica.sync_state) == (standby.NAME, "streaming", "sync")
    assert failover.commit_waited_for_the_standby


def test_after_promotion_no_committed_batch_or_audit_row_is_lost(failover: Failover) -> None:
    promoted = registry_state(failover.standby_url)
    assert promoted == failover.before_the_loss
    with psycopg.connect(failover.standby_url) as connection:
        assert connection.execute("SELECT pg_is_in_recovery()").fetchone() == (False,)


def test_provreg_pointed_at_the_promoted_standby_serves_reads(
    failover: Failover, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", failover.standby_url)
    invoke("links", "export", "--out", str(tmp_path / "links.csv"))
    exported = (tmp_path / "links.csv").read_text().splitlines()
    assert len(exported) == 1 + len(failover.before_the_loss.links)
    with psycopg.connect(failover.standby_url) as connection:
        (master,) = connection.execute("SELECT min(master_patient_id) FROM patient_link").fetchone()
    app = create_app(failover.standby_url, tmp_path / "home", ApiConfig())
    with TestClient(app) as client:
        assert client.get("/readyz").json() == {"status": "ready"}
        answer = client.post(
            "/graphql",
            json={"query": "query($id: ID!) { patient(id: $id) { id } }", "variables": {"id": str(master)}},
            headers={"Authorization": f"Bearer {failover.doctor}", "X-Purpose": "treatment"},
        ).json()
    assert answer == {"data": {"patient": {"id": str(master)}}}
    # The read was audited on the promoted standby, after every row audited on the primary.
    audit = registry_state(failover.standby_url).audit
    assert len(audit) == len(failover.before_the_loss.audit) + 1
    assert audit[-1][3] == master
