"""Server-side sessions (Flask-Session) and the account page's list of them.

The session cookie holds only a random id; what the session holds lives on the server:
in Redis when `SESSION_REDIS_URL` is set, else in the database (`sessions`). So signing
out deletes the session, and a copied cookie is worth nothing afterwards.

Each signed-in session also has an `AccountSession` row: whose it is, from which browser
and address, and when it was last seen (kept to the minute, so a page view does not
write). It holds the session's store key encrypted, so the account page can end a
session the user does not have in hand. Sign-in starts a new session id and a new CSRF
token: an id or token planted or seen before sign-in is worth nothing after it.
"""

from __future__ import annotations

import re
import time
from datetime import timedelta

import sqlalchemy as sa
from flask import Flask, current_app, g, request, session
from flask_login import login_user, logout_user
from flask_session import Session
from flask_session.base import ServerSideSessionInterface
from flask_session.sqlalchemy import SqlAlchemySessionInterface
from flask_wtf.csrf import generate_csrf

from portal.accounts.bookkeeping import commit_bookkeeping
from portal.accounts.models import AccountSession, ServerSession, User
from portal.db import utcnow
from portal.errors import NotFound
from portal.extensions import db

ROW_KEY = "_account_session"
SEEN_KEY = "_seen"
# Last seen is written at most this often per session.
TOUCH_EVERY_SECONDS = 60
SESSION_OPTIONS = {"key_prefix": "session:", "sid_length": 32, "serialization_format": "msgpack"}


class MigratedSqlAlchemySessionInterface(SqlAlchemySessionInterface):
    """Flask-Session's SQLAlchemy store, on the `sessions` table our migrations create.

    The library's constructor defines its own model on the app's metadata (again for every
    app made) and creates the table at start-up, outside the migrations; this constructor
    hands it our model instead. Reading, writing and deleting sessions are the library's.
    """

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.client = db
        self.sql_session_model = ServerSession
        ServerSideSessionInterface.__init__(self, app, permanent=False, **SESSION_OPTIONS)


def init_sessions(app: Flask) -> None:
    """Keep sessions on the server: Redis when SESSION_REDIS_URL is set, else the database."""
    # The cookie ends with the browser, as before; the server keeps a session for
    # SESSION_LIFETIME_DAYS from its last write. (A permanent session would also turn
    # Flask-Login's "strong" protection into "basic".)
    app.config["SESSION_PERMANENT"] = False
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(days=app.config["SESSION_LIFETIME_DAYS"])
    # Each refresh would be a write to the store; `touch_session` refreshes once a minute.
    app.config["SESSION_REFRESH_EACH_REQUEST"] = False
    url = app.config.get("SESSION_REDIS_URL")
    if url:
        from redis import Redis

        app.config.update(
            SESSION_TYPE="redis",
            SESSION_REDIS=Redis.from_url(url),
            SESSION_KEY_PREFIX=SESSION_OPTIONS["key_prefix"],
            SESSION_ID_LENGTH=SESSION_OPTIONS["sid_length"],
        )
        Session(app)
    else:
        app.session_interface = MigratedSqlAlchemySessionInterface(app)


def _store_id(sid: str) -> str:
    return current_app.session_interface._get_store_id(sid)


def _delete_stored(sid: str) -> None:
    # The store is outside the request's transaction (Redis always is; the library's SQL
    # store commits on its own), so it is touched before anything else is written.
    current_app.session_interface._delete_session(_store_id(sid))


def _rotate_csrf_token() -> None:
    name = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    session.pop(name, None)
    g.pop(name, None)
    # Made now, it is saved with the new session: the next page need not write it.
    generate_csrf()


def start_session(user: User) -> AccountSession:
    """Sign `user` in on a new session id and CSRF token, and record the session.

    Flushes; the caller commits."""
    current_app.session_interface.regenerate(session)
    _rotate_csrf_token()
    login_user(user)
    row = AccountSession(
        user_id=user.id,
        store_key={"sid": session.sid},
        user_agent=_agent(),
        ip=request.remote_addr,
    )
    db.session.add(row)
    db.session.flush()
    session[ROW_KEY] = row.id
    session[SEEN_KEY] = int(time.time())
    return row


