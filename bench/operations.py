"""Operations benchmark: a base backup and a restore of a registry of a million source patients, and
a standby's lag while a night's files load; prints seconds, sizes and lag.

    python bench/operations.py [--patients 1000000] [--episodes 20000] [--files 4]

On a PostgreSQL of its own (pgserver's, in a temporary folder): the registry made with SQL as
bench/quality_report.py makes it (a year of batches from 50 facilities, `--patients` source
patients), a night of inpatient episodes loaded through provreg's load path as bench/ingest.py
loads them (with matching) while an asynchronous standby follows (its replay lag sampled every
0.1 s), a one-row commit (an audit row's) with the standby synchronous and not; then
`provreg db backup` (pg_basebackup), `verify-backup` (pg_verifybackup) and `restore` (copy, start,
replay), timed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg

from bench.ingest import write_files
from bench.quality_report import build
from loaders.options import LoaderOptions
from registry.db import backup, embedded, migrate, standby
from registry.ingest import Submission, load_file


class LagSampler(threading.Thread):
    """The standby's replay lag as the primary sees it, every 0.1 s, until stopped."""

    def __init__(self, primary_url: str) -> None:
        super().__init__(daemon=True)
        self.url = primary_url
        self.samples: list[standby.Replication] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(0.1):
            self.samples += standby.replication(self.url)

    def summary(self) -> str:
        lag_bytes = sorted(s.replay_lag_bytes for s in self.samples)
        seconds = sorted(s.replay_lag_seconds or 0.0 for s in self.samples)
        if not lag_bytes:
            return "no samples"
        p95 = int(len(lag_bytes) * 0.95)
        return (
            f"{len(lag_bytes)} samples: replay lag p50 {lag_bytes[len(lag_bytes) // 2] / 1e6:.1f} MB, "
            f"p95 {lag_bytes[p95] / 1e6:.1f} MB, max {lag_bytes[-1] / 1e6:.1f} MB; "
            f"in time p50 {seconds[len(seconds) // 2]:.2f} s, p95 {seconds[p95]:.2f} s, max {seconds[-1]:.2f} s"
        )


def load_night(url: str, files: list[Path]) -> float:
    started = time.perf_counter()
    for path in files:
        result = load_file(url, path, LoaderOptions(), Submission(submitted_by="bench"))
        assert result.status in ("loaded", "duplicate"), result.error
    return time.perf_counter() - started


def database_mb(url: str) -> float:
    with psycopg.connect(url) as connection:
        return connection.execute("SELECT pg_database_size(current_database())").fetchone()[0] / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=1_000_000)
    parser.add_argument("--episodes", type=int, default=20_000)
    parser.add_argument("--files", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="provreg-bench-ops-", dir="/tmp") as scratch:
        folder = Path(scratch)
        home = folder / "p"
        url = embedded.start(home)
        try:
            migrate.upgrade(url)
            build(url, args.patients, 50, 365)
            night = write_files(folder, args.episodes, args.files)
            print(f"registry database: {database_mb(url):,.0f} MB", flush=True)

            replica = folder / "s"
            standby.create(url, replica)
            standby.start(replica)
            standby.wait_until_streaming(url)
            sampler = LagSampler(url)
            sampler.start()
            seconds = load_night(url, night)
            sampler.stopping.set()
            sampler.join()
            print(
                f"night of {args.episodes:,} episodes, asynchronous standby: loaded in {seconds:.1f} s; {sampler.summary()}"
            )
            standby.require_synchronous(url)
            with psycopg.connect(url, autocommit=True) as connection:
                connection.execute("CREATE TABLE IF NOT EXISTS bench_commit (id int)")
                for mode in ("local", "on"):
                    connection.execute(f"SET synchronous_commit = {mode}")
                    started = time.perf_counter()
                    for i in range(500):
                        connection.execute("INSERT INTO bench_commit VALUES (%s)", (i,))
                    per_commit = (time.perf_counter() - started) / 500 * 1000
                    print(f"one-row commit (an audit row's), synchronous_commit={mode}: {per_commit:.2f} ms")
                connection.execute("DROP TABLE bench_commit")
            embedded.pg_ctl(replica, "-m", "fast", "-w", "stop")
            standby.allow_asynchronous(url)
            print(f"registry database after the night: {database_mb(url):,.0f} MB", flush=True)

            taken = folder / "backup"
            started = time.perf_counter()
            manifest = backup.take(url, taken)
            took = time.perf_counter() - started
            size = sum(path.stat().st_size for path in taken.rglob("*") if path.is_file()) / 1e6
            print(
                f"backup: {took:.1f} s, {size:,.0f} MB on disk (all databases and WAL), {size / took:,.0f} MB/s"
            )
            started = time.perf_counter()
            backup.verify(taken)
            print(f"verify-backup: {time.perf_counter() - started:.1f} s")
            started = time.perf_counter()
            restored_url, _ = backup.restore_embedded(home, taken, None, None, 3600)
            print(f"restore (copy, start, replay, promoted): {time.perf_counter() - started:.1f} s")
            with psycopg.connect(restored_url) as connection:
                count = connection.execute("SELECT count(*) FROM source_patient").fetchone()[0]
            print(f"restored registry: {count:,} source patients (PostgreSQL {manifest.postgres_version})")
        finally:
            embedded.pg_ctl(folder / "s", "-m", "immediate", "-w", "stop")
            embedded.stop(home)


if __name__ == "__main__":
    main()
