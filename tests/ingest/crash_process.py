"""``allsang ingest`` for the crash test, with a hook that can hold a transaction open.

With ``CRASH_HOLD_AFTER=N`` and ``CRASH_MARKER=path``, the N-th batch transaction stops after
it has inserted its messages and before its commit: the marker file is written and the process
sleeps, so the test can SIGKILL it in the middle of a batch.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from allsang.ingest import pipeline

_original = pipeline._touch_channel
_batches = 0


async def _touch_then_hold(*args: Any, **kwargs: Any) -> None:
    global _batches
    await _original(*args, **kwargs)
    _batches += 1
    if _batches >= int(os.environ["CRASH_HOLD_AFTER"]):
        # Block the whole process inside the open transaction, on purpose: nothing may run on.
        Path(os.environ["CRASH_MARKER"]).write_text(str(_batches))  # noqa: ASYNC240
        time.sleep(120)  # noqa: ASYNC251


if __name__ == "__main__":
    if os.environ.get("CRASH_HOLD_AFTER"):
        pipeline._touch_channel = _touch_then_hold  # type: ignore[assignment]
    from allsang.cli import cli

    sys.exit(cli(["ingest"], prog_name="allsang"))
