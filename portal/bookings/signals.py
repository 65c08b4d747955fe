"""Booking events other features listen to (wallet earnings, quota, refunds)."""

from blinker import Namespace

_signals = Namespace()

# sender: the Booking; fired inside the unit of work, before commit.
booking_completed = _signals.signal("booking-completed")
booking_cancelled = _signals.signal("booking-cancelled")
