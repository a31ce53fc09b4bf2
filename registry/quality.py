"""The data-quality report: per facility and night, what was sent and how well.

For each facility and each night (a batch's `extract_date`: the night its file covers) of a
period, and for the period of the same length before it (the trend):

- files received, by outcome: loaded, refused whole (the file's fault), sent again when the same
  bytes were already loaded (duplicate), waiting to be loaded, failed (provreg's fault);
- nights with no file at all, counted from the facility's first extract to the period's end (a
  missing night is as important as a bad one), and nights whose files came but none loaded;
- records in = loaded + updated + unchanged + rejected, of the files loaded;
- rejected records by reason, flagged fields by identifier and kind, files refused by reason;
- visits, and how many of them carry a valid (or repaired) citizen ID.

Reasons are grouped by field and a stable form of the message: the values a message quotes are
written `…` and its numbers `#` (`NGAY_VAO: … is not a valid date (month #)`), so one problem
makes one group whatever the records held, and no value of a record leaves the registry through
the report (admins, who may not read rejects, read it). A record refused for two reasons counts
under each.

PostgreSQL does the aggregation, in three statements (the facilities; their nights with the
period totals; the breakdowns) and a count of the files no facility owns; the CLI (`provreg quality`) and the API (`dataQuality`) both call
`quality_report`. A batch without an extract date (received, not loaded yet; refused before it
could be dated) counts on the date it was received, as the load dates a file it cannot date.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from registry.db.sql import Query, Steps, value

DEFAULT_NIGHTS = 28
MAX_NIGHTS = 366
# "Last night" is last night in Vietnam (UTC+7, no daylight saving time).
_PROVINCE_TIME = timedelta(hours=7)


class PeriodError(ValueError):
    """The period asked for cannot be reported (it ends before it starts, or is too long)."""


@dataclass(frozen=True)
class Period:
    since: date
    until: date

    @property
    def nights(self) -> int:
        return (self.until - self.since).days + 1

    @property
    def previous(self) -> Period:
        """The period of the same length just before this one."""
        return Period(self.since - timedelta(days=self.nights), self.since - timedelta(days=1))


def report_period(since: date | None = None, until: date | None = None, today: date | None = None) -> Period:
    """The nights to report: `until` defaults to last night (in Vietnam), `since` to 27 nights before it."""
    if today is None:
        today = (datetime.now(UTC) + _PROVINCE_TIME).date()
    if until is None:
        until = today - timedelta(days=1)
    if since is None:
        since = until - timedelta(days=DEFAULT_NIGHTS - 1)
    if since > until:
        raise PeriodError(f"the period ends ({until}) before it starts ({since})")
    period = Period(since, until)
    if period.nights > MAX_NIGHTS:
        raise PeriodError(f"a report covers at most {MAX_NIGHTS} nights, not {period.nights}")
    return period


@dataclass(frozen=True, kw_only=True)
class Counts:
    """What the files of some nights brought (records and visits: of the files loaded)."""

    files: int = 0
    files_loaded: int = 0
    files_refused: int = 0  # refused whole: unreadable, counts disagreeing, facility unknown, ...
    files_duplicate: int = 0  # the same bytes as a file already loaded, sent again
    files_waiting: int = 0  # received or loading
    files_failed: int = 0  # provreg failed to load it (not the file's fault)
    records_in: int = 0
    loaded: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    flagged: int = 0  # flagged fields of stored records (suspect identifiers, mostly)
    visits: int = 0
    visits_with_citizen_id: int = 0

    @property
    def citizen_id_share(self) -> float | None:
        """The share of visits carrying a valid (or repaired) citizen ID; None without visits."""
        return round(self.visits_with_citizen_id / self.visits, 4) if self.visits else None


@dataclass(frozen=True, kw_only=True)
class Figures(Counts):
    """A facility's period: its nights (from its first extract on) and what they brought."""

    nights: int = 0
    nights_loaded: int = 0  # at least one file loaded
    nights_missing: int = 0  # no file at all
    nights_not_loaded: int = 0  # files came, none loaded (refused, duplicate, waiting, failed)


@dataclass(frozen=True, kw_only=True)
class Night(Counts):
    night: date

    @property
    def missing(self) -> bool:
        return self.files == 0


@dataclass(frozen=True)
class ReasonCount:
    field: str | None  # the source field (MA_BN, NGAY_VAO, identifier[cccd]); None for a whole file
    reason: str  # the message's stable form
    count: int


