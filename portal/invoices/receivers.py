"""A lesson payment that succeeds gets its paid invoice in the same transaction, and a
receipt once that transaction commits."""

from __future__ import annotations

from portal.after_commit import enqueue_after_commit
from portal.invoices.services import create_lesson_invoice
from portal.invoices.tasks import send_payment_receipt
from portal.payments.models import Payment, PaymentType
from portal.payments.signals import payment_succeeded


@payment_succeeded.connect
def invoice_lesson_payment(payment: Payment, **_) -> None:
    if payment.payment_type != PaymentType.LESSON:
        return
    invoice = create_lesson_invoice(payment)
    enqueue_after_commit(send_payment_receipt, invoice.id)
