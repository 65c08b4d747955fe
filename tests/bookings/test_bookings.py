from datetime import timedelta

import pytest

from portal.bookings.models import Booking, BookingStatus
from portal.bookings.services import complete_ended_lessons, lesson_price
from portal.db import utcnow
from portal.extensions import db
from tests import factories


def _start(days=3, hour=15):
    return (utcnow() + timedelta(days=days)).replace(hour=hour, minute=0, second=0, microsecond=0)


def _iso(value):
    return value.isoformat().replace("+00:00", "Z")


def _book(client, headers, tutor, starts_at=None, minutes=60):
    body = {
        "tutor_id": tutor.id,
        "starts_at": _iso(starts_at or _start()),
        "duration_minutes": minutes,
    }
    return client.post("/api/v1/bookings/", json=body, headers=headers)


def test_price_rounds_half_up():
    assert lesson_price(4500, 60) == 4500
    assert lesson_price(4500, 45) == 3375
    assert lesson_price(4999, 45) == 3749  # 3749.25
    assert lesson_price(1001, 30) == 501  # 500.5 rounds up


def test_story_student_books_and_both_see_the_lesson(client, bearer, student, tutor):
    response = _book(client, bearer(student), tutor, minutes=90)
    assert response.status_code == 201
    booking = response.json
    assert booking["price"] == 6750 and booking["currency"] == "usd"
    assert booking["status"] == "pending_payment" and booking["payment_id"] is None
    assert set(booking) == {
        "id",
        "tutor_id",
        "student_id",
        "starts_at",
        "duration_minutes",
        "price",
        "currency",
        "status",
        "payment_id",
        "subscription_id",
    }
    for user in (student, tutor):
        listed = client.get("/api/v1/bookings/", headers=bearer(user)).json
        assert listed["count"] == 1 and listed["results"][0]["id"] == booking["id"]
        detail = client.get(f"/api/v1/bookings/{booking['id']}/", headers=bearer(user))
        assert detail.status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"tutor_id": 999999}, 400, "tutor_id"),
        ({"tutor_id": "1"}, 400, "tutor_id"),
        ({"starts_at": "yesterday"}, 400, "starts_at"),
        ({"starts_at": "2001-01-01T10:00:00Z"}, 400, "starts_at"),
        ({"starts_at": "2030-01-01T10:00:00"}, 400, "starts_at"),
        ({"duration_minutes": 50}, 400, "duration_minutes"),
        ({"duration_minutes": "60"}, 201, None),
        ({"duration_minutes": -60}, 400, "duration_minutes"),
        ({"extra": 1}, 400, "extra"),
    ],
)
def test_bad_booking_input(client, bearer, student, tutor, body, status, field):
    data = {"tutor_id": tutor.id, "starts_at": _iso(_start()), "duration_minutes": 60}
    data.update(body)
    response = client.post("/api/v1/bookings/", json=data, headers=bearer(student))
    assert response.status_code == status, response.json
    if field:
        assert field in response.json["error"]["fields"]
        assert db.session.query(Booking).count() == 0


def test_booking_a_non_tutor_or_yourself_is_refused(client, bearer, student):
    other_student = factories.UserFactory(role="student")
    headers = bearer(student)
    assert _book(client, headers, other_student).status_code == 400
    assert _book(client, headers, student).status_code == 400
    assert db.session.query(Booking).count() == 0


def test_body_must_be_a_json_object(client, bearer, student):
    headers = bearer(student)
    for body in ("[1, 2]", "not json", "42"):
        response = client.post(
            "/api/v1/bookings/", data=body, headers=headers, content_type="application/json"
        )
        assert response.status_code == 400


def test_overlap_is_refused_but_touching_slots_are_fine(client, bearer, student, tutor):
    headers = bearer(student)
    start = _start()
    assert _book(client, headers, tutor, start).status_code == 201
    clash = _book(client, bearer(factories.UserFactory()), tutor, start + timedelta(minutes=30))
    assert clash.status_code == 409 and clash.json["error"]["code"] == "slot_taken"
    assert (
        _book(
            client, bearer(factories.UserFactory()), tutor, start + timedelta(hours=1)
        ).status_code
        == 201
    )
    assert (
        _book(
            client, bearer(factories.UserFactory()), tutor, start - timedelta(hours=1)
        ).status_code
        == 201
    )


def test_cancelled_booking_frees_the_slot(client, bearer, student, tutor):
    headers = bearer(student)
    first = _book(client, headers, tutor).json
    assert (
        client.post(f"/api/v1/bookings/{first['id']}/cancel/", headers=headers).json["status"]
        == "cancelled"
    )
    assert _book(client, headers, tutor).status_code == 201


def test_only_students_book(client, bearer, tutor, admin):
    other = factories.UserFactory(role="tutor")
    assert _book(client, bearer(tutor), other).status_code == 403
    assert _book(client, bearer(admin), other).status_code == 403


def test_tutor_completes_only_after_start_admin_any_time(client, bearer, tutor, admin):
    future = factories.BookingFactory(tutor=tutor, status=BookingStatus.SCHEDULED)
    started = factories.BookingFactory(
        tutor=tutor, status=BookingStatus.SCHEDULED, starts_at=utcnow() - timedelta(minutes=5)
    )
    response = client.post(f"/api/v1/bookings/{future.id}/complete/", headers=bearer(tutor))
    assert response.status_code == 409
    assert (
        client.post(f"/api/v1/bookings/{started.id}/complete/", headers=bearer(tutor)).json[
            "status"
        ]
        == "completed"
    )
    assert (
        client.post(f"/api/v1/bookings/{future.id}/complete/", headers=bearer(admin)).json["status"]
        == "completed"
    )
    again = client.post(f"/api/v1/bookings/{future.id}/complete/", headers=bearer(admin))
    assert again.status_code == 409


