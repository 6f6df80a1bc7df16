"""The engine and sessions: SQLite tuned for durability, or any SQLAlchemy URL (PostgreSQL).

SQLite runs in WAL mode (readers never block the writer) with ``synchronous=FULL``, so a commit
has reached the disk when it returns: with the blob's own fsync this is what lets ``201`` mean
"survives kill -9 and power loss".
"""

from __future__ import annotations

import sqlite3

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from cloud_service.db.models import Base

POOL_SIZE = 16
"""Connections kept per process: the request thread pool's readers plus the single writer."""


def _sqlite_pragmas(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "busy_timeout=30000",
                   "foreign_keys=ON"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite files get the durability pragmas on every connection."""
    engine = create_engine(url, pool_size=POOL_SIZE, max_overflow=POOL_SIZE, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def make_sessions(engine: Engine) -> sessionmaker[Session]:
    """Session factory; objects stay readable after commit (they are handed to the API layer)."""
    return sessionmaker(engine, expire_on_commit=False)


def create_tables(engine: Engine) -> None:
    """Create missing tables (idempotent); the schema has no migrations yet."""
    Base.metadata.create_all(engine)
