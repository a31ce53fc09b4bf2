"""Command functions for the provreg CLI: `provreg synth` writes a synthetic province,
`provreg synth-score` scores a links export against its truth. registry/cli.py mounts them."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from registry.synth.score import print_score, score_links
from registry.synth.writer import DEFAULT_START, generate_province

_DEFAULT_START = datetime(DEFAULT_START.year, DEFAULT_START.month, DEFAULT_START.day)


def synth(
    persons: Annotated[int, typer.Option(min=1, help="People living in the province.")] = 50_000,
    facilities: Annotated[
        int, typer.Option(min=1, help="Facilities posting files (Bạch Mai is added).")
    ] = 12,
    days: Annotated[int, typer.Option(min=1, help="Nights of postings.")] = 30,
    seed: Annotated[int, typer.Option(help="The same seed writes the same bytes.")] = 1,
    out: Annotated[Path, typer.Option(help="Folder to write (created).")] = Path("synth-province"),
    start: Annotated[
        datetime,
        typer.Option(
            formats=["%Y-%m-%d"], help="First night; the default window straddles the 1 July 2025 merger."
        ),
    ] = _DEFAULT_START,
) -> None:
    """Write a synthetic province: each facility's nightly XML 130 / FHIR / CSV files, the ground
    truth (truth_persons.csv, truth_records.csv, facilities.csv) and a folder of broken files."""
    console = Console()
    with console.status(f"Generating {persons:,} people, {facilities} facilities, {days} nights ..."):
        summary = generate_province(
            out, persons=persons, facilities=facilities, days=days, seed=seed, start=start.date()
        )
    console.print(
        f"[green]Wrote[/green] {summary.out}: {summary.files:,} files with {summary.records:,} records "
        f"({summary.expected_rejects:,} expected rejects) over {summary.nights} nights, "
        f"{summary.persons:,} people in {summary.households:,} households, "
        f"{summary.broken_files} broken files; {summary.seconds:.1f} s"
    )


def synth_score(
    links: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A `provreg links export` CSV.")],
    truth: Annotated[
        Path, typer.Option(exists=True, file_okay=False, help="The folder `provreg synth` wrote.")
    ],
) -> None:
    """Score a linkage against the synthetic truth: pairwise and B-cubed precision and recall,
    false merges by hard negative, missed links by noise."""
    print_score(score_links(links, truth))
