"""Scoring a linkage against the synthetic truth.

The unit is what the registry links: a local patient (facility_code, local_patient_id). The
truth gives each one its person; a links export (`provreg links export`: facility_code,
local_patient_id, master_patient_id) gives each one its predicted cluster. Local patients whose
every record the loaders must reject never reach the registry and are not scored; those in only
one of the two files are counted, not scored.

Pairs are counted from cluster and person sizes (a cluster of n holds n(n-1)/2 pairs), never
enumerated, so a million records score in well under a minute:
- pairwise precision, recall and F1 over pairs of local patients;
- B-cubed precision and recall (per local patient, averaged);
- false merges (pairs put together that are different people) by hard-negative kind, each pair
  under the first kind it has: twins, parent and child with the same name, same household, same
  folded name and birth year, else unrelated;
- pairs of a child and a parent put together (any names; a child recorded under a parent's
  citizen ID is the case to watch), counted apart from the breakdown above (`parent_ids`);
- missed links (pairs of the same person left apart) by noise kind: a pair counts under every
  kind either side carries (a local patient carries the kinds of all its records); "clean" is
  pairs where neither side carries any.
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from itertools import combinations
from operator import itemgetter
from pathlib import Path
from typing import NamedTuple

from rich.console import Console
from rich.table import Table

from synth.truth import NOISE_SEPARATOR

HARD_NEGATIVES = ("twin", "parent_child_namesake", "household", "same_name_and_year")
UNRELATED = "unrelated"
CLEAN = "clean"

Key = tuple[str, str]  # (facility_code, local_patient_id)


@dataclass(frozen=True)
class LinkageScore:
    scored: int  # local patients in both the truth and the links
    persons: int
    clusters: int
    true_pairs: int
    predicted_pairs: int
    correct_pairs: int
    precision: float
    recall: float
    f1: float
    bcubed_precision: float
    bcubed_recall: float
    false_merges: dict[str, int]  # pairs, by hard-negative kind
    missed_links: dict[str, int]  # pairs, by noise kind (overlapping) and "clean"
    missing_from_links: int  # truth local patients the links do not mention
    unknown_in_links: int  # links to local patients the truth does not know
    child_parent_merges: int = 0  # pairs of a child and a parent in one cluster (also in false_merges)


class _Item(NamedTuple):
    person: str
    cluster: str
    noise: frozenset[str]


def score_links(links: Path, truth_dir: Path) -> LinkageScore:
    """Score a links export against DIR/truth_records.csv and DIR/truth_persons.csv."""
    truth = _truth_items(truth_dir / "truth_records.csv")
    predicted = dict(
        ((facility, local), master)
        for facility, local, master in _columns(
            links, "facility_code", "local_patient_id", "master_patient_id"
        )
    )
    items = [
        _Item(person, predicted[key], noise) for key, (person, noise) in truth.items() if key in predicted
    ]
    labels = _hard_negative_labels(truth_dir / "truth_persons.csv")
    score = _score(
        items,
        labels,
        missing_from_links=sum(key not in predicted for key in truth),
        unknown_in_links=sum(key not in truth for key in predicted),
    )
    merged = _child_parent_merges(items, _parents(truth_dir / "truth_persons.csv"))
    return replace(score, child_parent_merges=merged)


def _columns(path: Path, *names: str) -> Iterator[tuple[str, ...]]:
    """The named columns of each row (csv.reader and itemgetter: DictReader is several times slower)."""
    with path.open(encoding="utf-8-sig", newline="") as file:
        rows = csv.reader(file)
        header = next(rows)
        missing = [name for name in names if name not in header]
        if missing:
            raise ValueError(f"{path.name} has no column {', '.join(missing)}")
        pick = itemgetter(*(header.index(name) for name in names))
        for row in rows:
            yield pick(row)


def _truth_items(path: Path) -> dict[Key, tuple[str, frozenset[str]]]:
    """Local patient -> (person, noise kinds of its records), for records the loaders accept."""
    items: dict[Key, tuple[str, frozenset[str]]] = {}
    kinds: dict[str, frozenset[str]] = {}  # the few distinct noise strings, split once
    columns = ("facility_code", "local_patient_id", "person_id", "noise", "expected_reject")
    for facility, local, person, noise, rejected in _columns(path, *columns):
        if rejected == "1":
            continue
        if noise not in kinds:
            kinds[noise] = frozenset(kind for kind in noise.split(NOISE_SEPARATOR) if kind)
        known = items.get((facility, local))
        if known is None:
            items[facility, local] = (person, kinds[noise])
        elif known[0] != person:
            raise ValueError(f"{facility}/{local} belongs to two persons in the truth")
        elif not kinds[noise] <= known[1]:
            items[facility, local] = (person, known[1] | kinds[noise])
    return items


def _hard_negative_labels(path: Path) -> dict[str, tuple[str | None, ...]]:
    """Person -> a group key per hard-negative kind (None: in no such group), in HARD_NEGATIVES order."""
    columns = ("person_id", "twin_of", "namesake_of", "household_id", "same_name_group")
    return {
        person: (
            min(person, twin) if twin else None,
            min(person, namesake) if namesake else None,
            household or None,
            same_name or None,
        )
        for person, twin, namesake, household, same_name in _columns(path, *columns)
    }


def _parents(path: Path) -> dict[str, tuple[str, ...]]:
    """Person -> their parents in the household (none known for a truth written before parent_ids)."""
    with path.open(encoding="utf-8-sig", newline="") as file:
        if "parent_ids" not in next(csv.reader(file)):
            return {}
    return {
        person: tuple(parents.split(";"))
        for person, parents in _columns(path, "person_id", "parent_ids")
        if parents
    }


def _child_parent_merges(items: list[_Item], parents: dict[str, tuple[str, ...]]) -> int:
    """Pairs of local patients in one cluster where one's person is the other's parent."""
    clusters: defaultdict[str, Counter[str]] = defaultdict(Counter)  # person -> cluster -> local patients
    for item in items:
        clusters[item.person][item.cluster] += 1
    merged = 0
    for child, its_parents in parents.items():
        for cluster, n in clusters.get(child, Counter()).items():
            merged += n * sum(clusters[parent][cluster] for parent in its_parents if parent in clusters)
    return merged


def _pairs(sizes: Iterable[int]) -> int:
    return sum(n * (n - 1) // 2 for n in sizes)


def _score(
    items: list[_Item],
    labels: dict[str, tuple[str | None, ...]],
    *,
    missing_from_links: int,
    unknown_in_links: int,
) -> LinkageScore:
    by_cluster = Counter(item.cluster for item in items)
    by_person = Counter(item.person for item in items)
    by_both = Counter((item.cluster, item.person) for item in items)
    predicted, true, correct = (
        _pairs(by_cluster.values()),
        _pairs(by_person.values()),
        _pairs(by_both.values()),
    )
    precision = correct / predicted if predicted else 1.0
    recall = correct / true if true else 1.0
    count = len(items) or 1
    return LinkageScore(
        scored=len(items),
        persons=len(by_person),
        clusters=len(by_cluster),
        true_pairs=true,
        predicted_pairs=predicted,
        correct_pairs=correct,
        precision=precision,
        recall=recall,
        f1=2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        bcubed_precision=sum(n * n / by_cluster[c] for (c, _), n in by_both.items()) / count,
        bcubed_recall=sum(n * n / by_person[p] for (_, p), n in by_both.items()) / count,
        false_merges=_false_merges(items, labels, by_both),
        missed_links=_missed_links(items, by_person, by_both),
        missing_from_links=missing_from_links,
        unknown_in_links=unknown_in_links,
    )


def _false_merges(
    items: list[_Item], labels: dict[str, tuple[str | None, ...]], by_both: Counter[tuple[str, str]]
) -> dict[str, int]:
    """Pairs of different people in one cluster, each under the first hard-negative kind it has.

    With shared(S) = pairs of different people in one cluster sharing every key in S, the pairs
    whose first shared kind is j are, by inclusion-exclusion over the kinds before j,
    sum over T of those kinds of (-1)^|T| shared(T + {j}); "unrelated" likewise over all kinds.
    """
    persons_per_cluster = Counter(cluster for cluster, _ in by_both)
    same_person = _pairs(n for (cluster, _), n in by_both.items() if persons_per_cluster[cluster] > 1)
    # Only clusters holding several people have false merges; a person outside every group of a
    # kind gets a key of their own for it.
    mixed = [
        (item.cluster, tuple(key or ("alone", item.person) for key in labels[item.person]))
        for item in items
        if persons_per_cluster[item.cluster] > 1
    ]
    known: dict[frozenset[int], int] = {}

    def shared(kinds: frozenset[int]) -> int:
        if kinds not in known:
            pick = itemgetter(*sorted(kinds)) if kinds else (lambda _: ())
            known[kinds] = (
                _pairs(Counter((cluster, pick(keys)) for cluster, keys in mixed).values()) - same_person
            )
        return known[kinds]

    def first_shared(kind: int | None) -> int:
        earlier = range(len(HARD_NEGATIVES)) if kind is None else range(kind)
        own = frozenset() if kind is None else frozenset({kind})
        return sum(
            (-1) ** size * shared(own | frozenset(subset))
            for size in range(len(earlier) + 1)
            for subset in combinations(earlier, size)
        )

    merges = {name: first_shared(k) for k, name in enumerate(HARD_NEGATIVES)}
    return {**merges, UNRELATED: first_shared(None)}


def _missed_links(
    items: list[_Item], by_person: Counter[str], by_both: Counter[tuple[str, str]]
) -> dict[str, int]:
    """Pairs of one person's local patients in different clusters, by the noise either side carries.

    Among a set of local patients, missed pairs = pairs within a person - pairs within a
    (person, cluster). Pairs touching kind n = all missed pairs - missed pairs among those without n.
    """
    clusters_per_person = Counter(person for _, person in by_both)
    with_kind: defaultdict[str, Counter[str]] = defaultdict(Counter)
    with_kind_both: defaultdict[str, Counter[tuple[str, str]]] = defaultdict(Counter)
    clean: Counter[str] = Counter()
    clean_both: Counter[tuple[str, str]] = Counter()
    for item in items:
        if clusters_per_person[item.person] < 2:
            continue  # only people split over clusters have missed links
        for kind in item.noise:
            with_kind[kind][item.person] += 1
            with_kind_both[kind][item.cluster, item.person] += 1
        if not item.noise:
            clean[item.person] += 1
            clean_both[item.cluster, item.person] += 1

    def touching(per_person: Counter[str], per_both: Counter[tuple[str, str]]) -> int:
        within_person = sum(
            _pairs([by_person[p]]) - _pairs([by_person[p] - n]) for p, n in per_person.items()
        )
        within_both = sum(_pairs([by_both[k]]) - _pairs([by_both[k] - n]) for k, n in per_both.items())
        return within_person - within_both

    missed = {kind: touching(with_kind[kind], with_kind_both[kind]) for kind in sorted(with_kind)}
    missed = {kind: pairs for kind, pairs in missed.items() if pairs}
    return {**missed, CLEAN: _pairs(clean.values()) - _pairs(clean_both.values())}


def print_score(score: LinkageScore, console: Console | None = None) -> None:
    console = console or Console()
    summary = Table(title="Linkage against the synthetic truth", show_header=False)
    for label, value in (
        (
            "local patients scored",
            f"{score.scored:,} ({score.persons:,} persons, {score.clusters:,} clusters)",
        ),
        ("pairwise precision", f"{score.precision:.4f}"),
        ("pairwise recall", f"{score.recall:.4f}"),
        ("pairwise F1", f"{score.f1:.4f}"),
        ("B-cubed precision", f"{score.bcubed_precision:.4f}"),
        ("B-cubed recall", f"{score.bcubed_recall:.4f}"),
        (
            "pairs: true / predicted / correct",
            f"{score.true_pairs:,} / {score.predicted_pairs:,} / {score.correct_pairs:,}",
        ),
        (
            "not in the links / unknown to the truth",
            f"{score.missing_from_links:,} / {score.unknown_in_links:,}",
        ),
        ("child and parent put together (pairs)", f"{score.child_parent_merges:,}"),
    ):
        summary.add_row(label, value)
    console.print(summary)
    console.print(_breakdown("False merges (pairs) by hard negative", score.false_merges))
    console.print(_breakdown("Missed links (pairs) by noise on either side", score.missed_links))


def _breakdown(title: str, counts: dict[str, int]) -> Table:
    table = Table(title=title)
    table.add_column("kind")
    table.add_column("pairs", justify="right")
    for kind, pairs in counts.items():
        table.add_row(kind, f"{pairs:,}")
    return table
