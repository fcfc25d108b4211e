"""The Database port: one async SQLAlchemy API over SQLite (embedded) and PostgreSQL."""

from allsang.db.database import Database

__all__ = ["Database"]
