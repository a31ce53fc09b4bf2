"""Matching speed: a 50,000-record night matched against a registry of a million, and a batch re-link.

    python bench/matching_speed.py [--records 1000000] [--persons N] [--night 50000] [--processes 2]
    python bench/matching_speed.py --persons 50000          # a smaller run (records = 1.25 x persons)

Builds a scratch registry quickly, without the file loaders: the synthetic province's people
(`synth`: households, Vietnamese names, identifiers, addresses) are registered at one to
three facilities each with each facility's registration noise (typos, no diacritics, year-only
births, citizen-ID typos, duplicate registrations, ...), COPYed into `source_patient`, given one
master identity per person (a record with a mistyped citizen ID gets its own, as the registry
would) and indexed under their blocking keys. Then it times

(a) the incremental step of one night: new source patients (existing people seen at another
    facility, and new people) inserted as the ingest does, their ids in `patient_result`, and
    `link_changed_patients` in one transaction; the night's links are checked against the truth;
(b) `relink_all` over every source patient.

and prints records, pairs scored and seconds per phase for each.
"""

from __future__ import annotations

import argparse
import hashlib
import resource
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from functools import wraps
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg

from bench._registry import scratch_registry
from loaders.identifiers import InvalidIdentifier, PersonIdKind, read_person_id
from synth.facilities import VISIT_WEIGHTS, Facility, build_facilities
from synth.population import Person, generate_household
from synth.recording import record_patient, register
from synth.rng import stream

SEED = 20250801
REFERENCE = date(2025, 6, 16)  # the population's reference day
FIRST_DAY, LAST_DAY = date(2024, 1, 1), date(2025, 7, 31)  # registrations already in the registry
NIGHT = date(2025, 8, 1)  # after the merger: two-level addresses, some still in the old form
NIGHT_BATCH_SHA = "0" * 64
RECORDS_PER_PERSON = 1.25
SECOND_REGISTRATION = 0.02  # of registrations: the person registered twice at the facility
HOUSEHOLDS_PER_SHARD = 10_000_000  # household numbers of different shards never meet
NEW_PEOPLE_SHARD = 9

_COLUMNS = (
    "facility_code", "local_id", "full_name", "birth_year", "birth_month", "birth_day", "sex",
    "citizen_id", "old_id_number", "insurance_cards", "social_insurance_number", "phone",
    "address_text", "province_code", "district_code", "commune_code", "ethnicity_code",
    "content_sha256", "created_at", "updated_at",
)  # fmt: skip


@dataclass(frozen=True)
class Shard:
    """People [first, stop) of the population, from their own run of household numbers."""

    seed: int
    number: int
    first: int
    stop: int
    facilities: int
    spread: float  # share of people registered at more than one facility
    night_share: float  # share of these people who come to a new facility on the night
    night: bool = False  # new people: every one of them is a record of the night


@dataclass
class Rows:
    registry: list[tuple[Any, ...]]  # source_patient columns, then identity, person
    night: list[tuple[Any, ...]]
    rejected: int  # registrations the loaders would reject (a child under a parent's citizen ID, ...)


def _people(shard: Shard) -> Iterator[Person]:
    first, household = shard.first, shard.number * HOUSEHOLDS_PER_SHARD
    while first < shard.stop:
        members = generate_household(shard.seed, household, first, REFERENCE, shard.stop - first).members
        yield from members
        first += len(members)
        household += 1


