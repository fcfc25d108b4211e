"""The ingest coordinator: one listen loop per channel, errors told apart, health recorded.

Modelled on Home Assistant's ``DataUpdateCoordinator``. :class:`Coordinator` loads the
channels of every workspace whose state is ``active`` or ``failing`` (and whose configuration
does not say ``"listen": false``), builds each connector as ``connector_class(network)(
ChannelContext(...))`` with its credentials decrypted (they are stored as sealed JSON), and
runs its ``listen`` loop as a task from the saved cursor. Every batch goes to the
:class:`~allsang.ingest.stream.Stream`; consumers store it.

Errors, by type:

* :class:`TransientError` (and any unexpected exception, a connector bug): recorded, retried
  after an exponential backoff with jitter (``backoff_base`` doubling, capped at
  ``backoff_cap``, 15 minutes);
* :class:`RateLimited`: recorded, retried after ``retry_after`` seconds;
* :class:`AuthExpired`: the channel becomes ``reconnect_needed`` with the error, an audit
  event and a ``channel.reconnect_needed`` job (never a silent stop); its loop ends until a
  person reconnects it (sets it ``active`` again);
* :class:`PermanentError`: the channel becomes ``failing`` with the error and is retried every
  ``failing_retry`` seconds (one hour); the first success makes it ``active`` again.

A polling connector's ``listen`` returns when there is nothing more; the coordinator waits
its ``poll_seconds`` (the connector's attribute, else ``config["poll_seconds"]``, else
``default_poll_seconds``) and calls it again with the newest cursor it has handed over.
Every ``rescan_seconds`` it re-reads the channel table: new channels start, paused, removed or
``reconnect_needed`` ones stop, and a changed configuration or credential restarts the loop.
Several ingest processes share the channels through leases (:mod:`allsang.ingest.leases`): a
channel runs only in the process holding its lease, and a dead process's channels move to the
others within two scan intervals (at least 5 s) plus one scan.

:func:`run_ingest` puts it together with the stream and the consumers (``allsang ingest``,
and ``allsang serve`` in-process).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from allsang.connectors import registry
from allsang.connectors.base import (
    AuthExpired,
    Capability,
    ChannelContext,
    Connector,
    PermanentError,
    RateLimited,
    TransientError,
)
from allsang.db.models import Channel
from allsang.errors import ConfigurationError
from allsang.ingest import health, leases
from allsang.ingest.hooks import commit_hooks
from allsang.ingest.pipeline import ChannelRef, CommitHook, Enricher, Normaliser, Pipeline
from allsang.ingest.stream import Stream, consume, open_stream
from allsang.runtime import Runtime

log = logging.getLogger(__name__)

LISTENING_STATES = ("active", "failing")

ConnectorLookup = Callable[[str], type[Connector]]


@dataclass(frozen=True, slots=True)
class Tuning:
    """The coordinator's knobs (seconds)."""

    rescan_seconds: float = 15.0
    backoff_base: float = 1.0
    backoff_cap: float = 900.0
    failing_retry: float = 3600.0
    default_poll_seconds: float = 60.0

    def lease(self) -> timedelta:
        """How long a channel stays with a process that stops renewing (see ingest.leases)."""
        return timedelta(seconds=max(2 * self.rescan_seconds, 5.0))


