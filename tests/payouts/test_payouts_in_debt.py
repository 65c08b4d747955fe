"""A payout asked for before refunds pushed the wallet into debt is held: approve,
process and complete answer 409 `in_debt` while available is below zero (the API, the
queue's buttons and bulk approve alike); failing it returns the money and cuts the debt."""

from __future__ import annotations

import pytest

from portal.extensions import db
from portal.payouts.models import PayoutRequest, PayoutStatus
from portal.payouts.requesting import request_payout
from portal.wallets.refunds import process_refund_deduction
from tests.payouts.conftest import credit, figures
from tests.support.ledger import assert_ledger_ok

API = "/api/v1/admin/payouts"


def _payout_then_debt(tutor, *, status=PayoutStatus.PENDING, admin=None) -> PayoutRequest:
    """The tutor asks for 3000 of 3000; then a refund of a released earning takes 1700
    more than is left, so available is -1700 while the payout waits."""
    from portal.payouts import processing

    credit(tutor, 3000)
    payout = request_payout(tutor, amount=3000, payout_method="bank_transfer")
    db.session.commit()
    if status in (PayoutStatus.APPROVED, PayoutStatus.PROCESSING):
        processing.approve_payout(admin, payout.uuid)
    if status == PayoutStatus.PROCESSING:
        processing.process_payout(admin, payout.uuid)
    process_refund_deduction(
        tutor_id=tutor.id, refund=2000, fee_part=300, idempotency_key=f"r:{payout.id}"
    )
    db.session.commit()
    assert figures(tutor.id)["available"] == -1700
    return payout


@pytest.mark.parametrize(
    "status, action, body",
    [
        (PayoutStatus.PENDING, "approve", None),
        (PayoutStatus.APPROVED, "process", None),
        (PayoutStatus.PROCESSING, "complete", {"reference": "BANK-1"}),
    ],
)
def test_the_api_refuses_to_move_a_payout_while_in_debt(
    client, bank_tutor, admin, bearer, status, action, body
):
    payout = _payout_then_debt(bank_tutor, status=status, admin=admin)
    before = figures(bank_tutor.id)
    response = client.post(f"{API}/{payout.uuid}/{action}/", json=body, headers=bearer(admin))
    assert response.status_code == 409, response.get_data(as_text=True)
    assert response.json["error"]["code"] == "in_debt"
    db.session.expire_all()
    assert db.session.get(PayoutRequest, payout.id).status == status
    assert figures(bank_tutor.id) == before


def test_the_queue_button_and_bulk_approve_refuse_too(browser, bank_tutor, admin):
    payout = _payout_then_debt(bank_tutor)
    boss = browser(admin)
    page = boss.get("/admin/payouts").get_data(as_text=True)
    assert "in debt" in page.lower()
    response = boss.post(
        f"/admin/payouts/{payout.uuid}/approve", headers={"Referer": "/admin/payouts"}
    )
    assert response.status_code == 302  # refused: back to the queue with the reason
    bulk = boss.post("/admin/payouts/approve", {"ids": [str(payout.uuid)]})
    assert bulk.status_code in (200, 302)
    db.session.expire_all()
    assert db.session.get(PayoutRequest, payout.id).status == PayoutStatus.PENDING


def test_bulk_approve_skips_a_payout_in_debt_and_says_why(bank_tutor, admin):
    from portal.payouts.processing import approve_payouts

    payout = _payout_then_debt(bank_tutor)
    result = approve_payouts(admin, [payout.uuid])
    assert result.approved == []
    assert result.skipped == [(str(payout.uuid), "tutor in debt")]


@pytest.mark.parametrize(
    "status", [PayoutStatus.PENDING, PayoutStatus.APPROVED, PayoutStatus.PROCESSING]
)
def test_failing_it_returns_the_money_and_reduces_the_debt(
    client, bank_tutor, admin, bearer, status
):
    payout = _payout_then_debt(bank_tutor, status=status, admin=admin)
    response = client.post(f"{API}/{payout.uuid}/fail/", json={"reason": "Refunds came first"},
                           headers=bearer(admin))  # fmt: skip
    assert response.status_code == 200
    assert figures(bank_tutor.id)["available"] == 3000 - 1700
    assert figures(bank_tutor.id)["in_flight"] == 0
    assert_ledger_ok()


def test_once_the_debt_is_paid_back_the_payout_moves_again(client, bank_tutor, admin, bearer):
    payout = _payout_then_debt(bank_tutor)
    credit(bank_tutor, 1700)
    response = client.post(f"{API}/{payout.uuid}/approve/", headers=bearer(admin))
    assert response.status_code == 200
