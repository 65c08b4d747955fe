"""Paying an open invoice by card, and voiding one that may have an attempt under way.

An invoice an admin issued is paid like a lesson: an `invoice` payment row flushed
before the provider is asked for an intent, confirmed by the same confirm call, Stripe.js
step and webhook, and ended by the same outcome functions. Its success makes the money
platform revenue and marks the invoice paid in the same transaction
(`effects.on_payment_succeeded`). The amount is always the invoice's total.

Locks: a payment's row before its invoice's, on every path (the success marks the
invoice paid with the payment locked), so a confirmation, a second tab and a void never
wait on each other in a circle. Starting an attempt runs one at a time per invoice
(`serialize_on`, taken before any row): a tab that finds the other tab's attempt locks it
before the invoice, and two tabs cannot start two attempts (a partial unique index backs
this up). Paid and void are
final: any other step is refused with 409.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from flask import current_app

from portal.accounts.models import User
from portal.db import serialize_on
from portal.errors import Conflict, InvalidTransition, ValidationError
from portal.extensions import db
from portal.invoices.models import Invoice, InvoiceStatus
from portal.invoices.services import get_invoice_for, lock_invoice, void_invoice
from portal.payments.cards import own_payment_method
from portal.payments.intents import PaymentStep, card_way, open_intent, resume_intent
from portal.payments.lookups import KEY_NAMESPACE, lock_payment, require_student
from portal.payments.models import (
    COLLECTED_STATUSES,
    Payment,
    PaymentStatus,
    PaymentType,
)
from portal.payments.outcome import abandon_pending_payment


def create_invoice_payment_intent(
    student: User, invoice_id: object, *, payment_method_id: object = None
) -> PaymentStep:
    """Start paying an open invoice, or resume the attempt already under way."""
    require_student(student)
    invoice = get_invoice_for(student, invoice_id)
    method = None if payment_method_id is None else own_payment_method(student, payment_method_id)
    # Without this, a tab that saw no attempt (and takes the invoice, then the new attempt)
    # and one that saw the attempt (and takes it, then the invoice) wait on each other.
    serialize_on(f"invoice-payment-start-{invoice.id}")
    pending = _pending_attempt(invoice.id)
    if pending is not None:
        lock_payment(pending)  # the payment before its invoice, as every payment path
    invoice = lock_invoice(invoice.id)
    check_invoice_payable(invoice)
    if pending is not None and pending.status == PaymentStatus.PENDING:
        return resume_intent(pending, method)
    attempts = db.session.scalar(
        sa.select(sa.func.count()).select_from(Payment).where(Payment.invoice_id == invoice.id)
    )
    payment = _new_invoice_payment(student, invoice, attempts, way=card_way(method))
    return open_intent(student, payment, method)


def _pending_attempt(invoice_id: int) -> Payment | None:
    return db.session.scalar(
        sa.select(Payment).where(
            Payment.invoice_id == invoice_id, Payment.status == PaymentStatus.PENDING
        )
    )


def check_invoice_payable(invoice: Invoice) -> None:
    """Refuse an invoice that is not open for payment (409) or not in the platform's
    currency (400)."""
    if invoice.status == InvoiceStatus.PAID:
        raise InvalidTransition("This invoice is already paid.", code="already_paid")
    if invoice.status == InvoiceStatus.VOID:
        raise InvalidTransition("This invoice was voided; there is nothing to pay.")
    if invoice.status != InvoiceStatus.OPEN:
        raise InvalidTransition("This invoice is not open for payment yet.")
    platform = current_app.config["PLATFORM_CURRENCY"]
    if invoice.currency != platform:
        raise ValidationError(
            f"Payments are taken in {platform.upper()} only.", code="currency_not_supported"
        )
    if invoice.total <= 0:
        raise Conflict(
            "This invoice totals nothing; there is nothing to pay.", code="nothing_to_pay"
        )


def _new_invoice_payment(student: User, invoice: Invoice, attempts: int, *, way: str) -> Payment:
    """A pending payment of the invoice's total, all of it the platform's (no tutor)."""
    issued = int(invoice.issued_at.timestamp())
    key = f"invoice-{invoice.id}-{issued}-attempt-{attempts + 1}-{way}"
    payment = Payment(
        uuid=uuid.uuid5(KEY_NAMESPACE, key),
        payer_id=student.id,
        recipient_id=None,
        payment_type=PaymentType.INVOICE,
        status=PaymentStatus.PENDING,
        amount=invoice.total,
        currency=invoice.currency,
        platform_fee=invoice.total,
        net_amount=0,
        idempotency_key=key,
        invoice_id=invoice.id,
    )
    db.session.add(payment)
    db.session.flush()
    return payment


def check_invoice_still_payable(payment: Payment) -> None:
    """Before confirming an invoice's attempt: its invoice must still be open."""
    if payment.invoice_id is None:
        return
    status = db.session.scalar(sa.select(Invoice.status).where(Invoice.id == payment.invoice_id))
    if status == InvoiceStatus.VOID:
        raise InvalidTransition("This invoice was voided; there is nothing to pay.")


def void_open_invoice(admin: User, invoice_id: object) -> Invoice:
    """Void an open invoice. An attempt to pay it still under way at the provider is
    cancelled there first; if it turns out to have been paid, that success is recorded
    and the invoice, now paid, is returned unvoided (the caller commits and says so)."""
    invoice = get_invoice_for(admin, invoice_id)
    pending = _pending_attempt(invoice.id)
    if pending is not None and abandon_pending_payment(pending).status in COLLECTED_STATUSES:
        return lock_invoice(invoice.id)
    return void_invoice(invoice)
