"""The invoice service: create, open (finalize), mark paid, void; lesson invoices.

Every function flushes and never commits: the caller owns the unit of work. Figures:
`subtotal = Σ quantity × unit_price`, `tax = round_half_up((subtotal − discount) × rate
/ 100)`, `total = subtotal − discount + tax`, fixed once the invoice is open. Numbers are
`INV-YYYY-NNNNNN`, gapless within a year of issue: taking one (`next_number`, when an
invoice is opened or a lesson invoice written) locks the year's counter row until the
caller's transaction ends.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import current_app

from portal.accounts.models import Role, User
from portal.db import new_uuid, parse_id, utcnow
from portal.errors import InvalidTransition, NotFound, ValidationError
from portal.extensions import db
from portal.invoices.models import (
    Invoice,
    InvoiceItem,
    InvoiceKind,
    InvoiceStatus,
)
from portal.invoices.numbering import issue_at_commit, next_number
from portal.money import require_int, round_half_up

log = logging.getLogger(__name__)

MAX_LINES = 50
MAX_QUANTITY = 1000

# action -> (statuses it may start from, status it ends in)
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "finalize": (frozenset({InvoiceStatus.DRAFT}), InvoiceStatus.OPEN),
    "mark_paid": (frozenset({InvoiceStatus.OPEN}), InvoiceStatus.PAID),
    "void": (frozenset({InvoiceStatus.OPEN}), InvoiceStatus.VOID),
}


@dataclass(frozen=True)
class Line:
    description: str
    quantity: int
    unit_price: int
    booking_id: int | None = None


@dataclass(frozen=True)
class Totals:
    subtotal: int
    discount: int
    tax: int
    total: int


def compute_totals(lines: list[Line], discount: int, tax_rate: Decimal) -> Totals:
    subtotal = sum(line.quantity * line.unit_price for line in lines)
    if discount > subtotal:
        raise ValidationError(
            "The discount is more than the subtotal.",
            fields={"discount": ["At most the subtotal."]},
        )
    tax = round_half_up((subtotal - discount) * Decimal(tax_rate) / 100)
    return Totals(subtotal, discount, tax, subtotal - discount + tax)


def split_tax_included(amount: int, tax_rate: Decimal) -> tuple[int, int]:
    """(price, tax) of an amount charged with tax in it; they always add up to `amount`.

    The price is the one the invoice formula takes back to `amount` where there is one;
    rounding skips some totals (at 20 %, a price of 3 has tax 0.6 → 1, so nothing totals
    3), and there the tax is what remains, a cent off the formula.
    """
    if not tax_rate:
        return amount, 0
    rate = Decimal(tax_rate)
    guess = round_half_up(Decimal(amount) * 100 / (100 + rate))
    for price in (guess, guess - 1, guess + 1):
        if 0 <= price <= amount and price + round_half_up(price * rate / 100) == amount:
            return price, amount - price
    price = min(max(guess, 0), amount)
    return price, amount - price


# --- input ----------------------------------------------------------------------------


def check_lines(lines: object) -> list[Line]:
    if not isinstance(lines, list | tuple) or not lines:
        raise ValidationError(
            "An invoice needs at least one line.", fields={"items": ["Add a line."]}
        )
    if len(lines) > MAX_LINES:
        raise ValidationError(
            f"At most {MAX_LINES} lines.", fields={"items": [f"At most {MAX_LINES} lines."]}
        )
    checked = []
    maximum = current_app.config["MAX_AMOUNT"]
    for line in lines:
        if not isinstance(line, Line):
            raise TypeError("lines must be Line objects")
        description = line.description.strip() if isinstance(line.description, str) else ""
        if not description or len(description) > 255:
            raise ValidationError(
                "Each line needs a description of at most 255 characters.",
                fields={"description": ["1 to 255 characters."]},
            )
        quantity = require_int(line.quantity, "quantity")
        price = require_int(line.unit_price, "unit_price")
        if not 0 < quantity <= MAX_QUANTITY:
            raise ValidationError(
                f"Quantities are 1 to {MAX_QUANTITY}.", fields={"quantity": ["Out of range."]}
            )
        if not 0 <= price <= maximum:
            raise ValidationError(
                "The unit price is out of range.",
                fields={"unit_price": ["Out of range."]},
            )
        checked.append(Line(description, quantity, price, line.booking_id))
    return checked


# --- the lifecycle --------------------------------------------------------------------


def create_invoice(
    *,
    user_id: int,
    currency: str,
    lines: list[Line],
    discount: int = 0,
    payment_id: int | None = None,
    kind: str = InvoiceKind.LESSON,
    subscription_id: int | None = None,
) -> Invoice:
    """A draft invoice for `user_id` with `lines`; its totals are worked out as it stands
    and fixed when it is opened."""
    require_int(user_id, "user_id")
    discount = require_int(discount, "discount")
    if discount < 0:
        raise ValidationError("The discount cannot be negative.", fields={"discount": ["≥ 0."]})
    invoice = _new_invoice(user_id, currency, check_lines(lines), discount, payment_id)
    invoice.kind = InvoiceKind(kind)
    invoice.subscription_id = subscription_id
    db.session.add(invoice)
    db.session.flush()
    return invoice


def draft_manual_invoice(*, student_id: object, lines: list[Line], discount: int = 0) -> Invoice:
    """A draft an admin writes by hand for a student, in the platform currency; its tax
    is worked out now and again, at the rate of the day, when it is opened."""
    student = _student(student_id)
    if any(isinstance(line, Line) and line.unit_price == 0 for line in lines):
        raise ValidationError(
            "Each line of an invoice needs a price.",
            fields={"unit_price": ["More than zero."]},
        )
    return create_invoice(
        user_id=student.id,
        currency=current_app.config["PLATFORM_CURRENCY"],
        lines=lines,
        discount=discount,
        kind=InvoiceKind.MANUAL,
    )


def _student(student_id: object) -> User:
    key = parse_id(student_id)
    user = db.session.get(User, key) if key is not None else None
    if user is None or user.role != Role.STUDENT or not user.is_active:
        raise ValidationError(
            "Invoices are for students: choose one.",
            fields={"student_id": ["No student with this id."]},
        )
    return user


def _new_invoice(user_id, currency, lines: list[Line], discount: int, payment_id) -> Invoice:
    invoice = Invoice(
        user_id=user_id,
        currency=currency,
        payment_id=payment_id,
        status=InvoiceStatus.DRAFT,
        discount=discount,
        items=[
            InvoiceItem(
                description=line.description,
                quantity=line.quantity,
                unit_price=line.unit_price,
                total=line.quantity * line.unit_price,
                booking_id=line.booking_id,
            )
            for line in lines
        ],
    )
    _set_totals(invoice, lines, current_app.config["TAX_RATE_PERCENT"])
    return invoice


def _set_totals(invoice: Invoice, lines: list[Line], tax_rate: Decimal) -> None:
    totals = compute_totals(lines, invoice.discount, tax_rate)
    invoice.tax_rate = Decimal(tax_rate)
    invoice.subtotal, invoice.tax, invoice.total = totals.subtotal, totals.tax, totals.total


def finalize_invoice(invoice: Invoice, *, now: datetime | None = None) -> Invoice:
    """Open a draft: number it, fix its totals at today's tax rate, date it, set it due."""
    invoice, opened = _allowed(invoice, "finalize")
    now = now or utcnow()
    lines = [Line(i.description, i.quantity, i.unit_price) for i in invoice.items]
    _set_totals(invoice, lines, current_app.config["TAX_RATE_PERCENT"])
    invoice.number = next_number(now.year)
    invoice.issued_at = now
    invoice.due_at = now + timedelta(days=current_app.config["INVOICE_DUE_DAYS"])
    invoice.status = opened
    db.session.flush()
    return invoice


