"""The data-quality report, figure by figure, on a small registry made by hand."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from loaders.options import LoaderOptions
from registry import cli
from registry.cli import app
from registry.db.sql import run
from registry.ingest import Submission, load_file
from registry.quality import (
    Figures,
    FlagCount,
    PeriodError,
    ReasonCount,
    quality_report,
    report_period,
)
from tests.database import Database
from tests.registry import test_ingest

SINCE, UNTIL = date(2025, 6, 10), date(2025, 6, 16)  # previous period: 06-03 to 06-09


def facility(database: Database, code: str, name: str | None = None) -> None:
    with database.begin() as connection:
        connection.execute(
            "INSERT INTO facility (code, name) VALUES (%(code)s, %(name)s)",
            {"code": code, "name": name or code},
        )


def batch(
    database: Database,
    code: str | None,
    night: date | None,
    status: str = "loaded",
    *,
    sha: str | None = None,
    error: str | None = None,
    received_at: datetime | None = None,
    loaded: int = 0,
    updated: int = 0,
    unchanged: int = 0,
    rejected: int = 0,
    visits: int = 0,
    with_citizen_id: int = 0,
) -> int:
    """A batch as the load leaves it (records in = loaded + updated + unchanged + rejected)."""
    values: dict[str, Any] = {
        "code": code,
        "night": night,
        "status": status,
        "sha": sha or uuid.uuid4().hex,
        "error": error,
        "received_at": received_at or datetime.combine(night or date(2025, 1, 1), datetime.min.time()),
        "records_in": loaded + updated + unchanged + rejected,
        "loaded": loaded,
        "updated": updated,
        "unchanged": unchanged,
        "rejected": rejected,
        "visits": visits,
        "with_citizen_id": with_citizen_id,
    }
    with database.begin() as connection:
        return connection.execute(
            "INSERT INTO ingest_batch (facility_code, channel, submitted_by, content_sha256, size_bytes,"
            " status, error, received_at, extract_date, records_in, loaded, updated, unchanged, rejected,"
            " visits, visits_with_citizen_id) VALUES (%(code)s, 'cli', 'test', %(sha)s, 100, %(status)s, %(error)s,"
            " %(received_at)s, %(night)s, %(records_in)s, %(loaded)s, %(updated)s, %(unchanged)s, %(rejected)s, %(visits)s,"
            " %(with_citizen_id)s) RETURNING id",
            values,
        ).scalar_one()


def rejects(database: Database, batch_id: int, *reasons: str) -> None:
    with database.begin() as connection:
        for position, reason in enumerate(reasons, 1):
            connection.execute(
                "INSERT INTO ingest_reject (batch_id, position, locator, reason)"
                " VALUES (%(b)s, %(p)s, %(locator)s, %(reason)s)",
                {"b": batch_id, "p": position, "locator": f"HOSO {position}", "reason": reason},
            )


def flags(database: Database, batch_id: int, *flagged: tuple[str, str]) -> None:
    fields = {"person_id": "SO_CCCD", "insurance_card": "MA_THE", "referral_facility": "MA_NOI_DI"}
    with database.begin() as connection:
        for position, (identifier, kind) in enumerate(flagged, 1):
            connection.execute(
                "INSERT INTO ingest_flag (batch_id, position, ordinal, field, identifier, kind, reason)"
                " VALUES (%(b)s, %(p)s, 1, %(field)s, %(identifier)s, %(kind)s, 'test')",
                {
                    "b": batch_id,
                    "p": position,
                    "field": fields[identifier],
                    "identifier": identifier,
                    "kind": kind,
                },
            )


@pytest.fixture
def province(database: Database) -> Database:
    """Three facilities over two weeks: one sending since before the period, one joining in it, one silent."""
    facility(database, "27001", "Bệnh viện Đa khoa tỉnh")
    facility(database, "27002", "Phòng khám Tâm An")
    facility(database, "27003", "Trạm y tế xã Đông")
    # 27001, the previous period: first extract on 06-05; 06-07 missing.
    for night, visits, with_id in ((5, 10, 8), (6, 10, 7), (8, 10, 9), (9, 10, 6)):
        early = batch(
            database, "27001", date(2025, 6, night), loaded=visits, visits=visits, with_citizen_id=with_id
        )
    flags(database, early, ("person_id", "malformed"))
    # 27001, the period.
    first = batch(
        database, "27001", date(2025, 6, 10), loaded=3, updated=1, rejected=2, visits=4, with_citizen_id=3
    )
    rejects(database, first, "MA_BN: missing; HO_TEN: missing", "MA_BN: missing")
    flags(
        database,
        first,
        ("person_id", "inconsistent"),
        ("person_id", "inconsistent"),
        ("person_id", "repaired"),
    )
    # 06-11: no file.
    batch(
        database, "27001", date(2025, 6, 12), "rejected", error="SOLUONGHOSO says 3 records, the file holds 2"
    )
    thirteenth = batch(
        database, "27001", date(2025, 6, 13), sha="a" * 64, loaded=5, rejected=2, visits=7, with_citizen_id=5
    )
    rejects(
        database,
        thirteenth,
        "NGAY_VAO: '20251399' is not a valid date (month 13)",
        "NGAY_VAO: '20251499' is not a valid date (month 14)",
    )
    # The same bytes posted again over HTTP: closed as rejected, a duplicate rather than a refusal.
    batch(database, "27001", date(2025, 6, 13), "rejected", sha="a" * 64, error="already loaded as batch 9")
    xml = batch(database, "27001", date(2025, 6, 14), loaded=4, unchanged=2, visits=6, with_citizen_id=6)
    flags(database, xml, ("insurance_card", "malformed"))
    batch(database, "27001", date(2025, 6, 14), loaded=1, visits=1, with_citizen_id=0)  # a second file
    # 06-15: no file. 06-16: posted, waiting for a worker (not dated yet: counted on its received date).
    batch(database, "27001", None, "received", received_at=datetime(2025, 6, 16, 9, 30))
    batch(database, "27001", date(2025, 6, 17), loaded=50, visits=50)  # after the period
    # 27002: its first extract on 06-12, then every night but 06-15.
    for night in (12, 13, 14, 16):
        batch(database, "27002", date(2025, 6, night), loaded=2, visits=2, with_citizen_id=1)
    # A file refused before its facility was known.
    batch(database, None, date(2025, 6, 12), "rejected", error="no facility: the file names none")
    return database


def report(database: Database, **options: Any):
    with database.connect() as connection:
        return run(connection, quality_report(since=SINCE, until=UNTIL, **options))


def test_each_night_from_the_first_extract_with_missing_ones(province: Database) -> None:
    done = report(province)
    assert [f.code for f in done.facilities] == ["27001", "27002", "27003"]
    hospital, clinic, silent = done.facilities
    assert hospital.first_night == date(2025, 6, 5) and hospital.name == "Bệnh viện Đa khoa tỉnh"
    assert [n.night.day for n in hospital.nights] == list(range(10, 17))
    assert [d.day for d in hospital.missing_nights] == [11, 15]
    assert [(n.night.day, n.files) for n in hospital.nights] == [
        (10, 1), (11, 0), (12, 1), (13, 2), (14, 2), (15, 0), (16, 1),
    ]  # fmt: skip
    period = hospital.period
    nights = (period.nights, period.nights_loaded, period.nights_missing, period.nights_not_loaded)
    assert nights == (7, 3, 2, 2)
    assert (
        period.files, period.files_loaded, period.files_refused, period.files_duplicate, period.files_waiting,
        period.files_failed,
    ) == (7, 4, 1, 1, 1, 0)  # fmt: skip
    # A facility counts from its first extract: 27002 from 06-12 on, with nothing before.
    assert clinic.first_night == date(2025, 6, 12)
    assert [d.day for d in clinic.missing_nights] == [15]
    assert (clinic.period.nights, clinic.period.nights_missing) == (5, 1)
    assert clinic.previous == Figures()
    # One that never sent a file has no night to miss, and says so.
    assert silent.first_night is None and silent.nights == [] and silent.period == Figures()
    assert done.unattributed_files == 1


def test_records_rejects_by_reason_and_flags_by_kind(province: Database) -> None:
    hospital = report(province, facility="27001").facilities[0]
    period = hospital.period
    assert (period.records_in, period.loaded, period.updated, period.unchanged, period.rejected) == (
        20, 13, 1, 2, 4,
    )  # fmt: skip
    assert period.flagged == 4
    # A record refused for two reasons counts under each; values and numbers do not split a group.
    assert hospital.reject_reasons == [
        ReasonCount("MA_BN", "missing", 2),
        ReasonCount("NGAY_VAO", "… is not a valid date (month #)", 2),
        ReasonCount("HO_TEN", "missing", 1),
    ]
    assert hospital.flags == [
        FlagCount("person_id", "inconsistent", 2),
        FlagCount("insurance_card", "malformed", 1),
        FlagCount("person_id", "repaired", 1),
    ]
    assert hospital.file_refusals == [ReasonCount(None, "SOLUONGHOSO says # records, the file holds #", 1)]
    night = {n.night.day: n for n in hospital.nights}
    assert (night[10].rejected, night[10].flagged, night[14].flagged, night[12].records_in) == (2, 3, 1, 0)


def test_the_share_of_visits_with_a_citizen_id_and_the_trend(province: Database) -> None:
    hospital, clinic, _ = report(province).facilities
    assert (hospital.period.visits, hospital.period.visits_with_citizen_id) == (18, 14)
    assert hospital.period.citizen_id_share == round(14 / 18, 4)
    assert {n.night.day: n.citizen_id_share for n in hospital.nights}[14] == round(6 / 7, 4)
    assert {n.night.day: n.citizen_id_share for n in hospital.nights}[11] is None
    previous = hospital.previous  # 06-03 to 06-09, counted from the first extract (06-05)
    assert (previous.nights, previous.nights_missing, previous.files_loaded) == (5, 1, 4)
    assert (previous.visits, previous.visits_with_citizen_id, previous.flagged) == (40, 30, 1)
    assert previous.citizen_id_share == 0.75
    assert clinic.period.citizen_id_share == 0.5


def test_one_facility_alone(province: Database) -> None:
    done = report(province, facility="27002")
    assert [f.code for f in done.facilities] == ["27002"] and done.unattributed_files == 0
    assert report(province, facility="99999").facilities == []


def test_the_period_defaults_to_the_last_four_weeks_and_is_bounded() -> None:
    assert report_period(today=date(2025, 6, 17)) == report_period(date(2025, 5, 20), date(2025, 6, 16))
    assert report_period(since=date(2025, 6, 1), today=date(2025, 6, 17)).until == date(2025, 6, 16)
    assert report_period(until=date(2025, 6, 16)).since == date(2025, 5, 20)
    period = report_period(SINCE, UNTIL)
    assert (period.nights, period.previous.since, period.previous.until) == (
        7,
        date(2025, 6, 3),
        date(2025, 6, 9),
    )
    with pytest.raises(PeriodError, match="before it starts"):
        report_period(UNTIL, SINCE)
    with pytest.raises(PeriodError, match="at most 366"):
        report_period(date(2024, 1, 1), date(2025, 6, 16))


def test_a_loaded_file_is_in_the_report(database: Database, tmp_path: Path) -> None:
    """Through the real load: its counts are the batch's."""
    path = test_ingest.write_file(tmp_path / "night.xml", test_ingest.night())
    result = load_file(database.url, path, LoaderOptions(), Submission(submitted_by="test"))
    assert result.status == "loaded", result.error
    with database.begin() as connection:  # dated by the load once it fills extract_date; else here
        connection.execute("UPDATE ingest_batch SET extract_date = '2025-06-12' WHERE extract_date IS NULL")
        extract = connection.execute("SELECT extract_date FROM ingest_batch").scalar_one()
    with database.connect() as connection:
        done = run(connection, quality_report(since=extract, until=extract))
    (hospital,) = done.facilities
    assert (hospital.period.files_loaded, hospital.period.records_in, hospital.period.loaded) == (1, 3, 3)


