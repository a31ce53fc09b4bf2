"""Backups that restore: PostgreSQL's physical base backup with the WAL that makes it consistent
(pg_basebackup), a WAL archive kept between backups for point-in-time recovery (pg_receivewal),
PostgreSQL's own check of a backup (pg_verifybackup), and a restore into a data directory.

Physical rather than a logical dump (pg_dump): only WAL can bring the registry back to a moment
between two backups (the night before a bad load), and a base backup restores without rebuilding
indexes, so a restore takes the time of a copy. docs/operations.md, *Back up and restore*.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from registry.db import embedded, migrate

BASE = "base"  # the data directory as pg_basebackup copied it, with PostgreSQL's backup_manifest
MANIFEST = "provreg-backup.json"
# The replication slot the WAL archive reads through: the primary keeps WAL until it is archived.
ARCHIVE_SLOT = "provreg_wal_archive"
# In a restored data directory: the archive's WAL that restore_command hands to the replay.
RESTORED_WAL = "provreg_wal_archive"
_PROGRESS = re.compile(rb"(\d+)/(\d+) kB")


class BackupError(RuntimeError):
    """A backup, check or restore that could not be done; the message says why."""


@dataclass(frozen=True)
class BackupManifest:
    """What provreg knows of a backup, beside PostgreSQL's own backup_manifest (files, checksums, WAL)."""

    format: str  # "pg_basebackup": a plain-format base backup with its WAL streamed (-X stream)
    started_at: str
    finished_at: str
    seconds: float
    postgres_version: str
    system_identifier: str
    database_bytes: int  # the registry's database alone (pg_database_size) when taken
    migrations: list[str]  # the schema the registry was at

    def write(self, folder: Path) -> None:
        (folder / MANIFEST).write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def read(cls, folder: Path) -> BackupManifest:
        try:
            return cls(**json.loads((folder / MANIFEST).read_text()))
        except (OSError, ValueError, TypeError) as unreadable:
            raise BackupError(f"{folder} holds no readable {MANIFEST}: {unreadable}") from None


def take(url: str, out: Path, progress: Callable[[int, int], None] | None = None) -> BackupManifest:
    """A base backup of the server at `url` (all its databases) into `out` (new or empty), with the
    WAL it needs, PostgreSQL's manifest (SHA-256 per file) and provreg's; `progress(done, total)`
    in kB as pg_basebackup reports it. The role needs REPLICATION."""
    if out.exists() and any(out.iterdir()):
        raise BackupError(f"{out} is not empty: a backup goes into a new folder")
    out.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    with psycopg.connect(url) as connection:
        version, system_id, size = connection.execute(
            "SELECT current_setting('server_version'), (SELECT system_identifier FROM pg_control_system()),"
            " pg_database_size(current_database())"
        ).fetchone()
    migrations = migrate.status(url).applied
    command = [
        embedded.program("pg_basebackup"), "-d", url, "-D", str(out / BASE), "--format=plain",
        "--wal-method=stream", "--checkpoint=fast", "--manifest-checksums=SHA256", "--progress",
    ]  # fmt: skip
    _run_reporting(command, progress)
    manifest = BackupManifest(
        format="pg_basebackup",
        started_at=started.isoformat(),
        finished_at=datetime.now(UTC).isoformat(),
        seconds=round((datetime.now(UTC) - started).total_seconds(), 1),
        postgres_version=version,
        system_identifier=str(system_id),
        database_bytes=size,
        migrations=migrations,
    )
    manifest.write(out)
    return manifest


def _run_reporting(command: list[str], progress: Callable[[int, int], None] | None) -> None:
    """Run pg_basebackup, handing its progress lines (`123/456 kB (26%)`) to `progress`."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert process.stderr is not None
    said = bytearray()
    while chunk := process.stderr.read1(4096):
        said += chunk
        found = _PROGRESS.findall(chunk)
        if found and progress is not None:
            done, total = found[-1]
            progress(int(done), int(total))
    if process.wait() != 0:
        lines = [line for line in re.split(rb"[\r\n]", bytes(said)) if line and not _PROGRESS.search(line)]
        raise BackupError(b"\n".join(lines).decode(errors="replace") or f"{command[0]} failed")


def verify(folder: Path) -> str:
    """PostgreSQL's check of the backup in `folder`: every file against its manifest checksum and
    the WAL from the backup's start to its end readable; returns what it said, raises BackupError."""
    BackupManifest.read(folder)
    found = subprocess.run(
        [embedded.program("pg_verifybackup"), str(folder / BASE)], capture_output=True, text=True
    )
    if found.returncode != 0:
        raise BackupError((found.stderr or found.stdout).strip())
    return found.stdout.strip()