def end_session() -> None:
    """Sign out here: the server forgets this session and its record. Flushes."""
    row_id = session.get(ROW_KEY)
    if row_id is not None:
        db.session.execute(sa.delete(AccountSession).where(AccountSession.id == row_id))
    logout_user()
    # A new, empty session: what the old id pointed at is deleted from the store.
    current_app.session_interface.regenerate(session)
    session.clear()


def current_session_id() -> int | None:
    return session.get(ROW_KEY)


def list_sessions(user_id: int) -> list[AccountSession]:
    """The user's sessions still alive, last seen first."""
    alive_since = utcnow() - current_app.permanent_session_lifetime
    return list(
        db.session.scalars(
            sa.select(AccountSession)
            .where(AccountSession.user_id == user_id, AccountSession.last_seen_at > alive_since)
            .order_by(AccountSession.last_seen_at.desc(), AccountSession.id.desc())
        )
    )


def end_other_session(user_id: int, row_id: int) -> None:
    """End one of the user's sessions from another one (404 for anyone else's). Flushes."""
    row = db.session.scalar(
        sa.select(AccountSession).where(
            AccountSession.id == row_id, AccountSession.user_id == user_id
        )
    )
    if row is None or row.id == current_session_id():
        raise NotFound("No such session.")
    _delete_stored(row.store_key["sid"])
    db.session.delete(row)
    db.session.flush()


def end_all_other_sessions(user_id: int) -> int:
    """End every session of the user but this one; returns how many. Flushes."""
    rows = db.session.scalars(
        sa.select(AccountSession).where(
            AccountSession.user_id == user_id, AccountSession.id != (current_session_id() or 0)
        )
    ).all()
    for row in rows:
        _delete_stored(row.store_key["sid"])
        db.session.delete(row)
    db.session.flush()
    return len(rows)


def touch_session() -> None:
    """Before each request: note when and from where this session was last seen (once a
    minute), and sign out a session whose record was ended from another browser.

    Runs before the request's own work, so it commits its one bookkeeping write alone."""
    if g.get("bearer_user") is not None or request.endpoint == "static":
        return
    row_id = session.get(ROW_KEY)
    now = int(time.time())
    if row_id is None or now - session.get(SEEN_KEY, 0) < TOUCH_EVERY_SECONDS:
        return
    changed = db.session.execute(
        sa.update(AccountSession)
        .where(AccountSession.id == row_id)
        .values(last_seen_at=utcnow(), ip=request.remote_addr, user_agent=_agent())
    ).rowcount
    commit_bookkeeping()
    if changed:
        session[SEEN_KEY] = now
    else:
        logout_user()
        session.clear()


def delete_expired_sessions() -> int:
    """Forget sessions past their lifetime: the database store's rows and the records."""
    cutoff = utcnow() - current_app.permanent_session_lifetime
    count = db.session.execute(
        sa.delete(AccountSession).where(AccountSession.last_seen_at < cutoff)
    ).rowcount
    if isinstance(current_app.session_interface, SqlAlchemySessionInterface):
        db.session.execute(
            sa.delete(ServerSession).where(ServerSession.expiry <= utcnow().replace(tzinfo=None))
        )
    return count


def _agent() -> str:
    return (request.user_agent.string or "")[:255]


_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"),
             ("Chrome/", "Chrome"), ("Safari/", "Safari"), ("curl/", "curl"))  # fmt: skip
_SYSTEMS = (("Android", "Android"), ("iPhone", "iOS"), ("iPad", "iPadOS"),
            ("Windows", "Windows"), ("Mac OS X", "macOS"), ("Linux", "Linux"))  # fmt: skip


def describe_agent(agent: str) -> str:
    """A short name for a browser from its User-Agent, e.g. "Firefox on Linux"."""
    browser = next((name for mark, name in _BROWSERS if mark in agent), None)
    system = next((name for mark, name in _SYSTEMS if re.search(mark, agent)), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or "Unknown browser"
