"""Wallet events for the audit log, its only listener (connected by the app factory,
`portal.audit.receivers.connect`), sent inside the unit of work before the commit.

- `wallet_adjusted(line, tutor_id=..., actor_id=...)` — an admin credited or debited a
  tutor's available balance; `line` is the statement line it made. Sent once per
  adjustment (not again for a repeated request key).
"""

from blinker import Namespace

_signals = Namespace()

wallet_adjusted = _signals.signal("wallet-adjusted")
