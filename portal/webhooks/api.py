"""`POST /api/v1/webhooks/stripe/`: Stripe's signature instead of a session or a token.

Order matters for speed and safety: no signature header, no database; a body over the
limit is refused before it is read; only a verified event is stored, and only a newly
stored one is queued (after its insert has committed, so the task finds its row).
"""

from __future__ import annotations

import logging

from flask import current_app, request
from kombu.exceptions import OperationalError
from werkzeug.exceptions import RequestEntityTooLarge

from portal.api import api_blueprint
from portal.contract.spec import operation
from portal.extensions import limiter
from portal.input import raw_body
from portal.security import csrf_exempt
from portal.webhooks.models import EventStatus
from portal.webhooks.receive import BadSignature, record_event, secrets_from, verify_event
from portal.webhooks.schemas import StripeEvent, WebhookReceipt
from portal.webhooks.tasks import process_webhook_event

log = logging.getLogger(__name__)

bp = api_blueprint("webhooks", __name__, "/webhooks")


@bp.post("/stripe/")
@csrf_exempt
@raw_body
@limiter.exempt  # Stripe sends from a few addresses; a burst of events is normal.
@operation(
    {200: WebhookReceipt},
    errors=(400, 413),
    tags=("webhooks",),
    security="stripe_signature",
    rate_limited=False,
    body=StripeEvent,
)
def stripe_webhook():
    """Receive a Stripe event

    Signed by Stripe (`Stripe-Signature`, 300 s tolerance): a missing, bad or stale
    signature is 400 and changes nothing. Each event is stored once by its Stripe id (a
    duplicate answers 200 with `duplicate: true`), answered at once and processed by a
    task with bounded retries, in any order of arrival.
    """
    header = request.headers.get("Stripe-Signature")
    if not header:
        raise BadSignature("The Stripe-Signature header is missing.", code="missing_signature")
    payload = _read_body(current_app.config["STRIPE_WEBHOOK_MAX_BYTES"])
    event = verify_event(payload, header, secrets_from(current_app.config["STRIPE_WEBHOOK_SECRET"]))
    receipt = record_event(event)
    if not receipt.duplicate and receipt.status == EventStatus.RECEIVED:
        _queue(receipt.event_id)
    return WebhookReceipt(received=True, id=receipt.stripe_id, duplicate=receipt.duplicate)


def _read_body(limit: int) -> bytes:
    too_large = RequestEntityTooLarge(f"A webhook body may be at most {limit} bytes.")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    # A chunked body announces no length: read one byte past the limit (Werkzeug stops
    # there silently) to tell a body of exactly the limit from a longer one.
    request.max_content_length = limit + 1
    payload = request.get_data(cache=False)
    if len(payload) > limit:
        raise too_large
    return payload


def _queue(event_id: int) -> None:
    # The event is stored: a broker outage must not turn into an error that makes Stripe
    # send it again (it would be a duplicate, and not queued either). sync_payment_status
    # queues events still unprocessed after PAYMENT_SYNC_AFTER_MINUTES.
    try:
        process_webhook_event.delay(event_id)
    except OperationalError:
        log.warning("webhook event %s stored but not queued: the broker is unreachable", event_id)