@dataclass(frozen=True)
class FlagCount:
    identifier: str | None  # person_id, insurance_card, referral_facility; None: another field
    kind: str  # malformed, inconsistent, repaired
    count: int


@dataclass(frozen=True)
class FacilityQuality:
    code: str
    name: str
    first_night: date | None  # of its first extract ever; None: it never sent a file
    period: Figures
    previous: Figures
    nights: list[Night] = field(default_factory=list)  # each night of the period from its first extract
    reject_reasons: list[ReasonCount] = field(default_factory=list)
    flags: list[FlagCount] = field(default_factory=list)
    file_refusals: list[ReasonCount] = field(default_factory=list)

    @property
    def missing_nights(self) -> list[date]:
        return [night.night for night in self.nights if night.missing]


@dataclass(frozen=True)
class QualityReport:
    period: Period
    facilities: list[FacilityQuality]
    # Files of the period refused whole with no facility known (in a report on every facility only).
    unattributed_files: int = 0

    def as_json(self) -> dict[str, Any]:
        """The report as JSON values (dates in ISO 8601), as `provreg quality --json` prints it."""
        previous = self.period.previous
        return {
            "since": self.period.since.isoformat(),
            "until": self.period.until.isoformat(),
            "previous_since": previous.since.isoformat(),
            "previous_until": previous.until.isoformat(),
            "unattributed_files": self.unattributed_files,
            "facilities": [_facility_json(f) for f in self.facilities],
        }


def counts_values(counts: Counts) -> dict[str, Any]:
    """The figures of a Counts (a Figures, a Night without its date) with the citizen-ID share."""
    names = _FIGURES if isinstance(counts, Figures) else _COUNTS
    return {**{name: getattr(counts, name) for name in names}, "citizen_id_share": counts.citizen_id_share}


def _facility_json(facility: FacilityQuality) -> dict[str, Any]:
    return {
        "code": facility.code,
        "name": facility.name,
        "first_night": facility.first_night.isoformat() if facility.first_night else None,
        "period": counts_values(facility.period),
        "previous": counts_values(facility.previous),
        "missing_nights": [night.isoformat() for night in facility.missing_nights],
        "reject_reasons": [asdict(r) for r in facility.reject_reasons],
        "flags": [asdict(f) for f in facility.flags],
        "file_refusals": [{"reason": r.reason, "count": r.count} for r in facility.file_refusals],
        "nights": [
            {"night": n.night.isoformat(), "missing": n.missing, **counts_values(n)} for n in facility.nights
        ],
    }


# The night of a facility's first extract (any batch, whatever became of it): two index scans
# (ingest_batch_by_extract_date, and ingest_batch_by_facility for batches not dated).
_FIRST_NIGHT = """least(
        (SELECT min(b.extract_date) FROM ingest_batch b WHERE b.facility_code = {code}),
        (SELECT min(b.received_at) FROM ingest_batch b
          WHERE b.facility_code = {code} AND b.extract_date IS NULL)::date
    )"""

# The facilities reported on: one, or every registered one.
_FACILITIES = f"""
SELECT f.code, f.name, {_FIRST_NIGHT.format(code="f.code")} AS first_night
FROM facility f
WHERE %(facility)s::text IS NULL OR f.code = %(facility)s
"""

# The batches of the wanted facilities whose night falls between %(from)s and %(until)s, each with
# its night and outcome; written so that ingest_batch_by_extract_date finds them.
_BATCHES = """
wanted AS (
    SELECT code FROM facility WHERE %(facility)s::text IS NULL OR code = %(facility)s
),
batch AS (
    SELECT b.id, b.facility_code AS code, coalesce(b.extract_date, b.received_at::date) AS night,
        CASE
            WHEN b.status = 'loaded' THEN 'loaded'
            WHEN b.status IN ('received', 'loading') THEN 'waiting'
            WHEN b.status = 'failed' THEN 'failed'
            WHEN resent.loaded THEN 'duplicate'
            ELSE 'refused'
        END AS outcome,
        b.error, b.records_in, b.loaded, b.updated, b.unchanged, b.rejected, b.visits,
        b.visits_with_citizen_id
    FROM ingest_batch b
    -- Looked up for refused files only (ingest_batch_loaded_once), not hashed over every file loaded.
    LEFT JOIN LATERAL (
        SELECT true AS loaded FROM ingest_batch l
        WHERE b.status = 'rejected' AND l.content_sha256 = b.content_sha256 AND l.status = 'loaded'
        LIMIT 1
    ) AS resent ON true
    WHERE b.facility_code IN (SELECT code FROM wanted)
      AND (b.extract_date BETWEEN %(from)s AND %(until)s
           OR b.extract_date IS NULL AND b.received_at >= %(from)s::date::timestamptz
              AND b.received_at < (%(until)s::date + 1)::timestamptz)
)
"""

