"""A wallet's figures at a glance, for pages and the API."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from portal.wallets.movement import get_wallet


@dataclass(frozen=True)
class WalletSummary:
    exists: bool
    currency: str
    wallet_id: int | None = None
    available: int = 0
    pending: int = 0
    in_flight: int = 0
    total_earned: int = 0
    total_withdrawn: int = 0
    payout_threshold: int = 0
    auto_payout_enabled: bool = False

    @property
    def debt(self) -> int:
        return -self.available if self.available < 0 else 0

    @property
    def owed(self) -> int:
        """Everything the platform holds for the tutor: pending + available + in flight."""
        return self.pending + self.available + self.in_flight

    @property
    def is_empty(self) -> bool:
        return not self.exists or not (
            self.total_earned
            or self.available
            or self.pending
            or self.in_flight
            or self.total_withdrawn
        )


def get_wallet_summary(tutor_id: int) -> WalletSummary:
    """The wallet's figures in one query; a tutor without a wallet gets zeros, unwritten."""
    wallet = get_wallet(tutor_id)
    config = current_app.config
    if wallet is None:
        return WalletSummary(
            exists=False,
            currency=config["PLATFORM_CURRENCY"],
            payout_threshold=config["MIN_PAYOUT_AMOUNT"],
        )
    return WalletSummary(
        exists=True,
        currency=wallet.currency,
        wallet_id=wallet.id,
        available=wallet.available,
        pending=wallet.pending,
        in_flight=wallet.in_flight,
        total_earned=wallet.total_earned,
        total_withdrawn=wallet.total_withdrawn,
        payout_threshold=wallet.payout_threshold,
        auto_payout_enabled=wallet.auto_payout_enabled,
    )
