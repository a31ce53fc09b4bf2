"""The `provreg` command line."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
from collections.abc import Callable, Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from loaders.options import LoaderOptions, load_profile
from loaders.records import SourceFormat
from registry import reads
from registry.access.roles import Role
from registry.config import IngestConfig, Settings
from registry.db import embedded, migrate
from registry.db.sql import connect, database_url, owner_database_url, run
from registry.identity.links_export import export_links
from registry.ingest.load import IncomingFile, LoadResult, Submission, load_files
from registry.terminal import Column, listing

if TYPE_CHECKING:
    from registry.identity.batch_relink import RelinkSummary

app = typer.Typer(
    help="provreg: the provincial patient registry and master patient index.", no_args_is_help=True
)
db_app = typer.Typer(help="The database: schema migrations and the embedded server.", no_args_is_help=True)
links_app = typer.Typer(help="Links from facility patients to master identities.", no_args_is_help=True)
tokens_app = typer.Typer(
    help="Bearer tokens of the API: create (shown once), list, revoke.", no_args_is_help=True
)
app.add_typer(db_app, name="db")
app.add_typer(links_app, name="links")
app.add_typer(tokens_app, name="tokens")

console = Console()
errors = Console(stderr=True)
T = TypeVar("T")


def _current_url(settings: Settings) -> str:
    """The URL of a database whose schema is current; exits with a clear message otherwise."""
    url = database_url(settings)
    try:
        migrate.require_current(url)
    except migrate.SchemaBehind as behind:
        errors.print(f"[red]{behind}[/red]")
        raise typer.Exit(2) from None
    return url


def _configured(read: Callable[[], T]) -> T:
    """Settings read from the environment; one that is malformed exits, naming it."""
    try:
        return read()
    except ValueError as malformed:
        errors.print(f"[red]{malformed}[/red]")
        raise typer.Exit(2) from None


def _database() -> str:
    """The URL of the database, whose schema is current; exits with a clear message otherwise."""
    return _current_url(Settings.from_env())


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending schema migrations (sql/), as the schema's owner (PROVREG_OWNER_DATABASE_URL, else DATABASE_URL)."""
    applied = migrate.upgrade(owner_database_url(Settings.from_env()))
    console.print(
        f"applied {len(applied)} migration(s): {', '.join(applied)}" if applied else "schema is current"
    )


@db_app.command("status")
def db_status() -> None:
    """Show applied and pending migrations."""
    found = migrate.status(database_url(Settings.from_env()))
    console.print(f"applied: {', '.join(found.applied) or '-'}")
    console.print(f"pending: {', '.join(found.pending) or '-'}")


@db_app.command("stop")
def db_stop() -> None:
    """Stop the embedded PostgreSQL server (no effect with DATABASE_URL)."""
    settings = Settings.from_env()
    if settings.database_url:
        console.print("DATABASE_URL is set: provreg does not manage that server")
        return
    console.print("stopped" if embedded.stop(settings.home) else "not running")


@db_app.command("url")
def db_url() -> None:
    """Print the connection URI (starting the embedded server if needed), e.g. for psql."""
    console.print(database_url(Settings.from_env()), soft_wrap=True)


@db_app.command("backup")
def db_backup(
    out: Annotated[Path, typer.Option(help="A new folder for the backup")],
) -> None:
    """Back up the database server: a base backup with its WAL and manifests (docs/operations.md)."""
    from registry.db import backup

    url = owner_database_url(Settings.from_env())
    try:
        if sys.stderr.isatty():
            columns = (
                TextColumn("base backup"),
                BarColumn(),
                TextColumn("{task.completed:,.0f}/{task.total:,.0f} kB"),
            )
            with Progress(*columns, console=errors, transient=True) as bar:
                task = bar.add_task("backup", total=None)
                taken = backup.take(
                    url, out, progress=lambda done, total: bar.update(task, completed=done, total=total)
                )
        else:
            taken = backup.take(url, out)
    except backup.BackupError as failed:
        errors.print(f"[red]backup failed: {failed}[/red]")
        raise typer.Exit(1) from None
    console.print(
        f"backed up PostgreSQL {taken.postgres_version} to {out} in {taken.seconds:.1f} s "
        f"(registry database {taken.database_bytes / 1e6:,.1f} MB); check it with `provreg db verify-backup {out}`"
    )


@db_app.command("verify-backup")
def db_verify_backup(
    folder: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="A backup's folder")],
) -> None:
    """Check a backup with pg_verifybackup: every file against its checksum, its WAL readable."""
    from registry.db import backup

    try:
        said = backup.verify(folder)
    except backup.BackupError as failed:
        errors.print(f"[red]{folder} does not verify: {failed}[/red]")
        raise typer.Exit(1) from None
    manifest = backup.BackupManifest.read(folder)
    console.print(f"{said} (taken {manifest.finished_at}, PostgreSQL {manifest.postgres_version})")


