"""Accounts: users, passwords and API tokens. Services flush; the caller commits."""

from __future__ import annotations

import hashlib
import secrets

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from werkzeug.security import check_password_hash, generate_password_hash

from portal.accounts.models import ApiToken, Role, User
from portal.errors import ValidationError
from portal.extensions import db
from portal.money import check_amount

MIN_PASSWORD_LENGTH = 10
TOKEN_PREFIX = "m4sh_"  # noqa: S105 - a public prefix, not a secret
_EMAIL_TAKEN = "An account with this email already exists."
# Compared against when the email is unknown, so sign-in takes the same time either way.
_DUMMY_HASH = generate_password_hash("not-a-real-password")


def normalise_email(email: str) -> str:
    try:
        result = validate_email(email or "", check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValidationError(str(exc), fields={"email": [str(exc)]}) from exc
    return result.normalized.lower()


def get_user_by_email(email: str) -> User | None:
    return db.session.scalar(sa.select(User).where(User.email == (email or "").strip().lower()))


def create_user(
    email: str, password: str, role: str, name: str | None = None, hourly_rate: int | None = None
) -> User:
    """Create a user; refuses a taken email (any case), a weak password or an unknown role."""
    email = normalise_email(email)
    errors: dict[str, list[str]] = {}
    if role not in {r.value for r in Role}:
        errors["role"] = ["Role must be student, tutor or admin."]
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        errors["password"] = [f"Use at least {MIN_PASSWORD_LENGTH} characters."]
    if get_user_by_email(email) is not None:
        errors["email"] = [_EMAIL_TAKEN]
    if hourly_rate is not None:
        try:
            check_amount(hourly_rate, name="hourly_rate")
        except ValueError as exc:
            errors["hourly_rate"] = [str(exc)]
    if role == Role.TUTOR and hourly_rate is None:
        hourly_rate = 4500
    if role != Role.TUTOR:
        hourly_rate = None
    name = (name or "").strip() or email.split("@")[0]
    if len(name) > 120:
        errors["name"] = ["Use at most 120 characters."]
    if errors:
        raise ValidationError(next(iter(errors.values()))[0], fields=errors)
    user = User(
        email=email,
        name=name,
        role=role,
        hourly_rate=hourly_rate,
        password_hash=generate_password_hash(password),
    )
    try:
        # A savepoint: losing the race for the email to a signup that committed meanwhile
        # (the unique key) is the ordinary "already exists", and the caller's transaction
        # stays usable.
        with db.session.begin_nested():
            db.session.add(user)
    except sa.exc.IntegrityError:
        raise ValidationError(_EMAIL_TAKEN, fields={"email": [_EMAIL_TAKEN]}) from None
    return user


def authenticate(email: str, password: str) -> User | None:
    user = get_user_by_email(email)
    if user is None:
        check_password_hash(_DUMMY_HASH, password or "")
        return None
    if not check_password_hash(user.password_hash, password or "") or not user.active:
        return None
    return user


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(user: User) -> str:
    """Create an API token for `user` and return it; only its hash is kept."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    db.session.add(ApiToken(user_id=user.id, token_hash=_hash_token(token)))
    db.session.flush()
    return token


def user_for_token(token: str) -> User | None:
    """The active user a live token belongs to, in one query (it runs on every API call)."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    return db.session.scalar(_USER_FOR_TOKEN, {"token_hash": _hash_token(token)})


# Built once: composing the statement and its cache key cost more than running it.
_USER_FOR_TOKEN = (
    sa.select(User)
    .join(ApiToken, ApiToken.user_id == User.id)
    .where(
        ApiToken.token_hash == sa.bindparam("token_hash"),
        ApiToken.revoked_at.is_(None),
        User.active.is_(True),
    )
)


def list_tutors() -> list[User]:
    return list(
        db.session.scalars(
            sa.select(User)
            .where(User.role == Role.TUTOR, User.active.is_(True))
            .order_by(User.name)
        )
    )
