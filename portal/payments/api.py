"""The payments JSON API: intents, confirmation, refunds and saved cards.

Payments are addressed by uuid, saved cards by integer id. A confirmation that the card
issuer declines is not an error of the request: it answers the payment, now `failed`,
with the issuer's message in `failure_message`.
"""

from __future__ import annotations

from flask_login import current_user

from portal.accounts.decorators import login_required, roles_required, student_required
from portal.api import api_blueprint, paginate
from portal.contract.schemas import Page, PageQuery
from portal.contract.spec import operation
from portal.extensions import db
from portal.payments import cards, confirmation, intents, lookups, refunds
from portal.payments.models import Payment
from portal.payments.schemas import (
    ConfirmRequest,
    IntentRequest,
    MethodAnswer,
    MethodRequest,
    PaymentAnswer,
    PaymentDetail,
    PaymentQuery,
    PaymentStepAnswer,
    RefundMade,
    RefundRequest,
    SetupAnswer,
)

bp = api_blueprint("payments_api", __name__, "/payments")


def _commit(answer, status: int = 200):
    # The answer is built before the commit, which would expire the objects it reads.
    db.session.commit()
    return answer, status


@bp.post("/intent/")
@student_required
@operation(
    {201: (PaymentStepAnswer, "A new payment attempt."),
     200: (PaymentStepAnswer, "The lesson's attempt already under way.")},
    errors=(404, 409, 502),
    idempotent=True,
    rules="a currency, when given, is the platform's (`PLATFORM_CURRENCY`, a setting): "
    "400 `currency_not_supported`.",
)  # fmt: skip
def create_intent(json: IntentRequest):
    """Start paying for a lesson

    The amount is the lesson's price, whatever the client sends. Asked again for the same
    unpaid lesson it answers the same payment (200); two requests at once still make one.
    """
    intents.require_platform_currency(json.currency)
    step = intents.create_payment_intent(
        current_user, json.booking_id, payment_method_id=json.payment_method_id
    )
    return _commit(PaymentStepAnswer.of_step(step), 201 if step.created else 200)


@bp.post("/<uuid:payment_id>/confirm/")
@student_required
@operation({200: PaymentStepAnswer}, errors=(409, 502), idempotent=True)
def confirm(payment_id, json: ConfirmRequest):
    """Confirm a payment with a card

    A declined card answers the payment, now `failed`, with the issuer's message. When the
    bank asks for 3-D Secure the status is `requires_action` with `client_secret` for
    Stripe.js; confirm again without a body afterwards to read the outcome.
    """
    step = confirmation.confirm_payment(
        current_user,
        payment_id,
        provider_method_id=json.provider_method_id,
        payment_method_id=json.payment_method_id,
    )
    return _commit(PaymentStepAnswer.of_step(step))


@bp.get("/")
@login_required
@operation({200: Page[PaymentAnswer]})
def index(query: PaymentQuery):
    """List payments

    A student's own, a tutor's lessons', every payment for an admin; newest first.
    """
    select = lookups.visible_payments(current_user)
    if query.status is not None:
        select = select.where(Payment.status == query.status)
    return paginate(select, PaymentAnswer.model_validate, page=query)


@bp.get("/<uuid:payment_id>/")
@login_required
@operation({200: PaymentDetail})
def detail(payment_id):
    """One payment, with its refunds"""
    return PaymentDetail.model_validate(lookups.get_payment_for(current_user, payment_id))


@bp.post("/<uuid:payment_id>/refund/")
@roles_required("student", "admin")
@operation({201: RefundMade}, errors=(409, 502), idempotent=True)
def refund(payment_id, json: RefundRequest):
    """Refund a payment

    A student refunds a paid lesson in full until the refund cut-off before it starts; an
    admin refunds any amount up to what remains. The tutor's share comes back out of their
    earnings.
    """
    made = refunds.process_refund(
        current_user,
        payment_id,
        amount=json.amount,
        reason=json.reason,
    )
    return _commit(RefundMade.of_refund(made), 201)


@bp.get("/methods/")
@student_required
@operation({200: Page[MethodAnswer]})
def methods(query: PageQuery):
    """List saved cards (the default first)"""
    return paginate(
        cards.payment_methods_query(current_user), MethodAnswer.model_validate, page=query
    )


@bp.post("/methods/")
@student_required
@operation(
    {201: MethodAnswer},
    errors=(502,),
    rules="the card is one Stripe knows (only Stripe knows which ids exist): 400 "
    "`Unknown card.` otherwise; a declined card is 400 `card_declined`.",
)
def add_method(json: MethodRequest):
    """Save a card

    Attaches a Stripe.js payment method to the student's Stripe customer; only its brand,
    last four digits and expiry are kept. The first saved card is the default. A declined
    card is 400 `card_declined`.
    """
    method = cards.add_payment_method(
        current_user, json.provider_method_id, make_default=json.make_default
    )
    return _commit(MethodAnswer.model_validate(method), 201)


@bp.post("/methods/setup/")
@student_required
@operation({201: SetupAnswer}, errors=(502,))
def setup_method():
    """Start saving a card with 3-D Secure (a SetupIntent for `confirmCardSetup`)"""
    setup = cards.start_card_setup(current_user)
    return _commit(SetupAnswer(id=setup.id, client_secret=setup.client_secret), 201)


@bp.delete("/methods/<int:method_id>/")
@student_required
@operation({204: None}, errors=(502,))
def remove_method(method_id: int):
    """Remove a saved card"""
    cards.remove_payment_method(current_user, method_id)
    return _commit("", 204)


@bp.patch("/methods/<int:method_id>/default/")
@student_required
@operation({200: MethodAnswer})
def default_method(method_id: int):
    """Make a saved card the default"""
    method = cards.set_default_payment_method(current_user, method_id)
    return _commit(MethodAnswer.model_validate(method))
