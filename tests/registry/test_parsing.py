"""Reading a large XML 130 file in worker processes gives what reading it in order gives."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from psycopg.types.json import Jsonb

from loaders.csv_write import write_csv
from loaders.fhir_write import write_fhir_ndjson
from loaders.options import LoaderOptions, default_profile
from loaders.records import FileHeader, UnreadableFile
from registry.ingest import Submission, load_file, parsing
from registry.ingest.staging import StagedRows
from tests.database import Database
from tests.factories import make_encounter, make_patient, make_record
from tests.loaders.test_xml130 import DRUG, envelope, summary, table

HOSOS = 700  # past PARALLEL_FROM, in several batches


def hoso(n: int) -> list[tuple[str, str | bytes]]:
    """A visit; every 7th one carries a suspect SO_CCCD (flagged), every 50th lacks MA_LK (rejected)."""
    key = f"LK{n:05d}"
    fields: dict[str, str | None] = {"MA_LK": None if n % 50 == 0 else key, "MA_BN": f"BN{n:05d}"}
    if n % 7 == 0:
        fields["SO_CCCD"] = "12345"
    drugs = table("CHI_TIET_THUOC", [{**DRUG, "MA_LK": key, "MA_THUOC": f"40.{i}"} for i in range(n % 4)])
    return [("XML1", summary(**fields)), ("XML2", drugs)]


def night(count: int = HOSOS, broken: dict[int, list[tuple[str, str | bytes]]] | None = None) -> bytes:
    return envelope(*((broken or {}).get(n) or hoso(n) for n in range(1, count + 1)))


def staged(data: bytes, processes: int) -> tuple[list[Any], dict[str, list[tuple[Any, ...]]], set[str], int]:
    headers, rows, facilities, flagged = [], {}, set(), 0
    for item in parsing.staged_batches(io.BytesIO(data), LoaderOptions(), processes):
        if isinstance(item, FileHeader):
            headers.append(item)
            continue
        assert isinstance(item, StagedRows)
        for name, table_rows in item.rows.items():  # Jsonb compares by identity: its value is compared
            rows.setdefault(name, []).extend(
                tuple(value.obj if isinstance(value, Jsonb) else value for value in row) for row in table_rows
            )
        facilities |= item.facilities
        flagged += item.flagged
    return headers, rows, facilities, flagged


def refusal(data: bytes, processes: int) -> str:
    with pytest.raises(UnreadableFile) as refused:
        staged(data, processes)
    return str(refused.value)


def workers_started(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The worker pools staged_batches starts from now on, by their number of processes."""
    started: list[int] = []
    start_workers = parsing._workers
    monkeypatch.setattr(
        parsing, "_workers", lambda processes: started.append(processes) or start_workers(processes)
    )
    return started


def test_workers_stage_the_same_rows_in_the_same_order_as_reading_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started = workers_started(monkeypatch)
    data = night()
    in_order = staged(data, 1)
    assert started == []
    in_workers = staged(data, 2)
    assert started == [2]
    assert in_workers == in_order
    _, rows, facilities, flagged = in_workers
    assert (len(rows["stg_record"]), len(rows["stg_reject"]), facilities) == (686, 14, {"27001"})
    assert flagged == 100 - 2  # the 7th visits, less the two rejected ones (350 and 700)
    assert [row[0] for row in rows["stg_record"]] == [n for n in range(1, HOSOS + 1) if n % 50]


@pytest.mark.parametrize("write", [write_fhir_ndjson, write_csv])
def test_a_large_fhir_or_csv_file_is_read_and_staged_here(
    monkeypatch: pytest.MonkeyPatch, write: Any
) -> None:
    """Its records are read in this process: sending them to workers to stage costs more than staging them."""
    started = workers_started(monkeypatch)
    records = [make_record(n, make_patient(f"BN{n}"), make_encounter(f"LK{n}")) for n in range(1, HOSOS + 1)]
    out = io.BytesIO()
    write(records, out, default_profile())
    in_order = staged(out.getvalue(), 1)
    assert staged(out.getvalue(), 2) == in_order
    assert started == []
    assert len(in_order[1]["stg_record"]) == HOSOS


def test_an_unreadable_hoso_refuses_the_file_with_the_reason_it_gives_in_order() -> None:
    bad = [("XML1", summary()[:-3])]
    late = night(broken={600: bad})
    assert refusal(late, 2) == refusal(late, 1)
    assert refusal(late, 2).startswith("HOSO 600 XML1 is not well-formed XML")
    # A HOSO's own problem comes before a problem of the envelope after it, as read in order.
    cut = late[: late.index(b"<HOSO>", late.index(b"</HOSO>", len(late) - 2000))]
    assert refusal(cut, 2) == refusal(cut, 1) == refusal(late, 1)
    miscounted = night().replace(f"<SOLUONGHOSO>{HOSOS}<".encode(), b"<SOLUONGHOSO>3<")
    assert refusal(miscounted, 2) == refusal(miscounted, 1)
    assert "SOLUONGHOSO says 3 records" in refusal(miscounted, 2)


def test_a_large_file_loads_through_workers_with_every_record_accounted_for(
    database: Database, tmp_path: Path
) -> None:
    path = tmp_path / "night.xml"
    path.write_bytes(night())
    result = load_file(database.url, path, LoaderOptions(), Submission(submitted_by="test"), processes=2)
    assert (result.status, result.records_in, result.loaded, result.rejected) == ("loaded", 700, 686, 14)
    assert result.flagged == 98
    with database.connect() as connection:
        stored = connection.execute(
            "SELECT (SELECT count(*) FROM encounter), (SELECT count(*) FROM medication),"
                 " (SELECT count(*) FROM ingest_reject), (SELECT count(DISTINCT position) FROM ingest_flag)"
        ).one()  # fmt: skip
    drugs = sum(n % 4 for n in range(1, HOSOS + 1) if n % 50)
    assert tuple(stored) == (686, drugs, 14, 98)


@pytest.mark.parametrize(("load", "processes"), [(0.1, 4), (1.6, 2), (3.4, 1), (12.0, 1)])
def test_workers_are_as_many_as_the_idle_cpus(
    monkeypatch: pytest.MonkeyPatch, load: float, processes: int
) -> None:
    monkeypatch.setattr(parsing.os, "cpu_count", lambda: 4)
    monkeypatch.setattr(parsing.os, "getloadavg", lambda: (load, load, load))
    assert parsing.idle_cpus() == processes
