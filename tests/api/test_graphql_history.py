"""A patient's identity and history over GraphQL, across facilities."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from tests.api.conftest import Graphql, MakeToken, codes, load_records
from tests.database import Database
from tests.factories import make_encounter, make_patient, make_record

HISTORY = """
query History($id: ID!, $first: Int!, $after: String, $filter: EncounterFilter) {
  patient(id: $id) {
    id
    identity { fullName birthDate { text } sex citizenId socialInsuranceNumber phone address { communeCode }
               provenance { field sourceRecordId } }
    sourceRecords { facilityCode localId fullName link { method decidedBy } }
    encounters(first: $first, after: $after, filter: $filter) {
      nodes { id facilityCode admittedAt visitType facility { code name }
              diagnoses { code isMain } medications { name quantity } services { code } labResults { code value }
              notes { text } referredTo { code } }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""


def two_facilities(database: Database, tmp_path: Path) -> int:
    """One person (same citizen ID) seen at two facilities, three episodes in all; returns the master id."""
    at_a = make_patient("A1", facility_code="27001", serial="000777")
    at_b = make_patient("B1", facility_code="27002", serial="000777", full_name="Nguyen Van An")
    load_records(
        database,
        tmp_path,
        [make_record(1, at_a, make_encounter("A-1", admitted_at=datetime(2025, 1, 5)))],
        "27001",
    )
    load_records(
        database,
        tmp_path,
        [
            make_record(
                1, at_b, make_encounter("B-1", admitted_at=datetime(2025, 3, 1), main_diagnosis="J18.9")
            ),
            make_record(2, at_b, make_encounter("B-2", admitted_at=datetime(2025, 6, 1))),
        ],
        "27002",
    )
    with database.connect() as connection:
        return int(connection.execute("SELECT id FROM master_patient").scalar_one())


def test_a_clinician_sees_one_history_across_facilities_newest_first(
    database: Database, tmp_path: Path, graphql: Graphql, make_token: MakeToken
) -> None:
    master = two_facilities(database, tmp_path)
    answer = graphql(make_token("clinician"), HISTORY, {"id": str(master), "first": 2})
    assert "errors" not in answer, answer
    patient = answer["data"]["patient"]
    assert {s["facilityCode"] for s in patient["sourceRecords"]} == {"27001", "27002"}
    assert patient["identity"]["fullName"] in ("Nguyễn Văn An", "Nguyen Van An")
    assert patient["identity"]["birthDate"]["text"] == "1985-03-14"
    page = patient["encounters"]
    assert [e["admittedAt"][:10] for e in page["nodes"]] == ["2025-06-01", "2025-03-01"]
    assert page["pageInfo"]["hasNextPage"]
    first = page["nodes"][1]
    assert first["diagnoses"][0] == {"code": "J18.9", "isMain": True}
    assert len(first["medications"]) == 3 and len(first["labResults"]) == 2
    rest = graphql(
        make_token("clinician"),
        HISTORY,
        {"id": str(master), "first": 2, "after": page["pageInfo"]["endCursor"]},
    )
    nodes = rest["data"]["patient"]["encounters"]["nodes"]
    assert [e["facilityCode"] for e in nodes] == ["27001"]
    assert not rest["data"]["patient"]["encounters"]["pageInfo"]["hasNextPage"]


def test_encounters_filter_by_facility_date_and_visit_type(
    database: Database, tmp_path: Path, graphql: Graphql, make_token: MakeToken
) -> None:
    master = two_facilities(database, tmp_path)
    token = make_token("clinician")

    def keys(filter: dict[str, object]) -> list[str]:
        answer = graphql(token, HISTORY, {"id": str(master), "first": 10, "filter": filter})
        assert "errors" not in answer, answer
        return [e["admittedAt"][:10] for e in answer["data"]["patient"]["encounters"]["nodes"]]

    assert keys({"facilityCodes": ["27001"]}) == ["2025-01-05"]
    assert keys({"admittedFrom": "2025-03-01", "admittedTo": "2025-05-31"}) == ["2025-03-01"]
    assert keys({"visitTypes": ["01"]}) == []


def test_patient_by_citizen_id_and_not_found(
    database: Database, tmp_path: Path, graphql: Graphql, make_token: MakeToken
) -> None:
    master = two_facilities(database, tmp_path)
    token = make_token("clinician")
    with database.connect() as connection:
        citizen = connection.execute("SELECT citizen_id FROM master_patient").scalar_one()
    found = graphql(token, "query($c: String!) { patient(citizenId: $c) { id } }", {"c": citizen})
    assert found["data"]["patient"]["id"] == str(master)
    missing = graphql(token, "{ patient(id: 999999) { id } }")
    assert codes(missing) == ["NOT_FOUND"] and missing["data"]["patient"] is None
    malformed = graphql(token, '{ patient(citizenId: "12") { id } }')
    assert codes(malformed) == ["BAD_USER_INPUT"]


def test_summaries_conditions_medications_labs_and_referrals(
    database: Database, tmp_path: Path, graphql: Graphql, make_token: MakeToken
) -> None:
    master = two_facilities(database, tmp_path)
    answer = graphql(
        make_token("clinician"),
        """query($id: ID!) { patient(id: $id) {
            conditions { code firstSeen lastSeen facilityCodes encounters everMain }
            medications { name strength orders current facilityCodes }
            labSeries(code: "GLU0") { value unit facilityCode resultAt }
            referrals { encounter { id diagnoses { code } medications { name } }
                        fromFacility { code } atFacility { code } toFacility { code name } }
        } }""",
        {"id": str(master)},
    )
    assert "errors" not in answer, answer
    patient = answer["data"]["patient"]
    by_code = {c["code"]: c for c in patient["conditions"]}
    assert by_code["I10"]["encounters"] == 3 and sorted(by_code["I10"]["facilityCodes"]) == ["27001", "27002"]
    assert by_code["J18.9"]["firstSeen"][:10] == "2025-03-01" and by_code["J18.9"]["everMain"]
    # Three drug codes, each ordered at all three episodes; the latest episode's orders are current.
    assert [(m["name"], m["orders"], m["current"]) for m in patient["medications"]] == [
        ("Metformin", 3, True)
    ] * 3
    assert [p["resultAt"][:10] for p in patient["labSeries"]] == ["2025-01-05", "2025-03-01", "2025-06-01"]
    assert len(patient["referrals"]) == 3
    assert patient["referrals"][0]["toFacility"] == {"code": "01929", "name": None}
    # Each step of the chain carries its episode's details, fetched with it.
    first = patient["referrals"][0]["encounter"]
    assert {d["code"] for d in first["diagnoses"]} >= {"I10"} and first["medications"][0][
        "name"
    ] == "Metformin"


def test_a_steward_separates_a_wrongly_linked_record_and_the_history_follows(
    database: Database, tmp_path: Path, graphql: Graphql, make_token: MakeToken
) -> None:
    master = two_facilities(database, tmp_path)
    steward = make_token("steward", name="Ms Hoa")
    with database.connect() as connection:
        at_b = connection.execute("SELECT id FROM source_patient WHERE facility_code = '27002'").scalar_one()
    relink = """mutation($s: ID!) { relinkSourceRecord(sourceRecordId: $s, reason: "different mother, same ID card") {
        previousPatient { id } patient { id encounters(first: 10) { nodes { facilityCode } } } } }"""
    done = graphql(steward, relink, {"s": str(at_b)})
    assert "errors" not in done, done
    moved = done["data"]["relinkSourceRecord"]
    assert moved["previousPatient"]["id"] == str(master)
    assert [e["facilityCode"] for e in moved["patient"]["encounters"]["nodes"]] == ["27002", "27002"]
    left = graphql(steward, HISTORY, {"id": str(master), "first": 10})["data"]["patient"]
    assert [e["facilityCode"] for e in left["encounters"]["nodes"]] == ["27001"]
    history = graphql(
        steward,
        "query($id: ID!) { patient(id: $id) { sourceRecords { linkHistory { method decidedBy supersededAt } } } }",
        {"id": moved["patient"]["id"]},
    )["data"]["patient"]["sourceRecords"][0]["linkHistory"]
    # Newest first: the steward's decision, then the automatic link it superseded.
    assert (history[0]["method"], history[0]["decidedBy"]) == ("steward", "steward:Ms Hoa")
    assert len(history) == 2 and history[1]["method"] != "steward"
    assert history[1]["supersededAt"] is not None
    assert codes(graphql(make_token("clinician"), relink, {"s": str(at_b)})) == ["FORBIDDEN"]


def test_an_emptied_identity_retires_and_its_old_id_finds_the_patient(
    database: Database, tmp_path: Path, graphql: Graphql, make_token: MakeToken
) -> None:
    """A doctor's system keeps master ids: an identity merged away still answers, as the survivor."""
    master = two_facilities(database, tmp_path)
    steward, clinician = make_token("steward", name="Ms Hoa"), make_token("clinician")
    with database.connect() as connection:
        at_a, at_b = connection.execute("SELECT id FROM source_patient ORDER BY facility_code").scalars()
    relink = """mutation($s: ID!, $p: ID) { relinkSourceRecord(sourceRecordId: $s, patientId: $p, reason: "test") {
        patient { id } } }"""
    survivor = graphql(steward, relink, {"s": str(at_b), "p": None})["data"]["relinkSourceRecord"]["patient"][
        "id"
    ]
    assert "errors" not in graphql(steward, relink, {"s": str(at_a), "p": survivor})

    def state(master_id: int | str) -> tuple[object, ...]:
        with database.connect() as connection:
            row = connection.execute(
                "SELECT retired_at IS NOT NULL, merged_into, citizen_id FROM master_patient WHERE id = %(m)s",
                {"m": int(master_id)},
            ).one()
        return tuple(row)

    assert state(master) == (True, int(survivor), None)
    assert (
        state(survivor)[0] is False and state(survivor)[2] is not None
    )  # the citizen ID moved with the records
    answer = graphql(clinician, HISTORY, {"id": str(master), "first": 10})
    assert "errors" not in answer, answer
    patient = answer["data"]["patient"]
    assert patient["id"] == survivor
    assert sorted({e["facilityCode"] for e in patient["encounters"]["nodes"]}) == ["27001", "27002"]
    with database.connect() as connection:
        audited = connection.execute(
            "SELECT master_patient_id FROM patient_access ORDER BY id DESC LIMIT 1"
        ).scalar_one()
    assert audited == int(survivor)  # the read is of the survivor, and audited so
    # A record brought back makes the identity active again.
    assert "errors" not in graphql(steward, relink, {"s": str(at_a), "p": str(master)})
    assert state(master)[:2] == (False, None)
    assert graphql(clinician, HISTORY, {"id": str(master), "first": 10})["data"]["patient"]["id"] == str(
        master
    )


def test_the_api_recovers_when_the_database_drops_its_connections(
    database: Database, tmp_path: Path, graphql: Graphql, make_token: MakeToken
) -> None:
    """As after a database restart: one request may fail (without details), the next ones are served."""
    master = two_facilities(database, tmp_path)
    token = make_token("clinician")
    variables = {"id": str(master), "first": 2}
    assert "errors" not in graphql(token, HISTORY, variables)
    with database.connect() as connection:
        connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    first = graphql(token, HISTORY, variables)
    assert "errors" not in first or codes(first) == ["INTERNAL_SERVER_ERROR"]
    for _ in range(3):
        answer = graphql(token, HISTORY, variables)
        assert "errors" not in answer, answer
        assert len(answer["data"]["patient"]["encounters"]["nodes"]) == 2
