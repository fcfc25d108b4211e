"""The Database port.

Contract:

* ``async with db.write() as session`` opens a transaction for changes and commits it when
  the block ends without an exception (rolls back otherwise). On SQLite the transaction starts
  with ``BEGIN IMMEDIATE`` on the one writer connection of this process, so two writers never
  deadlock and other processes wait on ``busy_timeout`` instead of failing half-way.
* ``async with db.read() as session`` opens a read-only snapshot (pooled connections; on
  SQLite WAL lets readers run beside the writer).
* Sessions use ``expire_on_commit=False``: objects stay readable after the block.
* ``db.dialect`` is ``"sqlite"`` or ``"postgresql"``; dialect-specific SQL is allowed only in
  adapters that check it (job claims, search).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=15000",
)


def _sqlite_engine(url: str, begin: str, **kwargs: Any) -> AsyncEngine:
    engine = create_async_engine(url, **kwargs)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver so BEGIN is ours to emit
        # (SQLAlchemy's documented recipe for SQLite's serializable mode).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(begin)

    return engine


class Database:
    """Engines and sessions for one database, SQLite or PostgreSQL."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.dialect = "sqlite" if url.startswith("sqlite") else "postgresql"
        if self.dialect == "sqlite":
            # One writer connection per process: writers queue on it instead of on the
            # file lock. Readers get their own connections (WAL readers do not block).
            self.writer = _sqlite_engine(
                url, "BEGIN IMMEDIATE", echo=echo, pool_size=1, max_overflow=0, pool_timeout=60
            )
            self.reader = _sqlite_engine(url, "BEGIN", echo=echo, pool_size=4, max_overflow=4)
        else:
            self.writer = create_async_engine(
                url, echo=echo, pool_size=10, max_overflow=10, pool_pre_ping=True
            )
            self.reader = self.writer
        self._write_sessions = async_sessionmaker(self.writer, expire_on_commit=False)
        self._read_sessions = async_sessionmaker(self.reader, expire_on_commit=False)
        self._write_lock = asyncio.Lock() if self.dialect == "sqlite" else None
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    def unpooled(cls, url: str) -> Database:
        """A Database that opens a fresh connection per session (for short CLI commands)."""
        db = cls.__new__(cls)
        db.url = url
        db.dialect = "sqlite" if url.startswith("sqlite") else "postgresql"
        if db.dialect == "sqlite":
            db.writer = _sqlite_engine(url, "BEGIN IMMEDIATE", poolclass=NullPool)
            db.reader = _sqlite_engine(url, "BEGIN", poolclass=NullPool)
        else:
            db.writer = db.reader = create_async_engine(url, poolclass=NullPool)
        db._write_sessions = async_sessionmaker(db.writer, expire_on_commit=False)
        db._read_sessions = async_sessionmaker(db.reader, expire_on_commit=False)
        db._write_lock = None
        db._tasks = set()
        return db

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        if self._write_lock is not None:
            async with self._write_lock, self._write_sessions.begin() as session:
                yield session
        else:
            async with self._write_sessions.begin() as session:
                yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self._read_sessions() as session, session.begin():
            yield session

    def background(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """Run ``work`` as a task that :meth:`dispose` cancels and awaits.

        For work that outlives the request or batch that started it (an index catch-up): a
        task left running when the loop ends would hold its connection in an open transaction.
        """
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def dispose(self) -> None:
        """Cancel the background tasks (their transactions roll back), then close."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.writer.dispose()
        if self.reader is not self.writer:
            await self.reader.dispose()
