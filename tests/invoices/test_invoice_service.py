"""The invoice lifecycle, figures and numbers through the service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from portal.errors import InvalidTransition, ValidationError
from portal.extensions import db
from portal.invoices import services
from portal.invoices.models import Invoice, InvoiceStatus
from portal.invoices.services import Line, compute_totals, split_tax_included


def draft(user, *lines, discount=0):
    return services.create_invoice(
        user_id=user.id,
        currency="usd",
        lines=list(lines) or [Line("Lesson", 1, 4500)],
        discount=discount,
    )


def test_the_figures_follow_the_formula():
    lines = [Line("Lesson", 2, 4500), Line("Materials", 3, 333)]
    assert compute_totals(lines, 0, Decimal("0")) == services.Totals(9999, 0, 0, 9999)
    # tax = round_half_up((9999 - 999) * 7.5 / 100) = round_half_up(675.0) = 675
    assert compute_totals(lines, 999, Decimal("7.5")) == services.Totals(9999, 999, 675, 9675)
    # 0.5 rounds up: (101 - 0) * 0.5 / 100 = 0.505 -> 1
    assert compute_totals([Line("x", 1, 101)], 0, Decimal("0.5")).tax == 1


@given(
    amount=st.integers(min_value=0, max_value=10_000_000),
    rate=st.decimals(min_value=0, max_value=50, places=2),
)
def test_a_charge_with_tax_in_it_splits_into_price_and_tax_that_add_up(amount, rate):
    price, tax = split_tax_included(amount, rate)
    assert price + tax == amount and price >= 0 and tax >= 0
    # The tax is the formula's, or a cent off it where rounding skips the exact total.
    assert abs(tax - compute_totals([Line("Lesson", 1, price)], 0, rate).tax) <= 1


def test_a_lesson_invoice_totals_what_was_charged_with_tax_in_it(app, paid_lesson, monkeypatch):
    from tests.invoices.conftest import invoice_of

    monkeypatch.setitem(app.config, "TAX_RATE_PERCENT", Decimal("20"))
    invoice = invoice_of(paid_lesson())
    assert (invoice.subtotal, invoice.tax, invoice.total) == (3750, 750, 4500)
    # No price gives 4509 (3757 → 4508, 3758 → 4510): the tax is the remainder.
    assert split_tax_included(4509, Decimal("20")) == (3758, 751)


def test_a_draft_is_opened_with_the_next_number_and_a_due_date(app, student):
    invoice = draft(student)
    assert (invoice.status, invoice.number, invoice.total) == (InvoiceStatus.DRAFT, None, 4500)
    now = datetime(2026, 11, 27, 12, tzinfo=UTC)
    services.finalize_invoice(invoice, now=now)
    second = services.finalize_invoice(draft(student), now=now)
    db.session.commit()
    assert (invoice.status, invoice.number) == (InvoiceStatus.OPEN, "INV-2026-000001")
    assert second.number == "INV-2026-000002"
    assert invoice.due_at == now + timedelta(days=app.config["INVOICE_DUE_DAYS"])
    # A new year starts again at 1.
    later = services.finalize_invoice(draft(student), now=datetime(2027, 1, 1, tzinfo=UTC))
    assert later.number == "INV-2027-000001"


def test_the_tax_rate_is_fixed_when_the_invoice_opens(app, student, monkeypatch):
    invoice = draft(student, Line("Lesson", 1, 10000))
    monkeypatch.setitem(app.config, "TAX_RATE_PERCENT", Decimal("20"))
    services.finalize_invoice(invoice)
    monkeypatch.setitem(app.config, "TAX_RATE_PERCENT", Decimal("5"))
    services.mark_paid(invoice)
    db.session.commit()
    assert (invoice.tax_rate, invoice.tax, invoice.total) == (Decimal("20"), 2000, 12000)


def test_a_rolled_back_invoice_gives_its_number_back(student):
    services.finalize_invoice(draft(student))
    db.session.commit()
    services.finalize_invoice(draft(student))
    db.session.rollback()
    third = services.finalize_invoice(draft(student))
    db.session.commit()
    numbers = db.session.scalars(sa.select(Invoice.number).order_by(Invoice.number)).all()
    assert numbers == [numbers[0], third.number]
    assert third.number.endswith("000002")


@pytest.mark.parametrize(
    "steps, action, message",
    [
        ([], "mark_paid", "A draft invoice cannot be marked paid."),
        (["finalize"], "finalize", "An open invoice cannot be opened."),
        (["finalize", "mark_paid"], "void", "A paid invoice cannot be voided."),
        (["finalize", "mark_paid"], "mark_paid", "A paid invoice cannot be marked paid."),
        ([], "void", "A draft invoice cannot be voided."),
        (["finalize", "void"], "finalize", "A void invoice cannot be opened."),
    ],
)
def test_any_other_transition_is_refused_and_changes_nothing(student, steps, action, message):
    invoice = draft(student)
    for step in steps:
        _act(invoice, step)
    db.session.commit()
    before = (invoice.status, invoice.number, invoice.paid_at)
    with pytest.raises(InvalidTransition, match=message):
        _act(invoice, action)
    db.session.rollback()
    db.session.refresh(invoice)
    assert (invoice.status, invoice.number, invoice.paid_at) == before


def _act(invoice, action):
    return {
        "finalize": services.finalize_invoice,
        "mark_paid": services.mark_paid,
        "void": services.void_invoice,
    }[action](invoice)


def test_an_open_invoice_can_be_voided_and_its_number_stays_used(student):
    invoice = services.finalize_invoice(draft(student))
    services.void_invoice(invoice)
    next_one = services.finalize_invoice(draft(student))
    db.session.commit()
    assert (invoice.status, invoice.voided_at is not None) == (InvoiceStatus.VOID, True)
    assert next_one.number.endswith("000002")


def test_overdue_is_an_open_invoice_past_its_due_date(student):
    invoice = services.finalize_invoice(draft(student), now=datetime.now(UTC) - timedelta(days=30))
    assert (invoice.is_overdue, invoice.display_status) == (True, "overdue")
    services.mark_paid(invoice)
    assert invoice.display_status == "paid"


@pytest.mark.parametrize(
    "lines, discount, error",
    [
        ([], 0, ValidationError),
        ([Line("", 1, 100)], 0, ValidationError),
        ([Line("x" * 256, 1, 100)], 0, ValidationError),
        ([Line("Lesson", 0, 100)], 0, ValidationError),
        ([Line("Lesson", 1001, 100)], 0, ValidationError),
        ([Line("Lesson", 1, -1)], 0, ValidationError),
        ([Line("Lesson", 1, 10**12)], 0, ValidationError),
        ([Line("Lesson", 1, 100)], 101, ValidationError),
        ([Line("Lesson", 1, 100)], -1, ValidationError),
        ([Line("Lesson", 1, 1.5)], 0, TypeError),
        ([Line("Lesson", "1", 100)], 0, TypeError),
        ([Line("Lesson", 1, 100)], "5", TypeError),
        ([Line("Lesson", 1, 100)] * 51, 0, ValidationError),
    ],
)
def test_bad_lines_are_refused_and_write_nothing(student, lines, discount, error):
    with pytest.raises(error):
        services.create_invoice(user_id=student.id, currency="usd", lines=lines, discount=discount)
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Invoice)) == 0
