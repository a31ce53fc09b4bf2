"""The matching engine: pure functions from person records to scores, decisions and identities.

    scorer = Scorer(ModelParameters.load(path))          # or Scorer() for the built-in defaults
    person = prepare(record)                             # once per record
    keys = blocking_keys(person)                         # (kind, value) rows for the key index
    score = scorer.score(person, candidate)              # weight, probability, per-field breakdown
    verdict = decide(score, scorer.parameters.thresholds)
    print(render(score, verdict))

Incremental matching: candidates are the records sharing an identifier or phone key with the new
one, or `MIN_SHARED_KEYS` keys of the other rules (skipping keys held by more records than the
rule's `max_block_size`; `pairs_in_blocks` counts them from the new records' blocks); score them, then `cluster` the new
record, its candidates' current identities (`existing`), the LINK pairs and the stewards'
constraints, and read the refusals as review items. Batch re-linking: `candidate_pairs` over
all records, score, decide, drop the `refused_newborn_links` (a twin in sight), `cluster`.

The defaults are the Vietnamese configuration (`STANDARD_COMPARISONS`, `STANDARD_BLOCKING`,
`decide.SAFETY_RULES`); `matching.generic` configures the same engine for records given in parts
that are not Vietnamese (FEBRL's): pass its comparisons, rules and safety rules instead.
"""

from matching.blocking import (
    MIN_SHARED_KEYS,
    STANDARD_BLOCKING,
    BlockingRule,
    blocking_keys,
    candidate_pairs,
    pairs_in_blocks,
)
from matching.cluster import Clustering, Constraints, Link, cluster
from matching.decide import Caveat, Decision, Verdict, decide, refused_newborn_links
from matching.explain import render, waterfall
from matching.model import ModelParameters, Thresholds, default_parameters
from matching.person import PersonRecord, PreparedPerson, prepare
from matching.score import PairScore, Scorer, score_pair
from matching.train import train

__all__ = [
    "MIN_SHARED_KEYS",
    "STANDARD_BLOCKING",
    "BlockingRule",
    "Caveat",
    "Clustering",
    "Constraints",
    "Decision",
    "Link",
    "ModelParameters",
    "PairScore",
    "PersonRecord",
    "PreparedPerson",
    "Scorer",
    "Thresholds",
    "Verdict",
    "blocking_keys",
    "candidate_pairs",
    "cluster",
    "decide",
    "default_parameters",
    "pairs_in_blocks",
    "prepare",
    "refused_newborn_links",
    "render",
    "score_pair",
    "train",
    "waterfall",
]
