"""The student hears of every refund, by one e-mail.

A refund of an invoiced payment is told by its credit note's e-mail (see
`invoices/documents.py`), which names the amount refunded and carries the note. A refund
of a payment without an invoice (one paid before invoices were issued) has no note, so it
gets this notice instead: one e-mail per refund either way, never two and never none.

The notice is queued once the refund's transaction commits (`effects.on_payment_refunded`)
and marked sent on the refund's row, locked while the mail goes out, like a receipt: at
least once, never twice at the same time. `send_missing_refund_notices` (hourly) sends any
that did not go out (the mail server away for longer than the retries).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from celery import shared_task
from flask_mail import Message

from portal import emails
from portal.db import utcnow
from portal.extensions import db
from portal.invoices.models import Invoice
from portal.money import format_money
from portal.payments.models import UNPAID_REFUND_STATUSES, Refund
from portal.rendering import portal_url

MAIL_RETRIES = 5
# A notice queued with its refund gets this long before the sweep sends it instead.
NOTICE_GRACE = timedelta(minutes=10)
NOTICE_WINDOW = timedelta(days=7)
NOTICE_BATCH = 500


def refund_message(refund: Refund) -> Message:
    """The e-mail telling the payer what was refunded, to which card, and for what."""
    payment = refund.payment
    amount = format_money(refund.amount, refund.currency)
    return emails.compose(
        "refund",
        subject=f"Your refund of {amount} from M4SH",
        to=[payment.payer.email],
        refund=refund,
        payment=payment,
        booking=payment.booking,
        amount=amount,
        payment_url=portal_url("payments.payment", payment_id=payment.uuid),
    )


def send_notice(refund_id: int) -> bool:
    """E-mail the notice of a refund of a payment without an invoice, unless it has gone
    out; True if this call sent it. A refund with a credit note, or one the provider could
    not pay out, gets none from here."""
    unsent = _needing_notice().where(Refund.id == refund_id)
    return emails.send_once(unsent, refund_message, "notice_sent_at")


def _needing_notice() -> sa.Select:
    invoiced = sa.exists().where(Invoice.payment_id == Refund.payment_id)
    return sa.select(Refund).where(
        Refund.notice_sent_at.is_(None),
        Refund.status.not_in(UNPAID_REFUND_STATUSES),
        ~invoiced,
    )


def unsent_notice_ids(now: datetime) -> list[int]:
    """Refunds of the last week still waiting for their notice after a few minutes."""
    query = (
        _needing_notice()
        .where(Refund.created_at.between(now - NOTICE_WINDOW, now - NOTICE_GRACE))
        .order_by(Refund.created_at)
        .limit(NOTICE_BATCH)
        .with_only_columns(Refund.id)
    )
    return list(db.session.scalars(query))


@shared_task(bind=True, name="send_refund_notice", max_retries=MAIL_RETRIES, ignore_result=True)
def send_refund_notice(self, refund_id: int) -> bool:
    """E-mail a refund's notice after its transaction committed."""
    return emails.send_from_task(self, send_notice, refund_id, "refund notice")


@shared_task(name="send_missing_refund_notices")
def send_missing_refund_notices() -> str:
    """Queue the refund notices that have not gone out."""
    ids = unsent_notice_ids(utcnow())
    for refund_id in ids:
        send_refund_notice.delay(refund_id)
    return f"refund notices queued: {len(ids)}"
