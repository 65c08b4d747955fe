from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask_login import UserMixin

from portal.crypto import EncryptedJSON
from portal.db import UTCDateTime, utcnow
from portal.extensions import db


class Role(enum.StrEnum):
    STUDENT = "student"
    TUTOR = "tutor"
    ADMIN = "admin"


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    # Stored lower-cased, so the unique index is case-insensitive on every backend.
    email: so.Mapped[str] = so.mapped_column(sa.String(254), unique=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(120))
    role: so.Mapped[str] = so.mapped_column(sa.String(16), index=True)
    password_hash: so.Mapped[str] = so.mapped_column(sa.String(255))
    active: so.Mapped[bool] = so.mapped_column(default=True)
    hourly_rate: so.Mapped[int | None] = so.mapped_column(sa.BigInteger)
    stripe_customer_id: so.Mapped[str | None] = so.mapped_column(sa.String(64), unique=True)
    # An IANA zone name (`Europe/Berlin`): pages show times in it; storage and the API
    # stay UTC. Checked against the zone database when set (`portal.accounts.profile`).
    time_zone: so.Mapped[str] = so.mapped_column(sa.String(64), default="UTC", server_default="UTC")
    # Which optional e-mails the user wants, by kind (`portal.accounts.notifications`); a
    # kind not in here has its default.
    mail_preferences: so.Mapped[dict] = so.mapped_column(sa.JSON, default=dict, server_default="{}")
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        sa.CheckConstraint("role IN ('student', 'tutor', 'admin')", name="role"),
        sa.CheckConstraint("hourly_rate IS NULL OR hourly_rate > 0", name="hourly_rate_positive"),
        # A tutor's lessons are priced from the rate: a tutor always has one.
        sa.CheckConstraint("role <> 'tutor' OR hourly_rate IS NOT NULL", name="tutor_has_rate"),
    )

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active

    @property
    def is_student(self) -> bool:
        return self.role == Role.STUDENT

    @property
    def is_tutor(self) -> bool:
        return self.role == Role.TUTOR

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    def __repr__(self) -> str:
        return f"<User {self.id} {self.role}>"


class ApiToken(db.Model):
    """A bearer token for the JSON API; only its SHA-256 is stored, the token is shown once.

    A token works until `expires_at` or until it is revoked; `last_used_at` is kept to the
    minute (see `portal.accounts.tokens`)."""

    __tablename__ = "api_tokens"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("users.id"), index=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(80))
    token_hash: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    expires_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime)
    last_used_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    revoked_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)

    user: so.Mapped[User] = so.relationship()


class ServerSession(db.Model):
    """Flask-Session's store on the database (the embedded default; Redis in production).

    The columns are the ones Flask-Session's SQLAlchemy interface reads and writes; the
    table is created by a migration rather than by the library at start-up. `expiry` is a
    naive UTC time because the library compares it with `datetime.utcnow()`.
    """

    __tablename__ = "sessions"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    session_id: so.Mapped[str] = so.mapped_column(sa.String(255), unique=True)
    data: so.Mapped[bytes | None] = so.mapped_column(sa.LargeBinary)
    expiry: so.Mapped[datetime | None] = so.mapped_column(sa.DateTime, index=True)

    def __init__(self, session_id: str, data: bytes, expiry: datetime) -> None:
        # Flask-Session builds rows positionally.
        super().__init__(session_id=session_id, data=data, expiry=expiry)


class AccountSession(db.Model):
    """One signed-in browser of a user, listed on the account page.

    The server session itself lives in Flask-Session's store; this row says whose it is,
    from where and when it was last seen, and holds the store key encrypted, so the
    account page can end a session the user does not have in hand.
    """

    __tablename__ = "account_sessions"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("users.id"), index=True)
    store_key: so.Mapped[dict] = so.mapped_column(EncryptedJSON)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    user_agent: so.Mapped[str] = so.mapped_column(sa.String(255), default="")
    ip: so.Mapped[str | None] = so.mapped_column(sa.String(45))


class TwoFactorSecret(db.Model):
    """A user's TOTP secret (encrypted at rest); enrolment is complete once confirmed."""

    __tablename__ = "two_factor_secrets"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("users.id"), unique=True)
    secret: so.Mapped[dict] = so.mapped_column(EncryptedJSON)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    # The last 30-second step a code was accepted for: a code is good once.
    last_step: so.Mapped[int | None] = so.mapped_column(sa.BigInteger)


class RecoveryCode(db.Model):
    """A single-use code that stands in for the TOTP code; only its SHA-256 is stored."""

    __tablename__ = "recovery_codes"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("users.id"), index=True)
    code_hash: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    used_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
