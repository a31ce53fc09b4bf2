"""The doctor's pages over HTTP: finding a patient each way with candidates in words, the purpose
asked and audited, and the history's codes in words (the pages in Chromium: test_doctor_browser.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from matching.score import FieldScore
from registry.web.doctor import in_words, sparkline
from tests.api.conftest import MakeToken
from tests.database import Database
from tests.web.conftest import sign_in
from tests.web.doctor_history import NAME, load_history


@pytest.fixture
def history(database: Database, tmp_path: Path) -> int:
    folder = tmp_path / "extracts"
    folder.mkdir()
    return load_history(database, folder)


@pytest.fixture
def clinician(web: TestClient, make_token: MakeToken) -> TestClient:
    sign_in(web, make_token("clinician", name="BS Lê Văn Tâm"))
    return web


def _audits(database: Database) -> list[tuple[str, str, int]]:
    with database.connect() as connection:
        return [
            tuple(r)
            for r in connection.execute(
                "SELECT operation, purpose, master_patient_id FROM patient_access ORDER BY id"
            )
        ]


def test_a_clinician_signs_in_to_the_doctors_search(web: TestClient, make_token: MakeToken) -> None:
    answer = web.post("/sign-in", data={"token": make_token("clinician"), "form_guard": _guard(web)})
    assert answer.status_code == 303 and answer.headers["location"] == "/doctor"


def _guard(web: TestClient) -> str:
    from tests.web.conftest import form_guard

    return form_guard(web)


def test_a_patient_is_found_by_citizen_id_and_by_name_and_year_each_search_audited(
    clinician: TestClient, database: Database, history: int
) -> None:
    with database.connect() as connection:
        citizen_id = connection.execute("SELECT citizen_id FROM master_patient").scalar_one()
    unasked = clinician.get("/doctor", params={"citizen_id": citizen_id})
    assert "Choose why you are looking" in unasked.text and _audits(database) == []
    found = clinician.get("/doctor", params={"citizen_id": citizen_id, "purpose": "treatment"})
    assert NAME in found.text and "found by citizen ID" in found.text
    assert f"/doctor/patients/{history}?purpose=treatment" in found.text
    by_name = clinician.get(
        "/doctor", params={"name": "Tran Thi Hong Nhung", "birth_year": "1958", "purpose": "emergency"}
    )
    assert NAME in by_name.text and "match: " in by_name.text
    assert _audits(database) == [
        ("web:doctorSearch", "Khám, chữa bệnh (treating this patient)", history),
        ("web:doctorSearch", "Cấp cứu (emergency care)", history),
    ]
    nobody = clinician.get(
        "/doctor", params={"name": "Lò Văn Pá", "birth_year": "1990", "purpose": "treatment"}
    )
    assert "No patient found" in nobody.text
    wrong = clinician.get("/doctor", params={"citizen_id": "12345", "purpose": "treatment"})
    assert "12 digits" in wrong.text


def test_the_history_asks_the_purpose_audits_it_and_shows_codes_in_words(
    clinician: TestClient, database: Database, history: int
) -> None:
    asked = clinician.get(f"/doctor/patients/{history}")
    assert "Why are you opening this record?" in asked.text and _audits(database) == []
    page = clinician.get(f"/doctor/patients/{history}", params={"purpose": "referral"})
    assert page.status_code == 200
    assert _audits(database) == [("web:doctorPatient", "Chuyển tuyến (a referral sent or received)", history)]
    html = page.text
    assert "Type 2 diabetes mellitus without complications" in html  # the WHO's title of E11.9
    assert "as the facility wrote it:</small> Đái tháo đường typ 2" in html  # as sent
    assert "Chronic kidney disease, stage 3" in html
    assert "chapter IV: Endocrine, nutritional and metabolic diseases" in html
    for words in (
        "Điều trị nội trú",
        "Khám bệnh",
        "Chuyển tuyến theo chuyên môn",
        "Khoa Hồi sức cấp cứu",
        "Đỡ",
    ):
        assert words in html, words
    assert "Bệnh viện Bạch Mai" in html and "central hospital" in html
    assert '<svg class="spark"' in html and "3 results from 7.1 to 11.2" in html  # 9,4 read as 9.4
    assert "Metformin" in html
    # The timeline is newest first.
    assert html.index("19/04/2025") < html.index("12/03/2025") < html.index("10/03/2025")


def test_an_unknown_patient_and_a_steward_only_page(clinician: TestClient, history: int) -> None:
    missing = clinician.get("/doctor/patients/999999", params={"purpose": "treatment"})
    assert missing.status_code == 404
    assert clinician.get("/steward/queue").status_code == 403


def test_candidates_in_words() -> None:
    def scored(comparison: str, weight: float, level: str = "exact") -> FieldScore:
        return FieldScore(comparison, level, weight, 0.0, "", "")

    name = [scored("family_name", 2.3), scored("middle_name", 1.5), scored("given_name", 5.5)]
    assert in_words([*name, scored("birth_date", 14.4)]) == "strong match: name and birth date agree"
    assert in_words([*name, scored("birth_date", 6.1, "year_only_agrees")]) == (
        "possible match: name and birth year agree"
    )
    assert in_words([scored("given_name", 5.5), scored("birth_date", -5.6, "different")]) == (
        "weak match: given name agrees; birth date differs"
    )
    assert in_words([]) == "weak match: nothing compared agrees"


def test_a_series_of_one_point_has_no_chart_and_a_flat_one_is_drawn() -> None:
    assert sparkline([(None, 5.0)]) is None
    flat = sparkline([(None, 5.0), (None, 5.0)])
    assert flat is not None and flat.count("<circle") == 2


def test_the_root_leads_a_new_visitor_to_sign_in_and_to_what_the_server_offers(
    db_url: str, tmp_path: Path
) -> None:
    from registry.api.app import create_app
    from registry.api.config import ApiConfig

    app = create_app(db_url, tmp_path / "home", ApiConfig(console=True))
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        root = client.get("/")
        assert root.status_code == 303 and root.headers["location"] == "/sign-in"
        page = client.get("/sign-in").text
    for link in ("/doctor", "/steward/queue", "/graphql", "/healthz"):
        assert f'href="{link}"' in page, link


def test_a_merged_patients_old_id_opens_the_identity_it_went_to(
    clinician: TestClient, database: Database, history: int, tmp_path: Path
) -> None:
    from registry.identity.merges import merge_identities
    from tests.api.conftest import load_records
    from tests.factories import make_encounter, make_patient, make_record

    other = make_patient("BN-900", facility_code="27001", full_name="Trần Thị Nhung", with_citizen_id=False)
    load_records(database, tmp_path, [make_record(1, other, make_encounter("TT-900"))], "27001")
    with database.begin() as connection:
        merged = connection.execute(
            "SELECT max(master_patient_id) FROM patient_link WHERE superseded_at IS NULL"
        ).scalar_one()
        assert merged != history
        merge_identities(connection, history, merged, "steward:test", "one person, two records")
    answer = clinician.get(f"/doctor/patients/{merged}", params={"purpose": "treatment"})
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/doctor/patients/{history}?purpose=treatment"
