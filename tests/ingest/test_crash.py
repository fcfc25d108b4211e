"""SIGKILL the ingest process in the middle of a batch, restart it: nothing lost, nothing twice.

Runs ``allsang ingest`` (through ``crash_process.py``) against this test's database with a
replay channel over 10,000 generated messages, on the in-process stream and on JetStream.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from allsang.db import Database
from allsang.db.models import Channel, Message, Workspace
from allsang.ingest.stream import JetStreamConfig, JetStreamStream
from allsang.settings import Settings

TOTAL = 10_000
PROCESS = Path(__file__).with_name("crash_process.py")
REPOSITORY = Path(__file__).resolve().parents[2]


def generate(path: Path) -> set[str]:
    ids = set()
    with path.open("w") as handle:
        for n in range(TOTAL):
            external_id = f"crash-{n}"
            ids.add(external_id)
            record = {
                "channel": "replay",
                "external_id": external_id,
                "kind": "reply" if n % 7 == 1 else "post",
                "author": {"handle": f"@person{n % 300}@example.social"},
                "text": f"Message number {n}",
                "created_at": f"2026-11-20T{(n // 3600) % 24:02d}:{(n // 60) % 60:02d}:"
                f"{n % 60:02d}+00:00",
                "in_reply_to": f"crash-{n - 1}" if n % 7 == 1 else None,
                "addressed": n % 11 == 0,
            }
            handle.write(json.dumps(record) + "\n")
    return ids


async def _setup(url: str, path: Path) -> int:
    db = Database.unpooled(url)
    try:
        async with db.write() as session:
            workspace = Workspace(slug="crash", name="Crash")
            session.add(workspace)
            await session.flush()
            channel = Channel(
                workspace_id=workspace.id,
                network="replay",
                name="Replay",
                # Paced, so "killed at an arbitrary moment" lands before the end even when the
                # machine is fast (the whole file takes about 2.5 s).
                config={"path": str(path), "batch_size": 400, "poll_seconds": 0.2, "rate": 4000},
            )
            session.add(channel)
            await session.flush()
            return channel.id
    finally:
        await db.dispose()


async def _state(url: str, channel_id: int) -> tuple[int, int, dict[str, Any], set[str] | None]:
    db = Database.unpooled(url)
    try:
        async with db.read() as session:
            total = await session.scalar(select(func.count()).select_from(Message))
            distinct = await session.scalar(select(func.count(func.distinct(Message.external_id))))
            cursor = (await session.get_one(Channel, channel_id)).cursor
            ids = None
            if total == TOTAL:
                ids = set(await session.scalars(select(Message.external_id)))
            return int(total or 0), int(distinct or 0), cursor, ids
    finally:
        await db.dispose()


@pytest.mark.slow
@pytest.mark.parametrize("stream", ["embedded", "jetstream"])
def test_a_killed_ingest_process_loses_nothing_and_duplicates_nothing(
    settings: Settings, tmp_path: Path, stream: str
) -> None:
    expected = generate(tmp_path / "messages.jsonl")
    channel_id = asyncio.run(_setup(settings.sqlalchemy_url, tmp_path / "messages.jsonl"))
    stream_url = ""
    if stream == "jetstream":
        unique = uuid.uuid4().hex[:10]
        stream_url = (
            f"nats://127.0.0.1:4222?stream=CRASH_{unique}&subject=crash.{unique}&ack_wait=2"
        )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ALLSANG_")},
        "ALLSANG_DATA_DIR": str(settings.data_dir),
        "ALLSANG_DATABASE_URL": settings.database_url,
        "ALLSANG_SECRET_KEYS": settings.secret_keys,
        "ALLSANG_STREAM_URL": stream_url,
        "ALLSANG_INGEST_RESCAN_SECONDS": "0.2",
        "ALLSANG_LOG_LEVEL": "error",
        "PYTHONPATH": str(REPOSITORY / "src"),
    }
    state = lambda: asyncio.run(_state(settings.sqlalchemy_url, channel_id))  # noqa: E731

    def start(**extra: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, str(PROCESS)], env={**env, **extra}, stderr=subprocess.PIPE
        )

    def wait_for(check: Callable[[], bool], what: str, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + 40
        while not check():
            if process.poll() is not None:
                raise AssertionError(f"ingest exited early: {process.stderr.read().decode()}")  # type: ignore[union-attr]
            if time.monotonic() > deadline:
                process.kill()
                raise AssertionError(
                    f"timed out waiting for {what} ({state()[:3]}): "
                    + process.stderr.read().decode()[-3000:]  # type: ignore[union-attr]
                )
            time.sleep(0.05)

    processes: list[subprocess.Popen[bytes]] = []
    try:
        # 1. Killed while a batch transaction is open (its rows inserted, not committed).
        marker = tmp_path / "holding"
        first = start(CRASH_HOLD_AFTER="2", CRASH_MARKER=str(marker))
        processes.append(first)
        wait_for(marker.exists, "the held transaction", first)
        stored, distinct, cursor, _ = state()
        assert 0 < stored < TOTAL and stored == distinct
        first.send_signal(signal.SIGKILL)
        first.wait()
        assert state()[0] == stored, "the open batch was rolled back"

        # 2. Killed at an arbitrary moment further on.
        second = start()
        processes.append(second)
        wait_for(lambda: state()[0] >= TOTAL * 0.6, "60 % stored", second)
        second.send_signal(signal.SIGKILL)
        second.wait()
        assert state()[0] < TOTAL

        # 3. Runs to the end.
        third = start()
        processes.append(third)
        wait_for(
            lambda: (s := state())[0] >= TOTAL and s[2] == {"line": TOTAL, "loop": 0},
            "every message and the final cursor",
            third,
        )
        time.sleep(0.5)  # anything still in flight would show up as a duplicate now
        third.send_signal(signal.SIGTERM)
        assert third.wait(20) == 0
        stored, distinct, cursor, ids = state()
        assert stored == distinct == TOTAL, "zero duplicated"
        assert ids == expected, "zero lost"
        assert cursor == {"line": TOTAL, "loop": 0}
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        if stream_url:
            asyncio.run(_delete_stream(stream_url))


async def _delete_stream(url: str) -> None:
    stream = JetStreamStream(JetStreamConfig.from_url(url))
    await stream.start()
    await stream.delete()
    await stream.close()
