"""provreg against Splink (DuckDB) on one synthetic province, scored against its ground truth.

    .venv/bin/pip install -e '.[bench]'      # splink (brings duckdb), pandas
    .venv/bin/python bench/compare_splink.py [--persons 50000] [--facilities 12] [--days 30] [--seed 1]
        [--train] [--threshold 0.99] [--threads 1] [--keep DIR]

One run, one province (`generate_province`), two systems:

1. provreg: the province loaded night by night into a scratch registry (as bench/quality.py:
   parse, validate, store, incremental matching per file), then `export_links`. With --train,
   also a second row: EM training on the loaded records and a batch re-link (its time added).
2. Splink: the same nightly files read with provreg's own loaders (rejects dropped, as the
   registry drops them), one row per (facility_code, local_id): its latest record, as the
   registry's `source_patient` holds it. Features are derived in Python (names folded without
   diacritics, birth date, ...), then Splink deduplicates them: u by random sampling, m by EM
   on two blocking rules, the prior from deterministic rules, predictions above the threshold
   clustered by connected components; the clusters are written as a links CSV.

Both links files are scored by `synth.score.score_links` (pairwise P/R/F1 over local
patients, B-cubed) and printed side by side with wall times. Splink's time covers reading the
files with the loaders, feature derivation, training, prediction and clustering; provreg's
covers loading (parsing and storing included, which Splink does not do) and the export.
"""

from __future__ import annotations

import argparse
import csv
import logging
import re
import sys
import tempfile
import time
import unicodedata
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from loaders.options import LoaderOptions
from loaders.read import read_units
from loaders.records import Patient, SourceRecord
from synth.score import LinkageScore, score_links
from synth.writer import generate_province

TWO_LEVEL_SINCE = date(2025, 7, 1)  # Bắc Ninh and Bắc Giang merged; communes renamed and merged


@dataclass
class Result:
    system: str
    seconds: float
    score: LinkageScore
    mixed_citizen_ids: int  # identities whose local patients hold two different citizen IDs
    note: str = ""


def night_files(province: Path) -> list[Path]:
    return sorted(p for p in (province / "nights").glob("*/*") if p.is_file())


# --- provreg ---------------------------------------------------------------------------------


def run_provreg(province: Path, work: Path, train: bool) -> list[Result]:
    import psycopg

    from bench._registry import scratch_registry
    from bench.quality import MIXED_CITIZEN_IDS
    from registry.identity.links_export import export_links
    from registry.ingest import Submission, load_file

    def mixed(url: str) -> int:
        with psycopg.connect(url) as connection:
            return int(connection.execute(MIXED_CITIZEN_IDS).fetchone()[0])  # type: ignore[index]

    results = []
    with scratch_registry() as url:
        started = time.perf_counter()
        for path in night_files(province):
            load_file(url, path, LoaderOptions(), Submission(submitted_by="bench"))
        links = work / "provreg_links.csv"
        with links.open("wb") as out:
            export_links(url, out)
        seconds = time.perf_counter() - started
        results.append(
            Result("provreg (incremental, defaults)", seconds, score_links(links, province), mixed(url))
        )
        if train:
            from bench.quality import relink

            started = time.perf_counter()
            relink(url, train_first=True)
            trained = work / "provreg_trained_links.csv"
            with trained.open("wb") as out:
                export_links(url, out)
            extra = time.perf_counter() - started
            results.append(
                Result(
                    "provreg (+ EM train, re-link all)",
                    seconds + extra,
                    score_links(trained, province),
                    mixed(url),
                    note=f"load {seconds:.1f} s + train/re-link {extra:.1f} s",
                )
            )
    return results


# --- Splink input: what the facilities sent, read with provreg's loaders ---------------------

_LOOKALIKES = str.maketrans({"Ð": "Đ", "ð": "đ"})
_COMMUNE = re.compile(r"^\s*(?:xa|phuong|thi tran|dac khu)\s+(.+?)\s*$")


def nfc_lower(text: str) -> str:
    """Case and spacing folded, diacritics kept (Unicode NFC, so NFD input compares equal)."""
    return " ".join(unicodedata.normalize("NFC", text.translate(_LOOKALIKES)).lower().split())


