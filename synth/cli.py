"""What `provreg synth` and `provreg synth-score` do. registry/cli.py declares those commands and
imports this module only when one of them runs, so an install without this package runs the rest."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from rich.console import Console

from synth.score import print_score, score_links
from synth.writer import DEFAULT_START, generate_province


def synth(
    *, persons: int, facilities: int, days: int, seed: int, out: Path, start: date | None = None
) -> None:
    """Write a synthetic province (default start: DEFAULT_START) and print what was written."""
    console = Console()
    with console.status(f"Generating {persons:,} people, {facilities} facilities, {days} nights ..."):
        summary = generate_province(
            out, persons=persons, facilities=facilities, days=days, seed=seed, start=start or DEFAULT_START
        )
    console.print(
        f"[green]Wrote[/green] {summary.out}: {summary.files:,} files with {summary.records:,} records "
        f"({summary.expected_rejects:,} expected rejects) over {summary.nights} nights, "
        f"{summary.persons:,} people in {summary.households:,} households, "
        f"{summary.broken_files} broken files; {summary.seconds:.1f} s"
    )


def synth_score(links: Path, truth: Path) -> None:
    """Score a links export against the synthetic truth and print it."""
    print_score(score_links(links, truth))
