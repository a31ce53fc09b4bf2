"""Blocking: which pairs are worth scoring. A pair is a candidate when the two records share a key.

Keys are data, (kind, value), so the registry can store them in an indexed table and find a new
record's candidates with one lookup per key. Every key is folded (no marks, i/y and Huỳnh/Hoàng
merged) so typing without diacritics never hides a candidate, and the rules overlap so that one
noisy field (a typo in the given name, a swapped day and month, a reordered name) still leaves
another key in common.

Huge blocks are skipped, not scored: a key shared by more records than its rule's
`max_block_size` (a clinic's phone typed for every walk-in, a placeholder ID, a very common name
and year) would cost quadratically many pairs, nearly all non-matches, and its true matches
share a more selective key anyway. The registry applies the same limits to its key table.

One shared identifier, phone, or full birth date with the commune makes a candidate (the rule is
`sufficient`: a commune's people born on one day are few); otherwise a pair must share
`MIN_SHARED_KEYS` keys. Blocks of name and birth year grow with the population, and most of
their pairs share nothing else: in a synthetic province of 500,000 records, 8.2 million of the 9.5
million pairs sharing any key shared only one or two (the same family and given name and year,
spelt alike), and 79 of them were the same person, against 122,700 of the 123,000 true pairs
sharing four keys or more. Requiring three cuts the pairs to score sevenfold, and keeps their
number per record from growing with the registry; a person whose records share so little is
usually linked through another of their records, or founds an identity for a steward to merge.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations

from matching.person import PreparedPerson


@dataclass(frozen=True, slots=True)
class BlockingRule:
    kind: str
    description: str
    keys: Callable[[PreparedPerson], Iterable[str]]
    max_block_size: int
    agreeing: frozenset[str]  # comparisons this rule's pairs agree on by construction (not trained on them)
    sufficient: bool = False  # one key of this rule in common makes a candidate (an identifier, a phone)

    def keys_counted(self, needed: int) -> int:
        """How many shared keys one key of this rule counts as, when a pair needs `needed`."""
        return needed if self.sufficient else 1


MIN_SHARED_KEYS = 3  # keys of other rules a pair must share to be scored (see the module's text)


def _identifier(attribute: str) -> Callable[[PreparedPerson], list[str]]:
    def keys(person: PreparedPerson) -> list[str]:
        held = getattr(person, attribute)
        return [held.value] if held else []

    return keys


def _phone(person: PreparedPerson) -> list[str]:
    return [person.phone] if person.phone else []


def _name_birth_year(person: PreparedPerson) -> list[str]:
    likely = person.name.likely
    if likely is None or person.birth is None:
        return []
    return [f"{likely.family.variant_folded}|{likely.given.variant_folded}|{person.birth.year}"]


def _sounds_birth_year(person: PreparedPerson) -> list[str]:
    likely = person.name.likely
    if likely is None or person.birth is None:
        return []
    return [f"{likely.family.northern_folded}|{likely.given.northern_folded}|{person.birth.year}"]


def _syllables_birth_year(person: PreparedPerson) -> list[str]:
    likely = person.name.likely
    if likely is None or person.birth is None:
        return []
    syllables = [
        s.variant_folded for part in (likely.family, likely.middle, likely.given) for s in part.syllables
    ]
    return [f"{' '.join(sorted(syllables))}|{person.birth.year}"]


def _given_birth_date(person: PreparedPerson) -> list[str]:
    likely = person.name.likely
    if likely is None or person.birth is None or person.birth.digits is None:
        return []
    return [f"{likely.given.variant_folded}|{person.birth.digits}"]


def _family_birth_date(person: PreparedPerson) -> list[str]:
    likely = person.name.likely
    if likely is None or not likely.family.syllables or person.birth is None or person.birth.digits is None:
        return []
    return [f"{likely.family.variant_folded}|{person.birth.digits}"]


def _birth_date_commune(person: PreparedPerson) -> list[str]:
    if person.birth is None or person.birth.digits is None:
        return []
    commune = person.commune
    places = ([f"code:{commune.code}"] if commune.code else []) + (
        [f"name:{commune.name}"] if commune.name else []
    )
    return [f"{person.birth.digits}|{place}" for place in places]


STANDARD_BLOCKING: tuple[BlockingRule, ...] = (
    BlockingRule(
        "citizen_id",
        "same citizen ID",
        _identifier("citizen_id"),
        1000,
        frozenset({"citizen_id"}),
        sufficient=True,
    ),
    BlockingRule(
        "old_id", "same old ID card", _identifier("old_id"), 1000, frozenset({"old_id"}), sufficient=True
    ),
    BlockingRule(
        "passport", "same passport", _identifier("passport"), 1000, frozenset({"passport"}), sufficient=True
    ),
    BlockingRule(
        "social_insurance",
        "same social-insurance number",
        _identifier("social_insurance"),
        1000,
        frozenset({"social_insurance"}),
        sufficient=True,
    ),
    BlockingRule(
        "phone", "same phone (households share one)", _phone, 50, frozenset({"phone"}), sufficient=True
    ),
    BlockingRule(
        "name_birth_year",
        "family name, given name, birth year (survives a dropped middle name and day/month errors)",
        _name_birth_year,
        300,
        frozenset({"family_name", "given_name", "birth_date"}),
    ),
    BlockingRule(
        "sounds_birth_year",
        "family and given name with l/n, s/x, ch/tr, d/gi/r merged, birth year",
        _sounds_birth_year,
        300,
        frozenset({"family_name", "given_name", "birth_date"}),
    ),
    BlockingRule(
        "syllables_birth_year",
        "all name syllables in sorted order, birth year (survives a reordered name)",
        _syllables_birth_year,
        300,
        frozenset({"family_name", "middle_name", "given_name", "birth_date"}),
    ),
    BlockingRule(
        "given_birth_date",
        "given name and full birth date (survives a family-name error)",
        _given_birth_date,
        300,
        frozenset({"given_name", "birth_date"}),
    ),
    BlockingRule(
        "family_birth_date",
        "family name and full birth date (survives a given-name typo)",
        _family_birth_date,
        300,
        frozenset({"family_name", "birth_date"}),
    ),
    BlockingRule(
        "birth_date_commune",
        "full birth date and commune (survives a misspelt or reordered name, and a newborn recorded"
        " under its mother's name)",
        _birth_date_commune,
        300,
        frozenset({"birth_date", "address"}),
        sufficient=True,
    ),
)


def blocking_keys(
    person: PreparedPerson, rules: Sequence[BlockingRule] = STANDARD_BLOCKING
) -> list[tuple[str, str]]:
    """The (kind, value) keys to index a record under."""
    return [(rule.kind, value) for rule in rules for value in dict.fromkeys(rule.keys(person))]


def blocks(people: Sequence[PreparedPerson], rule: BlockingRule) -> dict[str, list[int]]:
    """Record ids sharing each key value of one rule, oversized blocks included."""
    members: dict[str, list[int]] = defaultdict(list)
    for person in people:
        for value in dict.fromkeys(rule.keys(person)):
            members[value].append(person.record_id)
    return members


def candidate_pairs(
    people: Sequence[PreparedPerson],
    rules: Sequence[BlockingRule] = STANDARD_BLOCKING,
    min_shared_keys: int = MIN_SHARED_KEYS,
) -> list[tuple[int, int]]:
    """Pairs of record ids (smaller first) worth scoring, sorted: sharing a key of a sufficient rule,
    or `min_shared_keys` keys, each within its rule's block limit."""
    shared: Counter[tuple[int, int]] = Counter()
    for rule in rules:
        for ids in blocks(people, rule).values():
            if 2 <= len(ids) <= rule.max_block_size:
                pairs = combinations(sorted(ids), 2)
                counted = rule.keys_counted(min_shared_keys)
                if counted == 1:
                    shared.update(pairs)  # the common case, counted in C
                else:
                    for pair in pairs:
                        shared[pair] += counted
    return sorted(pair for pair, count in shared.items() if count >= min_shared_keys)