def fold(text: str) -> str:
    """Without any diacritic, đ -> d: what a keyboard without Vietnamese input types."""
    decomposed = unicodedata.normalize("NFD", nfc_lower(text).replace("đ", "d"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def commune_name(address: str | None) -> str | None:
    """The folded commune name of a written address ('Thôn Tiền, Xã Huyền Sơn, ...' -> 'huyen son')."""
    for part in fold(address or "").split(","):
        match = _COMMUNE.match(part)
        if match:
            return match.group(1)
    return None


def splink_row(unique_id: int, patient: Patient, night: date) -> dict[str, object]:
    name = nfc_lower(patient.full_name)
    folded = fold(patient.full_name)
    words = folded.split()
    birth = patient.birth_date
    full_birth = birth is not None and birth.month is not None and birth.day is not None
    address = patient.address
    # Three-level (pre-merger) codes carry a district; two-level ones do not. Codes of the two eras
    # are different numbering of different units, so they only compare within an era.
    era = "three_level" if address.district_code else ("two_level" if night >= TWO_LEVEL_SINCE else None)
    return {
        "unique_id": unique_id,
        "facility_code": patient.facility_code,
        "local_id": patient.local_id,
        "full_name": name,
        "name_folded": folded or None,
        "name_sorted": " ".join(sorted(words)) or None,
        "family_given": f"{words[0]} {words[-1]}" if len(words) >= 2 else None,
        "given_folded": words[-1] if words else None,
        "birth_date": f"{birth.year:04d}-{birth.month:02d}-{birth.day:02d}" if full_birth else None,
        "birth_year": birth.year if birth else None,
        "birth_month": birth.month if full_birth else None,
        "birth_day": birth.day if full_birth else None,
        "sex": int(patient.sex) if patient.sex in (1, 2) else None,
        "citizen_id": patient.citizen_id,
        "social_insurance_number": patient.social_insurance_number,
        "phone": patient.phone,
        "commune_code": address.commune_code,
        "commune_era": era if address.commune_code else None,
        "commune_name": commune_name(address.text),
    }


def read_latest_patients(province: Path) -> tuple[list[dict[str, object]], int, int]:
    """One row per (facility_code, local_id): the patient of its last record in night order."""
    latest: dict[tuple[str, str], tuple[Patient, date]] = {}
    records = rejects = 0
    for path in night_files(province):
        night = date.fromisoformat(path.parent.name)
        with path.open("rb") as stream:
            for unit in read_units(stream, LoaderOptions()):
                if isinstance(unit, SourceRecord):
                    records += 1
                    latest[(unit.patient.facility_code, unit.patient.local_id)] = (unit.patient, night)
                elif not hasattr(unit, "format"):  # a Reject (the FileHeader has a format)
                    rejects += 1
    rows = [splink_row(i, patient, night) for i, (patient, night) in enumerate(latest.values())]
    return rows, records, rejects


# --- Splink model ------------------------------------------------------------------------------


def splink_settings():  # -> SettingsCreator
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    name = cl.CustomComparison(
        output_column_name="name",
        comparison_description="full name: with diacritics, folded, reordered, family+given, similar",
        comparison_levels=[
            cll.NullLevel("name_folded"),
            cll.ExactMatchLevel("full_name", term_frequency_adjustments=True),
            cll.ExactMatchLevel("name_folded", term_frequency_adjustments=True).configure(
                label_for_charts="same name without diacritics"
            ),
            cll.ExactMatchLevel("name_sorted").configure(label_for_charts="same words, another order"),
            cll.And(
                cll.ExactMatchLevel("family_given"),
                cll.JaroWinklerLevel("name_folded", 0.85),
            ).configure(label_for_charts="same family and given name (middle differs or dropped)"),
            cll.JaroWinklerLevel("name_folded", 0.94),
            cll.JaroWinklerLevel("name_folded", 0.85),
            cll.ElseLevel(),
        ],
    )
    birth = cl.CustomComparison(
        output_column_name="birth",
        comparison_levels=[
            cll.NullLevel("birth_year"),
            cll.ExactMatchLevel("birth_date"),
            cll.CustomLevel(
                "(birth_date_l IS NULL OR birth_date_r IS NULL) AND birth_year_l = birth_year_r",
                label_for_charts="same year, one side year only",
            ),
            cll.CustomLevel(
                "birth_year_l = birth_year_r AND birth_month_l = birth_day_r AND birth_day_l = birth_month_r",
                label_for_charts="day and month swapped",
            ),
            cll.DamerauLevenshteinLevel("birth_date", 1),
            cll.CustomLevel("abs(birth_year_l - birth_year_r) <= 1", label_for_charts="year within 1"),
            cll.ElseLevel(),
        ],
    )
    commune = cl.CustomComparison(
        output_column_name="commune",
        comparison_levels=[
            cll.CustomLevel(
                "(commune_code_l IS NULL OR commune_code_r IS NULL) "
                "AND (commune_name_l IS NULL OR commune_name_r IS NULL)"
            ).configure(is_null_level=True),
            cll.CustomLevel(
                "commune_era_l = commune_era_r AND commune_code_l = commune_code_r",
                label_for_charts="same commune code, same era",
            ),
            cll.ExactMatchLevel("commune_name").configure(label_for_charts="same commune name"),
            cll.CustomLevel(
                "commune_era_l IS DISTINCT FROM commune_era_r",
                label_for_charts="different admin eras (not comparable)",
            ),
            cll.ElseLevel(),
        ],
    )
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=[
            name,
            birth,
            cl.ExactMatch("sex"),
            cl.DamerauLevenshteinAtThresholds("citizen_id", [1]),
            cl.DamerauLevenshteinAtThresholds("social_insurance_number", [1]),
            cl.ExactMatch("phone"),
            commune,
        ],
        blocking_rules_to_generate_predictions=[
            block_on("citizen_id"),
            block_on("social_insurance_number"),
            block_on("phone"),
            block_on("name_folded", "birth_year"),
            block_on("family_given", "birth_year"),
            block_on("birth_date"),
        ],
        retain_intermediate_calculation_columns=False,
        additional_columns_to_retain=[],
    )


def run_splink(
    province: Path,
    work: Path,
    thresholds: list[float],
    threads: int,
    u_pairs: float,
    seed: int,
    verbose: bool,
) -> tuple[list[Result], dict[str, object]]:
    """Splink at thresholds[0] (timed end to end), then the same predictions clustered at the others."""
    import duckdb
    import pandas as pd
    import splink
    from splink import DuckDBAPI, Linker, block_on

    phases: dict[str, float] = {}
    started = clock = time.perf_counter()

    def lap(phase: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        phases[phase] = now - clock
        clock = now

    rows, records, rejects = read_latest_patients(province)
    frame = pd.DataFrame(rows)
    frame = frame.astype({c: "Int64" for c in ("birth_year", "birth_month", "birth_day", "sex")})
    lap("read")

    connection = duckdb.connect()
    connection.execute(f"SET threads = {threads}")
    db_api = DuckDBAPI(connection)
    log_level = logging.INFO if verbose else logging.WARNING
    # Splink 5: a table is registered with the database API, then given to the Linker.
    linker = Linker(db_api.register(frame, table_name="patients"), splink_settings(), log_level=log_level)

    # Prior: pairs sharing a citizen ID or a social-insurance number are almost surely one person,
    # but far from all pairs share one (children have no citizen ID, 9% of adults are uninsured,
    # cards are not always shown): assume these rules find 70% of the true pairs.
    linker.training.estimate_probability_two_random_records_match(
        [block_on("citizen_id"), block_on("social_insurance_number")], recall=0.7
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=u_pairs, seed=seed)
    lap("u")
    # m by EM, in two sessions; each cannot estimate the comparison it blocks on, the other does.
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("birth_date"), estimate_without_term_frequencies=True
    )
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("name_folded"), estimate_without_term_frequencies=True
    )
    lap("em")
    predictions = linker.inference.predict(threshold_match_probability=min([*thresholds, 0.5]))
    probabilities = predictions.as_pandas_dataframe()["match_probability"]
    by_id = frame.set_index("unique_id")[["facility_code", "local_id"]]

    def clustered(threshold: float) -> Path:
        clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
            predictions, threshold_match_probability=threshold
        ).as_pandas_dataframe()
        links = work / f"splink_links_{threshold:g}.csv"
        keys = by_id.loc[clusters["unique_id"].astype(int)]
        with links.open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(["facility_code", "local_patient_id", "master_patient_id"])
            writer.writerows(
                zip(
                    keys["facility_code"],
                    keys["local_id"],
                    (f"S{c}" for c in clusters["cluster_id"]),
                    strict=True,
                )
            )
        return links

    main_links = clustered(thresholds[0])
    lap("predict")
    seconds = time.perf_counter() - started
    citizen_ids = {
        (facility, local): cid
        for facility, local, cid in zip(
            frame["facility_code"], frame["local_id"], frame["citizen_id"], strict=True
        )
        if cid
    }

    def mixed(links: Path) -> int:
        held: dict[str, set[str]] = {}
        with links.open(newline="", encoding="utf-8") as rows:
            for row in csv.DictReader(rows):
                cid = citizen_ids.get((row["facility_code"], row["local_patient_id"]))
                if cid:
                    held.setdefault(row["master_patient_id"], set()).add(cid)
        return sum(len(ids) > 1 for ids in held.values())

    label = f"Splink {splink.__version__}"
    results = [
        Result(
            f"{label} p >= {thresholds[0]:g}",
            seconds,
            score_links(main_links, province),
            mixed(main_links),
            note="read {read:.1f} s, u {u:.1f} s, EM {em:.1f} s, predict+cluster {predict:.1f} s".format(
                **phases
            ),
        )
    ]
    for threshold in thresholds[1:]:
        results.append(
            Result(
                f"{label} p >= {threshold:g}",
                seconds,
                score_links(links := clustered(threshold), province),
                mixed(links),
                note="same model and predictions, another threshold (time not remeasured)",
            )
        )
    facts: dict[str, object] = {
        "splink": splink.__version__,
        "duckdb": duckdb.__version__,
        "records": records,
        "rejects": rejects,
        "local_patients": len(frame),
        "pairs": {t: int((probabilities >= t).sum()) for t in sorted({*thresholds, 0.5})},
    }
    return results, facts