def backoff(failures: int, tuning: Tuning, rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait after ``failures`` transient failures in a row: exponential, capped,
    with jitter in the upper half so a crowd of channels does not retry in step."""
    ceiling = min(tuning.backoff_cap, tuning.backoff_base * 2 ** min(failures - 1, 32))
    return ceiling * (0.5 + rand() / 2)


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """What the coordinator read about a channel; ``fingerprint`` changes when the loop must
    restart (network, account, configuration or credentials changed)."""

    ref: ChannelRef
    state: str
    account: str
    config: dict[str, Any]
    credentials: bytes | None
    cursor: dict[str, Any]
    fingerprint: str

    @classmethod
    def of(cls, row: Channel) -> _Snapshot:
        digest = hashlib.sha256()
        for part in (
            row.network,
            row.account,
            json.dumps(row.config or {}, sort_keys=True, default=str),
        ):
            digest.update(part.encode() + b"\0")
        digest.update(row.credentials or b"")
        return cls(
            ref=ChannelRef(id=row.id, workspace_id=row.workspace_id, network=row.network),
            state=row.state,
            account=row.account,
            config=dict(row.config or {}),
            credentials=row.credentials,
            cursor=dict(row.cursor or {}),
            fingerprint=digest.hexdigest(),
        )


@dataclass(slots=True)
class _Running:
    snapshot: _Snapshot
    task: asyncio.Task[None]


@dataclass(slots=True)
class _Built:
    fingerprint: str
    connector: Connector


class Coordinator:
    """Runs the listen loops of all channels; see the module docstring for the rules."""

    def __init__(
        self,
        runtime: Runtime,
        stream: Stream,
        *,
        tuning: Tuning | None = None,
        connector_class: ConnectorLookup = registry.connector_class,
    ) -> None:
        self.runtime = runtime
        self.db = runtime.db
        self.stream = stream
        self.tuning = tuning or Tuning(rescan_seconds=runtime.settings.ingest_rescan_seconds)
        self.connector_class = connector_class
        self.running: dict[int, _Running] = {}
        self.holder = leases.holder_id()
        self._built: dict[int, _Built] = {}

    # -- the loop over channels -------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Scan and run listen loops until ``stop`` is set; then stop every loop."""
        try:
            while not stop.is_set():
                try:
                    await self.scan()
                except Exception:
                    log.exception("scanning the channels failed; trying again")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.tuning.rescan_seconds)
        finally:
            await self.stop_all()
            with contextlib.suppress(Exception):
                await leases.release(self.db, self.holder)

    async def scan(self) -> None:
        """Start, restart and stop listen loops to match the channel table."""
        async with self.db.read() as session:
            rows = list(await session.scalars(select(Channel).order_by(Channel.id)))
        listened = {row.id: _Snapshot.of(row) for row in rows if self._listens(row)}
        mine = await leases.balance(self.db, self.holder, listened, self.tuning.lease())
        wanted = {channel_id: listened[channel_id] for channel_id in sorted(mine)}
        for channel_id in list(self.running):
            running = self.running[channel_id]
            snapshot = wanted.get(channel_id)
            if (
                snapshot is None
                or snapshot.fingerprint != running.snapshot.fingerprint
                or running.task.done()
            ):
                await self._stop(channel_id)
        for channel_id, snapshot in wanted.items():
            if channel_id not in self.running:
                self._start(snapshot)
        for channel_id in set(self._built) - set(wanted):
            self._built.pop(channel_id, None)

    def _listens(self, row: Channel) -> bool:
        if row.state not in LISTENING_STATES or (row.config or {}).get("listen", True) is False:
            return False
        try:
            cls = self.connector_class(row.network)
        except Exception:
            return True  # the loop reports the missing connector in the channel's health
        return Capability.LISTEN in cls.capabilities

    def _start(self, snapshot: _Snapshot) -> None:
        task = asyncio.create_task(self._listen(snapshot), name=f"listen channel {snapshot.ref.id}")
        self.running[snapshot.ref.id] = _Running(snapshot, task)

    async def _stop(self, channel_id: int) -> None:
        running = self.running.pop(channel_id)
        running.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await running.task

    async def stop_all(self) -> None:
        for channel_id in list(self.running):
            await self._stop(channel_id)

    # -- building connectors ------------------------------------------------------------------

    def _build(self, snapshot: _Snapshot) -> Connector:
        cls = self.connector_class(snapshot.ref.network)
        credentials: dict[str, Any] = {}
        if snapshot.credentials:
            credentials = json.loads(self.runtime.secrets.open(snapshot.credentials))
        connector = cls(
            ChannelContext(  # type: ignore[call-arg]
                channel_id=snapshot.ref.id,
                account=snapshot.account,
                config=snapshot.config,
                credentials=credentials,
            )
        )
        self._built[snapshot.ref.id] = _Built(snapshot.fingerprint, connector)
        return connector

    async def normaliser_for(self, channel: ChannelRef) -> Normaliser | None:
        """The channel's normaliser for consumers (``None`` when the channel is gone)."""
        built = self._built.get(channel.id)
        if built is not None:
            return built.connector.normalise
        async with self.db.read() as session:
            row = await session.get(Channel, channel.id)
            snapshot = None if row is None else _Snapshot.of(row)
        if snapshot is None:
            return None
        return self._build(snapshot).normalise

    # -- one channel ----------------------------------------------------------------------------

    def _poll_seconds(self, connector: Connector, snapshot: _Snapshot) -> float:
        value = getattr(connector, "poll_seconds", None)
        if value is None:
            value = snapshot.config.get("poll_seconds", self.tuning.default_poll_seconds)
        return max(float(value), 0.0)

    async def _listen(self, snapshot: _Snapshot) -> None:
        channel_id = snapshot.ref.id
        cursor = snapshot.cursor
        connector: Connector | None = None
        failures = 0
        troubled = snapshot.state == "failing"
        while True:
            try:
                if connector is None:
                    connector = self._build(snapshot)
                async for batch in connector.listen(dict(cursor)):
                    await self.stream.publish(snapshot.ref, batch)
                    if batch.cursor is not None:
                        cursor = batch.cursor
                        if self.stream.durable:
                            await health.save_cursor(self.db, channel_id, cursor)
                    if troubled:
                        await self._success(channel_id, connector)
                        troubled, failures = False, 0
                await self._success(channel_id, connector)
                troubled, failures = False, 0
                delay = self._poll_seconds(connector, snapshot)
            except asyncio.CancelledError:
                raise
            except AuthExpired as exc:
                await self._safely(health.mark_reconnect_needed(self.db, channel_id, _words(exc)))
                return
            except RateLimited as exc:
                troubled = True
                await self._error(channel_id, f"rate limited: {_words(exc)}")
                delay = max(exc.retry_after, 0.0)
            except TransientError as exc:
                troubled, failures = True, failures + 1
                await self._error(channel_id, _words(exc))
                delay = backoff(failures, self.tuning)
            except PermanentError as exc:
                troubled = True
                await self._error(channel_id, _words(exc), failing=True)
                delay = self.tuning.failing_retry
                connector = None  # the configuration may have been the problem: rebuild
            except Exception as exc:
                # A connector bug, a key that does not open the credentials, a missing plug-in:
                # tell people, and keep trying like a transient failure.
                log.exception("listen loop of channel %s failed", channel_id)
                troubled, failures = True, failures + 1
                await self._error(channel_id, f"{type(exc).__name__}: {_words(exc)}")
                delay = backoff(failures, self.tuning)
                connector = None
            await asyncio.sleep(delay)

    async def _success(self, channel_id: int, connector: Connector) -> None:
        expires = getattr(connector, "token_expires_at", None)
        await self._safely(health.record_success(self.db, channel_id, token_expires_at=expires))

    async def _error(self, channel_id: int, error: str, *, failing: bool = False) -> None:
        log.warning("channel %s: %s", channel_id, error)
        await self._safely(health.record_error(self.db, channel_id, error, failing=failing))

    async def _safely(self, write: Any) -> None:
        """Health writes must not end a listen loop when the database hiccups."""
        try:
            await write
        except Exception:
            log.exception("could not record channel health")


