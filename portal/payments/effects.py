"""What a payment's money does elsewhere, called in one visible order.

The outcome and refund paths (`outcome.py`, `refunds.py`) call these once per change,
inside their unit of work, after the payment row is flushed and before the commit:

- a lesson payment succeeds: the tutor's net goes into pending through the ledger, then
  the student's paid invoice is written (it takes the year's invoice number), then the
  receipt is queued to be mailed after the commit;
- an invoice's payment succeeds: the money is the platform's revenue in the ledger, the
  invoice is marked paid (locking its row), and the receipt is queued;
- a payment is refunded: the tutor's share of the refund comes back out of the wallet,
  then a credit note is written against the payment's invoice (it takes the year's
  credit note number) and e-mailed after the commit; a payment without an invoice gets
  a refund notice e-mailed instead;
- a refund fails at the provider: that share goes back to the tutor, and the refund's
  credit note is cancelled by a reversing note, also e-mailed;
- an attempt fails: no money moves.

Each ends by telling the audit log through the payment signals (`signals.py`), whose
only receivers are the audit log's. Anything that raises rolls the whole change back.
The ledger calls are idempotent by key and a payment gets one invoice, so a success or a
refund seen twice never posts or invoices twice.
"""

from __future__ import annotations

from portal.after_commit import enqueue_after_commit
from portal.invoices import credit_notes
from portal.invoices.lesson_invoices import create_lesson_invoice
from portal.invoices.revenue import (
    record_invoice_payment,
    record_invoice_refund,
    reverse_invoice_refund,
)
from portal.invoices.services import invoice_of_payment, settle_invoice
from portal.invoices.tasks import send_credit_note_mail, send_payment_receipt
from portal.payments.models import Payment, PaymentType, Refund
from portal.payments.refund_notices import send_refund_notice
from portal.payments.signals import (
    payment_failed,
    payment_refunded,
    payment_succeeded,
    refund_reversed,
)
from portal.wallets.earnings import process_lesson_earning
from portal.wallets.refunds import process_refund_deduction, reverse_refund_deduction

# Ledger memos are at most this long.
MEMO_LENGTH = 255


def earning_key(payment: Payment) -> str:
    return f"payment:{payment.uuid}:captured"


def refund_key(refund: Refund) -> str:
    return f"refund:{refund.provider_refund_id or refund.uuid}"


def on_payment_succeeded(payment: Payment, *, actor_id: int | None, previous_status: str) -> None:
    """A payment just succeeded (once per payment): the tutor earns, the student gets the
    invoice and, after the commit, the receipt."""
    if payment.payment_type == PaymentType.LESSON:
        if payment.recipient_id is not None:
            _record_lesson_earning(payment, actor_id)
        # The invoice number comes from the year's counter row, which stays locked until
        # this transaction ends so that numbers have no gaps: every other payment's
        # success waits here for ours. It comes last, after the ledger, and nothing slow
        # (no provider call, no mail) follows it before the commit.
        invoice_id = create_lesson_invoice(payment, first_success=True)
        enqueue_after_commit(send_payment_receipt, invoice_id)
    elif payment.payment_type == PaymentType.INVOICE:
        record_invoice_payment(
            amount=payment.amount,
            payment_id=payment.id,
            key=earning_key(payment),
            actor_id=actor_id,
            memo=f"Invoice paid by {payment.payer.name}"[:MEMO_LENGTH],
        )
        invoice = settle_invoice(
            payment.invoice_id, payment_id=payment.id, paid_at=payment.succeeded_at
        )
        if invoice is not None:
            enqueue_after_commit(send_payment_receipt, invoice.id)
    payment_succeeded.send(payment, actor_id=actor_id, previous_status=previous_status)


def _record_lesson_earning(payment: Payment, actor_id: int | None) -> None:
    process_lesson_earning(
        tutor_id=payment.recipient_id,
        gross=payment.amount,
        fee=payment.platform_fee,
        idempotency_key=earning_key(payment),
        booking_id=payment.booking_id,
        payment_id=payment.id,
        actor_id=actor_id,
        memo=f"Paid by {payment.payer.name}"[:MEMO_LENGTH],
    )


def on_payment_failed(payment: Payment) -> None:
    """A pending attempt ended without collecting money: only the audit log hears of it."""
    payment_failed.send(payment)


def on_payment_refunded(payment: Payment, refund: Refund, *, actor_id: int | None = None) -> None:
    """A refund went through (once per refund): the tutor's share of it leaves the wallet."""
    if payment.payment_type == PaymentType.LESSON and payment.recipient_id is not None:
        process_refund_deduction(
            tutor_id=payment.recipient_id,
            refund=refund.amount,
            fee_part=refund.fee_part,
            idempotency_key=refund_key(refund),
            payment_id=payment.id,
            booking_id=payment.booking_id,
            actor_id=actor_id,
            memo=_refund_memo(payment, refund),
        )
    elif payment.payment_type == PaymentType.INVOICE:
        record_invoice_refund(
            amount=refund.amount,
            payment_id=payment.id,
            key=refund_key(refund),
            actor_id=actor_id,
            memo=_refund_memo(payment, refund),
        )
    _credit_invoice(payment, refund)
    payment_refunded.send(payment, refund=refund, actor_id=actor_id)


def on_refund_reversed(payment: Payment, refund: Refund, *, actor_id: int | None = None) -> None:
    """A recorded refund failed at the provider (once per refund): the money never reached
    the payer, so the tutor's share goes back to the tutor."""
    if payment.payment_type == PaymentType.LESSON and payment.recipient_id is not None:
        reverse_refund_deduction(
            tutor_id=payment.recipient_id,
            refund_key=refund_key(refund),
            idempotency_key=f"{refund_key(refund)}:reversed",
            actor_id=actor_id,
            memo=f"Refund to {payment.payer.name} failed: your share is back"[:MEMO_LENGTH],
        )
    elif payment.payment_type == PaymentType.INVOICE:
        reverse_invoice_refund(
            amount=refund.amount,
            payment_id=payment.id,
            key=f"{refund_key(refund)}:reversed",
            actor_id=actor_id,
            memo=f"Refund to {payment.payer.name} failed"[:MEMO_LENGTH],
        )
    reversal = credit_notes.reverse_for_refund(refund.id)
    if reversal is not None:
        enqueue_after_commit(send_credit_note_mail, reversal.id)
    refund_reversed.send(payment, refund=refund, actor_id=actor_id)


def _credit_invoice(payment: Payment, refund: Refund) -> None:
    """The refund's credit note against the payment's invoice, whose e-mail tells the
    student; its number is taken last, as the invoice's is. A payment without an invoice
    has nothing to credit, and the student gets the refund notice instead: one e-mail per
    refund either way."""
    invoice = invoice_of_payment(payment.id)
    if invoice is None:
        enqueue_after_commit(send_refund_notice, refund.id)
        return
    note = credit_notes.issue_for_refund(
        invoice, refund_id=refund.id, amount=refund.amount, reason=refund.reason
    )
    enqueue_after_commit(send_credit_note_mail, note.id)


def _refund_memo(payment: Payment, refund: Refund) -> str:
    memo = f"Refund to {payment.payer.name}"
    return (f"{memo}: {refund.reason}" if refund.reason else memo)[:MEMO_LENGTH]
