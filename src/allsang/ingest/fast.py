"""Bulk statements for the ingest pipeline's hot path, through the DBAPI cursor.

Why: SQLAlchemy's per-row parameter processing (dicts, type processors, "insert many values"
with ``RETURNING``) cost the pipeline more than the database did. The pipeline builds its rows
as tuples and runs them here, on the connection of the session's own transaction, so the
guarantees of :class:`allsang.db.Database.write` (one transaction, ``BEGIN IMMEDIATE`` on
SQLite) are unchanged.

Contract of :class:`Bulk`:

* It runs on the connection of a synchronous SQLAlchemy ``Connection`` (from
  ``AsyncSession.run_sync``), inside that connection's transaction; it never commits.
* SQL is written with ``?`` placeholders; they become the driver's (``?`` for sqlite3,
  ``%s`` for psycopg, the two drivers Allsang uses; others are refused). SQL text must not
  contain a ``?`` of its own.
* Values must be given as the database stores them: :meth:`Bulk.timestamp` and
  :meth:`Bulk.json` convert to what the models' column types store and read back
  (``UTCDateTime``: naive UTC text on SQLite, aware UTC on PostgreSQL; ``JSONType``: JSON
  text on SQLite, JSONB on PostgreSQL).
* On PostgreSQL it plans every statement of the transaction for its parameters
  (``SET LOCAL plan_cache_mode = force_custom_plan``, which the triggers' statements follow
  too), never with a cached generic plan.
* :meth:`Bulk.insert` fills the columns it is not given from the model's Python-side defaults
  (a column added to a model later with a default is filled here too) and inserts up to
  :data:`CHUNK` rows per multi-row ``VALUES`` statement.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic_core import to_json
from sqlalchemy import Connection, Table
from sqlalchemy.types import JSON, DateTime

CHUNK = 500  # rows per statement: 500 × 20 columns stays well below SQLite's 32,766 parameters


def chunks(values: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


class Bulk:
    """DBAPI statements in the transaction of ``connection`` (see the module docstring)."""

    def __init__(self, connection: Connection) -> None:
        self.sqlite = connection.dialect.name == "sqlite"
        paramstyle = connection.dialect.paramstyle
        if paramstyle not in ("qmark", "format", "pyformat"):
            raise NotImplementedError(f"bulk statements for the {paramstyle!r} paramstyle")
        self._mark = "?" if paramstyle == "qmark" else "%s"
        self._cursor = connection.connection.cursor()
        if not self.sqlite:
            from psycopg.types.json import Jsonb

            self._jsonb = Jsonb
            # psycopg prepares a statement after a few runs, and PostgreSQL may then keep a
            # generic plan made while the table was nearly empty: the dedupe look-up became a
            # scan of the channel's every message (quadratic ingest, 0.6 s a look-up at 50,000
            # messages). Planning for the actual parameters costs well under a millisecond.
            self._cursor.execute("SET LOCAL plan_cache_mode = force_custom_plan")

    def timestamp(self, value: datetime) -> Any:
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: use timezone-aware datetimes")
        if value.tzinfo is not UTC:
            value = value.astimezone(UTC)
        if not self.sqlite:
            return value
        # SQLAlchemy's SQLite DATETIME storage format, microseconds always written.
        return value.replace(tzinfo=None).isoformat(" ", "microseconds")

    def json(self, value: Any) -> Any:
        # pydantic-core's encoder: a sixth of json.dumps's time, for one call per message.
        return to_json(value).decode() if self.sqlite else self._jsonb(value)

    def _sql(self, text: str) -> str:
        return text if self._mark == "?" else text.replace("?", self._mark)

    def select_in(self, sql: str, fixed: Sequence[Any], values: Sequence[Any]) -> list[Any]:
        """Rows of ``sql`` + ``IN (values)`` (``= ANY(array)`` on PostgreSQL), run in chunks;
        ``fixed`` binds the ``?`` in ``sql`` itself."""
        rows: list[Any] = []
        for chunk in chunks(values):
            if self.sqlite:
                marks = ", ".join(["?"] * len(chunk))
                self._cursor.execute(f"{sql} IN ({marks})", (*fixed, *chunk))
            else:
                # One array parameter: 500-value IN lists made these look-ups about 7 times
                # slower on PostgreSQL (measured in `allsang bench ingest`).
                self._cursor.execute(self._sql(f"{sql} = ANY(?)"), (*fixed, list(chunk)))
            rows.extend(self._cursor.fetchall())
        return rows

    def insert(
        self,
        table: Table,
        columns: Sequence[str],
        rows: Sequence[tuple[Any, ...]],
        *,
        ignore_conflicts: bool = False,
        returning: Sequence[str] = (),
    ) -> list[Any]:
        """Insert ``rows`` (tuples in the order of ``columns``); the ``returning`` columns of
        the rows actually inserted (with ``ignore_conflicts``, rows that clash with a unique
        constraint are skipped and not returned)."""
        if not rows:
            return []
        names, filler = self._defaults(table, columns)
        placeholders = "(" + ", ".join(["?"] * len(names)) + ")"
        head = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES "
        tail = (" ON CONFLICT DO NOTHING" if ignore_conflicts else "") + (
            f" RETURNING {', '.join(returning)}" if returning else ""
        )
        found: list[Any] = []
        for chunk in chunks(rows):
            sql = self._sql(head + ", ".join([placeholders] * len(chunk)) + tail)
            params = [value for row in chunk for value in (*row, *filler)]
            self._cursor.execute(sql, params)
            if returning:
                found.extend(self._cursor.fetchall())
        return found

    def execute_many(self, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
        """One statement run once per row (the driver's ``executemany``)."""
        if rows:
            self._cursor.executemany(self._sql(sql), rows)

    def _defaults(self, table: Table, columns: Sequence[str]) -> tuple[list[str], tuple[Any, ...]]:
        """The column names with the defaulted ones appended, and their values."""
        names, values = list(columns), []
        for column in table.columns:
            default = column.default
            if column.name in columns or column.primary_key or default is None:
                continue
            if default.is_scalar:
                value = default.arg  # type: ignore[attr-defined]
            elif default.is_callable:
                value = default.arg(None)  # type: ignore[attr-defined]
            else:
                continue  # a SQL expression default is the database's to apply
            kind = getattr(column.type, "impl_instance", column.type)
            if isinstance(kind, DateTime) and value is not None:
                value = self.timestamp(value)
            elif isinstance(kind, JSON):
                value = self.json(value)
            names.append(column.name)
            values.append(value)
        return names, tuple(values)
