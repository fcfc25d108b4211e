"""Turn user-supplied database URLs into the async driver URLs SQLAlchemy needs."""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from allsang.errors import ConfigurationError

_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+psycopg",
    "postgresql": "postgresql+psycopg",
    "postgresql+psycopg": "postgresql+psycopg",
}


def async_url(url: str) -> str:
    """Return ``url`` with the async driver Allsang uses, or raise ConfigurationError."""
    hint = (
        "Use sqlite:///path/to/allsang.db or postgresql://user@host:5432/dbname "
        "in ALLSANG_DATABASE_URL."
    )
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigurationError(f"The database URL {url!r} cannot be parsed. {hint}") from None
    driver = _DRIVERS.get(parsed.drivername)
    if driver is None:
        raise ConfigurationError(
            f"The database URL uses {parsed.drivername!r}, which Allsang does not support. {hint}"
        )
    if driver.startswith("postgresql") and not parsed.database:
        raise ConfigurationError(f"The database URL {url!r} names no database. {hint}")
    return parsed.set(drivername=driver).render_as_string(hide_password=False)


def sync_url(url: str) -> str:
    """The synchronous twin of an async URL (for pg_dump, Alembic offline mode and tools)."""
    parsed = make_url(url)
    name = {"sqlite+aiosqlite": "sqlite", "postgresql+psycopg": "postgresql+psycopg"}[
        parsed.drivername
    ]
    return parsed.set(drivername=name).render_as_string(hide_password=False)
