"""Finding a patient without a citizen ID: by name with or without diacritics, birth year, phone, insurance."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from matching import default_parameters
from registry.identity.model_store import save_parameters
from tests.api.conftest import Graphql, MakeToken, codes, load_records
from tests.database import Database
from tests.factories import make_encounter, make_patient, make_record

SEARCH = """
query($search: PatientSearch!) { patients(search: $search) {
  patient { id identity { fullName } } weight probability comparisons { comparison level weight }
} }
"""


def people(database: Database, tmp_path: Path) -> None:
    an = make_patient("X1", full_name="Nguyễn Văn An", with_citizen_id=False)
    lan = make_patient("X2", full_name="Trần Thị Lan", born=(1990, 7, 2), sex=2, with_citizen_id=False)
    lan = lan.model_copy(
        update={
            "phone": "0987654321",
            "social_insurance_number": "7999999999",
            "insurance_cards": ("HC4247999999999",),
        }
    )
    other_an = make_patient("X3", full_name="Nguyễn Văn Ân", born=(1960, 1, 1), with_citizen_id=False)
    other_an = other_an.model_copy(
        update={"phone": None, "social_insurance_number": None, "insurance_cards": ()}
    )
    records = [
        make_record(i + 1, patient, make_encounter(f"S-{i}", admitted_at=datetime(2025, 1, 5)))
        for i, patient in enumerate((an, lan, other_an))
    ]
    load_records(database, tmp_path, records, "27001")


def names(answer: dict[str, object]) -> list[str]:
    assert "errors" not in answer, answer
    return [c["patient"]["identity"]["fullName"] for c in answer["data"]["patients"]]  # type: ignore[index]


def test_a_name_typed_without_diacritics_and_a_birth_year_find_the_patient(
    database: Database, tmp_path: Path, graphql: Graphql, make_token: MakeToken
) -> None:
    people(database, tmp_path)
    token = make_token("clinician")
    assert names(graphql(token, SEARCH, {"search": {"name": "nguyen van an", "birthYear": 1985}})) == [
        "Nguyễn Văn An"
    ]
    both = graphql(token, SEARCH, {"search": {"name": "NGUYEN VAN AN"}})
    assert names(both)[0] == "Nguyễn Văn An" and len(names(both)) == 2
    explained = both["data"]["patients"][0]["comparisons"]
    assert {c["comparison"] for c in explained} >= {"given_name", "birth_date", "phone"}


def test_phone_and_insurance_number_find_the_patient_and_each_candidate_is_audited(
    database: Database, tmp_path: Path, graphql: Graphql, make_token: MakeToken
) -> None:
    people(database, tmp_path)
    token = make_token("clinician")
    assert names(graphql(token, SEARCH, {"search": {"phone": "+84 987 654 321"}})) == ["Trần Thị Lan"]
    assert names(graphql(token, SEARCH, {"search": {"insuranceNumber": "HC4247999999999"}})) == [
        "Trần Thị Lan"
    ]
    with database.connect() as connection:
        operations = connection.execute("SELECT operation, count(*) FROM patient_access GROUP BY 1").all()
    assert [tuple(row) for row in operations] == [("patients", 2)]


def test_a_search_needs_a_name_phone_or_insurance_number(graphql: Graphql, make_token: MakeToken) -> None:
    assert codes(graphql(make_token("clinician"), SEARCH, {"search": {"birthYear": 1985}})) == [
        "BAD_USER_INPUT"
    ]
    assert codes(
        graphql(make_token("facility", facility_code="27001"), SEARCH, {"search": {"name": "An"}})
    ) == ["FORBIDDEN"]


def test_candidates_are_ranked_with_the_stored_model_linking_uses(
    database: Database, tmp_path: Path, graphql: Graphql, make_token: MakeToken
) -> None:
    people(database, tmp_path)
    token = make_token("clinician")
    search = {"search": {"phone": "0987654321"}}
    (default,) = graphql(token, SEARCH, search)["data"]["patients"]
    untrained = default_parameters()
    # A stored model believing matches a thousand times likelier: every weight ten bits higher.
    trained = untrained.model_copy(update={"model_version": "trained-test", "prior_match_probability": 2e-3})
    raw = database.plain()
    try:
        with raw.transaction():
            save_parameters(raw, trained, created_by="test")
    finally:
        raw.close()
    (ranked,) = graphql(token, SEARCH, search)["data"]["patients"]
    assert ranked["patient"] == default["patient"]
    shift = trained.prior_weight - untrained.prior_weight
    assert abs(ranked["weight"] - default["weight"] - shift) < 0.002
