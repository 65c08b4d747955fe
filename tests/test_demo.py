"""`flask demo` on a fresh database: every paid lesson went through the real services, so
the ledger, the payments, the invoices and the admin's totals all tell the same story."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from portal.accounts.models import Role, User
from portal.bookings.models import Booking, BookingStatus
from portal.db import utcnow
from portal.errors import InvalidTransition
from portal.extensions import db
from portal.invoices.models import Invoice
from portal.ledger.accounts import platform_balances
from portal.ledger.models import LedgerAccount, LedgerEntry, LedgerPosting
from portal.money import format_money
from portal.payments import refunds
from portal.payments.models import COLLECTED_STATUSES, Payment, Refund
from portal.payments.reports import platform_totals
from portal.wallets.models import TutorWallet
from tests.support.ledger import assert_ledger_ok


def _demo(app) -> None:
    result = app.test_cli_runner().invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()


def _ledger_earnings(tutor: User) -> int:
    """What the ledger says the tutor earned and keeps: their accounts' balances (owed to
    them, so credits), pending, available and on its way together."""
    owed = db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(LedgerPosting.amount), 0))
        .join(LedgerAccount, LedgerAccount.id == LedgerPosting.account_id)
        .where(LedgerAccount.tutor_id == tutor.id)
    )
    return -owed


def _payments_net(tutor: User) -> int:
    """The tutor's share of their lessons' payments, less the share of each refund."""
    payments = db.session.scalars(
        sa.select(Payment).where(
            Payment.recipient_id == tutor.id, Payment.status.in_(COLLECTED_STATUSES)
        )
    ).all()
    return sum(p.net_amount - sum(r.net_part for r in p.refunds) for p in payments)


def test_the_ledger_check_passes_after_the_demo(app):
    _demo(app)
    result = app.test_cli_runner().invoke(args=["ledger", "check"])
    assert result.exit_code == 0 and "Ledger OK" in result.output, result.output
    assert_ledger_ok()


def test_each_tutors_ledger_earnings_are_their_lessons_payments_net(app):
    _demo(app)
    tutors = db.session.scalars(sa.select(User).where(User.role == Role.TUTOR)).all()
    earned = {t.email: (_ledger_earnings(t), _payments_net(t)) for t in tutors}
    # tutor@: 60, 90 and 60 minutes at 45.00, less 15%. tutor2@: 45 minutes at 60.00
    # (38.25 to the tutor) of which 10.00 was refunded (8.50 of it the tutor's), and a
    # lesson refunded in full.
    assert earned == {
        "tutor@m4sh.app": (3825 + 5737 + 3825, 3825 + 5737 + 3825),
        "tutor2@m4sh.app": (3825 - 850, 3825 - 850),
    }


def test_each_paid_lesson_has_its_payment_and_its_invoice(app):
    _demo(app)
    lessons = db.session.scalars(sa.select(Booking).order_by(Booking.id)).all()
    paid = {}
    for lesson in lessons:
        payments = db.session.scalars(
            sa.select(Payment).where(
                Payment.booking_id == lesson.id, Payment.status.in_(COLLECTED_STATUSES)
            )
        ).all()
        paid[lesson.id] = payments
        if lesson.status in (BookingStatus.SCHEDULED, BookingStatus.COMPLETED):
            assert len(payments) == 1, lesson
    paid_payments = [p for payments in paid.values() for p in payments]
    assert len(paid_payments) == 5
    for payment in paid_payments:
        invoice = db.session.scalar(sa.select(Invoice).where(Invoice.payment_id == payment.id))
        assert invoice is not None and invoice.total == payment.amount
        assert invoice.paid_at == payment.succeeded_at
        # Each refund has its credit note: the invoice says what was given back.
        assert invoice.credited == payment.amount_refunded
    statuses = sorted(p.status for p in paid_payments)
    assert statuses == ["partially_refunded", "refunded", "succeeded", "succeeded", "succeeded"]


def test_admin_payments_totals_are_the_ledgers(app, login):
    _demo(app)
    totals = platform_totals()
    ledger = {account.code: balance for account, balance in platform_balances()}
    assert totals.net_volume == ledger["provider_cash"] == 19250
    assert totals.net_fees == ledger["fee_revenue"] == 2888
    refunds = db.session.scalar(sa.select(sa.func.sum(Refund.amount)))
    assert totals.refunds == refunds == 7000
    admin = db.session.scalar(sa.select(User).where(User.email == "admin@m4sh.app"))
    page = login(admin, password="demo-password-1").get("/admin/payments").text
    for figure in (totals.volume, totals.refunds, totals.net_volume, totals.net_fees):
        assert format_money(figure, "usd") in page
    ledger_page = login(admin, password="demo-password-1").get("/admin/ledger/").text
    assert format_money(19250, "usd") in ledger_page


def test_a_demo_payment_has_no_charge_to_refund_and_the_admin_is_told(app, login):
    _demo(app)
    admin = db.session.scalar(sa.select(User).where(User.email == "admin@m4sh.app"))
    payment = db.session.scalar(sa.select(Payment).where(Payment.status == "succeeded"))
    with pytest.raises(InvalidTransition, match="no charge to refund"):
        refunds.process_refund(admin, payment.uuid, reason="Try")
    db.session.rollback()
    page = login(admin, password="demo-password-1").get(f"/admin/payments/{payment.uuid}").text
    assert "no charge to refund" in page and "Review refund" not in page


def test_under_a_long_hold_the_demo_releases_nothing_early(app, monkeypatch):
    monkeypatch.setitem(app.config, "EARNINGS_HOLD_DAYS", 30)
    _demo(app)
    wallet = db.session.scalar(
        sa.select(TutorWallet).join(User, User.id == TutorWallet.tutor_id)
        .where(User.email == "tutor@m4sh.app")
    )  # fmt: skip
    assert (wallet.pending, wallet.available) == (3825 + 5737 + 3825, 0)
    later = db.session.scalar(sa.select(sa.func.max(LedgerEntry.created_at)))
    assert later <= utcnow()
    assert_ledger_ok()