def mark_paid(invoice: Invoice, *, paid_at: datetime | None = None) -> Invoice:
    invoice, invoice.status = _allowed(invoice, "mark_paid")
    invoice.paid_at = paid_at or utcnow()
    db.session.flush()
    return invoice


def settle_invoice(invoice_id: int, *, payment_id: int, paid_at: datetime) -> Invoice | None:
    """An open invoice's payment went through: the invoice is paid, by that payment.

    Called in the payment's own transaction. An invoice that is no longer open (voided
    while the payment was at the bank) stays as it is and None is returned: the money is
    recorded all the same and an admin refunds it.
    """
    invoice = lock_invoice(invoice_id)
    if invoice.status != InvoiceStatus.OPEN:
        log.warning("invoice %s was paid while %s", invoice.uuid, invoice.status)
        return None
    invoice.payment_id = payment_id
    return mark_paid(invoice, paid_at=paid_at)


def void_invoice(invoice: Invoice) -> Invoice:
    """An open invoice that should not be paid; its number stays used (a draft has none
    yet and is simply not opened)."""
    invoice, invoice.status = _allowed(invoice, "void")
    invoice.voided_at = utcnow()
    db.session.flush()
    return invoice


def _allowed(invoice: Invoice, action: str) -> tuple[Invoice, str]:
    """The invoice locked and reloaded, and the status `action` takes it to; 409 if the
    action is not allowed from its status."""
    invoice = lock_invoice(invoice.id)
    sources, target = TRANSITIONS[action]
    if invoice.status not in sources:
        article = "An" if invoice.status == InvoiceStatus.OPEN else "A"
        raise InvalidTransition(f"{article} {invoice.status} invoice cannot be {_DONE[action]}.")
    return invoice, target


_DONE = {"finalize": "opened", "mark_paid": "marked paid", "void": "voided"}


