"""A user's profile: the name others see, a tutor's hourly rate, the time zone pages use.

A new rate prices lessons booked from then on; lessons already booked keep their price.
"""

from __future__ import annotations

from portal.accounts.models import Role, User
from portal.accounts.services import ZONE_UNKNOWN, rate_problem
from portal.dates import is_zone
from portal.errors import ValidationError
from portal.extensions import db

MAX_NAME = 120


def update_profile(
    user: User, *, name: str, time_zone: str, hourly_rate: int | None = None
) -> list[str]:
    """Change the profile; returns the names of the fields that changed. Flushes.

    Refuses an empty or over-long name, an unknown zone, and for a tutor a missing or
    out-of-range rate; a rate given for anybody else is ignored."""
    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = ["Enter your name."]
    elif len(name) > MAX_NAME:
        errors["name"] = [f"Use at most {MAX_NAME} characters."]
    if not is_zone(time_zone):
        errors["time_zone"] = [ZONE_UNKNOWN]
    if user.role == Role.TUTOR:
        problem = rate_problem(hourly_rate)
        if problem:
            errors["hourly_rate"] = [problem]
    if errors:
        raise ValidationError(next(iter(errors.values()))[0], fields=errors)
    new = {"name": name, "time_zone": time_zone}
    if user.role == Role.TUTOR:
        new["hourly_rate"] = hourly_rate
    changed = [field for field, value in new.items() if getattr(user, field) != value]
    for field in changed:
        setattr(user, field, new[field])
    db.session.flush()
    return changed
