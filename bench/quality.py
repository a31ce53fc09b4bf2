"""Linkage quality on a synthetic province, scored against its ground truth.

    python bench/quality.py [--persons 50000] [--facilities 12] [--days 30] [--seed 1] [--train]
    python bench/quality.py --links LINKS.csv --truth DIR     # score any `provreg links export`

Generates the province (`provreg synth`), loads it night by night into a scratch registry with
incremental matching, optionally trains the model and re-links everything, exports the links
and prints pairwise precision/recall/F1, B-cubed precision/recall, false merges by hard-negative
kind and missed links by noise kind, plus the number of automatic merges of two different valid
citizen IDs (which must be zero).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Engine, text

from bench._registry import scratch_registry
from loaders.options import LoaderOptions
from registry.ingest import Submission, load_file
from registry.links import export_links
from registry.synth.score import print_score, score_links
from registry.synth.writer import generate_province

# Identities whose source patients carry more than one distinct citizen ID (never made by the model).
MIXED_CITIZEN_IDS = """
SELECT count(*) FROM (
    SELECT l.master_patient_id FROM patient_link l JOIN source_patient p ON p.id = l.source_patient_id
    WHERE l.superseded_at IS NULL AND p.citizen_id IS NOT NULL
    GROUP BY l.master_patient_id HAVING count(DISTINCT p.citizen_id) > 1
) mixed
"""


def load_province(engine: Engine, folder: Path) -> float:
    started = time.perf_counter()
    for path in sorted(p for p in (folder / "nights").glob("*/*") if p.is_file()):
        load_file(engine, path, LoaderOptions(), Submission(submitted_by="bench"))
    return time.perf_counter() - started


def relink(engine: Engine, train_first: bool) -> None:
    from matching import train
    from registry.linking import relink_all
    from registry.linking.model_store import save_parameters
    from registry.linking.people import all_people

    raw = engine.raw_connection()
    try:
        connection = raw.driver_connection
        with connection.transaction():
            if train_first:
                records = [person for person, _ in all_people(connection)]
                save_parameters(connection, train(records), created_by="bench")
            summary = relink_all(connection, decided_by="bench")
    finally:
        raw.close()
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
    parser.add_argument("--links", type=Path, help="score this links export instead of running provreg")
    parser.add_argument("--truth", type=Path, help="the synthetic province folder the links refer to")
    args = parser.parse_args()
    if args.links:
        print_score(score_links(args.links, args.truth))
        return
    with tempfile.TemporaryDirectory() as folder, scratch_registry() as engine:
        province = Path(folder) / "province"
        summary = generate_province(
            province, persons=args.persons, facilities=args.facilities, days=args.days, seed=args.seed
        )
        print(f"province: {summary.persons:,} persons, {summary.files} files, {summary.records:,} records")
        seconds = load_province(engine, province)
        print(
            f"loaded with incremental matching in {seconds:.1f} s ({summary.records / seconds:,.0f} records/s)"
        )
        if args.train:
            relink(engine, train_first=True)
        links = Path(folder) / "links.csv"
        with links.open("wb") as out:
            export_links(engine, out)
        with engine.connect() as connection:
            mixed = connection.execute(text(MIXED_CITIZEN_IDS)).scalar_one()
            reviews = connection.execute(
                text("SELECT count(*) FROM match_review WHERE status = 'open'")
            ).scalar_one()
        print(f"identities holding two different valid citizen IDs: {mixed}")
        print(f"possible matches waiting for a steward: {reviews:,}")
        print_score(score_links(links, province))


if __name__ == "__main__":
    main()
