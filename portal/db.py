"""Column types and helpers shared by every model, and the unit of work.

Services add and flush but never commit. The view, API handler, task or command that owns
the request commits once, with `unit_of_work()`: all of what it did, or none of it.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from werkzeug.routing import IntegerConverter

from portal.extensions import db


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite forgets the zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def new_uuid() -> uuid.UUID:
    return uuid.uuid4()


# The largest id a BIGINT (and SQLite's INTEGER) holds: a larger one is no row of ours.
MAX_ID = 2**63 - 1


def parse_id(value: object) -> int | None:
    """A positive database id from an int or a string of ASCII digits; None if it is not
    one (bools, unicode digits such as "²", zero, or a number no column can hold)."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= MAX_ID:
        return None
    return value


class IdConverter(IntegerConverter):
    """`<int:…>` in every route: at most MAX_ID, so a longer number is no match (404)
    rather than an overflow in the database driver."""

    def __init__(self, map, *args, **kwargs) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def one_of(column: str, values) -> str:
    """SQL for a CHECK constraint: `column` holds one of `values` (an enum's members)."""
    return f"{column} IN ({', '.join(repr(str(v)) for v in values)})"


def is_postgres(session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def render_migration_item(type_, obj, autogen_context):
    """Write our column types into migrations as plain SQLAlchemy types."""
    if type_ != "type":
        return False
    if isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if isinstance(obj, TypeDecorator):
        # Encrypted and other wrapped columns are stored as their plain SQL type.
        return f"sa.{obj.impl.__class__.__name__}()"
    return False


@contextmanager
def unit_of_work() -> Iterator[None]:
    """Commit what the block did, or roll all of it back if it (or the commit) raised."""
    try:
        yield
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise


def install_sqlite_settings() -> None:
    """Set up every SQLite connection as below; the factory calls this (once per process)."""
    if not sa.event.contains(sa.engine.Engine, "connect", _sqlite_settings):
        sa.event.listen(sa.engine.Engine, "connect", _sqlite_settings)


def _sqlite_settings(dbapi_connection, connection_record) -> None:
    """SQLite (development and the first test pass) set up like a database that holds money.

    WAL: a commit is one write and fsync of the log instead of a rollback journal's
    several, and readers do not block the writer; synchronous=FULL keeps every commit
    durable. A writer that finds the database locked waits instead of failing at once.
    """
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()