# --- report ------------------------------------------------------------------------------------


def print_table(results: list[Result]) -> None:
    columns = [
        ("system", lambda r: r.system),
        ("precision", lambda r: f"{r.score.precision:.4f}"),
        ("recall", lambda r: f"{r.score.recall:.4f}"),
        ("F1", lambda r: f"{r.score.f1:.4f}"),
        ("B3 prec", lambda r: f"{r.score.bcubed_precision:.4f}"),
        ("B3 recall", lambda r: f"{r.score.bcubed_recall:.4f}"),
        ("false merge pairs", lambda r: f"{r.score.predicted_pairs - r.score.correct_pairs:,}"),
        ("missed pairs", lambda r: f"{r.score.true_pairs - r.score.correct_pairs:,}"),
        ("clusters", lambda r: f"{r.score.clusters:,}"),
        ("2 citizen IDs", lambda r: f"{r.mixed_citizen_ids:,}"),
        ("wall s", lambda r: f"{r.seconds:.1f}"),
    ]
    cells = [[name for name, _ in columns]] + [[cell(r) for _, cell in columns] for r in results]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    for n, row in enumerate(cells):
        print(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if n == 0:
            print("  ".join("-" * w for w in widths))
    first = results[0].score
    print("(2 citizen IDs: identities whose local patients hold two different valid citizen IDs)")
    print(
        f"\nscored local patients: {first.scored:,} ({first.persons:,} persons, {first.true_pairs:,} true pairs)"
    )
    for r in results:
        s = r.score
        merges = ", ".join(f"{k} {v:,}" for k, v in s.false_merges.items() if v) or "none"
        missed = ", ".join(
            f"{k} {v:,}" for k, v in sorted(s.missed_links.items(), key=lambda kv: -kv[1]) if v
        )
        print(f"{r.system}: false merges by kind: {merges}; missed pairs by noise: {missed or 'none'}")
        if s.missing_from_links or s.unknown_in_links:
            print(f"  missing from links {s.missing_from_links:,}, unknown in links {s.unknown_in_links:,}")
        if r.note:
            print(f"  time: {r.note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=50_000)
    parser.add_argument("--facilities", type=int, default=12)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threshold", type=float, default=0.99, help="Splink match probability to link")
    parser.add_argument(
        "--also",
        type=float,
        nargs="*",
        default=[0.9, 0.999],
        help="Splink: also cluster the same predictions at these thresholds (extra rows)",
    )
    parser.add_argument("--threads", type=int, default=1, help="DuckDB threads for Splink")
    parser.add_argument("--u-pairs", type=float, default=1e7, help="Splink: random pairs for u")
    parser.add_argument("--train", action="store_true", help="also provreg trained by EM, re-linked")
    parser.add_argument("--skip-provreg", action="store_true")
    parser.add_argument("--keep", type=Path, help="write the province and both links files here")
    parser.add_argument("--verbose", action="store_true", help="Splink's own log")
    args = parser.parse_args()

    holder = nullcontext(str(args.keep)) if args.keep else tempfile.TemporaryDirectory()
    with holder as folder:
        work = Path(folder)
        work.mkdir(parents=True, exist_ok=True)
        province = work / "province"
        summary = generate_province(
            province, persons=args.persons, facilities=args.facilities, days=args.days, seed=args.seed
        )
        print(
            f"province: {summary.persons:,} persons, {summary.facilities} facilities, {summary.nights} nights, "
            f"{summary.files} files, {summary.records:,} records ({summary.expected_rejects} expected rejects)"
        )
        results = []
        thresholds = [args.threshold, *(t for t in args.also if t != args.threshold)]
        splink_results, facts = run_splink(
            province, work, thresholds, args.threads, args.u_pairs, args.seed, args.verbose
        )
        pairs = ", ".join(f"{n:,} at p >= {t:g}" for t, n in facts["pairs"].items())
        print(
            f"Splink {facts['splink']} on DuckDB {facts['duckdb']} ({args.threads} thread(s)): "
            f"{facts['records']:,} records read by the loaders ({facts['rejects']} rejected), "
            f"{facts['local_patients']:,} local patients; predicted pairs: {pairs}"
        )
        if not args.skip_provreg:
            print("provreg: loading night by night with incremental matching ...", flush=True)
            results.extend(run_provreg(province, work, args.train))
        results.extend(splink_results)
        print()
        print_table(results)


if __name__ == "__main__":
    main()
