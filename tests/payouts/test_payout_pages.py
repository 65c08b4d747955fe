"""The payout pages through the test client: forms, htmx fragments, errors, access."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.payouts import processing, requesting
from portal.payouts.models import PayoutRequest
from tests import factories
from tests.payouts.conftest import IBAN, credit, earn, figures, with_bank
from tests.support.ledger import assert_ledger_ok


def htmx(target: str) -> dict:
    return {"HX-Request": "true", "HX-Target": target}


def _payouts() -> list[PayoutRequest]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(PayoutRequest).order_by(PayoutRequest.id)))


def test_story_through_the_pages(browser, bank_tutor, admin):
    earn(bank_tutor, lessons=2)  # 7650 available
    me = browser(bank_tutor)
    page = me.get("/payouts").get_data(as_text=True)
    assert "$76.50" in page and "Minimum payout: $10.00" in page and "IBAN •••• 3000" in page

    response = me.post("/payouts", {"amount": "60.00", "payout_method": "bank_transfer"})
    assert response.status_code == 302
    listed = me.get("/payouts").get_data(as_text=True)
    assert "Payout of $60.00 requested" in listed and "$16.50" in listed
    (payout,) = _payouts()
    assert figures(bank_tutor.id) == {"available": 1650, "in_flight": 6000, "withdrawn": 0}

    boss = browser(admin)
    queue = boss.get("/admin/payouts").get_data(as_text=True)
    assert bank_tutor.name in queue and "$60.00" in queue
    row = f"payout-{payout.uuid}"
    approved = boss.post(f"/admin/payouts/{payout.uuid}/approve?status=pending", headers=htmx(row))
    assert approved.status_code == 200 and approved.headers["HX-Trigger"] == "payouts-changed"
    assert approved.get_data(as_text=True).lstrip().startswith(f'<tr id="{row}">')
    assert "Start bank transfer" in approved.get_data(as_text=True)
    assert figures(bank_tutor.id) == {"available": 1650, "in_flight": 6000, "withdrawn": 0}
    processing = boss.post(f"/admin/payouts/{payout.uuid}/process", headers=htmx(row))
    assert "Bank reference" in processing.get_data(as_text=True)
    assert figures(bank_tutor.id) == {"available": 1650, "in_flight": 6000, "withdrawn": 0}
    done = boss.post(f"/admin/payouts/{payout.uuid}/complete", {"reference": "SEPA-77"},
                     headers=htmx(row))  # fmt: skip
    assert done.status_code == 200 and "Ref. SEPA-77" in done.get_data(as_text=True)
    assert figures(bank_tutor.id) == {"available": 1650, "in_flight": 0, "withdrawn": 6000}
    mine = me.get("/payouts").get_data(as_text=True)
    assert "Bank reference: SEPA-77" in mine and "status-completed" in mine
    assert_ledger_ok()


def test_request_form_errors_re_render_with_the_message(browser, bank_tutor):
    credit(bank_tutor, 3000)
    me = browser(bank_tutor)
    for amount, message in (
        ("5", "The minimum payout is $10.00."),
        ("31", "You can pay out at most $30.00, your available balance."),
        ("12.345", "Enter an amount like 45 or 45.50."),
        ("ten", "Enter an amount like 45 or 45.50."),
        ("", "Enter an amount."),
    ):
        response = me.post("/payouts", {"amount": amount, "payout_method": "bank_transfer"})
        assert response.status_code == 422, amount
        assert message in response.get_data(as_text=True), amount
    refused = me.post("/payouts", {"amount": "20", "payout_method": "stripe"})
    assert "Connect your Stripe account" in refused.get_data(as_text=True)
    assert _payouts() == [] and figures(bank_tutor.id)["available"] == 3000


def test_the_form_validates_as_you_type(browser, bank_tutor):
    credit(bank_tutor, 3000)
    me = browser(bank_tutor)

    def feedback(amount, method="bank_transfer"):
        response = me.post("/payouts/check", {"amount": amount, "payout_method": method},
                           headers=htmx("request-feedback"))  # fmt: skip
        body = response.get_data(as_text=True).strip()
        assert body.startswith('<p id="request-feedback"'), body
        return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", body)).strip()

    assert feedback("") == ""
    assert feedback("9.99") == "The minimum payout is $10.00."
    assert feedback("30.01") == "You can pay out at most $30.00, your available balance."
    assert feedback("25") == "Fine: $5.00 stays available."
    assert feedback("abc") == "Enter an amount like 45 or 45.50."
    assert "Stripe" in feedback("25", "stripe")
    assert _payouts() == []


def test_tutor_cancels_in_place(browser, bank_tutor):
    credit(bank_tutor, 3000)
    payout = requesting.request_payout(bank_tutor, amount=2000, payout_method="bank_transfer")
    db.session.commit()
    me = browser(bank_tutor)
    row = f"payout-{payout.uuid}"
    assert me.get(f"/payouts/{payout.uuid}/row").get_data(as_text=True).count("every 30s") == 1
    response = me.post(f"/payouts/{payout.uuid}/cancel", headers=htmx(row))
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "status-cancelled" in body and "every 30s" not in body
    assert figures(bank_tutor.id)["available"] == 3000
    again = me.post(f"/payouts/{payout.uuid}/cancel", headers={"Referer": "/payouts"})
    assert again.status_code == 302  # refused with a flash on the page it came from
    assert "cannot be cancelled" in me.get("/payouts").get_data(as_text=True)
    other = browser(factories.UserFactory(role="tutor"))
    assert other.post(f"/payouts/{payout.uuid}/cancel").status_code == 404
    assert other.get(f"/payouts/{payout.uuid}/row").status_code == 404


def test_settings_save_bank_details_and_show_them_masked(browser, tutor):
    me = browser(tutor)
    bad = me.post("/payouts/settings/bank", {
        "bank_account_holder": "Tomás Tutor", "bank_name": "Commerzbank", "bank_country": "DE",
        "account_kind": "iban", "bank_iban": IBAN[:-1] + "1"})  # fmt: skip
    assert bad.status_code == 422
    assert "check digits do not match" in bad.get_data(as_text=True)
    good = me.post("/payouts/settings/bank", {
        "bank_account_holder": "Tomás Tutor", "bank_name": "Commerzbank", "bank_country": "DE",
        "account_kind": "iban", "bank_iban": "DE89 3704 0044 0532 0130 00"})  # fmt: skip
    assert good.status_code == 302
    page = me.get("/payouts/settings").get_data(as_text=True)
    assert "IBAN •••• 3000" in page and IBAN not in page and "Commerzbank" not in page
    assert "Auto-payout threshold" in page  # the wallet's settings live here too
    stripe = me.post("/payouts/settings/stripe", {"stripe_account_id": "acct_nope"})
    assert stripe.status_code == 422 and "acct_1Nv0FGQ9RKHgCVdK" in stripe.get_data(as_text=True)
    me.post("/payouts/settings/stripe", {"stripe_account_id": "acct_1QUwQ2PxbDsyrmbL"})
    assert "Stripe acct_…rmbL" in me.get("/payouts").get_data(as_text=True)


def test_queue_tabs_filters_and_counts(browser, admin):
    ana, bo = (factories.UserFactory(role="tutor", name=n) for n in ("Ana Lima", "Bo Chen"))
    for tutor in (ana, bo):
        with_bank(tutor)
        credit(tutor, 10000)
    for tutor, count in ((ana, 3), (bo, 2)):
        for _ in range(count):
            requesting.request_payout(tutor, amount=1000, payout_method="bank_transfer")
    first = _payouts()[0]
    processing.approve_payout(admin, first.uuid)
    db.session.commit()
    boss = browser(admin)
    page = boss.get("/admin/payouts").get_data(as_text=True)
    assert re.search(r"Pending <span class=\"tab-count\">4</span>", page)
    assert re.search(r"Approved <span class=\"tab-count\">1</span>", page)
    assert page.count('name="ids"') == 4
    assert 'id="nav-pending-payouts" title="4 waiting for approval">4<' in page  # the nav
    filtered = boss.get("/admin/payouts?tutor=bo+ch", headers=htmx("queue")).get_data(as_text=True)
    assert filtered.count('name="ids"') == 2 and "<html" not in filtered
    assert re.search(r"Pending <span class=\"tab-count\">2</span>", filtered)
    approved = boss.get("/admin/payouts?status=approved").get_data(as_text=True)
    assert "Start bank transfer" in approved and 'name="ids"' not in approved
    tabs = boss.get("/admin/payouts/tabs?status=approved").get_data(as_text=True)
    assert tabs.lstrip().startswith('<nav class="tabs" id="queue-tabs"')
    assert boss.get("/admin/payouts?status=nonsense&method=cash").status_code == 400


def test_row_action_refused_comes_back_in_the_row(browser, bank_tutor, admin):
    credit(bank_tutor, 3000)
    payout = requesting.request_payout(bank_tutor, amount=2000, payout_method="bank_transfer")
    db.session.commit()
    boss, row = browser(admin), f"payout-{payout.uuid}"
    boss.post(f"/admin/payouts/{payout.uuid}/approve", headers=htmx(row))
    twice = boss.post(f"/admin/payouts/{payout.uuid}/approve", headers=htmx(row))
    assert twice.status_code == 422
    assert "An approved payout cannot be approved." in twice.get_data(as_text=True)
    boss.post(f"/admin/payouts/{payout.uuid}/process", headers=htmx(row))
    missing_ref = boss.post(f"/admin/payouts/{payout.uuid}/complete", {"reference": " "},
                            headers=htmx(row))  # fmt: skip
    assert missing_ref.status_code == 422
    assert "Enter the bank&#39;s reference" in missing_ref.get_data(as_text=True)
    assert _payouts()[0].status == "processing"
    plain = boss.post(f"/admin/payouts/{payout.uuid}/complete", {"reference": ""},
                      headers={"Referer": "/admin/payouts"})  # fmt: skip
    assert plain.status_code == 302 and _payouts()[0].status == "processing"


def test_fail_in_a_dialog(browser, bank_tutor, admin):
    credit(bank_tutor, 3000)
    payout = requesting.request_payout(bank_tutor, amount=2000, payout_method="bank_transfer")
    db.session.commit()
    boss, row = browser(admin), f"payout-{payout.uuid}"
    dialog = boss.get(f"/admin/payouts/{payout.uuid}/fail", headers=htmx("dialog-slot"))
    body = dialog.get_data(as_text=True)
    assert body.lstrip().startswith("<dialog") and 'name="reason"' in body
    assert "$20.00 to" in body and bank_tutor.name in body
    page = boss.get(f"/admin/payouts/{payout.uuid}/fail").get_data(as_text=True)
    assert "<html" in page and "Fail this payout?" in page
    empty = boss.post(f"/admin/payouts/{payout.uuid}/fail", {"reason": ""}, headers=htmx(row))
    assert empty.status_code == 422 and empty.headers["HX-Retarget"] == "#dialog-slot"
    assert "Give a reason the tutor will read." in empty.get_data(as_text=True)
    failed = boss.post(f"/admin/payouts/{payout.uuid}/fail", {"reason": "Name does not match."},
                       headers=htmx(row))  # fmt: skip
    assert failed.status_code == 200 and "Name does not match." in failed.get_data(as_text=True)
    assert failed.headers["HX-Trigger"] == "payouts-changed"
    assert figures(bank_tutor.id)["available"] == 3000
    me = browser(bank_tutor).get("/payouts").get_data(as_text=True)
    assert "Reason: Name does not match." in me


def test_bulk_approve(browser, admin):
    tutors = [factories.UserFactory(role="tutor") for _ in range(3)]
    for tutor in tutors:
        with_bank(tutor)
        credit(tutor, 5000)
        requesting.request_payout(tutor, amount=2000, payout_method="bank_transfer")
    db.session.commit()
    first, second, third = _payouts()
    requesting.cancel_payout(tutors[2], third.uuid)
    db.session.commit()
    boss = browser(admin)
    response = boss.post(
        "/admin/payouts/approve?status=pending",
        {"ids": [str(first.uuid), str(second.uuid), str(third.uuid)]},
        headers=htmx("queue"),
    )
    body = response.get_data(as_text=True)
    assert "Approved 2 payouts. Skipped 1 no longer pending." in body
    assert body.lstrip().startswith('<div id="queue">')
    assert [p.status for p in _payouts()] == ["approved", "approved", "cancelled"]
    none = boss.post("/admin/payouts/approve", {}, headers={"Referer": "/admin/payouts"})
    assert none.status_code == 302
    assert "Select at least one payout." in boss.get("/admin/payouts").get_data(as_text=True)


def test_csrf_is_required(browser, bank_tutor, admin):
    credit(bank_tutor, 3000)
    payout = requesting.request_payout(bank_tutor, amount=2000, payout_method="bank_transfer")
    db.session.commit()
    boss = browser(admin)
    response = boss.session.client.post(f"/admin/payouts/{payout.uuid}/approve")
    assert response.status_code in (302, 400)
    assert _payouts()[0].status == "pending"


@pytest.mark.parametrize(
    ("role", "url", "expected"),
    [
        ("student", "/payouts", 403),
        ("admin", "/payouts", 403),
        ("student", "/payouts/settings", 403),
        ("student", "/admin/payouts", 403),
        ("tutor", "/admin/payouts", 403),
        ("tutor", "/admin/payouts/tabs", 403),
        ("tutor", "/admin/audit", 403),
    ],
)
def test_pages_by_role(browser, role, url, expected):
    assert browser(factories.UserFactory(role=role)).get(url).status_code == expected


def test_queue_costs_the_same_queries_for_10_or_60_payouts(browser, admin, count_queries):
    boss = browser(admin)

    def queries_with(n: int) -> int:
        while len(_payouts()) < n:
            tutor = factories.UserFactory(role="tutor")
            with_bank(tutor)
            credit(tutor, 5000)
            requesting.request_payout(tutor, amount=2000, payout_method="bank_transfer")
            db.session.commit()
        boss.get("/admin/payouts")  # warm
        with count_queries() as statements:
            assert boss.get("/admin/payouts").status_code == 200
        return len(statements)

    assert queries_with(10) == queries_with(60)


def test_a_cancel_after_an_admin_approved_shows_the_row_and_why(browser, bank_tutor, admin):
    credit(bank_tutor, 3000)
    payout = requesting.request_payout(bank_tutor, amount=2000, payout_method="bank_transfer")
    db.session.commit()
    me = browser(bank_tutor)
    processing.approve_payout(admin, payout.uuid)  # while the tutor's page is open
    db.session.commit()
    response = me.post(f"/payouts/{payout.uuid}/cancel", headers=htmx(f"payout-{payout.uuid}"))
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert body.lstrip().startswith(f'<tr id="payout-{payout.uuid}"')
    assert "status-approved" in body and "cannot be cancelled" in body
    assert figures(bank_tutor.id) == {"available": 1000, "in_flight": 2000, "withdrawn": 0}


def test_sending_via_stripe_without_htmx_says_what_happened(
    browser, stripe_tutor, admin, transfers
):
    credit(stripe_tutor, 8000)
    boss = browser(admin)
    sent = requesting.request_payout(stripe_tutor, amount=5000, payout_method="stripe")
    processing.approve_payout(admin, sent.uuid)
    db.session.commit()
    boss.post(f"/admin/payouts/{sent.uuid}/process")
    assert "Payout sent via Stripe." in boss.get("/admin/payouts").get_data(as_text=True)

    refused = requesting.request_payout(stripe_tutor, amount=2000, payout_method="stripe")
    processing.approve_payout(admin, refused.uuid)
    db.session.commit()
    transfers.fail_with("transfer_balance_insufficient")
    boss.post(f"/admin/payouts/{refused.uuid}/process")
    page = boss.get("/admin/payouts?status=failed").get_data(as_text=True)
    assert "Stripe refused the transfer; the money is back." in page
