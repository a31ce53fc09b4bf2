"""A newborn recorded under its mother's name, linked to the child's later record only where no twin
is in sight: at load and in a batch re-link."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

from loaders.records import Address, Patient
from matching.decide import SAFETY_RULES
from registry.identity.review_queue import TWIN_IN_SIGHT
from tests.database import Database
from tests.factories import make_patient
from tests.registry.identity_helpers import load, masters, relink_all_in, rows

# A month ago: a record under the mother's name alone is read so for a young child only, counted
# from the day the registry stored it.
_DAY = date.today() - timedelta(days=30)
BORN = (_DAY.year, _DAY.month, _DAY.day)
(UNDER_MOTHER_NAME_ALONE,) = [rule for rule in SAFETY_RULES if rule.name == "under_mother_name_alone"]
HOUSEHOLD = dict(
    phone="0912000111",
    address=Address(text="Thôn Đông, xã Tam Sơn, Bắc Ninh", province_code="24", commune_code="09241"),
)


def newborn(local_id: str = "NB1", facility: str = "27001", name: str = "Con bà Trần Thị Mai") -> Patient:
    """The maternity ward's record: the mother's name, the baby's sex and birth date, no card yet."""
    return make_patient(
        local_id, facility_code=facility, full_name=name, born=BORN, with_citizen_id=False
    ).model_copy(update={"insurance_cards": (), "social_insurance_number": None, **HOUSEHOLD})


def child(local_id: str, name: str, serial: str, facility: str = "27002") -> Patient:
    """A later record of a child of that household under its own name, with its own card."""
    patient = make_patient(local_id, facility_code=facility, full_name=name, born=BORN, with_citizen_id=False)
    return patient.model_copy(
        update={
            "insurance_cards": (f"TE124{serial:0>10}",),
            "social_insurance_number": f"{serial:0>10}",
            **HOUSEHOLD,
        }
    )


def twin_reviews(database: Database) -> int:
    ((count,),) = rows(database, "SELECT count(*) FROM match_review WHERE reason = %(r)s", r=TWIN_IN_SIGHT)
    return int(count)


def test_a_newborn_and_the_childs_later_record_link_when_no_twin_is_in_sight(
    database: Database, tmp_path: Path
) -> None:
    load(database, tmp_path, "27001", newborn())
    load(database, tmp_path, "27002", child("C1", "Nguyễn Văn An", "000501"))
    assert masters(database)["NB1"] == masters(database)["C1"]
    relink_all_in(database)
    assert masters(database)["NB1"] == masters(database)["C1"]


def test_a_twin_arriving_later_does_not_join_through_the_newborns_record(
    database: Database, tmp_path: Path
) -> None:
    load(database, tmp_path, "27001", newborn())
    load(database, tmp_path, "27002", child("C1", "Nguyễn Văn An", "000501"))
    load(database, tmp_path, "27002", child("C2", "Nguyễn Văn Bình", "000502"))
    linked = masters(database)
    assert linked["C2"] != linked["C1"] == linked["NB1"]
    assert twin_reviews(database) == 1
    # Seen whole, the newborn's record fits either twin: a re-link leaves it to a steward.
    relink_all_in(database)
    linked = masters(database)
    assert len({linked["NB1"], linked["C1"], linked["C2"]}) == 3
    assert twin_reviews(database) >= 1


def test_a_newborn_arriving_after_both_twins_joins_neither(database: Database, tmp_path: Path) -> None:
    load(database, tmp_path, "27002", child("C1", "Nguyễn Văn An", "000501"))
    load(database, tmp_path, "27002", child("C2", "Nguyễn Văn Bình", "000502"))
    load(database, tmp_path, "27001", newborn())
    linked = masters(database)
    assert len({linked["NB1"], linked["C1"], linked["C2"]}) == 3
    assert twin_reviews(database) == 2


