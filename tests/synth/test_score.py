"""The scorer, on hand-made truths small enough to count by hand, and against brute force."""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Iterable
from itertools import combinations
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synth.score import CLEAN, HARD_NEGATIVES, UNRELATED, LinkageScore, print_score, score_links

# P1 and P2 are twins (household H1); P3 and P4 are unrelated namesakes born the same year.
PERSONS = [
    {"person_id": "P1", "household_id": "H1", "twin_of": "P2", "namesake_of": "", "same_name_group": "nguyen van hung|1990"},
    {"person_id": "P2", "household_id": "H1", "twin_of": "P1", "namesake_of": "", "same_name_group": "nguyen van hung|1990"},
    {"person_id": "P3", "household_id": "H2", "twin_of": "", "namesake_of": "", "same_name_group": "tran thi lan|1980"},
    {"person_id": "P4", "household_id": "H3", "twin_of": "", "namesake_of": "", "same_name_group": "tran thi lan|1980"},
]  # fmt: skip
# (facility, local id, person, noise, expected reject)
RECORDS = [
    ("27001", "A1", "P1", "", "0"),
    ("24001", "B1", "P1", "name_typo", "0"),
    ("27001", "A2", "P2", "", "0"),
    ("27001", "A3", "P3", "", "0"),
    ("24001", "B3", "P3", "citizen_id_missing", "0"),
    ("27001", "A4", "P4", "", "0"),
    ("24002", "C4", "P4", "child_under_parent_id", "1"),  # rejected by the loaders: never linked
]
PERFECT = {(f, local): person for f, local, person, _, rejected in RECORDS if rejected == "0"}


def _write(path: Path, header: Iterable[str], rows: Iterable[Iterable[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(rows)


def _score(
    folder: Path, links: dict[tuple[str, str], str], records: list[tuple[str, ...]] = RECORDS
) -> LinkageScore:
    _write(folder / "truth_persons.csv", PERSONS[0], ([p[k] for k in PERSONS[0]] for p in PERSONS))
    _write(
        folder / "truth_records.csv",
        ("facility_code", "local_patient_id", "encounter_id", "person_id", "night", "file", "noise", "expected_reject"),
        ((f, local, f"E{i}", person, "2025-06-16", "x", noise, rejected)
         for i, (f, local, person, noise, rejected) in enumerate(records)),
    )  # fmt: skip
    _write(
        folder / "links.csv",
        ("facility_code", "local_patient_id", "master_patient_id"),
        ((f, local, master) for (f, local), master in links.items()),
    )
    return score_links(folder / "links.csv", folder)


def test_perfect_linkage(tmp_path: Path) -> None:
    score = _score(tmp_path, PERFECT)
    assert (score.precision, score.recall, score.f1) == (1.0, 1.0, 1.0)
    assert (score.bcubed_precision, score.bcubed_recall) == (1.0, 1.0)
    assert (score.scored, score.persons, score.true_pairs, score.correct_pairs) == (6, 4, 2, 2)
    assert set(score.false_merges.values()) == {0} and score.missed_links == {CLEAN: 0}
    assert (score.missing_from_links, score.unknown_in_links) == (0, 0)


def test_one_false_merge_of_twins(tmp_path: Path) -> None:
    score = _score(tmp_path, {**PERFECT, ("27001", "A2"): "P1"})
    # cluster {A1, B1, A2}: 3 pairs, of which A1-B1 is right; {A3, B3}: 1 right pair
    assert (score.predicted_pairs, score.correct_pairs) == (4, 2)
    assert score.precision == 0.5 and score.recall == 1.0 and score.f1 == pytest.approx(2 / 3)
    assert score.bcubed_precision == pytest.approx((2 / 3 + 2 / 3 + 1 / 3 + 3) / 6)
    assert score.false_merges == {"twin": 2, "parent_child_namesake": 0, "household": 0,
                                  "same_name_and_year": 0, UNRELATED: 0}  # fmt: skip


def test_one_false_merge_of_namesakes(tmp_path: Path) -> None:
    score = _score(tmp_path, {**PERFECT, ("27001", "A4"): "P3"})
    assert score.false_merges["same_name_and_year"] == 2 and sum(score.false_merges.values()) == 2


def test_one_missed_link_is_put_on_its_noise(tmp_path: Path) -> None:
    score = _score(tmp_path, {**PERFECT, ("24001", "B1"): "elsewhere"})
    assert (score.true_pairs, score.correct_pairs, score.precision, score.recall) == (2, 1, 1.0, 0.5)
    assert score.bcubed_recall == pytest.approx((1 / 2 + 1 / 2 + 4) / 6)
    assert score.missed_links == {"name_typo": 1, CLEAN: 0}


def test_local_patients_in_one_file_only_are_counted_not_scored(tmp_path: Path) -> None:
    links = {**PERFECT, ("99999", "X"): "P9"}
    del links["27001", "A4"]
    score = _score(tmp_path, links)
    assert (score.scored, score.missing_from_links, score.unknown_in_links) == (5, 1, 1)
    assert score.precision == score.recall == 1.0


def test_print_score(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    print_score(_score(tmp_path, {**PERFECT, ("27001", "A2"): "P1"}))
    printed = capsys.readouterr().out
    assert "pairwise precision" in printed and "0.5000" in printed and "twin" in printed


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["P1", "P2", "P3", "P4"]), st.integers(0, 3), st.booleans()),
                min_size=1, max_size=14))  # fmt: skip
