"""Admins credit and debit a tutor's wallet: the API, the page, the ledger and the audit."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.audit.models import AuditLog
from portal.books.checks import check_invariants
from portal.db import utcnow
from portal.extensions import db
from portal.wallets.earnings import process_lesson_earning, release_pending_earnings
from portal.wallets.models import WalletTransaction
from tests import factories
from tests.conftest import look
from tests.wallets.conftest import figures

URL = "/api/v1/admin/wallets/{}/adjustments/"


@pytest.fixture
def earning_tutor(tutor):
    process_lesson_earning(
        tutor_id=tutor.id, gross=4500, fee=675, idempotency_key="payment:1", payment_id=1
    )
    release_pending_earnings(utcnow() + timedelta(days=8))
    db.session.commit()
    return tutor


def _audit():
    return db.session.scalars(
        sa.select(AuditLog).where(AuditLog.object_type == "wallet").order_by(AuditLog.id)
    ).all()


def test_a_credit_and_a_debit_move_available_and_are_audited(client, bearer, admin, earning_tutor):
    tutor = earning_tutor
    response = client.post(
        URL.format(tutor.id), json={"amount": 1500, "reason": "Goodwill"}, headers=bearer(admin)
    )
    assert response.status_code == 201
    assert response.json["type"] == "credit"
    assert response.json["amount"] == 1500
    assert response.json["description"] == "Goodwill"
    assert response.json["balance_after"] == 3825 + 1500
    response = client.post(
        URL.format(tutor.id), json={"amount": -325, "reason": "Duplicate bonus"},
        headers=bearer(admin),
    )  # fmt: skip
    assert response.status_code == 201
    assert response.json["type"] == "debit" and response.json["amount"] == -325
    assert figures(tutor.id)["available"] == 3825 + 1500 - 325
    rows = _audit()
    assert [r.action for r in rows] == ["wallet.credited", "wallet.debited"]
    assert rows[1].actor_id == admin.id
    assert rows[1].after == {"amount": -325, "reason": "Duplicate bonus", "available": 5000}
    assert check_invariants() == []


def test_a_debit_never_overdraws(client, bearer, admin, earning_tutor):
    response = client.post(
        URL.format(earning_tutor.id), json={"amount": -3826, "reason": "Too much"},
        headers=bearer(admin),
    )  # fmt: skip
    assert response.status_code == 409
    assert response.json["error"]["code"] == "insufficient_funds"
    assert figures(earning_tutor.id)["available"] == 3825
    assert _audit() == []


@pytest.mark.parametrize(
    "body, field",
    [
        ({"amount": 0, "reason": "x"}, "amount"),
        ({"amount": 100}, "reason"),
        ({"amount": 100, "reason": "   "}, "reason"),
        ({"amount": "100", "reason": "x"}, "amount"),
        ({"amount": 1.5, "reason": "x"}, "amount"),
        ({"amount": True, "reason": "x"}, "amount"),
        ({"reason": "x"}, "amount"),
        ({"amount": 10**15, "reason": "x"}, "amount"),
        ({"amount": 100, "reason": "x" * 256}, "reason"),
        ({"amount": 100, "reason": "x", "memo": "y"}, "memo"),
    ],
)
def test_bad_input_is_a_400_that_changes_nothing(client, bearer, admin, earning_tutor, body, field):
    response = client.post(URL.format(earning_tutor.id), json=body, headers=bearer(admin))
    assert response.status_code == 400
    assert field in response.json["error"]["fields"]
    assert figures(earning_tutor.id)["available"] == 3825
    assert db.session.query(WalletTransaction).filter_by(type="credit").count() == 0


def test_only_admins_and_only_tutors(client, anon, bearer, admin, earning_tutor, student):
    body = {"amount": 100, "reason": "x"}
    assert anon.api("POST", URL.format(earning_tutor.id), json=body).status_code == 401
    for user in (earning_tutor, student):
        response = client.post(URL.format(earning_tutor.id), json=body, headers=bearer(user))
        assert response.status_code == 403
    for other in (student.id, admin.id, 999999):
        assert client.post(URL.format(other), json=body, headers=bearer(admin)).status_code == 404


def test_the_same_idempotency_key_is_one_adjustment(client, bearer, admin, earning_tutor):
    headers = {**bearer(admin), "Idempotency-Key": "bonus-0007"}
    for _ in range(2):
        response = client.post(
            URL.format(earning_tutor.id), json={"amount": 700, "reason": "Bonus"}, headers=headers
        )
        assert response.status_code == 201
    assert figures(earning_tutor.id)["available"] == 3825 + 700
    assert len(_audit()) == 1


def test_a_tutor_with_no_wallet_yet_can_be_credited(client, bearer, admin):
    tutor = factories.UserFactory(role="tutor")
    response = client.post(
        URL.format(tutor.id), json={"amount": 2000, "reason": "Welcome"}, headers=bearer(admin)
    )
    assert response.status_code == 201
    assert figures(tutor.id)["available"] == 2000


def test_the_form_needs_a_reason_and_refuses_an_overdraft(login, admin, earning_tutor):
    browser = login(admin)
    url = f"/admin/wallets/{earning_tutor.id}/adjustments"
    response = browser.post(url, {"direction": "credit", "amount": "10", "reason": ""})
    assert response.status_code == 422
    assert "Give a reason" in response.text
    response = browser.post(url, {"direction": "debit", "amount": "100", "reason": "Oops"})
    assert response.status_code == 422
    assert "cannot be debited" in response.text
    assert figures(earning_tutor.id)["available"] == 3825
    response = browser.post(url, {"direction": "debit", "amount": "8.25", "reason": "Oops"})
    assert response.status_code == 302
    assert figures(earning_tutor.id)["available"] == 3000


@pytest.mark.browser
def test_admin_credits_a_wallet_and_the_tutor_reads_the_reason(
    page, sign_in, admin, earning_tutor, chromium, live_server
):
    sign_in(page, admin)
    page.get_by_role("link", name="Ledger").click()
    page.get_by_role("link", name="Each tutor's wallet").click()
    page.wait_for_url("**/admin/wallets")
    page.get_by_role("link", name=earning_tutor.name).click()
    page.get_by_role("heading", name=f"{earning_tutor.name}'s wallet").wait_for()
    page.get_by_label("Amount").fill("12.50")
    page.get_by_role("button", name="Save adjustment").click()
    page.get_by_text("Give a reason").first.wait_for()
    look(page, "admin-wallet-adjustment-error")
    page.get_by_label("Reason").fill("Lesson ran long on 3 May")
    page.get_by_role("button", name="Save adjustment").click()
    page.get_by_text(f"Credited $12.50 to {earning_tutor.name}'s wallet.").wait_for()
    look(page, "admin-wallet")
    assert figures(earning_tutor.id)["available"] == 3825 + 1250

    tutor_page = chromium.new_context(base_url=live_server.url).new_page()
    sign_in(tutor_page, earning_tutor)
    tutor_page.goto("/earnings")
    assert tutor_page.get_by_text("Lesson ran long on 3 May").is_visible()
    look(tutor_page, "tutor-statement-credit")
    tutor_page.context.close()
