"""Times in the viewer's zone across a daylight-saving change; CSV and API stay UTC.

Europe/Berlin leaves summer time on Sunday 25 October 2026 at 03:00 CEST (01:00 UTC):
02:30 happens twice that night, once as CEST (00:30 UTC) and once as CET (01:30 UTC).
It starts again on Sunday 29 March 2026 at 02:00 CET: 02:30 that night never happens.
"""

import csv
import io
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from portal.bookings.models import Booking, BookingStatus
from portal.dates import NoSuchLocalTime, format_local, from_local, iso_utc, zone_label
from portal.extensions import db
from portal.wallets.earnings import process_lesson_earning
from tests import factories

BEFORE = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST
AFTER = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # 02:30 CET, an hour later


def test_the_same_wall_time_twice_is_told_apart_by_its_zone():
    assert format_local(BEFORE, tz="Europe/Berlin") == "Sun 25 Oct 2026, 02:30 CEST"
    assert format_local(AFTER, tz="Europe/Berlin") == "Sun 25 Oct 2026, 02:30 CET"
    assert format_local(BEFORE, "date", tz="Europe/Berlin") == "25 Oct 2026"
    assert format_local(AFTER, "time", tz="America/New_York") == "21:30 EDT"
    assert format_local(AFTER, tz="UTC") == "Sun 25 Oct 2026, 01:30 UTC"
    assert format_local(None) == ""


def test_a_zone_without_an_abbreviation_shows_its_offset():
    assert zone_label(AFTER.astimezone(ZoneInfo("Asia/Dubai"))) == "UTC+04:00"
    assert format_local(AFTER, tz="Asia/Kolkata").endswith("07:00 IST")


def test_a_wall_time_becomes_utc_on_either_side_of_the_change():
    assert from_local(date(2026, 10, 24), time(2, 30), "Europe/Berlin") == datetime(
        2026, 10, 24, 0, 30, tzinfo=UTC
    )
    assert from_local(date(2026, 10, 26), time(2, 30), "Europe/Berlin") == datetime(
        2026, 10, 26, 1, 30, tzinfo=UTC
    )
    # The repeated hour is its first occurrence, still summer time.
    assert from_local(date(2026, 10, 25), time(2, 30), "Europe/Berlin") == BEFORE
    with pytest.raises(NoSuchLocalTime):
        from_local(date(2026, 3, 29), time(2, 30), "Europe/Berlin")


def test_iso_utc_is_what_machines_read():
    assert iso_utc(BEFORE) == "2026-10-25T00:30:00Z"
    assert iso_utc(datetime(2026, 10, 25, 0, 30)) == "2026-10-25T00:30:00Z"


def _lessons_across_the_change(student, tutor):
    for starts_at in (BEFORE, AFTER):
        factories.BookingFactory(
            student=student, tutor=tutor, starts_at=starts_at, status=BookingStatus.SCHEDULED
        )


def test_lesson_pages_show_the_viewers_zone_and_the_api_stays_utc(login, student, tutor):
    student.time_zone = "Europe/Berlin"
    tutor.time_zone = "America/New_York"
    db.session.commit()
    _lessons_across_the_change(student, tutor)

    page = login(student).get("/lessons?show=all").get_data(as_text=True)
    assert "Sun 25 Oct 2026, 02:30 CEST" in page and "Sun 25 Oct 2026, 02:30 CET" in page
    tutor_page = login(tutor).get("/lessons?show=all").get_data(as_text=True)
    assert "Sat 24 Oct 2026, 20:30 EDT" in tutor_page
    assert "Sat 24 Oct 2026, 21:30 EDT" in tutor_page

    api = login(student).get("/api/v1/bookings/").json["results"]
    assert sorted(b["starts_at"] for b in api) == ["2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z"]


def test_a_lesson_is_booked_on_the_students_clock(login, student, tutor):
    student.time_zone = "Europe/Berlin"
    db.session.commit()
    browser = login(student)
    page = browser.get(f"/tutors/{tutor.id}/book").get_data(as_text=True)
    assert "Start time (Europe/Berlin)" in page
    day = date(datetime.now(UTC).year + 1, 1, 15)  # winter: CET, UTC+1
    response = browser.post(
        f"/tutors/{tutor.id}/book",
        {"date": day.isoformat(), "time": "10:00", "duration_minutes": "60"},
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    booking = db.session.query(Booking).one()
    assert booking.starts_at == datetime.combine(day, time(9, 0), tzinfo=UTC)


def test_a_time_the_clocks_skip_cannot_be_booked(login, student, tutor):
    student.time_zone = "Europe/Berlin"
    db.session.commit()
    year = datetime.now(UTC).year + 1
    # The last Sunday of March: clocks go from 02:00 to 03:00.
    day = max(date(year, 3, d) for d in range(25, 32) if date(year, 3, d).weekday() == 6)
    response = login(student).post(
        f"/tutors/{tutor.id}/book",
        {"date": day.isoformat(), "time": "02:30", "duration_minutes": "60"},
    )
    assert response.status_code == 422
    assert "does not exist in Europe/Berlin" in response.get_data(as_text=True)
    assert db.session.query(Booking).count() == 0


def test_the_statement_shows_local_time_and_its_csv_utc(login, tutor):
    tutor.time_zone = "Europe/Berlin"
    db.session.commit()
    process_lesson_earning(
        tutor_id=tutor.id, gross=4500, fee=675, idempotency_key="payment:1:captured", payment_id=1
    )
    db.session.commit()
    browser = login(tutor)
    page = browser.get("/earnings").get_data(as_text=True)
    assert " CET" in page or " CEST" in page
    rows = list(csv.reader(io.StringIO(browser.get("/earnings/statement.csv").get_data(True))))
    stamp = rows[1][0]
    assert stamp.endswith("Z") and datetime.fromisoformat(stamp).tzinfo is not None
