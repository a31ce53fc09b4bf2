"""Backups that restore, end to end on a province's own PostgreSQL: load a night, back up, load more
nights while the WAL is archived, then restore to the backup, to a point in time between nights and
to the archive's end, comparing row counts, links and the audit log with what they were."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from registry.cli import app
from registry.db import backup
from tests.registry.province_server import (
    Registry,
    audited_reads,
    current_time,
    invoke,
    load_night,
    province_primary,
    registry_state,
)

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("backup")]


@dataclass
class Province:
    home: Path
    url: str
    backup: Path
    archive: Path
    at_backup: Registry
    after_night_2: Registry
    night_2_done_at: object
    after_night_3: Registry


def _archived_up_to_now(url: str) -> None:
    """Wait until the WAL archive has flushed every byte written so far."""
    with psycopg.connect(url, autocommit=True) as connection:
        written = connection.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
        for _ in range(300):
            flushed = connection.execute(
                "SELECT flush_lsn >= %s::pg_lsn FROM pg_stat_replication WHERE application_name = 'pg_receivewal'",
                (written,),
            ).fetchone()
            if flushed and flushed[0]:
                return
            time.sleep(0.1)
    raise AssertionError("the WAL archive did not catch up")


@pytest.fixture(scope="module")
def province(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Province]:
    folder = tmp_path_factory.mktemp("backup")
    with province_primary(folder) as primary:
        url, nights = primary.url, primary.nights
        archive = folder / "wal"
        archiver = subprocess.Popen(backup.archive_wal_command(url, archive), stderr=subprocess.DEVNULL)
        load_night(nights[0])
        audited_reads(url, 5)
        at_backup = registry_state(url)
        said = invoke("db", "backup", "--out", str(folder / "backup"))
        assert "backed up PostgreSQL 16" in said
        load_night(nights[1])
        audited_reads(url, 7)
        after_night_2 = registry_state(url)
        night_2_done_at = current_time(url)
        time.sleep(0.2)
        load_night(nights[2])
        audited_reads(url, 3)
        after_night_3 = registry_state(url)
        _archived_up_to_now(url)
        archiver.send_signal(signal.SIGTERM)
        archiver.wait(timeout=30)
        yield Province(
            primary.home,
            url,
            folder / "backup",
            archive,
            at_backup,
            after_night_2,
            night_2_done_at,
            after_night_3,
        )


def test_the_nights_changed_what_is_compared(province: Province) -> None:
    """Otherwise the restores below could not tell one moment from another."""
    moments = (province.at_backup, province.after_night_2, province.after_night_3)
    assert len({len(moment.audit) for moment in moments}) == 3
    assert len({moment.counts["encounter"] for moment in moments}) == 3
    assert len({len(moment.links) for moment in moments}) == 3


def test_a_backup_verifies_and_a_damaged_one_does_not(province: Province, tmp_path: Path) -> None:
    said = invoke("db", "verify-backup", str(province.backup))
    assert "backup successfully verified" in said
    damaged = tmp_path / "damaged"
    shutil.copytree(province.backup, damaged)
    with (damaged / backup.BASE / "global" / "pg_control").open("r+b") as control:
        control.seek(100)
        control.write(b"\xff\xff")
    result = CliRunner().invoke(app, ["db", "verify-backup", str(damaged)])
    assert result.exit_code == 1
    assert "checksum mismatch" in result.output
    with pytest.raises(backup.BackupError, match="checksum mismatch"):
        backup.restore(damaged, tmp_path / "restored")


def test_restores_bring_back_the_backup_a_point_in_time_and_the_archive_end(
    province: Province, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROVREG_HOME", str(province.home))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    said = invoke("db", "restore", str(province.backup))
    assert "the data it replaced is kept" in said
    assert registry_state(province.url) == province.at_backup

    until = province.night_2_done_at.isoformat()  # type: ignore[attr-defined]
    invoke("db", "restore", str(province.backup), "--wal-archive", str(province.archive), "--until", until)
    restored = registry_state(province.url)
    assert restored == province.after_night_2

    invoke("db", "restore", str(province.backup), "--wal-archive", str(province.archive))
    assert registry_state(province.url) == province.after_night_3
    # The restored registry takes writes again.
    audited_reads(province.url, 1)
    assert len(registry_state(province.url).audit) == len(province.after_night_3.audit) + 1