runner = CliRunner()


def test_the_command_prints_a_table_within_80_columns_and_json(
    province: Database, registry_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli.console, "width", 80)
    done = runner.invoke(app, ["quality", "--since", "2025-06-10", "--until", "2025-06-16"])
    assert done.exit_code == 0, done.output
    assert all(len(line) <= 80 for line in done.stdout.splitlines())
    assert "27001" in done.stdout and "27003" in done.stdout and "77.8%" in done.stdout
    one = runner.invoke(
        app, ["quality", "--facility", "27001", "--since", "2025-06-10", "--until", "2025-06-16"]
    )
    assert one.exit_code == 0, one.output
    assert all(len(line) <= 80 for line in one.stdout.splitlines())
    assert "2025-06-11" in one.stdout and "NGAY_VAO" in one.stdout and "inconsistent" in one.stdout
    as_json = runner.invoke(
        app, ["quality", "--json", "--facility", "27001", "--since", "2025-06-10", "--until", "2025-06-16"]
    )
    assert as_json.exit_code == 0, as_json.output
    parsed = json.loads(as_json.stdout)
    assert parsed["facilities"][0]["missing_nights"] == ["2025-06-11", "2025-06-15"]
    assert parsed["facilities"][0]["period"]["citizen_id_share"] == 0.7778
    unknown = runner.invoke(
        app, ["quality", "--facility", "99999", "--since", "2025-06-10", "--until", "2025-06-16"]
    )
    assert unknown.exit_code == 1 and "99999" in unknown.output
    backwards = runner.invoke(app, ["quality", "--since", "2025-06-16", "--until", "2025-06-10"])
    assert backwards.exit_code == 2 and "before it starts" in backwards.output
