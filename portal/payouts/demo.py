"""Demo data for payouts: the demo tutor's bank account, so the money their demo lessons
earned (see `portal/payments/demo.py`) can be withdrawn at once and an admin can take the
payout through the queue. Idempotent."""

from __future__ import annotations

from portal.accounts.models import User
from portal.payouts import destinations

# Deutsche Bank's published example IBAN: valid, and nobody's account.
DEMO_IBAN = "DE89370400440532013000"


def load_payout_demo(tutor: User) -> None:
    if destinations.get_destination(tutor.id) is None:
        destinations.update_bank_details(
            tutor.id, bank_account_holder=tutor.name, bank_name="Deutsche Bank",
            bank_iban=DEMO_IBAN,
        )  # fmt: skip
