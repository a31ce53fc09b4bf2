"""Small files loaded together (registry/ingest/load.py's groups): each file keeps the outcome, batch,
counts, rejects and links it has when loaded alone, and a bad file spoils no other."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loaders.csv_write import write_csv
from loaders.options import LoaderOptions, default_profile
from loaders.records import SourceRecord
from registry.db.sql import connect
from registry.ingest import load as loading
from registry.ingest.load import IncomingFile, LoadResult, Submission, load_file, load_files
from tests.conftest import cloned_database
from tests.factories import make_encounter, make_patient, make_record
from tests.registry.test_ingest import write_file

CLI = Submission(submitted_by="test")
NAMES = ("Trần Thị Lan", "Lê Văn Minh", "Phạm Thị Hương", "Hoàng Văn Nam", "Vũ Thị Phương", "Đỗ Văn Long")


def visit(n: int, local_id: str | None = None, *, drugs: int = 2, facility: str = "27001") -> SourceRecord:
    """A visit of patient n (each n a different person)."""
    patient = make_patient(
        local_id or f"BN{n}", facility_code=facility, full_name=NAMES[n % 6], born=(1950 + n, 1 + n % 12, 1 + n),
        serial=f"{n:06d}",
    )  # fmt: skip
    return make_record(1, patient, make_encounter(f"LK{n}{local_id or ''}", drugs=drugs))


def nameless(record: SourceRecord, position: int) -> SourceRecord:
    """The record with no name: rejected (model_construct does not validate, as a facility's file does not)."""
    patient = record.patient.model_copy(update={"full_name": ""})
    return SourceRecord.model_construct(
        position=position, locator=f"HOSO {position}", patient=patient, encounter=record.encounter,
        skipped_tables=(),
    )  # fmt: skip


def a_feed(folder: Path) -> list[IncomingFile]:
    """A facility's feed of small files with every outcome a file can have, in the order sent."""
    files: list[tuple[Path, LoaderOptions]] = []
    xml = LoaderOptions()
    files.append((write_file(folder / "01-visit.xml", [visit(1)]), xml))
    with_reject = [visit(2), make_record(2, visit(3).patient, visit(3).encounter)]
    with_reject[1] = nameless(with_reject[1], 2)
    files.append((write_file(folder / "02-one-rejected.xml", with_reject), xml))
    whole = write_file(folder / "03-truncated.xml", [visit(4)])
    whole.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    files.append((whole, xml))
    files.append((write_file(folder / "04-visit.xml", [visit(5, drugs=0)]), xml))
    files.append((write_file(folder / "05-same-patient-again.xml", [visit(1, "BN1")]), xml))
    again = folder / "06-the-first-again.xml"
    again.write_bytes((folder / "01-visit.xml").read_bytes())
    files.append((again, xml))
    corrected = visit(1)
    corrected = make_record(1, corrected.patient, make_encounter("LK1", main_diagnosis="J18.9", drugs=1))
    files.append((write_file(folder / "07-first-corrected.xml", [corrected]), xml))
    quiet = folder / "08-quiet.ndjson"
    quiet.write_bytes(b"")
    files.append((quiet, LoaderOptions(facility_code="27001")))
    clinic = folder / "09-clinic.csv"
    with clinic.open("wb") as out:
        write_csv([visit(6, facility="27002")], out, default_profile())
    files.append((clinic, xml))
    mixed = folder / "10-two-facilities.csv"
    with mixed.open("wb") as out:
        write_csv([visit(7, facility="27002"), visit(8, facility="27003")], out, default_profile())
    files.append((mixed, xml))
    files.append((write_file(folder / "11-visit.xml", [visit(9)]), xml))
    return [IncomingFile(path, options, CLI) for path, options in files]


# Rows by what they are, not by their ids: records of a group are numbered in its merge's key order.
_PATIENT = "(SELECT facility_code || '/' || local_id FROM source_patient WHERE id = {column})"
_VISIT = "(SELECT facility_code || '/' || encounter_key FROM encounter WHERE id = {column})"
_FOUNDER = _PATIENT.format(
    column="(SELECT founded_by_source_patient_id FROM master_patient WHERE id = {column})"
)
_STATE = {
    "ingest_batch": "SELECT id, facility_code, channel, filename, content_sha256, size_bytes, format, status, error,"
    " records_in, loaded, updated, unchanged, rejected, skipped_tables, extract_date, declared_count, visits,"
    " visits_with_citizen_id FROM ingest_batch ORDER BY id",
    "ingest_reject": "SELECT * FROM ingest_reject ORDER BY batch_id, position",
    "ingest_flag": "SELECT * FROM ingest_flag ORDER BY batch_id, position, ordinal",
    "source_patient": "SELECT facility_code, local_id, version, content_sha256, first_batch_id, last_batch_id"
    " FROM source_patient ORDER BY 1, 2",
    "source_patient_version": f"SELECT {_PATIENT.format(column='source_patient_id')} AS patient, version, batch_id,"
    " content_sha256 FROM source_patient_version ORDER BY 1, 2",
    "encounter": f"SELECT facility_code, encounter_key, {_PATIENT.format(column='source_patient_id')}, version,"
    " content_sha256, first_batch_id, last_batch_id FROM encounter ORDER BY 1, 2",
    "encounter_version": f"SELECT {_VISIT.format(column='encounter_id')} AS visit, version, batch_id, content_sha256"
    " FROM encounter_version ORDER BY 1, 2",
    "medication": f"SELECT {_VISIT.format(column='encounter_id')} AS visit, ordinal, code FROM medication ORDER BY 1, 2",
    "patient_link": f"SELECT {_PATIENT.format(column='source_patient_id')} AS patient,"
    f" {_FOUNDER.format(column='master_patient_id')}, method, batch_id, superseded_at IS NULL FROM patient_link"
    " ORDER BY 1, 5, 4",
    "master_patient": f"SELECT {_PATIENT.format(column='founded_by_source_patient_id')} AS founder, citizen_id"
    " FROM master_patient ORDER BY 1",
}


def stored(url: str) -> dict[str, list[tuple[Any, ...]]]:
    with connect(url) as connection:
        return {table: connection.execute(sql).fetchall() for table, sql in _STATE.items()}


@pytest.fixture
def second_db_url(server_url: str, template_url: str) -> Iterator[str]:
    with cloned_database(server_url, template_url) as url:
        yield url


def loaded_together(url: str, files: list[IncomingFile], processes: int = 1) -> list[LoadResult]:
    with connect(url) as connection:
        connection.autocommit = True
        return list(load_files(connection, files, processes=processes))


@pytest.mark.parametrize("processes", [1, 2])
def test_files_loaded_together_each_have_the_outcome_they_have_alone(
    db_url: str, second_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, processes: int
) -> None:
    """Read in this process, or (processes=2) by worker processes from the first file on."""
    monkeypatch.setattr(loading, "READ_HERE", 0)
    files = a_feed(tmp_path)
    together = loaded_together(db_url, files, processes)
    alone = [load_file(second_db_url, f.path, f.options, f.submission) for f in files]
    assert [r.summary() for r in together] == [r.summary() for r in alone]
    assert [r.status for r in together] == [
        "loaded", "loaded", "rejected", "loaded", "loaded", "duplicate", "loaded", "loaded", "loaded",
        "rejected", "loaded",
    ]  # fmt: skip
    rows, rows_alone = stored(db_url), stored(second_db_url)
    for table, found in rows.items():
        assert found == rows_alone[table], table
    # Loaded together indeed: the files up to the one sending a patient again share a transaction.
    with connect(db_url) as connection:
        transactions = [
            xmin for (xmin,) in connection.execute("SELECT xmin::text FROM ingest_batch ORDER BY id")
        ]
    assert len(set(transactions[:4])) == 1 and transactions[4] != transactions[3]
    assert len(set(transactions)) < len(transactions) - 4


def test_a_bad_file_among_good_ones_is_refused_alone_with_the_reason_it_has_alone(
    db_url: str, second_db_url: str, tmp_path: Path
) -> None:
    good = [write_file(tmp_path / f"{n}.xml", [visit(n)]) for n in range(1, 6)]
    bad = tmp_path / "bad.xml"
    bad.write_bytes(good[0].read_bytes().replace(b"<SOLUONGHOSO>1<", b"<SOLUONGHOSO>2<"))
    files = [IncomingFile(path, LoaderOptions(), CLI) for path in [*good[:2], bad, *good[2:]]]
    results = loaded_together(db_url, files)
    alone = load_file(second_db_url, bad, LoaderOptions(), CLI)
    assert [r.status for r in results] == ["loaded", "loaded", "rejected", "loaded", "loaded", "loaded"]
    assert alone.status == "rejected" and results[2].error == alone.error
    assert alone.error == "THONGTINHOSO/SOLUONGHOSO says 2 records, but the file holds 1 HOSO"
    assert len({r.batch_id for r in results}) == 6  # a receipt of its own for every file
    with connect(db_url) as connection:
        batches = connection.execute(
            "SELECT filename, status, error FROM ingest_batch ORDER BY id"
        ).fetchall()
        visits = connection.execute("SELECT count(*) FROM encounter").fetchone()
    assert batches == [(Path(f.path).name, r.status, r.error) for f, r in zip(files, results, strict=True)]
    assert visits == (5,)


def test_when_a_groups_transaction_fails_its_files_are_loaded_alone(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    merge = loading.merge_staged

    def failing_with_the_poisoned_file(connection: Any, batches: list[Any]) -> Any:
        names = connection.execute(
            "SELECT filename FROM ingest_batch WHERE id = ANY(%s)", ([b.batch_id for b in batches],)
        ).fetchall()
        if ("poisoned.xml",) in names:
            raise RuntimeError("the database refused it")
        return merge(connection, batches)

    monkeypatch.setattr(loading, "merge_staged", failing_with_the_poisoned_file)
    paths = [write_file(tmp_path / "1.xml", [visit(1)]), write_file(tmp_path / "poisoned.xml", [visit(2)])]
    results = []
    with connect(db_url) as connection, pytest.raises(RuntimeError, match="refused"):
        connection.autocommit = True
        for result in load_files(connection, [IncomingFile(path, LoaderOptions(), CLI) for path in paths]):
            results.append(result)
    assert [(r.path, r.status) for r in results] == [(str(paths[0]), "loaded")]
    with connect(db_url) as connection:
        batches = connection.execute("SELECT filename, status FROM ingest_batch").fetchall()
    assert batches == [("1.xml", "loaded")]  # the poisoned file left nothing, and spoiled nothing
