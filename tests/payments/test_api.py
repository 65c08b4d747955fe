"""The payments API: shapes, status codes, ownership and bad input."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.payments.models import Payment, PaymentStatus
from tests.factories import BookingFactory, UserFactory
from tests.support.localstripe import DECLINED, THREE_D_SECURE

pytestmark = pytest.mark.stripe

PAYMENT_FIELDS = {
    "id",
    "status",
    "payment_type",
    "amount",
    "platform_fee",
    "net_amount",
    "amount_refunded",
    "currency",
    "provider",
    "provider_payment_id",
    "booking_id",
    "subscription_id",
    "card_brand",
    "card_last4",
    "failure_code",
    "failure_message",
    "created_at",
    "succeeded_at",
}


@pytest.fixture
def api(client, bearer, student, localstripe):
    headers = bearer(student)

    def call(method, url, json=None, headers_=None):
        return client.open(url, method=method, json=json, headers=headers_ or headers)

    return call


def _intent(api, lesson, **extra):
    return api("POST", "/api/v1/payments/intent/", {"booking_id": lesson.id, **extra})


def test_intent_then_confirm_with_a_new_card(api, lesson, localstripe):
    created = _intent(api, lesson)
    assert created.status_code == 201
    body = created.json
    assert set(body) == PAYMENT_FIELDS | {"client_secret"}
    assert (body["amount"], body["platform_fee"], body["net_amount"], body["currency"]) == (
        4500,
        675,
        3825,
        "usd",
    )
    assert body["status"] == "pending" and body["booking_id"] == lesson.id
    assert body["client_secret"].startswith(body["provider_payment_id"])

    again = _intent(api, lesson)
    assert again.status_code == 200 and again.json["id"] == body["id"]

    confirmed = api(
        "POST",
        f"/api/v1/payments/{body['id']}/confirm/",
        {"provider_method_id": localstripe.token()},
    )
    assert confirmed.status_code == 200
    assert confirmed.json["status"] == "succeeded" and confirmed.json["client_secret"] is None
    assert confirmed.json["card_last4"] == "4242"
    booking = api("GET", f"/api/v1/bookings/{lesson.id}/").json
    assert booking["status"] == "scheduled" and booking["payment_id"] == body["id"]


def test_a_client_sent_amount_is_ignored(api, lesson):
    response = _intent(api, lesson, amount=1, currency="USD")
    assert response.status_code == 201 and response.json["amount"] == 4500


def test_another_currency_is_refused(api, lesson):
    response = _intent(api, lesson, currency="eur")
    assert response.status_code == 400
    assert response.json["error"]["code"] == "currency_not_supported"
    assert db.session.scalars(sa.select(Payment)).all() == []


@pytest.mark.parametrize(
    "body",
    [{}, {"booking_id": "x"}, {"booking_id": None}, {"booking_id": 1, "tip": 5}, [1], "x"],
)
def test_bad_intent_bodies_are_400(api, body):
    response = api("POST", "/api/v1/payments/intent/", body)
    assert response.status_code == 400 and "error" in response.json


def test_somebody_elses_lesson_is_404(api, tutor):
    theirs = BookingFactory(tutor=tutor)
    response = api("POST", "/api/v1/payments/intent/", {"booking_id": theirs.id})
    assert response.status_code == 404


def test_a_paid_lesson_is_409(api, lesson, localstripe):
    body = _intent(api, lesson).json
    api(
        "POST",
        f"/api/v1/payments/{body['id']}/confirm/",
        {"provider_method_id": localstripe.token()},
    )
    response = _intent(api, lesson)
    assert response.status_code == 409 and response.json["error"]["code"] == "already_paid"


def test_a_decline_answers_the_failed_payment(api, lesson, localstripe):
    body = _intent(api, lesson).json
    response = api(
        "POST",
        f"/api/v1/payments/{body['id']}/confirm/",
        {"provider_method_id": localstripe.token(DECLINED)},
    )
    assert response.status_code == 200
    assert response.json["status"] == "failed"
    assert response.json["failure_code"] == "card_declined"
    assert response.json["failure_message"] == "Your card was declined."


def test_three_d_secure_over_the_api(api, lesson, localstripe):
    body = _intent(api, lesson).json
    step = api(
        "POST",
        f"/api/v1/payments/{body['id']}/confirm/",
        {"provider_method_id": localstripe.token(THREE_D_SECURE)},
    ).json
    assert step["status"] == "requires_action" and step["client_secret"]
    localstripe.authenticate(step["client_secret"])
    done = api("POST", f"/api/v1/payments/{body['id']}/confirm/")
    assert done.json["status"] == "succeeded"


def test_list_and_detail_are_the_users_own(api, client, bearer, lesson, localstripe):
    body = _intent(api, lesson).json
    listed = api("GET", "/api/v1/payments/").json
    assert listed["count"] == 1 and listed["results"][0]["id"] == body["id"]
    assert "client_secret" not in listed["results"][0]
    assert api("GET", "/api/v1/payments/?status=failed").json["count"] == 0
    assert api("GET", "/api/v1/payments/?status=nope").status_code == 400
    detail = api("GET", f"/api/v1/payments/{body['id']}/").json
    assert detail["refunds"] == []

    stranger = bearer(UserFactory(role="student"))
    assert api("GET", f"/api/v1/payments/{body['id']}/", headers_=stranger).status_code == 404
    assert api("GET", "/api/v1/payments/", headers_=stranger).json["count"] == 0
    tutor = bearer(lesson.tutor)
    assert api("GET", f"/api/v1/payments/{body['id']}/", headers_=tutor).status_code == 200


def test_refund_over_the_api(api, bearer, admin, lesson, localstripe):
    body = _intent(api, lesson).json
    api(
        "POST",
        f"/api/v1/payments/{body['id']}/confirm/",
        {"provider_method_id": localstripe.token()},
    )
    as_admin = bearer(admin)
    over = api("POST", f"/api/v1/payments/{body['id']}/refund/", {"amount": 4501}, as_admin)
    assert over.status_code == 400 and over.json["error"]["fields"]["amount"]
    part = api(
        "POST",
        f"/api/v1/payments/{body['id']}/refund/",
        {"amount": 500, "reason": "late"},
        as_admin,
    )
    assert part.status_code == 201
    assert part.json["status"] == "partially_refunded" and part.json["amount_refunded"] == 500
    assert part.json["refund"]["amount"] == 500 and part.json["refund"]["reason"] == "late"
    # The student's policy is in full only, and this payment is now partly refunded.
    student_try = api("POST", f"/api/v1/payments/{body['id']}/refund/")
    assert student_try.status_code == 409
    tutor_try = api("POST", f"/api/v1/payments/{body['id']}/refund/", headers_=bearer(lesson.tutor))
    assert tutor_try.status_code == 403


def test_a_pending_payment_refund_is_409(api, bearer, admin, lesson):
    body = _intent(api, lesson).json
    response = api("POST", f"/api/v1/payments/{body['id']}/refund/", {}, bearer(admin))
    assert response.status_code == 409


def test_saved_cards_over_the_api(api, localstripe):
    first = api("POST", "/api/v1/payments/methods/", {"provider_method_id": localstripe.token()})
    assert first.status_code == 201
    assert set(first.json) == {
        "id",
        "card_brand",
        "card_last4",
        "exp_month",
        "exp_year",
        "is_default",
    }
    assert first.json["is_default"] is True
    second = api(
        "POST",
        "/api/v1/payments/methods/",
        {"provider_method_id": localstripe.payment_method(), "make_default": True},
    ).json
    listed = api("GET", "/api/v1/payments/methods/").json
    assert [m["id"] for m in listed["results"]] == [second["id"], first.json["id"]]

    made = api("PATCH", f"/api/v1/payments/methods/{first.json['id']}/default/")
    assert made.status_code == 200 and made.json["is_default"] is True
    assert api("DELETE", f"/api/v1/payments/methods/{second['id']}/").status_code == 204
    assert api("DELETE", f"/api/v1/payments/methods/{second['id']}/").status_code == 404


def test_a_declined_card_is_not_saved_over_the_api(api, localstripe):
    response = api(
        "POST", "/api/v1/payments/methods/", {"provider_method_id": localstripe.token(DECLINED)}
    )
    assert response.status_code == 400
    assert response.json["error"] == {"code": "card_declined", "message": "Your card was declined."}


@pytest.mark.parametrize(
    "body", [{}, {"provider_method_id": 5}, {"provider_method_id": "x"}, {"make_default": "yes"}]
)
def test_bad_card_bodies_are_400(api, body):
    assert api("POST", "/api/v1/payments/methods/", body).status_code == 400


def test_a_setup_intent_for_stripe_js(api):
    response = api("POST", "/api/v1/payments/methods/setup/")
    assert response.status_code == 201 and response.json["id"].startswith("seti_")
    assert response.json["client_secret"].startswith(response.json["id"])


def test_session_calls_need_the_csrf_token(login, student, lesson, localstripe):
    browser = login(student)
    refused = browser.client.post("/api/v1/payments/intent/", json={"booking_id": lesson.id})
    assert refused.status_code == 400 and refused.json["error"]["code"] == "csrf_failed"
    accepted = browser.api("POST", "/api/v1/payments/intent/", {"booking_id": lesson.id})
    assert accepted.status_code == 201


def test_only_students_start_payments(client, bearer, tutor, lesson):
    response = client.post(
        "/api/v1/payments/intent/", json={"booking_id": lesson.id}, headers=bearer(tutor)
    )
    assert response.status_code == 403


def test_stripe_down_is_a_clear_502_and_nothing_is_written(app, api, lesson):
    from portal.providers import EXTENSION_KEY
    from portal.providers.stripe import StripeProvider
    from tests.support.servers import free_port

    app.extensions[EXTENSION_KEY] = StripeProvider.from_config(
        {**app.config, "STRIPE_API_BASE": f"http://127.0.0.1:{free_port()}"}
    )
    try:
        response = _intent(api, lesson)
    finally:
        app.extensions.pop(EXTENSION_KEY)
    assert response.status_code == 502
    assert response.json["error"]["code"] == "gateway_error"
    assert "try again" in response.json["error"]["message"]
    assert db.session.scalars(sa.select(Payment)).all() == []
    assert (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Payment)
            .where(Payment.status == PaymentStatus.PENDING)
        )
        == 0
    )
