"""Linkage quality on a synthetic province, scored against its ground truth.

    python bench/quality.py [--persons 50000] [--facilities 12] [--days 30] [--seed 1] [--train]
    python bench/quality.py --province DIR [--train]          # an existing `provreg synth` folder
    python bench/quality.py --links LINKS.csv --truth DIR     # score any `provreg links export`

Generates the province (`provreg synth`), loads it night by night into a scratch registry with
incremental matching (each file declared as coming from the facility its name gives, as a
nightly job would), optionally trains the model and re-links everything, exports the links
and prints:
- the share of the province's records stored (records stored / records sent), the records
  rejected, and of those the ones rejected for an identifier alone (which must be zero: a
  suspect identifier is flagged, not refused), and files refused whole;
- pairwise precision/recall/F1, B-cubed precision/recall, false merges by hard-negative kind,
  missed links by noise kind, and pairs of a child and a parent put together (which must be
  zero), plus the number of identities holding two different valid citizen IDs (which must be
  zero);
- the review queue: open items, their yield (the share the truth says are one person: what a
  steward would decide "same"), and both by the item's reason.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


import psycopg

from bench._registry import scratch_registry
from loaders.options import LoaderOptions
from registry.identity.links_export import export_links
from registry.ingest import Submission, load_file
from synth.score import print_score, score_links
from synth.writer import generate_province

# Source fields of identifiers, as the formats name them: a reject all of whose reasons are on
# these was rejected for an identifier alone.
IDENTIFIER_FIELD = re.compile(
    r"(SO_CCCD|MA_THE_BHYT|MA_NOI_DI|MA_NOI_DEN|so_cccd|citizen_id|cccd|national_id|ma_the_bhyt|"
    r"insurance_card|ma_the|ma_noi_di|ma_noi_den|referred_from|referred_to|identifier\b[^:]*)\s*:",
    re.IGNORECASE,
)
STORED = """
SELECT coalesce(sum(records_in), 0), coalesce(sum(rejected), 0), count(*) FILTER (WHERE status = 'rejected')
FROM ingest_batch
"""
REJECT_REASONS = "SELECT reason FROM ingest_reject"
# Identities whose source patients carry more than one distinct citizen ID (never made by the model).
MIXED_CITIZEN_IDS = """
SELECT count(*) FROM (
    SELECT l.master_patient_id FROM patient_link l JOIN source_patient p ON p.id = l.source_patient_id
    WHERE l.superseded_at IS NULL AND p.citizen_id IS NOT NULL
    GROUP BY l.master_patient_id HAVING count(DISTINCT p.citizen_id) > 1
) mixed
"""


def load_province(url: str, folder: Path) -> float:
    started = time.perf_counter()
    for path in sorted(p for p in (folder / "nights").glob("*/*") if p.is_file()):
        # nights/DATE/FACILITY.ext: the job posting it knows its facility (an empty file names none)
        submission = Submission(submitted_by="bench", night=date.fromisoformat(path.parent.name))
        load_file(url, path, LoaderOptions(facility_code=path.stem), submission)
    return time.perf_counter() - started


def identifier_alone(reason: str) -> bool:
    """Whether every one of a reject's reasons ("; "-joined) is about an identifier field."""
    parts = [part for part in reason.split("; ") if part.strip()]
    return bool(parts) and all(IDENTIFIER_FIELD.match(part) for part in parts)


def report_storage(url: str, province: Path) -> None:
    with (province / "truth_records.csv").open(encoding="utf-8") as file:
        truth = list(csv.DictReader(file))
    sent = len(truth)
    storable = sum(row["expected_reject"] == "0" for row in truth)
    flagged = sum(bool(row["expected_flags"]) for row in truth)
    with psycopg.connect(url) as connection:
        records_in, rejected, refused_files = connection.execute(STORED).fetchone()  # type: ignore[misc]
        reasons = [reason for (reason,) in connection.execute(REJECT_REASONS)]
    stored = records_in - rejected
    alone = sum(identifier_alone(reason) for reason in reasons)
    print(
        f"records stored / sent: {stored:,} / {sent:,} ({stored / sent:.2%}; "
        f"the truth expects {storable:,} storable, {flagged:,} of them with a flagged identifier)"
    )
    print(f"records rejected: {rejected:,}, of which for an identifier alone: {alone}")
    print(f"files refused whole: {refused_files}")


OPEN_REVIEWS = """
SELECT a.facility_code, a.local_id, b.facility_code, b.local_id, r.reason, r.weight
FROM match_review r
JOIN source_patient a ON a.id = r.source_patient_id
JOIN source_patient b ON b.id = r.candidate_source_patient_id
WHERE r.status = 'open'
"""


