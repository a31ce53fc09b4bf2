"""`provreg quality` as tables readable on an 80-column terminal (the figures: registry/quality.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from registry.quality import Counts, FacilityQuality, Figures, QualityReport
from registry.terminal import plain_table


def share(counts: Counts) -> str:
    value = counts.citizen_id_share
    return "-" if value is None else f"{value:.1%}"


def _spans(nights: list[date]) -> list[str]:
    """Consecutive nights as one span: 2025-06-11, 2025-06-14 to 2025-06-16."""
    spans: list[list[date]] = []
    for night in nights:
        if spans and night - spans[-1][-1] == timedelta(days=1):
            spans[-1].append(night)
        else:
            spans.append([night])
    return [f"{s[0]} to {s[-1]}" if len(s) > 1 else str(s[0]) for s in spans]


def overview(report: QualityReport) -> Iterator[RenderableType]:
    """One line per facility: the period, with the previous period's figure in brackets."""
    period, previous = report.period, report.period.previous
    silent = [f.code for f in report.facilities if f.first_night is None]
    table = plain_table(
        title=f"data quality, nights {period.since} to {period.until}",
        caption=(
            f"(...): the previous period, {previous.since} to {previous.until}. Nights count from each "
            "facility's first extract; missing: no file; no data: files came, none loaded. "
            + (f"Never sent a file: {', '.join(silent)}. " if silent else "")
            + "`provreg quality --facility CODE`: the reasons, and night by night."
        ),
    )
    table.add_column("facility", no_wrap=True)
    for column in ("nights", "missing", "no data", "records", "rejected", "flagged", "citizen ID"):
        table.add_column(column, justify="right", no_wrap=True)
    for f in report.facilities:
        now, before = f.period, f.previous
        if f.first_night is None:
            continue
        missing = Text(f"{now.nights_missing} ({before.nights_missing})")
        if now.nights_missing:
            missing.stylize("red")
        table.add_row(
            f.code, str(now.nights), missing, f"{now.nights_not_loaded} ({before.nights_not_loaded})",
            f"{now.records_in:,}", f"{now.rejected:,}", f"{now.flagged:,}", f"{share(now)} ({share(before)})",
        )  # fmt: skip
    yield table
    if report.unattributed_files:
        yield f"files refused whole before their facility was known: {report.unattributed_files}"


_SUMMARY = (
    ("nights (from the first extract)", "nights"),
    ("  missing: no file", "nights_missing"),
    ("  no data: files came, none loaded", "nights_not_loaded"),
    ("files received", "files"),
    ("  loaded", "files_loaded"),
    ("  refused whole", "files_refused"),
    ("  already loaded, sent again", "files_duplicate"),
    ("  waiting to be loaded", "files_waiting"),
    ("  failed to load (provreg)", "files_failed"),
    ("records in", "records_in"),
    ("  loaded", "loaded"),
    ("  updated", "updated"),
    ("  unchanged", "unchanged"),
    ("  rejected", "rejected"),
    ("fields flagged", "flagged"),
    ("visits", "visits"),
    ("  with a valid citizen ID", "visits_with_citizen_id"),
)


def _summary(f: FacilityQuality) -> Table:
    table = plain_table()
    table.add_column("")
    table.add_column("this period", justify="right", no_wrap=True)
    table.add_column("previous", justify="right", no_wrap=True)
    figures: tuple[Figures, Figures] = (f.period, f.previous)
    for label, name in _SUMMARY:
        table.add_row(label, *(f"{getattr(x, name):,}" for x in figures))
    table.add_row("  share", share(f.period), share(f.previous))
    return table


def facility_detail(f: FacilityQuality, report: QualityReport) -> Iterator[RenderableType]:
    """One facility: the period against the previous one, what went wrong, and night by night."""
    period, previous = report.period, report.period.previous
    first = f"first extract {f.first_night}" if f.first_night else "no file ever received"
    yield Text(f"{f.code} {f.name} ({first})", style="bold")
    yield f"this period: nights {period.since} to {period.until}; previous: {previous.since} to {previous.until}"
    yield _summary(f)
    if f.missing_nights:
        yield Text("missing nights: " + ", ".join(_spans(f.missing_nights)), style="red")
    if f.reject_reasons:
        yield ""
        table = plain_table("rejected records by reason (values …, numbers #)")
        table.add_column("field")
        table.add_column("reason")
        table.add_column("records", justify="right")
        for r in f.reject_reasons:
            table.add_row(r.field or "-", r.reason, f"{r.count:,}")
        yield table
    if f.flags:
        yield ""
        table = plain_table("fields flagged")
        table.add_column("identifier")
        table.add_column("kind")
        table.add_column("fields", justify="right")
        for flag in f.flags:
            table.add_row(flag.identifier or "other", flag.kind, f"{flag.count:,}")
        yield table
    if f.file_refusals:
        yield ""
        table = plain_table("files refused whole by reason")
        table.add_column("reason")
        table.add_column("files", justify="right")
        for r in f.file_refusals:
            table.add_row(r.reason, f"{r.count:,}")
        yield table
    if f.nights:
        yield ""
        yield _nights(f)


def _nights(f: FacilityQuality) -> Table:
    table = plain_table("night by night")
    table.add_column("night", no_wrap=True)
    for column in ("files", "loaded", "refused", "records", "rejected", "flagged", "citizen ID"):
        table.add_column(column, justify="right", no_wrap=True)
    for n in f.nights:
        if n.missing:
            table.add_row(str(n.night), Text("no file", style="red"), *[""] * 6)
            continue
        table.add_row(
            str(n.night), str(n.files), str(n.files_loaded), str(n.files_refused), f"{n.records_in:,}",
            f"{n.rejected:,}", f"{n.flagged:,}", share(n),
        )  # fmt: skip
    return table


def renderables(report: QualityReport, facility: str | None) -> Iterator[RenderableType]:
    if facility is None:
        yield from overview(report)
        return
    for f in report.facilities:
        yield from facility_detail(f, report)
