"""Plain checks of user input shared by services, views and the API: days and request
keys. Nothing here knows about forms, so a domain service can use it."""

from __future__ import annotations

import re
from datetime import date

from portal.errors import ValidationError

# Filters take days in this range: arithmetic a day or a year past them stays in range.
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(2999, 12, 31)


def parse_day(value: object, name: str, errors: dict) -> date | None:
    """A day from "2026-01-31" (or a date); None, with a message in `errors`, if it is not."""
    if value is None or value == "":
        return None
    if not isinstance(value, date):
        try:
            value = date.fromisoformat(str(value).strip())
        except ValueError:
            errors[name] = ["Use a date like 2026-01-31."]
            return None
    if not FIRST_DAY <= value <= LAST_DAY:
        errors[name] = [f"Choose a date from {FIRST_DAY.year} to {LAST_DAY.year}."]
        return None
    return value


_REQUEST_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


def check_request_key(value: object) -> str:
    """The request key of a form or an `Idempotency-Key` header, or a 400 if it is malformed."""
    if not isinstance(value, str) or not _REQUEST_KEY_RE.match(value):
        raise ValidationError(
            "The request key must be 8 to 64 letters, digits, - or _.",
            fields={"request_key": ["8 to 64 letters, digits, - or _."]},
        )
    return value
