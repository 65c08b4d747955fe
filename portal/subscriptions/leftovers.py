"""Subscriptions Stripe has and the portal never will: cancelled there, and what their
first invoice collected refunded, so a student is never billed for a subscription the
portal does not show.

Three ways one is left behind at Stripe:

- the request that created it rolled back here after Stripe answered (a later step
  failed, or the commit did): the rollback cancels it (`discard_on_rollback`);
- the process died between Stripe's answer and the commit, so no rollback ran: its
  events name a row that never appears, and once it is older than `ORPHAN_AFTER` (no
  request takes that long) the event that finds it cancels it (`events._not_yet_known`);
- a second Checkout page completed for a student who already has a live subscription
  (two tabs): the second is cancelled when its first event arrives (`events._adopt`).

Both steps can run any number of times: a subscription already ended is not cancelled
again, and the refund's idempotency key is the Stripe invoice's own.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import sqlalchemy as sa
import sqlalchemy.orm as so

from portal.extensions import db
from portal.providers import get_provider

log = logging.getLogger(__name__)

ORPHAN_AFTER = timedelta(minutes=10)
ENDED_AT_STRIPE = ("canceled", "incomplete_expired")
_DISCARD = "portal_subscriptions_discard_on_rollback"


def discard_at_stripe(stripe_id: str, *, why: str) -> str:
    """Cancel the Stripe subscription now and refund what its latest invoice collected;
    one sentence saying what was done."""
    provider = get_provider()
    obj = provider.retrieve_subscription(stripe_id)
    done = []
    if obj.get("status") not in ENDED_AT_STRIPE:
        obj = provider.cancel_subscription_now(stripe_id)
        done.append("cancelled at Stripe")
    refunded = _refund_latest_invoice(provider, obj, why)
    if refunded:
        done.append(f"its {refunded} refunded")
    return f"Subscription {stripe_id} ({why}): " + (", ".join(done) or "already ended") + "."


def _refund_latest_invoice(provider, obj: dict, why: str) -> int:
    latest = obj.get("latest_invoice")
    if not latest:
        return 0
    invoice = latest if isinstance(latest, dict) else provider.retrieve_invoice(latest)
    amount = invoice.get("amount_paid")
    if invoice.get("status") != "paid" or not isinstance(amount, int) or amount <= 0:
        return 0
    intent = provider.invoice_payment_intent(invoice)
    if intent is None or intent.status != "succeeded":
        return 0
    provider.create_refund(
        payment_intent=intent.id,
        amount=amount,
        idempotency_key=f"subscription-leftover-{invoice['id']}-refund",
        metadata={"subscription": obj["id"], "reason": why},
    )
    return amount


# Rolled back after Stripe answered


def discard_on_rollback(stripe_id: str) -> None:
    """If the current transaction rolls back, `stripe_id` is discarded at Stripe; once it
    commits, it is the portal's."""
    db.session.info.setdefault(_DISCARD, []).append(stripe_id)


def keep(stripe_id: str) -> None:
    """The caller dealt with `stripe_id` itself (a declined first payment, cancelled)."""
    waiting = db.session.info.get(_DISCARD) or []
    if stripe_id in waiting:
        waiting.remove(stripe_id)


def _discard_rolled_back(session: so.Session, previous_transaction) -> None:
    if previous_transaction.nested:
        return  # a savepoint rolled back; the request goes on
    for stripe_id in session.info.pop(_DISCARD, []):
        try:
            log.warning(discard_at_stripe(stripe_id, why="its request rolled back"))
        # A rollback must not raise; its events find it later (ORPHAN_AFTER).
        except Exception as exc:  # noqa: BLE001
            log.error("subscription %s left at Stripe: %s", stripe_id, exc)


def _committed(session: so.Session) -> None:
    session.info.pop(_DISCARD, None)


def install_leftover_listeners() -> None:
    """Discard at Stripe what a rolled-back request created there (once per process)."""
    listeners = (("after_soft_rollback", _discard_rolled_back), ("after_commit", _committed))
    for name, listener in listeners:
        if not sa.event.contains(so.Session, name, listener):
            sa.event.listen(so.Session, name, listener)