@db_app.command("restore")
def db_restore(
    folder: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="A backup's folder")],
    wal_archive: Annotated[
        Path | None,
        typer.Option(exists=True, file_okay=False, help="The WAL archive (`db archive-wal`) to replay"),
    ] = None,
    until: Annotated[
        datetime | None,
        typer.Option(
            formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f%z"],
            help="Replay up to this time (with its UTC offset, e.g. 2026-01-05T02:00:00+07:00)",
        ),
    ] = None,
    pgdata: Annotated[
        Path | None,
        typer.Option(help="Write this new data directory instead (a server provreg does not run)"),
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the replay")] = 3600.0,
) -> None:
    """Restore a backup: the embedded server's data replaced (the old kept beside it), or a new data
    directory written for a server of your own; with --wal-archive, replayed to --until or its end."""
    from registry.db import backup

    settings = Settings.from_env()
    try:
        if pgdata is not None:
            backup.restore(folder, pgdata, wal_archive, until)
            console.print(f"restored into {pgdata}: start PostgreSQL on it (it replays, then takes writes)")
            return
        if settings.database_url:
            errors.print(
                "[red]DATABASE_URL is set: provreg does not run that server; restore with --pgdata[/red]"
            )
            raise typer.Exit(2)
        url, kept = backup.restore_embedded(settings.home, folder, wal_archive, until, timeout)
    except backup.BackupError as failed:
        errors.print(f"[red]restore failed: {failed}[/red]")
        raise typer.Exit(1) from None
    console.print(f"restored {folder}{f' up to {until.isoformat()}' if until else ''}; serving at {url}")
    if kept is not None:
        console.print(f"the data it replaced is kept in {kept} (remove it once satisfied)")


@db_app.command("archive-wal")
def db_archive_wal(
    out: Annotated[Path, typer.Option(help="The WAL archive's folder")],
) -> None:
    """Stream the server's WAL into a folder until stopped (for point-in-time recovery; a service)."""
    from registry.db import backup

    try:
        command = backup.archive_wal_command(owner_database_url(Settings.from_env()), out)
    except backup.BackupError as failed:
        errors.print(f"[red]{failed}[/red]")
        raise typer.Exit(1) from None
    # This process becomes pg_receivewal: a service manager's stop reaches it directly.
    os.execv(command[0], command)


standby_app = typer.Typer(
    help="A streaming-replication standby of the database, on this machine (docs/operations.md).",
    no_args_is_help=True,
)
db_app.add_typer(standby_app, name="standby")


@standby_app.command("create")
def standby_create(
    pgdata: Annotated[Path, typer.Option(help="A new data directory for the standby")],
    synchronous: Annotated[
        bool, typer.Option(help="Make the primary's commits wait until the standby has them")
    ] = False,
) -> None:
    """Make a standby of the database's server: a base backup that follows it through a replication slot."""
    from registry.db import standby

    primary = owner_database_url(Settings.from_env())
    try:
        standby.create(primary, pgdata)
    except standby.StandbyError as failed:
        errors.print(f"[red]{failed}[/red]")
        raise typer.Exit(1) from None
    if synchronous:
        standby.require_synchronous(primary)
    console.print(
        f"standby {standby.NAME} made in {pgdata}"
        + ("; the primary's commits now wait for it" if synchronous else "")
        + f". Start it with `provreg db standby start --pgdata {pgdata}`"
    )


@standby_app.command("start")
def standby_start(pgdata: Annotated[Path, typer.Option(help="The standby's data directory")]) -> None:
    """Start the standby (it follows the primary and answers reads); prints its URI last."""
    from registry.db import standby

    console.print(f"standby started; its URI: {standby.start(pgdata)}", soft_wrap=True)


@standby_app.command("promote")
def standby_promote(pgdata: Annotated[Path, typer.Option(help="The standby's data directory")]) -> None:
    """Promote the standby to primary (the old primary must stay down); then point DATABASE_URL at it."""
    from registry.db import standby

    try:
        standby.promote(pgdata)
    except standby.StandbyError as failed:
        errors.print(f"[red]{failed}[/red]")
        raise typer.Exit(1) from None
    console.print(f"promoted: {pgdata} takes writes; point DATABASE_URL at it")


_STANDBY_COLUMNS = (
    Column("name"),
    Column("state"),
    Column("commits"),
    Column("lag (bytes)", "right"),
    Column("lag (seconds)", "right"),
)


