"""Payment events other features hang work on (ledger, invoices, receipts).

Each is sent inside the unit of work, after the change is flushed and before commit, with
the `Payment` as sender; a receiver that raises rolls the whole change back. Receivers
that talk to the outside world (mail) must enqueue after commit.

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
