"""A load killed at any point (kill -9) leaves the registry consistent; loading again completes it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.database import Database
from tests.factories import make_encounter, make_patient, make_record
from tests.registry.test_ingest import night, table_sizes, write_file

pytestmark = pytest.mark.slow

EPISODES = 3000


def consistent(database: Database) -> None:
    """Every stored episode is whole: its version row and its clinical rows as sent, and no loading batch."""
    with database.connect() as connection:
        broken = connection.execute(
            """
                SELECT count(*) FROM encounter e
                JOIN encounter_version v ON v.encounter_id = e.id AND v.version = e.version
                WHERE jsonb_array_length(v.record->'encounter'->'medications')
                      <> (SELECT count(*) FROM medication m WHERE m.encounter_id = e.id)
                """
        ).scalar()
        unversioned = connection.execute(
            "SELECT count(*) FROM encounter e WHERE NOT EXISTS (SELECT 1 FROM encounter_version v WHERE v.encounter_id = e.id)"
        ).scalar()
        unlinked = connection.execute(
            "SELECT count(*) FROM source_patient p WHERE NOT EXISTS (SELECT 1 FROM patient_link l WHERE l.source_patient_id = p.id AND l.superseded_at IS NULL)"
        ).scalar()
        loading = connection.execute("SELECT count(*) FROM ingest_batch WHERE status = 'loading'").scalar()
    assert (broken, unversioned, unlinked, loading) == (0, 0, 0, 0)


def start_load(db_url: str, path: Path, home: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": db_url, "PROVREG_HOME": str(home)}
    return subprocess.Popen(
        [sys.executable, "-m", "registry", "load", "--json", str(path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def kill(load: subprocess.Popen[bytes], database: Database) -> None:
    """kill -9 the load if it still runs; the registry is consistent after."""
    if load.poll() is None:
        os.kill(load.pid, signal.SIGKILL)
    load.wait()
    time.sleep(0.2)  # the server notices the dead client and rolls its transaction back
    consistent(database)


def load_to_the_end(db_url: str, path: Path, home: Path, database: Database, timeout: float) -> None:
    """Load again, undisturbed: it succeeds and leaves the registry consistent."""
    finished = start_load(db_url, path, home)
    _, err = finished.communicate(timeout=timeout)
    assert finished.returncode == 0, err.decode()
    consistent(database)


def test_killed_loads_leave_nothing_half_written(database: Database, db_url: str, tmp_path: Path) -> None:
    path = write_file(tmp_path / "big.xml", night(patients=EPISODES))
    # Kill at several points: while starting, while parsing and staging, and late (merging/committing).
    for delay in (0.3, 1.0, 2.0, 3.5):
        load = start_load(db_url, path, tmp_path)
        time.sleep(delay)
        kill(load, database)
        sizes = table_sizes(database)
        assert sizes["encounter"] in (0, EPISODES), f"half a batch after kill at {delay}s: {sizes}"
    load_to_the_end(db_url, path, tmp_path, database, timeout=300)
    sizes = table_sizes(database)
    assert sizes["encounter"] == sizes["source_patient"] == EPISODES
    assert sizes["medication"] == 3 * EPISODES
    with database.connect() as connection:
        loaded = connection.execute("SELECT count(*) FROM ingest_batch WHERE status = 'loaded'").scalar()
    assert loaded == 1


def test_killed_loads_of_many_small_files_leave_each_file_whole_or_absent(
    database: Database, db_url: str, tmp_path: Path
) -> None:
    """Small files load in groups, a transaction each (registry/ingest/load.py): a kill leaves every
    file's batch loaded with all its rows, or absent."""
    folder = tmp_path / "visits"
    folder.mkdir()
    files = 600
    for n in range(files):
        patient = make_patient(f"BN{n:05d}", serial=f"{n:06d}", born=(1940 + n % 60, 1, 1))
        write_file(folder / f"visit-{n:04d}.xml", [make_record(1, patient, make_encounter(f"LK{n:05d}"))])
    loaded_when_killed = []
    # Killed early; as soon as a first group has committed (the next one is being read or written);
    # and a moment later.
    for kill_after in ((0.5, False), (0.0, True), (0.3, True)):
        delay, after_a_commit = kill_after
        before = count_loaded(database)
        load = start_load(db_url, folder, tmp_path)
        while after_a_commit and load.poll() is None and count_loaded(database) == before:
            time.sleep(0.02)
        time.sleep(delay)
        kill(load, database)
        with database.connect() as connection:
            batches, visits, files_without_visit = connection.execute(
                "SELECT count(*), (SELECT count(*) FROM encounter),"
                " count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM encounter e WHERE e.first_batch_id = b.id))"
                " FROM ingest_batch b WHERE status = 'loaded'"
            ).one()
        assert (visits, files_without_visit) == (batches, 0), f"after a kill {kill_after}"
        loaded_when_killed.append(batches)
    assert any(0 < batches < files for batches in loaded_when_killed), loaded_when_killed  # killed midway
    load_to_the_end(db_url, folder, tmp_path, database, timeout=600)
    sizes = table_sizes(database)
    assert sizes["encounter"] == sizes["source_patient"] == files
    assert count_loaded(database) == files


def count_loaded(database: Database) -> int:
    with database.connect() as connection:
        return int(
            connection.execute("SELECT count(*) FROM ingest_batch WHERE status = 'loaded'").scalar_one()
        )