def _row(
    person: Person, facility: Facility, slot: int, day: date, seed: int, *, second: bool = False
) -> tuple[Any, ...] | None:
    registration = register(person, facility, seed, second=second)
    rng = stream(seed, "bench visit", facility.code, person.index, second)
    recorded = record_patient(person, facility, registration, day, seed, rng)
    if recorded.rejected:
        return None
    patient = recorded.patient
    born, address = patient.birth_date, patient.address
    citizen_id = _kept_citizen_id(patient.citizen_id, patient.sex, born.year if born else None)
    # One identity per person; a record whose citizen ID is not the person's (a typo) founds its own.
    mistyped = citizen_id is not None and citizen_id != person.citizen_id
    identity = person.index * 64 + (1 + slot if mistyped else 0)
    digest = hashlib.sha256(f"{patient.local_id}|{patient.full_name}|{day}".encode()).hexdigest()
    stamp = f"{day.isoformat()} 12:00:00+07"
    return (
        patient.facility_code, patient.local_id, patient.full_name,
        born.year if born else None, born.month if born else None, born.day if born else None,
        int(patient.sex) if patient.sex else None, citizen_id, patient.old_id_number,
        list(patient.insurance_cards), patient.social_insurance_number, patient.phone,
        address.text, address.province_code, address.district_code, address.commune_code,
        patient.ethnicity_code, digest, stamp, stamp, identity, person.index,
    )  # fmt: skip


def _kept_citizen_id(sent: str | None, sex: int | None, birth_year: int | None) -> str | None:
    """What the loaders keep of a citizen ID as sent: a suspect one left out, a repairable one repaired."""
    if sent is None:
        return None
    try:
        found = read_person_id(sent, sex=sex, birth_year=birth_year)
    except InvalidIdentifier:
        return None
    return found.value if found.kind is PersonIdKind.CITIZEN_ID else None


def _keep(rows: Rows, into: list[tuple[Any, ...]], row: tuple[Any, ...] | None) -> None:
    if row is None:
        rows.rejected += 1
    else:
        into.append(row)


def generate_shard(shard: Shard) -> Rows:
    """The registry's records of these people, and the night's (a process-pool task)."""
    sites = [f for f in build_facilities(shard.facilities, shard.seed) if f.format is not None]
    weights = [VISIT_WEIGHTS[f.kind] for f in sites]
    span = (LAST_DAY - FIRST_DAY).days
    rows = Rows([], [], 0)
    for person in _people(shard):
        rng = stream(shard.seed, "bench person", person.index)
        if shard.night:
            _keep(rows, rows.night, _row(person, rng.choices(sites, weights)[0], 0, NIGHT, shard.seed))
            continue
        count = 1 if rng.random() >= shard.spread else (2 if rng.random() < 0.75 else 3)
        chosen: list[Facility] = []
        while len(chosen) < count:
            site = rng.choices(sites, weights)[0]
            if site not in chosen:
                chosen.append(site)
        registered: dict[str, tuple[bool, ...]] = {}
        for slot, site in enumerate(chosen):
            day = FIRST_DAY + timedelta(days=rng.randrange(span))
            registered[site.code] = (False, True) if rng.random() < SECOND_REGISTRATION else (False,)
            for second in registered[site.code]:
                _keep(
                    rows, rows.registry, _row(person, site, 2 * slot + second, day, shard.seed, second=second)
                )
        if rng.random() < shard.night_share:
            others = [s for s in sites if s not in chosen]
            again = not others or rng.random() < 0.05  # registered again where already known
            site = chosen[0] if again else rng.choices(others, [VISIT_WEIGHTS[s.kind] for s in others])[0]
            if not again or len(registered[site.code]) == 1:
                _keep(rows, rows.night, _row(person, site, 2 * len(sites), NIGHT, shard.seed, second=again))
    return rows


@dataclass(frozen=True)
class Province:
    persons: int
    new_persons: int
    registry: list[tuple[Any, ...]]
    night: list[tuple[Any, ...]]
    rejected: int
    seconds: float


