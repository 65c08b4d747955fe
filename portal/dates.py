"""Times as people read them: in their own time zone, with the zone named.

Every time is stored in UTC and the API and CSV files give it as UTC ISO 8601. Pages
show it in the signed-in user's zone (`User.time_zone`, an IANA name), always with the
zone's abbreviation, so "14:30 CET" and "14:30 CEST" are told apart across a
daylight-saving change. Outside a request (a worker's e-mail, a PDF) the caller names
the zone, or it is UTC.

A leaf: the signed-in user is read through Flask-Login, no feature is imported.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from flask import has_request_context
from flask_login import current_user

DEFAULT_ZONE = "UTC"

# The styles templates ask for by name.
STYLES = {
    "datetime": "%a %d %b %Y, %H:%M",
    "seconds": "%d %b %Y, %H:%M:%S",
    "short": "%d %b %Y, %H:%M",
    "date": "%d %b %Y",
    "long_date": "%d %B %Y",
    "time": "%H:%M",
}
# Styles that show a date only: a zone name next to a date alone says nothing useful.
DATE_ONLY = frozenset({"date", "long_date"})


@cache
def zone_names() -> tuple[str, ...]:
    """Every IANA zone the server knows, sorted, for the profile's list (no "posix/…")."""
    return tuple(sorted(n for n in available_timezones() if not n.startswith(("posix", "right"))))


def is_zone(name: object) -> bool:
    return isinstance(name, str) and name in zone_names()


@cache
def zone(name: str | None) -> ZoneInfo:
    """The zone called `name`, or UTC for a name the server does not know."""
    try:
        return ZoneInfo(name or DEFAULT_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_ZONE)


def viewer_zone() -> str:
    """The signed-in user's zone in a request; UTC elsewhere or for a visitor."""
    if not has_request_context():
        return DEFAULT_ZONE
    # The proxy resolved once: a page of times asks for the zone once per time.
    user = current_user._get_current_object()
    if getattr(user, "is_authenticated", False):
        return getattr(user, "time_zone", None) or DEFAULT_ZONE
    return DEFAULT_ZONE


def local(value: datetime, tz: str | None = None) -> datetime:
    """`value` (aware, or naive UTC) in zone `tz`, by default the viewer's."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(zone(tz or viewer_zone()))


def format_local(value: datetime | None, style: str = "datetime", tz: str | None = None) -> str:
    """`value` in the viewer's zone (or `tz`) in a named style, the zone's abbreviation
    after the time: "Sun 25 Oct 2026, 02:30 CET". Empty for None."""
    if value is None:
        return ""
    when = local(value, tz)
    text = when.strftime(STYLES.get(style, style))
    if style in DATE_ONLY:
        return text
    return f"{text} {zone_label(when)}"


def zone_label(when: datetime) -> str:
    """The abbreviation in use at `when` (CET, CEST, EST); zones that have none (many
    give "+04") get the offset spelled as UTC+04:00."""
    name = when.tzname() or ""
    if name and name[0] not in "+-":
        return name
    offset = when.utcoffset() or timedelta(0)
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def iso_utc(value: datetime | None) -> str:
    """UTC ISO 8601 with a `Z`, as the API and the CSV files give times."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class NoSuchLocalTime(ValueError):
    """A wall-clock time skipped by a daylight-saving change (02:30 on a spring night)."""


def from_local(day: date, at: time, tz: str) -> datetime:
    """The UTC instant of wall-clock `day` `at` in zone `tz`.

    A time the clocks skip is refused (`NoSuchLocalTime`); a time that happens twice
    (the autumn hour) is its first occurrence, still on summer time.
    """
    when = datetime.combine(day, at, tzinfo=zone(tz))
    instant = when.astimezone(UTC)
    if instant.astimezone(zone(tz)).replace(tzinfo=None) != when.replace(tzinfo=None):
        raise NoSuchLocalTime(f"{at:%H:%M} on {day:%d %b %Y} does not exist in {tz}")
    return instant
