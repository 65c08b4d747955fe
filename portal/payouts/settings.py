"""A tutor's payout settings: the auto-payout threshold and its on/off switch."""

from __future__ import annotations

from flask import current_app

from portal.db import utcnow
from portal.errors import ValidationError
from portal.extensions import db
from portal.money import format_money
from portal.wallets import arguments as check
from portal.wallets.models import TutorWallet
from portal.wallets.movement import lock_wallet


def update_payout_settings(
    tutor_id: int, *, payout_threshold: int | None = None, auto_payout_enabled: bool | None = None
) -> TutorWallet:
    """Change the auto-payout threshold (at least MIN_PAYOUT_AMOUNT) and on/off switch."""
    config = current_app.config
    if payout_threshold is not None:
        payout_threshold = check.amount(payout_threshold, "payout_threshold")
        minimum = config["MIN_PAYOUT_AMOUNT"]
        if payout_threshold < minimum:
            message = f"The threshold must be at least {format_money(minimum)}."
            raise ValidationError(message, fields={"payout_threshold": [message]})
    if auto_payout_enabled is not None and not isinstance(auto_payout_enabled, bool):
        raise TypeError("auto_payout_enabled must be a bool")
    wallet = lock_wallet(tutor_id)
    if payout_threshold is not None:
        wallet.payout_threshold = payout_threshold
    if auto_payout_enabled is not None:
        wallet.auto_payout_enabled = auto_payout_enabled
    wallet.updated_at = utcnow()
    db.session.flush()
    return wallet
