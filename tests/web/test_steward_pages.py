"""The stewards' pages over HTTP (in-process): what each shows, what each change does to the
database, the refusals in the identity layer's words, and the audit of every patient shown."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.api.conftest import MakeToken
from tests.database import Database
from tests.factories import citizen_id, make_patient
from tests.registry.identity_helpers import bare, borderline_pair, load, masters, rows, source_id
from tests.web.conftest import post, sign_in


@pytest.fixture
def pair(database: Database, tmp_path: Path) -> dict[str, int]:
    """Two identities that may be one person, one review item between them: local id -> master id."""
    borderline_pair(database, tmp_path, "Nguyễn Văn An", (1985, 3, 14), "000301")
    return masters(database)


def _item(database: Database) -> int:
    ((item,),) = rows(database, "SELECT id FROM match_review")
    return int(item)


def _audits(database: Database, operation: str) -> list[tuple[str, int]]:
    return rows(
        database,
        "SELECT purpose, master_patient_id FROM patient_access WHERE operation = %(o)s ORDER BY master_patient_id",
        o=operation,
    )


def test_the_comparison_colours_each_field_by_the_weight_it_added_and_is_audited(
    steward: TestClient, pair: dict[str, int], database: Database
) -> None:
    item = _item(database)
    page = steward.get(f"/steward/reviews/{item}")
    assert page.status_code == 200
    name_row = re.search(r'<tr class="(\w+)" data-agreement="\w+">\s*<th scope="row">Name</th>', page.text)
    assert name_row and name_row.group(1) == "agree"
    assert re.search(r'<th scope="row">Birth date</th>.*?<span class="weight">\+\d', page.text, re.S)
    assert re.search(r"family name: exact [+]\d+[.]\d, middle name: same [+]\d", page.text)
    assert 'data-shortcut="s"' in page.text and 'data-shortcut="d"' in page.text
    assert '<p class="in-words">same name, birth date' in page.text  # the evidence in one line of words
    assert _audits(database, "web:reviewItem") == [
        (f"identity work: review item {item}", pair["A-000301"]),
        (f"identity work: review item {item}", pair["B-000301"]),
    ]


def test_same_person_moves_the_record_then_undo_puts_it_back(
    steward: TestClient, pair: dict[str, int], database: Database
) -> None:
    item = _item(database)
    decided = post(steward, f"/steward/reviews/{item}/decide?order=oldest", answer="same")
    assert (
        decided.status_code == 303
        and decided.headers["location"] == f"/steward/queue?order=oldest&done={item}"
    )
    assert masters(database) == {"A-000301": pair["A-000301"], "B-000301": pair["A-000301"]}
    assert rows(database, "SELECT status, decided_by FROM match_review") == [("same", "steward:Ms Hoa")]
    again = post(steward, f"/steward/reviews/{item}/decide", answer="different")
    assert again.status_code == 409 and "already decided by steward:Ms Hoa at" in again.text
    assert rows(database, "SELECT status FROM match_review") == [("same",)]
    undone = post(steward, f"/steward/reviews/{item}/undo")
    assert undone.status_code == 303
    assert masters(database) == pair and rows(database, "SELECT status FROM match_review") == [("open",)]
    assert {
        operation for (operation,) in rows(database, "SELECT DISTINCT operation FROM patient_access")
    } >= {
        "web:decideReview",
        "web:undoReviewDecision",
    }


def test_a_second_steward_deciding_a_decided_item_is_told_who_decided_it_and_when(
    steward: TestClient, pair: dict[str, int], database: Database, make_token: MakeToken
) -> None:
    item = _item(database)
    assert post(steward, f"/steward/reviews/{item}/decide", answer="different").status_code == 303
    post(steward, "/sign-out")
    sign_in(steward, make_token("steward", name="Mr Tuấn"))
    late = post(steward, f"/steward/reviews/{item}/decide", answer="same")
    ((decided_at,),) = rows(database, "SELECT decided_at FROM match_review")
    when = decided_at.isoformat(timespec="seconds")
    assert late.status_code == 409
    assert f"already decided by steward:Ms Hoa at {when} (different people)" in late.text
    assert rows(database, "SELECT status, decided_by FROM match_review") == [("different", "steward:Ms Hoa")]
    assert masters(database) == pair


def test_a_forged_post_changes_nothing(steward: TestClient, pair: dict[str, int], database: Database) -> None:
    item = _item(database)
    answer = steward.post(f"/steward/reviews/{item}/decide", data={"answer": "same", "form_guard": "forged"})
    assert answer.status_code == 403
    assert rows(database, "SELECT status FROM match_review") == [("open",)] and masters(database) == pair


def test_the_identity_page_merge_and_its_undo(
    steward: TestClient, pair: dict[str, int], database: Database
) -> None:
    a, b = pair["A-000301"], pair["B-000301"]
    page = steward.get(f"/steward/patients/{a}")
    assert page.status_code == 200 and "Golden record" in page.text and "Nguyễn Văn An" in page.text
    assert _audits(database, "web:patient") == [("identity work: identity page", a)]
    refused = post(steward, f"/steward/patients/{a}/merge", merged_id=str(b), reason=" ")
    assert refused.status_code == 409 and "reason of 1 to 500 characters" in refused.text
    merged = post(steward, f"/steward/patients/{a}/merge", merged_id=str(b), reason="same birth certificate")
    assert merged.status_code == 303 and merged.headers["location"].startswith(
        f"/steward/patients/{a}?message="
    )
    assert masters(database) == {"A-000301": a, "B-000301": a}
    page = steward.get(f"/steward/patients/{a}")
    ((merge_id,),) = rows(database, "SELECT id FROM identity_event WHERE kind = 'merge'")
    assert f'action="/steward/merges/{merge_id}/undo"' in page.text and "same birth certificate" in page.text
    retired = steward.get(f"/steward/patients/{b}")
    assert "is no longer in use" in retired.text and f"/steward/patients/{a}" in retired.text
    undone = post(
        steward, f"/steward/merges/{merge_id}/undo", reason="different mothers", back=f"/steward/patients/{a}"
    )
    assert undone.status_code == 303 and masters(database) == pair
    again = post(steward, f"/steward/merges/{merge_id}/undo", reason="again")
    assert again.status_code == 409 and "already undone by steward:Ms Hoa at" in again.text


def test_a_record_split_out_returns_to_its_own_id(
    steward: TestClient, pair: dict[str, int], database: Database
) -> None:
    a, b = pair["A-000301"], pair["B-000301"]
    record = source_id(database, "B-000301")
    moved = post(
        steward,
        f"/steward/records/{record}/relink",
        patient_id=str(a),
        reason="same",
        back=f"/steward/patients/{b}",
    )
    assert moved.status_code == 303 and masters(database)["B-000301"] == a
    split = post(
        steward,
        f"/steward/records/{record}/relink",
        patient_id="",
        reason="not the same",
        back=f"/steward/patients/{a}",
    )
    assert split.status_code == 303 and masters(database) == pair  # back to the id it came from
    kinds = [k for (k,) in rows(database, "SELECT kind FROM identity_event ORDER BY id")]
    assert kinds == ["relink", "split"]


def test_search_by_citizen_id_or_name_and_birth_date_audits_what_it_shows(
    steward: TestClient, database: Database, tmp_path: Path
) -> None:
    load(
        database,
        tmp_path,
        "27001",
        bare(make_patient("C1", full_name="Phạm Thị Hạnh", born=(1970, 5, 6), sex=2, serial="000777")),
    )
    master = masters(database)["C1"]
    by_id = steward.get(
        "/steward/search", params={"citizen_id": citizen_id(sex=2, year=1970, serial="000777")}
    )
    assert f'href="/steward/patients/{master}"' in by_id.text and "Phạm Thị Hạnh" in by_id.text
    by_name = steward.get("/steward/search", params={"name": "Pham Thi Hanh", "birth_date": "1970-05-06"})
    assert f'href="/steward/patients/{master}"' in by_name.text
    nobody = steward.get("/steward/search", params={"name": "Không Ai", "birth_date": "1970-05-06"})
    assert "No identity found" in nobody.text
    assert _audits(database, "web:search") == [("identity work: finding an identity", master)] * 2
    assert "12 digits" in steward.get("/steward/search", params={"citizen_id": "123"}).text


def test_the_comparison_shows_the_household_a_child_on_a_parent_card(
    steward: TestClient, database: Database, tmp_path: Path
) -> None:
    borderline_pair(database, tmp_path, "Nguyễn Văn An", (1985, 3, 14), "000301")
    # A child carrying the insurance number of the pair's first record (its parent's card).
    child = make_patient(
        "K1", full_name="Nguyễn Văn Bình", born=(2015, 6, 1), with_citizen_id=False, serial="000301"
    )
    load(database, tmp_path, "27001", bare(child))
    page = steward.get(f"/steward/reviews/{_item(database)}")
    household = page.text[page.text.index("Household") :]
    assert "Nguyễn Văn Bình" in household and "insurance number" in household


def test_the_queue_lists_likely_pairs_with_recent_visits_first_with_their_evidence_in_words(
    steward: TestClient, pair: dict[str, int], database: Database
) -> None:
    page = steward.get("/steward/queue")
    assert '<option value="priority" selected>' in page.text  # the default order
    assert re.search(r"<td>same name, birth date[^<]*<br><small>held back: ", page.text)
    assert steward.get("/steward/queue?order=nonsense").text.count('<option value="priority" selected>') == 1
