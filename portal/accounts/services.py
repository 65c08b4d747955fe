"""Accounts: users and passwords. Services flush; the caller commits.

API tokens live in `portal.accounts.tokens` (imported here too, for older callers).
"""

from __future__ import annotations

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from werkzeug.security import check_password_hash, generate_password_hash

from portal.accounts.models import Role, User
from portal.accounts.passwords import password_problem
from portal.dates import DEFAULT_ZONE, is_zone
from portal.errors import ValidationError
from portal.extensions import db
from portal.money import check_amount

# Compared against when the email is unknown, so sign-in takes the same time either way.
_DUMMY_HASH = generate_password_hash("not-a-real-password")


_EMAIL_TAKEN = "An account with this email already exists."
ZONE_UNKNOWN = "Choose a time zone from the list."
RATE_MISSING = "Tutors set an hourly rate: what a 60-minute lesson costs."


def rate_problem(hourly_rate: object) -> str | None:
    """Why `hourly_rate` (minor units) cannot be a tutor's rate, or None if it can."""
    if hourly_rate is None:
        return RATE_MISSING
    try:
        check_amount(hourly_rate, name="hourly_rate")
    except (TypeError, ValueError) as exc:
        return str(exc)
    return None


def normalise_email(email: str) -> str:
    try:
        result = validate_email(email or "", check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValidationError(str(exc), fields={"email": [str(exc)]}) from exc
    return result.normalized.lower()


def get_user_by_email(email: str) -> User | None:
    return db.session.scalar(sa.select(User).where(User.email == (email or "").strip().lower()))


def create_user(
    email: str,
    password: str,
    role: str,
    name: str | None = None,
    hourly_rate: int | None = None,
    time_zone: str | None = None,
) -> User:
    """Create a user; refuses a taken email (any case), a weak password, an unknown role
    or time zone, and a tutor without an hourly rate (students and admins have none)."""
    email = normalise_email(email)
    errors: dict[str, list[str]] = {}
    if role not in {r.value for r in Role}:
        errors["role"] = ["Role must be student, tutor or admin."]
    problem = password_problem(password, email=email)
    if problem:
        errors["password"] = [problem]
    if get_user_by_email(email) is not None:
        errors["email"] = [_EMAIL_TAKEN]
    if role == Role.TUTOR:
        problem = rate_problem(hourly_rate)
        if problem:
            errors["hourly_rate"] = [problem]
    else:
        hourly_rate = None
    time_zone = time_zone or DEFAULT_ZONE
    if not is_zone(time_zone):
        errors["time_zone"] = [ZONE_UNKNOWN]
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
        time_zone=time_zone,
        mail_preferences={},
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


def change_password(user: User, current: str, new: str) -> None:
    """Set a new password after checking the current one. Flushes."""
    if not check_password_hash(user.password_hash, current or ""):
        raise ValidationError(
            "That is not your current password.",
            fields={"current_password": ["That is not your current password."]},
        )
    problem = password_problem(new, email=user.email)
    if problem:
        raise ValidationError(problem, fields={"new_password": [problem]})
    user.password_hash = generate_password_hash(new)
    db.session.flush()


def list_tutors() -> list[User]:
    return list(
        db.session.scalars(
            sa.select(User)
            .where(User.role == Role.TUTOR, User.active.is_(True))
            .order_by(User.name)
        )
    )