@standby_app.command("status")
def standby_status(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per standby")] = False,
) -> None:
    """The standbys following the database's server, and how far behind they are."""
    from registry.db import standby

    found = standby.replication(owner_database_url(Settings.from_env()))
    if as_json:
        for replica in found:
            _print_json(dataclasses.asdict(replica))
        return
    rows = [
        (
            r.name, r.state, r.sync_state, f"{r.replay_lag_bytes:,}",
            "" if r.replay_lag_seconds is None else f"{r.replay_lag_seconds:.3f}",
        )
        for r in found
    ]  # fmt: skip
    console.print(listing(_STANDBY_COLUMNS, rows, console.width, "standbys", None if rows else "no standby"))


@app.command()
def load(
    paths: Annotated[
        list[Path],
        typer.Argument(exists=True, help="Files to load, in order; a folder: its files in name order"),
    ],
    facility: Annotated[str | None, typer.Option(help="Facility code the files come from (MA_CSKCB)")] = None,
    file_format: Annotated[str, typer.Option("--format", help="auto, xml130, fhir or csv")] = "auto",
    profile: Annotated[
        Path | None, typer.Option(help="Vendor profile (TOML): FHIR systems, CSV columns")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON summary per file")] = False,
    night: Annotated[
        datetime | None,
        typer.Option(
            formats=["%Y-%m-%d"], help="The night the files cover (else their visits' or header's day)"
        ),
    ] = None,
    backfill: Annotated[
        bool,
        typer.Option(
            help="History: store every file first, then link everything once with the batch re-link"
        ),
    ] = False,
) -> None:
    """Load facility extracts (XML 130, FHIR R4, CSV). Exit 1 if any file was rejected whole.

    With --backfill (a facility's history, a re-load), the files are stored without linking and the
    whole registry is re-linked once at the end, as `provreg match run` does.
    """
    if file_format not in ("auto", *SourceFormat):
        errors.print(f"[red]--format must be auto, xml130, fhir or csv, not {file_format!r}[/red]")
        raise typer.Exit(2)
    options = LoaderOptions(
        facility_code=facility.strip().upper() if facility else None,
        format=None if file_format == "auto" else SourceFormat(file_format),
        profile=load_profile(profile),
    )
    files = _files_of(paths)
    if not files:
        errors.print("[red]no file to load in the folder(s) given[/red]")
        raise typer.Exit(2)
    database = _database()
    submission = Submission(submitted_by=f"cli:{_user()}", night=night.date() if night else None)
    results = []
    with connect(database) as connection, _large_file_bars() as bars:
        connection.autocommit = True  # each file, or group of small files, is a transaction of its own
        incoming = (IncomingFile(path, options, submission) for path in files)
        for number, result in enumerate(
            load_files(connection, incoming, link=not backfill, progress=bars), 1
        ):
            if not as_json:
                errors.print(
                    f"file {number} of {len(files)}: {Path(result.path).name} {result.status},"
                    f" {result.records_in:,} records, {_rate(result)} records/s",
                    markup=False,
                    highlight=False,
                )
            results.append(result)
    if backfill and any(result.status == "loaded" for result in results):
        errors.print(_relink_summary(_relink(database)), markup=False, highlight=False)
    if as_json:
        for result in results:
            _print_json(result.summary())
    else:
        console.print(_summary_table(results))
    if any(result.status == "rejected" for result in results):
        raise typer.Exit(1)


def _files_of(paths: list[Path]) -> list[Path]:
    """The files given, a folder standing for its files (below it too) in name order; hidden ones left out."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = (p for p in path.rglob("*") if p.is_file())
            files.extend(
                sorted(
                    p for p in found if not any(part.startswith(".") for part in p.relative_to(path).parts)
                )
            )
        else:
            files.append(path)
    return files


def _rate(result: LoadResult) -> str:
    return f"{result.records_in / result.seconds:,.0f}" if result.seconds > 0 else "-"


def _user() -> str:
    import getpass

    return getpass.getuser()


@contextlib.contextmanager
def _large_file_bars() -> Iterator[Callable[[IncomingFile], Callable[[int], None]] | None]:
    """On a terminal, a bar for each large file as it loads (small ones load in groups, in a moment)."""
    if not sys.stderr.isatty():
        yield None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn())
    with Progress(*columns, console=errors, transient=True) as bar:

        def start(incoming: IncomingFile) -> Callable[[int], None]:
            for earlier in bar.task_ids:
                bar.remove_task(earlier)
            task = bar.add_task(incoming.path.name, total=incoming.path.stat().st_size)
            return lambda n: bar.advance(task, n)

        yield start


_LOAD_COLUMNS = (
    Column("file", folds=True),
    Column("status"),
    Column("in", "right"),
    Column("loaded", "right"),
    Column("rejected", "right"),
    Column("records/s", "right", drop=4),
    Column("batch", "right", drop=2),
    Column("updated", "right", drop=5),
    Column("unchanged", "right", drop=6),
    Column("flagged", "right", drop=3),  # stored, with a suspect field flagged (of loaded...unchanged)
    Column("format", drop=1),
    Column("facility", drop=7),
)


def _summary_table(results: list[LoadResult]) -> Table:
    rows = [
        (
            Path(r.path).name, r.status, str(r.records_in), str(r.loaded), str(r.rejected), _rate(r),
            str(r.batch_id or ""), str(r.updated), str(r.unchanged), str(r.flagged), r.format or "",
            r.facility_code or "",
        )
        for r in results
    ]  # fmt: skip
    notes = [f"{Path(r.path).name}: {r.error}" for r in results if r.error]
    return listing(_LOAD_COLUMNS, rows, console.width, "provreg load", "\n".join(notes) or None)


def _jsonable(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def _print_json(value: object) -> None:
    """One JSON document on one line (listings print one per item: JSON Lines)."""
    print(json.dumps(value, ensure_ascii=False, default=_jsonable))


_BATCH_COLUMNS = (
    Column("id", "right"),
    Column("received"),
    Column("facility"),
    Column("file", folds=True),
    Column("status"),
    Column("in", "right"),
    Column("rejected", "right"),
    Column("loaded", "right", drop=3),
    Column("updated", "right", drop=4),
    Column("unchanged", "right", drop=5),
    Column("format", drop=2),
)


@app.command()
def batches(
    limit: Annotated[int, typer.Option(help="How many, newest first")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per batch")] = False,
) -> None:
    """List ingest batches with their counts, newest first."""
    with connect(_database()) as connection:
        rows = run(connection, reads.batches(facility_code=None, before_id=None, limit=limit))
    if as_json:
        for b in rows:
            _print_json(b._asdict())
        return
    table_rows = [
        (
            str(b.id), b.received_at.strftime("%Y-%m-%d %H:%M"), b.facility_code or "", b.filename or "",
            b.status, str(b.records_in), str(b.rejected), str(b.loaded), str(b.updated), str(b.unchanged),
            b.format or "",
        )
        for b in rows
    ]  # fmt: skip
    caption = (
        "`provreg rejects ID`: why records (or the whole file) were rejected" if rows else "no batch yet"
    )
    console.print(listing(_BATCH_COLUMNS, table_rows, console.width, "ingest batches", caption))


_REJECT_COLUMNS = (
    Column("position", "right"),
    Column("local id"),
    Column("reason", folds=True),
    Column("excerpt", folds=True, drop=2),
    Column("where", folds=True, drop=1),
)


@app.command()
def rejects(
    batch_id: Annotated[int, typer.Argument(help="Batch id (see `provreg batches`)")],
    as_json: Annotated[
        bool, typer.Option("--json", help="The batch and its rejects as one JSON object")
    ] = False,
) -> None:
    """Show why records of a batch were rejected (and why a whole file was, if it was)."""
    with connect(_database()) as connection:
        batch = run(connection, reads.batch(batch_id))
        rows = run(connection, reads.rejects(batch_id)) if batch is not None else []
    if batch is None:
        errors.print(f"[red]no batch {batch_id}[/red]")
        raise typer.Exit(1)
    if as_json:
        _print_json(
            {
                "batch_id": batch.id,
                "filename": batch.filename,
                "status": batch.status,
                "error": batch.error,
                "rejects": [r._asdict() for r in rows],
            }
        )
        return
    head = f"batch {batch_id} ({batch.status})"
    if batch.error:
        # A file refused whole has no records to list: its reason is the answer.
        console.print(f"{head}: {batch.error}", markup=False, highlight=False)
        if not rows:
            return
    table_rows = [
        (str(r.position), r.local_id or r.encounter_key or "", r.reason, r.excerpt, r.locator) for r in rows
    ]
    caption = None if rows else f"{head}: no record was rejected"
    console.print(
        listing(_REJECT_COLUMNS, table_rows, console.width, f"rejects of batch {batch_id}", caption)
    )


@app.command()
def quality(
    facility: Annotated[str | None, typer.Option(help="One facility (default: every one)")] = None,
    since: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%d"], help="First night (default: 4 weeks back)")
    ] = None,
    until: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Last night (default: last night)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Data quality per facility and night: files, missing nights, rejects, flags, citizen IDs, trend."""
    from registry.quality import PeriodError, quality_report
    from registry.quality_view import renderables

    code = facility.strip().upper() if facility else None
    try:
        with connect(_database()) as connection:
            report = run(
                connection,
                quality_report(facility=code, since=since and since.date(), until=until and until.date()),
            )
    except PeriodError as refused:
        errors.print(f"[red]{refused}[/red]")
        raise typer.Exit(2) from None
    if code and not report.facilities:
        errors.print(f"[red]no facility {code} is registered[/red]")
        raise typer.Exit(1)
    if as_json:
        print(json.dumps(report.as_json(), ensure_ascii=False))
        return
    for part in renderables(report, code):
        console.print(part)


@links_app.command("export")
def links_export(
    out: Annotated[Path | None, typer.Option(help="CSV file to write (default: standard output)")] = None,
) -> None:
    """Write facility_code,local_patient_id,master_patient_id for every source patient."""
    database = _database()
    if out is None:
        export_links(database, sys.stdout.buffer)
        return
    with out.open("wb") as stream:
        count = export_links(database, stream)
    errors.print(f"wrote {count} links to {out}")


schema_app = typer.Typer(help="Published contracts in schema/.", no_args_is_help=True)
app.add_typer(schema_app, name="schema")


@schema_app.command("write")
def schema_write() -> None:
    """Regenerate the published contracts (JSON Schema of the canonical record, ...)."""
    from registry.contracts import write_all

    for path in write_all():
        console.print(f"wrote {path}")


match_app = typer.Typer(help="The matching engine: re-linking, training, review queue.", no_args_is_help=True)
app.add_typer(match_app, name="match")


@match_app.command("run")
def match_run(
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON")] = False,
) -> None:
    """Re-link every source patient (after training or a threshold change); stewards' decisions stand."""
    settings = Settings.from_env()
    _current_url(settings)
    # Rebuilding the key index drops and builds its indexes: the schema owner's work (registry/db/roles.py).
    summary = _relink(owner_database_url(settings))
    if as_json:
        _print_json(dataclasses.asdict(summary))
        return
    console.print(_relink_summary(summary))


def _relink(database: str) -> RelinkSummary:
    from registry.identity.batch_relink import relink_all

    with connect(database) as connection:
        return relink_all(connection, decided_by=f"cli:{_user()}")


def _relink_summary(summary: RelinkSummary) -> str:
    return (
        f"{summary.records} records, {summary.pairs_scored} pairs scored, {summary.identities} identities, "
        f"{summary.links_changed} links changed, {summary.reviews} pairs for review, "
        f"{summary.refused_links} links refused, {summary.seconds:.1f} s"
    )


@match_app.command("train")
def match_train(
    sample: Annotated[int, typer.Option(help="Records to train on (a random sample)")] = 200_000,
    out: Annotated[Path | None, typer.Option(help="Also write the parameters to this JSON file")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON")] = False,
) -> None:
    """Estimate m, u and name frequencies from the registry's records and make them the active model."""
    from matching import train
    from registry.identity.model_store import active_parameters, save_parameters
    from registry.identity.person_records import all_people

    with connect(_database()) as connection:
        records = [person for person, _ in all_people(connection)]
        total = len(records)
        if total > sample:
            import random

            records = random.Random(0).sample(records, sample)
        parameters = train(records, registry_size=total, base=active_parameters(connection))
        version = save_parameters(connection, parameters, created_by=f"cli:{_user()}")
    if out:
        parameters.save(out)
    if as_json:
        _print_json(
            {"model_version": parameters.model_version, "id": version, "records": len(records), "of": total}
        )
        return
    console.print(
        f"model {parameters.model_version} (id {version}) trained on {len(records)} of {total} records"
    )
    console.print("run `provreg match run` to re-link with it")


review_app = typer.Typer(
    help="The stewards' review queue: possible matches the engine would not decide alone.",
    no_args_is_help=True,
)
app.add_typer(review_app, name="review")


@review_app.command("list")
def review_list(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per item")] = False,
    order: Annotated[
        str,
        typer.Option(
            "--sort",
            help="priority (likely the same person, recent visits first), newest, oldest or weight"
            " (strongest first)",
        ),
    ] = "priority",
    every: Annotated[bool, typer.Option("--all", help="Decided items too, not only open ones")] = False,
    facility: Annotated[str | None, typer.Option(help="Only items with a record of this facility")] = None,
    min_weight: Annotated[
        float | None, typer.Option(help="Only items of at least this weight (bits)")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many")] = 50,
) -> None:
    """List the review queue: each possible match with both records and why it was held back."""
    from typing import cast

    from registry.identity.review_view import Order, list_reviews, queue_table

    if order not in ("priority", "newest", "oldest", "weight"):
        errors.print(f"[red]--sort must be priority, newest, oldest or weight, not {order!r}[/red]")
        raise typer.Exit(2)
    with connect(_database()) as connection:
        items = run(
            connection,
            list_reviews(
                status=None if every else "open",
                order=cast(Order, order),
                limit=limit,
                facility=facility.strip().upper() if facility else None,
                min_weight=min_weight,
            ),
        )
    if as_json:
        for item in items:
            print(json.dumps(item.as_json(), ensure_ascii=False))
        return
    console.print(queue_table(items, f"{'review items' if every else 'open review items'}, {order} first"))


@review_app.command("show")
def review_show(
    review_id: Annotated[int, typer.Argument(help="Review item id (see `provreg review list`)")],
    as_json: Annotated[bool, typer.Option("--json", help="The item as JSON")] = False,
) -> None:
    """Show a review item: both records side by side, and each field's evidence."""
    from registry.identity.review_view import item_renderables, show_review

    with connect(_database()) as connection:
        item = run(connection, show_review(review_id))
    if item is None:
        errors.print(f"[red]no review item {review_id}[/red]")
        raise typer.Exit(1)
    if as_json:
        print(json.dumps(item.as_json(), ensure_ascii=False))
        return
    for part in item_renderables(item):
        console.print(part)


codes_app = typer.Typer(help="Code catalogues: ICD-10 titles.", no_args_is_help=True)
app.add_typer(codes_app, name="codes")


@codes_app.command("load-icd10")
def codes_load_icd10(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV file (UTF-8, a header row)")],
    code_column: Annotated[str, typer.Option(help="The column of ICD-10 codes")] = "code",
    title_column: Annotated[str, typer.Option(help="The column of their Vietnamese titles")] = "title",
) -> None:
    """Load the province's ICD-10 catalogue (the Ministry's list, Vietnamese titles), replacing the one
    loaded before. Its titles are shown before the WHO's; rows that are not codes are skipped."""
    from registry.codes.icd10 import CatalogueFileError, load_province_catalogue, read_province_catalogue

    try:
        catalogue = read_province_catalogue(path.read_bytes(), code_column, title_column)
    except CatalogueFileError as refused:
        errors.print(f"[red]{path.name}: {refused}[/red]")
        raise typer.Exit(2) from None
    if not catalogue.rows:
        errors.print(f"[red]{path.name}: no ICD-10 code with a title: nothing loaded[/red]")
        raise typer.Exit(1)
    with connect(_database()) as connection, connection.cursor() as cursor:
        count = load_province_catalogue(cursor, catalogue, source=path.name)
    console.print(f"loaded {count} ICD-10 titles from {path.name}; skipped {len(catalogue.skipped)} rows")
    for line, why in catalogue.skipped[:10]:
        console.print(f"  line {line}: {why}")
    if len(catalogue.skipped) > 10:
        console.print(f"  ... and {len(catalogue.skipped) - 10} more")


@tokens_app.command("create")
def tokens_create(
    role: Annotated[Role, typer.Option(help="clinician, steward, facility or admin")],
    name: Annotated[str, typer.Option(help="Who or what uses it (a system, a person)")],
    facility: Annotated[str | None, typer.Option(help="The facility code a facility token posts for")] = None,
    days: Annotated[
        int | None, typer.Option(help="Valid for this many days (default: until revoked)")
    ] = None,
) -> None:
    """Create a token and print it: it is shown this once and stored only as a hash."""
    from registry.access.tokens import TokenError, create_token

    try:
        with connect(_database()) as connection:
            issued = create_token(
                connection,
                name=name,
                role=role,
                created_by=f"cli:{_user()}",
                facility_code=facility.strip().upper() if facility else None,
                valid_days=days,
            )
    except TokenError as refused:
        errors.print(f"[red]{refused}[/red]")
        raise typer.Exit(2) from None
    errors.print(
        f"token {issued.id} ({issued.role.value}) for {issued.name}: keep it secret, it is not shown again"
    )
    print(issued.secret)


_TOKEN_COLUMNS = (
    Column("id", "right"),
    Column("name", folds=True),
    Column("role"),
    Column("state"),
    Column("facility", drop=3),
    Column("expires", drop=2),
    Column("created", drop=4),
    Column("prefix", drop=1),
)


@tokens_app.command("list")
def tokens_list(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per token")] = False,
) -> None:
    """List tokens (never their secrets)."""
    from registry.access.tokens import list_tokens

    with connect(_database()) as connection:
        rows = run(connection, list_tokens())
    if as_json:
        for t in rows:
            _print_json({k: v for k, v in t._asdict().items() if k != "token_hash"})
        return
    table_rows = [
        (
            str(t.id), t.name, t.role, "revoked" if t.revoked_at else "live", t.facility_code or "",
            t.expires_at.strftime("%Y-%m-%d") if t.expires_at else "", t.created_at.strftime("%Y-%m-%d"),
            t.token_prefix,
        )
        for t in rows
    ]  # fmt: skip
    console.print(
        listing(_TOKEN_COLUMNS, table_rows, console.width, "API tokens", None if rows else "no token")
    )


@tokens_app.command("revoke")
def tokens_revoke(
    token_id: Annotated[int, typer.Argument(help="Token id (see `provreg tokens list`)")],
) -> None:
    """Revoke a token: the API refuses it within PROVREG_API_TOKEN_CACHE_SECONDS (5 by default)."""
    from registry.access.tokens import revoke_token

    with connect(_database()) as connection:
        revoked = revoke_token(connection, token_id, f"cli:{_user()}")
    if not revoked:
        errors.print(f"[red]no live token {token_id}[/red]")
        raise typer.Exit(1)
    console.print(f"revoked token {token_id}")


def _ingest_config(heartbeat: float | None) -> IngestConfig:
    config = _configured(IngestConfig.from_env)
    return config if heartbeat is None else dataclasses.replace(config, heartbeat_seconds=heartbeat)


_HEARTBEAT_HELP = (
    "Seconds between heartbeats; 3 missed = a dead worker (default PROVREG_INGEST_HEARTBEAT_SECONDS or 10)"
)


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option("--workers", help="Files loaded at the same time")] = 1,
    heartbeat: Annotated[float | None, typer.Option(help=_HEARTBEAT_HELP)] = None,
) -> None:
    """Run ingest workers alone: load the files posted to /ingest, in the background queue."""
    from registry.ingest.worker import serve_workers
    from registry.logs import log_format_from_env

    settings = Settings.from_env()
    log_format = _configured(log_format_from_env)
    serve_workers(_current_url(settings), settings.home, concurrency, _ingest_config(heartbeat), log_format)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    workers: Annotated[int, typer.Option(help="Ingest workers started alongside (0: none)")] = 1,
    processes: Annotated[int, typer.Option(help="API server processes (uvicorn's workers)")] = 1,
    api_console: Annotated[
        bool, typer.Option("--console", "--graphiql", help="Serve the API console at GET /graphql")
    ] = False,
    heartbeat: Annotated[float | None, typer.Option(help=_HEARTBEAT_HELP)] = None,
) -> None:
    """Serve the API (GraphQL, HTTP ingest, /healthz, /readyz, /metrics) and run the ingest workers."""
    import shutil
    import tempfile

    from registry.api.config import ApiConfig
    from registry.api.server import ServedApplication
    from registry.api.server import serve as serve_api
    from registry.ingest.worker import SupervisedWorker
    from registry.logs import log_format_from_env, set_up_logging

    settings = Settings.from_env()
    log_format = _configured(log_format_from_env)
    url = _current_url(settings)
    ingest = _ingest_config(heartbeat)
    api = _configured(ApiConfig.from_env)
    api = dataclasses.replace(
        api,
        console=api.console or api_console,
        # The server is not ready without a live worker when it runs workers.
        require_worker=api.require_worker or workers > 0,
        # The servers judge the workers' heartbeats by the interval they were given.
        ingest=ingest,
    )
    set_up_logging(log_format)
    metrics_dir = None
    if processes > 1:
        # Every process's counters, summed at scrape time: prometheus_client's multiprocess mode,
        # whose one setting is this variable, read by the processes it starts.
        metrics_dir = tempfile.mkdtemp(prefix="provreg-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    supervised = None
    if workers > 0:
        supervised = SupervisedWorker(url, settings.home, workers, ingest, log_format)
        supervised.start()
    try:
        status = serve_api(ServedApplication(url, settings.home, api, log_format), host, port, processes)
    finally:
        if supervised is not None:
            supervised.stop()
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    if status:
        raise typer.Exit(status)


def _synth_cli():
    """The synthetic province's commands, from `synth`: a package of its own, which a production
    install may leave out (every other command runs without it)."""
    try:
        import synth.cli
    except ModuleNotFoundError as missing:
        if missing.name != "synth":
            raise
        errors.print("[red]the synthetic province (package `synth`) is not installed[/red]")
        raise typer.Exit(2) from None
    return synth.cli


@app.command("synth")
def synth_command(
    persons: Annotated[int, typer.Option(min=1, help="People living in the province.")] = 50_000,
    facilities: Annotated[
        int, typer.Option(min=1, help="Facilities posting files (Bạch Mai is added).")
    ] = 12,
    days: Annotated[int, typer.Option(min=1, help="Nights of postings.")] = 30,
    seed: Annotated[int, typer.Option(help="The same seed writes the same bytes.")] = 1,
    out: Annotated[Path, typer.Option(help="Folder to write (created).")] = Path("synth-province"),
    start: Annotated[
        datetime | None,
        typer.Option(
            formats=["%Y-%m-%d"],
            help="First night; by default 2025-06-16, a window straddling the 1 July 2025 merger.",
        ),
    ] = None,
) -> None:
    """Write a synthetic province: each facility's nightly XML 130 / FHIR / CSV files, the ground
    truth (truth_persons.csv, truth_records.csv, facilities.csv) and a folder of broken files."""
    _synth_cli().synth(
        persons=persons,
        facilities=facilities,
        days=days,
        seed=seed,
        out=out,
        start=start.date() if start else None,
    )


@app.command("synth-score")
def synth_score_command(
    links: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A `provreg links export` CSV.")],
    truth: Annotated[
        Path, typer.Option(exists=True, file_okay=False, help="The folder `provreg synth` wrote.")
    ],
) -> None:
    """Score a linkage against the synthetic truth: pairwise and B-cubed precision and recall,
    false merges by hard negative, missed links by noise."""
    _synth_cli().synth_score(links, truth)


@app.command()
def demo(
    persons: Annotated[int, typer.Option(help="People in the synthetic province")] = 20_000,
    facilities: Annotated[int, typer.Option(help="Facilities posting files")] = 10,
    days: Annotated[int, typer.Option(help="Nights of files")] = 14,
    serve: Annotated[bool, typer.Option(help="Start the API server when loaded")] = True,
    port: Annotated[int, typer.Option(help="Port of the API server")] = 8000,
) -> None:
    """Generate a synthetic province, load it night by night, link it, and serve the registry."""
    from registry.demo import (
        DemoProvince,
        ensure_province,
        example_patient,
        load_icd10_titles,
        load_nights,
        register_facilities,
        registry_counts,
    )

    settings = Settings.from_env()
    url = database_url(settings)
    applied = migrate.upgrade(url)
    if applied:
        console.print(f"database schema: applied {', '.join(applied)}")
    folder = settings.home / "demo-province"
    province = DemoProvince(persons=persons, facilities=facilities, days=days)
    ensure_province(folder, province, console)
    register_facilities(url, province)
    console.print(f"ICD-10: {load_icd10_titles(url)} Vietnamese titles of the demo's codes loaded")
    totals = load_nights(url, folder, console)
    console.print(
        f"files: {totals['files']} ({totals['duplicate']} already loaded, {totals['rejected_files']} rejected whole); "
        f"records: {totals['records_in']:,} in = {totals['loaded']:,} loaded + {totals['updated']:,} updated + "
        f"{totals['unchanged']:,} unchanged + {totals['rejected']:,} rejected"
    )
    for name, value in registry_counts(url).items():
        console.print(f"  {name}: {value:,}")
    example = example_patient(url)
    if example:
        master, seen_at, episodes = example
        console.print(
            f"\nexample: master patient {master}, seen at {seen_at} facilities in {episodes} episodes"
        )
    _serve_demo(url, settings, port, example[0] if example else None, serve)


def _serve_demo(url: str, settings: Settings, port: int, example: int | None, serve_api: bool) -> None:
    """Print how to reach the registry with a clinician token made for the demo, then serve it; if
    the port is taken (an earlier demo still serving), say so and stop, minting no token."""
    import socket

    from registry.access.roles import Role
    from registry.access.tokens import create_token
    from registry.demo import example_query

    if not serve_api:
        console.print("\nnot serving (--no-serve); `provreg serve --console` starts the API")
        return
    base = f"http://127.0.0.1:{port}"
    with socket.socket() as probe:
        taken = probe.connect_ex(("127.0.0.1", port)) == 0
    if taken:
        console.print(
            f"\nport {port} is already in use, by an earlier `make demo` still serving perhaps: it serves "
            f"{base}/graphql with the data just loaded. Stop it with Ctrl+C in its terminal, or run this one "
            "on another port (`provreg demo --port 8001`). Nothing started, no token made."
        )
        return
    with connect(url) as connection:
        issued = create_token(
            connection, name="demo clinician", role=Role.CLINICIAN, created_by="demo", valid_days=7
        )
        steward = create_token(
            connection, name="demo steward", role=Role.STEWARD, created_by="demo", valid_days=7
        )
    console.print(f"\nstewards' workbench: {base}/   sign in with the demo steward token: {steward.secret}")
    console.print(f"the doctor's pages: {base}/doctor   sign in with the demo clinician token below")
    console.print(f"API console: {base}/graphql   health: {base}/healthz   metrics: {base}/metrics")
    console.print(f"a clinician token for the demo (valid 7 days, shown once): {issued.secret}")
    console.print("in the console, paste the token, give the purpose `demo` and run:")
    console.print(example_query(example or 1), markup=False, soft_wrap=True)
    console.print("stop the server with Ctrl+C; the embedded database keeps running until `provreg db stop`")
    serve(port=port, api_console=True)
