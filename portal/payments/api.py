"""The payments JSON API: intents, confirmation, refunds and saved cards.

Payments are addressed by uuid, saved cards by integer id. A confirmation that the card
issuer declines is not an error of the request: it answers the payment, now `failed`,
with the issuer's message in `failure_message`.
"""

from __future__ import annotations

from flask import current_app, jsonify, request
from flask_login import current_user

from portal.accounts.decorators import login_required, roles_required, student_required
from portal.api import api_blueprint, iso, json_body, paginate, str_field
from portal.errors import ValidationError
from portal.extensions import db
from portal.payments import cards, confirmation, intents, lookups, refunds
from portal.payments.models import Payment, PaymentMethod, PaymentStatus, Refund

bp = api_blueprint("payments_api", __name__, "/payments")


def payment_json(payment: Payment) -> dict:
    return {
        "id": str(payment.uuid),
        "status": payment.display_status,
        "payment_type": payment.payment_type,
        "amount": payment.amount,
        "platform_fee": payment.platform_fee,
        "net_amount": payment.net_amount,
        "amount_refunded": payment.amount_refunded,
        "currency": payment.currency,
        "provider": payment.provider,
        "provider_payment_id": payment.provider_payment_id,
        "booking_id": payment.booking_id,
        "subscription_id": payment.subscription_id,
        "card_brand": payment.card_brand,
        "card_last4": payment.card_last4,
        "failure_code": payment.failure_code,
        "failure_message": payment.failure_message,
        "created_at": iso(payment.created_at),
        "succeeded_at": iso(payment.succeeded_at),
    }


def step_json(step: intents.PaymentStep) -> dict:
    """A payment with the client secret Stripe.js needs for the next step, if any."""
    return {**payment_json(step.payment), "client_secret": step.client_secret}


def refund_json(refund: Refund) -> dict:
    return {
        "id": str(refund.uuid),
        "amount": refund.amount,
        "currency": refund.currency,
        "status": refund.status,
        "reason": refund.reason,
        "provider_refund_id": refund.provider_refund_id,
        "created_at": iso(refund.created_at),
    }


def method_json(method: PaymentMethod) -> dict:
    return {
        "id": method.id,
        "card_brand": method.card_brand,
        "card_last4": method.card_last4,
        "exp_month": method.exp_month,
        "exp_year": method.exp_year,
        "is_default": method.is_default,
    }


def _commit(body: dict, status: int = 200):
    # The answer is built before the commit, which would expire the objects it reads.
    db.session.commit()
    return jsonify(body), status


@bp.post("/intent/")
@student_required
def create_intent():
    # `amount` is accepted and ignored: the price always comes from the lesson.
    data = json_body({"booking_id", "payment_method_id", "amount", "currency"})
    _check_currency(data.get("currency"))
    step = intents.create_payment_intent(
        current_user, data.get("booking_id"), payment_method_id=data.get("payment_method_id")
    )
    return _commit(step_json(step), 201 if step.created else 200)


def _check_currency(currency: object) -> None:
    platform = current_app.config["PLATFORM_CURRENCY"]
    if currency is not None and (not isinstance(currency, str) or currency.lower() != platform):
        raise ValidationError(
            f"Payments are taken in {platform.upper()} only.",
            fields={"currency": [f"Must be {platform}."]},
            code="currency_not_supported",
        )


@bp.post("/<uuid:payment_id>/confirm/")
@student_required
def confirm(payment_id):
    data = json_body({"provider_method_id", "payment_method_id"}, required=False)
    step = confirmation.confirm_payment(
        current_user,
        payment_id,
        provider_method_id=data.get("provider_method_id"),
        payment_method_id=data.get("payment_method_id"),
    )
    return _commit(step_json(step))


STATUS_FILTERS = {s.value for s in PaymentStatus}


@bp.get("/")
@login_required
def index():
    query = lookups.visible_payments(current_user)
    status = request.args.get("status")
    if status:
        if status not in STATUS_FILTERS:
            raise ValidationError("Unknown status.", fields={"status": ["Unknown status."]})
        query = query.where(Payment.status == status)
    return jsonify(paginate(query, payment_json))


@bp.get("/<uuid:payment_id>/")
@login_required
def detail(payment_id):
    payment = lookups.get_payment_for(current_user, payment_id)
    return jsonify({**payment_json(payment), "refunds": [refund_json(r) for r in payment.refunds]})


@bp.post("/<uuid:payment_id>/refund/")
@roles_required("student", "admin")
def refund(payment_id):
    data = json_body({"amount", "reason"}, required=False)
    reason = str_field(data, "reason", required=False, max_length=refunds.MAX_REASON_LENGTH)
    made = refunds.process_refund(
        current_user,
        payment_id,
        amount=data.get("amount"),
        reason=reason,
    )
    return _commit({**payment_json(made.payment), "refund": refund_json(made)}, 201)


@bp.get("/methods/")
@student_required
def methods():
    query = cards.payment_methods_query(current_user)
    return jsonify(paginate(query, method_json))


@bp.post("/methods/")
@student_required
def add_method():
    data = json_body({"provider_method_id", "make_default"})
    make_default = data.get("make_default", False)
    if not isinstance(make_default, bool):
        raise ValidationError(
            "make_default must be true or false.", fields={"make_default": ["Must be a boolean."]}
        )
    method = cards.add_payment_method(
        current_user, data.get("provider_method_id"), make_default=make_default
    )
    return _commit(method_json(method), 201)


@bp.post("/methods/setup/")
@student_required
def setup_method():
    """A SetupIntent for Stripe.js `confirmCardSetup` (saving a card with 3-D Secure)."""
    setup = cards.start_card_setup(current_user)
    db.session.commit()
    return jsonify({"id": setup.id, "client_secret": setup.client_secret}), 201


@bp.delete("/methods/<int:method_id>/")
@student_required
def remove_method(method_id: int):
    cards.remove_payment_method(current_user, method_id)
    db.session.commit()
    return "", 204


@bp.patch("/methods/<int:method_id>/default/")
@student_required
def default_method(method_id: int):
    method = cards.set_default_payment_method(current_user, method_id)
    return _commit(method_json(method))
