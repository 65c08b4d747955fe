"""Stripe payouts against recorded Stripe transfer responses over HTTP."""

from __future__ import annotations

import sqlalchemy as sa

from portal.audit.services import history
from portal.extensions import db
from portal.payouts import processing, requesting
from portal.payouts.models import PayoutRequest
from tests.payouts.conftest import STRIPE_ACCOUNT, credit, earn, figures, with_bank
from tests.support.ledger import assert_ledger_ok


def _approved(tutor, admin, amount=5000):
    payout = requesting.request_payout(tutor, amount=amount, payout_method="stripe")
    processing.approve_payout(admin, payout.uuid)
    db.session.commit()
    return payout


def test_stripe_payout_is_one_transfer_with_the_uuid_as_key(
    client, stripe_tutor, admin, bearer, transfers
):
    earn(stripe_tutor, lessons=2)  # 7650 available
    payout = _approved(stripe_tutor, admin)
    response = client.post(f"/api/v1/admin/payouts/{payout.uuid}/process/", headers=bearer(admin))
    assert response.status_code == 200, response.json
    body = response.json
    assert body["status"] == "completed" and body["processed_at"] and body["completed_at"]
    assert body["provider_transfer_id"] == transfers.created[0]["id"]
    (sent,) = transfers.requests
    assert sent["key"] == str(payout.uuid)
    assert sent["form"]["amount"] == "5000" and sent["form"]["currency"] == "usd"
    assert sent["form"]["destination"] == STRIPE_ACCOUNT
    assert sent["form"]["metadata[payout_id]"] == str(payout.uuid)
    assert figures(stripe_tutor.id) == {"available": 2650, "in_flight": 0, "withdrawn": 5000}
    actions = [e.action for e in history("payout", payout.uuid)]
    assert actions == ["payout.requested", "payout.approved", "payout.processing",
                       "payout.completed"]  # fmt: skip
    assert_ledger_ok()


def test_refused_transfer_fails_the_payout_and_returns_the_money(
    client, stripe_tutor, admin, bearer, transfers
):
    credit(stripe_tutor, 8000)
    payout = _approved(stripe_tutor, admin)
    transfers.fail_with("transfer_balance_insufficient")
    response = client.post(f"/api/v1/admin/payouts/{payout.uuid}/process/", headers=bearer(admin))
    assert response.status_code == 200, response.json
    assert response.json["status"] == "failed"
    assert "balance_insufficient" in response.json["failure_reason"]
    assert response.json["provider_transfer_id"] is None
    assert figures(stripe_tutor.id) == {"available": 8000, "in_flight": 0, "withdrawn": 0}
    assert transfers.created == []
    assert_ledger_ok()


def test_unknown_destination_fails_the_payout(stripe_tutor, admin, transfers):
    credit(stripe_tutor, 8000)
    payout = _approved(stripe_tutor, admin)
    transfers.fail_with("transfer_no_such_destination")
    processing.process_payout(admin, payout.uuid)
    db.session.commit()
    assert payout.status == "failed" and "resource_missing" in payout.failure_reason
    assert figures(stripe_tutor.id)["available"] == 8000


def test_stripe_down_leaves_the_payout_approved(client, stripe_tutor, admin, bearer, transfers):
    credit(stripe_tutor, 8000)
    payout = _approved(stripe_tutor, admin)
    transfers.fail_with("api_error", status=500)
    response = client.post(f"/api/v1/admin/payouts/{payout.uuid}/process/", headers=bearer(admin))
    assert response.status_code == 502 and response.json["error"]["code"] == "gateway_error"
    db.session.expire_all()
    assert db.session.get(PayoutRequest, payout.id).status == "approved"
    assert figures(stripe_tutor.id) == {"available": 3000, "in_flight": 5000, "withdrawn": 0}
    assert [e.action for e in history("payout", payout.uuid)][-1] == "payout.approved"