def pairs_in_blocks(
    blocks: Iterable[tuple[str, Sequence[int], Sequence[int]]],
    rules: Sequence[BlockingRule] = STANDARD_BLOCKING,
    min_shared_keys: int = MIN_SHARED_KEYS,
) -> list[tuple[int, int]]:
    """Pairs (record, candidate) worth scoring, sorted, for the new records of blocks already
    within their rules' limits: each block is (rule kind, new records, other records), and a new
    record meets every other member of its blocks, new or not. Worth scoring as in
    `candidate_pairs`: sharing a key of a sufficient rule, or `min_shared_keys` keys."""
    counted = {rule.kind: rule.keys_counted(min_shared_keys) for rule in rules}
    # Per new record, the member lists of its blocks by the keys each counts as: then one
    # Counter per record counts its candidates in C (millions of them in a large load).
    held: defaultdict[int, defaultdict[int, list[Sequence[int]]]] = defaultdict(lambda: defaultdict(list))
    for kind, loaded, others in blocks:
        members = [*loaded, *others]
        weight = counted[kind]
        for record in loaded:
            held[record][weight].append(members)
    pairs: list[tuple[int, int]] = []
    for record in sorted(held):
        shared: Counter[int] = Counter()
        for weight, lists in held[record].items():
            for members in lists:
                shared.update(members)
            if weight > 1:
                for members in lists:
                    for member in members:
                        shared[member] += weight - 1
        shared.pop(record)
        pairs.extend((record, other) for other in sorted(shared) if shared[other] >= min_shared_keys)
    return pairs
