"""``allsang serve --demo`` works from nothing: the README's first command, with the demo
stream flowing into the inbox."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from allsang.db import Database
from allsang.db.models import Conversation, Message
from allsang.settings import Settings


async def _demo_counts(url: str) -> tuple[int, int]:
    """Messages and conversations the demo stream has stored so far."""
    db = Database.unpooled(url)
    try:
        async with db.read() as session:
            messages = await session.scalar(select(func.count(Message.id)))
            conversations = await session.scalar(select(func.count(Conversation.id)))
    finally:
        await db.dispose()
    return messages or 0, conversations or 0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_serve_demo_prints_logins_that_work_and_stops_cleanly(
    settings: Settings, tmp_path: Path
) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "ALLSANG_DATA_DIR": str(tmp_path / "fresh"),
        "ALLSANG_DATABASE_URL": "" if settings.is_sqlite else settings.database_url,
        # SQLite creates its key file on first run; a shared database needs configured keys.
        "ALLSANG_SECRET_KEYS": "" if settings.is_sqlite else settings.secret_keys,
        "ALLSANG_LOG_LEVEL": "warning",
    }
    env.pop("ALLSANG_CONFIG", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "allsang", "serve", "--demo", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = []
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if "Allsang is running" in line:
                break
        output = "".join(lines)
        logins = re.findall(r"^\s+(\S+@demo\.allsang\.test)\s+(\S+)\s+(\w+)", output, re.M)
        assert {role for _, _, role in logins} >= {"owner", "admin", "editor", "viewer"}
        assert (tmp_path / "fresh" / "secret.key").exists() or not settings.is_sqlite

        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not come up"
            time.sleep(0.2)

        email, password, _ = next(login for login in logins if login[2] == "owner")
        with httpx.Client(base_url=base, headers={"Origin": base}) as client:
            answer = client.post("/login", data={"email": email, "password": password})
            assert answer.status_code == 303, answer.text
            home = client.get("/")
            assert home.status_code == 200
            assert "Astrid Lindqvist" in home.text

        url = (
            settings.database_url
            if not settings.is_sqlite
            else (f"sqlite+aiosqlite:///{tmp_path / 'fresh' / 'allsang.db'}")
        )
        deadline = time.monotonic() + 30
        while True:
            messages, conversations = asyncio.run(_demo_counts(url))
            if messages >= 20 and conversations >= 1:
                break
            assert time.monotonic() < deadline, f"the demo stream stored {messages} messages"
            time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