def test_process_pending_payouts_task(app, stripe_tutor, admin, transfers, tutor):
    from tests import factories

    credit(stripe_tutor, 20000)
    first = _approved(stripe_tutor, admin, 5000)
    second = _approved(stripe_tutor, admin, 6000)
    waiting = requesting.request_payout(stripe_tutor, amount=1000, payout_method="stripe")
    banker = factories.UserFactory(role="tutor")
    with_bank(banker)
    credit(banker, 5000)
    by_bank = requesting.request_payout(banker, amount=5000, payout_method="bank_transfer")
    processing.approve_payout(admin, by_bank.uuid)
    db.session.commit()

    runner = app.test_cli_runner()
    result = runner.invoke(args=["tasks", "run", "process_pending_payouts"])
    assert result.exit_code == 0, result.output
    assert "'completed': 2" in result.output
    db.session.expire_all()
    statuses = dict(db.session.execute(sa.select(PayoutRequest.uuid, PayoutRequest.status)).all())
    assert statuses == {first.uuid: "completed", second.uuid: "completed",
                        waiting.uuid: "pending", by_bank.uuid: "approved"}  # fmt: skip
    assert {entry.actor_id for entry in history("payout", first.uuid)[-2:]} == {None}

    again = runner.invoke(args=["tasks", "run", "process_pending_payouts"])
    assert "'completed': 0" in again.output
    assert len(transfers.created) == 2 and len(transfers.requests) == 2
    assert figures(stripe_tutor.id) == {"available": 8000, "in_flight": 1000, "withdrawn": 11000}
    assert_ledger_ok()


def test_the_task_leaves_payouts_for_later_when_stripe_is_down(app, stripe_tutor, admin, transfers):
    credit(stripe_tutor, 20000)
    payout = _approved(stripe_tutor, admin, 5000)
    transfers.fail_with("api_error", status=500)
    result = app.test_cli_runner().invoke(args=["tasks", "run", "process_pending_payouts"])
    assert "'retry_later': 1" in result.output
    db.session.expire_all()
    assert db.session.get(PayoutRequest, payout.id).status == "approved"


def _paid_earlier_without_an_answer(payout):
    """What a lost answer leaves behind: Stripe made the transfer (with the payout's uuid
    as group), the portal never heard (a timeout, or its commit failed), and a day has
    passed, so the idempotency key no longer protects a retry."""
    from portal.providers import get_provider

    return get_provider().create_transfer(
        amount=payout.amount,
        currency=payout.currency,
        destination=STRIPE_ACCOUNT,
        idempotency_key=f"{payout.uuid}-a-day-ago",
        transfer_group=str(payout.uuid),
    )


def test_a_transfer_whose_answer_was_lost_is_found_and_not_made_again(
    stripe_tutor, admin, transfers
):
    credit(stripe_tutor, 8000)
    payout = _approved(stripe_tutor, admin)
    earlier = _paid_earlier_without_an_answer(payout)
    processing.process_payout(admin, payout.uuid)
    db.session.commit()
    assert (payout.status, payout.provider_transfer_id) == ("completed", earlier.id)
    assert len(transfers.created) == 1
    assert transfers.lookups[-1]["transfer_group"] == str(payout.uuid)
    assert figures(stripe_tutor.id) == {"available": 3000, "in_flight": 0, "withdrawn": 5000}
    assert_ledger_ok()


def test_a_payout_stripe_already_sent_cannot_be_failed(
    client, stripe_tutor, admin, bearer, transfers
):
    credit(stripe_tutor, 8000)
    payout = _approved(stripe_tutor, admin)
    earlier = _paid_earlier_without_an_answer(payout)
    response = client.post(
        f"/api/v1/admin/payouts/{payout.uuid}/fail/",
        json={"reason": "No answer"},
        headers=bearer(admin),
    )
    assert response.status_code == 409
    assert earlier.id in response.json["error"]["message"]
    db.session.expire_all()
    assert db.session.get(PayoutRequest, payout.id).status == "approved"
    assert figures(stripe_tutor.id) == {"available": 3000, "in_flight": 5000, "withdrawn": 0}


def test_a_stripe_payout_is_failed_once_stripe_says_it_sent_nothing(
    client, stripe_tutor, admin, bearer, transfers
):
    credit(stripe_tutor, 8000)
    payout = _approved(stripe_tutor, admin)
    transfers.fail_with("api_error", status=500)
    fail = f"/api/v1/admin/payouts/{payout.uuid}/fail/"
    # Stripe cannot be asked: the money stays where it is.
    assert client.post(fail, json={"reason": "x"}, headers=bearer(admin)).status_code == 502
    transfers.failure = None
    response = client.post(fail, json={"reason": "Wrong account"}, headers=bearer(admin))
    assert response.status_code == 200 and response.json["status"] == "failed"
    assert figures(stripe_tutor.id) == {"available": 8000, "in_flight": 0, "withdrawn": 0}
