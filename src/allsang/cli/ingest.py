"""``allsang ingest`` (the listen loops and consumers as their own process) and
``allsang import FILE`` (a one-shot import through the same pipeline)."""

from __future__ import annotations

from pathlib import Path

import click

from allsang.cli.common import run, settings_with
from allsang.ingest.coordinator import IngestOptions
from allsang.ingest.importer import FORMATS
from allsang.settings import Settings


@click.command()
@click.option(
    "--listen/--no-listen",
    default=True,
    help="Run the channels' listen loops (with a JetStream stream_url, listeners and "
    "consumers may run in separate processes).",
)
@click.option("--consume/--no-consume", default=True, help="Store batches from the stream.")
@click.option(
    "--consumers", type=click.IntRange(1, 64), default=1, help="Consumer tasks in this process."
)
def ingest(listen: bool, consume: bool, consumers: int) -> None:
    """Run the ingest coordinator and pipeline consumers (scale-out: beside `allsang web`)."""
    from allsang.cli.serve import _serve
    from allsang.listening.enrich import ListeningEnricher

    settings = settings_with()
    options = IngestOptions(
        listen=listen, consume=consume, consumers=consumers, enrichers=[ListeningEnricher()]
    )
    run(_serve(settings, demo=False, web=False, worker=False, ingest=options))


async def _import(
    settings: Settings, path: Path, fmt: str, channel: int | None, workspace: str | None
) -> None:
    from allsang.ingest.importer import import_channel, import_file, read_source
    from allsang.ingest.pipeline import Pipeline
    from allsang.listening.enrich import ListeningEnricher
    from allsang.runtime import open_runtime

    source = read_source(path, fmt)
    async with open_runtime(settings) as runtime:
        ref = await import_channel(runtime.db, fmt, channel_id=channel, workspace=workspace)
        pipeline = Pipeline(runtime.db, enrichers=[ListeningEnricher()])
        stderr = click.get_text_stream("stderr")
        label = f"Importing {path.name}"
        with click.progressbar(length=source.total, label=label, file=stderr) as bar:
            result = await import_file(pipeline, ref, source, fmt, bar.update)
    click.echo(
        f"imported {result.accepted}, duplicates {result.duplicates}, "
        f"quarantined {result.quarantined}"
        + (f", ignored {result.ignored}" if result.ignored else "")
    )


@click.command(name="import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="jsonl",
    show_default=True,
    help="jsonl: normalised messages; jetstream: Bluesky Jetstream events; mastodon: Status "
    "entities (JSON array or lines); rss: an RSS/Atom/JSON feed file.",
)
@click.option("--channel", type=int, help="Import into this channel id.")
@click.option(
    "--workspace", help='Import into this workspace\'s "Import" channel (created when missing).'
)
def import_(file: Path, fmt: str, channel: int | None, workspace: str | None) -> None:
    """Import FILE through the ingest pipeline: bad lines are quarantined, duplicates dropped."""
    if channel is not None and workspace is not None:
        raise click.UsageError("give --channel or --workspace, not both")
    settings = settings_with()
    run(_import(settings, file, fmt, channel, workspace))


COMMANDS = [ingest, import_]
