"""The daily payout jobs. Each payout is its own unit of work: one failure stops nothing."""

from __future__ import annotations

from celery import shared_task

from portal.db import unit_of_work, utcnow
from portal.errors import GatewayError, PortalError
from portal.payouts import processing, requesting
from portal.payouts.models import PayoutStatus


@shared_task(name="process_pending_payouts")
def process_pending_payouts() -> dict:
    """Process every approved `stripe` payout (daily); idempotent.

    A payout somebody else processed meanwhile is skipped; Stripe unreachable leaves the
    payout approved for the next run, which reuses the same idempotency key.
    """
    outcome = {"completed": 0, "failed": 0, "retry_later": 0, "skipped": 0}
    for payout_id in processing.approved_stripe_payouts():
        try:
            with unit_of_work():
                payout = processing.process_payout(None, payout_id)
        except GatewayError:
            outcome["retry_later"] += 1
            continue
        except PortalError:
            outcome["skipped"] += 1
            continue
        outcome["completed" if payout.status == PayoutStatus.COMPLETED else "failed"] += 1
    return outcome


@shared_task(name="process_auto_payouts")
def process_auto_payouts() -> dict:
    """Request a payout for each wallet with auto-payout on and available ≥ threshold (daily).

    At most one auto-payout per tutor per day, so running it again changes nothing.
    """
    today = utcnow().date()
    outcome = {"requested": 0, "skipped": 0}
    for tutor_id in requesting.auto_payout_candidates():
        try:
            with unit_of_work():
                payout = requesting.request_auto_payout(tutor_id, today)
        except PortalError:
            payout = None
        outcome["skipped" if payout is None else "requested"] += 1
    return outcome
