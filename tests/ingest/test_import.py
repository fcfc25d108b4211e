"""``allsang import FILE``: every format through the pipeline, bad lines quarantined."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from allsang.cli import cli
from allsang.db import Database
from allsang.db.models import AuditEvent, Channel, Message, QuarantinedItem, Workspace
from allsang.settings import Settings

T = TypeVar("T")
REPOSITORY = Path(__file__).resolve().parents[2]


def payloads() -> Path:
    shared = Path(os.environ.get("ALLSANG_SHARED_DIR") or REPOSITORY.parent / "shared")
    folder = shared / "data" / "payloads"
    if not folder.is_dir():
        pytest.skip(f"the recorded payloads are not here ({folder}); set ALLSANG_SHARED_DIR")
    return folder


@pytest.fixture
def allsang(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    monkeypatch.delenv("ALLSANG_CONFIG", raising=False)
    env = {
        "ALLSANG_DATA_DIR": str(settings.data_dir),
        "ALLSANG_DATABASE_URL": settings.database_url,
        "ALLSANG_SECRET_KEYS": settings.secret_keys,
    }

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(cli, list(args), env=env)

    return invoke


@pytest.fixture
def query(settings: Settings) -> Callable[[Callable[[Any], Awaitable[T]]], T]:
    def runner(fn: Callable[[Any], Awaitable[T]]) -> T:
        async def _run() -> T:
            db = Database.unpooled(settings.sqlalchemy_url)
            try:
                async with db.write() as session:
                    return await fn(session)
            finally:
                await db.dispose()

        return asyncio.run(_run())

    return runner


@pytest.fixture
def workspace(query: Callable[..., Any]) -> str:
    async def add(session: Any) -> None:
        session.add(Workspace(slug="acme", name="Acme"))

    query(add)
    return "acme"


def count(query: Callable[..., Any], model: Any) -> int:
    async def run(session: Any) -> int:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)

    return query(run)


def message(external_id: str) -> dict[str, Any]:
    return {
        "channel": "mastodon",
        "external_id": external_id,
        "author": {"handle": "@kari@example.social"},
        "text": f"message {external_id}",
        "created_at": "2026-11-20T10:00:00+01:00",
    }


def test_it_imports_json_lines_with_a_summary_and_quarantines_bad_lines(
    allsang: Callable[..., Result], query: Callable[..., Any], workspace: str, tmp_path: Path
) -> None:
    path = tmp_path / "messages.jsonl"
    lines = [json.dumps(message(str(n))) for n in range(2500)]
    lines[10] = "{not json"
    lines[20] = json.dumps({**message("x"), "created_at": "yesterday"})
    path.write_text("\n".join(lines) + "\n\n")

    result = allsang("import", str(path))
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == "imported 2498, duplicates 0, quarantined 2"
    assert count(query, Message) == 2498
    assert count(query, QuarantinedItem) == 2

    async def import_channel(session: Any) -> Channel:
        return await session.scalar(select(Channel))

    channel = query(import_channel)
    assert (channel.name, channel.network, channel.config) == (
        "Import",
        "import",
        {"listen": False},
    )

    again = allsang("import", str(path), "--workspace", workspace)
    assert again.exit_code == 0, again.output
    assert again.output.strip().splitlines()[-1] == "imported 0, duplicates 2498, quarantined 2"
    assert count(query, Channel) == 1

    async def audit_actions(session: Any) -> list[str]:
        return list(await session.scalars(select(AuditEvent.action)))

    assert query(audit_actions) == ["channel.create"]


def test_it_imports_into_a_named_channel(
    allsang: Callable[..., Result], query: Callable[..., Any], workspace: str, tmp_path: Path
) -> None:
    async def add_channel(session: Any) -> int:
        ws = await session.scalar(select(Workspace))
        row = Channel(workspace_id=ws.id, network="mastodon", name="@acme")
        session.add(row)
        await session.flush()
        return row.id

    channel_id = query(add_channel)
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps(message("1")) + "\n")
    result = allsang("import", str(path), "--channel", str(channel_id))
    assert result.exit_code == 0, result.output

    async def stored_in(session: Any) -> list[int]:
        return list(await session.scalars(select(Message.channel_id)))

    assert query(stored_in) == [channel_id]


def test_it_says_what_is_wrong_with_the_target(
    allsang: Callable[..., Result], workspace: str, tmp_path: Path
) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps(message("1")) + "\n")
    missing = allsang("import", str(path), "--channel", "999")
    assert missing.exit_code == 1
    assert "there is no channel 999" in missing.output
    unknown = allsang("import", str(path), "--workspace", "nope")
    assert "there is no workspace 'nope'" in unknown.output
    both = allsang("import", str(path), "--workspace", "acme", "--channel", "1")
    assert both.exit_code == 2


def test_it_imports_a_jetstream_capture_keeping_the_posts(
    allsang: Callable[..., Result], query: Callable[..., Any], workspace: str
) -> None:
    capture = payloads() / "jetstream" / "expected_v1.jsonl"
    posts = sum(
        1
        for line in capture.read_text().splitlines()
        if (event := json.loads(line)).get("kind") == "commit"
        and event["commit"].get("collection") == "app.bsky.feed.post"
        and event["commit"].get("operation") == "create"
    )
    result = allsang("import", str(capture), "--format", "jetstream")
    assert result.exit_code == 0, result.output
    assert f"imported {posts}, duplicates 0, quarantined 0, ignored" in result.output

    async def stored(session: Any) -> list[tuple[str, str]]:
        rows = await session.execute(select(Message.external_id, Channel.network).join(Channel))
        return [(eid, network) for eid, network in rows]

    rows = query(stored)
    assert len(rows) == posts
    assert all(eid.startswith("at://did:") and net == "bluesky" for eid, net in rows)


def test_it_imports_mastodon_statuses_as_an_array_or_as_lines(
    allsang: Callable[..., Result], query: Callable[..., Any], workspace: str, tmp_path: Path
) -> None:
    entities = payloads() / "mastodon-docs" / "entities"
    status = json.loads((entities / "Status.json").read_text())
    # The documentation's notification example is cut short (its status has no account).
    notification = json.loads((entities / "Notification.1.json").read_text())
    local = {
        **status,
        "id": "1",
        "account": {**status["account"], "acct": "kari", "url": "https://social.example/@kari"},
    }
    array = tmp_path / "statuses.json"
    array.write_text(json.dumps([status, local, notification, "not a status"]))
    result = allsang("import", str(array), "--format", "mastodon")
    assert result.exit_code == 0, result.output
    assert "imported 2, duplicates 0, quarantined 2" in result.output

    lines = tmp_path / "statuses.jsonl"
    lines.write_text(json.dumps(status) + "\n")
    again = allsang("import", str(lines), "--format", "mastodon")
    assert "imported 0, duplicates 1, quarantined 0" in again.output

    async def authors(session: Any) -> set[str]:
        return {m.extra["author"]["handle"] for m in await session.scalars(select(Message))}

    assert query(authors) == {"@Gargron@mastodon.social", "@kari@social.example"}


def test_it_imports_a_feed_file(
    allsang: Callable[..., Result], query: Callable[..., Any], workspace: str
) -> None:
    feed = payloads() / "home-assistant-feedreader" / "feedreader.xml"
    result = allsang("import", str(feed), "--format", "rss")
    assert result.exit_code == 0, result.output
    assert "imported 1, duplicates 0, quarantined 0" in result.output

    async def kinds(session: Any) -> list[str]:
        return list(await session.scalars(select(Message.kind)))

    assert query(kinds) == ["article"]


def test_a_file_that_is_not_a_feed_is_an_error(
    allsang: Callable[..., Result], workspace: str, tmp_path: Path
) -> None:
    path = tmp_path / "feed.xml"
    path.write_bytes(b"\x00\x01 not xml at all <<<")
    result = allsang("import", str(path), "--format", "rss")
    assert result.exit_code == 1
    assert "is not a feed" in result.output
