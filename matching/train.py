"""Estimating the model from unlabelled records, as Splink does.

- u from random pairs: nearly all are different people, so level shares among them are u.
  A level the sample sees fewer than `MIN_RANDOM_COUNT` times is not measured, only bounded.
- m by expectation–maximisation over blocked candidate pairs, one session per blocking rule.
  A rule's pairs agree on its own fields by construction, so a session leaves those comparisons
  out and estimates the others; each comparison's m is the mean over the sessions that
  estimated it. Pseudo-counts pull rarely seen levels towards their defaults.
- λ (the prior) from the share of matches EM finds among all candidate pairs (blocking is
  assumed to find nearly every match), spread over all pairs of the registry.
- Term frequencies of the comparisons that declare a term (family and given names).

EM works on comparison patterns (the level of every comparison) and their counts, so its cost
depends on the number of distinct patterns, not of pairs.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import combinations

from matching.blocking import STANDARD_BLOCKING, BlockingRule, candidate_pairs
from matching.compare import STANDARD_COMPARISONS
from matching.comparison import Comparison, Level, PersonPair
from matching.model import (
    ComparisonParameters,
    LevelParameters,
    ModelParameters,
    TermFrequencies,
    TrainingSummary,
    default_parameters,
)
from matching.person import PersonRecord, PreparedPerson, prepare

MIN_RANDOM_COUNT = 5
MIN_SESSION_PAIRS = 20
PSEUDO_PAIRS = 10.0  # weight of the default m in each level's estimate, in pairs
MINIMUM_TERM_FREQUENCY = 5e-4  # a value rarer than 1 in 2,000 counts as 1 in 2,000
CONVERGED = 1e-5
INITIAL_MATCH_SHARE = 0.1

Pattern = tuple[int, ...]  # the level index of every comparison for one pair
Probabilities = list[list[float]]  # per comparison, per level


def train(
    records: Sequence[PersonRecord],
    *,
    registry_size: int | None = None,
    comparisons: Sequence[Comparison] = STANDARD_COMPARISONS,
    rules: Sequence[BlockingRule] = STANDARD_BLOCKING,
    base: ModelParameters | None = None,
    random_pairs: int = 200_000,
    max_iterations: int = 100,
    seed: int = 0,
) -> ModelParameters:
    """Parameters estimated from `records`, starting from `base` (the defaults).

    `registry_size` is the number of records the model will link, when `records` is a sample of
    them made of whole identities (say, every record of a few communes): matches grow with the
    records, pairs with their square, so the prior shrinks accordingly.
    """
    base = (base or default_parameters(comparisons)).fitted_to(comparisons)
    people = [prepare(record) for record in records]
    patterns = _Patterns(people, comparisons)
    u = _estimate_u(people, comparisons, base, random_pairs, random.Random(seed))
    m = [[level.m for level in base.comparison(c.name).levels] for c in comparisons]

    estimates: list[list[list[float]]] = [[] for _ in comparisons]
    sessions = []
    for rule in rules:
        pairs = candidate_pairs(people, (rule,), min_shared_keys=1)  # one rule's pairs, to estimate m
        if len(pairs) < MIN_SESSION_PAIRS:
            continue
        active = [i for i, c in enumerate(comparisons) if c.name not in rule.agreeing]
        session_m, _, iterations = _expectation_maximisation(
            patterns.counted(pairs), comparisons, m, u, active, max_iterations, update_m=True
        )
        for i in active:
            estimates[i].append(session_m[i])
        sessions.append(f"{rule.kind}: {len(pairs)} pairs, {iterations} iterations")
    for i, per_session in enumerate(estimates):
        if per_session:
            m[i] = [sum(values) / len(per_session) for values in zip(*per_session, strict=True)]

    union = patterns.counted(candidate_pairs(people, rules))
    everything = list(range(len(comparisons)))
    _, match_share, _ = _expectation_maximisation(
        union, comparisons, m, u, everything, max_iterations, update_m=False
    )
    size = registry_size or len(people)
    expected_matches = match_share * sum(union.values()) * size / max(len(people), 1)
    all_pairs = size * (size - 1) / 2
    prior = min(max(expected_matches / all_pairs, 1e-12), 0.5) if all_pairs else base.prior_match_probability

    trained_at = datetime.now(UTC)
    return ModelParameters(
        model_version=f"trained-{trained_at:%Y%m%dT%H%M%SZ}",
        trained_at=trained_at,
        prior_match_probability=prior,
        thresholds=base.thresholds,
        comparisons=tuple(
            ComparisonParameters(
                name=comparison.name,
                levels=tuple(
                    LevelParameters(name=level.name, m=m[i][j], u=u[i][j])
                    for j, level in enumerate(comparison.levels)
                ),
            )
            for i, comparison in enumerate(comparisons)
        ),
        term_frequencies={**base.term_frequencies, **_term_frequencies(people, comparisons)},
        training=TrainingSummary(
            records=len(people),
            random_pairs=min(random_pairs, len(people) * (len(people) - 1) // 2),
            candidate_pairs=sum(union.values()),
            sessions=tuple(sessions),
        ),
    )


class _Patterns:
    """Comparison patterns of candidate pairs, each pair compared once across sessions."""

    def __init__(self, people: Sequence[PreparedPerson], comparisons: Sequence[Comparison]) -> None:
        self._by_id = {person.record_id: person for person in people}
        self._comparisons = comparisons
        self._known: dict[tuple[int, int], Pattern] = {}

    def counted(self, pairs: Sequence[tuple[int, int]]) -> Counter[Pattern]:
        return Counter(self._pattern(pair) for pair in pairs)

    def _pattern(self, pair: tuple[int, int]) -> Pattern:
        if pair not in self._known:
            compared = PersonPair(self._by_id[pair[0]], self._by_id[pair[1]])
            self._known[pair] = tuple(comparison.compare(compared)[0] for comparison in self._comparisons)
        return self._known[pair]


def _random_pairs(count: int, size: int, rng: random.Random) -> list[tuple[int, int]]:
    if size * (size - 1) // 2 <= count:
        return list(combinations(range(size), 2))
    pairs = []
    while len(pairs) < count:
        left, right = rng.randrange(size), rng.randrange(size)
        if left != right:
            pairs.append((left, right))
    return pairs


def _estimate_u(
    people: Sequence[PreparedPerson],
    comparisons: Sequence[Comparison],
    base: ModelParameters,
    count: int,
    rng: random.Random,
) -> Probabilities:
    seen = [Counter[int]() for _ in comparisons]
    for left, right in _random_pairs(count, len(people), rng):
        pair = PersonPair(people[left], people[right])
        for i, comparison in enumerate(comparisons):
            seen[i][comparison.compare(pair)[0]] += 1
    estimated = []
    for i, comparison in enumerate(comparisons):
        current = base.comparison(comparison.name).levels
        compared = sum(n for j, n in seen[i].items() if not comparison.levels[j].is_null)
        estimated.append(
            [_u(level, current[j].u, seen[i][j], compared) for j, level in enumerate(comparison.levels)]
        )
    return estimated


def _u(level: Level, current: float, seen: int, compared: int) -> float:
    if level.is_null or compared == 0:
        return current
    # A level seen too rarely is not measured: the sample only says u < MIN_RANDOM_COUNT / compared.
    measured = seen / compared if seen >= MIN_RANDOM_COUNT else min(current, MIN_RANDOM_COUNT / compared)
    return max(measured, level.u) if level.u_floor else measured


def _expectation_maximisation(
    patterns: Counter[Pattern],
    comparisons: Sequence[Comparison],
    m: Probabilities,
    u: Probabilities,
    active: list[int],
    max_iterations: int,
    *,
    update_m: bool,
) -> tuple[Probabilities, float, int]:
    """m (re-estimated for the `active` comparisons if `update_m`), the match share, iterations used.

    Comparisons not `active` are left out of the expectation step too (their pairs' agreement on
    them was selected, not observed).
    """
    m = [list(levels) for levels in m]
    share = INITIAL_MATCH_SHARE
    pairs = sum(patterns.values())
    for iteration in range(1, max_iterations + 1):
        totals = [[0.0] * len(c.levels) for c in comparisons]
        matched = 0.0
        for pattern, count in patterns.items():
            expected = count * _match_probability(pattern, comparisons, m, u, active, share)
            matched += expected
            for i in active:
                totals[i][pattern[i]] += expected
        change = abs(matched / pairs - share)
        share = matched / pairs
        for i in active if update_m else ():
            updated = _m_from_totals(comparisons[i], totals[i], m[i])
            change = max(change, *(abs(a - b) for a, b in zip(updated, m[i], strict=True)))
            m[i] = updated
        if change < CONVERGED:
            return m, share, iteration
    return m, share, max_iterations


def _match_probability(
    pattern: Pattern,
    comparisons: Sequence[Comparison],
    m: Probabilities,
    u: Probabilities,
    active: list[int],
    share: float,
) -> float:
    if_match, if_not = share, 1 - share
    for i in active:
        level = pattern[i]
        if not comparisons[i].levels[level].is_null:
            if_match *= m[i][level]
            if_not *= u[i][level]
    return if_match / (if_match + if_not)


def _m_from_totals(comparison: Comparison, totals: list[float], current: list[float]) -> list[float]:
    """New m: fixed levels keep theirs; the others share the rest, pulled towards their defaults."""
    levels = comparison.levels
    free = [j for j, level in enumerate(levels) if not level.is_null and not level.fix_m]
    free_mass = 1 - sum(current[j] for j, level in enumerate(levels) if not level.is_null and level.fix_m)
    default_mass = sum(levels[j].m for j in free)
    observed = sum(totals[j] for j in free)
    updated = list(current)
    for j in free:
        pseudo = PSEUDO_PAIRS * levels[j].m / default_mass
        updated[j] = free_mass * (totals[j] + pseudo) / (observed + PSEUDO_PAIRS)
    return updated


def _term_frequencies(
    people: Sequence[PreparedPerson], comparisons: Sequence[Comparison]
) -> dict[str, TermFrequencies]:
    tables = {}
    for comparison in comparisons:
        if comparison.term is None or not any(level.term_frequency for level in comparison.levels):
            continue
        counts = Counter[str]()
        for person in people:
            value = comparison.values(PersonPair(person, person))[0]  # the value as `term` sees it
            term = comparison.term(value) if value is not None else ""
            if term:
                counts[term] += 1
        total = sum(counts.values())
        if total:
            tables[comparison.name] = TermFrequencies(
                frequencies={value: n / total for value, n in counts.most_common() if n >= 2},
                unseen=1 / total,
                minimum=MINIMUM_TERM_FREQUENCY,
                chance_agreement=sum((n / total) ** 2 for n in counts.values()),
            )
    return tables