# Each night with its batches' counts (a night without a batch: one row whose outcome is null).
_NIGHT_COUNTS = """
    count(outcome) AS files,
    count(*) FILTER (WHERE outcome = 'loaded') AS files_loaded,
    count(*) FILTER (WHERE outcome = 'refused') AS files_refused,
    count(*) FILTER (WHERE outcome = 'duplicate') AS files_duplicate,
    count(*) FILTER (WHERE outcome = 'waiting') AS files_waiting,
    count(*) FILTER (WHERE outcome = 'failed') AS files_failed,
    coalesce(sum(records_in) FILTER (WHERE outcome = 'loaded'), 0) AS records_in,
    coalesce(sum(loaded) FILTER (WHERE outcome = 'loaded'), 0) AS loaded,
    coalesce(sum(updated) FILTER (WHERE outcome = 'loaded'), 0) AS updated,
    coalesce(sum(unchanged) FILTER (WHERE outcome = 'loaded'), 0) AS unchanged,
    coalesce(sum(rejected) FILTER (WHERE outcome = 'loaded'), 0) AS rejected,
    coalesce(sum(flagged) FILTER (WHERE outcome = 'loaded'), 0) AS flagged,
    coalesce(sum(visits) FILTER (WHERE outcome = 'loaded'), 0) AS visits,
    coalesce(sum(visits_with_citizen_id) FILTER (WHERE outcome = 'loaded'), 0) AS visits_with_citizen_id
"""

# Every night of each facility from its first extract (or the previous period's start, if later)
# to the period's end, with its batches; the period's nights one by one, and both periods' totals
# (GROUPING SETS: the total rows have no night).
_NIGHTS = f"""
WITH {_BATCHES},
first AS (
    SELECT w.code, {_FIRST_NIGHT.format(code="w.code")} AS first_night FROM wanted w
),
calendar AS (
    SELECT f.code, d::date AS night
    FROM first f, generate_series(greatest(f.first_night, %(from)s), %(until)s, interval '1 day') AS d
    WHERE f.first_night IS NOT NULL
),
nightly AS (
    SELECT c.code, c.night, c.night >= %(since)s AS current, b.outcome, b.records_in, b.loaded,
        b.updated, b.unchanged, b.rejected, b.visits, b.visits_with_citizen_id,
        CASE WHEN b.outcome = 'loaded' THEN (SELECT count(*) FROM ingest_flag f WHERE f.batch_id = b.id) END
            AS flagged
    FROM calendar c LEFT JOIN batch b ON b.code = c.code AND b.night = c.night
),
per_night AS (
    SELECT code, night, current, {_NIGHT_COUNTS}
    FROM nightly GROUP BY code, night, current
)
SELECT code, current, night,
    count(*)::int AS nights,
    count(*) FILTER (WHERE files_loaded > 0)::int AS nights_loaded,
    count(*) FILTER (WHERE files = 0)::int AS nights_missing,
    count(*) FILTER (WHERE files > 0 AND files_loaded = 0)::int AS nights_not_loaded,
    sum(files)::int AS files, sum(files_loaded)::int AS files_loaded,
    sum(files_refused)::int AS files_refused, sum(files_duplicate)::int AS files_duplicate,
    sum(files_waiting)::int AS files_waiting, sum(files_failed)::int AS files_failed,
    sum(records_in)::int AS records_in, sum(loaded)::int AS loaded, sum(updated)::int AS updated,
    sum(unchanged)::int AS unchanged, sum(rejected)::int AS rejected, sum(flagged)::int AS flagged,
    sum(visits)::int AS visits, sum(visits_with_citizen_id)::int AS visits_with_citizen_id
FROM per_night
GROUP BY GROUPING SETS ((code, current, night), (code, current))
HAVING current OR GROUPING(night) = 1
ORDER BY code, current, night NULLS FIRST
"""

