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


def test_killed_loads_leave_nothing_half_written(database: Database, db_url: str, tmp_path: Path) -> None:
    path = write_file(tmp_path / "big.xml", night(patients=EPISODES))
    # Kill at several points: while starting, while parsing and staging, and late (merging/committing).
    for delay in (0.3, 1.0, 2.0, 3.5):
        load = start_load(db_url, path, tmp_path)
        time.sleep(delay)
        if load.poll() is None:
            os.kill(load.pid, signal.SIGKILL)
        load.wait()
        time.sleep(0.2)  # the server notices the dead client and rolls its transaction back
        consistent(database)
        sizes = table_sizes(database)
        assert sizes["encounter"] in (0, EPISODES), f"half a batch after kill at {delay}s: {sizes}"
    finished = start_load(db_url, path, tmp_path)
    _, err = finished.communicate(timeout=300)
    assert finished.returncode == 0, err.decode()
    consistent(database)
    sizes = table_sizes(database)
    assert sizes["encounter"] == sizes["source_patient"] == EPISODES
    assert sizes["medication"] == 3 * EPISODES
    with database.connect() as connection:
        loaded = connection.execute("SELECT count(*) FROM ingest_batch WHERE status = 'loaded'").scalar()
    assert loaded == 1
