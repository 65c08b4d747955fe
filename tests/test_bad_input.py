"""Inputs that once reached the database or int() unchecked: each is a clear 4xx (or, for
a page of a list, the list), never a 500."""

from __future__ import annotations

import pytest

HUGE = 2**70


@pytest.mark.parametrize(
    "method, url, body",
    [
        ("post", "/api/v1/payments/intent/", {"booking_id": "²"}),
        ("post", "/api/v1/payments/intent/", {"booking_id": HUGE}),
        ("post", "/api/v1/bookings/", {"duration_minutes": "²"}),
        ("post", "/api/v1/bookings/", {"tutor_id": HUGE}),
        ("get", "/api/v1/bookings/99999999999999999999999/", None),
        ("delete", "/api/v1/payments/methods/1180591620717411303424/", None),
        ("get", "/api/v1/payments/?page=99999999999999999999", None),
        ("post", "/api/v1/subscriptions/", {"plan_id": HUGE}),
        ("post", "/api/v1/subscriptions/", {"plan": "²"}),
        ("post", "/api/v1/subscriptions/", {"plan": "x", "payment_method_id": HUGE}),
        ("post", "/api/v1/subscriptions/change/", {"plan_id": HUGE}),
        ("get", "/api/v1/subscriptions/plans/?page=99999999999999999999", None),
    ],
)
def test_api_refuses_unicode_digits_and_numbers_no_column_holds(
    client, bearer, student, tutor, method, url, body
):
    if url == "/api/v1/bookings/":
        body = {
            "tutor_id": tutor.id,
            "starts_at": "2027-03-01T10:00:00Z",
            "duration_minutes": 60,
            **body,
        }
    response = getattr(client, method)(url, json=body, headers=bearer(student))
    assert response.status_code in (400, 404), response.get_data(as_text=True)
    assert "error" in response.get_json()


@pytest.mark.parametrize(
    "who, url",
    [
        ("student", "/lessons?page=99999999999999999999"),
        ("student", "/billing/payments?page=99999999999999999999"),
        ("admin", "/admin/lessons?page=99999999999999999999"),
        ("admin", "/admin/audit?page=99999999999999999999"),
        ("admin", "/admin/audit?actor=%C2%B2"),
        ("admin", "/admin/audit?actor=99999999999999999999"),
        ("admin", "/admin/payouts?tutor=%C2%B2"),
        ("admin", "/admin/payouts?page=1000000000000000000000000000000"),
        ("admin", "/admin/ledger/?account=%C2%B2"),
        ("admin", "/admin/ledger/?account=99999999999999999999"),
        ("tutor", "/earnings?before=%C2%B2"),
        ("tutor", "/earnings?before=99999999999999999999"),
    ],
)
def test_pages_take_huge_page_numbers_and_odd_filters(login, student, admin, tutor, who, url):
    user = {"student": student, "admin": admin, "tutor": tutor}[who]
    assert login(user).get(url).status_code == 200


@pytest.mark.parametrize(
    "who, url",
    [
        ("admin", "/admin/audit?to=9999-12-31"),
        ("admin", "/admin/audit?from=0001-01-01"),
        ("tutor", "/earnings?to=9999-12-31"),
        ("tutor", "/earnings/statement.csv?to=9999-12-31"),
    ],
)
def test_dates_out_of_range_are_refused_with_a_message(login, admin, tutor, who, url):
    from portal.extensions import db
    from portal.wallets.adjustments import credit_wallet

    credit_wallet(tutor_id=tutor.id, amount=1000, reason="Welcome", idempotency_key="welcome")
    db.session.commit()
    user = {"admin": admin, "tutor": tutor}[who]
    response = login(user).get(url)
    assert response.status_code in (400, 422)
    assert "Choose a date from 1970 to 2999" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/wallet/transactions/?to=9999-12-31",
        "/api/v1/wallet/analytics/?to=9999-12-31",
        "/api/v1/wallet/analytics/?period=day&to=0001-01-02",
    ],
)
def test_wallet_api_refuses_dates_out_of_range(client, bearer, tutor, url):
    response = client.get(url, headers=bearer(tutor))
    assert response.status_code == 400
    assert response.get_json()["error"]["fields"]


def test_cancel_goes_back_only_within_the_site(login, student, tutor):
    from tests.factories import BookingFactory

    booking = BookingFactory(student=student, tutor=tutor, status="pending_payment")
    browser = login(student)
    response = browser.post(
        f"/lessons/{booking.id}/cancel", headers={"Referer": "https://evil.example/x"}
    )
    assert response.status_code == 302
    assert "evil.example" not in response.headers["Location"]
