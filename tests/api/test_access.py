"""Who may do what, the audit of every patient read, and the refusal of hostile or heavy requests."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from registry.api.config import ApiConfig
from tests.api.conftest import Graphql, MakeToken, codes, load_records
from tests.database import Database
from tests.factories import make_encounter, make_patient, make_record

PATIENT = "query($id: ID!) { patient(id: $id) { identity { fullName } } }"


@pytest.fixture
def master(database: Database, tmp_path: Path) -> str:
    records = [make_record(1, make_patient("A1"), make_encounter("A-1", admitted_at=datetime(2025, 1, 5)))]
    load_records(database, tmp_path, records, "27001")
    with database.connect() as connection:
        return str(connection.execute("SELECT id FROM master_patient").scalar_one())


def audit_rows(database: Database) -> list[tuple[object, ...]]:
    with database.connect() as connection:
        rows = connection.execute(
            "SELECT actor, role, master_patient_id, operation, purpose FROM patient_access ORDER BY id"
        )
        return [tuple(row) for row in rows]


def test_requests_without_a_live_token_are_unauthenticated(
    database: Database, graphql: Graphql, make_token: MakeToken, master: str
) -> None:
    assert graphql(None, PATIENT, {"id": master})["http_status"] == 401
    unknown = graphql("prv_not-a-token", PATIENT, {"id": master})
    assert (unknown["http_status"], codes(unknown)) == (401, ["UNAUTHENTICATED"])
    token = make_token("clinician")
    with database.begin() as connection:
        connection.execute("UPDATE api_token SET revoked_at = now()")
    assert codes(graphql(token, PATIENT, {"id": master})) == ["UNAUTHENTICATED"]
    assert audit_rows(database) == []


@pytest.mark.parametrize("role", ["facility", "admin"])
def test_roles_without_clinical_access_cannot_read_patients(
    graphql: Graphql, make_token: MakeToken, master: str, role: str
) -> None:
    token = make_token(role, facility_code="27001" if role == "facility" else None)
    answer = graphql(token, PATIENT, {"id": master})
    assert codes(answer) == ["FORBIDDEN"] and answer["data"]["patient"] is None


def test_only_admins_manage_tokens(graphql: Graphql, make_token: MakeToken) -> None:
    assert codes(graphql(make_token("steward"), "{ tokens { id } }")) == ["FORBIDDEN"]
    admin = make_token("admin", name="ops")
    made = graphql(
        admin,
        'mutation { createToken(name: "HIS of 27002", role: FACILITY, facilityCode: "27002") { secret token { id role facilityCode } } }',
    )
    issued = made["data"]["createToken"]
    assert issued["secret"].startswith("prv_") and issued["token"]["facilityCode"] == "27002"
    listed = graphql(admin, "{ tokens { id name tokenPrefix revokedAt } }")["data"]["tokens"]
    assert "secret" not in str(listed) and issued["secret"] not in str(listed)
    assert graphql(admin, f'mutation {{ revokeToken(id: "{issued["token"]["id"]}") }}')["data"]["revokeToken"]
    assert codes(graphql(issued["secret"], "{ me { role } }")) == ["UNAUTHENTICATED"]


def test_every_patient_read_is_audited_with_its_purpose(
    database: Database, graphql: Graphql, make_token: MakeToken, master: str
) -> None:
    answer = graphql(
        make_token("clinician", name="Dr Lan"), PATIENT, {"id": master}, purpose="emergency care"
    )
    assert answer["data"]["patient"]["identity"]["fullName"] == "Nguyễn Văn An"
    assert audit_rows(database) == [("Dr Lan", "clinician", int(master), "patient", "emergency care")]


def test_a_read_without_a_purpose_is_refused_and_reads_nothing(
    database: Database, graphql: Graphql, make_token: MakeToken, master: str
) -> None:
    answer = graphql(make_token("clinician"), PATIENT, {"id": master}, purpose=None)
    assert codes(answer) == ["BAD_USER_INPUT"] and answer["data"]["patient"] is None
    assert audit_rows(database) == []


def test_stewards_and_admins_read_a_patients_access_log_clinicians_do_not(
    graphql: Graphql, make_token: MakeToken, master: str
) -> None:
    graphql(make_token("clinician", name="Dr Lan"), PATIENT, {"id": master}, purpose="follow-up")
    log = (
        "query($id: ID!) { accessLog(patientId: $id) { actor role operation purpose requestId accessedAt } }"
    )
    for role in ("steward", "admin"):
        entries = graphql(make_token(role), log, {"id": master})["data"]["accessLog"]
        assert [(e["actor"], e["purpose"]) for e in entries] == [("Dr Lan", "follow-up")]
    assert codes(graphql(make_token("clinician"), log, {"id": master})) == ["FORBIDDEN"]


def test_the_audit_cannot_be_rewritten(
    database: Database, graphql: Graphql, make_token: MakeToken, master: str
) -> None:
    graphql(make_token("clinician"), PATIENT, {"id": master})
    with pytest.raises(Exception, match="append-only"), database.begin() as connection:
        connection.execute("DELETE FROM patient_access")


def test_deep_wide_and_alias_heavy_operations_are_refused(
    graphql: Graphql, make_token: MakeToken, master: str
) -> None:
    token = make_token("clinician")
    limits = ApiConfig()
    deep = (
        "{ patient(id: 1) "
        + "{ encounters { nodes " * limits.max_query_depth
        + "{ id }"
        + " } }" * limits.max_query_depth
        + " }"
    )
    assert codes(graphql(token, deep))[0] == "BAD_USER_INPUT"
    aliases = "{ " + " ".join(f"m{i}: me {{ name }}" for i in range(limits.max_query_aliases + 1)) + " }"
    assert codes(graphql(token, aliases)) == ["BAD_USER_INPUT"]
    long = "{ me { " + "name " * limits.max_query_tokens + "} }"
    assert codes(graphql(token, long)) == ["BAD_USER_INPUT"]
    big_page = graphql(
        token,
        f"{{ patient(id: {master}) {{ encounters(first: {limits.max_page_size + 1}) {{ nodes {{ id }} }} }} }}",
    )
    assert codes(big_page) == ["BAD_USER_INPUT"]


def test_an_oversized_graphql_body_is_refused_413(client: TestClient, make_token: MakeToken) -> None:
    body = {"query": "{ me { name } }", "padding": "x" * (ApiConfig().max_graphql_body_bytes + 1)}
    answer = client.post(
        "/graphql", json=body, headers={"Authorization": f"Bearer {make_token('clinician')}"}
    )
    assert (
        answer.status_code == 413 and answer.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    )


def test_unexpected_failures_say_nothing_about_the_data(
    graphql: Graphql, make_token: MakeToken, master: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from registry import reads

    def broken(*args: object) -> None:
        raise RuntimeError("Nguyễn Văn An 027085012345")

    monkeypatch.setattr(reads, "condition_summary", broken)
    answer = graphql(make_token("clinician"), f"{{ patient(id: {master}) {{ conditions {{ code }} }} }}")
    assert codes(answer) == ["INTERNAL_SERVER_ERROR"]
    assert "Nguyễn" not in str(answer) and "027085012345" not in str(answer)


@pytest.mark.parametrize("api_config", [ApiConfig(token_cache_seconds=1.0)])
def test_a_token_in_use_is_refused_once_the_principal_cache_lapses_after_revocation(
    database: Database, graphql: Graphql, make_token: MakeToken
) -> None:
    token = make_token("clinician")
    assert graphql(token, "{ me { role } }")["data"]["me"]["role"] == "clinician"
    with database.begin() as connection:
        connection.execute("UPDATE api_token SET revoked_at = now()")
    assert graphql(token, "{ me { role } }")["data"]["me"]["role"] == "clinician"  # kept for a second
    time.sleep(1.1)
    assert codes(graphql(token, "{ me { role } }")) == ["UNAUTHENTICATED"]


@pytest.mark.parametrize("api_config", [ApiConfig(token_cache_seconds=60.0)])
def test_an_expiring_token_is_kept_no_longer_than_its_life(
    database: Database, graphql: Graphql, make_token: MakeToken
) -> None:
    token = make_token("clinician")
    with database.begin() as connection:
        connection.execute("UPDATE api_token SET expires_at = now() + interval '1 second'")
    assert graphql(token, "{ me { role } }")["data"]["me"]["role"] == "clinician"
    time.sleep(1.1)
    assert codes(graphql(token, "{ me { role } }")) == ["UNAUTHENTICATED"]


def test_operations_that_cannot_run_are_the_clients_error(client: TestClient, make_token: MakeToken) -> None:
    """An unknown operation name, several operations without one, an empty document or a
    subscription (the API has none): a BAD_USER_INPUT answer, not a server error."""
    headers = {"Authorization": f"Bearer {make_token('clinician')}"}
    two = "query A { me { name } } query B { me { role } }"
    for body in (
        {"query": "query A { me { name } }", "operationName": "B"},
        {"query": two},
        {"query": ""},
        {"query": "subscription { me { name } }"},
    ):
        answer = client.post("/graphql", json=body, headers=headers)
        assert answer.status_code == 200, body
        assert codes(answer.json()) == ["BAD_USER_INPUT"], body
    named = client.post("/graphql", json={"query": two, "operationName": "B"}, headers=headers).json()
    assert named["data"]["me"].keys() == {"role"}
