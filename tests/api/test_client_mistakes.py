"""A client's mistake is answered BAD_USER_INPUT with a clear message, and logged below ERROR; a
mutation's committed effect is never reported as an error (issue 14, items 4 and 5)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import psycopg
import pytest

from registry.api.errors import Code, client_error
from tests.api.conftest import Graphql, MakeToken, codes
from tests.api.test_graphql_history import two_facilities
from tests.api.test_review_queue import borderline_pair, masters, only_review
from tests.database import Database

PATIENT = "query($id: ID!) { patient(id: $id) { id } }"
SEARCH = "query($s: PatientSearch!) { patients(search: $s) { patient { id } } }"
BY_CITIZEN_ID = "query($c: String!) { patient(citizenId: $c) { id } }"
FULL_WIDTH = {ord(d): 0xFF10 + int(d) for d in "0123456789"}
ARABIC_INDIC = {ord(d): 0x0660 + int(d) for d in "0123456789"}

# (operation, variables, what the message says)
MISTAKES: list[tuple[str, dict[str, Any], str]] = [
    (PATIENT, {"id": ["1"]}, "Variable '$id'"),  # a variable of the wrong type
    (PATIENT, {"id": True}, "Variable '$id'"),
    (PATIENT, {}, "Variable '$id'"),  # a required variable missing
    (PATIENT, {"id": 1.5}, "Variable '$id'"),  # an ID of 1.5
    (PATIENT, {"id": "1.5"}, "a patient id is a number"),
    (PATIENT, {"id": "1_000"}, "a patient id is a number"),
    (PATIENT, {"id": "99999999999999999999"}, "out of range"),
    ("{ patient(id: 1.5) { id } }", {}, "ID cannot represent"),
    (
        'query($d: Date) { patients(search: {name: "An", birthDate: $d}) { weight } }',
        {"d": "2024-13-45"},
        "not a date: month must be in 1..12",
    ),
    ('{ patients(search: {name: "An", birthDate: "2024-13-45"}) { weight } }', {}, "not a date"),
    ('{ patients(search: {name: "An", birthDate: "20240101"}) { weight } }', {}, "yyyy-mm-dd"),
    ('{ patients(search: {name: "An", birthDate: "0001-01-01"}) { weight } }', {}, "from 1800-01-01"),
    (SEARCH, {"s": {"name": "Nguy\x00n"}}, "NUL"),  # a NUL inside a search name
    ('{ patients(search: {name: "Nguy\\u0000n"}) { weight } }', {}, "NUL"),
    (SEARCH, {"s": {"name": "An", "birthYear": 2147483647}}, "birthYear"),
    (SEARCH, {"s": {"name": "An", "sex": 7}}, "sex"),
    ('{ patient(id: 1) { labSeries(code: "A\\u0000") { value } } }', {}, "NUL"),
    (BY_CITIZEN_ID, {"c": "027085000777".translate(ARABIC_INDIC)}, "12 digits 0-9"),
    (SEARCH, {"s": {"phone": "0912345678".translate(ARABIC_INDIC)}}, "digits 0-9"),
    (SEARCH, {"s": {"insuranceNumber": "DN4270000000777".translate(ARABIC_INDIC)}}, "digits 0-9"),
    (
        "query($f: EncounterFilter) { patient(id: 1) { encounters(filter: $f) { pageInfo { hasNextPage } } } }",
        {"f": {"admittedFrom": "2024-02-30"}},
        "not a date",
    ),
]


@pytest.mark.parametrize(("operation", "variables", "said"), MISTAKES)
def test_each_client_mistake_is_bad_user_input_and_not_logged_as_an_error(
    database: Database,
    tmp_path: Path,
    graphql: Graphql,
    make_token: MakeToken,
    caplog: pytest.LogCaptureFixture,
    operation: str,
    variables: dict[str, Any],
    said: str,
) -> None:
    two_facilities(database, tmp_path)
    caplog.set_level(logging.INFO)
    answer = graphql(make_token("clinician"), operation, variables)
    assert answer["http_status"] == 200
    assert codes(answer) == ["BAD_USER_INPUT"], answer
    assert said in answer["errors"][0]["message"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_value_the_database_refuses_is_the_clients_mistake_and_its_own_failures_are_not() -> None:
    """What a check missed and the database refused is still the client's; a failure of the database
    itself is the server's."""
    out_of_range = psycopg.errors.NumericValueOutOfRange("smallint out of range")
    assert client_error(out_of_range) is not None
    assert client_error(out_of_range).code == Code.BAD_USER_INPUT  # type: ignore[union-attr]
    assert client_error(psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes"))
    assert client_error(psycopg.errors.DivisionByZero("division by zero")) is None
    assert client_error(psycopg.DataError("date too large (after year 10K): '10000-01-01'")) is None
    assert client_error(psycopg.OperationalError("server closed the connection")) is None
    assert client_error(RuntimeError("Nguyễn Văn An")) is None


def test_an_identifier_in_full_width_digits_is_read_as_the_same_number(
    database: Database, tmp_path: Path, graphql: Graphql, make_token: MakeToken
) -> None:
    master = two_facilities(database, tmp_path)
    clinician = make_token("clinician")
    with database.connect() as connection:
        citizen_id = connection.execute("SELECT citizen_id FROM master_patient").scalar_one()
    full_width = citizen_id.translate(FULL_WIDTH)
    answer = graphql(clinician, BY_CITIZEN_ID, {"c": full_width})
    assert "errors" not in answer, answer
    assert answer["data"]["patient"]["id"] == str(master)
    by_id = graphql(clinician, PATIENT, {"id": str(master).translate(FULL_WIDTH)})
    assert by_id["data"]["patient"]["id"] == str(master)
    # A phone or insurance number in full-width digits finds the patient as its ASCII digits do.
    for field, value in (("phone", "0900000777"), ("insuranceNumber", "DN4270000000777")):
        ascii_digits = graphql(clinician, SEARCH, {"s": {field: value}})
        wide = graphql(clinician, SEARCH, {"s": {field: value.translate(FULL_WIDTH)}})
        assert "errors" not in ascii_digits and ascii_digits["data"]["patients"], ascii_digits
        assert wide["data"] == ascii_digits["data"], wide


RELINK = """mutation($s: ID!, $p: ID) { relinkSourceRecord(sourceRecordId: $s, patientId: $p, reason: "test") {
    linkId previousPatientId previousPatient { id identity { fullName } } patient { id identity { fullName } } } }"""


def _current_link(database: Database, source_record: int) -> tuple[int, int]:
    with database.connect() as connection:
        row = connection.execute(
            "SELECT id, master_patient_id FROM patient_link WHERE source_patient_id = %(s)s AND superseded_at IS NULL",
            {"s": source_record},
        ).one()
    return row.id, row.master_patient_id


def test_a_relink_that_empties_the_identity_it_leaves_answers_from_the_state_it_made(
    database: Database,
    tmp_path: Path,
    graphql: Graphql,
    make_token: MakeToken,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The identity left without records is retired: it answers as the one its records went to,
    never as an error about a change that was made (a client retrying on it would act twice)."""
    master = two_facilities(database, tmp_path)
    steward = make_token("steward")
    with database.connect() as connection:
        at_a, at_b = connection.execute("SELECT id FROM source_patient ORDER BY facility_code").scalars()
    apart = graphql(steward, RELINK, {"s": str(at_b), "p": None})
    assert "errors" not in apart, apart
    moved = apart["data"]["relinkSourceRecord"]
    assert moved["previousPatient"]["id"] == moved["previousPatientId"] == str(master)  # still active
    survivor = moved["patient"]["id"]

    caplog.set_level(logging.INFO)
    emptying = graphql(steward, RELINK, {"s": str(at_a), "p": survivor})
    assert "errors" not in emptying, emptying
    done = emptying["data"]["relinkSourceRecord"]
    assert done["linkId"] == str(_current_link(database, at_a)[0])  # committed, and so reported
    assert done["previousPatientId"] == str(master)
    assert done["previousPatient"]["id"] == survivor == done["patient"]["id"]
    assert done["previousPatient"]["identity"]["fullName"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_review_decision_that_empties_an_identity_answers_from_the_state_it_made(
    database: Database, tmp_path: Path, graphql: Graphql, make_token: MakeToken
) -> None:
    borderline_pair(database, tmp_path, "Nguyễn Văn An", (1985, 3, 14), "000301")
    before = masters(database)
    decide = """mutation($id: ID!) { decideReview(id: $id, samePerson: true) {
        review { status } linkId movedFromId movedFrom { id identity { fullName } }
        patients { id identity { fullName } sourceRecords { localId } } } }"""
    answer = graphql(make_token("steward"), decide, {"id": only_review(database)})
    assert "errors" not in answer, answer
    decided = answer["data"]["decideReview"]
    kept = str(before["A-000301"])
    assert decided["review"]["status"] == "same" and decided["linkId"]
    assert decided["movedFromId"] == str(before["B-000301"])
    assert decided["movedFrom"] == {"id": kept, "identity": {"fullName": "Nguyễn Văn An"}}
    (patient,) = decided["patients"]  # the retired identity is not shown as an empty one
    assert patient["id"] == kept and patient["identity"]["fullName"] == "Nguyễn Văn An"
    assert sorted(r["localId"] for r in patient["sourceRecords"]) == ["A-000301", "B-000301"]


def test_a_mutation_answered_with_an_error_has_changed_nothing(
    database: Database, tmp_path: Path, graphql: Graphql, make_token: MakeToken
) -> None:
    """An error anywhere in a mutation's answer: the change is rolled back and no data is given, so
    a client may send it again."""
    two_facilities(database, tmp_path)
    with database.connect() as connection:
        at_b = connection.execute("SELECT id FROM source_patient WHERE facility_code = '27002'").scalar_one()
    link = _current_link(database, at_b)
    relink = """mutation($s: ID!) { relinkSourceRecord(sourceRecordId: $s, reason: "test") {
        linkId patient { encounters(first: 0) { pageInfo { hasNextPage } } } } }"""
    answer = graphql(make_token("steward"), relink, {"s": str(at_b)})
    assert codes(answer) == ["BAD_USER_INPUT"] and answer["data"] is None
    assert _current_link(database, at_b) == link
    with database.connect() as connection:
        assert connection.execute("SELECT count(*) FROM master_patient").scalar_one() == 1
        assert (
            connection.execute(
                "SELECT count(*) FROM patient_access WHERE operation = 'relinkSourceRecord'"
            ).scalar_one()
            == 0
        )
