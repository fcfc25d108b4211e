"""``allsang privacy``: export and erase a contact, run retention from the command line."""

from __future__ import annotations

import json
from pathlib import Path

from allsang.db import Database
from allsang.db.types import utcnow
from allsang.runtime import Runtime
from tests.cli.conftest import Invoke, SqlRunner
from tests.privacy.history import build


def test_a_contact_is_exported_to_a_file_then_erased(
    allsang: Invoke, with_db: SqlRunner, runtime: Runtime, tmp_path: Path
) -> None:
    async def history(db: Database) -> None:
        await build(runtime, utcnow())

    with_db(history)
    who = ["--workspace", "nordlys", "--network", "mastodon", "--handle", "@kari@example.social"]
    target = tmp_path / "kari.json"
    exported = allsang("privacy", "export", *who, "--output", str(target))
    assert exported.exit_code == 0, exported.output
    assert json.loads(target.read_text())["contact"]["handle"] == "@kari@example.social"

    refused = allsang("privacy", "erase", *who, input="n\n")
    assert refused.exit_code == 1  # aborted at the question
    erased = allsang("privacy", "erase", *who, "--yes")
    assert erased.exit_code == 0, erased.output
    assert "messages: 4" in erased.output
    missing = allsang("privacy", "erase", *who, "--yes")
    assert missing.exit_code == 1
    assert "There is no mastodon contact" in missing.output

    dry = allsang("privacy", "retention", "--workspace", "nordlys", "--dry-run")
    assert dry.exit_code == 0
    assert "conversations: 0" in dry.output