def test_counts_agree_with_enumerating_every_pair(items: list[tuple[str, int, bool]]) -> None:
    """(person, cluster, typo) per local patient: the scorer's counts equal brute-force ones."""
    records = [
        ("27001", f"L{i}", person, "name_typo" if typo else "", "0")
        for i, (person, _, typo) in enumerate(items)
    ]
    links = {("27001", f"L{i}"): f"C{cluster}" for i, (_, cluster, _) in enumerate(items)}
    with tempfile.TemporaryDirectory() as folder:
        score = _score(Path(folder), links, records)
    labels = {p["person_id"]: (p["twin_of"] and min(p["person_id"], p["twin_of"]), None, p["household_id"],
                               p["same_name_group"]) for p in PERSONS}  # fmt: skip
    same_person = same_cluster = both = 0
    merges = dict.fromkeys((*HARD_NEGATIVES, UNRELATED), 0)
    missed_typo = missed_clean = 0
    for (p1, c1, t1), (p2, c2, t2) in combinations(items, 2):
        same_person += p1 == p2
        same_cluster += c1 == c2
        both += p1 == p2 and c1 == c2
        if c1 == c2 and p1 != p2:
            kinds = [
                k for n, k in enumerate(HARD_NEGATIVES) if labels[p1][n] and labels[p1][n] == labels[p2][n]
            ]
            merges[kinds[0] if kinds else UNRELATED] += 1
        if p1 == p2 and c1 != c2:
            missed_typo += t1 or t2
            missed_clean += not (t1 or t2)
    assert (score.true_pairs, score.predicted_pairs, score.correct_pairs) == (same_person, same_cluster, both)
    assert score.false_merges == merges
    assert score.missed_links.get("name_typo", 0) == missed_typo and score.missed_links[CLEAN] == missed_clean


def test_a_child_joined_to_a_parent_is_counted(tmp_path: Path) -> None:
    """P2 is P1's child (parent_ids): a cluster holding both is a child-parent merge, whatever the names."""
    persons = [{**p, "parent_ids": "P1" if p["person_id"] == "P2" else ""} for p in PERSONS]
    _write(tmp_path / "truth_persons.csv", persons[0], ([p[k] for k in persons[0]] for p in persons))
    _write(
        tmp_path / "truth_records.csv",
        ("facility_code", "local_patient_id", "encounter_id", "person_id", "night", "file", "noise", "expected_reject"),
        ((f, local, f"E{i}", person, "2025-06-16", "x", noise, rejected)
         for i, (f, local, person, noise, rejected) in enumerate(RECORDS)),
    )  # fmt: skip
    links = {**PERFECT, ("27001", "A2"): "P1"}  # A2 (P2) joins A1 and B1 (P1)
    _write(tmp_path / "links.csv", ("facility_code", "local_patient_id", "master_patient_id"),
           ((f, local, master) for (f, local), master in links.items()))  # fmt: skip
    score = score_links(tmp_path / "links.csv", tmp_path)
    assert score.child_parent_merges == 2 and score.false_merges["twin"] == 2
    assert _score(tmp_path, PERFECT).child_parent_merges == 0  # a truth without parent_ids: none known
