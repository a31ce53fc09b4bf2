"""XML 130 detail rows (drugs, services, results, progress notes): what a detail table is (`RowTable`,
its `Column`s; the tables themselves are in loaders/xml130.py), and its rows read the fast way when clean.

Almost every row of a real file is clean: every value reads, nothing is flagged, every text fits.
`clean_rows` reads such a table straight into its models: each row's children are matched to the
table's columns once per layout (the sequence of child tags, which a facility's software repeats row
after row) instead of a dict per row, raw values are cleaned or parsed once per episode, and the
table's rows are validated by pydantic in one call. At the first row that is not clean it gives up
and loaders/xml130.py reads the whole table the plain way (a FieldReader per row), which alone
words reasons, flags and excerpts. Both ways give the same models (tests/loaders/test_xml130.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from xml.etree.ElementTree import Element

from pydantic import BaseModel, TypeAdapter, ValidationError

from loaders.dates import parse_timestamp
from loaders.fields import parse_decimal
from loaders.text import clean_text

ColumnKind = Literal["text", "decimal", "time"]


@dataclass(frozen=True, slots=True)
class Column:
    attribute: str
    element: str
    kind: ColumnKind = "text"
    alternative: str | None = None  # another element holding the same value (TEN_VAT_TU for supplies)


@dataclass(frozen=True, slots=True)
class RowTable:
    """A detail table: its rows (found wherever they sit) become one canonical model each."""

    name: str  # LOAIHOSO
    root: str  # the standard's root and list wrapper, as provreg writes them
    wrapper: str
    row: str
    model: type[BaseModel]
    attribute: str  # the Encounter field holding the rows
    columns: tuple[Column, ...]


# Layouts remembered per process: a file has a handful; a hostile one with a new layout per row
# empties the memo now and then instead of growing it.
_MAX_LAYOUTS = 1024
# Raw values remembered per process (seen_values), each at most this long: a few MB at worst.
_MAX_SEEN = 20_000
_MAX_SEEN_CHARS = 100
_UNSEEN: Any = object()


@dataclass(slots=True)
class Seen:
    """Values already read, by raw string: a file's rows repeat names, codes, units and times.

    Cleaning a text and parsing a time depend on the raw string alone, so what one episode read
    serves the next ones (`seen_values`); only short values are kept (`remember`).
    """

    texts: dict[str, str | None] = field(default_factory=dict)
    times: dict[str, datetime] = field(default_factory=dict)

    def text(self, raw: str) -> str | None:
        cleaned = self.texts.get(raw, _UNSEEN)
        if cleaned is _UNSEEN:
            cleaned = clean_text(raw)
            if remember(raw):
                self.texts[raw] = cleaned
        return cleaned


def remember(raw: str) -> bool:
    """Whether a raw value is short enough to be kept in Seen."""
    return len(raw) <= _MAX_SEEN_CHARS


_seen = Seen()


def seen_values() -> Seen:
    """This process's values already read, emptied first when full (asked once per episode)."""
    if len(_seen.texts) + len(_seen.times) > _MAX_SEEN:
        _seen.texts.clear()
        _seen.times.clear()
    return _seen


@dataclass(frozen=True, slots=True)
class _Layout:
    columns: tuple[tuple[str, ColumnKind, int | None, int | None], ...]  # attribute, kind, child, alternative
    key: int | None  # the row's MA_LK


_layouts: dict[tuple[str, tuple[str, ...]], _Layout] = {}
_adapters: dict[type[BaseModel], TypeAdapter[tuple[BaseModel, ...]]] = {}


def clean_rows(
    table: RowTable, elements: Sequence[Element], seen: Seen, encounter_id: str | None
) -> tuple[BaseModel, ...] | None:
    """The table's rows as models, or None if any row is not clean (for the plain reading to word why)."""
    texts, times = seen.texts, seen.times
    rows: list[dict[str, object]] = []
    for element in elements:
        tags = tuple([child.tag for child in element])
        layout = _layouts.get((table.name, tags))
        if layout is None:
            layout = _layout(table, tags)
        raws = [child.text for child in element]
        values: dict[str, object] = {}
        for attribute, kind, index, alternative in layout.columns:
            raw = raws[index] if index is not None else None
            if not raw and alternative is not None:
                raw = raws[alternative]
            value: object = None
            if raw is None:
                pass
            elif kind == "text":
                value = texts.get(raw, _UNSEEN)
                if value is _UNSEEN:
                    value = seen.text(raw)
            elif kind == "time":
                value = times.get(raw)
                if value is None and (text := clean_text(raw)) is not None:
                    try:
                        value = parse_timestamp(text)
                    except Exception:  # flagged by the plain reading
                        return None
                    if remember(raw):
                        times[raw] = value
            elif (text := clean_text(raw)) is not None:
                try:
                    value = parse_decimal(text)
                except Exception:  # flagged by the plain reading
                    return None
            values[attribute] = value
        if layout.key is not None and encounter_id and (raw_key := raws[layout.key]) is not None:
            key = seen.text(raw_key)
            if key and key != encounter_id:  # another episode's row: an error the plain reading words
                return None
        rows.append(values)
    try:
        return _adapter(table.model).validate_python(rows)
    except ValidationError:  # a text over its length: an error the plain reading words
        return None


def _layout(table: RowTable, tags: tuple[str, ...]) -> _Layout:
    """Which child holds each column: the last one of that name in any case, as the plain reading finds it."""
    where = {tag.upper(): index for index, tag in enumerate(tags)}
    columns = tuple(
        (
            column.attribute,
            column.kind,
            where.get(column.element),
            where.get(column.alternative) if column.alternative else None,
        )
        for column in table.columns
    )
    if len(_layouts) >= _MAX_LAYOUTS:
        _layouts.clear()
    layout = _layouts[table.name, tags] = _Layout(columns, where.get("MA_LK"))
    return layout


def _adapter(model: type[BaseModel]) -> TypeAdapter[tuple[BaseModel, ...]]:
    adapter = _adapters.get(model)
    if adapter is None:
        adapter = _adapters[model] = TypeAdapter(tuple[model, ...])  # type: ignore[valid-type]
    return adapter
