"""The replay connector: JSON Lines in, batches with a line cursor out, looping for demos."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from allsang.connectors.base import Batch, ChannelContext, PermanentError
from allsang.connectors.replay import ReplayConnector
from allsang.ingest.message import InvalidMessage


def message(external_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "channel": "mastodon",
        "external_id": external_id,
        "author": {"handle": "@kari@example.social"},
        "text": f"message {external_id}",
        "created_at": "2026-11-20T10:00:00+01:00",
        **fields,
    }


def write(path: Path, lines: list[Any]) -> Path:
    path.write_bytes(
        b"".join(
            (line if isinstance(line, bytes) else json.dumps(line).encode()) + b"\n"
            for line in lines
        )
    )
    return path


def connector(path: Path, **config: Any) -> ReplayConnector:
    return ReplayConnector(
        ChannelContext(channel_id=1, account="", config={"path": str(path), **config})
    )


async def collect(
    replay: ReplayConnector, cursor: dict[str, Any], limit: int = 1000
) -> list[Batch]:
    batches = []
    async for batch in replay.listen(cursor):
        batches.append(batch)
        if len(batches) >= limit:
            break
    return batches


async def test_it_reads_the_file_in_batches_with_the_line_as_cursor(tmp_path: Path) -> None:
    path = write(tmp_path / "m.jsonl", [message(str(n)) for n in range(5)])
    batches = await collect(connector(path, batch_size=2), {})
    assert [b.cursor for b in batches] == [
        {"line": 2, "loop": 0},
        {"line": 4, "loop": 0},
        {"line": 5, "loop": 0},
    ]
    replay = connector(path)
    ids = [replay.normalise(i).external_id for b in batches for i in b.items]  # type: ignore[union-attr]
    assert ids == ["0", "1", "2", "3", "4"]
    assert batches[0].items[1].source == "m.jsonl:2"


async def test_it_resumes_after_the_saved_line(tmp_path: Path) -> None:
    path = write(tmp_path / "m.jsonl", [message(str(n)) for n in range(5)])
    replay = connector(path)
    [batch] = await collect(replay, {"line": 3, "loop": 0})
    assert [replay.normalise(i).external_id for i in batch.items] == ["3", "4"]  # type: ignore[union-attr]
    assert batch.cursor == {"line": 5, "loop": 0}
    assert await collect(replay, {"line": 5, "loop": 0}) == []


async def test_blank_lines_count_but_bad_lines_go_on_to_be_quarantined(tmp_path: Path) -> None:
    path = write(tmp_path / "m.jsonl", [message("1"), b"", b"{not json", b"\xff\xfe", message("2")])
    replay = connector(path)
    [batch] = await collect(replay, {})
    assert batch.cursor == {"line": 5, "loop": 0}
    assert len(batch.items) == 4
    for bad in batch.items[1:3]:
        with pytest.raises(InvalidMessage, match="not valid JSON"):
            replay.normalise(bad)


async def test_looping_gives_fresh_ids_and_current_times_and_keeps_threads(tmp_path: Path) -> None:
    path = write(tmp_path / "m.jsonl", [message("1"), message("2", in_reply_to="1"), b"[bad"])
    replay = connector(path, loop=True)
    batches = await collect(replay, {}, limit=3)
    assert [b.cursor for b in batches] == [
        {"line": 3, "loop": 0},
        {"line": 0, "loop": 1},
        {"line": 3, "loop": 1},
    ]
    again = [replay.normalise(i) for i in batches[2].items]
    assert [(m.external_id, m.in_reply_to) for m in again] == [("1~1", None), ("2~1", "1~1")]  # type: ignore[union-attr]
    assert all(abs(m.created_at - datetime.now(UTC)) < timedelta(minutes=1) for m in again)  # type: ignore[union-attr]


async def test_a_rate_spreads_the_messages_over_time(tmp_path: Path) -> None:
    path = write(tmp_path / "m.jsonl", [message(str(n)) for n in range(30)])
    started = time.monotonic()
    batches = await collect(connector(path, rate=50), {})
    elapsed = time.monotonic() - started
    assert [len(b.items) for b in batches] == [5] * 6
    assert 0.45 <= elapsed < 2.0


def test_a_channel_without_a_path_is_a_permanent_error(tmp_path: Path) -> None:
    with pytest.raises(PermanentError, match="path"):
        ReplayConnector(ChannelContext(channel_id=1, account="", config={}))
    with pytest.raises(PermanentError, match="rate"):
        connector(tmp_path / "m.jsonl", rate=-1)


async def test_a_missing_file_is_a_permanent_error(tmp_path: Path) -> None:
    with pytest.raises(PermanentError, match="cannot read"):
        await collect(connector(tmp_path / "missing.jsonl"), {})


async def test_retime_makes_the_first_round_read_as_now_and_keeps_ids(tmp_path: Path) -> None:
    path = write(tmp_path / "m.jsonl", [message("1"), message("2", in_reply_to="1"), b"oops"])
    replay = connector(path, retime=True)
    (batch,) = await collect(replay, {})
    items = [
        replay.normalise(item) if isinstance(item.payload, dict) else item for item in batch.items
    ]
    first, second = items[0], items[1]
    assert (first.external_id, second.in_reply_to) == ("1", "1")
    assert datetime.now(UTC) - first.created_at < timedelta(minutes=1)
    assert items[2].payload == b"oops\n"  # still handed on, for the quarantine


async def test_loop_rate_paces_the_rounds_after_the_first(tmp_path: Path) -> None:
    path = write(tmp_path / "m.jsonl", [message(str(n)) for n in range(3)])
    replay = connector(path, loop=True, rate=0, loop_rate=20)
    started = time.monotonic()
    batches = await collect(replay, {}, limit=5)  # round 0, the round marker, 3 of round 1
    assert sum(len(b.items) for b in batches) == 6
    assert time.monotonic() - started >= 0.09  # three messages at 20/s after the first