# The stable form of a message: quoted values (Python's repr, as the loaders quote them) -> …,
# numbers -> #.
_STABLE = r"""regexp_replace(regexp_replace({text},
        $re$'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"$re$, '…', 'g'),
    '\d+', '#', 'g')"""
_FIELD = "CASE WHEN strpos(reason, ': ') > 0 THEN split_part(reason, ': ', 1) END"
_MESSAGE = "CASE WHEN strpos(reason, ': ') > 0 THEN substr(reason, strpos(reason, ': ') + 2) ELSE reason END"

# The period's rejected records by field and reason, flagged fields by identifier and kind, files refused
# whole by reason (run with %(from)s the period's start). A record's reasons are "FIELD: message"
# joined by "; ".
_BREAKDOWNS = f"""
WITH {_BATCHES},
reasons AS (
    SELECT b.code, one.reason
    FROM batch b
    JOIN ingest_reject r ON r.batch_id = b.id
    CROSS JOIN LATERAL regexp_split_to_table(r.reason, '; ') AS one(reason)
    WHERE b.outcome = 'loaded'
)
SELECT code, 'reject' AS part, {_FIELD} AS label, {_STABLE.format(text=_MESSAGE)} AS detail,
    count(*) AS n
FROM reasons GROUP BY 1, 2, 3, 4
UNION ALL
SELECT b.code, 'flag', f.identifier, f.kind, count(*)
FROM batch b JOIN ingest_flag f ON f.batch_id = b.id
WHERE b.outcome = 'loaded'
GROUP BY 1, 2, 3, 4
UNION ALL
SELECT code, 'refusal', NULL, {_STABLE.format(text="coalesce(error, '')")}, count(*)
FROM batch WHERE outcome = 'refused'
GROUP BY 1, 2, 3, 4
ORDER BY code, part, n DESC, label, detail
"""

# Files of the period refused whole before their facility was known.
_UNATTRIBUTED = """
SELECT count(*) FROM ingest_batch
WHERE facility_code IS NULL AND status = 'rejected'
  AND (extract_date BETWEEN %(since)s AND %(until)s
       OR extract_date IS NULL AND received_at >= %(since)s::date::timestamptz
          AND received_at < (%(until)s::date + 1)::timestamptz)
"""

_FIGURES = tuple(Figures.__dataclass_fields__)
_COUNTS = tuple(Counts.__dataclass_fields__)


def quality_report(
    *,
    facility: str | None = None,
    since: date | None = None,
    until: date | None = None,
    today: date | None = None,
) -> Steps[QualityReport]:
    """The report on one facility (or every registered one) over a period (see `report_period`).

    PeriodError when the period cannot be reported.
    """
    period = report_period(since, until, today)
    params = {"facility": facility, "since": period.since, "until": period.until}
    facilities = yield Query(_FACILITIES, params)
    figures: dict[tuple[str, bool], Figures] = {}
    nights: dict[str, list[Night]] = {}
    for found in (yield Query(_NIGHTS, {**params, "from": period.previous.since})):
        row = found._asdict()
        if row["night"] is None:
            figures[row["code"], row["current"]] = Figures(**{k: row[k] for k in _FIGURES})
        else:
            counts = {k: row[k] for k in _COUNTS}
            nights.setdefault(row["code"], []).append(Night(night=row["night"], **counts))
    breakdowns: dict[tuple[str, str], list[Any]] = {}
    for code, part, label, detail, count in (yield Query(_BREAKDOWNS, {**params, "from": period.since})):
        kept = FlagCount(label, detail, count) if part == "flag" else ReasonCount(label, detail, count)
        breakdowns.setdefault((code, part), []).append(kept)
    unattributed = 0
    if facility is None:
        unattributed = yield Query(_UNATTRIBUTED, params, value)
    return QualityReport(
        period=period,
        facilities=[
            FacilityQuality(
                code=code,
                name=name,
                first_night=first_night,
                period=figures.get((code, True), Figures()),
                previous=figures.get((code, False), Figures()),
                nights=nights.get(code, []),
                reject_reasons=breakdowns.get((code, "reject"), []),
                flags=breakdowns.get((code, "flag"), []),
                file_refusals=breakdowns.get((code, "refusal"), []),
            )
            for code, name, first_night in sorted(facilities)
        ],
        unattributed_files=unattributed,
    )
