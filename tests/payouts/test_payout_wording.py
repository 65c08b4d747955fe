"""What a payout's failures say: of the payout, not of a card; the demo's missing transfers;
a Stripe account id checked for its shape."""

import pytest

from portal.extensions import db
from portal.payouts import processing, requesting
from portal.payouts.models import PayoutRequest
from tests.conftest import look
from tests.payouts.conftest import credit, figures


def _approved(tutor, admin):
    payout = requesting.request_payout(tutor, amount=5000, payout_method="stripe")
    processing.approve_payout(admin, payout.uuid)
    db.session.commit()
    return payout


def test_stripe_down_says_what_happened_to_the_payout(
    client, stripe_tutor, admin, bearer, transfers
):
    credit(stripe_tutor, 8000)
    payout = _approved(stripe_tutor, admin)
    transfers.fail_with("api_error", status=500)
    response = client.post(f"/api/v1/admin/payouts/{payout.uuid}/process/", headers=bearer(admin))
    assert response.status_code == 502
    message = response.json["error"]["message"]
    assert "no transfer was made" in message and "still approved" in message
    assert "charged" not in message


@pytest.mark.parametrize(
    "account",
    ["acct_", "acct_nope", "acct_abcdef", "acct_1Nv0FGQ9RKHgCVd", "acct_1Nv0FGQ9RKHg.VdK",
     "acct_1Nv0FGQ9 RKHgCVdK", "ACCT_1Nv0FGQ9RKHgCVdK", "acct_" + "a" * 33],
)  # fmt: skip
def test_a_stripe_account_id_is_checked_for_its_shape(client, bearer, tutor, account):
    response = client.patch(
        "/api/v1/wallet/settings/", json={"stripe_account_id": account}, headers=bearer(tutor)
    )
    assert response.status_code == 400
    assert "16 letters and digits" in response.json["error"]["fields"]["stripe_account_id"][0]


def test_a_real_shaped_stripe_account_id_is_taken(client, bearer, tutor):
    response = client.patch(
        "/api/v1/wallet/settings/",
        json={"stripe_account_id": "acct_1Nv0FGQ9RKHgCVdK"},
        headers=bearer(tutor),
    )
    assert response.status_code == 200


@pytest.mark.browser
def test_the_demo_says_stripe_payouts_need_a_stripe_test_account(
    page, sign_in, stripe_tutor, admin, localstripe
):
    credit(stripe_tutor, 8000)
    payout = _approved(stripe_tutor, admin)
    sign_in(page, admin)
    page.goto("/admin/payouts?status=approved")
    row = page.locator(f"#payout-{payout.uuid}")
    assert row.get_by_text("Needs a Stripe test account").is_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Send via Stripe").click()
    row.get_by_text("Stripe payouts need a Stripe test account").wait_for()
    assert "charged" not in row.inner_text()
    look(page, "admin-payout-stripe-demo")
    db.session.expire_all()
    assert db.session.get(PayoutRequest, payout.id).status == "approved"
    assert figures(stripe_tutor.id)["in_flight"] == 5000