def archive_wal_command(url: str, archive: Path) -> list[str]:
    """The command that streams the server's WAL into `archive` until stopped (pg_receivewal, through
    a replication slot, created here when missing, so that no WAL is recycled before it is archived)."""
    archive.mkdir(parents=True, exist_ok=True)
    slot = ["--slot", ARCHIVE_SLOT]
    created = subprocess.run(
        [embedded.program("pg_receivewal"), "-d", url, *slot, "--create-slot", "--if-not-exists"],
        capture_output=True,
        text=True,
    )
    if created.returncode != 0:
        raise BackupError(created.stderr.strip())
    return [embedded.program("pg_receivewal"), "-d", url, "-D", str(archive), *slot, "--synchronous"]


def restore(
    backup: Path, pgdata: Path, wal_archive: Path | None = None, until: datetime | None = None
) -> None:
    """Write the data directory `pgdata` (new) from the backup in `backup`. Without `wal_archive` it
    starts as the registry was when the backup ended; with it, its WAL is replayed up to `until`
    (a commit time) or to its end, then the server is promoted and takes writes."""
    verify(backup)
    if until is not None and wal_archive is None:
        raise BackupError("a point in time needs the WAL archive (--wal-archive) kept since the backup")
    if pgdata.exists() and any(pgdata.iterdir()):
        raise BackupError(f"{pgdata} is not empty: a restore writes a new data directory")
    shutil.copytree(backup / BASE, pgdata, dirs_exist_ok=True)
    (pgdata / "backup_manifest").unlink()
    # A server whose sockets live in its data directory (the embedded one) leaves their lock files
    # in the copy; a server started on it would take them for another one's.
    for lock in pgdata.glob(".s.PGSQL.*.lock"):
        lock.unlink()
    if wal_archive is not None:
        _prepare_recovery(pgdata, wal_archive, until)
    pgdata.chmod(0o700)
    if user := embedded.server_user():
        for path in (pgdata, *pgdata.rglob("*")):
            shutil.chown(path, user, user)


def _prepare_recovery(pgdata: Path, wal_archive: Path, until: datetime | None) -> None:
    """Copy the archive's WAL into the data directory and ask for archive recovery from it."""
    segments = pgdata / RESTORED_WAL
    segments.mkdir()
    for wal in sorted(wal_archive.iterdir()):
        # pg_receivewal's segment in progress ends in .partial: what it holds is complete up to its
        # last byte written, and the replay reads it under its full name.
        shutil.copyfile(wal, segments / wal.name.removesuffix(".partial"))
    settings = [f"restore_command = 'cp {RESTORED_WAL}/%f \"%p\"'", "recovery_target_action = 'promote'"]
    if until is not None:
        settings.append(f"recovery_target_time = '{until.isoformat()}'")
    with (pgdata / "postgresql.auto.conf").open("a") as conf:
        conf.write("\n# provreg db restore\n" + "\n".join(settings) + "\n")
    (pgdata / "recovery.signal").touch()


def wait_until_promoted(url: str, timeout_seconds: float) -> None:
    """Wait for the server at `url` to finish its replay and take writes."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        with psycopg.connect(url) as connection:
            if not connection.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
                return
        if time.monotonic() > deadline:
            raise BackupError(f"the server at {url} was still replaying WAL after {timeout_seconds:.0f} s")
        time.sleep(0.2)


def restore_embedded(
    home: Path, backup: Path, wal_archive: Path | None, until: datetime | None, timeout_seconds: float
) -> tuple[str, Path | None]:
    """Replace the embedded server's data with the backup's and start it, promoted; returns its URI
    and where the data it replaced was kept (PROVREG_HOME/pgdata.before-restore-<time>; None when
    there was none). The server is stopped first: a restore is downtime."""
    pgdata = home / embedded.PGDATA
    restoring = home / f"{embedded.PGDATA}.restoring"
    shutil.rmtree(restoring, ignore_errors=True)
    restore(backup, restoring, wal_archive, until)
    embedded.stop(home)
    kept = None
    if pgdata.exists():
        # To the microsecond: two restores within one second must not take the same name.
        kept = home / f"{embedded.PGDATA}.before-restore-{datetime.now(UTC):%Y%m%dT%H%M%S.%f}"
        pgdata.rename(kept)
    restoring.rename(pgdata)
    url = embedded.start_recovering(home, timeout_seconds)
    wait_until_promoted(url, timeout_seconds)
    return url, kept
