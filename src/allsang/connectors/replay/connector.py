"""The replay connector: reads a JSON Lines file of normalised messages (SPEC §4), one per line.

Configuration (``channel.config``):

* ``path`` (required) — the file; a relative path is taken from the working directory.
* ``rate`` — messages per second (default 0: as fast as the pipeline takes them).
* ``loop`` — when the end is reached, start again (default false). Every later round gives
  each message a fresh external id (``<id>~<round>``, the same for ``in_reply_to`` so threads
  stay threads) and the current time as ``created_at``, so a demo stays alive. Lines that are
  not JSON objects are passed on in the first round only (the pipeline quarantines them once).
* ``retime`` — give every message the current time as ``created_at`` from the first round on
  (default false; the demo uses it so its sample reads as today's conversation).
* ``loop_rate`` — messages per second in the rounds after the first (default: ``rate``), so a
  demo can fill up quickly and then stay alive at a calm pace.
* ``batch_size`` — lines per batch (default 1000; with a ``rate``, at most a tenth of a
  second's worth, so the messages arrive as a steady trickle).

Cursor: ``{"line": <lines handed over>, "loop": <round>}``; a restart skips that many lines of
that round. ``listen`` returns at the end of the file (when not looping), so the coordinator
polls it again every ``poll_seconds`` and a file that grew is read on from where it stopped.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

from allsang.connectors.base import Batch, Capability, ChannelContext, PermanentError, RawItem
from allsang.ingest.message import NormalisedMessage
from allsang.ingest.pipeline import normalised_json

NETWORK = "replay"
BATCH_SIZE = 1000


class ReplayConnector:
    network: ClassVar[str] = NETWORK
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.LISTEN})

    def __init__(self, context: ChannelContext) -> None:
        config = context.config
        path = str(config.get("path") or "").strip()
        if not path:
            raise PermanentError("a replay channel needs a `path` to a JSON Lines file")
        try:
            self.rate = float(config.get("rate", 0) or 0)
            self.loop_rate = float(config.get("loop_rate", self.rate) or 0)
            self.batch_size = int(config.get("batch_size", BATCH_SIZE))
            self.poll_seconds = float(config.get("poll_seconds", 60.0))
        except (TypeError, ValueError) as exc:
            raise PermanentError(f"replay configuration: {exc}") from None
        if self.rate < 0 or self.loop_rate < 0 or self.batch_size < 1:
            raise PermanentError("replay configuration: rate ≥ 0 and batch_size ≥ 1, please")
        self.context = context
        self.path = Path(path)
        self.loop = bool(config.get("loop", False))
        self.retime = bool(config.get("retime", False))

    async def listen(self, cursor: dict[str, Any]) -> AsyncIterator[Batch]:
        line = int((cursor or {}).get("line", 0))
        round_ = int((cursor or {}).get("loop", 0))
        while True:
            rate = self.rate if round_ == 0 else self.loop_rate
            size = self.batch_size if not rate else max(1, min(self.batch_size, int(rate / 10)))
            started, sent = time.monotonic(), 0
            try:
                handle = self.path.open("rb")
            except OSError as exc:
                raise PermanentError(f"cannot read {self.path}: {exc.strerror}") from None
            with handle:
                _skip(handle, line)
                while True:
                    read, chunk = _read_lines(handle, line, size)
                    if not read:
                        break
                    if rate:
                        # Hold each batch back until the rate allows it (the first goes at once).
                        delay = started + sent / rate - time.monotonic()
                        if delay > 0:
                            await asyncio.sleep(delay)
                    line += read
                    sent += len(chunk)
                    yield Batch(
                        items=self._items(chunk, round_), cursor={"line": line, "loop": round_}
                    )
            if not self.loop:
                return
            round_, line = round_ + 1, 0
            # The round change is a cursor of its own, so a restart begins the new round.
            yield Batch(items=[], cursor={"line": 0, "loop": round_})

    def _items(self, lines: list[tuple[int, bytes]], round_: int) -> list[RawItem]:
        source = self.path.name
        if round_ == 0 and not self.retime:
            return [RawItem(text, f"{source}:{number}") for number, text in lines]
        now = datetime.now(UTC).isoformat()
        suffix = f"~{round_}" if round_ else ""
        items = []
        for number, text in lines:
            fresh = _again(text, suffix, now)
            if fresh is not None:
                items.append(RawItem(fresh, f"{source}:{number}{suffix}"))
            elif round_ == 0:
                items.append(RawItem(text, f"{source}:{number}"))  # quarantined, once
        return items

    def normalise(self, raw: RawItem) -> NormalisedMessage | None:
        return normalised_json(raw)


def _skip(handle: BinaryIO, lines: int) -> None:
    for _ in range(lines):
        if not handle.readline():
            return


def _read_lines(handle: BinaryIO, before: int, count: int) -> tuple[int, list[tuple[int, bytes]]]:
    """Read up to ``count`` lines: how many were read, and the non-blank ones with their
    1-based line numbers (blank lines are neither messages nor errors, but they count)."""
    lines = []
    read = 0
    while read < count:
        text = handle.readline()
        if not text:
            break
        read += 1
        if text.strip():
            lines.append((before + read, text))
    return read, lines


def _again(text: bytes, suffix: str, now: str) -> dict[str, Any] | None:
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict):
        return None
    if data.get("external_id") is not None:
        data["external_id"] = f"{data['external_id']}{suffix}"
    if data.get("in_reply_to"):
        data["in_reply_to"] = f"{data['in_reply_to']}{suffix}"
    if isinstance(data.get("references"), list):
        data["references"] = [f"{r}{suffix}" for r in data["references"]]
    data["created_at"] = now
    return data
