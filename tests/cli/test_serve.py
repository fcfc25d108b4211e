"""``allsang serve --demo`` works from nothing: the README's first command."""

from __future__ import annotations

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

from allsang.settings import Settings


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
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
