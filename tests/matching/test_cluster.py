from __future__ import annotations

import random

from matching.cluster import Constraints, Link, Refusal, cluster

NO_IDS: dict[int, str | None] = dict.fromkeys(range(1, 7))


def test_links_join_transitively() -> None:
    result = cluster(NO_IDS, [Link(1, 2, 9.0), Link(2, 3, 8.0), Link(5, 6, 7.0)])
    assert result.identities == ((1, 2, 3), (4,), (5, 6))
    assert result.identity_of()[3] == 0


def test_records_with_different_citizen_ids_are_never_joined_even_through_a_third() -> None:
    citizen_ids = {1: "027080001234", 2: None, 3: "027080009999"}
    result = cluster(citizen_ids, [Link(1, 2, 12.0), Link(2, 3, 10.0)])
    assert result.identities == ((1, 2), (3,))
    assert [(r.left, r.right, r.reason) for r in result.refused] == [(2, 3, Refusal.CITIZEN_IDS_DIFFER)]


def test_the_stronger_link_wins_the_contested_record() -> None:
    citizen_ids = {1: "027080001234", 2: None, 3: "027080009999"}
    result = cluster(citizen_ids, [Link(1, 2, 7.0), Link(2, 3, 15.0)])
    assert result.identities == ((1,), (2, 3))


def test_a_stewards_cannot_link_outranks_the_model() -> None:
    result = cluster(
        NO_IDS, [Link(1, 2, 20.0), Link(2, 3, 20.0)], Constraints(cannot_link=frozenset({(1, 3)}))
    )
    assert result.identities == ((1, 2), (3,), (4,), (5,), (6,))
    assert result.refused[0].reason is Refusal.CANNOT_LINK


def test_a_stewards_must_link_joins_even_different_citizen_ids() -> None:
    citizen_ids = {1: "027080001234", 2: "027080001243"}  # a typo the steward confirmed
    result = cluster(citizen_ids, [], Constraints(must_link=frozenset({(1, 2)})))
    assert result.identities == ((1, 2),)


def test_cannot_link_beats_must_link_and_the_contradiction_is_reported() -> None:
    constraints = Constraints(must_link=frozenset({(1, 2), (2, 3)}), cannot_link=frozenset({(1, 3)}))
    result = cluster(NO_IDS, [], constraints)
    assert result.identities == ((1, 2), (3,), (4,), (5,), (6,))
    assert [(r.left, r.right, r.weight) for r in result.refused] == [(2, 3, None)]


def test_settled_identities_are_extended_not_rebuilt() -> None:
    result = cluster(NO_IDS, [Link(4, 3, 9.0)], existing=[[1, 2, 3]])
    assert result.identities == ((1, 2, 3, 4), (5,), (6,))


def test_the_result_does_not_depend_on_the_order_links_arrive_in() -> None:
    citizen_ids = {i: (f"0270800012{i % 3}" if i % 2 else None) for i in range(1, 41)}
    rng = random.Random(3)
    links = [Link(rng.randint(1, 40), rng.randint(1, 40), float(rng.randint(1, 5))) for _ in range(80)]
    first = cluster(citizen_ids, links)
    rng.shuffle(links)
    assert cluster(citizen_ids, links) == first
