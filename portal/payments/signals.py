"""Payment events for the audit log, its only listener.

`effects.py` sends each one, last, inside the unit of work: after the change is flushed
and its effects on the ledger and invoices are made, before the commit, with the
`Payment` as sender. A receiver that raises rolls the whole change back. The money path
does not hang on these: it calls `effects.py`; the audit log's receivers are connected by
the app factory (`portal.audit.receivers.connect`).

- `payment_succeeded(payment, actor_id=None, previous_status=...)` — sent once per payment,
  whichever of the confirm call or the webhook gets there first.
- `payment_failed(payment)` — the attempt ended without collecting money.
- `payment_refunded(payment, refund=Refund, actor_id=None)` — sent once per refund.
- `refund_reversed(payment, refund=Refund, actor_id=None)` — a refund already recorded
  failed at the provider (the money never reached the payer); sent once per refund.
"""

from blinker import Namespace

_signals = Namespace()

payment_succeeded = _signals.signal("payment-succeeded")
payment_failed = _signals.signal("payment-failed")
payment_refunded = _signals.signal("payment-refunded")
refund_reversed = _signals.signal("refund-reversed")
