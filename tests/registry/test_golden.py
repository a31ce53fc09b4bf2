"""The golden record's survivorship rule, on source patients as rows of `source_patient` carry them."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from typing import Any

from registry.identity.golden_record import golden_record


def source(id: int, updated: int, **fields: Any) -> SimpleNamespace:
    blank = dict.fromkeys(
        ("birth_year", "birth_month", "birth_day", "sex", "citizen_id", "social_insurance_number",
         "insurance_cards", "phone", "address_text", "province_code", "commune_code"),
    )  # fmt: skip
    return SimpleNamespace(
        **{**blank, "id": id, "full_name": f"Source {id}", "updated_at": datetime(2026, 1, updated), **fields}
    )


def test_one_source_gives_its_own_fields() -> None:
    only = source(7, 1, birth_year=1980, phone="0912345678", insurance_cards=None)
    golden = golden_record([only])
    assert golden.values["full_name"] == "Source 7"
    assert golden.values["birth_year"] == 1980 and golden.values["insurance_cards"] is None
    assert golden.provenance == {"full_name": 7, "birth_date": 7, "phone": 7}


def test_a_citizen_id_first_then_the_newest_then_the_most_complete_then_the_oldest() -> None:
    newest = source(1, 20, phone="0900000001")
    with_citizen_id = source(2, 5, citizen_id="001080012345")
    assert golden_record([newest, with_citizen_id]).provenance["full_name"] == 2
    older = source(3, 10, phone="0900000003", sex=1)
    assert golden_record([older, newest]).provenance["full_name"] == 1
    complete = source(4, 20, phone="0900000004", sex=2, birth_year=1990)
    assert golden_record([newest, complete]).provenance["full_name"] == 4
    twin = source(5, 20, phone="0900000005")
    assert golden_record([twin, newest]).provenance["full_name"] == 1


def test_a_field_comes_from_the_best_source_that_has_it_and_related_fields_together() -> None:
    best = source(1, 20, citizen_id="001080012345", birth_year=1980, address_text=None)
    other = source(2, 10, birth_year=1979, birth_month=5, birth_day=3, phone="0912345678",
                   address_text="Thôn 3", province_code="27", commune_code="09286")  # fmt: skip
    golden = golden_record([other, best])
    # The birth date's parts all from the best source (its year), never a month from another.
    assert (golden.values["birth_year"], golden.values["birth_month"], golden.values["birth_day"]) == (
        1980,
        None,
        None,
    )
    assert golden.values["phone"] == "0912345678" and golden.provenance["phone"] == 2
    assert (golden.values["address_text"], golden.values["commune_code"]) == ("Thôn 3", "09286")
    assert golden.provenance["address"] == 2 and golden.provenance["citizen_id"] == 1
