"""Tables on the terminal as the command line prints them: readable at 80 columns and the same when
piped (rich writes 80 columns without colour then, or $COLUMNS). A listing keeps the columns that
matter at the width it has, dropping the others in the order given, and folds a long value onto
more lines rather than cutting it to an ellipsis."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rich import box
from rich.table import Table
from rich.text import Text

Cell = str | Text


def plain_table(title: str | None = None, caption: str | None = None) -> Table:
    """A table with a rule under its header and nothing else around it."""
    return Table(
        title=title, caption=caption, box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True,
        title_justify="left", caption_justify="left", show_edge=False,
    )  # fmt: skip


@dataclass(frozen=True)
class Column:
    header: str
    justify: Literal["left", "right"] = "left"
    # 0: always shown; otherwise dropped when the table is too wide, the highest first.
    drop: int = 0
    # A value this column may fold onto several lines (a file name, a reason), else kept on one.
    folds: bool = False


def _width(cell: Cell) -> int:
    text = cell.plain if isinstance(cell, Text) else cell
    return max((len(line) for line in text.splitlines()), default=0)


def listing(
    columns: Sequence[Column],
    rows: Sequence[Sequence[Cell]],
    width: int,
    title: str | None = None,
    caption: str | None = None,
) -> Table:
    """A table of `rows` within `width` columns: the droppable columns dropped, highest `drop`
    first, until the others fit whole, or none is left to drop (the folding ones then fold); the
    dropped ones named in the caption (`--json` has every field)."""
    natural = [max([len(c.header), *(_width(row[i]) for row in rows)]) for i, c in enumerate(columns)]
    # What a folding column needs at least: its header, or 12 characters of its values.
    needed = [min(n, max(len(c.header), 12)) if c.folds else n for c, n in zip(columns, natural, strict=True)]
    shown = list(range(len(columns)))
    for index in sorted((i for i, c in enumerate(columns) if c.drop), key=lambda i: -columns[i].drop):
        if sum(natural[i] for i in shown) + 2 * (len(shown) - 1) <= width:
            break
        shown.remove(index)
    dropped = [columns[i].header for i in range(len(columns)) if i not in shown]
    if dropped:
        note = f"not shown at this width: {', '.join(dropped)} (see --json)"
        caption = f"{caption}\n{note}" if caption else note
    table = plain_table(title)
    if caption:
        table.caption = Text(caption)  # plain text: values are not rich markup
    for i in shown:
        column = columns[i]
        table.add_column(
            column.header,
            justify=column.justify,
            no_wrap=not column.folds,
            overflow="fold",
            min_width=needed[i] if not column.folds else None,
        )
    for row in rows:
        table.add_row(*(row[i] if isinstance(row[i], Text) else Text(row[i]) for i in shown))
    return table
