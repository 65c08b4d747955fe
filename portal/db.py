"""Column types and helpers shared by every model, and the unit of work.

Services add and flush but never commit. The view, API handler, task or command that owns
the request commits once, with `unit_of_work()`: all of what it did, or none of it.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
import uuid
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from werkzeug.routing import IntegerConverter

from portal.extensions import db

# What `utcnow()` adds to the real time inside `as_of`: unset everywhere else.
_CLOCK_SHIFT: ContextVar[timedelta | None] = ContextVar("clock_shift", default=None)


def utcnow() -> datetime:
    """Now, in UTC: the one clock every service stamps rows with and checks rules against."""
    now = datetime.now(UTC)
    shift = _CLOCK_SHIFT.get()
    return now if shift is None else now + shift


@contextmanager
def as_of(moment: datetime) -> Iterator[None]:
    """Run the block as if it were `moment`: every `utcnow()` in this context (thread or
    task) reads that moment and goes on from there. The demo lives its past lessons
    through the real services this way (booked, paid, completed and released when they
    were), so every row and ledger entry carries the day it happened."""
    token = _CLOCK_SHIFT.set(moment - datetime.now(UTC))
    try:
        yield
    finally:
        _CLOCK_SHIFT.reset(token)


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


# The largest id an INTEGER primary key holds on PostgreSQL (int4, the type of every id the
# portal looks up by): a larger one is no row of ours, and PostgreSQL refuses to compare it
# with the column (an overflow, not "no row").
MAX_ID = 2**31 - 1


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


def serialize_on(key: str) -> None:
    """Hold a lock named `key` until the transaction ends: callers naming the same key run
    one after another. For a step that must not run twice at once but cannot take its
    row locks in the order every other path takes them (on SQLite, where one writer runs
    at a time, there is nothing to do)."""
    if not is_postgres(db.session):
        return
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    db.session.execute(
        sa.text("SELECT pg_advisory_xact_lock(:key)"),
        {"key": int.from_bytes(digest, "big", signed=True)},
    )


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


IDLE_SINCE = "portal_idle_since"


def install_idle_ping(engine: sa.engine.Engine, idle_seconds: float) -> None:
    """Ping a pooled connection before it is used only when it sat idle in the pool for
    more than `idle_seconds`; the factory calls this instead of ``pool_pre_ping``.

    A connection in steady use (the web workers under load) goes straight to its first
    statement, saving a round trip on every checkout; one that waited long enough for a
    server restart, a failover or a firewall to have dropped it is pinged, and a dead one
    is replaced before anything runs on it (the pool retries the checkout on
    `DisconnectionError`). A connection dropped while in steady use fails the statement
    that finds it: SQLAlchemy then invalidates it and every connection pooled before
    it, so the following checkouts reconnect; the failed unit of work rolls back (a
    webhook is answered 500 and Stripe sends it again, a task is retried).
    """
    if engine in _PINGED:
        return
    _PINGED.add(engine)
    dialect = engine.dialect

    def note_idle(dbapi_connection, record) -> None:
        if record is not None:
            record.info[IDLE_SINCE] = time.monotonic()

    def ping_if_idle(dbapi_connection, record, proxy) -> None:
        since = record.info.pop(IDLE_SINCE, None)
        if since is None or time.monotonic() - since <= idle_seconds:
            return  # connected for this checkout, or in steady use
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise sa.exc.DisconnectionError("a pooled connection did not answer") from exc

    # On the engine, so a pool made again by `engine.dispose()` keeps them.
    sa.event.listen(engine, "checkin", note_idle)
    sa.event.listen(engine, "checkout", ping_if_idle)


_PINGED: weakref.WeakSet = weakref.WeakSet()