def test_a_twin_of_the_other_sex_does_not_stand_in_the_way(database: Database, tmp_path: Path) -> None:
    sister = make_patient("C2", facility_code="27002", full_name="Nguyễn Thị Bình", born=BORN, sex=2)
    load(database, tmp_path, "27002", child("C1", "Nguyễn Văn An", "000501"))
    load(database, tmp_path, "27002", sister.model_copy(update={"citizen_id": None, **HOUSEHOLD}))
    load(database, tmp_path, "27001", newborn())
    linked = masters(database)
    assert linked["NB1"] == linked["C1"] != linked["C2"]
    relink_all_in(database)
    linked = masters(database)
    assert linked["NB1"] == linked["C1"] != linked["C2"]


def test_a_baby_under_its_mothers_name_alone_and_the_childs_record_go_to_a_steward(
    database: Database, tmp_path: Path
) -> None:
    load(database, tmp_path, "27001", newborn(name="Trần Thị Mai"))
    load(database, tmp_path, "27002", child("C1", "Nguyễn Văn An", "000501"))
    assert masters(database)["NB1"] != masters(database)["C1"]
    reasons = [
        reason for (reason,) in rows(database, "SELECT reason FROM match_review WHERE status = 'open'")
    ]
    assert reasons == [UNDER_MOTHER_NAME_ALONE.reason]
    relink_all_in(database)
    assert masters(database)["NB1"] != masters(database)["C1"]


def test_a_record_under_the_mothers_name_alone_stands_in_the_way_of_a_newborns_link(
    database: Database, tmp_path: Path
) -> None:
    """It may be the child's twin's: while it waits for a steward, the `Con bà` record's link to the
    child waits too."""
    load(database, tmp_path, "27001", newborn("NB1", name="Trần Thị Mai"))
    load(database, tmp_path, "27003", newborn("NB2", facility="27003"))
    load(database, tmp_path, "27002", child("C1", "Nguyễn Văn An", "000501"))
    linked = masters(database)
    assert len({linked["NB1"], linked["NB2"], linked["C1"]}) == 3
    relink_all_in(database)
    linked = masters(database)
    assert len({linked["NB1"], linked["NB2"], linked["C1"]}) == 3
    assert twin_reviews(database) >= 1


# The maternity ward's records: made at the birth, the hour the baby was born.
AT_BIRTH = datetime(*BORN, 3, 40)


def test_a_babys_record_at_its_birth_and_another_facilitys_under_its_mothers_name_link(
    database: Database, tmp_path: Path
) -> None:
    """The ward's record, made at the birth, and another facility's a few weeks later, both under the
    mother's name (the birth not registered yet): one baby, for the ward would show its twin."""
    load(database, tmp_path, "27001", newborn(), admitted_at=AT_BIRTH)
    load(database, tmp_path, "27003", newborn("NB2", facility="27003", name="CON CUA TRAN THI MAI"))
    assert masters(database)["NB1"] == masters(database)["NB2"]
    relink_all_in(database)
    assert masters(database)["NB1"] == masters(database)["NB2"]


def test_without_the_birth_in_sight_two_records_under_one_mothers_name_go_to_a_steward(
    database: Database, tmp_path: Path
) -> None:
    """Twins seen one at each of two facilities would look exactly like this."""
    load(database, tmp_path, "27001", newborn())
    load(database, tmp_path, "27003", newborn("NB2", facility="27003", name="CON CUA TRAN THI MAI"))
    assert masters(database)["NB1"] != masters(database)["NB2"]
    assert rows(database, "SELECT count(*) FROM match_review WHERE status = 'open'") == [(1,)]
    relink_all_in(database)
    assert masters(database)["NB1"] != masters(database)["NB2"]


def test_twins_born_at_one_ward_keep_another_facilitys_record_under_their_mothers_name_apart(
    database: Database, tmp_path: Path
) -> None:
    """A maternity ward registers each baby of a birth: two patients under one mother's name there
    are twins (or one baby registered twice), and another facility's record fits either."""
    load(database, tmp_path, "27001", newborn("NB1"), newborn("NB2"), admitted_at=AT_BIRTH)
    load(database, tmp_path, "27003", newborn("NB3", facility="27003", name="CON CUA TRAN THI MAI"))
    linked = masters(database)
    assert len({linked["NB1"], linked["NB2"], linked["NB3"]}) == 3
    assert twin_reviews(database) >= 1
    relink_all_in(database)
    linked = masters(database)
    assert len({linked["NB1"], linked["NB2"], linked["NB3"]}) == 3
