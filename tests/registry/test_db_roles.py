"""Least privilege on a PostgreSQL the registry did not start (a second pgserver instance, set up as
a DBA would): the schema's owner upgrades it; the application, connected as a login role of
provreg_app, loads, links, serves and audits reads, queues posted files, and does a steward's
relink, but cannot alter the schema nor rewrite history; the history's triggers hold for the owner."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import errors
from starlette.testclient import TestClient

from registry.access.roles import Role
from registry.access.tokens import create_token
from registry.api.app import create_app
from registry.api.config import ApiConfig
from registry.db import embedded, roles
from tests.api.test_ingest_http import bearer, drain_queue, extract
from tests.database import Database
from tests.registry.province_server import audited_reads, invoke, load_night, registry_state, write_province

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("db-roles")]

RELINK = """mutation($s: ID!) { relinkSourceRecord(sourceRecordId: $s, patientId: null, reason: "not the same person") {
    linkId previousPatientId } }"""


@dataclass
class Province:
    owner_url: str
    app_url: str
    home: Path


def _as(url: str, user: str, database: str) -> str:
    host = psycopg.conninfo.conninfo_to_dict(url)["host"]
    return f"postgresql://{user}@/{database}?host={host}"


@pytest.fixture(scope="module")
def province(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Province]:
    folder = tmp_path_factory.mktemp("roles")
    server = folder / "server"
    superuser = embedded.start(server)
    try:
        with psycopg.connect(superuser, autocommit=True) as dba:
            dba.execute("CREATE ROLE provreg_owner LOGIN CREATEROLE REPLICATION")
            dba.execute("CREATE DATABASE provreg OWNER provreg_owner")
            dba.execute("CREATE ROLE provreg_api LOGIN")
        owner_url, app_url = (
            _as(superuser, "provreg_owner", "provreg"),
            _as(superuser, "provreg_api", "provreg"),
        )
        with pytest.MonkeyPatch.context() as env:
            env.setenv("DATABASE_URL", app_url)
            env.setenv("PROVREG_OWNER_DATABASE_URL", owner_url)
            env.setenv("PROVREG_HOME", str(folder / "home"))
            invoke("db", "upgrade")
            with psycopg.connect(owner_url, autocommit=True) as owner:
                owner.execute(f"GRANT {roles.APP_ROLE} TO provreg_api")
            nights = write_province(folder / "province")
            load_night(nights[0])  # as the application
            yield Province(owner_url, app_url, folder / "home")
    finally:
        embedded.stop(server)


def test_the_application_role_does_the_registrys_work(
    province: Province, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", province.app_url)
    monkeypatch.setenv("PROVREG_OWNER_DATABASE_URL", province.owner_url)
    assert "pending: -" in invoke("db", "status")
    invoke("match", "run")
    audited_reads(province.app_url, 3)
    database = Database(province.app_url)
    with database.begin() as connection:
        steward = create_token(connection, name="steward", role=Role.STEWARD, created_by="test").secret
        facility = create_token(
            connection, name="HIS 27001", role=Role.FACILITY, created_by="test", facility_code="27001"
        ).secret
    with psycopg.connect(province.app_url) as connection:
        (record,) = connection.execute(
            "SELECT source_patient_id FROM patient_link WHERE superseded_at IS NULL ORDER BY 1 LIMIT 1"
        ).fetchone()
        events = connection.execute("SELECT count(*) FROM identity_event").fetchone()
    with TestClient(create_app(province.app_url, province.home, ApiConfig())) as client:
        relinked = client.post(
            "/graphql",
            json={"query": RELINK, "variables": {"s": str(record)}},
            headers={**bearer(steward), "X-Purpose": "identity work"},
        ).json()
        assert "errors" not in relinked, relinked
        posted = client.post("/ingest", content=extract(tmp_path), headers=bearer(facility))
        assert posted.status_code == 202, posted.text
    drain_queue(province.app_url, database, province.home)
    with psycopg.connect(province.app_url) as connection:
        assert connection.execute("SELECT count(*) FROM identity_event").fetchone() == (events[0] + 1,)
        assert connection.execute(
            "SELECT status FROM ingest_batch WHERE id = %s", (posted.json()["batch_id"],)
        ).fetchone() == ("loaded",)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE patient_access SET purpose = 'nothing to see'",
        "DELETE FROM patient_access",
        "TRUNCATE patient_access",
        "UPDATE identity_event SET reason = 'another reason'",
        "DELETE FROM identity_event",
        "UPDATE patient_link SET decided_by = 'someone else'",
        "DELETE FROM patient_link",
        "UPDATE source_patient_version SET demographics = '{}'",
        "DELETE FROM encounter_version",
        "ALTER TABLE patient_access DISABLE TRIGGER patient_access_append_only",
        "ALTER TABLE master_patient ADD COLUMN note text",
        "DROP TABLE match_review",
        "CREATE TABLE public.scratch (id int)",
        "INSERT INTO _yoyo_migration (migration_hash, migration_id) VALUES ('x', 'x')",
    ],
)
def test_the_application_role_cannot_alter_the_schema_nor_rewrite_history(
    province: Province, statement: str
) -> None:
    audited_reads(province.app_url, 1)
    with psycopg.connect(province.app_url) as connection, pytest.raises(errors.InsufficientPrivilege):
        connection.execute(statement)


def test_the_owner_cannot_rewrite_history_either(province: Province) -> None:
    """Grants do not bind the owner; the triggers do (disabling one is a deliberate, logged act)."""
    audited_reads(province.owner_url, 1)
    for statement, refusal in [
        ("UPDATE patient_access SET purpose = 'nothing to see'", "append-only"),
        ("TRUNCATE patient_access", "never truncated"),
        ("UPDATE patient_link SET decided_by = 'someone else'", "never rewritten"),
        ("DELETE FROM patient_link", "never rewritten"),
        ("TRUNCATE identity_event CASCADE", "never truncated"),
    ]:
        with (
            psycopg.connect(province.owner_url) as connection,
            pytest.raises(errors.RaiseException, match=refusal),
        ):
            connection.execute(statement)
    # A link is superseded once: its time is not written again.
    with psycopg.connect(province.owner_url) as connection:
        connection.execute(
            "UPDATE patient_link SET superseded_at = now()"
            " WHERE id = (SELECT min(id) FROM patient_link WHERE superseded_at IS NULL)"
        )
        with pytest.raises(errors.RaiseException, match="never rewritten"):
            connection.execute(
                "UPDATE patient_link SET superseded_at = now() - interval '1 day' WHERE superseded_at IS NOT NULL"
            )
        connection.rollback()


def test_an_upgrade_again_keeps_the_application_working(
    province: Province, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", province.app_url)
    monkeypatch.setenv("PROVREG_OWNER_DATABASE_URL", province.owner_url)
    assert "schema is current" in invoke("db", "upgrade")
    before = len(registry_state(province.app_url).audit)
    audited_reads(province.app_url, 2)
    assert len(registry_state(province.app_url).audit) == before + 2
