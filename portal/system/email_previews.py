"""Each e-mail with made-up data, for the admin's preview page.

Every template pair under `templates/emails/` has an entry here (a test checks), built
from objects that are never added to the session: previewing writes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from portal.accounts.models import Role, User
from portal.bookings.models import Booking, BookingStatus
from portal.dates import format_local
from portal.db import utcnow
from portal.invoices.models import CreditNote, Invoice, InvoiceItem, InvoiceStatus
from portal.ledger.checks import Drift
from portal.money import format_money
from portal.payments.models import Payment, Refund
from portal.payouts.models import PayoutRequest, PayoutStatus
from portal.rendering import portal_url
from portal.subscriptions.models import Plan, Subscription


@dataclass(frozen=True)
class Preview:
    template: str
    title: str
    subject: str
    context: Callable[[], dict]


def _student() -> User:
    return User(email="ada@example.com", name="Ada Student", role=Role.STUDENT)


def _tutor() -> User:
    return User(email="grace@example.com", name="Grace Tutor", role=Role.TUTOR)


def _receipt() -> dict:
    now = utcnow()
    invoice = Invoice(
        number=f"INV-{now.year}-000042",
        status=InvoiceStatus.PAID,
        currency="usd",
        subtotal=4500,
        total=4500,
        paid_at=now,
        user=_student(),
        items=[
            InvoiceItem(
                description="Lesson with Grace Tutor, 60 min",
                quantity=1,
                unit_price=4500,
                total=4500,
            )
        ],
    )
    return {
        "invoice": invoice,
        "invoice_url": portal_url("invoices.index"),
        "pdf_url": portal_url("invoices.index"),
    }


def _manual_invoice() -> Invoice:
    now = utcnow()
    return Invoice(
        number=f"INV-{now.year}-000043",
        status=InvoiceStatus.OPEN,
        currency="usd",
        subtotal=6999,
        discount=499,
        tax_rate=0,
        tax=0,
        total=6500,
        issued_at=now - timedelta(days=15),
        due_at=now - timedelta(days=1),
        user=_student(),
        items=[
            InvoiceItem(
                description="Exam preparation pack", quantity=2, unit_price=2500, total=5000
            ),
            InvoiceItem(description="Mock exam marking", quantity=1, unit_price=1999, total=1999),
        ],
    )


def _invoice() -> dict:
    return {"invoice": _manual_invoice(), "invoice_url": portal_url("invoices.index")}


def _reminder() -> dict:
    return {**_invoice(), "step": 7, "days": 7}


def _credit_note(reversal: bool) -> Callable[[], dict]:
    def context() -> dict:
        invoice = _receipt()["invoice"]
        note = CreditNote(
            number=f"CN-{utcnow().year}-000007",
            amount=1500,
            currency="usd",
            reason="The lesson was cut short",
            issued_at=utcnow(),
            user=invoice.user,
        )
        if reversal:
            note = CreditNote(
                number=f"CN-{utcnow().year}-000008",
                amount=-1500,
                currency="usd",
                reason=f"The refund could not be paid out: {note.number} no longer applies.",
                issued_at=utcnow(),
                user=invoice.user,
                reverses_id=1,
                reverses=note,
            )
        return {
            "note": note,
            "invoice": invoice,
            "invoice_url": portal_url("invoices.index"),
            "pdf_url": portal_url("invoices.index"),
        }

    return context


def _refund() -> dict:
    """A full refund of a lesson paid without an invoice (one paid before invoices)."""
    starts = utcnow() + timedelta(days=3)
    booking = Booking(tutor=_tutor(), starts_at=starts, status=BookingStatus.CANCELLED)
    payment = Payment(
        uuid=uuid.uuid4(),
        payer=_student(),
        booking=booking,
        amount=4500,
        amount_refunded=4500,
        currency="usd",
        card_brand="visa",
        card_last4="4242",
    )
    refund = Refund(amount=4500, currency="usd", reason="Plans changed", payment=payment)
    return {
        "refund": refund,
        "payment": payment,
        "booking": booking,
        "amount": format_money(refund.amount, refund.currency),
        "payment_url": portal_url("payments.history"),
    }


def _payout(status: str) -> Callable[[], dict]:
    def context() -> dict:
        payout = PayoutRequest(
            amount=12050,
            currency="usd",
            status=status,
            payout_method="bank_transfer",
            destination="IBAN •••• 3000",
            bank_reference="BNK-2026-7731" if status == PayoutStatus.COMPLETED else None,
            failure_reason="The bank returned the transfer: account closed."
            if status == PayoutStatus.FAILED
            else None,
            processed_at=utcnow() - timedelta(minutes=5),
            tutor=_tutor(),
        )
        return {
            "payout": payout,
            "amount": format_money(payout.amount, payout.currency),
            "payouts_url": portal_url("payouts.index"),
        }

    return context


def _destination_changed() -> dict:
    return {
        "tutor": _tutor(),
        "changed": ["IBAN", "account holder"],
        "bank": "IBAN •••• 3000 (Grace Tutor)",
        "stripe": None,
        "settings_url": portal_url("payouts.settings"),
    }


def _ledger_drift() -> dict:
    return {
        "drifts": [
            Drift("entry_balances", "entry 1042 sums to 1 instead of 0"),
            Drift("wallet_matches_ledger", "tutor 7: wallet 10 000, ledger 9 990"),
        ],
        "ledger_url": portal_url("ledger_admin.index"),
    }


def _account(**context) -> Callable[[], dict]:
    def build() -> dict:
        urls = {
            "account_url": portal_url("accounts.account"),
            "forgot_url": portal_url("password_reset.forgot"),
            "preferences_url": portal_url("profile.notifications"),
        }
        return {"user": _student(), **urls, **context}

    return build


def _reset_link() -> str:
    # A made-up token: the link shows its shape and works for nobody.
    return portal_url("password_reset.reset", token="made-up-token")  # noqa: S106


def _when() -> str:
    return format_local(utcnow(), tz="Europe/Berlin")


def _subscription(**values) -> Callable[[], dict]:
    def context() -> dict:
        now = utcnow()
        plan = Plan(
            name="Four a month", price=16000, currency="usd", interval="month",
            lessons_per_month=4,
        )  # fmt: skip
        subscription = Subscription(
            plan=plan,
            student=_student(),
            current_period_start=now,
            current_period_end=now + timedelta(days=30),
            **({"status": "active"} | values),
        )
        return {
            "subscription": subscription,
            "plan": plan,
            "student": subscription.student,
            "subscription_url": portal_url("subscriptions.mine"),
        }

    return context


# A template with several states has one preview per state.
PREVIEWS: dict[str, Preview] = {
    "receipt": Preview("receipt", "Payment receipt", "Your receipt from M4SH: INV-…", _receipt),
    "invoice": Preview("invoice", "Invoice issued", "Invoice INV-… from M4SH: $65.00", _invoice),
    "invoice_reminder": Preview(
        "invoice_reminder",
        "Overdue reminder",
        "Reminder: invoice INV-… is 7 days overdue",
        _reminder,
    ),
    "credit_note": Preview(
        "credit_note",
        "Credit note (a refund)",
        "Your refund of $15.00: credit note CN-…",
        _credit_note(False),
    ),
    "credit_note_reversal": Preview(
        "credit_note",
        "Credit note reversal",
        "Refund of $15.00 not paid out: credit note CN-…",
        _credit_note(True),
    ),
    "refund": Preview("refund", "Refund", "Your refund of $45.00 from M4SH", _refund),
    "payout_sent": Preview(
        "payout_status",
        "Payout sent",
        "Your payout of $120.50 is on its way",
        _payout(PayoutStatus.COMPLETED),
    ),
    "payout_failed": Preview(
        "payout_status",
        "Payout failed",
        "Your payout of $120.50 could not be made",
        _payout(PayoutStatus.FAILED),
    ),
    "destination_changed": Preview(
        "destination_changed",
        "Payout details changed",
        "Your payout details were changed",
        _destination_changed,
    ),
    "subscription_started": Preview(
        "subscription_started",
        "Subscription started",
        "Your Four a month subscription has started",
        _subscription(),
    ),
    "subscription_payment_failed": Preview(
        "subscription_payment_failed",
        "Subscription payment failed",
        "Your Four a month payment did not go through",
        _subscription(status="past_due"),
    ),
    "subscription_trial_ending": Preview(
        "subscription_trial_ending",
        "Subscription trial ends in 3 days",
        "Your Four a month trial ends in 3 days",
        _subscription(status="trialing", trial_end=utcnow() + timedelta(days=3)),
    ),
    "subscription_ended": Preview(
        "subscription_ended",
        "Subscription ended",
        "Your Four a month subscription has ended",
        _subscription(status="expired", ended_at=utcnow()),
    ),
    "ledger_drift": Preview(
        "ledger_drift",
        "Ledger check found drifts",
        "Ledger check: 2 drift(s) found",
        _ledger_drift,
    ),
    "password_reset": Preview(
        "password_reset",
        "Password reset link",
        "Reset your M4SH password",
        lambda: _account(link=_reset_link(), minutes=60)(),
    ),
    "password_changed": Preview(
        "password_changed",
        "Password changed",
        "Your M4SH password was changed",
        lambda: _account(at=_when())(),
    ),
    "sign_in_alert": Preview(
        "sign_in_alert",
        "New sign-in alert",
        "New sign-in to your M4SH account",
        lambda: _account(browser="Firefox on Linux", ip="203.0.113.7", at=_when())(),
    ),
    "news": Preview(
        "news",
        "News (for those who turned it on)",
        "What's new at M4SH",
        _account(body="Lessons can now be booked in your own time zone.\n\nHappy teaching!"),
    ),
}
