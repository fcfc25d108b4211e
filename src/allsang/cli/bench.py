"""``allsang bench NAME``: run a benchmark and print its figures beside its baseline."""

from __future__ import annotations

import importlib
import json
from typing import Any

import click

# name -> module with ``run(quick: bool) -> {"metrics": {...}, "baseline": {...}}``
BENCHMARKS: dict[str, str] = {
    "inbox": "allsang.inbox.bench",
    "ingest": "allsang.ingest.bench",
    "listen": "allsang.listening.bench",
    "scale": "allsang.scale.bench",
    "analytics": "allsang.analytics.bench",
    "wall": "allsang.wall.bench",
}


@click.command()
@click.argument("name", type=click.Choice(sorted(BENCHMARKS)))
@click.option("--quick", is_flag=True, help="Smaller sizes; finishes in under a minute.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option(
    "--database-url",
    default=None,
    help="PostgreSQL server to also measure on, in a scratch database (inbox, analytics, scale).",
)
@click.option(
    "--messages",
    type=click.IntRange(min=1000),
    default=None,
    help="Messages to seed (analytics and inbox; default 1,000,000; with --quick 50,000 "
    "for analytics, 20,000 for inbox).",
)
def bench(
    name: str, quick: bool, as_json: bool, database_url: str | None, messages: int | None
) -> None:
    """Run the benchmark NAME and report its figures beside the baseline from the same run."""
    options: dict[str, Any] = {"database_url": database_url} if database_url else {}
    if messages:
        options["messages"] = messages
    result: dict[str, Any] = importlib.import_module(BENCHMARKS[name]).run(quick=quick, **options)
    result = {"benchmark": name, "quick": quick, **result}
    if as_json:
        click.echo(json.dumps(result))
        return
    click.echo(f"Benchmark {name}{' (quick)' if quick else ''}")
    for section in ("metrics", "baseline"):
        for key, value in result.get(section, {}).items():
            click.echo(f"  {section:<8} {key:<40} {value}")
    for line in result.get("notes", []):
        click.echo(f"  {line}")


COMMANDS = [bench]
