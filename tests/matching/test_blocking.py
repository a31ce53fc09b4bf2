from __future__ import annotations

from dataclasses import replace

import pytest

from matching.blocking import STANDARD_BLOCKING, BlockingRule, blocking_keys, candidate_pairs, pairs_in_blocks
from matching.person import prepare
from tests.matching import population
from tests.matching.records import HUNG, person, without_ids


def test_keys_are_kind_and_folded_value() -> None:
    keys = dict(blocking_keys(person(HUNG)))
    assert keys["citizen_id"] == "027080001234"
    assert keys["social_insurance"] == "2712345678"
    assert keys["name_birth_year"] == "nguyen|hung|1980"
    assert keys["given_birth_date"] == "hung|19800512"
    assert keys["syllables_birth_year"] == "hung nguyen van|1980"


def test_a_record_without_identifiers_or_birth_date_gets_only_what_it_has() -> None:
    bare = person(without_ids(), birth_year=None, birth_month=None, birth_day=None, phone=None)
    assert blocking_keys(bare) == []


@pytest.mark.parametrize(
    "changes",
    [
        {"full_name": "NGUYEN VAN HUNG"},
        {"full_name": "Hùng Nguyễn Văn"},
        {"full_name": "Nguyễn Hùng"},
        {"full_name": "Ngyễn Văn Hùng"},
        {"full_name": "Nguyễn Văn Hùnh"},
        {"full_name": "Huỳnh Văn Hùng", "commune_code": None, "address_text": None},
        {"birth_month": 12, "birth_day": 5},
        {"birth_month": None, "birth_day": None},
    ],
)
def test_noisy_copies_without_identifiers_or_phone_still_share_a_key(changes: dict[str, object]) -> None:
    base = replace(
        without_ids(), phone=None, full_name="Hoàng Văn Hùng" if "Huỳnh" in str(changes) else HUNG.full_name
    )
    people = [prepare(base), prepare(replace(base, record_id=2, **changes))]
    assert candidate_pairs(people) == [(1, 2)]


def test_blocks_larger_than_the_rule_allows_are_skipped() -> None:
    clinic_phone = [
        prepare(replace(without_ids(), record_id=i, full_name=f"Người {i}", birth_year=None))
        for i in range(1, 5)
    ]
    small = (
        BlockingRule("phone", "", lambda p: [p.phone] if p.phone else [], 3, frozenset(), sufficient=True),
    )
    assert candidate_pairs(clinic_phone, small) == []
    assert len(candidate_pairs(clinic_phone, (replace(small[0], max_block_size=4),))) == 6


def test_namesakes_born_the_same_year_are_not_candidates_on_that_alone() -> None:
    """Same family and given name and birth year, nothing else in common: two keys, not scored;
    the same phone, or a full birth date in common too, makes them worth scoring."""
    base = replace(without_ids(), phone=None, commune_code=None, address_text=None)
    namesake = replace(base, record_id=2, full_name="Nguyễn Thị Hùng", birth_month=1, birth_day=2)
    assert candidate_pairs([prepare(base), prepare(namesake)]) == []
    assert candidate_pairs([prepare(base), prepare(namesake)], min_shared_keys=2) == [(1, 2)]
    same_phone = [prepare(replace(base, phone="0912345678")), prepare(replace(namesake, phone="0912345678"))]
    assert candidate_pairs(same_phone) == [(1, 2)]
    same_day = replace(namesake, birth_month=base.birth_month, birth_day=base.birth_day)
    assert candidate_pairs([prepare(base), prepare(same_day)]) == [(1, 2)]


def test_rule_kinds_are_unique() -> None:
    kinds = [rule.kind for rule in STANDARD_BLOCKING]
    assert len(kinds) == len(set(kinds))


def test_pairs_in_the_blocks_of_new_records_are_the_pairs_blocking_finds_for_them() -> None:
    """A load's blocks (its records, and the others holding the key) give the load's records the
    candidates that blocking all records at once gives them, each pair in both directions."""
    records, _ = population.records(population.people(60))
    people = [prepare(record) for record in records]
    new = {prepared.record_id for prepared in people[len(people) // 2 :]}
    limits = {rule.kind: rule.max_block_size for rule in STANDARD_BLOCKING}
    members: dict[tuple[str, str], list[int]] = {}
    for prepared in people:
        for key in blocking_keys(prepared):
            members.setdefault(key, []).append(prepared.record_id)
    blocks = [
        (kind, [r for r in ids if r in new], [r for r in ids if r not in new])
        for (kind, _), ids in members.items()
        if any(r in new for r in ids) and 2 <= len(ids) <= limits[kind]
    ]
    expected = sorted(pair for a, b in candidate_pairs(people) for pair in ((a, b), (b, a)) if pair[0] in new)
    assert len(expected) > 50
    assert pairs_in_blocks(blocks) == expected