def report_reviews(url: str, province: Path) -> list[tuple[tuple[str, str], tuple[str, str]]]:
    """Open review items, and the share of them the truth says are one person, by reason and weight;
    returns the items a steward would decide "same" (both records as facility and local id)."""
    with (province / "truth_records.csv").open(encoding="utf-8") as file:
        person_of = {
            (row["facility_code"], row["local_patient_id"]): row["person_id"] for row in csv.DictReader(file)
        }
    with psycopg.connect(url) as connection:
        items = connection.execute(OPEN_REVIEWS).fetchall()
    by_reason: dict[str, list[int]] = {}
    by_weight: dict[str, list[int]] = {}
    decided_same = []
    for left_facility, left_id, right_facility, right_id, reason, weight in items:
        same = person_of.get((left_facility, left_id)) == person_of.get((right_facility, right_id))
        if same:
            decided_same.append(((left_facility, left_id), (right_facility, right_id)))
        band = "below 4 bits" if weight < 4 else "4 to 6 bits" if weight < 6 else "6 bits or more"
        for counts in (by_reason.setdefault(reason, [0, 0]), by_weight.setdefault(band, [0, 0])):
            counts[0] += 1
            counts[1] += same
    total = len(items)
    same = sum(s for _, s in by_reason.values())
    print(
        f"possible matches waiting for a steward: {total:,}, of which one person: {same:,}"
        f" (yield {same / total if total else 0:.1%})"
    )
    for breakdown in (by_reason, by_weight):
        for reason, (n, s) in sorted(breakdown.items(), key=lambda item: -item[1][0]):
            print(f"  {n:6,} items, yield {s / n:6.1%}: {reason}")
    return decided_same


def links_after_review(links: Path, same: list[tuple[tuple[str, str], tuple[str, str]]], out: Path) -> None:
    """The links export as it would be once stewards said "same" to these pairs (identities joined)."""
    with links.open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    master_of = {(row["facility_code"], row["local_patient_id"]): row["master_patient_id"] for row in rows}
    joined: dict[str, str] = {}

    def root(master: str) -> str:
        while master in joined:
            master = joined[master]
        return master

    for left, right in same:
        a, b = root(master_of[left]), root(master_of[right])
        if a != b:
            joined[max(a, b)] = min(a, b)
    with out.open("w", encoding="utf-8", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=["facility_code", "local_patient_id", "master_patient_id"])
        writer.writeheader()
        for (facility, local), master in master_of.items():
            writer.writerow(
                {"facility_code": facility, "local_patient_id": local, "master_patient_id": root(master)}
            )


def relink(url: str, train_first: bool) -> None:
    from matching import train
    from registry.identity.batch_relink import relink_all
    from registry.identity.model_store import save_parameters
    from registry.identity.person_records import all_people

    with psycopg.connect(url) as connection:
        if train_first:
            records = [person for person, _ in all_people(connection)]
            save_parameters(connection, train(records), created_by="bench")
        summary = relink_all(connection, decided_by="bench")
    print(
        f"batch re-link: {summary.records:,} records, {summary.pairs_scored:,} pairs, {summary.seconds:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=50_000)
    parser.add_argument("--facilities", type=int, default=12)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--train", action="store_true", help="train on the loaded records, then re-link all")
    parser.add_argument(
        "--province", type=Path, help="load this `provreg synth` folder instead of generating one"
    )
    parser.add_argument("--links", type=Path, help="score this links export instead of running provreg")
    parser.add_argument("--truth", type=Path, help="the synthetic province folder the links refer to")
    args = parser.parse_args()
    if args.links:
        print_score(score_links(args.links, args.truth))
        return
    with tempfile.TemporaryDirectory() as folder, scratch_registry() as url:
        province = args.province or Path(folder) / "province"
        if args.province is None:
            summary = generate_province(
                province, persons=args.persons, facilities=args.facilities, days=args.days, seed=args.seed
            )
            print(
                f"province: {summary.persons:,} persons, {summary.files} files, {summary.records:,} records"
            )
        seconds = load_province(url, province)
        print(f"loaded with incremental matching in {seconds:.1f} s")
        report_storage(url, province)
        if args.train:
            relink(url, train_first=True)
        links = Path(folder) / "links.csv"
        with links.open("wb") as out:
            export_links(url, out)
        with psycopg.connect(url) as connection:
            (mixed,) = connection.execute(MIXED_CITIZEN_IDS).fetchone()  # type: ignore[misc]
        print(f"identities holding two different valid citizen IDs: {mixed}")
        same = report_reviews(url, province)
        score = score_links(links, province)
        print_score(score)
        reviewed = Path(folder) / "links_after_review.csv"
        links_after_review(links, same, reviewed)
        after = score_links(reviewed, province)
        print(
            f"once stewards decide the queue as the truth says: precision {after.precision:.4f}, recall"
            f" {after.recall:.4f} (automatic: {score.precision:.4f}, {score.recall:.4f})"
        )


if __name__ == "__main__":
    main()
