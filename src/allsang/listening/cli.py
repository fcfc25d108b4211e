"""``allsang analyze``: JSON Lines in, the same objects out with language, sentiment, matches.

Exported as :data:`analyze` for the ``allsang`` group to register.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, TextIO

import click

from allsang.listening.pipeline import enrich
from allsang.listening.query import QuerySet, QuerySyntaxError


def load_queries(path: Path) -> QuerySet:
    """Read ``id<TAB>query`` lines (blank lines and ``#`` comments skipped) and compile them.

    Raises :class:`click.ClickException` naming the file, line and column of the first
    invalid query; nothing is compiled then.
    """
    pairs: list[tuple[str, str]] = []
    lines: dict[str, int] = {}
    raw = path.read_bytes().decode("utf-8", errors="replace")
    for number, line in enumerate(raw.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        query_id, tab, text = line.partition("\t")
        if not tab or not query_id.strip():
            raise click.ClickException(f"{path}:{number}: expected 'id<TAB>query'")
        if query_id in lines:
            raise click.ClickException(f"{path}:{number}: query id {query_id!r} used twice")
        lines[query_id] = number
        pairs.append((query_id, text))
    try:
        return QuerySet(pairs)
    except QuerySyntaxError as exc:
        line = lines[exc.query_id or ""]
        # Columns count in the whole line, as an editor shows them.
        column = exc.column + len(exc.query_id or "") + 1
        raise click.ClickException(
            f"{path}:{line}:{column}: query {exc.query_id!r}: {exc.reason}"
        ) from None


def _lines(stream: BinaryIO) -> Iterator[tuple[int, str]]:
    for number, raw in enumerate(stream, 1):
        # Invalid UTF-8 must not stop the stream: undecodable bytes become U+FFFD.
        yield number, raw.decode("utf-8", errors="replace")


def _dump(obj: dict[str, Any]) -> bytes:
    try:
        return json.dumps(obj, ensure_ascii=False).encode("utf-8") + b"\n"
    except UnicodeEncodeError:  # lone surrogates from "\udcff" escapes: keep them escaped
        return json.dumps(obj).encode("ascii") + b"\n"


def run(stdin: BinaryIO, stdout: BinaryIO, stderr: TextIO, queries: QuerySet | None) -> int:
    """Analyse every line of ``stdin`` into ``stdout``; return how many lines failed."""
    failed = 0
    for number, line in _lines(stdin):
        if not line.strip():
            continue
        error = None
        try:
            obj = json.loads(line)
        except ValueError as exc:
            obj, error = {}, f"invalid JSON: {exc.msg} at column {exc.colno}"
        if error is None and not isinstance(obj, dict):
            obj, error = {}, "each line must be a JSON object"
        elif error is None and not isinstance(obj.get("text"), str):
            error = 'the object has no "text" string'
        if error is not None:
            failed += 1
            stderr.write(f"line {number}: {error}\n")
            stdout.write(_dump({**obj, "error": error, "line": number}))
            continue
        stdout.write(_dump(enrich(obj, queries)))
    return failed


@click.command("analyze")
@click.option(
    "--queries",
    "queries_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="File of 'id<TAB>query' lines; adds \"matches\" with the ids that match.",
)
def analyze(queries_file: Path | None) -> None:
    """Read JSON Lines from stdin (each with "text") and write them back in the same order with
    "lang", "lang_confidence", "sentiment" (pos/neu/neg) and "sentiment_score" (-1…1) added.

    Bad lines are reported on stderr with their line number, written out with an "error"
    field, and make the exit code non-zero at the end; the other lines are still analysed.
    """
    queries = load_queries(queries_file) if queries_file else None
    out = click.get_binary_stream("stdout")
    failed = run(click.get_binary_stream("stdin"), out, sys.stderr, queries)
    out.flush()
    if failed:
        raise click.ClickException(f"{failed} line(s) could not be analysed")


COMMANDS = [analyze]