def generate(persons: int, records: int, night: int, processes: int, facilities: int) -> Province:
    started = time.perf_counter()
    spread = min(max((records / persons - 1 - SECOND_REGISTRATION) / 1.25, 0.0), 0.9)
    existing = round(night * 0.6)
    new = night - existing
    shards = max(processes * 4, 1)
    bounds = [persons * i // shards for i in range(shards + 1)]
    tasks = [
        Shard(SEED, i, bounds[i], bounds[i + 1], facilities, spread, existing / persons)
        for i in range(shards)
    ]
    tasks.append(Shard(SEED, NEW_PEOPLE_SHARD, persons, persons + new, facilities, 0.0, 0.0, night=True))
    registry: list[tuple[Any, ...]] = []
    night_rows: list[tuple[Any, ...]] = []
    rejected = 0
    with ProcessPoolExecutor(processes) as pool:
        for rows in pool.map(generate_shard, tasks):
            registry.extend(rows.registry)
            night_rows.extend(rows.night)
            rejected += rows.rejected
    return Province(persons, new, registry, night_rows, rejected, time.perf_counter() - started)


# --- loading ----------------------------------------------------------------------------------


def _copy(connection: psycopg.Connection[Any], table: str, columns: tuple[str, ...], rows: Any) -> None:
    with (
        connection.cursor() as cursor,
        cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)


def load_registry(connection: psycopg.Connection[Any], province: Province, facilities: int) -> int:
    """The registry before the night: source patients, one master identity per person, links.
    Returns the registry's batch id (the night gets another)."""
    sites = build_facilities(facilities, SEED)
    _copy(connection, "facility", ("code", "name"), ((f.code, f.name) for f in sites))
    batch = connection.execute(
        "INSERT INTO ingest_batch (facility_code, channel, submitted_by, content_sha256, size_bytes, status)"
        " VALUES (NULL, 'cli', 'bench', %s, 0, 'loaded') RETURNING id",
        ("1" * 64,),
    ).fetchone()
    assert batch is not None
    width = len(_COLUMNS)
    _copy(
        connection,
        "source_patient",
        (*_COLUMNS, "first_batch_id", "last_batch_id"),
        ((*row[:width], batch[0], batch[0]) for row in province.registry),
    )
    connection.execute(
        "CREATE TEMP TABLE bench_truth (facility_code text, local_id text, identity bigint, person bigint)"
    )
    _copy(
        connection,
        "bench_truth",
        ("facility_code", "local_id", "identity", "person"),
        ((row[0], row[1], row[width], row[width + 1]) for row in province.registry),
    )
    connection.execute("ANALYZE source_patient")
    connection.execute("ANALYZE bench_truth")
    connection.execute(
        "CREATE TEMP TABLE bench_identity AS"
        " SELECT t.identity, min(sp.id) AS founder, min(sp.citizen_id) AS citizen_id"
        " FROM bench_truth t JOIN source_patient sp USING (facility_code, local_id) GROUP BY t.identity"
    )
    # An identity holds its citizen ID unless another (a typo that hit someone's real ID) took it.
    connection.execute(
        "INSERT INTO master_patient (founded_by_source_patient_id, citizen_id)"
        " SELECT founder, CASE WHEN rank() OVER (PARTITION BY citizen_id ORDER BY identity) = 1"
        " THEN citizen_id END FROM bench_identity ORDER BY founder"
    )
    connection.execute(
        "INSERT INTO patient_link (source_patient_id, master_patient_id, method, decided_by, batch_id)"
        " SELECT sp.id, m.id, CASE WHEN sp.id = i.founder THEN 'new_identity' ELSE 'score' END, 'bench', %s"
        " FROM bench_truth t JOIN source_patient sp USING (facility_code, local_id)"
        " JOIN bench_identity i USING (identity)"
        " JOIN master_patient m ON m.founded_by_source_patient_id = i.founder ORDER BY sp.id",
        (batch[0],),
    )
    for table in ("master_patient", "patient_link"):
        connection.execute(f"ANALYZE {table}")
    return int(batch[0])


def insert_night(connection: psycopg.Connection[Any], province: Province) -> int:
    """The night's source patients, inserted as the ingest merges them; their ids in patient_result."""
    batch = connection.execute(
        "INSERT INTO ingest_batch (facility_code, channel, submitted_by, content_sha256, size_bytes, status)"
        " VALUES (NULL, 'cli', 'bench', %s, 0, 'loading') RETURNING id",
        (NIGHT_BATCH_SHA,),
    ).fetchone()
    assert batch is not None
    width = len(_COLUMNS)
    connection.execute("CREATE TEMP TABLE night_truth (facility_code text, local_id text, person bigint)")
    _copy(
        connection,
        "night_truth",
        ("facility_code", "local_id", "person"),
        ((row[0], row[1], row[width + 1]) for row in province.night),
    )
    connection.execute(
        "CREATE TEMP TABLE stg_night ON COMMIT DROP AS SELECT * FROM source_patient WITH NO DATA"
    )
    _copy(connection, "stg_night", _COLUMNS, (row[:width] for row in province.night))
    columns = ", ".join(_COLUMNS)
    connection.execute(
        "CREATE TEMP TABLE patient_result ON COMMIT DROP AS WITH upserted AS ("
        f" INSERT INTO source_patient ({columns}, first_batch_id, last_batch_id)"
        f" SELECT {columns}, %(batch)s, %(batch)s FROM stg_night ORDER BY facility_code, local_id"
        " RETURNING id) SELECT id FROM upserted",
        {"batch": batch[0]},
    )
    return int(batch[0])


NIGHT_CHECK = """
WITH current AS (
    SELECT source_patient_id, master_patient_id FROM patient_link WHERE superseded_at IS NULL
), night AS (
    SELECT t.person, c.master_patient_id AS master
    FROM night_truth t JOIN source_patient sp USING (facility_code, local_id)
    JOIN current c ON c.source_patient_id = sp.id
), known AS (
    SELECT DISTINCT b.person, c.master_patient_id AS master
    FROM bench_truth b JOIN source_patient sp USING (facility_code, local_id)
    JOIN current c ON c.source_patient_id = sp.id
), masters AS (
    SELECT master, count(*) AS people, min(person) AS some_person FROM known GROUP BY master
)
SELECT
    count(*),
    count(*) FILTER (WHERE kp.person IS NOT NULL),
    count(*) FILTER (WHERE m.master IS NOT NULL),
    count(*) FILTER (WHERE k.person IS NOT NULL),
    count(*) FILTER (WHERE m.people > 1 OR m.some_person <> n.person)
FROM night n
LEFT JOIN (SELECT DISTINCT person FROM known) kp ON kp.person = n.person
LEFT JOIN masters m ON m.master = n.master
LEFT JOIN known k ON k.master = n.master AND k.person = n.person
"""


# Every source patient's person (the truth), and current links.
_PEOPLE_NOW = """
WITH current AS (
    SELECT source_patient_id, master_patient_id FROM patient_link WHERE superseded_at IS NULL
), people AS (
    SELECT t.person, sp.id, 'night' AS side FROM night_truth t JOIN source_patient sp USING (facility_code, local_id)
    UNION ALL
    SELECT b.person, sp.id, 'registry' FROM bench_truth b JOIN source_patient sp USING (facility_code, local_id)
)"""

# Identities holding two or more people after the night, among those holding a night's record:
# the night's false merges, the new people's among themselves included.
MIXED_IDENTITIES = (
    _PEOPLE_NOW
    + """
SELECT count(*) FROM (
    SELECT c.master_patient_id FROM current c JOIN people p ON p.id = c.source_patient_id
    WHERE c.master_patient_id IN (
        SELECT c.master_patient_id FROM people n JOIN current c ON c.source_patient_id = n.id WHERE n.side = 'night'
    )
    GROUP BY 1 HAVING count(DISTINCT p.person) > 1
) mixed
"""
)

# The night's records that joined an identity holding another person's records, beside those records.
FALSE_MERGES = (
    _PEOPLE_NOW
    + """, wrong AS (
    SELECT DISTINCT c.master_patient_id AS master
    FROM people n JOIN current c ON c.source_patient_id = n.id
    JOIN current o ON o.master_patient_id = c.master_patient_id AND o.source_patient_id <> n.id
    JOIN people p ON p.id = o.source_patient_id
    WHERE n.side = 'night' AND p.person <> n.person
    LIMIT 5
)
SELECT w.master, p.side, p.person, sp.facility_code, sp.full_name, sp.birth_year, sp.birth_month, sp.birth_day,
       sp.sex, sp.citizen_id, sp.phone, sp.commune_code, l.method, round(l.score::numeric, 1)
FROM wrong w JOIN current c ON c.master_patient_id = w.master JOIN people p ON p.id = c.source_patient_id
JOIN source_patient sp ON sp.id = p.id
JOIN patient_link l ON l.source_patient_id = sp.id AND l.superseded_at IS NULL
ORDER BY w.master, p.side, p.person
"""
)


# --- timing -----------------------------------------------------------------------------------


class Phases:
    """Seconds, calls and items returned per phase, gathered by wrapping the functions the linking step calls."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.items: dict[str, int] = defaultdict(int)

    def timed(self, phase: str, function: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(function)
        def run(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                result = function(*args, **kwargs)
                self.items[phase] += len(result) if hasattr(result, "__len__") else 0
                return result
            finally:
                self.seconds[phase] += time.perf_counter() - started
                self.calls[phase] += 1

        return run


@contextmanager
def instrumented(phases: Phases) -> Iterator[None]:
    """Time the incremental step's phases (the decision logic itself is not touched)."""
    from registry.identity import load_linking as incremental
    from registry.identity.load_scoring import LoadScoring

    wrapped = {
        "person_rows": "prepare",
        "stage_keys": "keys",
        "store_staged_keys": "keys",
        "load_candidate_pairs": "candidates",
        "found_identities": "writing",
        "_claim_citizen_ids": "writing",
        "write_links": "writing",
        "_queue_reviews": "writing",
    }
    methods = {
        "prepare": "prepare",
        "start_scoring": "scoring",
        "verdicts": "scoring",
        "explain": "explaining",
    }
    saved = {name: getattr(incremental, name) for name in wrapped}
    saved_methods = {name: getattr(LoadScoring, name) for name in methods}
    try:
        for name, phase in wrapped.items():
            setattr(incremental, name, phases.timed(phase, saved[name]))
        for name, phase in methods.items():
            setattr(LoadScoring, name, phases.timed(phase, saved_methods[name]))
        yield
    finally:
        for name, function in saved.items():
            setattr(incremental, name, function)
        for name, function in saved_methods.items():
            setattr(LoadScoring, name, function)


def _line(label: str, seconds: float, extra: str = "") -> None:
    print(f"  {label:<44}{seconds:8.1f} s  {extra}")


def run_night(connection: psycopg.Connection[Any], province: Province) -> None:
    from registry.identity.load_linking import link_changed_patients

    phases = Phases()
    with connection.transaction():
        insert_night(connection, province)
        records = connection.execute("SELECT count(*) FROM patient_result").fetchone()
        started = time.perf_counter()
        with instrumented(phases):
            links = link_changed_patients(connection).total()
        total = time.perf_counter() - started
        reviews = connection.execute("SELECT count(*) FROM match_review").fetchone()
    check = connection.execute(NIGHT_CHECK).fetchone()
    assert records and reviews and check
    print(f"\n(a) incremental linking of one night: {records[0]:,} new source patients")
    _line("prepare (read records, prepare the night's)", phases.seconds["prepare"])
    _line("keys (staged; indexed while scoring)", phases.seconds["keys"])
    _line("candidates (key-index join)", phases.seconds["candidates"])
    _line(
        "scoring (prepare candidates, score, decide)",
        phases.seconds["scoring"],
        f"{phases.items['scoring']:,} pairs scored (keys indexed meanwhile)",
    )
    _line("explaining (links and reviews kept)", phases.seconds["explaining"])
    _line("writing (identities, links, reviews)", phases.seconds["writing"])
    accounted = sum(phases.seconds.values())
    _line("other (decision loop, bookkeeping)", total - accounted)
    _line("total link_changed_patients", total, f"{links:,} links made, {reviews[0]:,} reviews queued")
    night, known, joined, right, wrong = check
    print(
        f"  truth: {known:,} of {night:,} are people already in the registry; {joined:,} joined an existing"
        f" identity, {right:,} their own, {wrong:,} someone else's (false merges)"
    )
    mixed = connection.execute(MIXED_IDENTITIES).fetchone()
    assert mixed
    print(f"  identities holding two or more people after the night (all its false merges): {mixed[0]:,}")
    for row in connection.execute(FALSE_MERGES).fetchall():  # synthetic people: shown to be looked into
        print("  false merge:", " | ".join("-" if value is None else str(value) for value in row))


def run_relink(connection: psycopg.Connection[Any], processes: int) -> None:
    from registry.identity.batch_relink import relink_all

    started = time.perf_counter()
    with connection.transaction():
        summary = relink_all(connection, decided_by="bench", processes=processes)
    total = time.perf_counter() - started
    print(f"\n(b) batch re-link of {summary.records:,} source patients ({processes} processes)")
    for phase, seconds in summary.phases.items():
        extra = f"{summary.pairs_scored:,} pairs scored" if phase.startswith("scoring") else ""
        _line(phase, seconds, extra)
    _line("total relink_all (with commit)", total)
    print(
        f"  {summary.identities:,} identities, {summary.links_changed:,} links changed,"
        f" {summary.reviews:,} reviews, {summary.refused_links:,} links refused"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, help="source patients before the night (default 1,000,000)")
    parser.add_argument("--persons", type=int, help="people behind them (default records / 1.25)")
    parser.add_argument("--night", type=int, default=50_000, help="the night's new source patients")
    parser.add_argument("--facilities", type=int, default=12)
    parser.add_argument("--processes", type=int, default=2, help="for generating data and for relink_all")
    parser.add_argument("--skip-night", action="store_true")
    parser.add_argument("--skip-relink", action="store_true")
    args = parser.parse_args()
    if args.records is None:
        args.records = round(args.persons * RECORDS_PER_PERSON) if args.persons else 1_000_000
    persons = args.persons or round(args.records / RECORDS_PER_PERSON)
    province = generate(persons, args.records, args.night, args.processes, args.facilities)
    print(
        f"generated {len(province.registry):,} source patients of {persons:,} people and a night of"
        f" {len(province.night):,} ({province.new_persons:,} new people) in {province.seconds:.1f} s"
        f" ({province.rejected:,} registrations the loaders would reject left out)"
    )
    with scratch_registry() as url, psycopg.connect(url) as connection:
        started = time.perf_counter()
        with connection.transaction():
            load_registry(connection, province, args.facilities)
        loaded = time.perf_counter() - started
        started = time.perf_counter()
        with connection.transaction():
            from registry.identity.batch_relink import rebuild_keys

            keys = rebuild_keys(connection, processes=args.processes)
        connection.execute("ANALYZE blocking_key")
        masters = connection.execute("SELECT count(*) FROM master_patient").fetchone()
        assert masters
        print(
            f"registry: {len(province.registry):,} source patients, {masters[0]:,} master identities,"
            f" COPY in {loaded:.1f} s; {keys:,} blocking keys in {time.perf_counter() - started:.1f} s"
        )
        if not args.skip_night:
            run_night(connection, province)
        if not args.skip_relink:
            run_relink(connection, args.processes)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak memory of the benchmark process: {peak:,.0f} MiB")


if __name__ == "__main__":
    main()
