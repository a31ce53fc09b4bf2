"""Data-quality report benchmark: `provreg quality` on a registry of a million source patients.

    python bench/quality_report.py [--patients 1000000] [--facilities 50] [--nights 365] [--runs 7] [--explain]

Makes a scratch registry with SQL (generate_series, a fixed seed), shaped like a province's year:
`--facilities` facilities (5 hospitals of ~600 visits a night, 15 district centres of ~200, the
rest clinics of ~50), one nightly batch each for `--nights` nights, with 2% of nights missing, 1%
of files refused whole, 5% of nights with a second file, 0.5% of files sent again (duplicates),
0.3% of records rejected (reasons with varying quoted values), 4% of visits with a flagged field
(identifier and kind in realistic proportions), 70-96% of visits with a citizen ID by facility
(83% overall), and `--patients` source patients. Encounters are not made: the report does not
read them (nor source patients: they are there for the registry's size).

Then times `quality_report` (the one path of the CLI and the API) as an operator calls it: every
facility over the default 4 weeks (and the 4 before, for the trend), one facility, and every
facility over a whole year; then the same over GraphQL (`dataQuality`, every field, a steward's
token, the in-process application); each `--runs` times, printing the first run and the median.
`--explain` prints PostgreSQL's plans of the report's statements.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


import psycopg

from bench._registry import scratch_registry
from registry import quality
from registry.db.sql import run
from registry.quality import quality_report

END = date(2026, 11, 30)  # the last night of the registry's year

# Per facility i (1-based): its size and the share of its visits carrying a citizen ID.
_PLAN = """
SELECT setseed(0.42);
INSERT INTO facility (code, name, kind)
SELECT '27' || lpad(i::text, 3, '0'), 'Cơ sở y tế ' || i,
       CASE WHEN i <= 5 THEN 'hospital' WHEN i <= 20 THEN 'medical_centre' ELSE 'clinic' END
FROM generate_series(1, %(facilities)s) AS i;
CREATE TEMP TABLE plan AS
SELECT '27' || lpad(f::text, 3, '0') AS code, d::date AS night,
       round(CASE WHEN f <= 5 THEN 600 WHEN f <= 20 THEN 200 ELSE 50 END * (0.7 + 0.6 * random()))::int AS v,
       0.70 + 0.26 * ((f * 37) %% 100) / 100.0 AS share,
       random() AS r, random() AS second, random() AS again
FROM generate_series(1, %(facilities)s) AS f,
     generate_series(%(end)s::date - (%(nights)s - 1), %(end)s::date, interval '1 day') AS d;
"""

_BATCHES = """
-- The night's file, loaded (none for 2 nights in 100; 1 file in 100 is refused whole).
INSERT INTO ingest_batch (facility_code, channel, submitted_by, filename, content_sha256, size_bytes, format,
    status, records_in, loaded, updated, unchanged, rejected, received_at, finished_at, extract_date,
    declared_count, visits, visits_with_citizen_id)
SELECT code, 'http', 'bench', code || '-' || to_char(night, 'YYYYMMDD') || '.xml',
    md5(code || night) || md5(night || code), v * 4000, 'xml130', 'loaded',
    v + rej, v - upd - unch, upd, unch, rej, night + interval '1 day 2 hours',
    night + interval '1 day 2 hours 3 minutes', night, v + rej, v, round(v * (share + 0.04 * (random() - 0.5)))
FROM (SELECT *, round(v * 0.05)::int AS upd, round(v * 0.02)::int AS unch,
             floor(v * 0.003 + random())::int AS rej FROM plan) AS p
WHERE r >= 0.03;
-- Refused whole.
INSERT INTO ingest_batch (facility_code, channel, submitted_by, filename, content_sha256, size_bytes, format,
    status, error, received_at, finished_at, extract_date)
