"""The billing pages and the admin's payments pages, as a browser without JavaScript sees
them, plus the htmx fragments the payment form swaps in."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.bookings.models import BookingStatus
from portal.db import utcnow
from portal.extensions import db
from portal.payments import cards, intents, refunds
from portal.payments.models import Payment, PaymentMethod, PaymentStatus
from tests.factories import BookingFactory, UserFactory
from tests.support.localstripe import DECLINED, THREE_D_SECURE

pytestmark = pytest.mark.stripe

HTMX = {"HX-Request": "true", "HX-Target": "pay-status"}


def _start(browser, lesson):
    response = browser.post(f"/billing/lessons/{lesson.id}/pay")
    assert response.status_code == 302
    return response.headers["Location"]


def _confirm(browser, url, data, headers=None):
    return browser.post(url + "/confirm", data, headers=headers or HTMX)


def test_billing_lists_lessons_to_pay_and_links_the_pages(login, student, lesson):
    page = login(student).get("/billing").get_data(as_text=True)
    assert "Lessons awaiting payment" in page and lesson.tutor.name in page
    assert f'action="/billing/lessons/{lesson.id}/pay"' in page and "Pay $45.00" in page
    assert 'href="/billing"' in page  # the nav's Billing entry
    assert "/billing/payments" in page and "/billing/methods" in page


@pytest.mark.parametrize("role", ["tutor", "admin"])
def test_billing_is_students_only(login, role):
    assert login(UserFactory(role=role)).get("/billing").status_code == 403


def test_pay_page_offers_saved_cards_and_a_new_card(login, student, lesson, localstripe):
    cards.add_payment_method(student, localstripe.token())
    db.session.commit()
    browser = login(student)
    page = browser.get(_start(browser, lesson)).get_data(as_text=True)
    assert "Visa •••• 4242" in page and "A new card" in page
    assert 'id="card-element"' in page and 'data-mode="localstripe"' in page
    assert "stripe-adapter.js" in page and 'data-js-url="http://127.0.0.1:' in page
    assert "Pay $45.00" in page
    # localstripe has no Checkout: the button is there, disabled, and says why.
    assert "Pay with Stripe Checkout" in page and "does not offer it" in page


def test_paying_with_a_saved_card_swaps_in_success(login, student, lesson, localstripe):
    card = cards.add_payment_method(student, localstripe.token())
    db.session.commit()
    browser = login(student)
    url = _start(browser, lesson)
    response = _confirm(browser, url, {"card": str(card.id)})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="pay-status"')  # the fragment, not the page
    assert 'data-payment-state="succeeded"' in html and "Your lesson with" in html
    assert db.session.get(type(lesson), lesson.id).status == BookingStatus.SCHEDULED


def test_a_new_card_from_stripe_js_pays(login, student, lesson, localstripe):
    browser = login(student)
    url = _start(browser, lesson)
    response = _confirm(browser, url, {"card": "new", "provider_method_id": localstripe.token()})
    assert 'data-payment-state="succeeded"' in response.get_data(as_text=True)


def test_a_decline_swaps_in_stripes_message_and_a_retry(login, student, lesson, localstripe):
    browser = login(student)
    url = _start(browser, lesson)
    response = _confirm(
        browser, url, {"card": "new", "provider_method_id": localstripe.token(DECLINED)}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'data-payment-state="failed"' in html and "Your card was declined." in html
    assert f'action="/billing/lessons/{lesson.id}/pay"' in html and "Try again" in html


def test_three_d_secure_hands_the_client_secret_to_the_page(login, student, lesson, localstripe):
    browser = login(student)
    url = _start(browser, lesson)
    html = _confirm(
        browser, url, {"card": "new", "provider_method_id": localstripe.token(THREE_D_SECURE)}
    ).get_data(as_text=True)
    assert 'data-payment-state="requires_action"' in html
    payment = db.session.scalars(sa.select(Payment)).one()
    secret = html.split('data-client-secret="')[1].split('"')[0]
    assert secret.startswith(payment.provider_payment_id)

    localstripe.authenticate(secret)
    done = _confirm(browser, url, {"after_action": "1"}).get_data(as_text=True)
    assert 'data-payment-state="succeeded"' in done


def test_no_card_chosen_is_a_422_fragment(login, student, lesson, localstripe):
    browser = login(student)
    url = _start(browser, lesson)
    response = _confirm(browser, url, {"card": "new"})
    assert response.status_code == 422
    assert "Enter your card details." in response.get_data(as_text=True)


def test_a_stripe_failure_is_a_422_fragment_saying_try_again(
    app, login, student, lesson, localstripe
):
    from portal.providers import EXTENSION_KEY
    from portal.providers.stripe import StripeProvider
    from tests.support.servers import free_port

    browser = login(student)
    url = _start(browser, lesson)
    app.extensions[EXTENSION_KEY] = StripeProvider.from_config(
        {**app.config, "STRIPE_API_BASE": f"http://127.0.0.1:{free_port()}"}
    )
    try:
        response = _confirm(browser, url, {"card": "new", "provider_method_id": "tok_abc"})
    finally:
        app.extensions.pop(EXTENSION_KEY)
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and 'data-payment-state="error"' in html
    assert "try again" in html
    assert db.session.scalars(sa.select(Payment)).one().status == PaymentStatus.PENDING


def test_the_confirm_form_needs_the_csrf_token(login, student, lesson, localstripe):
    browser = login(student)
    url = _start(browser, lesson)
    response = browser.client.post(url + "/confirm", data={"card": "new"})
    assert response.status_code == 400


def test_somebody_elses_payment_page_is_404(login, student, lesson, localstripe):
    step = intents.create_payment_intent(student, lesson.id)
    db.session.commit()
    other = login(UserFactory(role="student"))
    assert other.get(f"/billing/payments/{step.payment.uuid}").status_code == 404
    assert other.post(f"/billing/payments/{step.payment.uuid}/confirm").status_code == 404


def test_history_shows_refunds_and_offers_the_refund_page(login, student, lesson, pay):
    payment = pay(student, lesson)
    browser = login(student)
    page = browser.get("/billing/payments").get_data(as_text=True)
    assert f"/billing/payments/{payment.uuid}/refund" in page and "24 hours" in page

    confirm = browser.get(f"/billing/payments/{payment.uuid}/refund").get_data(as_text=True)
    assert "Refund $45.00 and cancel the lesson" in confirm and "Keep the lesson" in confirm

    done = browser.post(f"/billing/payments/{payment.uuid}/refund", {"reason": "ill"})
    assert done.status_code == 302 and done.headers["Location"] == "/billing/payments"
    after = browser.get("/billing/payments").get_data(as_text=True)
    assert "Refunded $45.00. The lesson is cancelled." in after
    assert "status-refunded" in after
    assert db.session.get(Payment, payment.id).status == PaymentStatus.REFUNDED


def test_the_refund_page_states_why_not(login, student, tutor, pay):
    soon = BookingFactory(student=student, tutor=tutor, starts_at=utcnow() + timedelta(hours=3))
    payment = pay(student, soon)
    browser = login(student)
    assert f"/billing/payments/{payment.uuid}/refund" not in browser.get(
        "/billing/payments"
    ).get_data(as_text=True)
    page = browser.get(f"/billing/payments/{payment.uuid}/refund")
    assert "this one starts too soon" in page.get_data(as_text=True)
    refused = browser.post(f"/billing/payments/{payment.uuid}/refund", {})
    assert refused.status_code == 422
    assert db.session.get(Payment, payment.id).amount_refunded == 0


def test_methods_page_default_and_remove_with_htmx(login, student, localstripe):
    first = cards.add_payment_method(student, localstripe.token())
    second = cards.add_payment_method(student, localstripe.token())
    db.session.commit()
    browser = login(student)
    page = browser.get("/billing/methods").get_data(as_text=True)
    assert page.count("<td>Visa •••• 4242</td>") == 2 and "Add a card" in page
    assert 'data-setup-url="/api/v1/payments/methods/setup/"' in page

    fragment = browser.post(
        f"/billing/methods/{second.id}/default",
        headers={"HX-Request": "true", "HX-Target": "methods"},
    )
    html = fragment.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="methods"') and "is now your default card" in html
    removed = browser.post(f"/billing/methods/{first.id}/remove")
    assert removed.status_code == 302
    assert [m.id for m in cards.payment_methods_of(student)] == [second.id]


def test_saving_a_card_from_a_setup_intent(login, student, localstripe):
    browser = login(student)
    setup = browser.api("POST", "/api/v1/payments/methods/setup/").json
    localstripe.http.post(
        f"{localstripe.url}/v1/setup_intents/{setup['id']}/confirm",
        json={
            "key": "pk_test_localstripe",
            "client_secret": setup["client_secret"],
            "payment_method_data": {
                "type": "card",
                "card": {
                    "number": "4242424242424242",
                    "exp_month": 3,
                    "exp_year": 2031,
                    "cvc": "1",
                },
            },
        },
        timeout=5,
    )
    # The confirm above sent a one-digit CVC: localstripe refuses it, so nothing is saved.
    refused = browser.post(
        "/billing/methods",
        {"setup_intent_id": setup["id"]},
        headers={"HX-Target": "methods", "HX-Request": "true"},
    )
    assert refused.status_code == 422 and "not confirmed" in refused.get_data(as_text=True)
    assert db.session.scalars(sa.select(PaymentMethod)).all() == []


def test_admin_payments_list_filters_and_totals(login, admin, student, tutor, pay):
    other_tutor = UserFactory(role="tutor", name="Other Tutor")
    first = pay(student, BookingFactory(student=student, tutor=tutor))
    pay(student, BookingFactory(student=student, tutor=other_tutor))
    refunds.process_refund(admin, first.uuid, amount=1000)
    db.session.commit()
    browser = login(admin)

    page = browser.get("/admin/payments").get_data(as_text=True)
    assert "$90.00" in page  # volume: two lessons
    assert "$13.50" in page  # fees
    assert "$10.00" in page  # refunds
    assert "$80.00" in page  # net volume
    assert page.count("/admin/payments/") >= 2

    mine = browser.get(f"/admin/payments?tutor={tutor.id}&status=partially_refunded").get_data(
        as_text=True
    )
    assert f"/admin/payments/{first.uuid}" in mine and "1 payment." in mine
    by_email = browser.get(f"/admin/payments?student={student.email}").get_data(as_text=True)
    assert "2 payments." in by_email
    future = (utcnow() + timedelta(days=3)).date().isoformat()
    empty = browser.get(f"/admin/payments?date_from={future}").get_data(as_text=True)
    assert "No payments match." in empty and "$0.00" in empty
    bad = browser.get("/admin/payments?date_from=2030-01-02&date_to=2030-01-01")
    assert bad.status_code == 422 and "before the start date" in bad.get_data(as_text=True)


def test_admin_refunds_part_of_a_payment(login, admin, student, lesson, pay):
    payment = pay(student, lesson)
    browser = login(admin)
    detail = browser.get(f"/admin/payments/{payment.uuid}").get_data(as_text=True)
    assert "Up to $45.00 remains." in detail
    over = browser.post(
        f"/admin/payments/{payment.uuid}/refund", {"amount": "45.01", "reason": "x"}
    )
    assert over.status_code == 422 and "At most $45.00 can be refunded." in over.get_data(
        as_text=True
    )
    form = {"scope": "part", "amount": "12.50", "reason": "x"}
    review = browser.post(f"/admin/payments/{payment.uuid}/refund", form)
    assert review.status_code == 200 and "Confirm refund of $12.50" in review.text
    assert db.session.get(Payment, payment.id).amount_refunded == 0
    done = browser.post(f"/admin/payments/{payment.uuid}/refund", {**form, "confirm": "1"})
    assert done.status_code == 302
    page = browser.get(done.headers["Location"]).get_data(as_text=True)
    assert "Refunded $12.50." in page and "Up to $32.50 remains." in page
    assert db.session.get(Payment, payment.id).amount_refunded == 1250


def test_admin_pages_are_admins_only(login, student, lesson, pay):
    payment = pay(student, lesson)
    browser = login(student)
    assert browser.get("/admin/payments").status_code == 403
    assert browser.post(f"/admin/payments/{payment.uuid}/refund", {}).status_code in (302, 403)
    assert db.session.get(Payment, payment.id).amount_refunded == 0


def test_history_pages_swap_in_as_fragments(login, student, tutor, pay):
    for days in range(2, 25):
        pay(
            student,
            BookingFactory(student=student, tutor=tutor, starts_at=utcnow() + timedelta(days=days)),
        )
    browser = login(student)
    first = browser.get("/billing/payments").get_data(as_text=True)
    assert "Page 1 of 2" in first and 'hx-target="#payments"' in first
    second = browser.get(
        "/billing/payments?page=2", headers={"HX-Request": "true", "HX-Target": "payments"}
    ).get_data(as_text=True)
    assert second.lstrip().startswith('<div id="payments"') and "Page 2 of 2" in second


def test_admin_list_swaps_in_as_a_fragment(login, admin, student, lesson, pay):
    pay(student, lesson)
    fragment = login(admin).get(
        "/admin/payments?status=succeeded", headers={"HX-Request": "true", "HX-Target": "payments"}
    )
    html = fragment.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="payments"') and "1 payment." in html


def test_a_payment_left_waiting_for_3d_secure_resumes_it_on_the_page(
    login, student, lesson, localstripe
):
    browser = login(student)
    url = _start(browser, lesson)
    _confirm(browser, url, {"card": "new", "provider_method_id": localstripe.token(THREE_D_SECURE)})
    page = browser.get(url).get_data(as_text=True)  # the student came back later
    assert 'data-payment-state="requires_action"' in page
    payment = db.session.scalars(sa.select(Payment)).one()
    assert f'data-client-secret="{payment.provider_payment_id}_secret_' in page


def test_the_history_and_billing_pages_run_as_many_queries_for_15_payments_as_for_3(
    login, student, tutor, count_queries
):
    def add_payments(count):
        for n in range(count):
            booking = BookingFactory(student=student, tutor=tutor)
            db.session.add(
                Payment(
                    payer_id=student.id,
                    recipient_id=tutor.id,
                    booking_id=booking.id,
                    status="failed",
                    amount=4500,
                    currency="usd",
                    platform_fee=675,
                    net_amount=3825,
                    idempotency_key=f"history-{booking.id}-{n}",
                )
            )
        db.session.commit()

    browser = login(student)
    counts = []
    for count in (3, 12):
        add_payments(count)
        for path in ("/billing/payments", "/billing"):
            with count_queries() as statements:
                assert browser.get(path).status_code == 200
            counts.append((path, len(statements)))
    assert counts[:2] == counts[2:]


def test_an_admin_refund_says_full_explicitly_needs_a_reason_and_is_confirmed(
    login, admin, student, lesson, pay
):
    payment = pay(student, lesson)
    browser = login(admin)
    url = f"/admin/payments/{payment.uuid}/refund"
    empty = browser.post(url, {"reason": "Tutor ill"})
    assert empty.status_code == 422 and "Choose a full refund" in empty.text
    no_reason = browser.post(url, {"scope": "full"})
    assert no_reason.status_code == 422 and "Give a reason" in no_reason.text
    part_without_amount = browser.post(url, {"scope": "part", "reason": "x"})
    assert part_without_amount.status_code == 422 and "Enter the amount" in part_without_amount.text
    review = browser.post(url, {"scope": "full", "reason": "Tutor ill"})
    assert review.status_code == 200
    assert "Refund $45.00 to" in review.text and "(a full refund)" in review.text
    assert "$38.25" in review.text and "$6.75" in review.text  # the tutor's share, the fee
    assert db.session.get(Payment, payment.id).amount_refunded == 0
    done = browser.post(url, {"scope": "full", "reason": "Tutor ill", "confirm": "1"})
    assert done.status_code == 302
    db.session.expire_all()
    assert db.session.get(Payment, payment.id).amount_refunded == 4500
