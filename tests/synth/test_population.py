"""The population is realistic where matching is hard."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest

from loaders.identifiers import citizen_id_conflicts, parse_insurance_card
from synth.names import FAMILY_NAMES
from synth.population import CITIZEN_ID_AGE, OLD_ID_CARD_ONLY_BEFORE, Person, Population
from synth.recording import insurance_card_on
from synth.truth import same_name_group

START = date(2025, 6, 16)
SEED = 5


@pytest.fixture(scope="module")
def people() -> list[Person]:
    return [
        person for household in Population(SEED, 20_000, START).households() for person in household.members
    ]


def test_population_has_exactly_the_size_asked_and_can_be_looked_up_again(people: list[Person]) -> None:
    population = Population(SEED, 20_000, START)
    generated = [p for household in population.households() for p in household.members]
    assert generated == people and [p.index for p in people] == list(range(20_000))
    assert all(population.person(i) == people[i] for i in (0, 1, 777, 19_999))


def test_family_names_follow_the_national_shares(people: list[Person]) -> None:
    shares = Counter(p.name.family for p in people)
    # Household members share the father's family name, so the sample is clustered: loose bounds.
    assert 0.34 < shares["Nguyễn"] / len(people) < 0.43
    assert 0.08 < shares["Trần"] / len(people) < 0.14
    assert FAMILY_NAMES.share("Nguyễn") == pytest.approx(0.38, abs=0.005)


def test_middle_names_are_gendered(people: list[Person]) -> None:
    middles = {sex: Counter(p.name.middle for p in people if p.sex == sex) for sex in (1, 2)}
    assert middles[1]["Văn"] > 10 * middles[2]["Văn"]
    assert middles[2]["Thị"] > 10 * middles[1]["Thị"]


def test_citizen_ids_agree_with_the_person(people: list[Person]) -> None:
    for person in people:
        age = person.age_on(START)
        if age < CITIZEN_ID_AGE:
            assert person.citizen_id is None and person.old_id_number is None
        elif person.citizen_id is None:
            assert person.old_id_number is not None and person.birth_date.year < OLD_ID_CARD_ONLY_BEFORE
        else:
            assert person.citizen_id[:3] == person.birth_province
            assert (
                citizen_id_conflicts(person.citizen_id, sex=person.sex, birth_year=person.birth_date.year)
                is None
            )
    ids = [p.citizen_id for p in people if p.citizen_id]
    assert len(ids) == len(set(ids))
    assert Counter(i[:3] for i in ids).most_common(2)[0][0] in ("024", "027")
    assert any(p.old_id_number for p in people)


def test_insurance_cards_change_group_between_years_but_keep_their_ten_digits(people: list[Person]) -> None:
    changed = 0
    for person in people[:3000]:
        cards = [insurance_card_on(person, date(year, 3, 1), SEED) for year in range(2021, 2026)]
        parsed = [parse_insurance_card(card) for card in cards if card]
        assert {card.social_insurance_number for card in parsed} <= {person.social_insurance_number}
        changed += len({card.beneficiary_group for card in parsed}) > 1
    assert changed > 100
    numbers = [p.social_insurance_number for p in people]
    assert len(numbers) == len(set(numbers))


def test_hard_negatives_are_present(people: list[Person]) -> None:
    by_index = {p.index: p for p in people}
    twins = [p for p in people if p.twin_of is not None]
    assert len(twins) > 50
    for twin in twins:
        other = by_index[twin.twin_of]  # type: ignore[index]
        assert other.twin_of == twin.index and other.birth_date == twin.birth_date
        assert other.household == twin.household and other.name.given != twin.name.given
    assert any({p.name.given, by_index[p.twin_of].name.given} == {"Hùng", "Hưng"} for p in twins)  # type: ignore[index]
    namesakes = [p for p in people if p.namesake_of is not None]
    assert namesakes
    for person in namesakes:
        other = by_index[person.namesake_of]  # type: ignore[index]
        assert other.name == person.name and other.household == person.household
        assert other.birth_date != person.birth_date
    groups = Counter(same_name_group(p) for p in people)
    crowded = [g for g, n in groups.items() if n >= 5]
    assert crowded, "many unrelated people share a very common name and birth year"
    assert len({p.household for p in people if same_name_group(p) == crowded[0]}) >= 5


def test_households_share_address_and_phone(people: list[Person]) -> None:
    households: dict[int, list[Person]] = {}
    for person in people:
        households.setdefault(person.household, []).append(person)
    for members in households.values():
        assert len({m.commune for m in members}) == 1 and len({m.address_line for m in members}) == 1
        assert len({m.household_phone for m in members}) == 1
        children = [m for m in members if m.age_on(START) < 18]
        assert all(not c.phones and c.phone_on(START) == c.household_phone for c in children)


def test_some_phones_change(people: list[Person]) -> None:
    changing = [p for p in people if len(p.phones) > 1]
    assert changing
    person = changing[0]
    (_, before), (since, after) = person.phones
    assert person.phone_on(since) == after != before