def lock_invoice(invoice_id: int) -> Invoice:
    invoice = db.session.scalar(
        sa.select(Invoice)
        .where(Invoice.id == invoice_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if invoice is None:
        raise NotFound("No such invoice.")
    return invoice


# --- subscription invoices ------------------------------------------------------------


@dataclass(frozen=True)
class SubscriptionInvoice:
    """What the invoice for a paid Stripe subscription invoice says."""

    user_id: int
    subscription_id: int
    provider_invoice_id: str
    description: str
    amount: int  # what Stripe collected, tax included
    currency: str
    paid_at: datetime


def create_subscription_invoice(spec: SubscriptionInvoice, *, first_time: bool = False) -> Invoice:
    """The invoice for a paid Stripe subscription invoice: issued and paid when Stripe was
    paid, one per Stripe invoice (a second call returns the first).

    One line, the plan's period, for exactly what Stripe collected (tax included, split
    like a lesson's). It is written as a draft and numbered and paid right before the
    transaction commits (`numbering.issue_at_commit`), so renewals side by side hold the
    year's counter only for their commit. `first_time`: the caller has just found, under
    the subscription's lock, that the Stripe invoice has none, so none is looked for (the
    unique `provider_invoice_id` would refuse a second).
    """
    if not first_time:
        existing = invoice_of_provider_invoice(spec.provider_invoice_id)
        if existing is not None:
            return existing
    return create_subscription_invoices([spec])[0]


def create_subscription_invoices(specs: list[SubscriptionInvoice]) -> list[Invoice]:
    """`create_subscription_invoice` for many Stripe invoices that have none yet (renewal
    day, under their subscriptions' locks): the invoices in one insert, their lines in
    another (bulk inserts: the unit of work's flush costs a millisecond per invoice)."""
    tax_rate = Decimal(current_app.config["TAX_RATE_PERCENT"])
    rows, lines = [], []
    for spec in specs:
        amount = require_int(spec.amount, "amount")
        price, tax = split_tax_included(amount, tax_rate)
        [line] = check_lines([Line(spec.description[:255], 1, price)])
        rows.append(
            {
                "uuid": new_uuid(),
                "user_id": spec.user_id,
                "kind": InvoiceKind.SUBSCRIPTION,
                "subscription_id": spec.subscription_id,
                "provider_invoice_id": spec.provider_invoice_id,
                "status": InvoiceStatus.DRAFT,
                "currency": spec.currency,
                "subtotal": line.quantity * line.unit_price,
                "discount": 0,
                "tax_rate": tax_rate,
                "tax": tax,
                "total": amount,
                "issued_at": spec.paid_at,
                "due_at": spec.paid_at,
                "paid_at": spec.paid_at,
            }
        )
        lines.append(line)
    invoices = list(
        db.session.scalars(
            sa.insert(Invoice).returning(Invoice, sort_by_parameter_order=True), rows
        )
    )
    db.session.execute(
        sa.insert(InvoiceItem),
        [
            {
                "invoice_id": invoice.id,
                "description": line.description,
                "quantity": line.quantity,
                "unit_price": line.unit_price,
                "total": line.quantity * line.unit_price,
            }
            for invoice, line in zip(invoices, lines, strict=True)
        ],
    )
    # Numbered paid as the transaction commits: renewals run many at once, side by side.
    for spec, invoice in zip(specs, invoices, strict=True):
        issue_at_commit(invoice, spec.paid_at.year, InvoiceStatus.PAID)
    return invoices


def invoice_of_provider_invoice(provider_invoice_id: str) -> Invoice | None:
    return db.session.scalar(
        sa.select(Invoice).where(Invoice.provider_invoice_id == provider_invoice_id)
    )


# --- reading --------------------------------------------------------------------------


def invoices_for(user: User) -> sa.Select:
    """A student's own invoices, newest first (drafts are the admins' until opened); an
    admin sees everyone's."""
    query = sa.select(Invoice).order_by(Invoice.created_at.desc(), Invoice.id.desc())
    if user.role != Role.ADMIN:
        query = query.where(Invoice.user_id == user.id, Invoice.status != InvoiceStatus.DRAFT)
    # Each row reads as credited or not: its credit notes come in one more query.
    return query.options(so.joinedload(Invoice.user), so.selectinload(Invoice.credit_notes))


def invoice_of_payment(payment_id: int) -> Invoice | None:
    return db.session.scalar(sa.select(Invoice).where(Invoice.payment_id == payment_id))


def get_invoice_for(user: User, invoice_id: object) -> Invoice:
    """The invoice by uuid if `user` may see it (its student once it is opened, or an
    admin); else 404."""
    try:
        key = uuid.UUID(str(invoice_id))
    except ValueError:
        raise NotFound("No such invoice.") from None
    query = sa.select(Invoice).where(Invoice.uuid == key)
    if user.role != Role.ADMIN:
        query = query.where(Invoice.user_id == user.id, Invoice.status != InvoiceStatus.DRAFT)
    invoice = db.session.scalar(query)
    if invoice is None:
        raise NotFound("No such invoice.")
    return invoice
