"""Plain checks of user input (query strings, JSON), for services as well as forms."""

from __future__ import annotations

from datetime import date

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