def test_unpaid_lesson_cannot_be_completed(client, bearer, admin):
    booking = factories.BookingFactory()
    assert (
        client.post(f"/api/v1/bookings/{booking.id}/complete/", headers=bearer(admin)).status_code
        == 409
    )


def test_somebody_elses_booking_is_404(client, bearer, student, tutor):
    booking = factories.BookingFactory()
    for user in (student, tutor):
        headers = bearer(user)
        assert client.get(f"/api/v1/bookings/{booking.id}/", headers=headers).status_code == 404
        assert (
            client.post(f"/api/v1/bookings/{booking.id}/cancel/", headers=headers).status_code
            == 404
        )
    assert (
        client.post(f"/api/v1/bookings/{booking.id}/complete/", headers=bearer(tutor)).status_code
        == 404
    )
    db.session.expire_all()
    assert db.session.get(Booking, booking.id).status == BookingStatus.PENDING_PAYMENT


def test_student_cannot_complete(client, bearer):
    booking = factories.BookingFactory(status=BookingStatus.SCHEDULED)
    response = client.post(
        f"/api/v1/bookings/{booking.id}/complete/", headers=bearer(booking.student)
    )
    assert response.status_code == 403


def test_task_completes_ended_lessons_only():
    ended = factories.BookingFactory(
        status=BookingStatus.SCHEDULED, starts_at=utcnow() - timedelta(hours=2)
    )
    running = factories.BookingFactory(
        status=BookingStatus.SCHEDULED, starts_at=utcnow() - timedelta(minutes=10)
    )
    unpaid = factories.BookingFactory(starts_at=utcnow() - timedelta(hours=3))
    assert complete_ended_lessons() == 1
    db.session.commit()
    statuses = {b.id: b.status for b in db.session.query(Booking)}
    assert statuses == {
        ended.id: "completed",
        running.id: "scheduled",
        unpaid.id: "pending_payment",
    }


def test_list_is_paged(client, bearer, student):
    tutor = factories.UserFactory(role="tutor")
    for day in range(1, 26):
        factories.BookingFactory(student=student, tutor=tutor, starts_at=_start(days=day))
    first = client.get("/api/v1/bookings/?page_size=10", headers=bearer(student)).json
    assert first["count"] == 25 and len(first["results"]) == 10
    assert first["previous"] is None and "page=2" in first["next"]
    last = client.get("/api/v1/bookings/?page_size=10&page=3", headers=bearer(student)).json
    assert len(last["results"]) == 5 and last["next"] is None
    assert client.get("/api/v1/bookings/?page=0", headers=bearer(student)).status_code == 400
    assert client.get("/api/v1/bookings/?page_size=abc", headers=bearer(student)).status_code == 400


def test_session_api_call_needs_csrf_header(login, student, tutor):
    browser = login(student)
    body = {"tutor_id": tutor.id, "starts_at": _iso(_start()), "duration_minutes": 60}
    refused = browser.client.post("/api/v1/bookings/", json=body)
    assert refused.status_code == 400 and refused.json["error"]["code"] == "csrf_failed"
    assert db.session.query(Booking).count() == 0
    assert browser.api("POST", "/api/v1/bookings/", json=body).status_code == 201


def test_page_booking_and_cancel(login, student, tutor):
    browser = login(student)
    date = (utcnow() + timedelta(days=5)).date().isoformat()
    response = browser.post(
        f"/tutors/{tutor.id}/book", {"date": date, "time": "10:00", "duration_minutes": "45"}
    )
    assert response.status_code == 302
    booking = db.session.query(Booking).one()
    assert booking.price == 3375
    page = browser.get("/lessons").get_data(as_text=True)
    assert "$33.75" in page
    response = browser.post(
        f"/lessons/{booking.id}/cancel",
        headers={"HX-Request": "true", "HX-Target": f"booking-{booking.id}"},
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.strip().startswith(f'<tr id="booking-{booking.id}"') and "cancelled" in html


def test_page_post_without_csrf_changes_nothing(login, student):
    booking = factories.BookingFactory(student=student)
    browser = login(student)
    response = browser.client.post(f"/lessons/{booking.id}/cancel")
    assert response.status_code == 400
    db.session.expire_all()
    assert db.session.get(Booking, booking.id).status == BookingStatus.PENDING_PAYMENT


def test_lessons_page_query_count_does_not_grow_with_rows(login, student, count_queries):
    tutor = factories.UserFactory(role="tutor")
    browser = login(student)

    def queries_for_page() -> int:
        with count_queries() as statements:
            assert browser.get("/lessons?show=all").status_code == 200
        return len(statements)

    factories.BookingFactory.create_batch(10, student=student, tutor=tutor)
    with_10 = queries_for_page()
    factories.BookingFactory.create_batch(990, student=student, tutor=tutor)
    assert queries_for_page() == with_10


def test_booking_list_query_count_does_not_grow_with_rows(client, bearer, student, count_queries):
    tutor = factories.UserFactory(role="tutor")
    headers = bearer(student)

    def queries_for_list() -> int:
        with count_queries() as statements:
            assert client.get("/api/v1/bookings/?page_size=100", headers=headers).status_code == 200
        return len(statements)

    factories.BookingFactory.create_batch(2, student=student, tutor=tutor)
    queries_for_list()  # a token's first use is noted (once a minute), not counted here
    with_2 = queries_for_list()
    factories.BookingFactory.create_batch(60, student=student, tutor=tutor)
    assert queries_for_list() == with_2
