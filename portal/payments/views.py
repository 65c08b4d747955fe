"""The student's billing pages: lessons to pay, the payment page, history, refunds, cards.

The payment page confirms on the server: the page script turns a new card into a Stripe
id (see static/js/stripe-adapter.js), the form posts it here with htmx, and the answer is
the page's status block — success, a 3-D Secure step for Stripe.js, a decline with the
issuer's message, or "try again". Error states answer 422 because that is the status the
portal's htmx configuration swaps in (base.html).
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, current_app, flash, redirect, request, url_for
from flask_login import current_user

from portal.accounts.decorators import student_required
from portal.bookings.forms import EmptyForm
from portal.bookings.models import Booking, BookingStatus
from portal.bookings.services import hold_expires_at
from portal.db import utcnow
from portal.errors import GatewayError, PortalError
from portal.extensions import db
from portal.invoices.models import Invoice, InvoiceStatus
from portal.invoices.services import invoice_of_payment
from portal.money import format_money
from portal.pagination import Page
from portal.payments import cards, confirmation, intents, lookups, refunds
from portal.payments.checkout import complete_checkout, start_checkout
from portal.payments.forms import PayForm, SavedCardForm, StudentRefundForm
from portal.payments.models import Payment, PaymentStatus
from portal.providers import uses_localstripe
from portal.rendering import render_page

bp = Blueprint("payments", __name__, url_prefix="/billing")


def stripe_settings() -> dict:
    config = current_app.config
    return {
        "publishable_key": config["STRIPE_PUBLISHABLE_KEY"],
        "js_url": config["STRIPE_JS_URL"],
        "mode": "localstripe" if uses_localstripe(config) else "stripe",
    }


@bp.get("")
@student_required
def billing():
    if request.args.get("checkout") == "cancelled":
        flash("Checkout was closed and nothing was charged.", "info")
    awaiting = db.session.scalars(
        sa.select(Booking)
        .where(
            Booking.student_id == current_user.id,
            Booking.status == BookingStatus.PENDING_PAYMENT,
            Booking.subscription_id.is_(None),
            Booking.starts_at > utcnow(),
        )
        .order_by(Booking.starts_at)
    ).all()
    recent = db.session.scalars(lookups.visible_payments(current_user).limit(5)).all()
    open_invoices = db.session.scalars(
        sa.select(Invoice)
        .where(Invoice.user_id == current_user.id, Invoice.status == InvoiceStatus.OPEN)
        .order_by(Invoice.due_at, Invoice.id)
    ).all()
    return render_page(
        "payments/billing.html",
        {
            "awaiting": awaiting,
            "overdue_invoices": [i for i in open_invoices if i.is_overdue],
            "open_invoices": [i for i in open_invoices if not i.is_overdue],
            "pending": {p.booking_id: p for p in _pending_payments(awaiting)},
            "recent": recent,
            "methods": cards.payment_methods_of(current_user),
            "form": EmptyForm(),
            "stripe": stripe_settings(),
            "hold_expires_at": hold_expires_at,
        },
    )


def _pending_payments(bookings) -> list[Payment]:
    if not bookings:
        return []
    return db.session.scalars(
        sa.select(Payment).where(
            Payment.booking_id.in_([b.id for b in bookings]),
            Payment.status == PaymentStatus.PENDING,
        )
    ).all()


@bp.post("/lessons/<int:booking_id>/pay")
@student_required
def pay_lesson(booking_id: int):
    step = intents.create_payment_intent(current_user, booking_id)
    db.session.commit()
    return redirect(url_for(".payment", payment_id=step.payment.uuid))


@bp.post("/lessons/<int:booking_id>/checkout")
@student_required
def checkout(booking_id: int):
    success = url_for(".checkout_return", _external=True) + "?session_id={CHECKOUT_SESSION_ID}"
    step = start_checkout(
        current_user,
        booking_id,
        success_url=success,
        cancel_url=url_for(".billing", checkout="cancelled", _external=True),
    )
    db.session.commit()
    if step.redirect_url:
        return redirect(step.redirect_url, code=303)
    flash("This lesson is already paid.", "info")
    return redirect(url_for(".payment", payment_id=step.payment.uuid))


@bp.get("/checkout/return")
@student_required
def checkout_return():
    payment = complete_checkout(current_user, request.args.get("session_id"))
    db.session.commit()
    return redirect(url_for(".payment", payment_id=payment.uuid))


@bp.get("/payments/<uuid:payment_id>")
@student_required
def payment(payment_id):
    payment = lookups.get_payment_for(current_user, payment_id)
    try:
        secret = confirmation.action_secret(payment)
    except GatewayError:
        secret = None  # Stripe unreachable: show the payment without resuming 3-D Secure
    return _payment_page(payment, client_secret=secret)


@bp.post("/payments/<uuid:payment_id>/confirm")
@student_required
def confirm(payment_id):
    payment = lookups.get_payment_for(current_user, payment_id)
    form = PayForm(cards.payment_methods_of(current_user))
    # After 3-D Secure the page asks for the payment's state, with no card.
    if request.form.get("after_action") == "1":
        choice = {}
    elif form.validate():
        choice = form.choice()
    else:
        return _payment_page(payment, form, status=422)
    try:
        step = confirmation.confirm_payment(current_user, payment.uuid, **choice)
    except PortalError as exc:
        db.session.rollback()
        return _payment_page(db.session.get(Payment, payment.id), form, error=exc, status=422)
    db.session.commit()
    return _payment_page(step.payment, form, client_secret=step.client_secret)


def _payment_page(payment, form=None, *, client_secret=None, error=None, status=200):
    methods = cards.payment_methods_of(current_user)
    return render_page(
        "payments/pay.html",
        {
            "payment": payment,
            "booking": payment.booking,
            "form": form or PayForm(methods, formdata=None),
            "methods": methods,
            "client_secret": client_secret,
            "error": error,
            "button_form": EmptyForm(),
            "stripe": stripe_settings(),
            "invoice": invoice_of_payment(payment.id),
            # The open invoice an invoice payment is for (paid or not yet).
            "paid_invoice": db.session.get(Invoice, payment.invoice_id)
            if payment.invoice_id
            else None,
        },
        fragments={"pay-status": "status"},
        http_status=status,
    )


@bp.get("/payments")
@student_required
def history():
    page = Page.of(lookups.visible_payments(current_user), request.args.get("page"))
    return render_page(
        "payments/history.html",
        {"page": page, "refund_problem": refunds.student_refund_problem},
        fragments={"payments": "payments"},
    )


@bp.route("/payments/<uuid:payment_id>/refund", methods=["GET", "POST"])
@student_required
def refund(payment_id):
    payment = lookups.get_payment_for(current_user, payment_id)
    form = StudentRefundForm()
    problem = refunds.student_refund_problem(payment)
    if form.validate_on_submit() and problem is None:
        try:
            made = refunds.process_refund(
                current_user,
                payment.uuid,
                reason=form.reason.data,
                request_key=form.request_key.data or None,
            )
        except PortalError as exc:
            db.session.rollback()
            problem = exc.message
            payment = db.session.get(Payment, payment.id)
        else:
            db.session.commit()
            flash(
                f"Refunded {format_money(made.amount, made.currency)}. The lesson is cancelled.",
                "success",
            )
            return redirect(url_for(".history"))
    status = 422 if request.method == "POST" else 200
    return render_page(
        "payments/refund.html",
        {"payment": payment, "form": form, "problem": problem},
        http_status=status,
    )


@bp.get("/methods")
@student_required
def methods():
    return _methods_page()


def _methods_page(form=None, *, message=None, error=None, status=200):
    return render_page(
        "payments/methods.html",
        {
            "methods": cards.payment_methods_of(current_user),
            "form": form or SavedCardForm(formdata=None),
            "button_form": EmptyForm(),
            "message": message,
            "error": error,
            "stripe": stripe_settings(),
        },
        fragments={"methods": "methods"},
        http_status=status,
    )


@bp.post("/methods")
@student_required
def save_card():
    form = SavedCardForm()
    if not form.validate():
        return _methods_page(form, error=" ".join(form.setup_intent_id.errors), status=422)
    try:
        method = cards.finish_card_setup(current_user, form.setup_intent_id.data)
    except PortalError as exc:
        db.session.rollback()
        return _methods_page(form, error=exc.message, status=422)
    db.session.commit()
    return _after_card_change(f"{method.label} is saved.")


@bp.post("/methods/<int:method_id>/default")
@student_required
def make_default(method_id: int):
    method = cards.set_default_payment_method(current_user, method_id)
    db.session.commit()
    return _after_card_change(f"{method.label} is now your default card.")


@bp.post("/methods/<int:method_id>/remove")
@student_required
def remove_card(method_id: int):
    cards.remove_payment_method(current_user, method_id)
    db.session.commit()
    return _after_card_change("The card is removed.")


def _after_card_change(message: str):
    if request.headers.get("HX-Target") == "methods":
        return _methods_page(message=message)
    flash(message, "success")
    return redirect(url_for(".methods"))