def _words(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


@dataclass(slots=True)
class IngestOptions:
    listen: bool = True
    consume: bool = True
    consumers: int = 1
    drain_seconds: float = 30.0
    enrichers: Sequence[Enricher] = ()
    on_commit: Sequence[CommitHook] = ()
    tuning: Tuning | None = None
    connector_class: ConnectorLookup = registry.connector_class
    stream: Stream | None = field(default=None, repr=False)


async def run_ingest(
    runtime: Runtime, stop: asyncio.Event, options: IngestOptions | None = None
) -> None:
    """Run the coordinator and the consumers until ``stop`` is set.

    On stop the listen loops end first; with the in-process stream the consumers then store
    what is queued (up to ``drain_seconds``), so a clean shutdown re-reads nothing.
    """
    options = options or IngestOptions()
    settings = runtime.settings
    stream = options.stream or open_stream(
        settings.stream_url, capacity=settings.ingest_queue_batches
    )
    if not stream.durable and not (options.listen and options.consume):
        raise ConfigurationError(
            "Listening and consuming can only run in separate processes with a JetStream "
            "stream_url; the in-process stream needs both in one process."
        )
    await stream.start()
    coordinator = Coordinator(
        runtime, stream, tuning=options.tuning, connector_class=options.connector_class
    )
    pipeline = Pipeline(
        runtime.db,
        enrichers=options.enrichers,
        on_commit=[*options.on_commit, *commit_hooks(runtime)],
    )
    consumers_stop = asyncio.Event()
    consumers = [
        asyncio.create_task(
            _consume_forever(stream, pipeline, coordinator, consumers_stop), name="consumer"
        )
        for _ in range(options.consumers if options.consume else 0)
    ]
    listening = asyncio.create_task(coordinator.run(stop)) if options.listen else None
    try:
        await stop.wait()
    finally:
        if listening is not None:
            await listening
        if not stream.durable and consumers and not await stream.drained(options.drain_seconds):
            log.warning("stopping with batches not stored; their sources will replay them")
        consumers_stop.set()
        await asyncio.gather(*consumers, return_exceptions=True)
        await stream.close()


async def _consume_forever(
    stream: Stream, pipeline: Pipeline, coordinator: Coordinator, stop: asyncio.Event
) -> None:
    """The consumer loop, restarted after a failure of the stream itself (NATS away)."""
    while not stop.is_set():
        try:
            await consume(stream, pipeline, coordinator.normaliser_for, stop)
        except Exception:
            log.exception("the ingest consumer failed; restarting it")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
