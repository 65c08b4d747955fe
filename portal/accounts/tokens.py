"""API tokens: named, expiring, revocable bearer tokens for `/api/` only.

A token is `m4sh_` and 43 random characters, shown once; only its SHA-256 is stored. It
works until `API_TOKEN_DAYS` after it was made or until revoked (from the account page,
`DELETE /api/v1/me/tokens/{id}/` or `flask users revoke-tokens`). Its last use is
recorded to the minute: a busy client's calls do not each write to the database.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from portal.accounts.bookkeeping import commit_bookkeeping
from portal.accounts.models import ApiToken, User
from portal.db import utcnow
from portal.errors import NotFound, ValidationError
from portal.extensions import db

TOKEN_PREFIX = "m4sh_"  # noqa: S105 - a public prefix, not a secret
DEFAULT_NAME = "API token"
MAX_NAME_LENGTH = 80
TOUCH_EVERY = timedelta(minutes=1)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(user: User, name: str | None = None) -> tuple[ApiToken, str]:
    """A new token for `user`: the row and the token itself (to show once). Flushes."""
    name = " ".join((name or "").split()) or DEFAULT_NAME
    if len(name) > MAX_NAME_LENGTH:
        message = f"Use at most {MAX_NAME_LENGTH} characters."
        raise ValidationError(message, fields={"name": [message]})
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    row = ApiToken(
        user_id=user.id,
        name=name,
        token_hash=hash_token(token),
        created_at=now,
        expires_at=now + timedelta(days=current_app.config["API_TOKEN_DAYS"]),
    )
    db.session.add(row)
    db.session.flush()
    return row, token


def issue_token(user: User, name: str | None = None) -> str:
    """Create an API token for `user` and return it; only its hash is kept. Flushes."""
    return create_token(user, name)[1]


def user_for_token(token: str) -> User | None:
    """The active user a live token belongs to, in one query (it runs on every API call).

    When the token's last use is over a minute old it is brought up to date; that runs
    before the request's own work, so it commits alone."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    now = utcnow()
    row = db.session.execute(_USER_FOR_TOKEN, {"token_hash": hash_token(token), "now": now}).first()
    if row is None:
        return None
    user, token_id, last_used_at = row
    if last_used_at is None or last_used_at < now - TOUCH_EVERY:
        _note_use(token_id, now)
    return user


# Built once: composing the statement and its cache key cost more than running it.
_USER_FOR_TOKEN = (
    sa.select(User, ApiToken.id, ApiToken.last_used_at)
    .join(ApiToken, ApiToken.user_id == User.id)
    .where(
        ApiToken.token_hash == sa.bindparam("token_hash"),
        ApiToken.revoked_at.is_(None),
        ApiToken.expires_at > sa.bindparam("now"),
        User.active.is_(True),
    )
)


def _note_use(token_id: int, now: datetime) -> None:
    # Conditional, so of many calls at once only the first writes.
    db.session.execute(
        sa.update(ApiToken)
        .where(
            ApiToken.id == token_id,
            sa.or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < now - TOUCH_EVERY),
        )
        .values(last_used_at=now)
    )
    commit_bookkeeping()


def live_tokens(user_id: int) -> sa.Select:
    """The user's tokens that still work, newest first."""
    return (
        sa.select(ApiToken)
        .where(
            ApiToken.user_id == user_id,
            ApiToken.revoked_at.is_(None),
            ApiToken.expires_at > utcnow(),
        )
        .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    )


def revoke_token(user_id: int, token_id: int) -> ApiToken:
    """Revoke one of the user's live tokens at once; 404 for anyone else's. Flushes."""
    token = db.session.scalar(live_tokens(user_id).where(ApiToken.id == token_id).with_for_update())
    if token is None:
        raise NotFound("No such token.")
    token.revoked_at = utcnow()
    db.session.flush()
    return token


def revoke_all_tokens(user_id: int) -> int:
    """Revoke every live token of the user; returns how many. Flushes."""
    now = utcnow()
    return db.session.execute(
        sa.update(ApiToken)
        .where(
            ApiToken.user_id == user_id,
            ApiToken.revoked_at.is_(None),
            ApiToken.expires_at > now,
        )
        .values(revoked_at=now)
    ).rowcount