SELECT code, 'http', 'bench', code || '-' || to_char(night, 'YYYYMMDD') || '.xml',
    md5('refused' || code || night) || md5(night || code || 'refused'), v * 4000, 'xml130', 'rejected',
    CASE floor(random() * 4)
        WHEN 0 THEN 'SOLUONGHOSO says ' || (v + 1) || ' records, the file holds ' || v
        WHEN 1 THEN 'not well-formed XML: line ' || (v * 40) || ', column 12'
        WHEN 2 THEN 'not UTF-8: byte 0x' || to_hex(128 + floor(random() * 100)::int) || ' at offset ' || (v * 900)
        ELSE 'MACSKCB ''' || code || ''' is not the facility of the token (''27999'')'
    END,
    night + interval '1 day 2 hours', night + interval '1 day 2 hours 1 minute', night
FROM plan WHERE r >= 0.02 AND r < 0.03;
-- A second file for 5 nights in 100 (a CSV beside the XML, say).
INSERT INTO ingest_batch (facility_code, channel, submitted_by, filename, content_sha256, size_bytes, format,
    status, records_in, loaded, updated, unchanged, rejected, received_at, finished_at, extract_date,
    declared_count, visits, visits_with_citizen_id)
SELECT code, 'cli', 'bench', code || '-' || to_char(night, 'YYYYMMDD') || '.csv',
    md5('second' || code || night) || md5(night || code || 'second'), 9000, 'csv', 'loaded',
    w, w, 0, 0, 0, night + interval '1 day 3 hours', night + interval '1 day 3 hours 1 minute', night, NULL, w,
    round(w * share)
FROM (SELECT *, 1 + floor(v * 0.1)::int AS w FROM plan) AS p
WHERE r >= 0.03 AND second < 0.05;
-- The same bytes sent again (1 file in 200): closed as rejected, "already loaded".
INSERT INTO ingest_batch (facility_code, channel, submitted_by, filename, content_sha256, size_bytes, format,
    status, error, received_at, finished_at, extract_date)
SELECT code, 'http', 'bench', code || '-' || to_char(night, 'YYYYMMDD') || '.xml',
    md5(code || night) || md5(night || code), v * 4000, 'xml130', 'rejected', 'already loaded',
    night + interval '1 day 5 hours', night + interval '1 day 5 hours', night
FROM plan WHERE r >= 0.03 AND again > 0.995;
-- Last night's files still waiting on a few facilities, and one that failed.
UPDATE ingest_batch SET status = 'received', finished_at = NULL, extract_date = NULL, records_in = 0, loaded = 0,
    updated = 0, unchanged = 0, rejected = 0, visits = 0, visits_with_citizen_id = 0
WHERE extract_date = %(end)s AND status = 'loaded' AND facility_code IN ('27003', '27017', '27041');
UPDATE ingest_batch SET status = 'failed', error = 'loading failed 3 times (OperationalError)', records_in = 0,
    loaded = 0, updated = 0, unchanged = 0, rejected = 0, visits = 0, visits_with_citizen_id = 0
WHERE extract_date = %(end)s - 10 AND status = 'loaded' AND facility_code = '27030';
"""

_REJECTS = """
INSERT INTO ingest_reject (batch_id, position, locator, reason, excerpt)
SELECT b.id, g * 97, 'HOSO ' || (g * 97), CASE floor(random() * 8)
        WHEN 0 THEN 'MA_BN: missing'
        WHEN 1 THEN 'HO_TEN: missing'
        WHEN 2 THEN 'MA_BN: missing; HO_TEN: missing'
        WHEN 3 THEN 'NGAY_VAO: ''2026' || lpad((13 + floor(random() * 7))::text, 2, '0')
                    || '01'' is not a valid date (month ' || (13 + floor(random() * 7)) || ')'
        WHEN 4 THEN 'NGAY_VAO: ''' || to_char(b.extract_date + 400, 'YYYYMMDD') || ''' is in the future'
        WHEN 5 THEN 'NGAY_VAO: missing'
        WHEN 6 THEN 'MA_LK: missing'
        ELSE 'NGAY_RA: discharge time is before admission time'
    END, '<HOSO><MA_LK>' || b.id || '-' || g || '</MA_LK></HOSO>'
FROM ingest_batch b, generate_series(1, b.rejected) AS g
WHERE b.status = 'loaded' AND b.rejected > 0;
"""

_FLAGS = """
INSERT INTO ingest_flag (batch_id, position, ordinal, field, identifier, kind, reason, local_id, encounter_key)
SELECT b.id, g, 1, CASE WHEN k < 0.85 THEN 'SO_CCCD' WHEN k < 0.95 THEN 'MA_THE' ELSE 'MA_NOI_DI' END,
    CASE WHEN k < 0.85 THEN 'person_id' WHEN k < 0.95 THEN 'insurance_card' ELSE 'referral_facility' END,
    CASE WHEN k < 0.45 THEN 'inconsistent' WHEN k < 0.70 THEN 'repaired' ELSE 'malformed' END,
    CASE WHEN k < 0.45 THEN 'SO_CCCD: citizen ID digit 4 (3) says a woman, but the recorded sex is male'
         WHEN k < 0.70 THEN 'SO_CCCD: 11 digits: the leading zero restored'
         WHEN k < 0.85 THEN 'SO_CCCD: 10 digits, expected 12 (citizen ID) or 9 (old ID card)'
         WHEN k < 0.95 THEN 'MA_THE: 14 characters, expected 15'
         ELSE 'MA_NOI_DI: not a 5-character facility code' END,
    'BN' || b.id || '-' || g, 'LK' || b.id || '-' || g
FROM ingest_batch b,
     generate_series(1, round(b.visits * 0.04 * (0.5 + random()))::int) AS g,
     LATERAL (SELECT random() + g * 0 AS k) AS pick
WHERE b.status = 'loaded';
"""

_PATIENTS = """
INSERT INTO source_patient (facility_code, local_id, full_name, birth_year, birth_month, birth_day, sex,
    citizen_id, insurance_cards, social_insurance_number, content_sha256, first_batch_id, last_batch_id)
SELECT '27' || lpad((1 + i %% %(facilities)s)::text, 3, '0'), 'BN' || lpad(i::text, 9, '0'),
    (ARRAY['Nguyễn', 'Trần', 'Lê', 'Phạm', 'Hoàng', 'Vũ', 'Đặng', 'Bùi'])[1 + i %% 8] || ' '
        || (ARRAY['Văn', 'Thị', 'Đức', 'Minh', 'Ngọc'])[1 + i %% 5] || ' '
        || (ARRAY['An', 'Bình', 'Hùng', 'Lan', 'Hương', 'Nam', 'Phương', 'Tuấn', 'Mai', 'Long'])[1 + i %% 10],
    1930 + i %% 90, 1 + i %% 12, 1 + i %% 28, 1 + i %% 2,
    CASE WHEN i %% 6 <> 0 THEN '027' || lpad((i %% 1000000000)::text, 9, '0') END,
    ARRAY['DN427' || lpad(i::text, 10, '0')], lpad(i::text, 10, '0'), md5(i::text), 1, 1
FROM generate_series(1, %(patients)s) AS i;
"""


def build(url: str, patients: int, facilities: int, nights: int) -> None:
    params = {"patients": patients, "facilities": facilities, "nights": nights, "end": END}
    with psycopg.connect(url) as connection:
        for name, sql in (
            ("batches", _PLAN + _BATCHES),
            ("rejects", _REJECTS),
            ("flags", _FLAGS),
            ("source patients", _PATIENTS),
        ):
            started = time.perf_counter()
            with connection.transaction():
                for statement in sql.split(";\n"):
                    if statement.strip():
                        connection.execute(statement, params)  # type: ignore[union-attr]
            print(f"  made {name} in {time.perf_counter() - started:.1f} s", flush=True)
        connection.autocommit = True  # type: ignore[union-attr]
        connection.execute("VACUUM ANALYZE")  # type: ignore[union-attr]
        counts = connection.execute(  # type: ignore[union-attr]
            "SELECT (SELECT count(*) FROM facility), (SELECT count(*) FROM ingest_batch),"
            " (SELECT count(*) FROM ingest_batch WHERE status = 'rejected'),"
            " (SELECT sum(records_in) FROM ingest_batch), (SELECT sum(visits) FROM ingest_batch),"
            " (SELECT round(100.0 * sum(visits_with_citizen_id) / sum(visits), 1) FROM ingest_batch),"
            " (SELECT count(*) FROM ingest_reject), (SELECT count(*) FROM ingest_flag),"
            " (SELECT count(*) FROM source_patient)"
        ).fetchone()
    f, b, refused, records, visits, share, rejects, flags, sources = counts
    print(
        f"registry: {f} facilities, {b:,} batches ({refused:,} rejected whole or resent), {records:,} records "
        f"({visits:,} visits, {share}% with a citizen ID), {rejects:,} rejected records, {flags:,} flagged "
        f"fields, {sources:,} source patients"
    )


def timed(url: str, runs: int, **options: object) -> tuple[float, float, float]:
    """First run, median and max of `runs` calls of the report, in milliseconds."""
    times = []
    with psycopg.connect(url) as connection:
        for _ in range(runs):
            started = time.perf_counter()
            report = run(connection, quality_report(**options))  # type: ignore[arg-type]
            report.as_json()
            times.append((time.perf_counter() - started) * 1000)
    return times[0], statistics.median(times), max(times)


_COUNTS = (
    "files filesLoaded filesRefused filesDuplicate filesWaiting filesFailed recordsIn loaded updated unchanged"
    " rejected flagged visits visitsWithCitizenId citizenIdShare"
)
QUERY = f"""
query($since: Date, $until: Date) {{
  dataQuality(since: $since, until: $until) {{
    since until previousSince previousUntil unattributedFiles
    facilities {{
      code name firstNight missingNights
      period {{ nights nightsLoaded nightsMissing nightsNotLoaded {_COUNTS} }}
      previous {{ nights nightsLoaded nightsMissing nightsNotLoaded {_COUNTS} }}
      nights {{ night missing {_COUNTS} }}
      rejectReasons {{ field reason count }}
      flags {{ identifier kind count }}
      fileRefusals {{ reason count }}
    }}
  }}
}}
"""


def timed_api(url: str, runs: int, since: date, until: date) -> tuple[float, float, float, int]:
    """The same over GraphQL (a steward's token, the in-process app, every field): first, median, max
    in milliseconds, and the answer's size."""
    from starlette.testclient import TestClient

    from registry.access.roles import Role
    from registry.access.tokens import create_token
    from registry.api.app import create_app
    from registry.api.config import ApiConfig

    with psycopg.connect(url) as connection:
        token = create_token(connection, name="bench", role=Role.STEWARD, created_by="bench").secret
    variables = {"since": since.isoformat(), "until": until.isoformat()}
    times, size = [], 0
    with (
        tempfile.TemporaryDirectory() as home,
        TestClient(create_app(url, Path(home), ApiConfig())) as client,
    ):
        for _ in range(runs):
            started = time.perf_counter()
            answer = client.post(
                "/graphql",
                json={"query": QUERY, "variables": variables},
                headers={"Authorization": f"Bearer {token}"},
            )
            times.append((time.perf_counter() - started) * 1000)
            assert answer.status_code == 200 and "errors" not in answer.json(), answer.text[:500]
            size = len(answer.content)
    return times[0], statistics.median(times), max(times), size


def explain(url: str, since: date, until: date) -> None:
    period = quality.report_period(since, until)
    params = {"facility": None, "since": period.since, "until": period.until}
    with psycopg.connect(url) as connection:
        for name, sql, start in (
            ("nights", quality._NIGHTS, period.previous.since),
            ("breakdowns", quality._BREAKDOWNS, period.since),
        ):
            plan = [
                line
                for (line,) in connection.execute(
                    "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql, {**params, "from": start}
                )
            ]
            print(f"\n-- {name}\n" + "\n".join(plan))


def _probe() -> float:
    """CPU milliseconds of bench/api.py's fixed Python workload: how fast the machine is now."""
    started = time.process_time()
    total = 0
    for i in range(3_000_000):
        total += i % 7
    return (time.process_time() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=1_000_000)
    parser.add_argument("--facilities", type=int, default=50)
    parser.add_argument("--nights", type=int, default=365)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--explain", action="store_true")
    args = parser.parse_args()
    print(f"a fixed Python loop took {_probe():.0f} ms (this machine's speed varies)", flush=True)
    with scratch_registry() as url:
        print("making the registry...", flush=True)
        build(url, args.patients, args.facilities, args.nights)
        four_weeks = {"since": END - timedelta(days=27), "until": END}
        year = {"since": END - timedelta(days=365), "until": END}
        for label, options in (
            ("every facility, 4 weeks (and the 4 before)", four_weeks),
            ("one facility (27001), 4 weeks", {**four_weeks, "facility": "27001"}),
            ("every facility, a year (366 nights, and the 366 before)", year),
        ):
            first, median, worst = timed(url, args.runs, **options)
            print(
                f"{label}: first {first:.0f} ms, median {median:.0f} ms, max {worst:.0f} ms ({args.runs} runs)"
            )
        for label, (since, until) in (
            ("GraphQL dataQuality, every facility, 4 weeks", (END - timedelta(days=27), END)),
            ("GraphQL dataQuality, every facility, a year", (END - timedelta(days=365), END)),
        ):
            first, median, worst, size = timed_api(url, args.runs, since, until)
            print(
                f"{label}: first {first:.0f} ms, median {median:.0f} ms, max {worst:.0f} ms ({args.runs} runs,"
                f" {size / 1e3:,.0f} kB)"
            )
        if args.explain:
            explain(url, END - timedelta(days=27), END)
    print(f"a fixed Python loop took {_probe():.0f} ms", flush=True)


if __name__ == "__main__":
    main()
